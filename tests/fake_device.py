"""A fake CUDA device for running the TensorRT backend's code on a CPU, at least as strict as
pycuda and TensorRT (checked against pycuda's src/cpp/cuda.hpp, pycuda/driver.py,
pycuda/compiler.py and TensorRT's python/src/infer/pyCore.cpp).

- ``pycuda.driver``: device memory is host memory (an address is a real pointer).
  * Contexts: a per-thread stack. Every call that needs a context raises pycuda's
    LogicError when none is current on the calling thread; :meth:`FakeGpu.check_clean`
    (call it at test teardown) fails when a context is left pushed on any thread (real
    pycuda calls ``abort()`` at exit) or a device allocation outlived its context.
  * Streams queue their work; nothing runs until something waits for it
    (``Stream.synchronize``, ``Event.synchronize``, ``Context.synchronize``, or a stream
    waiting on an event of another stream, which first runs that stream's earlier work).
    Independent streams run in an order drawn from ``seed``. An async copy from a pinned
    host buffer reads the buffer when the copy RUNS (as DMA does), from pageable memory
    when it is enqueued (CUDA stages it); an async copy into pageable memory waits for the
    stream (CUDA makes it synchronous). The legacy default stream (None) runs at once,
    after every blocking stream's queued work.
  * Kernel arguments as pycuda's ``_build_arg_buf`` accepts them (numpy scalars, device
    allocations), further checked against the kernel's C signature: a plain int, a host
    array or a numpy scalar of the wrong width raises TypeError; pointers must lie in a
    device allocation (or mapped pinned memory).
  * Modules: ``module_from_buffer``/``module_from_file`` read real cubins (ELF arch and ABI
    checked against the device and driver) and PTX (``.target`` and ``.version``);
    ``pycuda.compiler.SourceModule`` needs nvcc on PATH as the real one does (it runs
    ``nvcc --version``), and counts its calls in ``FakeGpu.nvcc_calls``.
- ``tensorrt``: an engine file is JSON naming an ONNX graph and its I/O dtypes; the fake
  engine runs it with ONNX Runtime when the stream's work runs, reading inputs from and
  writing outputs to the bound addresses in the engine's dtypes (FP16 I/O is really half).
  ``set_input_shape`` returns False (and logs an error) on a shape outside the profile;
  ``execute_async_v3`` returns False when an address or shape is missing. Only the
  named-tensor API exists, as in TensorRT 10.
"""

from __future__ import annotations

import ctypes
import json
import random
import re
import shutil
import struct
import subprocess
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRT_VERSION = "10.3.0.30"
GPU_NAME = "Fake Orin"
NON_BLOCKING = 1  # CU_STREAM_NON_BLOCKING: pycuda takes Stream(flags=...) as an int
DISABLE_TIMING = 2  # CU_EVENT_DISABLE_TIMING


def emu_flags() -> list[str]:
    """g++ flags of the kernel emulator: FMA contraction on, as nvcc does by default."""
    try:
        fma = " fma " in Path("/proc/cpuinfo").read_text().replace("\n", " ")
    except OSError:
        fma = False
    # -fexpensive-optimizations: the pass that forms FMAs (on at -O2)
    return ["-O1", "-std=c++17"] + (["-mfma", "-ffp-contract=fast", "-fexpensive-optimizations"]
                                    if fma else [])


def build_emulator(out_dir: Path) -> ctypes.CDLL:
    lib = out_dir / "emu_device.so"
    proc = subprocess.run(["g++", *emu_flags(), "-shared", "-fPIC", f"-I{ROOT}",
                           str(ROOT / "tests" / "cuda_emu" / "launch.cpp"), "-o", str(lib)],
                          capture_output=True, text=True)
    if proc.returncode != 0 and "_Float16" in proc.stderr:  # gcc < 12
        import pytest

        pytest.skip("the kernel emulator needs a C++ compiler with _Float16 (gcc >= 12)")
    proc.check_returncode()
    return ctypes.CDLL(str(lib))


def kernel_signatures(source: str) -> dict[str, list[str]]:
    """extern "C" kernel name -> parameter kinds ("ptr", "int", "float")."""
    sigs = {}
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\(([^)]*)\)', source):
        kinds = []
        for p in params.split(","):
            p = " ".join(p.split())
            kinds.append("ptr" if "*" in p else "float" if p.startswith("float") else "int")
        sigs[name] = kinds
    return sigs


