"""``edge-bench`` (no sub-command): the speed / memory / accuracy trade-off per branch
configuration and FCN variant, measured on this machine, with peers in the same run.

For every configuration, precision and instance count it runs the real pipeline
(``edge.runtime.Pipeline``: preprocess, detector, post-processing, crops, parallel
branches, paste) plus rendering on synthetic frames, and reports p50/p90/p99 per stage.
Instance counts are controlled: the detector network runs for real, then its box outputs
are replaced by ones that decode to exactly N person boxes taken from synthetic scenes, so
the cost per instance and per branch is measured whatever the weights. Zoo models are
exported with random weights (timing does not depend on them) into a cache.

Accuracy is only ever measured in the run, on a named data set, at the row's precision
and input size, with one definition: :func:`edge.evaluate.measure_accuracy` (what
``edge-build eval`` reports: COCO's 0.05 score threshold, mask AP@0.50 or mIoU in
points). ``--model DIR --data D`` rows are measured on D; the shipped demo model
(``--model demo``) without ``--data`` on generated held-out scenes (:data:`HOLDOUT_SEED`,
never used for training or calibration). Zoo rows have random weights and no accuracy;
the thesis's figures stay in the report's separate reference table and never feed the
Pareto front, the budget choice or a ratio. Every instance row records how many of the
scripted people got a mask (``masked`` of ``instances``).

"Share of peak" is against the machine's PHYSICAL peak (:mod:`edge.bench.peak`: FP32
rows against the float32 peak, INT8 rows against the int8 one); the ACHIEVED peak of
ONNX Runtime's own matrix kernels is measured and reported beside it.

Library ``print()`` output (exporter, ONNX Runtime's quantiser) is routed to logging, so
stdout carries only the report.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge import catalog
from edge.bench import peak as peaks
from edge.bench.thesis import HARDWARE, ROWS as THESIS_ROWS
from edge.bench.timing import summarize
from edge.description import ModelDescription
from edge.errors import ConfigError, EdgeError
from edge.geometry import BoxCoder, box_iou, ssd_anchors
from edge.optional import available, require
from edge.pipeline import Stopwatch

log = logging.getLogger(__name__)

Clock = Callable[[], float]

MEASURED = "measured"  # the only accuracy_source a row can have
HOLDOUT_SEED = 4242  # generated held-out scenes of the demo model: never a training seed
HOLDOUT_IMAGES = 50
BASIS = ("measured accuracy only (rows measured in this run on a named data set at their "
         "precision and input size); zoo rows (random weights) and the thesis's figures "
         "never count")


# --------------------------------------------------------------------------- statistics


def has_measured_accuracy(r: dict[str, Any]) -> bool:
    """A row of ours whose accuracy was measured in this run (the only kind the Pareto
    front and the budget choice use)."""
    return (r.get("peer") is None and r.get("accuracy") is not None
            and r.get("accuracy_source") == MEASURED)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (higher is better on both:
    frames per second, accuracy)."""
    front = []
    for i, (x, y) in enumerate(points):
        if not any((x2 >= x and y2 >= y) and (x2 > x or y2 > y) for x2, y2 in points):
            front.append(i)
    return front


def budget_load(rows: list[dict[str, Any]]) -> int | None:
    """The instance count the budget choice compares SSD-ISB rows at: 10 per frame when it
    was measured, else the largest count measured (None without instance rows)."""
    counts = {r["instances"] for r in rows
              if r.get("peer") is None and "network" not in r["stages_ms"]}
    if not counts:
        return None
    return 10 if 10 in counts else max(counts)


def choose_for_budget(rows: list[dict[str, Any]], budget_ms: float, task: str = "instance",
                      instances: int | None = None) -> dict[str, Any] | None:
    """The most accurate row of ``task`` whose p50 frame time meets ``budget_ms`` (ties:
    faster wins); instance rows at ``instances`` per frame (default :func:`budget_load`).
    Only our own rows with measured accuracy count (peers, rows without a measurement and
    reference lines do not), and mask AP is never compared with mIoU."""
    if instances is None:
        instances = budget_load(rows)

    def of_task(r: dict[str, Any]) -> bool:
        semantic = "network" in r["stages_ms"]
        return (task == "semantic") == semantic and (semantic or r["instances"] == instances)

    ok = [r for r in rows if has_measured_accuracy(r) and of_task(r)
          and r["frame_ms"]["p50"] <= budget_ms]
    if not ok:
        return None
    return max(ok, key=lambda r: (r["accuracy"], -r["frame_ms"]["p50"]))


