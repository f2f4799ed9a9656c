"""``edge-build engine``: one TensorRT engine per graph of an export folder.

Written against TensorRT's Python bindings (python/src/infer/pyCore.cpp of release/8.6,
release/10.3 and release/11.1): ``OnnxParser`` -> ``build_serialized_network`` with
``set_memory_pool_limit``, optimisation profiles, ``builder_optimization_level``, DLA, a
reusable timing cache and the progress monitor; precision per
:func:`edge.engines.versions.plan_build`. Nothing removed in TensorRT 10 is used. FP32 builds
clear ``BuilderFlag.TF32`` (on by default, "Enabled by default" in NvInfer.h of every
release), else an "fp32" engine computes in TF32 on Orin and Thor. tensorrt is imported only
inside these functions; the one TensorRT logger lives in :mod:`edge.engines.logger`.
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
from edge.engines.identity import DeviceInfo, EngineKey, device_info
from edge.engines.logger import trt_logger
from edge.engines.versions import TrtApi, api_for, calibration_header, dla_problem, plan_build
from edge.errors import ConfigError, EdgeError, EngineError
from edge.optional import require

__all__ = ["BuildOptions", "build_engines", "build_one", "profile_for", "trt_logger"]

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
    allow_refused_int8: bool = False  # build INT8 the accuracy gate refused (logged)
    reuse: bool = False  # keep engines of this precision already built from this export here


def profile_for(desc: ModelDescription, role: str, branch: int | None, inputs: list[str],
                max_boxes: int | None, static: bool = False) -> dict[str, list[list[int]]]:
    """[min, opt, max] shapes per input: the detector is static; a branch takes 1..N crops
    (N = the branch's per-frame cap, else the model's max detections), or exactly N when
    ``static`` (DLA needs min = opt = max: the runtime pads the crops to N)."""
    h, w = desc.input_size
    if role != "branch":
        return {inputs[0]: [[1, 3, h, w]] * 3}
    from edge.architecture import mobilenet_tap_channels

    spec = desc.branches[int(branch)]  # type: ignore[arg-type]
    if max_boxes is not None and max_boxes < 1:
        raise ConfigError(f"max boxes {max_boxes}: a branch engine takes at least 1 crop")
    cap = max_boxes if max_boxes is not None else spec.max_boxes  # BranchSpec: >= 1
    lo, opt = (cap, cap) if static else (1, max(1, min(cap, 4)))
    chans = mobilenet_tap_channels(desc.alpha)
    prof = {}
    for name, s in zip(inputs, desc.mask_strides):
        k = desc.crop_stride // s
        tail = [chans[s], spec.shape[0] * k, spec.shape[1] * k]
        prof[name] = [[lo, *tail], [opt, *tail], [cap, *tail]]
    return prof


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


CALIBRATOR_ALGORITHM = "EntropyCalibration2"  # the header name of IInt8EntropyCalibrator2


def cache_for_this_tensorrt(trt, cache: bytes, path: Path | str = "calibration cache") -> bytes:
    """``cache`` with its first line replaced by the header the running TensorRT accepts for
    our calibrator (``TRT-8602-EntropyCalibration2`` on JetPack 6.0's 8.6.2): TensorRT skips a
    cache whose header it does not accept and then asks for batches we do not have
    (NVIDIA/TensorRT#1378; a TRT-8600 header on 10.3: NVIDIA/Deep-Learning-Accelerator-SW#26);
    the scales under the header do not depend on the version."""
    head, sep, body = cache.partition(b"\n")
    if not head.startswith(b"TRT-"):
        raise EngineError(f"{path}: not a TensorRT calibration cache (no TRT- header); "
                          f"recreate it with edge-build calibrate")
    want = calibration_header(trt.__version__, CALIBRATOR_ALGORITHM).encode()
    if head.strip() != want:
        log.info("%s: header %s served as %s (TensorRT %s)", path, head.decode(errors="replace"),
                 want.decode(), trt.__version__)
    return want + b"\n" + (body if sep else b"")


def _cache_calibrator(trt, cache: bytes):
    """An INT8 calibrator that only serves our calibration cache (8.6/10.x): TensorRT reads
    the scales and never asks for a batch. ``cache`` must already carry this TensorRT's
    header (:func:`cache_for_this_tensorrt`)."""

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
              device: DeviceInfo, timing_cache: bytes | None
              ) -> tuple[dict[str, Any], bytes | None]:
    """Build one graph into ``out``: the engine, its sidecar and its ``engines.json`` entry,
    plus the updated timing cache (None when TensorRT gave none to save)."""
    plan = plan_build(api, stem, opts.precision, files, export_dir)
    graph = export_dir / plan.graph
    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    flags = 0
    if api.needs_explicit_batch_flag:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if plan.strongly_typed and api.has_strongly_typed and not api.always_strongly_typed:
        # 10.x only: in 11.x kSTRONGLY_TYPED is 0, deprecated and ignored (always strongly
        # typed) and bit 1 is kPREFER_JIT_PYTHON_PLUGINS (include/NvInfer.h, release/11.1)
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
    if opts.precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)  # in every release >= 8.6, on by default
    if opts.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = opts.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    if opts.progress and api.has_progress_monitor:
        config.progress_monitor = _progress_monitor(trt, stem)
    _attach_timing_cache(config, timing_cache, graph)

    static = opts.dla_core is not None and role == "branch"
    shapes = profile_for(desc, role, branch, inputs, opts.max_boxes, static=static)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in shapes.items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    if plan.calibration_cache is not None:
        cache_path = export_dir / plan.calibration_cache
        config.int8_calibrator = _cache_calibrator(
            trt, cache_for_this_tensorrt(trt, cache_path.read_bytes(), cache_path))
        config.set_calibration_profile(profile)

    log.info("building %s: %s (%s)", stem, plan.note, opts.precision)
    with logger.collect() as errors:
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise build_failure(graph, errors, opts)

    from edge.export.onnx_export import sha256_file

    key = EngineKey(graph_sha256=sha256_file(graph), precision=opts.precision, profile=shapes,
                    options={"dla_core": opts.dla_core, "opt_level": opts.opt_level,
                             "flags": list(plan.flags), "strongly_typed": plan.strongly_typed,
                             "tf32": opts.precision != "fp32"},
                    device=device)
    name = key.file_name(stem)
    atomic.write_bytes(out / name, bytes(serialized))
    sidecar = {"graph": plan.graph, "build": plan.note, **key.to_dict()}
    atomic.write_text(out / (name + ".json"), json.dumps(sidecar, indent=2) + "\n")
    entry = {"file": name, "role": role, "branch": branch, "precision": opts.precision,
             "graph": plan.graph, "key": key.digest()[:12], "dla_core": opts.dla_core,
             "static_batch": shapes[inputs[0]][2][0] if static else None}
    return entry, _serialized_timing_cache(config)


def _attach_timing_cache(config, data: bytes | None, graph: Path) -> None:
    """Give the build the saved timing cache, or a fresh one when TensorRT cannot read it or
    refuses it (another TensorRT or GPU): ``create_timing_cache`` may return None and
    ``set_timing_cache`` returns False on a mismatch (include/NvInfer.h, release/10.3)."""
    cost = "this build times every layer again (minutes on a Jetson)"
    cache = config.create_timing_cache(data or b"")
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        return
    if data:
        log.warning("%s: TensorRT %s the saved timing cache (made by another TensorRT or GPU); "
                    "starting a fresh one: %s", graph.name,
                    "could not read" if cache is None else "rejected", cost)
        cache = config.create_timing_cache(b"")
        if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
            return
    log.warning("%s: TensorRT gave no timing cache; building without one: %s", graph.name, cost)


def _serialized_timing_cache(config) -> bytes | None:
    """The build's timing cache as bytes, or None when there is none to save
    (``get_timing_cache`` may return None)."""
    cache = config.get_timing_cache()
    if cache is None:
        return None
    blob = cache.serialize()
    data = bytes(blob) if blob is not None else b""
    return data or None


def current_device(trt) -> DeviceInfo:
    """TensorRT version, GPU name, compute capability and SM count (via pycuda), board and L4T
    release: :func:`edge.engines.identity.device_info`, as the runtime reads them."""
    cuda = require("pycuda.driver", "querying the GPU")
    cuda.init()
    return device_info(trt, cuda, cuda.Device(0))


TIMING_KEYS = ("trt_version", "gpu_name", "compute_capability", "sm_count", "board")


def timing_identity(device: DeviceInfo) -> dict[str, Any]:
    """What a timing cache is valid for: the exact TensorRT version and the device."""
    return {k: getattr(device, k) for k in TIMING_KEYS}


def load_timing_cache(path: Path, device: DeviceInfo) -> bytes | None:
    """The saved timing cache at ``path`` if its sidecar ``path.json`` says it was made by this
    TensorRT on this device, else None (logged: the first build re-times every layer)."""
    if not path.is_file():
        return None
    side = path.with_name(path.name + ".json")
    try:
        made_for = json.loads(side.read_bytes())
    except (OSError, ValueError, RecursionError):  # missing, not UTF-8, not JSON: re-time
        made_for = None
    if made_for != timing_identity(device):
        log.warning("%s: made by %s, not by TensorRT %s on this %s; starting a fresh timing "
                    "cache (this build times every layer again)", path,
                    "an unknown TensorRT/GPU" if not isinstance(made_for, dict) else
                    f"TensorRT {made_for.get('trt_version')} on {made_for.get('gpu_name')}",
                    device.trt_version, device.gpu_name)
        return None
    return path.read_bytes()


def save_timing_cache(path: Path, data: bytes, device: DeviceInfo) -> None:
    atomic.write_bytes(path, data)
    atomic.write_text(path.with_name(path.name + ".json"),
                      json.dumps(timing_identity(device), indent=2) + "\n")


def check_dla(api: TrtApi, opts: BuildOptions, device: DeviceInfo) -> None:
    """Refuse ``--dla`` where it cannot work, saying why (see
    :func:`edge.engines.versions.dla_problem`)."""
    if opts.dla_core is None:
        return
    why = dla_problem(api.label, opts.precision, device.board_family,
                      device.compute_capability)
    if why:
        where = device.board or device.gpu_name
        raise ConfigError(f"--dla {opts.dla_core}: not possible with TensorRT "
                          f"{device.trt_version} on {where}: {why}")


def current_folder(export_dir: Path, out: Path, precision: str, device: DeviceInfo
                   ) -> dict[str, Any] | None:
    """``out``'s engines.json when it already holds verified ``precision`` engines built from
    this export (same manifest sha256) for this device and TensorRT; else None. The device
    self-test reuses what ``edge-build engine`` just built instead of building it twice."""
    from edge.engines.folder import ENGINE_MANIFEST, load_engine_folder, read_engine_folder
    from edge.export.onnx_export import MANIFEST, sha256_file

    try:
        read_engine_folder(out, precision, device)
        folder = load_engine_folder(out / ENGINE_MANIFEST)  # shape checked: export an object
    except EdgeError:  # missing, stale, foreign or malformed: built again
        return None
    if folder.get("export", {}).get("manifest_sha256") != sha256_file(export_dir / MANIFEST):
        return None
    log.info("%s: reusing its %s engines, built from this export for this device", out,
             precision)
    return folder


def unlist_precision(out: Path, precision: str) -> None:
    """Drop ``precision``'s entries from ``out``'s engines.json before they are rebuilt: a
    rebuilt engine keeps its file name (same key) but not its bytes (TensorRT times its
    tactics), so a build cut short (Ctrl-C, a kill, a power cut) must not leave a listing
    whose sha256 no longer match. Other precisions stay listed; the finished build lists
    this one again (:func:`write_engine_folder`)."""
    from edge.engines.folder import ENGINE_MANIFEST, load_engine_folder

    path = out / ENGINE_MANIFEST
    if not path.is_file():
        return
    folder = load_engine_folder(path, f"not overwriting it: move it away (or empty {out}) "
                                      f"and rebuild the engines")
    kept = [e for e in folder["engines"] if e["precision"] != precision]
    if len(kept) == len(folder["engines"]):
        return
    if kept:
        atomic.write_text(path, json.dumps({**folder, "engines": kept}, indent=2) + "\n")
    else:
        path.unlink()


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
    gate = check_int8_artifacts(api, export_dir, manifest, desc, files, opts)
    out.mkdir(parents=True, exist_ok=True)
    device = current_device(trt)
    check_dla(api, opts, device)
    if opts.reuse:
        current = current_folder(export_dir, out, opts.precision, device)
        if current is not None:
            return current
    unlist_precision(out, opts.precision)
    cache_path = Path(opts.timing_cache) if opts.timing_cache else out / "timing.cache"
    timing = load_timing_cache(cache_path, device)
    entries = []
    for spec in graph_specs(desc):
        stem = spec.file[:-len(".onnx")]
        entry, new_timing = build_one(trt, api, export_dir, stem, spec.role, spec.branch, desc,
                                      files, opts, out, device, timing)
        entries.append(entry)
        if new_timing is not None:  # reused by the next graph and the next build
            timing = new_timing
            save_timing_cache(cache_path, timing, device)
    export = {"path": str(export_dir.resolve()),
              "manifest_sha256": sha256_file(export_dir / MANIFEST)}
    if gate:
        export["int8_gate"] = gate
    return write_engine_folder(out, desc, export, device, entries)


def check_int8_artifacts(api: TrtApi, export_dir: Path, manifest: dict[str, Any],
                         desc: ModelDescription, files: set[str], opts: BuildOptions
                         ) -> dict[str, Any]:
    """Before any INT8 build: the gate of each INT8 artifact this TensorRT would build from
    (the Q/DQ graphs, or the FP32 graphs + calibration caches). A refused one stops the
    build unless ``opts.allow_refused_int8`` (see :func:`edge.calibrate.gate.check_int8`);
    an ungated one is a warning. Returns ``{target: gate record}`` for ``engines.json``."""
    if opts.precision != "int8":
        return {}
    from edge.calibrate.gate import check_int8
    from edge.export.onnx_export import graph_specs

    targets = set()
    for spec in graph_specs(desc):
        plan = plan_build(api, spec.file[:-len(".onnx")], "int8", files, export_dir)
        targets.add("tensorrt-cache" if plan.calibration_cache else "tensorrt-qdq")
    gate = {}
    for target in sorted(targets):
        rec = check_int8(export_dir, manifest, target, opts.allow_refused_int8,
                         action="building engines from")
        if rec is not None:
            gate[target] = {k: rec.get(k) for k in ("status", "metric", "drop_points",
                                                    "max_drop_points", "holdout")}
    return gate
