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
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge.description import ModelDescription
from edge.errors import EngineError
from edge.geometry import crop_windows
from edge.optional import require
from edge.pipeline import InstancePipeline

log = logging.getLogger(__name__)


class _Engine:
    """One deserialised engine, its execution context and its I/O buffers (allocated once,
    at the profile's maximum shapes)."""

    def __init__(self, trt, cuda, runtime, path: Path) -> None:
        self.path = path
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise EngineError(f"{path}: TensorRT could not deserialise it (built by another "
                              f"TensorRT version or for another GPU?); rebuild with edge-build "
                              f"engine")
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
            shape = tuple(self.engine.get_tensor_profile_shape(name, 0)[2])
            self.max_shape[name] = shape
            self.context.set_input_shape(name, shape)
        for name in self.outputs:
            self.max_shape[name] = tuple(self.context.get_tensor_shape(name))
        self.device: dict[str, Any] = {}
        self.host: dict[str, np.ndarray] = {}
        for name, shape in self.max_shape.items():
            nbytes = int(np.prod(shape)) * self.dtype[name].itemsize
            self.device[name] = cuda.mem_alloc(max(nbytes, 1))
            self.context.set_tensor_address(name, int(self.device[name]))
            if name in self.outputs:
                self.host[name] = cuda.pagelocked_empty(shape, self.dtype[name])

    def set_batch(self, batch: int) -> None:
        for name in self.inputs:
            shape = self.max_shape[name]
            if batch > shape[0]:
                raise EngineError(f"{self.path}: {batch} crops exceed the engine's profile "
                                  f"maximum {shape[0]}; rebuild with a larger --max-boxes")
            self.context.set_input_shape(name, (batch, *shape[1:]))

    def execute(self, stream) -> None:
        if not self.context.execute_async_v3(stream.handle):
            raise EngineError(f"{self.path}: execute_async_v3 failed; rerun with -v for "
                              f"TensorRT's log")

    def fetch(self, name: str, batch: int, stream, cuda) -> np.ndarray:
        """Queue the first ``batch`` items of output ``name`` into its pinned host buffer."""
        host = self.host[name]
        n = int(np.prod(host.shape[1:])) * batch * host.itemsize
        # a prefix view of the pinned buffer is pinned memory too: the copy stays async
        cuda.memcpy_dtoh_async(host.reshape(-1).view(np.uint8)[:n], self.device[name], stream)
        return host[:batch]


class TensorRTBackend:
    """Engines of one precision from an engine folder, verified for this device."""

    def __init__(self, model_dir: str | Path, precision: str = "fp16") -> None:
        from edge.engines.builder import trt_logger
        from edge.engines.folder import read_engine_folder
        from edge.engines.identity import DeviceInfo, read_l4t

        trt = require("tensorrt", "the TensorRT backend")
        cuda = require("pycuda.driver", "the TensorRT backend")
        self.trt, self.cuda = trt, cuda
        cuda.init()
        self.gpu = cuda.Device(0)
        self.ctx = self.gpu.retain_primary_context()  # the context TensorRT also uses
        self.ctx.push()
        major, minor = self.gpu.compute_capability()
        info = DeviceInfo(trt.__version__, self.gpu.name(), f"{major}.{minor}", read_l4t())
        self.root = Path(model_dir)
        self.desc, entries = read_engine_folder(self.root, precision, info)
        self.precision = precision
        attr = cuda.device_attribute
        self.integrated = bool(self.gpu.get_attribute(attr.INTEGRATED)) and bool(
            self.gpu.get_attribute(attr.CAN_MAP_HOST_MEMORY))
        self.runtime = trt.Runtime(trt_logger(trt))
        self.engines: dict[str, _Engine] = {}
        self.branch_engines: dict[int, _Engine] = {}
        for e in entries:
            eng = _Engine(trt, cuda, self.runtime, self.root / e["file"])
            if e["role"] == "branch":
                self.branch_engines[int(e["branch"])] = eng
            else:
                self.engines[e["role"]] = eng
        self.stream = cuda.Stream()
        self.branch_streams = {b: cuda.Stream() for b in self.branch_engines}
        self.detector_done = cuda.Event()
        log.info("TensorRT %s on %s (%s): %d engines, %s memory", trt.__version__,
                 self.gpu.name(), info.compute_capability, len(entries),
                 "mapped (integrated GPU)" if self.integrated else "discrete")

    # host-array protocol (evaluation, self-test) -------------------------------------
    def _run_host(self, eng: _Engine, feeds: dict[str, np.ndarray], batch: int, stream):
        for name, value in feeds.items():
            arr = np.ascontiguousarray(value, dtype=eng.dtype[name])
            self.cuda.memcpy_htod_async(eng.device[name], arr, stream)
        if batch:
            eng.set_batch(batch)
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
        eng = self.branch_engines[branch]
        names = [f"crop{s}" for s in self.desc.mask_strides]
        out = self._run_host(eng, dict(zip(names, crops)), crops[0].shape[0],
                             self.branch_streams[branch])
        return out["mask_logits"]

    def segment_image(self, image: np.ndarray) -> np.ndarray:
        return self._run_host(self.engines["model"], {"image": image}, 0, self.stream)["logits"][0]

    def instance_pipeline(self, desc: ModelDescription) -> GpuInstancePipeline:
        """The device path for SSD-ISB: kernels for pre-processing, crops and paste."""
        return GpuInstancePipeline(desc, self)

    def close(self) -> None:
        if getattr(self, "ctx", None) is not None:
            self.engines.clear()
            self.branch_engines.clear()
            self.ctx.pop()
            self.ctx.detach()
            self.ctx = None