# ------------------------------------------------------------------------ pycuda


class CudaError(Exception):
    """pycuda._driver.Error"""


class LogicError(CudaError):
    """pycuda._driver.LogicError"""


class ExecError(OSError):
    """pytools.prefork.ExecError: what pycuda.compiler raises when nvcc cannot run."""


class _Pinned(bytearray):
    """pycuda's HostAllocation: the ``.base`` of a page-locked array."""

    def __init__(self, n: int, gpu: FakeGpu, mapped: bool) -> None:
        super().__init__(n)
        self.gpu, self.mapped = gpu, mapped
        if mapped:
            gpu.ranges[self.address()] = len(self)

    def free(self) -> None:
        self.gpu.need_context("cuMemFreeHost")
        if self.mapped:
            self.gpu.ranges.pop(self.address(), None)

    def address(self) -> int:
        return ctypes.addressof((ctypes.c_char * len(self)).from_buffer(self))

    def get_device_pointer(self) -> int:
        if not self.mapped:
            raise LogicError("cuMemHostGetDevicePointer failed: invalid value (allocate with "
                             "mem_flags=host_alloc_flags.DEVICEMAP)")
        return self.address()


def is_pinned(a: np.ndarray) -> bool:
    base = a
    while base is not None:
        if isinstance(base, _Pinned):
            return True
        base = getattr(base, "base", None)
    return False


class _Alloc:
    """pycuda.driver.DeviceAllocation."""

    def __init__(self, n: int, ctx: _Ctx) -> None:
        self.buf = np.zeros(max(n, 1), np.uint8)
        self.ctx, self.freed = ctx, False
        ctx.gpu.ranges[int(self)] = self.buf.nbytes
        ctx.live.add(self)

    def __int__(self) -> int:
        return int(self.buf.ctypes.data)

    def __index__(self) -> int:
        return int(self)

    def free(self) -> None:
        if self.freed:
            return
        if self.ctx.detached:
            raise LogicError("cannot activate dead context")
        self.freed = True
        self.ctx.live.discard(self)
        self.ctx.gpu.ranges.pop(int(self), None)


class _Ctx:
    """A retained primary context (pycuda.driver.Context)."""

    def __init__(self, gpu: FakeGpu) -> None:
        self.gpu = gpu
        self.detached = False
        self.live: set[_Alloc] = set()  # shared by every handle of the primary context
        self.thread = threading.get_ident()

    def push(self) -> None:
        if self.detached:
            raise LogicError("context::push failed: cannot push a detached context")
        self.gpu.stack().append(self)

    @staticmethod
    def _pop(gpu: FakeGpu) -> None:
        stack = gpu.stack()
        if not stack:
            raise LogicError("context::pop failed: cannot pop non-current context")
        stack.pop()

    def pop(self) -> None:
        self._pop(self.gpu)

    def detach(self) -> None:
        if self.detached:
            raise LogicError("context::detach failed: cannot detach from invalid context")
        self.detached = True
        self.gpu.retained -= 1
        if self.gpu.retained == 0 and self.live:  # the primary context is reset: leaked
            self.gpu.leaked.extend(self.live)


class _Queue:
    """A stream's queued work: ops run in order, only when something waits for them."""

    def __init__(self, gpu: FakeGpu, handle: int, flags: int) -> None:
        self.gpu, self.handle, self.flags = gpu, handle, flags
        self.ops: list[Callable[[], None]] = []
        self.done = 0

    def run_until(self, n: int) -> None:
        while self.done < n:
            op = self.ops[self.done]
            self.done += 1
            op()

    def drain(self) -> None:
        self.run_until(len(self.ops))


