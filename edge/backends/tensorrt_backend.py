"""TensorRT + pycuda backend for Jetson (and desktop) GPUs.

Written against TensorRT's named-tensor API (8.6, 10.x, 11.x: ``num_io_tensors``,
``get_tensor_name/mode/dtype``, ``get_tensor_profile_shape``, ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``) and pycuda's driver API. Engines are
deserialised once; device buffers are allocated once at each profile's maximum shape and
reused; host buffers are page-locked, and on integrated GPUs (Jetson: ``INTEGRATED`` and
``CAN_MAP_HOST_MEMORY``) the camera frame is mapped, so the pre-processing kernel reads it
without a copy.

Two ways in:
- :class:`TensorRTBackend` implements the host-array backend protocol of
  :mod:`edge.pipeline` (``detect``, ``segment``), used by evaluation and the self-test to
  compare against ONNX Runtime on identical inputs;
- :class:`GpuInstancePipeline` is the device path of ``edge-run``: pre-processing, crops and
  mask paste as CUDA kernels (``edge/cuda/kernels.cu``), the detector on one stream, each
  branch on its own stream after an event from the detector. The host takes the detector's
  small outputs once (decode, NMS and branch assignment are the shared NumPy geometry) and
  the branches' mask logits once: two synchronisations per frame.

CUDA context: the device's primary context is pushed for the duration of each call and
popped before it returns (:meth:`TensorRTBackend.bound`), on every path. pycuda contexts are
per thread and pycuda aborts the process at exit when one is left pushed; this way any
thread may call, and nothing is ever left on a thread's stack. ``close`` frees every device
and pinned buffer while the context is current, then releases it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from edge.description import ModelDescription
from edge.errors import EngineError
from edge.geometry import crop_windows
from edge.optional import require
from edge.pipeline import BranchPlan, InstancePipeline

log = logging.getLogger(__name__)

NON_BLOCKING = 1  # CU_STREAM_NON_BLOCKING (pycuda's Stream takes the flags as an int)
KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))


def _free_host(arr: np.ndarray | None) -> None:
    """Free a page-locked array now (while the context is current), not at garbage
    collection on whichever thread drops it last."""
    free = getattr(getattr(arr, "base", None), "free", None)
    if free is not None:
        free()


class _Engine:
    """One deserialised engine, its execution context and its I/O buffers (allocated once,
    at the profile's maximum shapes). Tensors are addressed by name, never by position."""

    def __init__(self, trt: Any, cuda: Any, runtime: Any, path: Path,
                 static_batch: int | None = None) -> None:
        self.path = path
        # DLA engines take one batch (profile min = opt = max): fewer crops run padded
        self.static_batch = static_batch
        self.device: dict[str, Any] = {}
        self.host: dict[str, np.ndarray] = {}
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise EngineError(f"{path}: TensorRT could not deserialise it (built by another "
                              f"TensorRT version or for another GPU?); rebuild with edge-build "
                              f"engine")
        self.context = None
        try:
            self.context = self.engine.create_execution_context()
            self.inputs: list[str] = []
            self.outputs: list[str] = []
            self.dtype: dict[str, np.dtype] = {}
            for i in range(self.engine.num_io_tensors):
                name = self.engine.get_tensor_name(i)
                self.dtype[name] = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
                if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                    self.inputs.append(name)
                else:
                    self.outputs.append(name)
            self.max_shape: dict[str, tuple[int, ...]] = {}
            for name in self.inputs:
                shape = tuple(int(v) for v in self.engine.get_tensor_profile_shape(name, 0)[2])
                self.max_shape[name] = shape
                self._set_shape(name, shape)
            for name in self.outputs:
                self.max_shape[name] = tuple(int(v) for v in self.context.get_tensor_shape(name))
            for name, shape in self.max_shape.items():
                nbytes = int(np.prod(shape)) * self.dtype[name].itemsize
                self.device[name] = cuda.mem_alloc(max(nbytes, 1))
                self.context.set_tensor_address(name, int(self.device[name]))
                if name in self.outputs:
                    self.host[name] = cuda.pagelocked_empty(shape, self.dtype[name])
        except BaseException:  # free what this engine already holds
            self.free()
            raise

    @property
    def cap(self) -> int:
        """The largest batch the engine's profile takes (its built --max-boxes)."""
        return self.max_shape[self.inputs[0]][0]

    def require(self, names: list[str], dtypes: tuple[np.dtype, ...] | None = None) -> None:
        """Refuse an engine without the named tensors (or in a dtype the kernels lack)."""
        missing = [n for n in names if n not in self.dtype]
        if missing:
            raise EngineError(f"{self.path}: no tensor(s) {missing} (it has "
                              f"{self.inputs + self.outputs}); rebuild it from this export "
                              f"with edge-build engine")
        bad = [f"{n}: {self.dtype[n]}" for n in names if dtypes and self.dtype[n] not in dtypes]
        if bad:
            raise EngineError(f"{self.path}: {', '.join(bad)}; the CUDA kernels read and "
                              f"write float32 or float16, rebuild with FP32 or FP16 I/O")

    def _set_shape(self, name: str, shape: tuple[int, ...]) -> None:
        if not self.context.set_input_shape(name, shape):  # False, not an exception
            raise EngineError(f"{self.path}: TensorRT refused input {name} of shape {shape} "
                              f"(outside the engine's profile, see its log with -v); rebuild "
                              f"with edge-build engine")

    def set_batch(self, batch: int) -> None:
        if not 1 <= batch <= self.cap:
            raise EngineError(f"{self.path}: {batch} crops for an engine built for 1..{self.cap}"
                              f"; rebuild with a larger --max-boxes")
        if self.static_batch is not None:
            # the shape stays the built one (set once at load); rows past ``batch`` hold
            # stale crops whose outputs are never read (a batch's rows are independent)
            return
        for name in self.inputs:
            self._set_shape(name, (batch, *self.max_shape[name][1:]))

    def execute(self, stream: Any) -> None:
        if not self.context.execute_async_v3(stream.handle):
            raise EngineError(f"{self.path}: execute_async_v3 failed; rerun with -v for "
                              f"TensorRT's log")

    def fetch(self, name: str, batch: int, stream: Any, cuda: Any) -> np.ndarray:
        """Queue the first ``batch`` items of output ``name`` into its pinned host buffer."""
        host = self.host[name]
        n = int(np.prod(host.shape[1:])) * batch * host.itemsize
        # a prefix view of the pinned buffer is pinned memory too: the copy stays async
        cuda.memcpy_dtoh_async(host.reshape(-1).view(np.uint8)[:n], self.device[name], stream)
        return host[:batch]

    def free(self) -> None:
        """Free the buffers and TensorRT objects (call with the context current)."""
        for d in self.device.values():
            d.free()
        for h in self.host.values():
            _free_host(h)
        self.device.clear()
        self.host.clear()
        self.context = None  # the execution context goes before its engine
        self.engine = None


class TensorRTBackend:
    """Engines of one precision from an engine folder, verified for this device."""

    def __init__(self, model_dir: str | Path, precision: str = "fp16") -> None:
        from edge.engines.folder import read_engine_folder
        from edge.engines.identity import device_info
        from edge.engines.logger import trt_logger

        trt = require("tensorrt", "the TensorRT backend")
        cuda = require("pycuda.driver", "the TensorRT backend")
        self.trt, self.cuda = trt, cuda
        self.engines: dict[str, _Engine] = {}
        self.branch_engines: dict[int, _Engine] = {}
        self._pipelines: list[GpuInstancePipeline] = []
        self._lock = threading.RLock()  # one caller at a time: streams and buffers are shared
        self.ctx = None
        cuda.init()
        self.gpu = cuda.Device(0)
        self.ctx = self.gpu.retain_primary_context()  # the context TensorRT also uses
        try:
            with self.bound():
                # the builder's own reading of the device (board, SMs): equal facts or refusal
                info = device_info(trt, cuda, self.gpu)
                self.root = Path(model_dir)
                self.desc, entries = read_engine_folder(self.root, precision, info)
                self.precision = precision
                attr = cuda.device_attribute
                self.integrated = bool(self.gpu.get_attribute(attr.INTEGRATED)) and bool(
                    self.gpu.get_attribute(attr.CAN_MAP_HOST_MEMORY))
                self.runtime = trt.Runtime(trt_logger(trt))
                for e in entries:
                    if e.get("dla_core") is not None:  # before deserialising, as TensorRT asks
                        self.runtime.DLA_core = int(e["dla_core"])
                    eng = _Engine(trt, cuda, self.runtime, self.root / e["file"],
                                  e.get("static_batch"))
                    if e["role"] == "branch":
                        self.branch_engines[int(e["branch"])] = eng
                    else:
                        self.engines[e["role"]] = eng
                # non-blocking: no implicit sync with the legacy default stream
                self.stream = cuda.Stream(flags=NON_BLOCKING)
                self.branch_streams = {b: cuda.Stream(flags=NON_BLOCKING)
                                       for b in self.branch_engines}
                # ordering only (no timestamps): cheaper to record and to wait on
                self.detector_done = cuda.Event(cuda.event_flags.DISABLE_TIMING)
        except BaseException:
            self.close()
            raise
        log.info("TensorRT %s on %s (%s): %d engines, %s memory", trt.__version__,
                 self.gpu.name(), info.compute_capability, len(entries),
                 "mapped (integrated GPU)" if self.integrated else "discrete")

    @contextmanager
    def bound(self) -> Iterator[None]:
        """The backend's CUDA context current on the calling thread for the block, popped
        on every path (pycuda contexts are per thread; one left pushed aborts at exit).
        Calls from several threads take turns: they share streams and pinned buffers."""
        with self._lock:
            if self.ctx is None:
                raise EngineError("the TensorRT backend is closed; open a new Pipeline")
            self.ctx.push()
            try:
                yield
            finally:
                self.cuda.Context.pop()

    # host-array protocol (evaluation, self-test) -------------------------------------
    def _run_host(self, eng: _Engine, feeds: dict[str, np.ndarray], batch: int,
                  stream: Any) -> dict[str, np.ndarray]:
        if set(feeds) != set(eng.inputs):
            raise EngineError(f"{eng.path}: inputs {sorted(eng.inputs)}, given "
                              f"{sorted(feeds)}; rebuild it from this export with edge-build "
                              f"engine")
        with self.bound():
            if batch:
                eng.set_batch(batch)
            for name, value in feeds.items():
                # pageable source: CUDA stages it before returning, so arr may go away
                arr = np.ascontiguousarray(value, dtype=eng.dtype[name])
                self.cuda.memcpy_htod_async(eng.device[name], arr, stream)
            eng.execute(stream)
            outs = {n: eng.fetch(n, batch or eng.max_shape[n][0], stream, self.cuda)
                    for n in eng.outputs}
            stream.synchronize()
            return {n: np.array(v, dtype=np.float32) for n, v in outs.items()}

    def detect(self, image: np.ndarray):
        out = self._run_host(self.engines["detector"], {"image": image}, 0, self.stream)
        return (out["box_codes"][0], out["class_logits"][0],
                {32: out["feat32"][0], 16: out["feat16"][0], 8: out["feat8"][0]})

    def segment(self, branch: int, crops: list[np.ndarray]) -> np.ndarray:
        """Crops of one branch (stride order of ``desc.mask_strides``) -> mask logits; more
        crops than the engine's cap run in several batches."""
        eng = self.branch_engines[branch]
        names = [f"crop{s}" for s in self.desc.mask_strides]
        n = crops[0].shape[0]
        parts = [self._run_host(eng, {k: c[i:i + eng.cap] for k, c in zip(names, crops)},
                                min(eng.cap, n - i), self.branch_streams[branch])
                 ["mask_logits"] for i in range(0, n, eng.cap)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def segment_image(self, image: np.ndarray) -> np.ndarray:
        return self._run_host(self.engines["model"], {"image": image}, 0, self.stream)["logits"][0]

    def instance_pipeline(self, desc: ModelDescription) -> GpuInstancePipeline:
        """The device path for SSD-ISB: kernels for pre-processing, crops and paste."""
        pipe = GpuInstancePipeline(desc, self)
        self._pipelines.append(pipe)
        return pipe

    def close(self) -> None:
        """Free every buffer with the context current, then release it; idempotent."""
        with self._lock:
            ctx, self.ctx = self.ctx, None
        if ctx is None:
            return
        try:
            ctx.push()
        except Exception as exc:  # a dead context: its memory went with it
            log.warning("TensorRT backend: could not make the CUDA context current to free "
                        "its buffers (%s)", exc)
        else:
            try:
                self.cuda.Context.synchronize()  # nothing may still use the buffers
                for pipe in self._pipelines:
                    pipe.free()
                for eng in [*self.engines.values(), *self.branch_engines.values()]:
                    eng.free()
            finally:
                self.engines.clear()
                self.branch_engines.clear()
                self._pipelines.clear()
                self.runtime = None
                self.cuda.Context.pop()
        ctx.detach()


class GpuInstancePipeline(InstancePipeline):
    """SSD-ISB on the GPU: the stages of :class:`edge.pipeline.InstancePipeline` with
    pre-processing, crops and paste as CUDA kernels; its post-processing (``plan``) and
    result assembly (``result``) are the CPU pipeline's own."""

    def __init__(self, desc: ModelDescription, backend: TensorRTBackend) -> None:
        from edge.cuda.kernels import CudaKernels

        super().__init__(desc, backend)
        self.be = backend
        self.cuda = backend.cuda
        self._frame_hw: tuple[int, int] | None = None
        self._dropped_warned: set[int] = set()
        self.host_frame: np.ndarray | None = None
        self.dev_frame: Any = None
        self.id_map: Any = None
        self.host_map: np.ndarray | None = None
        self._windows: dict[int, dict[int, np.ndarray]] = {}
        self._windows_dev: dict[int, dict[int, Any]] = {}
        self._paste_host: dict[str, np.ndarray] = {}
        self._paste_dev: dict[str, Any] = {}
        self.det = backend.engines["detector"]
        strides = list(desc.mask_strides)
        self.det.require(["image"], KERNEL_DTYPES)
        self.det.require(["box_codes", "class_logits"])
        self.det.require([f"feat{s}" for s in strides], KERNEL_DTYPES)
        for b, eng in backend.branch_engines.items():
            eng.require([f"crop{s}" for s in strides], KERNEL_DTYPES)
            eng.require(["mask_logits"])
            for s in strides:
                if eng.dtype[f"crop{s}"] != self.det.dtype[f"feat{s}"]:
                    raise EngineError(
                        f"{eng.path}: crop{s} is {eng.dtype[f'crop{s}']} but the detector's "
                        f"feat{s} is {self.det.dtype[f'feat{s}']}; the crop kernel copies one "
                        f"dtype, build both engines with the same I/O precision")
        cuda = self.cuda
        with backend.bound():
            try:
                self.kernels = CudaKernels("pycuda")
                # one pinned + device window buffer per branch AND stride: a pinned buffer
                # may be rewritten only after the copy reading it has run
                for b, eng in backend.branch_engines.items():
                    self._windows[b] = {s: cuda.pagelocked_empty((eng.cap, 4), np.int32)
                                        for s in strides}
                    self._windows_dev[b] = {s: cuda.mem_alloc(w.nbytes)
                                            for s, w in self._windows[b].items()}
                # paste inputs at their largest: every detection with the largest branch mask
                n = desc.max_detections
                largest = max(int(np.prod(desc.mask_shape(b))) for b in desc.branches)
                self._paste_host = {"flat": cuda.pagelocked_empty(n * largest, np.float32),
                                    "offsets": cuda.pagelocked_empty(n, np.int32),
                                    "mh": cuda.pagelocked_empty(n, np.int32),
                                    "mw": cuda.pagelocked_empty(n, np.int32),
                                    "boxes": cuda.pagelocked_empty(n * 4, np.float32)}
                self._paste_dev = {k: cuda.mem_alloc(v.nbytes)
                                   for k, v in self._paste_host.items()}
            except BaseException:
                self.free()
                raise

    def free(self) -> None:
        """Free the device and pinned buffers (call with the context current)."""
        self._free_frame()
        for d in [*self._paste_dev.values(),
                  *(a for w in self._windows_dev.values() for a in w.values())]:
            d.free()
        for h in [*self._paste_host.values(),
                  *(a for w in self._windows.values() for a in w.values())]:
            _free_host(h)
        self._paste_dev, self._paste_host, self._windows, self._windows_dev = {}, {}, {}, {}

    def _free_frame(self) -> None:
        for d in (self.dev_frame, self.id_map):
            if d is not None:
                d.free()
        _free_host(self.host_frame)
        _free_host(self.host_map)
        self.host_frame = self.dev_frame = self.id_map = self.host_map = None
        self._frame_hw = None

    def _frame_buffers(self, h: int, w: int) -> None:
        """Page-locked (mapped on integrated GPUs) frame buffer, allocated per frame size."""
        cuda = self.cuda
        self.be.stream.synchronize()  # the old buffers may still be in use
        self._free_frame()
        if self.be.integrated:
            self.host_frame = cuda.pagelocked_empty((h, w, 3), np.uint8,
                                                    mem_flags=cuda.host_alloc_flags.DEVICEMAP)
            self.frame_ptr = int(self.host_frame.base.get_device_pointer())
        else:
            self.host_frame = cuda.pagelocked_empty((h, w, 3), np.uint8)
            self.dev_frame = cuda.mem_alloc(self.host_frame.nbytes)
            self.frame_ptr = int(self.dev_frame)
        self.id_map = cuda.mem_alloc(h * w * 4)
        self.host_map = cuda.pagelocked_empty((h, w), np.int32)
        self._frame_hw = (h, w)

    def clamp_jobs(self, plan: BranchPlan) -> BranchPlan:
        """Each branch's boxes cut to its engine's built cap (``--max-boxes``), highest
        score first (``plan.jobs`` are ordered so); the dropped get no mask, said once per
        branch at WARNING."""
        jobs = []
        for b, idx in plan.jobs:
            cap = self.be.branch_engines[b].cap
            if len(idx) > cap:
                if b not in self._dropped_warned:
                    self._dropped_warned.add(b)
                    log.warning("branch %s: %d boxes but its engine was built for at most %d; "
                                "the lowest-scoring get no mask (rebuild with a larger "
                                "--max-boxes; said once)", self.desc.branches[b].name,
                                len(idx), cap)
                idx = idx[:cap]
            jobs.append((b, idx))
        return BranchPlan(plan.det, plan.cells, jobs)

    def __call__(self, frame: np.ndarray, sw):
        with self.be.bound():
            return self._run(frame, sw)

    def _run(self, frame: np.ndarray, sw):
        from edge.cuda.kernels import check_windows
        from edge.preprocess import check_frame

        d, be, cuda, k = self.desc, self.be, self.cuda, self.kernels
        check_frame(frame)
        h, w = frame.shape[:2]
        if self._frame_hw != (h, w):
            self._frame_buffers(h, w)
        stream = be.stream
        with sw("preprocess"):
            np.copyto(self.host_frame, frame)
            if not be.integrated:
                cuda.memcpy_htod_async(self.dev_frame, self.host_frame, stream)
            ih, iw = d.input_size
            k.preprocess(self.frame_ptr, h, w, w * 3, int(self.det.device["image"]), ih, iw, d,
                         half=self.det.dtype["image"] == np.float16, stream=stream)
        with sw("detector"):
            self.det.execute(stream)
            be.detector_done.record(stream)
            codes = self.det.fetch("box_codes", 1, stream, cuda)
            logits = self.det.fetch("class_logits", 1, stream, cuda)
            stream.synchronize()  # sync 1: the host needs the detections
        with sw("postprocess"):
            plan = self.clamp_jobs(self.plan(codes[0].astype(np.float32),
                                             logits[0].astype(np.float32)))
        with sw("branches"):  # crops + branch engines, each branch on its own stream
            pending = []
            for b, idx in plan.jobs:
                eng, bs = be.branch_engines[b], be.branch_streams[b]
                bs.wait_for_event(be.detector_done)
                spec = d.branches[b]
                eng.set_batch(len(idx))
                for s in d.mask_strides:
                    name, kf = f"crop{s}", d.crop_stride // s
                    c, fh, fw = self.det.max_shape[f"feat{s}"][1:]
                    oh, ow = spec.shape[0] * kf, spec.shape[1] * kf
                    host = self._windows[b][s]
                    host[:len(idx)] = crop_windows(plan.cells[idx], d.crop_stride, s)
                    check_windows(host, len(idx), (fh, fw), (oh, ow), spec.mode)
                    cuda.memcpy_htod_async(self._windows_dev[b][s], host, bs)
                    k.crop_gather(int(self.det.device[f"feat{s}"]), c, fh, fw,
                                  int(self._windows_dev[b][s]), len(idx), int(eng.device[name]),
                                  oh, ow, spec.mode, half=eng.dtype[name] == np.float16,
                                  stream=bs)
                eng.execute(bs)
                pending.append(eng.fetch("mask_logits", len(idx), bs, cuda))
            for b, _ in plan.jobs:
                be.branch_streams[b].synchronize()  # sync 2: mask logits on the host
        # copies: the pinned output buffers are overwritten by the next frame
        return self.result(plan, [np.array(o, np.float32) for o in pending], (h, w))

    def paste(self, result, out: np.ndarray) -> np.ndarray:
        """The instance map on the GPU (``paste_masks`` kernel), copied into ``out``."""
        with self.be.bound():
            return self._paste(result, out)

    def _paste(self, result, out: np.ndarray) -> np.ndarray:
        from edge.cuda.kernels import pack_masks

        cuda, stream = self.cuda, self.be.stream
        have = [i for i, m in enumerate(result.mask_logits) if m is not None]
        h, w = result.frame_hw
        if not have:
            out[...] = 0
            return out
        if self._frame_hw != (h, w):
            self._frame_buffers(h, w)
        flat, offsets, mh, mw = pack_masks([result.mask_logits[i] for i in have])
        boxes = np.ascontiguousarray(result.mask_boxes[have], np.float32)
        for key, arr in (("flat", flat), ("offsets", offsets), ("mh", mh), ("mw", mw),
                         ("boxes", boxes.ravel())):
            host = self._paste_host[key][:arr.size]
            host[...] = arr
            cuda.memcpy_htod_async(self._paste_dev[key], host, stream)
        dev = self._paste_dev
        self.kernels.paste(int(dev["flat"]), int(dev["offsets"]), int(dev["mh"]), int(dev["mw"]),
                           int(dev["boxes"]), len(have), int(self.id_map), h, w,
                           result.threshold, stream=stream)
        cuda.memcpy_dtoh_async(self.host_map, self.id_map, stream)
        stream.synchronize()
        lut = np.zeros(len(have) + 1, np.int32)
        lut[1:] = np.asarray(have) + 1
        out[...] = lut[self.host_map]
        return out
