"""``edge-build engine``: one TensorRT engine per graph of an export folder.

Written against TensorRT's documented Python API (8.6, 10.x, 11.x): ``OnnxParser`` ->
``build_serialized_network`` with ``set_memory_pool_limit``, optimisation profiles,
``builder_optimization_level``, DLA, a reusable timing cache and the progress monitor;
precision per :func:`edge.engines.versions.plan_build`. Nothing removed in TensorRT 10
is used. tensorrt is imported only inside these functions.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge import atomic
from edge.description import ModelDescription
from edge.engines.folder import write_engine_folder
from edge.engines.identity import DeviceInfo, EngineKey
from edge.engines.versions import TrtApi, api_for, plan_build
from edge.errors import ConfigError, EngineError
from edge.optional import require

log = logging.getLogger(__name__)

OOM_MARKERS = ("out of memory", "outofmemory", "cudaerrormemoryallocation",
               "requested amount of gpu memory", "failed to allocate")


@dataclass
class BuildOptions:
    precision: str = "fp16"
    workspace_mb: int = 1024
    dla_core: int | None = None
    opt_level: int | None = None  # builder_optimization_level, 0-5 (TensorRT default 3)
    timing_cache: str | None = None
    max_boxes: int | None = None  # branch profile max batch (default: description's cap)
    progress: bool = True


def profile_for(desc: ModelDescription, role: str, branch: int | None, inputs: list[str],
                max_boxes: int | None) -> dict[str, list[list[int]]]:
    """[min, opt, max] shapes per input: the detector is static; a branch takes 1..N crops
    (N = the branch's per-frame cap, else the model's max detections)."""
    h, w = desc.input_size
    if role != "branch":
        return {inputs[0]: [[1, 3, h, w]] * 3}
    from edge.architecture import mobilenet_tap_channels

    spec = desc.branches[int(branch)]  # type: ignore[arg-type]
    if max_boxes is not None and max_boxes < 1:
        raise ConfigError(f"max boxes {max_boxes}: a branch engine takes at least 1 crop")
    cap = max_boxes if max_boxes is not None else spec.max_boxes  # BranchSpec: >= 1
    opt = max(1, min(cap, 4))
    chans = mobilenet_tap_channels(desc.alpha)
    prof = {}
    for name, s in zip(inputs, desc.mask_strides):
        k = desc.crop_stride // s
        tail = [chans[s], spec.shape[0] * k, spec.shape[1] * k]
        prof[name] = [[1, *tail], [opt, *tail], [cap, *tail]]
    return prof


def trt_logger(trt):
    """A trt.ILogger that forwards to ``logging`` and keeps errors for failure messages
    (defined per call: the base class exists only once tensorrt is imported)."""

    class Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity, msg) -> None:  # noqa: A003 (TensorRT's name)
            if severity in (trt.ILogger.Severity.ERROR, trt.ILogger.Severity.INTERNAL_ERROR):
                self.errors.append(str(msg))
                log.error("TensorRT: %s", msg)
            elif severity == trt.ILogger.Severity.WARNING:
                log.warning("TensorRT: %s", msg)
            else:
                log.debug("TensorRT: %s", msg)

    return Logger()


def _progress_monitor(trt, label: str):
    """tqdm bars for the builder's phases (TensorRT >= 10 only)."""
    from tqdm import tqdm

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.bars: dict[str, Any] = {}

        def phase_start(self, phase_name, parent_phase, num_steps) -> None:
            self.bars[phase_name] = tqdm(total=num_steps, desc=f"{label}: {phase_name}",
                                         leave=parent_phase is None, disable=None)

        def step_complete(self, phase_name, step) -> bool:
            bar = self.bars.get(phase_name)
            if bar is not None:
                bar.update(step + 1 - bar.n)
            return True  # False would cancel the build

        def phase_finish(self, phase_name) -> None:
            bar = self.bars.pop(phase_name, None)
            if bar is not None:
                bar.close()

    return Monitor()


def _cache_calibrator(trt, cache: bytes):
    """An INT8 calibrator that only serves our calibration cache (8.6/10.x): TensorRT reads
    the scales and never asks for a batch."""

    class CacheCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names):
            return None  # no data: everything comes from the cache

        def read_calibration_cache(self):
            return cache

        def write_calibration_cache(self, data) -> None:
            return None

    return CacheCalibrator()


def parse_errors(parser, path: Path) -> str:
    """The parser's errors with the failing ONNX node named."""
    lines = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        name = getattr(err, "node_name", lambda: "")() or f"node #{err.node()}"
        op = getattr(err, "node_operator", lambda: "")()
        lines.append(f"{name}{f' ({op})' if op else ''}: {err.desc()}")
    return (f"{path}: TensorRT cannot parse it: " + "; ".join(lines) +
            "; check the graph with edge-build check (unsupported layer or attribute)")