class GpuInstancePipeline(InstancePipeline):
    """SSD-ISB on the GPU: the stages of :class:`edge.pipeline.InstancePipeline` with
    pre-processing, crops and paste as CUDA kernels; its post-processing (``plan``) and
    result assembly (``result``) are the CPU pipeline's own."""

    def __init__(self, desc: ModelDescription, backend: TensorRTBackend) -> None:
        from edge.cuda.kernels import CudaKernels

        super().__init__(desc, backend)
        self.be = backend
        self.cuda = backend.cuda
        self.kernels = CudaKernels("pycuda")
        self._frame_hw: tuple[int, int] | None = None
        self.det = backend.engines["detector"]
        self._windows = {b: self.cuda.pagelocked_empty((eng.max_shape[eng.inputs[0]][0], 4),
                                                       np.int32)
                         for b, eng in backend.branch_engines.items()}
        self._windows_dev = {b: self.cuda.mem_alloc(w.nbytes) for b, w in self._windows.items()}
        # paste inputs at their largest: every detection with the largest branch mask
        n = desc.max_detections
        largest = max(int(np.prod(desc.mask_shape(b))) for b in desc.branches)
        self._paste_host = {"flat": self.cuda.pagelocked_empty(n * largest, np.float32),
                            "offsets": self.cuda.pagelocked_empty(n, np.int32),
                            "mh": self.cuda.pagelocked_empty(n, np.int32),
                            "mw": self.cuda.pagelocked_empty(n, np.int32),
                            "boxes": self.cuda.pagelocked_empty(n * 4, np.float32)}
        self._paste_dev = {k: self.cuda.mem_alloc(v.nbytes) for k, v in self._paste_host.items()}

    def _frame_buffers(self, h: int, w: int) -> None:
        """Page-locked (mapped on integrated GPUs) frame buffer, allocated per frame size."""
        cuda = self.cuda
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

    def __call__(self, frame: np.ndarray, sw):
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
            plan = self.plan(codes[0].astype(np.float32), logits[0].astype(np.float32))
        with sw("branches"):  # crops + branch engines, each branch on its own stream
            pending = []
            for b, idx in plan.jobs:
                eng, bs = be.branch_engines[b], be.branch_streams[b]
                bs.wait_for_event(be.detector_done)
                spec = d.branches[b]
                for name, s in zip(eng.inputs, d.mask_strides):
                    kf = d.crop_stride // s
                    host = self._windows[b]
                    host[:len(idx)] = crop_windows(plan.cells[idx], d.crop_stride, s)
                    cuda.memcpy_htod_async(self._windows_dev[b], host, bs)
                    fmap = self.det.device[f"feat{s}"]
                    c, fh, fw = self.det.max_shape[f"feat{s}"][1:]
                    k.crop_gather(int(fmap), c, fh, fw, int(self._windows_dev[b]), len(idx),
                                  int(eng.device[name]), spec.shape[0] * kf, spec.shape[1] * kf,
                                  spec.mode, half=eng.dtype[name] == np.float16, stream=bs)
                eng.set_batch(len(idx))
                eng.execute(bs)
                pending.append(eng.fetch("mask_logits", len(idx), bs, cuda))
            for b, _ in plan.jobs:
                be.branch_streams[b].synchronize()  # sync 2: mask logits on the host
        # copies: the pinned output buffers are overwritten by the next frame
        return self.result(plan, [np.array(o, np.float32) for o in pending], (h, w))

    def paste(self, result, out: np.ndarray) -> np.ndarray:
        """The instance map on the GPU (``paste_masks`` kernel), copied into ``out``."""
        from edge.cuda.kernels import pack_masks

        cuda, stream = self.cuda, self.be.stream
        have = [i for i, m in enumerate(result.mask_logits) if m is not None]
        h, w = result.frame_hw
        flat, offsets, mh, mw = pack_masks([result.mask_logits[i] for i in have])
        boxes = np.ascontiguousarray(result.mask_boxes[have], np.float32)
        if not have:
            out[...] = 0
            return out
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
