"""The embeddable pipeline: a model folder + a backend -> frames in, results out.

``Pipeline.from_dir("demo")`` (the shipped demo export) or ``Pipeline.from_dir(DIR)`` (an
``edge-build export`` / ``calibrate`` / ``engine`` folder), then call it on BGR frames.
No PyTorch is imported; the geometry is the shared core's (:mod:`edge.pipeline`).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.description import ModelDescription
from edge.engines.folder import ENGINE_MANIFEST
from edge.errors import ConfigError, ModelFileError
from edge.optional import available
from edge.pipeline import InstancePipeline, InstanceResult, SemanticPipeline, Stopwatch

log = logging.getLogger(__name__)

DEMO_NAME = "demo"
DEMO_EXPORT = Path(__file__).resolve().parent.parent / "demo" / "export"
BACKENDS = ("auto", "tensorrt", "onnxruntime")


def resolve_model_dir(ref: str | Path | None) -> Path:
    """``None``/``demo`` -> the shipped demo export; otherwise an existing folder."""
    if ref is None or str(ref) == DEMO_NAME:
        if not (DEMO_EXPORT / "manifest.json").is_file():
            raise ModelFileError(f"{DEMO_EXPORT}: the demo export is missing from this "
                                 f"installation; reinstall edge-seg or run tools/package_demo.sh")
        return DEMO_EXPORT
    path = Path(ref)
    if not path.is_dir():
        from edge.fleet.install import NAME, installed, installed_names, models_root

        if NAME.match(str(ref)):
            found = installed(str(ref))
            if found is not None:  # installed by edge-build engine --deploy NAME
                log.info("model %s: %s", ref, found)
                return found
            names = installed_names()
            raise ModelFileError(
                f"{path}: no such model folder, and no model {ref!r} installed in "
                f"{models_root()} (installed: {', '.join(names) or 'none'}); pass an export "
                f"or engine folder, 'demo', or deploy it with edge-build engine --device ... "
                f"--deploy {ref}")
        raise ModelFileError(f"{path}: no such model folder; pass an export folder (edge-build "
                             f"export --model M --out DIR), an engine folder or 'demo'")
    from edge.fleet.store import is_store, pick_entry

    if is_store(path):
        return pick_entry(path, _this_device(path))
    return path


def _this_device(store: Path) -> Any:
    """This device's identity (TensorRT + pycuda), to pick its entry of an engine store."""
    from edge.engines.builder import current_device
    from edge.optional import require

    trt = require("tensorrt", f"running engines from the engine store {store} (it picks the "
                              f"entry built for this device's TensorRT and GPU)")
    return current_device(trt)