class FakeGpu:
    """State of one fake device; ``make_pycuda`` returns modules bound to it."""

    def __init__(self, lib: ctypes.CDLL, integrated: bool, seed: int = 0,
                 cc: tuple[int, int] = (8, 7), driver: int = 12060) -> None:
        self.lib, self.integrated, self.cc, self.driver = lib, integrated, cc, driver
        self.rng = random.Random(seed)
        self.stacks: dict[int, list[_Ctx]] = {}
        self.ranges: dict[int, int] = {}  # device-visible address -> bytes
        self.queues: dict[int, _Queue] = {}
        self.retained = 0
        self.leaked: list[_Alloc] = []
        self.nvcc_calls: list[list[str]] = []
        self.loaded_images: list[str] = []
        self.copies: dict[str, list[int]] = {"htod": [], "dtoh": []}
        self.streams_made: list[int] = []  # flags of every stream
        self.events_made: list[int] = []  # flags of every event
        self.sigs = kernel_signatures((ROOT / "edge" / "cuda" / "kernels.cu").read_text())

    # contexts ------------------------------------------------------------------------
    def stack(self) -> list[_Ctx]:
        return self.stacks.setdefault(threading.get_ident(), [])

    def need_context(self, what: str) -> _Ctx:
        stack = self.stack()
        if not stack or stack[-1].detached:
            raise LogicError(f"{what} failed: invalid device context - no currently active "
                             f"context?")
        return stack[-1]

    def check_clean(self) -> None:
        """Fail as pycuda would at exit: a context left pushed aborts the process."""
        left = {t: len(s) for t, s in self.stacks.items() if s}
        assert not left, f"context(s) left pushed at exit (pycuda aborts): {left}"
        assert not self.leaked, f"{len(self.leaked)} device allocation(s) outlived the context"

    # memory ----------------------------------------------------------------------------
    def check_range(self, addr: int, nbytes: int, what: str) -> None:
        for start, n in self.ranges.items():
            if start <= addr and addr + nbytes <= start + n:
                return
        raise LogicError(f"{what}: {nbytes} bytes at {addr:#x} are not inside one device "
                         f"allocation (out of bounds, freed, or host memory)")

    # streams ---------------------------------------------------------------------------
    def queue(self, stream: Any) -> _Queue | None:
        """The queue of a pycuda Stream or raw handle; None = the legacy default stream."""
        if stream is None:
            return None
        handle = int(getattr(stream, "handle", stream))
        if handle == 0:
            return None
        if handle not in self.queues:
            raise LogicError(f"invalid stream handle {handle:#x}")
        return self.queues[handle]

    def enqueue(self, stream: Any, op: Callable[[], None]) -> None:
        q = self.queue(stream)
        if q is None:  # legacy default stream: after all blocking streams' work
            self.drain_all(blocking_only=True)
            op()
        else:
            q.ops.append(op)

    def drain_all(self, blocking_only: bool = False) -> None:
        queues = [q for q in self.queues.values() if not blocking_only or q.flags == 0]
        self.rng.shuffle(queues)
        for q in queues:
            q.drain()


