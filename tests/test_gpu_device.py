"""edge.bench.kernels.Device against strict local fakes of pycuda and CuPy.

- pycuda: a real context stack: push/pop must balance, popping a context that is not on
  top raises, freeing memory needs its context current, and a context left pushed fails
  the test (real pycuda aborts the interpreter at exit: review finding 1).
- CuPy on CUDA 13: ``getDeviceProperties`` has no ``memoryClockRate`` (finding 29); the
  memory clock and bus width come from device attributes.
- No ``nvidia-smi`` (JetPack 6, finding 30): the GPU is named by the CUDA API.
"""

from __future__ import annotations

import logging
import sys
import types

import numpy as np
import pytest

from edge.bench import kernels as bk
from edge.errors import MissingDependencyError


class StrictPycuda:
    """pycuda.driver as Device uses it, with the context rules of the real library."""

    def __init__(self, name: str = "Orin", gpus: int = 1) -> None:
        self.stack: list[object] = []
        self.allocs: list[object] = []
        self.contexts: list[object] = []
        fake = self
        drv = types.ModuleType("pycuda.driver")

        class Error(Exception):
            pass

        class Context:
            detached = False

            def push(self) -> None:
                assert not self.detached, "push of a detached context"
                fake.stack.append(self)

            def pop(self) -> None:
                if not fake.stack or fake.stack[-1] is not self:
                    raise Error("cuCtxPopCurrent failed: context is not the current one")
                fake.stack.pop()

            def detach(self) -> None:
                assert not self.detached, "context detached twice"
                self.detached = True

            @staticmethod
            def synchronize() -> None:
                fake.need_context()

        class Alloc:
            def __init__(self, n: int) -> None:
                self.buf = np.zeros(n, np.uint8)
                self.ctx = fake.need_context()
                self.freed = False

            def __int__(self) -> int:
                assert not self.freed, "use of freed device memory"
                return int(self.buf.ctypes.data)

            def free(self) -> None:
                assert not self.freed, "double free"
                if not fake.stack or fake.stack[-1] is not self.ctx:
                    raise Error("cuMemFree failed: invalid context")
                self.freed = True

        class Device:
            def __init__(self, i: int) -> None:
                if i >= gpus:
                    raise Error("cuDeviceGet failed: invalid device ordinal")

            @staticmethod
            def count() -> int:
                return gpus

            def name(self) -> str:
                return name

            def compute_capability(self) -> tuple[int, int]:
                return (8, 7)

            def get_attribute(self, a: str) -> int:
                return {"MEMORY_CLOCK_RATE": 3_200_000, "GLOBAL_MEMORY_BUS_WIDTH": 256,
                        "INTEGRATED": 1, "MULTIPROCESSOR_COUNT": 16}[a]

            def retain_primary_context(self) -> Context:
                ctx = Context()
                fake.contexts.append(ctx)
                return ctx

        def mem_alloc(n: int) -> Alloc:
            a = Alloc(int(n))
            fake.allocs.append(a)
            return a

        def memcpy_htod(dst: Alloc, src: np.ndarray) -> None:
            fake.need_context()
            src = np.ascontiguousarray(src).view(np.uint8).ravel()
            dst.buf[:src.size] = src

        def memcpy_dtoh(dst: np.ndarray, src: Alloc) -> None:
            fake.need_context()
            assert dst.flags.c_contiguous
            dst.view(np.uint8).ravel()[...] = src.buf[:dst.nbytes]

        drv.Error, drv.Context, drv.Device = Error, Context, Device
        drv.init = lambda: None
        drv.get_driver_version = lambda: 12060
        drv.mem_alloc, drv.memcpy_htod, drv.memcpy_dtoh = mem_alloc, memcpy_htod, memcpy_dtoh
        drv.device_attribute = types.SimpleNamespace(
            MEMORY_CLOCK_RATE="MEMORY_CLOCK_RATE",
            GLOBAL_MEMORY_BUS_WIDTH="GLOBAL_MEMORY_BUS_WIDTH", INTEGRATED="INTEGRATED",
            MULTIPROCESSOR_COUNT="MULTIPROCESSOR_COUNT")
        pkg = types.ModuleType("pycuda")
        pkg.__path__ = []
        pkg.VERSION_TEXT = "2025.1.2"
        pkg.driver = drv
        self.modules = {"pycuda": pkg, "pycuda.driver": drv}

    def need_context(self) -> object:
        if not self.stack:
            raise self.modules["pycuda.driver"].Error("invalid context: none is current")
        return self.stack[-1]

    def check_clean(self) -> None:
        assert not self.stack, "context stack was not empty (pycuda aborts at exit)"
        assert all(a.freed for a in self.allocs), "device memory left allocated"
        assert all(c.detached for c in self.contexts), "a retained context was not detached"


@pytest.fixture
def pycuda_only(monkeypatch) -> StrictPycuda:
    fake = StrictPycuda()
    monkeypatch.setitem(sys.modules, "cupy", None)
    for name, mod in fake.modules.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return fake