def choose_backend(model_dir: Path, backend: str) -> str:
    """``auto`` picks TensorRT when the folder has engines and TensorRT + pycuda import.

    Engines without TensorRT or pycuda are never passed over in silence: the user built
    them to run on the GPU. With ONNX Runtime graphs beside them (``manifest.json``) it
    warns that the run falls back to the CPU; without, it refuses in one line naming
    the missing modules (not a misleading "manifest.json: missing")."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if not (model_dir / ENGINE_MANIFEST).is_file():
        return "onnxruntime"
    missing = [m for m in ("tensorrt", "pycuda") if not available(m)]
    if not missing:
        return "tensorrt"
    what = " and ".join(missing)
    if (model_dir / "manifest.json").is_file():
        log.warning("%s has TensorRT engines but %s cannot be imported: running its ONNX "
                    "Runtime graphs on the CPU instead (several times slower than the engines "
                    "on the GPU); install %s (JetPack) or pass --backend onnxruntime to choose "
                    "the CPU", model_dir, what, what)
        return "onnxruntime"
    raise ModelFileError(f"{model_dir}: an engine folder, but {what} cannot be imported and it "
                         f"has no ONNX Runtime graphs; install {what} (JetPack's python3-"
                         f"libnvinfer / pip install pycuda) or run the export folder it was "
                         f"built from with --backend onnxruntime")


def _check_engine_gate(model_dir: Path, allow_refused_int8: bool) -> None:
    """INT8 engines carry the gate of the artifact they were built from (``engines.json``
    ``export.int8_gate``, written by ``edge-build engine``): a refused one does not run
    unless overridden, as for the ONNX Runtime graphs."""
    from edge.calibrate.gate import check_int8
    from edge.engines.folder import load_engine_folder

    path = model_dir / ENGINE_MANIFEST
    export = load_engine_folder(path).get("export", {})  # shape checked: export is an object
    gates = export.get("int8_gate") or {}
    if not isinstance(gates, dict) or not all(isinstance(r, dict) for r in gates.values()):
        raise ModelFileError(f"{path}: export.int8_gate is not an object of gate records; "
                             f"rebuild the INT8 engines")
    for target, rec in gates.items():
        fake = {"calibration": {"gate": {"max_drop_points": rec.get("max_drop_points"),
                                         "holdout": rec.get("holdout"),
                                         "artifacts": {target: rec}}}}
        check_int8(model_dir, fake, target, allow_refused_int8, action="running engines from",
                   export=export.get("path"))


def limit_blas_threads(n: int = 1) -> bool:
    """Run NumPy's BLAS on ``n`` threads, process-wide.

    The crops and pastes are small matrix products done on the branch workers, which
    already occupy the cores; multi-threaded OpenBLAS would add workers that busy-wait
    after each call and take the cores from ONNX Runtime (the detector ran 86 instead of
    53 ms at 640x640 on 2 cores). Returns False when threadpoolctl is not installed.
    """
    if not available("threadpoolctl"):
        log.warning("threadpoolctl not installed: NumPy's BLAS keeps its own threads, which "
                    "take the cores from ONNX Runtime (detector 86 instead of 53 ms at 640x640 "
                    "on 2 cores); pip install threadpoolctl")
        return False
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")
    return True


def thread_plan(cores: int, branches: int) -> tuple[int, int, int]:
    """(detector threads, branch workers, threads per branch session) for ``cores``.

    The detector runs alone and gets every core; branches run side by side, so each
    worker's session gets an equal share and the total never exceeds the cores.
    """
    cores = max(1, cores)
    workers = max(1, min(branches, cores))
    return cores, workers, max(1, cores // workers)


@dataclass
class FrameResult:
    """One frame's output, in the source frame's pixels.

    Instance models fill ``boxes`` (N, 4) x1y1x2y2, ``scores``, ``classes`` (indices into
    ``class_names``) and ``instance_map`` ((H, W) int32, ``i + 1`` where instance ``i`` is
    drawn, 0 elsewhere); ``mask(i)`` is instance ``i``'s own full mask (overlaps kept).
    Semantic models fill ``labels`` (H, W) uint8. ``stages_ms`` times every stage.

    ``instance_map`` is one buffer the pipeline reuses for every frame of a size (no
    per-frame allocation of a frame-sized map): the next call overwrites it, so copy it
    (``result.instance_map.copy()``) to keep it past the next frame. Every other array
    (``boxes``, ``scores``, ``classes``, ``labels``, what ``mask(i)`` returns) is new each
    frame and the caller's to keep.
    """

    task: str
    class_names: tuple[str, ...]
    frame_hw: tuple[int, int]
    stages_ms: dict[str, float] = field(default_factory=dict)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    instance_map: np.ndarray | None = None
    labels: np.ndarray | None = None
    instances: InstanceResult | None = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def mask(self, i: int) -> np.ndarray | None:
        """(H, W) bool mask of instance ``i``; None when no branch segmented it."""
        return None if self.instances is None else self.instances.mask(i)


def check_frame(frame: object) -> None:
    """Refuse anything but a non-empty (H, W, 3) uint8 BGR array, naming what came instead
    (OpenCV's own error for an empty array is an assertion from inside ``resize``)."""
    ok = (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3
          and frame.shape[2] == 3 and frame.shape[0] > 0 and frame.shape[1] > 0)
    if not ok:
        what = (f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray)
                else type(frame).__name__)
        raise ConfigError(f"frame: expected a uint8 BGR image of shape (H, W, 3) with H, W > 0, "
                          f"got {what}; convert with cv2.cvtColor / astype(np.uint8)")