def make_pycuda(lib: ctypes.CDLL, integrated: bool, seed: int = 0, cc: tuple[int, int] = (8, 7),
                driver: int = 12060) -> dict[str, types.ModuleType]:
    """Fake ``pycuda``, ``pycuda.driver`` and ``pycuda.compiler`` on one :class:`FakeGpu`
    (``drv.gpu``)."""
    gpu = FakeGpu(lib, integrated, seed, cc, driver)
    drv = types.ModuleType("pycuda.driver")
    drv.gpu = gpu
    drv.Error, drv.LogicError = CudaError, LogicError
    drv.device_attribute = types.SimpleNamespace(
        INTEGRATED="INTEGRATED", CAN_MAP_HOST_MEMORY="CAN_MAP", MEMORY_CLOCK_RATE="CLOCK",
        GLOBAL_MEMORY_BUS_WIDTH="BUS", MULTIPROCESSOR_COUNT="SMS")
    drv.host_alloc_flags = types.SimpleNamespace(PORTABLE=1, DEVICEMAP=2, WRITECOMBINED=4)
    drv.event_flags = types.SimpleNamespace(DEFAULT=0, BLOCKING_SYNC=1,
                                            DISABLE_TIMING=DISABLE_TIMING, INTERPROCESS=4)
    drv.copies = gpu.copies
    handles = iter(range(0x1000, 1 << 30, 0x10))

    class Context:
        @staticmethod
        def synchronize() -> None:
            gpu.need_context("cuCtxSynchronize")
            gpu.drain_all()

        @staticmethod
        def pop() -> None:
            _Ctx._pop(gpu)

        @staticmethod
        def get_device() -> Device:
            gpu.need_context("cuCtxGetDevice")
            return Device(0)

        @staticmethod
        def get_current() -> _Ctx | None:
            stack = gpu.stack()
            return stack[-1] if stack else None

    class Device:
        def __init__(self, i: int) -> None:
            if i != 0:
                raise LogicError("cuDeviceGet failed: invalid device ordinal")
            self.i = i

        @staticmethod
        def count() -> int:
            return 1

        def name(self) -> str:
            return GPU_NAME

        def compute_capability(self) -> tuple[int, int]:
            return gpu.cc

        def get_attribute(self, a) -> int:
            return {"INTEGRATED": int(integrated), "CAN_MAP": 1, "CLOCK": 3_200_000,
                    "BUS": 256, "SMS": 16}[a]

        def retain_primary_context(self) -> _Ctx:
            gpu.retained += 1
            if not hasattr(gpu, "primary") or gpu.primary.detached:
                gpu.primary = _Ctx(gpu)
                return gpu.primary
            handle = _Ctx(gpu)
            handle.live = gpu.primary.live  # one primary context, several handles
            return handle

    class Stream:
        def __init__(self, flags: int = 0) -> None:
            gpu.need_context("cuStreamCreate")
            if not isinstance(flags, int):
                raise TypeError("Stream(flags) takes an int")
            self.handle = next(handles)
            gpu.queues[self.handle] = _Queue(gpu, self.handle, flags)
            gpu.streams_made.append(flags)

        def synchronize(self) -> None:
            gpu.need_context("cuStreamSynchronize")
            gpu.queues[self.handle].drain()

        def is_done(self) -> bool:
            q = gpu.queues[self.handle]
            return q.done == len(q.ops)

        def wait_for_event(self, event: Event) -> None:
            gpu.need_context("cuStreamWaitEvent")
            assert event.mark is not None, "a stream waited on an event never recorded"
            src, n = event.mark
            gpu.enqueue(self, lambda: src.run_until(n) if src is not None else None)

    class Event:
        def __init__(self, flags: int = 0) -> None:
            gpu.need_context("cuEventCreate")
            self.flags = int(flags)
            self.mark: tuple[_Queue | None, int] | None = None
            gpu.events_made.append(self.flags)

        def record(self, stream: Any = None) -> Event:
            gpu.need_context("cuEventRecord")
            q = gpu.queue(stream)
            if q is None:
                gpu.drain_all(blocking_only=True)
            self.mark = (q, len(q.ops) if q is not None else 0)
            return self

        def synchronize(self) -> Event:
            gpu.need_context("cuEventSynchronize")
            if self.mark is not None and self.mark[0] is not None:
                self.mark[0].run_until(self.mark[1])
            return self

        def query(self) -> bool:
            if self.mark is None or self.mark[0] is None:
                return True
            return self.mark[0].done >= self.mark[1]

        def time_since(self, other: Event) -> float:
            if self.flags & DISABLE_TIMING or other.flags & DISABLE_TIMING:
                raise LogicError("cuEventElapsedTime failed: invalid resource handle")
            return 0.0

    def mem_alloc(n: int) -> _Alloc:
        return _Alloc(int(n), gpu.need_context("cuMemAlloc"))

    def pagelocked_empty(shape, dtype, order: str = "C", mem_flags: int = 0) -> np.ndarray:
        gpu.need_context("cuMemHostAlloc")
        dtype = np.dtype(dtype)
        n = int(np.prod(shape)) * dtype.itemsize
        buf = _Pinned(max(n, 1), gpu, bool(mem_flags & 2))
        return np.ndarray(shape, dtype, buffer=buf, order=order)

    def _dst_addr(dst: Any, nbytes: int, what: str) -> int:
        if isinstance(dst, (int, np.integer, _Alloc)):
            addr = int(dst)
        else:
            raise TypeError(f"{what}: expected a DeviceAllocation or int, got {type(dst)}")
        gpu.check_range(addr, nbytes, what)
        return addr

    def memcpy_htod_async(dst, src: np.ndarray, stream: Any = None) -> None:
        gpu.need_context("cuMemcpyHtoDAsync")
        if not (isinstance(src, np.ndarray) and src.flags.c_contiguous):
            raise TypeError("memcpy_htod_async: the source must be a contiguous array")
        addr = _dst_addr(dst, src.nbytes, "cuMemcpyHtoDAsync")
        if not is_pinned(src):
            src = src.copy()  # pageable: CUDA stages it before returning
        gpu.copies["htod"].append(src.nbytes)
        gpu.enqueue(stream, lambda: ctypes.memmove(addr, src.ctypes.data, src.nbytes))

    def memcpy_dtoh_async(dst: np.ndarray, src, stream: Any = None) -> None:
        gpu.need_context("cuMemcpyDtoHAsync")
        if not (isinstance(dst, np.ndarray) and dst.flags.c_contiguous):
            raise TypeError("memcpy_dtoh_async: the destination must be a contiguous array")
        addr = _dst_addr(src, dst.nbytes, "cuMemcpyDtoHAsync")
        gpu.copies["dtoh"].append(dst.nbytes)
        gpu.enqueue(stream, lambda: ctypes.memmove(dst.ctypes.data, addr, dst.nbytes))
        if not is_pinned(dst):  # pageable destination: synchronous
            q = gpu.queue(stream)
            if q is not None:
                q.drain()

    def memcpy_htod(dst, src: np.ndarray) -> None:
        memcpy_htod_async(dst, np.ascontiguousarray(src).copy(), None)

    def memcpy_dtoh(dst: np.ndarray, src) -> None:
        memcpy_dtoh_async(dst, src, None)

    class Function:
        def __init__(self, name: str) -> None:
            if name not in gpu.sigs:
                raise LogicError("cuModuleGetFunction failed: named symbol not found")
            self.name = name
            self.fn = getattr(lib, f"emu_launch_{name}")

        def __call__(self, *args, block, grid=(1, 1), stream=None, shared: int = 0) -> None:
            gpu.need_context("cuLaunchKernel")
            kinds = gpu.sigs[self.name]
            if len(block) != 3 or len(grid) not in (1, 2, 3):
                raise ValueError("block must be a 3-tuple, grid a 1- to 3-tuple")
            if len(args) != len(kinds):
                raise TypeError(f"{self.name}: {len(args)} arguments for {len(kinds)} "
                                f"parameters")
            conv = []
            for i, (a, kind) in enumerate(zip(args, kinds)):
                if isinstance(a, _Alloc):
                    a = np.intp(int(a))
                if not isinstance(a, np.number):  # pycuda: ints, floats, host arrays ...
                    raise TypeError(f"invalid type on parameter #{i} (0-based)")
                want = {"ptr": (np.intp, np.uintp), "int": (np.int32,),
                        "float": (np.float32,)}[kind]
                if not isinstance(a, want):
                    raise TypeError(f"{self.name} parameter #{i} is {kind}: {a.dtype} would "
                                    f"be packed as {a.dtype.itemsize} bytes")
                if kind == "ptr":
                    gpu.check_range(int(a), 1, f"{self.name} parameter #{i}")
                    conv.append(ctypes.c_void_p(int(a)))
                else:
                    conv.append(ctypes.c_float(float(a)) if kind == "float"
                                else ctypes.c_int(int(a)))
            g = (list(grid) + [1, 1])[:2]
            dims = [ctypes.c_int(v) for v in (g[0], g[1], block[0], block[1])]
            gpu.enqueue(stream, lambda: self.fn(*dims, *conv))

    class Module:
        def __init__(self, names: set[str]) -> None:
            self.names = names

        def get_function(self, name: str) -> Function:
            if name not in self.names:
                raise LogicError("cuModuleGetFunction failed: named symbol not found")
            return Function(name)

    def module_from_buffer(buffer, options=None, message_handler=None) -> Module:
        gpu.need_context("cuModuleLoadData")
        data = bytes(buffer)
        arch = gpu.cc[0] * 10 + gpu.cc[1]
        if data[:4] == b"\x7fELF":
            if struct.unpack_from("<H", data, 18)[0] != 190:
                raise LogicError("cuModuleLoadData failed: device kernel image is invalid")
            flags, abi = struct.unpack_from("<I", data, 48)[0], data[7]
            sm = (flags >> 8) & 0xFF if abi == 65 else flags & 0xFF
            need = 13000 if abi == 65 else 12000
            if sm // 10 != gpu.cc[0] or sm > arch or gpu.driver < need:
                raise CudaError("cuModuleLoadData failed: no kernel image is available for "
                                "execution on the device")
            text = data.decode("latin-1")
        else:
            text = data.decode("ascii", "replace")
            ver = re.search(r"^\.version (\d+)\.(\d+)", text, re.M)
            target = re.search(r"^\.target sm_(\d+)", text, re.M)
            if not ver or not target:
                raise LogicError("cuModuleLoadData failed: device kernel image is invalid")
            isa = (int(ver.group(1)), int(ver.group(2)))
            need = {(8, 2): 12020, (8, 4): 12040, (8, 5): 12050, (8, 7): 12080,
                    (8, 8): 12090, (9, 0): 13000}.get(isa, 99999)
            if int(target.group(1)) > arch or gpu.driver < need:
                raise CudaError("cuModuleLoadData failed: the provided PTX was compiled with "
                                "an unsupported toolchain")
        names = {n for n in gpu.sigs if n in text}
        gpu.loaded_images.append(f"{len(data)} bytes")
        return Module(names)

    def module_from_file(path: str) -> Module:
        return module_from_buffer(Path(path).read_bytes())

    drv.init = lambda flags=0: None
    drv.get_driver_version = lambda: gpu.driver
    drv.get_version = lambda: (gpu.driver // 1000, gpu.driver % 1000 // 10, 0)
    drv.Context, drv.Device, drv.Stream, drv.Event = Context, Device, Stream, Event
    drv.mem_alloc, drv.pagelocked_empty = mem_alloc, pagelocked_empty
    drv.memcpy_htod_async, drv.memcpy_dtoh_async = memcpy_htod_async, memcpy_dtoh_async
    drv.memcpy_htod, drv.memcpy_dtoh = memcpy_htod, memcpy_dtoh
    drv.module_from_buffer, drv.module_from_file = module_from_buffer, module_from_file
    drv.Function, drv.Module = Function, Module

    comp = types.ModuleType("pycuda.compiler")

    class SourceModule(Module):
        def __init__(self, source, nvcc="nvcc", options=None, keep=False, no_extern_c=False,
                     arch=None, code=None, cache_dir=None, include_dirs=()) -> None:
            gpu.need_context("SourceModule")
            cmd = [nvcc, "--version"]  # compile_plain's cache key runs it on every start
            if shutil.which(nvcc) is None:
                raise ExecError(f"error invoking '{' '.join(cmd)}': [Errno 2] No such file "
                                f"or directory: '{nvcc}'")
            gpu.nvcc_calls.append(cmd)
            assert no_extern_c and 'extern "C"' in source
            super().__init__(set(kernel_signatures(source)))

    comp.SourceModule = SourceModule
    pkg = types.ModuleType("pycuda")
    pkg.__path__ = []  # a package
    pkg.VERSION_TEXT = "2025.1.2"
    pkg.driver, pkg.compiler = drv, comp
    return {"pycuda": pkg, "pycuda.driver": drv, "pycuda.compiler": comp}


def _view(addr: int, shape, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    raw = (ctypes.c_char * (n * dtype.itemsize)).from_address(addr)
    return np.frombuffer(raw, dtype, count=n).reshape(shape)


# ------------------------------------------------------------------------ tensorrt


def fake_ilogger() -> type:
    """tensorrt.ILogger as the runtime and the builder use it: a base class with Severity."""

    class ILogger:
        Severity = types.SimpleNamespace(ERROR=1, INTERNAL_ERROR=0, WARNING=2, INFO=3,
                                         VERBOSE=4)

        def __init__(self) -> None:
            pass

    return ILogger


class DataType:
    """tensorrt.DataType members (pybind enum values)."""

    def __init__(self, name: str, np_type: type) -> None:
        self.name, self.np_type = name, np_type

    def __repr__(self) -> str:
        return f"DataType.{self.name}"


DATA_TYPES = {n: DataType(n, t) for n, t in (("FLOAT", np.float32), ("HALF", np.float16),
                                              ("INT32", np.int32), ("INT8", np.int8),
                                              ("BOOL", np.bool_))}


def make_tensorrt(drv: types.ModuleType | None = None) -> types.ModuleType:
    """Fake tensorrt bound to ``drv`` (a fake pycuda.driver; default: the one in
    ``sys.modules`` when the engine runs): execute_async_v3 queues on its streams and needs
    its context. Without a fake driver it runs at once."""
    import sys

    import onnxruntime as ort

    def fake_gpu() -> FakeGpu | None:
        return getattr(drv or sys.modules.get("pycuda.driver"), "gpu", None)

    trt = types.ModuleType("tensorrt")
    trt.__version__ = TRT_VERSION
    trt.TensorIOMode = types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
    trt.DataType = types.SimpleNamespace(**DATA_TYPES)
    trt.ILogger = fake_ilogger()

    def nptype(t: DataType) -> type:
        if not isinstance(t, DataType):
            raise TypeError(f"nptype(): incompatible function arguments: {t!r}")
        return t.np_type

    trt.nptype = nptype

    class Context:
        def __init__(self, eng: Engine) -> None:
            self.eng = eng
            self.shapes: dict[str, tuple[int, ...]] = {}
            self.addr: dict[str, int] = {}

        def set_input_shape(self, name: str, shape) -> bool:
            shape = tuple(int(v) for v in shape)
            if name not in self.eng.profile:
                return self.eng.error(f"setInputShape: {name} is not an input")
            lo, _, hi = self.eng.profile[name]
            if len(shape) != len(lo) or not all(a <= b <= c for a, b, c in zip(lo, shape, hi)):
                return self.eng.error(f"IExecutionContext::setInputShape: {name} {shape} is "
                                      f"outside the profile [{lo}, {hi}]")
            self.shapes[name] = shape
            return True

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            if name in self.eng.profile:
                return self.shapes.get(name, (-1, *self.eng.profile[name][0][1:]))
            batch = self.shapes.get(self.eng.inputs[0], (-1,))[0]
            return (batch, *self.eng.out_tail[name])

        def set_tensor_address(self, name: str, addr: int) -> bool:
            if name not in self.eng.inputs + self.eng.outputs:
                return self.eng.error(f"setTensorAddress: no tensor {name}")
            self.addr[name] = int(addr)
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            if not isinstance(stream_handle, int):
                raise TypeError("execute_async_v3(): stream_handle must be an int")
            eng = self.eng
            missing = [n for n in eng.inputs + eng.outputs if n not in self.addr] + \
                      [n for n in eng.inputs if n not in self.shapes]
            if missing:
                return eng.error(f"enqueueV3: no address or shape for {missing}")
            shapes = dict(self.shapes)
            addr = dict(self.addr)
            batch = shapes[eng.inputs[0]][0]
            out_shapes = {n: (batch, *eng.out_tail[n]) for n in eng.outputs}
            gpu = fake_gpu()
            if gpu is not None:
                gpu.need_context("enqueueV3")
                for n in eng.inputs:
                    gpu.check_range(addr[n], int(np.prod(shapes[n])) * eng.np(n).itemsize, n)
                for n in eng.outputs:
                    gpu.check_range(addr[n], int(np.prod(out_shapes[n])) * eng.np(n).itemsize,
                                    n)

            def run() -> None:
                feeds = {n: _view(addr[n], shapes[n], eng.np(n)).astype(np.float32)
                         for n in eng.inputs}
                for n, v in zip(eng.outputs, eng.session.run(None, feeds)):
                    _view(addr[n], v.shape, eng.np(n))[...] = v

            if gpu is None:
                run()
            else:
                gpu.enqueue(stream_handle, run)
            return True

    class Engine:
        def __init__(self, spec: dict, logger: Any) -> None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            self.logger = logger
            self.session = ort.InferenceSession(spec["onnx"], opts,
                                                providers=["CPUExecutionProvider"])
            self.inputs = [i.name for i in self.session.get_inputs()]
            self.outputs = [o.name for o in self.session.get_outputs()]
            dtypes = spec.get("dtypes", {})
            self.dtypes = {n: DATA_TYPES[dtypes.get(n, "FLOAT")]
                           for n in self.inputs + self.outputs}
            self.profile = {}
            probe = {}
            for i in self.session.get_inputs():
                tail = [int(d) for d in i.shape[1:]]
                dynamic = not isinstance(i.shape[0], int)
                hi = spec["max_batch"] if dynamic else int(i.shape[0])
                lo = hi if spec.get("static") else 1  # DLA: min = opt = max
                self.profile[i.name] = ((lo, *tail), (lo, *tail), (hi, *tail))
                probe[i.name] = np.zeros((1, *tail), np.float32)
            self.out_tail = {o.name: v.shape[1:] for o, v in
                             zip(self.session.get_outputs(), self.session.run(None, probe))}
            self.num_io_tensors = len(self.inputs) + len(self.outputs)

        def np(self, name: str) -> np.dtype:
            return np.dtype(self.dtypes[name].np_type)

        def error(self, msg: str) -> bool:
            if self.logger is not None:
                self.logger.log(trt.ILogger.Severity.ERROR, msg)
            return False

        def get_tensor_name(self, i: int) -> str:
            return (self.inputs + self.outputs)[i]

        def get_tensor_mode(self, name: str) -> str:
            return "INPUT" if name in self.inputs else "OUTPUT"

        def get_tensor_dtype(self, name: str) -> DataType:
            return self.dtypes[name]

        def get_tensor_profile_shape(self, name: str, profile: int):
            if name not in self.profile or profile != 0:
                raise RuntimeError(f"getProfileShape: no input {name} in profile {profile}")
            return self.profile[name]

        def create_execution_context(self) -> Context:
            return Context(self)

    class Runtime:
        # pybind objects take only the attributes they define: a misspelt one raises
        __slots__ = ("logger", "_dla_core")

        def __init__(self, logger) -> None:
            if not isinstance(logger, trt.ILogger):
                raise TypeError("Runtime(): incompatible constructor arguments (an ILogger)")
            self.logger = logger
            self._dla_core = -1

        @property
        def DLA_core(self) -> int:  # noqa: N802 (TensorRT's name)
            return self._dla_core

        @DLA_core.setter
        def DLA_core(self, core: int) -> None:  # noqa: N802
            if not isinstance(core, int) or isinstance(core, bool):
                raise TypeError("DLA_core: incompatible function arguments (an int)")
            self._dla_core = core

        def deserialize_cuda_engine(self, data: bytes):
            gpu = fake_gpu()
            if gpu is not None:
                gpu.need_context("deserializeCudaEngine")
            try:
                engine = Engine(json.loads(data), self.logger)
            except (ValueError, KeyError):
                self.logger.log(trt.ILogger.Severity.ERROR, "deserializeCudaEngine failed")
                return None
            engine.dla_core = self._dla_core  # the core it was deserialised for
            return engine

    trt.Runtime = Runtime
    return trt


def write_fake_engines(export_dir: Path, out: Path, dtypes: dict[str, str] | None = None,
                       precision: str = "fp32", max_batch: int | None = None,
                       dla_core: int | None = None) -> Path:
    """An engine folder whose engines are the export's FP32 graphs, for the fake TensorRT;
    ``dtypes`` gives tensor name -> TensorRT DataType name (e.g. ``{"crop8": "HALF"}``) for
    engines with FP16 I/O; ``dla_core`` makes DLA entries as the builder writes them
    (branch engines static at their cap)."""
    from edge.description import ModelDescription
    from edge.engines.folder import write_engine_folder
    from edge.engines.identity import DeviceInfo
    from edge.export.onnx_export import graph_specs, read_manifest

    desc = ModelDescription.from_dict(read_manifest(export_dir)["description"])
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in graph_specs(desc):
        name = spec.file.replace(".onnx", f".{precision}.fake.engine")
        cap = desc.max_detections
        if spec.role == "branch" and desc.branches[spec.branch].max_boxes:
            cap = min(cap, desc.branches[spec.branch].max_boxes)
        static = dla_core is not None and spec.role == "branch"
        (out / name).write_text(json.dumps({"onnx": str(export_dir / spec.file),
                                            "max_batch": max_batch or cap,
                                            "dtypes": dtypes or {}, "static": static}))
        entries.append({"file": name, "role": spec.role, "branch": spec.branch,
                        "precision": precision, "dla_core": dla_core,
                        "static_batch": (max_batch or cap) if static else None})
    write_engine_folder(out, desc, {"path": str(export_dir)},
                        DeviceInfo(TRT_VERSION, GPU_NAME, "8.7", None), entries)
    return out


def install(monkeypatch, lib: ctypes.CDLL, integrated: bool = True, seed: int = 0,
            tensorrt: bool = True, **kw) -> types.ModuleType:
    """Put the fake pycuda (and, with ``tensorrt``, the fake TensorRT; else none, as on a
    CUDA machine without it) in ``sys.modules`` for one test; returns ``pycuda.driver``,
    whose ``gpu.check_clean()`` the test calls at its end (pycuda aborts at exit with a
    context left pushed)."""
    import sys

    mods = make_pycuda(lib, integrated=integrated, seed=seed, **kw)
    mods["tensorrt"] = make_tensorrt(mods["pycuda.driver"]) if tensorrt else None
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return mods["pycuda.driver"]
