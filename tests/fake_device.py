"""A fake CUDA device for running the TensorRT backend's code on a CPU.

- ``pycuda.driver``: device memory is host memory (an address is a real pointer), copies
  are ``memmove``, streams and events are synchronous; ``integrated`` chooses the mapped or
  the copy path of the backend.
- ``pycuda.compiler``: ``SourceModule`` returns the kernels of ``edge/cuda/kernels.cu``
  compiled with g++ (``tests/cuda_emu``), launched with the grid and block they are given.
- ``tensorrt``: an engine file is JSON naming an ONNX graph; the fake engine runs it with
  ONNX Runtime, reading inputs from and writing outputs to the addresses bound with
  ``set_tensor_address``, at the shapes set with ``set_input_shape``. Only the
  named-tensor API exists, as in TensorRT 10.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRT_VERSION = "10.3.0.30"
GPU_NAME = "Fake Orin"


def build_emulator(out_dir: Path) -> ctypes.CDLL:
    lib = out_dir / "emu_device.so"
    subprocess.run(["g++", "-O1", "-std=c++17", "-shared", "-fPIC", f"-I{ROOT}",
                    str(ROOT / "tests" / "cuda_emu" / "launch.cpp"), "-o", str(lib)],
                   check=True, capture_output=True)
    return ctypes.CDLL(str(lib))


class _Pinned(bytearray):
    def get_device_pointer(self) -> int:
        return ctypes.addressof((ctypes.c_char * len(self)).from_buffer(self))


class _Alloc:
    def __init__(self, n: int) -> None:
        self.buf = np.zeros(max(n, 1), np.uint8)

    def __int__(self) -> int:
        return int(self.buf.ctypes.data)


def make_pycuda(lib: ctypes.CDLL, integrated: bool) -> dict[str, types.ModuleType]:
    drv = types.ModuleType("pycuda.driver")
    attr = types.SimpleNamespace(INTEGRATED="INTEGRATED", CAN_MAP_HOST_MEMORY="CAN_MAP",
                                 MEMORY_CLOCK_RATE="CLOCK", GLOBAL_MEMORY_BUS_WIDTH="BUS")
    drv.device_attribute = attr
    drv.host_alloc_flags = types.SimpleNamespace(DEVICEMAP=2)
    drv.copies = {"htod": [], "dtoh": []}  # bytes of every copy
    drv.allocs = []

    class Ctx:
        def push(self) -> None:
            pass

        def pop(self) -> None:
            pass

        def detach(self) -> None:
            pass

    class Device:
        def __init__(self, i: int) -> None:
            self.i = i

        def name(self) -> str:
            return GPU_NAME

        def compute_capability(self) -> tuple[int, int]:
            return (8, 7)

        def get_attribute(self, a) -> int:
            return {"INTEGRATED": int(integrated), "CAN_MAP": 1, "CLOCK": 3_200_000,
                    "BUS": 256}[a]

        def retain_primary_context(self) -> Ctx:
            return Ctx()

    class Stream:
        handle = 0

        def synchronize(self) -> None:
            pass

        def wait_for_event(self, event) -> None:
            assert event.recorded, "a branch waited on an event the detector never recorded"

    class Event:
        recorded = False

        def record(self, stream=None) -> None:
            self.recorded = True

    def mem_alloc(n: int) -> _Alloc:
        a = _Alloc(int(n))
        drv.allocs.append(a)
        return a

    def pagelocked_empty(shape, dtype, mem_flags=0) -> np.ndarray:
        dtype = np.dtype(dtype)
        n = int(np.prod(shape)) * dtype.itemsize
        # like pycuda: the array's .base is the host allocation (get_device_pointer)
        return np.ndarray(shape, dtype, buffer=_Pinned(max(n, 1)))

    def memcpy_htod_async(dst, src, stream=None) -> None:
        src = np.ascontiguousarray(src)
        ctypes.memmove(int(dst), src.ctypes.data, src.nbytes)
        drv.copies["htod"].append(src.nbytes)

    def memcpy_dtoh_async(dst, src, stream=None) -> None:
        assert dst.flags.c_contiguous
        ctypes.memmove(dst.ctypes.data, int(src), dst.nbytes)
        drv.copies["dtoh"].append(dst.nbytes)

    drv.init = lambda: None
    drv.Device = Device
    drv.Stream = Stream
    drv.Event = Event
    drv.mem_alloc = mem_alloc
    drv.pagelocked_empty = pagelocked_empty
    drv.memcpy_htod_async = memcpy_htod_async
    drv.memcpy_dtoh_async = memcpy_dtoh_async
    drv.Context = types.SimpleNamespace(synchronize=lambda: None)

    comp = types.ModuleType("pycuda.compiler")

    class Function:
        def __init__(self, name: str) -> None:
            self.fn = getattr(lib, f"emu_launch_{name}")

        def __call__(self, *args, block, grid, stream=None) -> None:
            conv = []
            for a in args:
                if isinstance(a, np.float32):
                    conv.append(ctypes.c_float(float(a)))
                elif isinstance(a, np.int32):
                    conv.append(ctypes.c_int(int(a)))
                else:  # np.intp: a device pointer
                    conv.append(ctypes.c_void_p(int(a)))
            self.fn(ctypes.c_int(grid[0]), ctypes.c_int(grid[1]), ctypes.c_int(block[0]),
                    ctypes.c_int(block[1]), *conv)

    class SourceModule:
        def __init__(self, source, no_extern_c=False, cache_dir=None, options=None) -> None:
            assert no_extern_c and 'extern "C"' in source

        def get_function(self, name: str) -> Function:
            return Function(name)

    comp.SourceModule = SourceModule
    pkg = types.ModuleType("pycuda")
    pkg.__path__ = []  # a package
    pkg.driver, pkg.compiler = drv, comp
    return {"pycuda": pkg, "pycuda.driver": drv, "pycuda.compiler": comp}


def _view(addr: int, shape, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    raw = (ctypes.c_char * (n * dtype.itemsize)).from_address(addr)
    return np.frombuffer(raw, dtype, count=n).reshape(shape)


def fake_ilogger() -> type:
    """tensorrt.ILogger as the runtime and the builder use it: a base class with Severity."""

    class ILogger:
        Severity = types.SimpleNamespace(ERROR=1, INTERNAL_ERROR=0, WARNING=2, INFO=3,
                                         VERBOSE=4)

        def __init__(self) -> None:
            pass

    return ILogger


def make_tensorrt() -> types.ModuleType:
    import onnxruntime as ort

    trt = types.ModuleType("tensorrt")
    trt.__version__ = TRT_VERSION
    trt.TensorIOMode = types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
    trt.nptype = lambda t: t
    trt.ILogger = fake_ilogger()

    class Context:
        def __init__(self, eng) -> None:
            self.eng = eng
            self.shapes = {n: s[2] for n, s in eng.profile.items()}
            self.addr: dict[str, int] = {}

        def set_input_shape(self, name, shape) -> bool:
            lo, _, hi = self.eng.profile[name]
            assert all(a <= b <= c for a, b, c in zip(lo, shape, hi)), (name, shape)
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name):
            if name in self.eng.profile:
                return self.shapes[name]
            batch = self.shapes[self.eng.inputs[0]][0]
            return (batch, *self.eng.out_tail[name])

        def set_tensor_address(self, name, addr) -> bool:
            self.addr[name] = int(addr)
            return True

        def execute_async_v3(self, stream_handle) -> bool:
            feeds = {n: _view(self.addr[n], self.shapes[n], np.float32).copy()
                     for n in self.eng.inputs}
            outs = self.eng.session.run(None, feeds)
            for n, v in zip(self.eng.outputs, outs):
                _view(self.addr[n], v.shape, np.float32)[...] = v
            return True

    class Engine:
        def __init__(self, spec: dict) -> None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            self.session = ort.InferenceSession(spec["onnx"], opts,
                                                providers=["CPUExecutionProvider"])
            self.inputs = [i.name for i in self.session.get_inputs()]
            self.outputs = [o.name for o in self.session.get_outputs()]
            self.profile = {}
            probe = {}
            for i in self.session.get_inputs():
                tail = [int(d) for d in i.shape[1:]]
                dynamic = not isinstance(i.shape[0], int)
                hi = spec["max_batch"] if dynamic else int(i.shape[0])
                self.profile[i.name] = ((1, *tail), (1, *tail), (hi, *tail))
                probe[i.name] = np.zeros((1, *tail), np.float32)
            self.out_tail = {o.name: v.shape[1:] for o, v in
                             zip(self.session.get_outputs(), self.session.run(None, probe))}
            self.num_io_tensors = len(self.inputs) + len(self.outputs)

        def get_tensor_name(self, i: int) -> str:
            return (self.inputs + self.outputs)[i]

        def get_tensor_mode(self, name: str) -> str:
            return "INPUT" if name in self.inputs else "OUTPUT"

        def get_tensor_dtype(self, name: str):
            return np.dtype(np.float32)

        def get_tensor_profile_shape(self, name: str, profile: int):
            return self.profile[name]

        def create_execution_context(self) -> Context:
            return Context(self)

    class Runtime:
        def __init__(self, logger) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes):
            try:
                return Engine(json.loads(data))
            except (ValueError, KeyError):
                return None

    trt.Runtime = Runtime
    return trt


def write_fake_engines(export_dir: Path, out: Path) -> Path:
    """An engine folder whose engines are the export's FP32 graphs, for the fake TensorRT."""
    from edge.description import ModelDescription
    from edge.engines.folder import write_engine_folder
    from edge.engines.identity import DeviceInfo
    from edge.export.onnx_export import graph_specs, read_manifest

    desc = ModelDescription.from_dict(read_manifest(export_dir)["description"])
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in graph_specs(desc):
        name = spec.file.replace(".onnx", ".fp32.fake.engine")
        (out / name).write_text(json.dumps({"onnx": str(export_dir / spec.file),
                                            "max_batch": desc.max_detections}))
        entries.append({"file": name, "role": spec.role, "branch": spec.branch,
                        "precision": "fp32"})
    write_engine_folder(out, desc, {"path": str(export_dir)},
                        DeviceInfo(TRT_VERSION, GPU_NAME, "8.7", None), entries)
    return out