class Pipeline:
    """A loaded model ready for frames; use as a context manager (or call :meth:`close`).

    ``workers`` threads run the ISB branches side by side (default: one per core, at most
    one per branch); the buffers of preprocessing and the instance map are reused.
    """

    def __init__(self, desc: ModelDescription, backend: Any, workers: int = 1,
                 backend_name: str = "custom", precision: str = "fp32",
                 model_dir: Path | None = None) -> None:
        self.desc = desc
        self.backend = backend
        self.backend_name = backend_name
        self.precision = precision
        self.model_dir = model_dir
        self.workers = workers
        self._executor = (ThreadPoolExecutor(workers, thread_name_prefix="isb")
                          if workers > 1 and desc.task == "instance" else None)
        self.core: InstancePipeline | SemanticPipeline
        own_core = getattr(backend, "instance_pipeline", None)  # a backend's device path
        if desc.task == "instance" and own_core is not None:
            try:
                self.core = own_core(desc)
            except BaseException:  # the backend holds a device context and its buffers
                self.close()
                raise
        elif desc.task == "instance":
            self.core = InstancePipeline(desc, backend, self._executor)
        else:
            self.core = SemanticPipeline(desc, backend)
        self._map: np.ndarray | None = None  # reused: see FrameResult

    @classmethod
    def from_dir(cls, ref: str | Path | None = DEMO_NAME, backend: str = "auto",
                 precision: str = "fp32", threads: int | None = None,
                 workers: int | None = None, score_threshold: float | None = None,
                 blas_threads: int | None = 1, allow_refused_int8: bool = False
                 ) -> Pipeline:
        """Load an export or engine folder (``demo`` = the shipped model).

        Every file's hash is checked against the folder's manifest before anything runs.
        ``threads`` is the number of cores to use (default: all); ``score_threshold``
        overrides the model's detection threshold; ``blas_threads`` limits NumPy's BLAS
        threads process-wide (see :func:`limit_blas_threads`; None leaves them alone).
        INT8 graphs the accuracy gate refused are not loaded (one-line error naming the
        drop) unless ``allow_refused_int8`` (then a WARNING with the drop); see
        :mod:`edge.calibrate.gate`.
        """
        if threads is not None and threads < 1:
            raise ConfigError(f"threads={threads}: give at least 1 core (None = all)")
        if score_threshold is not None and not 0.0 <= score_threshold <= 1.0:
            raise ConfigError(f"score threshold {score_threshold:g}: scores are between 0 and 1")
        model_dir = resolve_model_dir(ref)
        name = choose_backend(model_dir, backend)
        if blas_threads is not None:
            limit_blas_threads(blas_threads)
        cores = threads if threads is not None else os.cpu_count() or 1
        if name == "tensorrt":
            from edge.backends.tensorrt_backend import TensorRTBackend

            if precision == "int8":
                _check_engine_gate(model_dir, allow_refused_int8)
            be = TensorRTBackend(model_dir, precision)
            n_workers = 1  # branches overlap on CUDA streams, not threads
        else:
            from edge.backends.onnxruntime_backend import OnnxRuntimeBackend
            from edge.export.onnx_export import read_manifest

            desc = ModelDescription.from_dict(read_manifest(model_dir, verify=False)
                                              ["description"])
            det_threads, n_workers, per_branch = thread_plan(cores, len(desc.branches) or 1)
            if workers is not None:
                n_workers = max(1, workers)
                per_branch = max(1, cores // n_workers)
            be = OnnxRuntimeBackend(model_dir, precision, threads=det_threads,
                                    branch_threads=per_branch,
                                    allow_refused_int8=allow_refused_int8)
        desc = be.desc
        if score_threshold is not None and desc.task != "instance":
            close = getattr(be, "close", None)
            if close is not None:
                close()
            raise ConfigError(f"{model_dir}: {desc.name} is a semantic model: every pixel gets "
                              f"its most likely class, there is no detection score to "
                              f"threshold; drop --score-threshold")
        if score_threshold is not None:
            desc = desc.replace(score_threshold=score_threshold)
        log.info("model %s (%s) from %s on %s %s, %d branch worker(s)", desc.name, desc.task,
                 model_dir, name, precision, n_workers)
        return cls(desc, be, n_workers, name, precision, model_dir)

    def __call__(self, frame: np.ndarray, sw: Stopwatch | None = None) -> FrameResult:
        """Run every stage on one BGR uint8 frame (any size)."""
        check_frame(frame)
        sw = sw or Stopwatch()
        hw = (int(frame.shape[0]), int(frame.shape[1]))
        if self.desc.task == "semantic":
            labels = self.core(frame, sw)
            return FrameResult("semantic", self.desc.class_names, hw, sw.ms, labels=labels)
        res = self.core(frame, sw)
        with sw("paste"):
            if self._map is None or self._map.shape != hw:
                self._map = np.zeros(hw, np.int32)
            gpu_paste = getattr(self.core, "paste", None)
            if gpu_paste is not None:
                gpu_paste(res, self._map)
            else:
                res.instance_map(out=self._map)
        return FrameResult("instance", self.desc.class_names, hw, sw.ms, boxes=res.boxes,
                           scores=res.scores, classes=res.classes, instance_map=self._map,
                           instances=res)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