def pareto_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The speed / accuracy Pareto front over rows with measured accuracy, per task (SSD-ISB
    rows at :func:`budget_load` instances; FCN rows apart: mask AP and mIoU never share a
    front)."""
    load = budget_load(rows)
    out: dict[str, Any] = {"basis": BASIS, "instances": load}
    for task in ("instance", "semantic"):
        sel = [r for r in rows if has_measured_accuracy(r)
               and (("network" in r["stages_ms"]) == (task == "semantic"))
               and (task == "semantic" or r["instances"] == load)]
        front = pareto_front([(r["fps"], r["accuracy"]) for r in sel])
        out[task] = [{k: sel[i].get(k) for k in ("config", "precision", "instances", "fps",
                                                  "accuracy", "accuracy_metric",
                                                  "accuracy_data")} for i in front]
    return out


# --------------------------------------------------------------------------- load control


def person_boxes(count: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``count`` person boxes (x1, y1, x2, y2) from synthetic scenes at ``size``, pairwise
    IoU < 0.5 (so NMS keeps them all) and at least 12 px on a side."""
    from edge.data.synth import random_scene

    boxes: list[np.ndarray] = []
    s = seed
    while len(boxes) < count:
        scene = random_scene(1000 + s, size, people=(4, 8))
        s += 1
        for a in scene.actors:
            if a.kind != "person":
                continue
            b = np.array([a.x - a.width / 2, a.y - a.height, a.x + a.width / 2, a.y], np.float32)
            b = np.clip(b, 0, [size[1], size[0], size[1], size[0]]).astype(np.float32)
            if min(b[2] - b[0], b[3] - b[1]) < 12:
                continue
            if boxes and box_iou(b[None], np.stack(boxes)).max() >= 0.5:
                continue
            boxes.append(b)
            if len(boxes) == count:
                break
        if s > seed + 5000:
            raise ConfigError(f"could not place {count} separated instances at {size}")
    return np.stack(boxes) if boxes else np.zeros((0, 4), np.float32)


class ScriptedDetections:
    """Backend wrapper: the detector network runs for real; its box codes and class logits
    are then replaced by outputs that decode to exactly ``boxes``."""

    def __init__(self, backend, desc: ModelDescription, boxes: np.ndarray) -> None:
        self.backend = backend
        anchors = ssd_anchors(desc.anchors, desc.input_size)
        self.codes = np.zeros_like(anchors, dtype=np.float32)
        self.logits = np.zeros((len(anchors), desc.num_classes + 1), np.float32)
        self.logits[:, 0] = 10.0
        if len(boxes):
            iou = box_iou(np.asarray(boxes, np.float32), anchors)
            used: set[int] = set()
            idx = []
            for row in iou:
                order = np.argsort(-row)
                j = next(int(k) for k in order if int(k) not in used)
                used.add(j)
                idx.append(j)
            idx_a = np.asarray(idx)
            self.codes[idx_a] = BoxCoder(desc.box_coder_weights).encode(boxes, anchors[idx_a])
            self.logits[idx_a, 0] = -10.0
            self.logits[idx_a, 1] = 10.0

    def detect(self, image: np.ndarray):
        _, _, taps = self.backend.detect(image)
        return self.codes, self.logits, taps

    def segment(self, branch: int, crops: list[np.ndarray]) -> np.ndarray:
        return self.backend.segment(branch, crops)


@contextlib.contextmanager
def scripted_detections(core: Any, desc: ModelDescription, boxes: np.ndarray):
    """Make a pipeline core see detections that decode to exactly ``boxes``, on every
    backend: the host pipeline's backend is wrapped (:class:`ScriptedDetections`), and a
    device pipeline that runs its detector engine itself (the TensorRT
    ``GpuInstancePipeline``) gets the scripted outputs through its post-processing
    (``plan``). Either way the detector still runs and is timed, and the crops come from
    its real feature maps. Restores the core on exit."""
    script = ScriptedDetections(core.backend, desc, boxes)
    real_backend, own_plan = core.backend, vars(core).get("plan")
    real_plan = core.plan

    def plan(codes: np.ndarray, logits: np.ndarray):
        return real_plan(script.codes, script.logits)

    core.backend, core.plan = script, plan
    try:
        yield script
    finally:
        core.backend = real_backend
        if own_plan is None:
            del core.plan
        else:
            core.plan = own_plan


# --------------------------------------------------------------------------- output