def build_failure(path: Path, errors: list[str], opts: BuildOptions) -> EngineError:
    text = " ".join(errors).lower()
    if any(m in text for m in OOM_MARKERS):
        return EngineError(f"{path}: the build ran out of memory; try --workspace "
                           f"{max(64, opts.workspace_mb // 2)}, close other GPU programs, or add "
                           f"swap (sudo systemctl enable nvzramconfig, or a swap file) on small "
                           f"Jetsons")
    last = errors[-1] if errors else "no error message"
    return EngineError(f"{path}: TensorRT failed to build an engine ({last}); rerun with -v "
                       f"for TensorRT's log")


def build_one(trt, api: TrtApi, export_dir: Path, stem: str, role: str, branch: int | None,
              desc: ModelDescription, files: set[str], opts: BuildOptions, out: Path,
              device: DeviceInfo, timing_cache: bytes | None) -> tuple[dict[str, Any], bytes]:
    plan = plan_build(api, stem, opts.precision, files, export_dir)
    graph = export_dir / plan.graph
    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    flags = 0
    if api.needs_explicit_batch_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if plan.strongly_typed and api.has_strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(graph)):
        raise EngineError(parse_errors(parser, graph))
    inputs = [network.get_input(i).name for i in range(network.num_inputs)]

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, opts.workspace_mb << 20)
    if opts.opt_level is not None:
        config.builder_optimization_level = opts.opt_level
    for flag in plan.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if opts.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = opts.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    if opts.progress and api.has_progress_monitor:
        config.progress_monitor = _progress_monitor(trt, stem)
    cache = config.create_timing_cache(timing_cache or b"")
    config.set_timing_cache(cache, ignore_mismatch=False)

    shapes = profile_for(desc, role, branch, inputs, opts.max_boxes)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in shapes.items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    if plan.calibration_cache is not None:
        config.int8_calibrator = _cache_calibrator(
            trt, (export_dir / plan.calibration_cache).read_bytes())
        config.set_calibration_profile(profile)

    log.info("building %s: %s (%s)", stem, plan.note, opts.precision)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise build_failure(graph, logger.errors, opts)

    from edge.export.onnx_export import sha256_file

    key = EngineKey(graph_sha256=sha256_file(graph), precision=opts.precision, profile=shapes,
                    options={"dla_core": opts.dla_core, "opt_level": opts.opt_level,
                             "flags": list(plan.flags), "strongly_typed": plan.strongly_typed},
                    device=device)
    name = key.file_name(stem)
    atomic.write_bytes(out / name, bytes(serialized))
    sidecar = {"graph": plan.graph, "build": plan.note, **key.to_dict()}
    atomic.write_text(out / (name + ".json"), json.dumps(sidecar, indent=2) + "\n")
    entry = {"file": name, "role": role, "branch": branch, "precision": opts.precision,
             "graph": plan.graph, "key": key.digest()[:12]}
    return entry, bytes(config.get_timing_cache().serialize())


def current_device(trt) -> DeviceInfo:
    """TensorRT version, GPU name and compute capability (via pycuda) and L4T release."""
    from edge.engines.identity import read_l4t

    cuda = require("pycuda.driver", "querying the GPU")
    cuda.init()
    dev = cuda.Device(0)
    major, minor = dev.compute_capability()
    return DeviceInfo(trt.__version__, dev.name(), f"{major}.{minor}", read_l4t())


def build_engines(export_dir: str | Path, out_dir: str | Path, opts: BuildOptions
                  ) -> dict[str, Any]:
    """Build every graph of an export folder at ``opts.precision`` into ``out_dir``."""
    from edge.export.onnx_export import MANIFEST, graph_specs, read_manifest, sha256_file

    trt = require("tensorrt", "building TensorRT engines")
    api = api_for(trt.__version__)
    export_dir, out = Path(export_dir), Path(out_dir)
    manifest = read_manifest(export_dir)
    desc = ModelDescription.from_dict(manifest["description"])
    files = {f["file"] for f in manifest["files"]}
    out.mkdir(parents=True, exist_ok=True)
    device = current_device(trt)
    cache_path = Path(opts.timing_cache) if opts.timing_cache else out / "timing.cache"
    timing = cache_path.read_bytes() if cache_path.is_file() else None
    entries = []
    for spec in graph_specs(desc):
        stem = spec.file[:-len(".onnx")]
        entry, timing = build_one(trt, api, export_dir, stem, spec.role, spec.branch, desc,
                                  files, opts, out, device, timing)
        entries.append(entry)
        atomic.write_bytes(cache_path, timing)  # reused by the next graph and the next build
    export = {"path": str(export_dir.resolve()),
              "manifest_sha256": sha256_file(export_dir / MANIFEST)}
    return write_engine_folder(out, desc, export, device, entries)
