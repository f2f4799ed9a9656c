"""The fake device (tests/fake_device.py) is at least as strict as pycuda and TensorRT, and
the CUDA kernels load from the shipped prebuilt images without nvcc.

Each test shows one strictness the GPU-path tests rely on: queued streams (so races and
missing synchronisations show up every run), the per-thread context stack, pycuda's
kernel-argument rules, nvcc's absence, and TensorRT's return-value and dtype behaviour."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import threading

import numpy as np
import pytest

from tests.fake_device import (CudaError, ExecError, LogicError, build_emulator,
                               make_pycuda, make_tensorrt, write_fake_engines)

if shutil.which("g++") is None:
    pytest.skip("no g++ to emulate the CUDA kernels", allow_module_level=True)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return build_emulator(tmp_path_factory.mktemp("emu"))


@pytest.fixture
def drv(lib, monkeypatch):
    mods = make_pycuda(lib, integrated=False)
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    d = mods["pycuda.driver"]
    ctx = d.Device(0).retain_primary_context()
    ctx.push()
    yield d
    d.Context.pop()
    ctx.detach()
    d.gpu.check_clean()


def test_pinned_buffer_race_fails_every_time(lib) -> None:
    """Finding 8's pattern - one pinned buffer rewritten between two async copies - reads
    the second value into both copies, with every seed (the copy runs at synchronize)."""
    for seed in range(10):
        d = make_pycuda(lib, integrated=False, seed=seed)["pycuda.driver"]
        ctx = d.Device(0).retain_primary_context()
        ctx.push()
        s = d.Stream(flags=1)
        host = d.pagelocked_empty(4, np.int32)
        a, b = d.mem_alloc(16), d.mem_alloc(16)
        host[:] = 1
        d.memcpy_htod_async(a, host, s)
        host[:] = 2  # the race: the first copy has not run yet
        d.memcpy_htod_async(b, host, s)
        out = d.pagelocked_empty(4, np.int32)
        d.memcpy_dtoh_async(out, a, s)
        assert out.tolist() == [0, 0, 0, 0]  # nothing ran: no synchronisation yet
        s.synchronize()
        assert out.tolist() == [2, 2, 2, 2]  # the stride-8 windows, every time
        # a pageable source is staged at enqueue (as CUDA does): no race
        page = np.full(4, 5, np.int32)
        d.memcpy_htod_async(a, page, s)
        page[:] = 6
        d.memcpy_dtoh_async(out, a, s)
        s.synchronize()
        assert out.tolist() == [5, 5, 5, 5]
        a.free(), b.free()
        d.Context.pop()
        ctx.detach()
        d.gpu.check_clean()


def test_event_wait_runs_the_other_streams_prior_work_only(drv) -> None:
    s1, s2 = drv.Stream(flags=1), drv.Stream(flags=1)
    ev = drv.Event(drv.event_flags.DISABLE_TIMING)
    buf = drv.mem_alloc(4)
    one, two = drv.pagelocked_empty(1, np.int32), drv.pagelocked_empty(1, np.int32)
    one[0], two[0] = 1, 2
    drv.memcpy_htod_async(buf, one, s1)
    ev.record(s1)
    drv.memcpy_htod_async(buf, two, s1)  # after the event: s2 must not wait for it
    s2.wait_for_event(ev)
    out = drv.pagelocked_empty(1, np.int32)
    drv.memcpy_dtoh_async(out, buf, s2)
    s2.synchronize()
    assert out[0] == 1
    with pytest.raises(LogicError):
        ev.time_since(drv.Event())  # DISABLE_TIMING events have no timestamps
    drv.Context.synchronize()
    buf.free()


def test_independent_streams_run_in_a_seeded_order(lib) -> None:
    finals = set()
    for seed in range(8):
        d = make_pycuda(lib, integrated=False, seed=seed)["pycuda.driver"]
        ctx = d.Device(0).retain_primary_context()
        ctx.push()
        buf = d.mem_alloc(4)
        for v in (1, 2, 3):
            host = d.pagelocked_empty(1, np.int32)
            host[0] = v
            d.memcpy_htod_async(buf, host, d.Stream(flags=1))
        d.Context.synchronize()
        out = np.zeros(1, np.int32)
        d.memcpy_dtoh(out, buf)
        finals.add(int(out[0]))
        buf.free()
        d.Context.pop()
        ctx.detach()
    assert len(finals) > 1  # unsynchronised writers race, as on a GPU


def test_context_stack_is_per_thread_and_checked_at_exit(lib) -> None:
    d = make_pycuda(lib, integrated=True)["pycuda.driver"]
    with pytest.raises(LogicError, match="no currently active context"):
        d.mem_alloc(4)
    ctx = d.Device(0).retain_primary_context()
    ctx.push()
    errors = []

    def other_thread() -> None:
        try:
            d.Stream()
        except LogicError as exc:
            errors.append(exc)

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert errors  # contexts are per thread
    with pytest.raises(AssertionError, match="left pushed"):
        d.gpu.check_clean()
    d.Context.pop()
    with pytest.raises(LogicError, match="cannot pop"):
        d.Context.pop()
    leak = (ctx.push(), d.mem_alloc(8), d.Context.pop())[1]
    ctx.detach()
    with pytest.raises(AssertionError, match="outlived the context"):
        d.gpu.check_clean()
    with pytest.raises(LogicError, match="dead context"):
        leak.free()


def test_kernel_arguments_as_strict_as_pycuda(drv) -> None:
    from edge.cuda.kernels import CudaKernels

    k = CudaKernels("pycuda")
    fn = k._fn["paste_masks"]
    buf = drv.mem_alloc(64)
    p = np.intp(int(buf))
    good = [p, p, p, p, p, np.int32(0), p, np.int32(1), np.int32(1), np.float32(0)]
    fn(*good, block=(32, 8, 1), grid=(1, 1))
    for i, bad in ((5, 0), (9, 0.0), (5, np.int64(0)), (0, np.zeros(2, np.float32)),
                   (6, np.intp(12345))):
        args = list(good)
        args[i] = bad
        with pytest.raises((TypeError, LogicError)):
            fn(*args, block=(32, 8, 1), grid=(1, 1))
    with pytest.raises(ValueError):
        fn(*good, block=(32, 8), grid=(1, 1))
    buf.free()


def test_source_module_needs_nvcc_on_path(drv, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    from pycuda.compiler import SourceModule

    with pytest.raises(ExecError, match="nvcc"):
        SourceModule('extern "C" __global__ void f() {}', no_extern_c=True)


def test_module_images_checked_against_device_and_driver(lib) -> None:
    from edge.cuda.kernels import PREBUILT_DIR

    d = make_pycuda(lib, integrated=True, cc=(8, 7), driver=12020)["pycuda.driver"]
    ctx = d.Device(0).retain_primary_context()
    ctx.push()
    try:
        d.module_from_file(str(PREBUILT_DIR / "kernels.cuda12.sm_87.cubin"))
        d.module_from_file(str(PREBUILT_DIR / "kernels.cuda12.sm_80.cubin"))  # same major
        for bad in ("kernels.cuda13.sm_87.cubin",  # CUDA 13 cubin on a 12.2 driver
                    "kernels.cuda12.sm_89.cubin",  # newer minor than the device
                    "kernels.cuda12.sm_75.cubin",  # another major
                    "kernels.cuda12.compute_72.ptx"):  # PTX 8.5 needs driver 12.5+
            with pytest.raises(CudaError):
                d.module_from_file(str(PREBUILT_DIR / bad))
    finally:
        d.Context.pop()
        ctx.detach()


def test_tensorrt_context_is_strict(lib, tmp_path, monkeypatch, caplog) -> None:
    pytest.importorskip("onnxruntime")
    from edge.runtime.model import DEMO_EXPORT

    d = make_pycuda(lib, integrated=False)["pycuda.driver"]
    trt = make_tensorrt(d)
    write_fake_engines(DEMO_EXPORT, tmp_path, dtypes={"crop8": "HALF", "mask_logits": "HALF"})
    ctx = d.Device(0).retain_primary_context()
    ctx.push()
    try:
        logger = type("L", (trt.ILogger,), {"log": lambda self, sev, msg: logging.error(msg)})()
        with pytest.raises(TypeError):
            trt.Runtime(object())
        spec = next(tmp_path.glob("branch_1x1r*.engine")).read_bytes()
        eng = trt.Runtime(logger).deserialize_cuda_engine(spec)
        assert trt.nptype(eng.get_tensor_dtype("crop8")) == np.float16
        assert trt.nptype(eng.get_tensor_dtype("crop32")) == np.float32
        with pytest.raises(TypeError):
            trt.nptype(np.float32)
        c = eng.create_execution_context()
        with caplog.at_level(logging.ERROR):
            assert c.set_input_shape("crop32", (31, 256, 1, 1)) is False  # cap 30
            assert c.set_input_shape("crop32", (1, 256, 2, 1)) is False
        assert "outside the profile" in caplog.text
        s = d.Stream(flags=1)
        assert c.execute_async_v3(s.handle) is False  # no shapes or addresses yet
        bufs = {}
        for name, shape in (("crop32", (1, 256, 1, 1)), ("crop16", (1, 128, 2, 2)),
                            ("crop8", (1, 64, 4, 4))):
            assert c.set_input_shape(name, shape)
        for name, n in (("crop32", 1024), ("crop16", 2048), ("crop8", 2048),
                        ("mask_logits", 32)):
            bufs[name] = d.mem_alloc(n)
            c.set_tensor_address(name, int(bufs[name]))
        out = d.pagelocked_empty((1, 1, 4, 4), np.float16)
        assert c.execute_async_v3(s.handle)
        d.memcpy_dtoh_async(out, bufs["mask_logits"], s)
        assert not out.any()  # queued, not run
        s.synchronize()
        assert out.any() and out.dtype == np.float16
        for b in bufs.values():
            b.free()
    finally:
        d.Context.pop()
        ctx.detach()
    assert json.loads(spec)["dtypes"]["crop8"] == "HALF"


# --------------------------------------------------------------------------- kernel images


def test_prebuilt_images_match_kernels_cu() -> None:
    """A kernels.cu edit without tools/build_kernels.sh would ship stale kernels."""
    from edge.cuda.kernels import PREBUILT_DIR, prebuilt_images, source_sha256

    manifest = json.loads((PREBUILT_DIR / "manifest.json").read_text())
    assert manifest["source_sha256"] == source_sha256(), "run tools/build_kernels.sh"
    images = prebuilt_images()
    have = {(i.cuda.split(".")[0], i.kind, i.arch) for i in images}
    for arch in (72, 75, 80, 86, 87, 89, 90):
        assert ("12", "cubin", arch) in have
    for arch in (75, 80, 86, 87, 89, 90, 110):
        assert ("13", "cubin", arch) in have
    assert ("12", "ptx", 72) in have and ("13", "ptx", 75) in have
    assert all(i.path.is_file() for i in images)


@pytest.mark.parametrize("cc, driver, image", [
    ((8, 7), 12020, "kernels.cuda12.sm_87.cubin"),   # JetPack 6.0 Orin
    ((8, 7), 12060, "kernels.cuda12.sm_87.cubin"),   # JetPack 6.1/6.2 Orin
    ((8, 7), 13000, "kernels.cuda13.sm_87.cubin"),   # JetPack 7 Orin
    ((11, 0), 13000, "kernels.cuda13.sm_110.cubin"),  # Thor
    ((7, 2), 12020, "kernels.cuda12.sm_72.cubin"),   # Xavier
    ((8, 6), 12080, "kernels.cuda12.sm_86.cubin"),
    ((12, 0), 12080, "kernels.cuda12.compute_72.ptx"),  # newer GPU: the driver JITs PTX
    ((12, 0), 13000, "kernels.cuda13.compute_75.ptx"),
])
def test_kernels_load_prebuilt_without_nvcc(lib, monkeypatch, tmp_path, cc, driver,
                                            image) -> None:
    from edge.cuda.kernels import CudaKernels

    monkeypatch.setenv("PATH", str(tmp_path))  # no nvcc anywhere
    mods = make_pycuda(lib, integrated=True, cc=cc, driver=driver)
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    d = mods["pycuda.driver"]
    ctx = d.Device(0).retain_primary_context()
    ctx.push()
    try:
        k = CudaKernels("pycuda")
        assert k.image == image
        assert d.gpu.nvcc_calls == []
    finally:
        d.Context.pop()
        ctx.detach()


def test_kernels_fall_back_to_nvcc_with_a_warning_or_say_what_to_do(lib, monkeypatch,
                                                                   tmp_path, caplog) -> None:
    from edge.cuda.kernels import CudaKernels
    from edge.errors import EdgeError

    mods = make_pycuda(lib, integrated=True, cc=(8, 7), driver=11040)  # too old a driver
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    d = mods["pycuda.driver"]
    ctx = d.Device(0).retain_primary_context()
    ctx.push()
    try:
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(EdgeError, match="nvcc is not on PATH.*build_kernels.sh"):
            CudaKernels("pycuda")
        (tmp_path / "nvcc").write_text("#!/bin/sh\n")
        (tmp_path / "nvcc").chmod(0o755)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        with caplog.at_level(logging.WARNING, "edge.cuda.kernels"):
            k = CudaKernels("pycuda")
        assert k.image == "nvcc" and d.gpu.nvcc_calls
        assert "compiling kernels.cu at start-up" in caplog.text

        def compile_error(*a, **kw):
            raise RuntimeError("nvcc compilation of kernel.cu failed\n[command: nvcc ...]")

        monkeypatch.setattr(sys.modules["pycuda.compiler"], "SourceModule", compile_error)
        with pytest.raises(EdgeError, match="nvcc failed .RuntimeError: nvcc compilation"):
            CudaKernels("pycuda")
    finally:
        d.Context.pop()
        ctx.detach()


def test_stale_images_are_ignored(tmp_path, caplog) -> None:
    from edge.cuda.kernels import PREBUILT_DIR, prebuilt_images

    shutil.copytree(PREBUILT_DIR, tmp_path / "p")
    m = tmp_path / "p" / "manifest.json"
    m.write_text(m.read_text().replace('"source_sha256": "', '"source_sha256": "0'))
    with caplog.at_level(logging.WARNING, "edge.cuda.kernels"):
        assert prebuilt_images(tmp_path / "p") == []
    assert "another kernels.cu" in caplog.text


def test_cupy_launcher_honours_the_stream(monkeypatch) -> None:
    """CuPy launches on its current stream: the launcher must enter the given one (a CuPy
    Stream, or a raw handle such as a pycuda stream's, wrapped as an ExternalStream)."""
    import types

    from edge.cuda.kernels import CudaKernels

    current: list[object] = [None]
    launches: list[object] = []

    class Stream:
        def __init__(self, handle: int = 7) -> None:
            self.ptr = handle

        def __enter__(self):
            self.prev, current[0] = current[0], self
            return self

        def __exit__(self, *exc) -> None:
            current[0] = self.prev

    class ExternalStream(Stream):
        pass

    class RawModule:
        def __init__(self, path=None, code=None, options=()) -> None:
            self.path = path

        def get_function(self, name):
            return lambda grid, block, args: launches.append(current[0])

    cp = types.ModuleType("cupy")
    cp.RawModule = RawModule
    cp.cuda = types.SimpleNamespace(
        Stream=Stream, ExternalStream=ExternalStream,
        Device=lambda: types.SimpleNamespace(compute_capability="87"),
        runtime=types.SimpleNamespace(driverGetVersion=lambda: 12060))
    monkeypatch.setitem(sys.modules, "cupy", cp)
    k = CudaKernels("cupy")
    assert k.image == "kernels.cuda12.sm_87.cubin"
    s = Stream()
    k.paste(1, 2, 3, 4, 5, 1, 6, 8, 8, 0.0, stream=s)
    k.paste(1, 2, 3, 4, 5, 1, 6, 8, 8, 0.0, stream=types.SimpleNamespace(handle=99))
    k.paste(1, 2, 3, 4, 5, 1, 6, 8, 8, 0.0)
    assert launches[0] is s
    assert isinstance(launches[1], ExternalStream) and launches[1].ptr == 99
    assert launches[2] is None