class _LogLines(io.TextIOBase):
    """A text stream that sends each complete line to a logger."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        super().__init__()
        self.logger, self.level, self.pending = logger, level, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            if line.strip():
                self.logger.log(self.level, "%s", line.rstrip())
        return len(text)

    def close_pending(self) -> None:
        if self.pending.strip():
            self.logger.log(self.level, "%s", self.pending.rstrip())
        self.pending = ""


@contextlib.contextmanager
def stdout_to_log(logger: logging.Logger = log, level: int = logging.INFO):
    """Route what libraries ``print()`` (exporters, ONNX Runtime's quantiser) to logging, so
    stdout carries only ``edge-bench``'s tables."""
    sink = _LogLines(logger, level)
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        sink.close_pending()


# --------------------------------------------------------------------------- models


def cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "edge-seg" / "bench"


def zoo_desc(name: str, alpha: float | None, input_size: tuple[int, int] | None
             ) -> ModelDescription:
    if name not in catalog.INSTANCE_CONFIGS and name not in catalog.semantic_names():
        raise ConfigError(f"unknown configuration {name!r}; known: "
                          f"{', '.join(list(catalog.INSTANCE_CONFIGS) + catalog.semantic_names())}")
    kw: dict[str, Any] = {}
    if alpha is not None and not name.startswith("squeezenet") and name not in \
            catalog.SEED_CONFIGS:
        kw["alpha"] = alpha
    if input_size is not None:
        kw["input_size"] = input_size
    return catalog.describe(name, **kw)


def activation_bytes(graph: Path) -> int:
    """Sum of every operator's output bytes at batch 1 (the thesis's 'output bytes')."""
    onnx = require("onnx", "activation memory")
    model = onnx.shape_inference.infer_shapes(onnx.load(str(graph)))
    sizes = {onnx.TensorProto.FLOAT: 4, onnx.TensorProto.FLOAT16: 2, onnx.TensorProto.INT64: 8,
             onnx.TensorProto.INT32: 4, onnx.TensorProto.BOOL: 1, onnx.TensorProto.INT8: 1,
             onnx.TensorProto.UINT8: 1}
    info = {v.name: v for v in list(model.graph.value_info) + list(model.graph.output)}
    total = 0
    for node in model.graph.node:
        for out in node.output:
            v = info.get(out)
            if v is None or not v.type.HasField("tensor_type"):
                continue
            dims = [d.dim_value if d.HasField("dim_value") else 1
                    for d in v.type.tensor_type.shape.dim]
            total += int(np.prod(dims)) * sizes.get(v.type.tensor_type.elem_type, 4)
    return total


def prepare_export(desc: ModelDescription, precisions: list[str], root: Path | None = None,
                   seed: int = 0) -> Path:
    """Random-weights export of ``desc`` (+ ONNX Runtime INT8 when asked) in the cache,
    with ``bench.json`` (parameters, MACs, activation bytes). Reused when present."""
    root = root or cache_root()
    key = hashlib.sha256(desc.to_json().encode()).hexdigest()[:12]
    out = root / f"{desc.name}-a{desc.alpha}-{desc.input_size[0]}x{desc.input_size[1]}-{key}"
    with stdout_to_log():
        _prepare(desc, precisions, root, out, seed)
    return out


def _prepare(desc: ModelDescription, precisions: list[str], root: Path, out: Path,
             seed: int) -> None:
    meta_path = out / "bench.json"
    fp32_dir = out / "fp32"
    if not meta_path.is_file():
        torch = require("torch", "exporting zoo models to benchmark (or pass --model DIR)")
        from edge.export.onnx_export import export_onnx
        from edge.models.stats import count_parameters, model_macs
        from edge.models.zoo import build_model

        torch.manual_seed(seed)
        model = build_model(desc)
        export_onnx(desc, model.eval(), fp32_dir, fp16=False)
        graphs = sorted(fp32_dir.glob("*.onnx"))
        act = {g.name: activation_bytes(g) for g in graphs if g.name != "detector_nms.onnx"}
        meta = {"params": count_parameters(model), "macs": model_macs(desc),
                "activation_bytes": act}
        from edge import atomic

        atomic.write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    if "int8" in precisions and not (out / "int8" / "manifest.json").is_file():
        _calibrate(fp32_dir, out / "int8", desc, root)


def _calibrate(fp32_dir: Path, out: Path, desc: ModelDescription, root: Path) -> None:
    """INT8 with 16 synthetic frames: enough for timing (the accuracy gate needs real data
    and runs in edge-build calibrate)."""
    cv2 = require("cv2", "writing calibration frames")
    from edge.calibrate.quantize import calibrate_export
    from edge.calibrate.sets import CalibrationSet
    from edge.data.synth import random_scene

    frames = root / f"calib-{desc.input_size[0]}x{desc.input_size[1]}"
    if not frames.is_dir() or len(list(frames.glob("*.jpg"))) < 16:
        frames.mkdir(parents=True, exist_ok=True)
        for i in range(16):
            cv2.imwrite(str(frames / f"{i:02d}.jpg"), random_scene(500 + i, desc.input_size)
                        .render()[0])
    cset = CalibrationSet(name="bench-synthetic", kind="images", path=str(frames), count=16)
    calibrate_export(fp32_dir, cset, out, progress=False)


# --------------------------------------------------------------------------- timing


def synthetic_frames(size: tuple[int, int], n: int = 8, seed: int = 0) -> list[bytes]:
    """JPEG-encoded synthetic scenes (decoding is timed as its own stage)."""
    cv2 = require("cv2", "the benchmark frames")
    from edge.data.synth import random_scene

    return [cv2.imencode(".jpg", random_scene(seed + i, size).render()[0])[1].tobytes()
            for i in range(n)]


def mask_count(res: Any) -> int | None:
    """How many instances of a result got a mask (None for a semantic result)."""
    inst = getattr(res, "instances", res)  # a runtime FrameResult holds an InstanceResult
    logits = getattr(inst, "mask_logits", None)
    if logits is None:
        return None
    return sum(m is not None for m in logits)


def time_frames(pipe, frames: list[bytes], n: int, warmup: int = 3, render: bool = True,
                clock: Clock = time.perf_counter, masked: list[int] | None = None
                ) -> tuple[dict[str, list[float]], list[float]]:
    """Run ``n`` frames after ``warmup``: per-stage samples (ms) and per-frame totals (ms,
    decode excluded: it is the source's cost, reported on its own). With ``masked``, each
    timed frame's count of instances that got a mask is appended to it."""
    cv2 = require("cv2", "decoding benchmark frames")
    from edge.runtime.render import Renderer

    renderer = Renderer() if render else None
    stages: dict[str, list[float]] = {}
    totals: list[float] = []
    for i in range(warmup + n):
        sw = Stopwatch()
        t0 = clock()
        img = cv2.imdecode(np.frombuffer(frames[i % len(frames)], np.uint8), cv2.IMREAD_COLOR)
        t1 = clock()
        res = pipe(img, sw)
        if renderer is not None:
            t2 = clock()
            renderer(img, res, None)
            sw.add("render", (clock() - t2) * 1e3)
        t3 = clock()
        if i < warmup:
            continue
        if masked is not None:
            count = mask_count(res)
            if count is not None:
                masked.append(count)
        sw.ms["decode"] = (t1 - t0) * 1e3
        for k, v in sw.ms.items():
            stages.setdefault(k, []).append(v)
        totals.append((t3 - t1) * 1e3)
    return stages, totals


def machine_peaks(threads: int) -> dict[str, Any]:
    """``{"physical": ..., "achieved": ...}``: the machine's physical float32 / int8 peaks
    on ``threads`` cores (:func:`edge.bench.peak.machine_peak`) and what ONNX Runtime's own
    MatMul / MatMulInteger achieve with them (:func:`edge.bench.peak.achieved_peak`)."""
    physical = peaks.machine_peak(threads)
    try:
        achieved = peaks.achieved_peak(threads)
    except EdgeError as exc:  # ONNX Runtime missing: the physical peak still stands
        achieved = {"fp32_gmacs": None, "int8_gmacs": None, "reason": str(exc)}
    return {"physical": physical, "achieved": achieved}


def machine_info(threads: int | None,
                 modules: tuple[str, ...] = ("onnxruntime", "torch", "torchvision", "tensorrt")
                 ) -> dict[str, Any]:
    """What figures were measured on: CPU, cores, threads, date and the versions of
    ``modules`` that are installed (each is imported: leave ``torch`` out where importing
    it would change what is measured, e.g. a soak's memory)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "threads": threads,
            "python": platform.python_version(), "numpy": np.__version__,
            "date": time.strftime("%Y-%m-%d")}
    for mod in modules:
        if available(mod):
            info[mod] = __import__(mod).__version__
    return info


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (monotonic over a run)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    """Current resident memory (Linux /proc; the peak where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


@dataclass
class BenchOptions:
    """What ``edge-bench`` (no command) measures; :meth:`check` refuses values that cannot
    give a meaningful row (naming the command-line option)."""

    configs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # export folders (trained models)
    backend: str = "onnxruntime"
    precisions: list[str] = field(default_factory=lambda: ["fp32", "int8"])
    input_size: int = 640
    semantic_size: tuple[int, int] | None = None
    alpha: float | None = None
    instances: list[int] = field(default_factory=lambda: [0, 10, 30])  # 0 is a valid load
    frames: int = 30
    warmup: int = 3
    threads: int | None = None  # None: every core
    data: str | None = None  # accuracy of the --model rows
    peers: bool = True
    sizes: list[int] = field(default_factory=list)  # latency-vs-input-size curve; [] = none
    holdout_images: int = HOLDOUT_IMAGES  # the demo model's generated held-out scenes
    sequential: bool = True
    progress: bool = True

    def check(self) -> None:
        """Raise :class:`ConfigError` (one line, naming the option and the fix) for options
        that cannot be measured. Cheap: builds descriptions, exports nothing."""
        check_options(self)


def _whole(value: Any, option: str, minimum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{option} takes {what}, got {value!r}")
    return int(value)


def _multiple_of_32(value: Any, option: str, example: str) -> int:
    v = _whole(value, option, 1, f"a positive multiple of 32 (e.g. {example})")
    if v % 32:
        raise ConfigError(f"{option} takes multiples of 32 (e.g. {example}), got {v}; try "
                          f"{max(32, round(v / 32) * 32)}")
    return v


def check_options(opts: BenchOptions) -> None:
    """See :meth:`BenchOptions.check`."""
    known = list(catalog.INSTANCE_CONFIGS) + catalog.semantic_names()
    for name in opts.configs:
        if name not in known:
            raise ConfigError(f"--configs: unknown configuration {name!r}; known: "
                              f"{', '.join(known)} (or 'all')")
    for m in opts.models:
        if not str(m).strip():
            raise ConfigError("--model takes export folders (edge-build export / calibrate "
                              "output) or demo, got an empty name")
        if str(m) == DEMO:
            continue
        if not Path(m).is_dir():
            raise ConfigError(f"--model {m}: no such folder; pass an export folder "
                              f"(edge-build export --model M --out DIR)")
    if not opts.configs and not opts.models:
        raise ConfigError("nothing to measure: --configs names no configuration; name zoo "
                          "configurations (--configs all or NAME,...) or pass --model DIR")
    if not opts.precisions or any(p not in ("fp32", "fp16", "int8") for p in opts.precisions):
        raise ConfigError(f"--precision takes fp32, fp16, int8 or a comma list, got "
                          f"{','.join(opts.precisions)!r}")
    if opts.backend not in ("onnxruntime", "tensorrt"):
        raise ConfigError(f"--backend takes onnxruntime or tensorrt, got {opts.backend!r}")
    if opts.alpha is not None and opts.alpha not in catalog.ALPHAS:
        raise ConfigError(f"--alpha takes one of {', '.join(str(a) for a in catalog.ALPHAS)} "
                          f"(MobileNet depth multipliers), got {opts.alpha:g}")
    _multiple_of_32(opts.input_size, "--input-size", "640")
    if opts.semantic_size is not None:
        if len(opts.semantic_size) != 2 or any(
                isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
                for v in opts.semantic_size):
            raise ConfigError(f"--semantic-size takes two positive sizes H W (multiples of 32, "
                              f"e.g. 512 1024), got {' '.join(map(str, opts.semantic_size))}")
        for name in opts.configs:
            if name in catalog.semantic_names():
                try:
                    zoo_desc(name, opts.alpha, tuple(opts.semantic_size))
                except ConfigError as exc:
                    raise ConfigError(f"--semantic-size: {exc}") from None
    if not opts.instances:
        raise ConfigError("--instances takes comma-separated instance counts per frame "
                          "(0 or more, e.g. 0,10,30), got none")
    for k in opts.instances:
        _whole(k, "--instances", 0, "instance counts per frame of 0 or more (e.g. 0,10,30)")
    _whole(opts.frames, "--frames", 1, "at least 1 timed frame per row (e.g. 30)")
    _whole(opts.warmup, "warm-up frames", 0, "0 or more frames")
    if opts.threads is not None:
        _whole(opts.threads, "--threads", 1,
               f"at least 1 core (omit it to use all {os.cpu_count() or 1})")
    if opts.data is not None:
        if not str(opts.data).strip():
            raise ConfigError("--data takes a dataset folder, got an empty name")
        if not opts.models:
            raise ConfigError("--data measures the accuracy of --model rows; pass --model DIR "
                              "or --model demo (zoo rows have random weights: no accuracy)")
        if not Path(opts.data).exists():
            raise ConfigError(f"--data {opts.data}: no such file or folder")
    for s in opts.sizes:
        _multiple_of_32(s, "--size-curve", "320,480,640")
    _whole(opts.holdout_images, "--holdout-images", 1,
           f"at least 1 generated held-out scene (e.g. {HOLDOUT_IMAGES})")


def _row(config: str, desc: ModelDescription, backend: str, precision: str, instances: int,
         stages: dict[str, list[float]], totals: list[float], meta: dict[str, Any] | None,
         files_mb: float | None, peak: dict[str, Any] | None, peer: str | None = None,
         masked: list[int] | None = None) -> dict[str, Any]:
    """One row; ``peak`` is the machine's physical peak (:func:`edge.bench.peak.cpu_peak`),
    ``masked`` the per-frame counts of instances that got a mask (instance rows)."""
    frame = summarize(totals)
    row: dict[str, Any] = {
        "config": config, "backend": backend, "precision": precision, "alpha": desc.alpha,
        "input_size": list(desc.input_size), "instances": instances,
        "masked": (min(masked) if masked else (0 if instances == 0 else None))
        if desc.task == "instance" else None, "peer": peer,
        "fps": 1000.0 / frame["mean"] if frame["mean"] > 0 else 0.0, "frame_ms": frame,
        "stages_ms": {k: summarize(v) for k, v in stages.items()},
        "peak_rss_mb": round(peak_rss_mb(), 1), "file_mb": files_mb,
        "params": meta["params"] if meta else None,
        "activation_mb": (sum(meta["activation_bytes"].values()) / 2**20
                          if meta and meta.get("activation_bytes") else None),
    }
    inference = sum(row["stages_ms"].get(k, {}).get("mean", 0.0)
                    for k in ("detector", "network", "branches"))
    row["inference_ms"] = inference
    row["overhead_share"] = 1.0 - inference / frame["mean"] if frame["mean"] > 0 else None
    if meta:
        macs = meta["macs"]
        if desc.task == "semantic":
            work = macs["network"]
        else:
            per_box = (macs["branches"] / max(1, len(desc.branches)))
            work = macs["detector"] + per_box * instances
        row["gmacs"] = work / 1e9
        row["gmacs_per_s"] = work / 1e9 / (inference / 1e3) if inference > 0 else None
        row["peak_share"] = peaks.share(row["gmacs_per_s"], precision, peak)
    return row


def _files_mb(folder: Path, precision: str) -> float:
    from edge.export.onnx_export import read_manifest

    files = [f for f in read_manifest(folder, verify=False)["files"]
             if f["precision"] == precision and f["file"].endswith(".onnx")
             and f["role"] != "detector_nms" and f["target"] in ("any", "onnxruntime")]
    return sum((folder / f["file"]).stat().st_size for f in files) / 2**20


NO_ACCURACY: dict[str, Any] = {"accuracy": None, "accuracy_metric": None,
                               "accuracy_source": None, "accuracy_data": None,
                               "accuracy_detail": None}
DEMO = "demo"  # --model demo: the shipped export, edge.runtime.model.DEMO_EXPORT


def measured_accuracy(folder: str | Path, data: str | Path, precision: str,
                      data_name: str | None = None) -> dict[str, Any]:
    """A row's accuracy fields for a trained export: exactly ``edge-build eval``'s figure
    (:func:`edge.evaluate.measure_accuracy`) at ``precision`` and the export's input size,
    labelled as measured here on ``data`` (``data_name`` names it, default its path)."""
    from edge.evaluate import measure_accuracy

    m = measure_accuracy(folder, data, precision)
    thr = (f", detections down to score {m['score_threshold']:g}"
           if m["score_threshold"] is not None else "")
    name = data_name or str(data)
    return {"accuracy": m["accuracy"], "accuracy_metric": m["metric"],
            "accuracy_source": MEASURED, "accuracy_data": name,
            "accuracy_detail": f"{precision} graphs on {name}, as edge-build eval computes it"
                               f"{thr}"}


def is_demo(model: str | Path) -> bool:
    """``--model demo`` or the shipped demo export's folder itself."""
    from edge.runtime.model import DEMO_EXPORT

    if str(model) == DEMO:
        return True
    try:
        return Path(model).resolve() == DEMO_EXPORT.resolve()
    except OSError:
        return False


def holdout_set(size: tuple[int, int], images: int = HOLDOUT_IMAGES,
                root: Path | None = None) -> tuple[Path, str]:
    """(folder, name) of ``images`` generated held-out scenes at ``size`` (seed
    :data:`HOLDOUT_SEED`, never used to train or calibrate the demo model), written once
    into the cache."""
    from edge.data.synth import write_dataset

    root = root or cache_root()
    folder = root / f"holdout-seed{HOLDOUT_SEED}-{size[0]}x{size[1]}-n{images}"
    if not (folder / "annotations.json").is_file():
        with stdout_to_log():  # an interrupted earlier run leaves a synth folder: redo it
            write_dataset(str(folder), images, size, seed=HOLDOUT_SEED, progress=False,
                          overwrite=folder.exists())
    return folder, (f"{images} generated held-out scenes ({size[0]}x{size[1]}, edge.data.synth "
                    f"seed {HOLDOUT_SEED}, never used for training or calibration)")


def _work_only(desc: ModelDescription) -> dict[str, Any] | None:
    """A trained export's multiply-adds (for its share of peak), counted on PyTorch's meta
    device when PyTorch is installed; None without it."""
    if not available("torch"):
        return None
    from edge.models.stats import model_macs

    return {"params": None, "macs": model_macs(desc), "activation_bytes": {}}


def run_suite(opts: BenchOptions, progress: Callable[[str], None] | None = None
              ) -> dict[str, Any]:
    from edge.export.onnx_export import read_manifest
    from edge.runtime.model import DEMO_EXPORT, Pipeline

    check_options(opts)
    say = progress or (lambda msg: log.info("%s", msg))
    # every description and manifest first: bad input fails before any export or timing
    zoo = []
    for name in opts.configs:
        size = (opts.input_size, opts.input_size)
        if name in catalog.semantic_names():
            size = (tuple(opts.semantic_size) if opts.semantic_size is not None
                    else catalog.describe(name).input_size)
        zoo.append((name, zoo_desc(name, opts.alpha, size)))
    models = [DEMO_EXPORT if str(m) == DEMO else Path(m) for m in opts.models]
    trained = [(m, ModelDescription.from_dict(read_manifest(m)["description"]))
               for m in models]
    threads = opts.threads if opts.threads is not None else (os.cpu_count() or 1)
    machine_peak = machine_peaks(threads)
    peak = machine_peak["physical"]
    report: dict[str, Any] = {"machine": {**machine_info(threads), "peak": machine_peak},
                              "rows": [], "thesis": [r.__dict__ for r in THESIS_ROWS],
                              "thesis_hardware": HARDWARE, "notes": []}
    jobs: list[tuple[str, ModelDescription, Path, dict[str, Any] | None, bool]] = []
    for name, desc in zoo:
        root = prepare_export(desc, opts.precisions)
        meta = json.loads((root / "bench.json").read_text())
        jobs.append((name, desc, root, meta, False))
    for m, desc in trained:
        jobs.append((DEMO if is_demo(m) else m.name, desc, m, _work_only(desc), True))

    for name, desc, root, meta, is_trained in jobs:
        counts = opts.instances if desc.task == "instance" else [0]
        frames = synthetic_frames(desc.input_size)
        for p in opts.precisions:
            folder = root if is_trained else (root / ("int8" if p == "int8" else "fp32"))
            rss_before = rss_mb()
            try:
                pipe = Pipeline.from_dir(folder, backend=opts.backend, precision=p,
                                         threads=threads)
            except EdgeError as exc:  # a precision this export lacks, a missing extra
                report["notes"].append(f"{name} {p}: {exc}")
                continue
            rows = []
            with pipe:
                files_mb = _files_mb(folder, p)
                for k in counts:
                    say(f"{name} {p} {k} instances")
                    masked: list[int] = []
                    with contextlib.ExitStack() as script:
                        if desc.task == "instance":  # exactly k instances, on any backend
                            script.enter_context(scripted_detections(
                                pipe.core, desc, person_boxes(k, desc.input_size)))
                        stages, totals = time_frames(pipe, frames, opts.frames, opts.warmup,
                                                     masked=masked)
                    row = _row(name, desc, opts.backend, p, k, stages, totals, meta,
                               files_mb, peak, masked=masked)
                    if desc.task == "instance":  # k boxes decoded exactly, detector timed
                        row["detections"] = "scripted"
                    # what loading this model and running it added to the process (freed
                    # memory of earlier rows may be reused, so this is a lower bound)
                    row["model_rss_mb"] = round(max(0.0, rss_mb() - rss_before), 1)
                    if desc.task == "instance" and opts.sequential and k > 0 \
                            and getattr(pipe.core, "executor", None) is not None:
                        ex, pipe.core.executor = pipe.core.executor, None
                        with scripted_detections(pipe.core, desc,
                                                 person_boxes(k, desc.input_size)):
                            seq, _ = time_frames(pipe, frames, max(5, opts.frames // 3), 1,
                                                 False)
                        pipe.core.executor = ex
                        row["branches_sequential_ms"] = summarize(seq.get("branches", []))
                    rows.append(row)
            # accuracy after the timing, so the evaluation's memory is not in RSS +MB; only
            # measured here, on a named data set, at this precision and input size
            if is_trained and opts.data is not None:
                say(f"{name} {p} accuracy on {opts.data}")
                acc = measured_accuracy(folder, opts.data, p)
            elif is_trained and is_demo(folder):
                data, data_name = holdout_set(desc.input_size, opts.holdout_images)
                say(f"{name} {p} accuracy on {data_name}")
                acc = measured_accuracy(folder, data, p, data_name)
            else:  # zoo rows have random weights; a trained export without --data
                acc = dict(NO_ACCURACY)
            for row in rows:
                row.update(acc)
            report["rows"] += rows
    if opts.sizes:  # Multi-Shape when it is in the run (the thesis's choice)
        zoo_inst = [j for j in jobs if not j[4] and j[1].task == "instance"]
        if zoo_inst:
            pick = next((j for j in zoo_inst if j[0] == "ssd-isb-multi-shape"), zoo_inst[0])
            report["size_curve"] = _size_curve(opts, pick, threads, peak, say)
        else:
            report["notes"].append("--size-curve skipped: it times an SSD-ISB zoo "
                                   "configuration and the run has none")
    if opts.peers:
        report["rows"] += _peers(opts, jobs, threads, peak, say, report["notes"])
    report["pareto"] = pareto_rows(report["rows"])
    return report


def _size_curve(opts: BenchOptions, job, threads: int, peak: dict[str, Any] | None, say
                ) -> list[dict[str, Any]]:
    from edge.runtime.model import Pipeline

    name, desc0, _, _, trained = job
    if trained or desc0.task != "instance":
        return []
    rows = []
    k = 10 if 10 in opts.instances else max(opts.instances)
    for s in opts.sizes:
        desc = zoo_desc(name, opts.alpha, (s, s))
        root = prepare_export(desc, ["fp32"])
        meta = json.loads((root / "bench.json").read_text())
        say(f"{name} fp32 at {s}x{s}")
        with Pipeline.from_dir(root / "fp32", backend=opts.backend, threads=threads) as pipe:
            masked: list[int] = []
            with scripted_detections(pipe.core, desc, person_boxes(k, desc.input_size)):
                stages, totals = time_frames(pipe, synthetic_frames(desc.input_size),
                                             opts.frames, opts.warmup, masked=masked)
            rows.append(_row(name, desc, opts.backend, "fp32", k, stages, totals, meta,
                             _files_mb(root / "fp32", "fp32"), peak, masked=masked))
    return rows


def _peers(opts: BenchOptions, jobs, threads: int, peak: dict[str, Any] | None, say,
           notes: list[str]) -> list[dict[str, Any]]:
    """PyTorch eager for the same zoo models, and torchvision's Mask R-CNN (R50-FPN)."""
    rows: list[dict[str, Any]] = []
    if not available("torch"):
        notes.append("peers skipped: PyTorch is not installed")
        return rows
    import torch

    from edge.backends.torch_backend import TorchBackend
    from edge.models.zoo import build_model
    from edge.pipeline import InstancePipeline, SemanticPipeline

    torch.set_num_threads(threads)
    n = max(5, opts.frames // 2)
    for name, desc, root, meta, trained in jobs:
        if trained:
            continue
        torch.manual_seed(0)
        be = TorchBackend(build_model(desc).eval())
        frames = synthetic_frames(desc.input_size)
        counts = opts.instances if desc.task == "instance" else [0]
        for k in counts:
            say(f"{name} pytorch-eager {k} instances")
            if desc.task == "instance":
                pipe = _EagerPipe(InstancePipeline(desc, ScriptedDetections(
                    be, desc, person_boxes(k, desc.input_size))))
            else:
                pipe = _EagerPipe(SemanticPipeline(desc, be))
            masked: list[int] = []
            with torch.inference_mode():
                stages, totals = time_frames(pipe, frames, n, 2, masked=masked)
            rows.append(_row(name, desc, "pytorch", "fp32", k, stages, totals, meta, None, peak,
                             peer="pytorch-eager", masked=masked))
    inst = [j for j in jobs if j[1].task == "instance"]
    if inst:
        if available("torchvision"):
            rows += _maskrcnn(opts, inst[0][1].input_size, threads, peak, say)
        else:
            notes.append("Mask R-CNN peer skipped: torchvision is not installed")
    return rows


class _EagerPipe:
    """Adapts an edge.pipeline core (PyTorch backend) to the runtime's call signature, with
    the same paste stage, for :func:`time_frames`."""

    def __init__(self, core) -> None:
        self.core = core

    def __call__(self, frame, sw):
        res = self.core(frame, sw)
        names = tuple(self.core.desc.class_names)
        if isinstance(res, np.ndarray):
            return _Result("semantic", names, labels=res)
        with sw("paste"):
            imap = res.instance_map()
        return _Result("instance", names, res, imap)


class _Result:
    """What the renderer reads of a result (the model's class names: the semantic
    renderer colours and names every class)."""

    def __init__(self, task: str, class_names: tuple[str, ...], res=None, instance_map=None,
                 labels=None) -> None:
        self.task, self.instance_map, self.labels = task, instance_map, labels
        self.class_names = class_names
        self.instances = res  # the core's InstanceResult (what mask_count reads)
        if res is not None:
            self.boxes, self.scores, self.classes = res.boxes, res.scores, res.classes
            self._n = len(res)
        else:
            self._n = 0

    def __len__(self) -> int:
        return self._n


def _maskrcnn(opts: BenchOptions, size: tuple[int, int], threads: int,
              peak: dict[str, Any] | None, say) -> list[dict[str, Any]]:
    import torch
    import torchvision

    rows = []
    frames = synthetic_frames(size)
    cv2 = require("cv2")
    for k in opts.instances:
        say(f"Mask R-CNN R50-FPN {k} instances")
        torch.manual_seed(0)
        model = torchvision.models.detection.maskrcnn_resnet50_fpn(
            weights=None, weights_backbone=None, num_classes=2, min_size=size[0],
            max_size=max(size), box_score_thresh=0.0, box_detections_per_img=k).eval()
        totals, stages, masked = [], {"network": []}, []
        n = max(5, opts.frames // 4)
        with torch.inference_mode():
            for i in range(n + 1):
                img = cv2.imdecode(np.frombuffer(frames[i % len(frames)], np.uint8),
                                   cv2.IMREAD_COLOR)
                t0 = time.perf_counter()
                x = torch.from_numpy(img[:, :, ::-1].copy()).permute(2, 0, 1).float() / 255
                out = model([x])
                ms = (time.perf_counter() - t0) * 1e3
                if i:
                    totals.append(ms)
                    stages["network"].append(ms)
                    masked.append(int(out[0]["masks"].shape[0]))
        params = sum(p.numel() for p in model.parameters())
        desc = catalog.describe("ssd-isb-multi-shape", input_size=size)
        row = _row("maskrcnn-r50-fpn", desc, "pytorch", "fp32", k, stages, totals, None, None,
                   peak, peer="maskrcnn-r50-fpn", masked=masked)
        row["params"], row["alpha"] = params, None
        rows.append(row)
    return rows