def fake_cupy(attributes: dict[str, int]) -> types.ModuleType:
    """CuPy on CUDA 13: the properties dict has no memoryClockRate (a KeyError)."""
    cp = types.ModuleType("cupy")
    cp.__version__ = "13.6.0"

    class CUDARuntimeError(RuntimeError):
        pass

    runtime = types.SimpleNamespace(
        CUDARuntimeError=CUDARuntimeError, getDeviceCount=lambda: 1,
        getDeviceProperties=lambda i: {"name": b"NVIDIA H200", "major": 9, "minor": 0,
                                       "memoryBusWidth": 6144, "integrated": 0},
        driverGetVersion=lambda: 13000, runtimeGetVersion=lambda: 13000,
        deviceSynchronize=lambda: None)

    class Device:
        def __init__(self, i: int = 0) -> None:
            self.attributes = dict(attributes)

    cp.cuda = types.SimpleNamespace(runtime=runtime, Device=Device)
    return cp


def test_device_pops_its_context_and_frees_its_buffers_when_a_check_raises(pycuda_only):
    with pytest.raises(RuntimeError, match="boom"):
        with bk.Device() as dev:
            buf = dev.put(np.arange(6, dtype=np.float32).reshape(2, 3))
            np.testing.assert_array_equal(dev.get(buf), np.arange(6).reshape(2, 3))
            raise RuntimeError("boom")
    pycuda_only.check_clean()
    dev.close()  # idempotent
    pycuda_only.check_clean()


def test_run_kernels_leaves_no_context_pushed_when_the_kernels_fail(pycuda_only, monkeypatch):
    import edge.cuda.kernels as ck

    class Broken:
        def __init__(self, api: str) -> None:
            raise RuntimeError("nvcc failed")  # pytools' ExecError in real life

    monkeypatch.setattr(ck, "CudaKernels", Broken)
    with pytest.raises(RuntimeError, match="nvcc failed"):
        bk.run_kernels(1, bk.KernelSizes(frame=(8, 8), model_input=(32, 32), channels=2,
                                         fmap=(6, 6), boxes=2, crop=(2, 2), max_mask=6))
    pycuda_only.check_clean()


def test_pycuda_device_describes_the_gpu_without_nvidia_smi(pycuda_only, monkeypatch, tmp_path):
    import subprocess

    from edge.bench.selftest import environment

    def no_tools(*a, **k):
        raise AssertionError("no external tool may be run (nvidia-smi is absent on JetPack 6)")

    monkeypatch.setattr(subprocess, "run", no_tools)
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson AGX Orin Developer Kit\x00")
    monkeypatch.setattr(bk, "DEVICE_TREE_MODEL", model)
    env = environment()
    assert env["gpu"] == "Orin" and env["board"] == "NVIDIA Jetson AGX Orin Developer Kit"
    assert env["compute_capability"] == "8.7" and env["driver_version"] == "12.6"
    assert env["api"] == "pycuda 2025.1.2" and env["peak_gb_s"] == pytest.approx(204.8)
    pycuda_only.check_clean()


def test_no_gpu_library_is_a_value_in_the_environment(monkeypatch, tmp_path):
    from edge.bench.selftest import environment

    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    monkeypatch.setattr(bk, "DEVICE_TREE_MODEL", tmp_path / "absent")
    env = environment()
    assert env["gpu"].startswith("none (") and "CuPy or pycuda" in env["gpu"]
    assert env["board"] is None
    with pytest.raises(MissingDependencyError, match="CuPy or pycuda"):
        bk.Device()


def test_cupy_on_cuda13_reads_the_memory_clock_from_device_attributes(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy({
        "MemoryClockRate": 2_619_000, "GlobalMemoryBusWidth": 6144, "Integrated": 0,
        "ComputeCapabilityMajor": 9, "ComputeCapabilityMinor": 0, "MultiProcessorCount": 132}))
    with bk.Device() as dev:
        assert dev.api == "cupy" and dev.name == "NVIDIA H200"
        assert dev.peak_gbs == pytest.approx(2 * 2_619_000e3 * 6144 / 8 / 1e9)
        assert dev.info["compute_capability"] == "9.0"
        assert dev.info["driver_version"] == "13.0" and dev.info["api"] == "cupy 13.6.0"


def test_unknown_memory_clock_is_reported_with_its_reason(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy({
        "MemoryClockRate": 0, "GlobalMemoryBusWidth": 0, "Integrated": 1,
        "ComputeCapabilityMajor": 11, "ComputeCapabilityMinor": 0}))
    with caplog.at_level(logging.WARNING, logger="edge.bench.kernels"):
        with bk.Device() as dev:
            assert dev.api == "cupy" and dev.peak_gbs is None
            assert "bandwidth is unknown" in dev.info["peak_note"]
    assert any("bandwidth is unknown" in r.getMessage() for r in caplog.records)


def test_kernel_tables_say_when_the_peak_is_unknown() -> None:
    from edge.bench.selftest import kernel_table
    from edge.cli.bench import _kernel_lines

    res = {"device": "Thor", "api": "cupy", "peak_gb_s": None, "peak_note": "clock 0 kHz",
           "rows": [{"kernel": "paste_masks", "size": "s", "ok": True, "ms": 1.0, "gb_s": 2.0}]}
    assert "unknown (clock 0 kHz)" in kernel_table(res)[0]
    assert "| n/a |" in kernel_table(res)[-1]
    assert "peak unknown" in _kernel_lines(res)[-1]
