"""The CUDA kernels against their NumPy references.

Three levels, each skipping with its reason when the tool is missing:
- CPU emulation: kernels.cu compiled as C++ (tests/cuda_emu) with every thread of a launch
  run in a loop, launched with edge.cuda.kernels' own grid/block helpers; tests the
  kernels' arithmetic and indexing on any machine with g++.
- nvcc: the source compiles for Jetson Orin (sm_87) and Turing-class GPUs (sm_75).
- GPU: the prebuilt kernel images on a real GPU, through pycuda AND CuPy (each API that
  imports and sees a device), launched on a non-default stream, same comparisons.

Tolerances: float outputs 1e-4 absolute (FP32) / 2e-2 (FP16: half precision has 11
significant bits, an ulp of 2e-3 at the |x| < 4 used here, plus the reference's rounding); integer outputs exact except at pixels where the reference's sampled logit is
within 1e-4 of the threshold; the blend exactly equal for any alpha (the emulation fuses
multiply-adds as nvcc does, so an unrounded blend fails here too).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge import catalog
from edge.cuda.kernels import (BLOCK_1D, BLOCK_2D, CROP_MODES, KERNEL_FILE, check_windows,
                               grid_1d, grid_2d, pack_masks)
from edge.geometry import gather_crops, paste_masks
from edge.geometry.resample import sample_in_box
from edge.preprocess import normalisation, preprocess
from edge.runtime.render import PALETTE, blend_reference

ROOT = Path(__file__).resolve().parents[1]
EMU = Path(__file__).with_name("cuda_emu")


# --------------------------------------------------------------------------- cases


def preprocess_case(seed: int):
    rng = np.random.default_rng(seed)
    fh, fw = (int(v) for v in rng.integers(20, 90, 2))
    desc = catalog.describe("ssd-isb-multi-shape", input_size=(64, 96))
    frame = rng.integers(0, 256, (fh, fw, 3), dtype=np.uint8)
    return desc, frame


def crop_case(seed: int, mode: str):
    rng = np.random.default_rng(seed)
    c, h, w = 5, 12, 16
    fmap = rng.standard_normal((c, h, w)).astype(np.float32)
    out_hw = (3, 2) if mode == "exact" else (4, 3)
    wins = []
    for _ in range(4):
        if mode == "exact":
            c0, r0 = int(rng.integers(0, w - 2)), int(rng.integers(0, h - 3))
            wins.append((c0, r0, c0 + 2, r0 + 3))
        else:
            c0, r0 = int(rng.integers(0, w - 1)), int(rng.integers(0, h - 1))
            wins.append((c0, r0, int(rng.integers(c0 + 1, w + 1)), int(rng.integers(r0 + 1, h + 1))))
    return fmap, np.array(wins, np.int32), out_hw


def paste_case(seed: int):
    rng = np.random.default_rng(seed)
    hw = (50, 70)
    logits, boxes = [], []
    for _ in range(5):
        mh, mw = (int(v) for v in rng.integers(2, 9, 2))
        logits.append(rng.standard_normal((mh, mw)).astype(np.float32))
        x1, y1 = rng.uniform(-10, 60), rng.uniform(-10, 40)
        boxes.append((x1, y1, x1 + rng.uniform(3, 40), y1 + rng.uniform(3, 30)))
    return logits, np.array(boxes, np.float32), hw


def near_threshold(logits, boxes, hw, thr=0.0, eps=1e-4) -> np.ndarray:
    """Pixels where some mask's reference value is within ``eps`` of the threshold."""
    near = np.zeros(hw, bool)
    for m, b in zip(logits, boxes):
        (ya, yb, xa, xb), patch = sample_in_box(m, b, hw)
        near[ya:yb, xa:xb] |= np.abs(patch - thr) < eps
    return near


# --------------------------------------------------------------------------- CPU emulation


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    cxx = shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler to emulate the CUDA kernels")
    from tests.fake_device import emu_flags

    lib = tmp_path_factory.mktemp("emu") / "emu.so"
    flags = emu_flags() if "g++" in Path(cxx).name else ["-O1", "-std=c++17"]
    proc = subprocess.run([cxx, *flags, "-shared", "-fPIC", f"-I{ROOT}",
                           str(EMU / "launch.cpp"), "-o", str(lib)], capture_output=True, text=True)
    if proc.returncode != 0 and "_Float16" in proc.stderr:
        pytest.skip("this C++ compiler has no _Float16")
    assert proc.returncode == 0, proc.stderr
    return ctypes.CDLL(str(lib))


def ptr(a: np.ndarray):
    assert a.flags.c_contiguous
    return a.ctypes.data_as(ctypes.c_void_p)


def ci(v) -> ctypes.c_int:
    return ctypes.c_int(int(v))


class EmuKernels:
    """The same calls as edge.cuda.kernels.CudaKernels, on host arrays."""

    def __init__(self, lib) -> None:
        self.lib = lib

    def preprocess(self, frame, desc, half=False):
        h, w = desc.input_size
        out = np.zeros((3, h, w), np.float16 if half else np.float32)
        scale, shift, chan = normalisation(desc)
        gx, gy = grid_2d(w, h)
        self.lib.emu_preprocess(ci(half), ptr(frame), ci(frame.shape[0]), ci(frame.shape[1]),
                                ci(frame.strides[0]), ptr(out), ci(h), ci(w), ptr(scale),
                                ptr(shift), ptr(chan), ci(gx), ci(gy), ci(BLOCK_2D[0]),
                                ci(BLOCK_2D[1]))
        return out

    def crop_gather(self, fmap, windows, out_hw, mode, half=False):
        c, h, w = fmap.shape
        n = windows.shape[0]
        src = np.ascontiguousarray(fmap.astype(np.float16) if half else fmap)
        out = np.zeros((n, c, *out_hw), src.dtype)
        self.lib.emu_crop_gather(ci(half), ptr(src), ci(c), ci(h), ci(w), ptr(windows), ci(n),
                                 ptr(out), ci(out_hw[0]), ci(out_hw[1]), ci(CROP_MODES[mode]),
                                 ci(grid_1d(out.size)), ci(BLOCK_1D))
        return out

    def paste(self, logits, boxes, hw, thr=0.0):
        flat, offsets, mh, mw = pack_masks(logits)
        out = np.full(hw, -1, np.int32)
        gx, gy = grid_2d(hw[1], hw[0])
        self.lib.emu_paste_masks(ptr(flat), ptr(offsets), ptr(mh), ptr(mw),
                                 ptr(np.ascontiguousarray(boxes, np.float32)), ci(len(logits)),
                                 ptr(out), ci(hw[0]), ci(hw[1]), ctypes.c_float(thr), ci(gx),
                                 ci(gy), ci(BLOCK_2D[0]), ci(BLOCK_2D[1]))
        return out

    def blend(self, frame, ids, lut, alpha):
        out = frame.copy()
        h, w = ids.shape
        gx, gy = grid_2d(w, h)
        self.lib.emu_blend_overlay(ptr(out), ci(h), ci(w), ci(out.strides[0]), ptr(ids),
                                   ptr(lut), ci(len(lut)), ctypes.c_float(alpha), ci(gx), ci(gy),
                                   ci(BLOCK_2D[0]), ci(BLOCK_2D[1]))
        return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("half", [False, True])
def test_emulated_preprocess_matches_numpy(emu, seed, half) -> None:
    desc, frame = preprocess_case(seed)
    out = EmuKernels(emu).preprocess(frame, desc, half)
    np.testing.assert_allclose(out.astype(np.float32), preprocess(frame, desc),
                               atol=2e-2 if half else 1e-4)


@pytest.mark.parametrize("mode", list(CROP_MODES))
@pytest.mark.parametrize("half", [False, True])
def test_emulated_crop_gather_matches_numpy(emu, mode, half) -> None:
    fmap, windows, out_hw = crop_case(7, mode)
    out = EmuKernels(emu).crop_gather(fmap, windows, out_hw, mode, half)
    ref = gather_crops(fmap, windows, out_hw, mode)
    np.testing.assert_allclose(out.astype(np.float32), ref, atol=2e-2 if half else 1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_emulated_paste_matches_numpy(emu, seed) -> None:
    logits, boxes, hw = paste_case(seed)
    out = EmuKernels(emu).paste(logits, boxes, hw)
    ref = paste_masks(logits, boxes, hw)
    diff = out != ref
    assert out.min() >= 0  # every pixel written
    assert not (diff & ~near_threshold(logits, boxes, hw)).any()


BLEND_ALPHAS = (0.5, 0.3, 0.35, 0.45, 0.6, 0.7, 0.1, 1 / 3, 0.9)


def blend_case():
    """Every (pixel, colour) pair once: a fused multiply-add differs from NumPy's two
    roundings on a few hundred of them for most alphas."""
    frame = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], 256, 1).repeat(3, 2)
    frame = np.ascontiguousarray(frame)
    ids = np.broadcast_to(np.arange(1, 257, dtype=np.int32), (256, 256)).copy()
    ids[:, :7] = np.arange(7)  # and the palette, with id 0 (background) untouched
    lut = np.zeros((257, 3), np.uint8)
    lut[1:] = np.arange(256, dtype=np.uint8)[:, None]
    lut[1:len(PALETTE) + 1] = PALETTE
    return frame, ids, np.ascontiguousarray(lut)


def test_emulated_blend_matches_numpy(emu) -> None:
    frame, ids, lut = blend_case()
    for alpha in BLEND_ALPHAS:  # bit-exact for every alpha, not only 0.5
        np.testing.assert_array_equal(EmuKernels(emu).blend(frame, ids, lut, alpha),
                                      blend_reference(frame, ids, lut, alpha),
                                      err_msg=f"alpha {alpha}")


def test_emulated_exact_crop_never_reads_out_of_bounds(emu) -> None:
    """Exact mode: a window not exactly the branch input inside the map is refused on the
    host like NumPy's reference and gives NaN (no out-of-bounds read) on the device."""
    fmap, windows, out_hw = crop_case(7, "exact")
    bad = windows.copy()
    bad[1] = (14, 10, 16, 13)  # runs past the bottom (h = 12)
    bad[2] = (-1, 0, 1, 3)  # starts left of the map
    out = EmuKernels(emu).crop_gather(fmap, bad, out_hw, "exact")
    assert np.isnan(out[1:3]).all() and not np.isnan(out[[0, 3]]).any()
    np.testing.assert_array_equal(out[[0, 3]], gather_crops(fmap, windows[[0, 3]], out_hw,
                                                            "exact"))
    with pytest.raises(ValueError):
        gather_crops(fmap, bad[1:2], out_hw, "exact")
    with pytest.raises(ValueError, match="does not fit"):
        check_windows(bad, 4, fmap.shape[1:], out_hw, "exact")
    check_windows(windows, 4, fmap.shape[1:], out_hw, "exact")
    # resize modes clamp a window past the edge as NumPy's slicing does
    wide = np.array([[10, 8, 40, 30]], np.int32)
    for mode in ("resize", "resize_pool"):
        check_windows(wide, 1, fmap.shape[1:], (4, 3), mode)
        np.testing.assert_allclose(EmuKernels(emu).crop_gather(fmap, wide, (4, 3), mode),
                                   gather_crops(fmap, wide, (4, 3), mode), atol=1e-5)


def test_launch_configurations_cover_every_element() -> None:
    for w, h in ((1, 1), (31, 7), (32, 8), (33, 9), (1920, 1080)):
        gx, gy = grid_2d(w, h)
        assert gx * BLOCK_2D[0] >= w > (gx - 1) * BLOCK_2D[0]
        assert gy * BLOCK_2D[1] >= h > (gy - 1) * BLOCK_2D[1]
    assert grid_1d(0) == 1 and grid_1d(256) == 1 and grid_1d(257) == 2


def test_pack_masks_layout() -> None:
    a, b = np.ones((2, 3), np.float32), np.full((4, 1), 2, np.float32)
    flat, offsets, mh, mw = pack_masks([a, b])
    assert offsets.tolist() == [0, 6] and mh.tolist() == [2, 4] and mw.tolist() == [3, 1]
    assert flat[6:].tolist() == [2, 2, 2, 2]


# --------------------------------------------------------------------------- nvcc


def test_kernel_source_has_no_include() -> None:
    """pycuda's SourceModule runs `nvcc --preprocess` on every start for a source with
    #include; NVRTC would need a header path."""
    assert not [ln for ln in KERNEL_FILE.read_text().splitlines() if ln.strip().startswith(
        "#include")]


@pytest.mark.parametrize("arch", ["sm_87", "sm_75", "sm_110"])
def test_kernels_compile_with_nvcc(tmp_path, arch) -> None:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not on PATH")
    out = tmp_path / "k.ptx"
    proc = subprocess.run([nvcc, "-ptx", f"-arch={arch}", "-std=c++14", str(KERNEL_FILE),
                           "-o", str(out)], capture_output=True, text=True)
    if proc.returncode != 0 and "Unsupported gpu architecture" in proc.stderr:
        pytest.skip(f"this nvcc does not target {arch}")
    assert proc.returncode == 0, proc.stderr
    ptx = out.read_text()
    for name in ("preprocess_f32", "preprocess_f16", "crop_gather_f32", "crop_gather_f16",
                 "paste_masks", "blend_overlay"):
        assert f".entry {name}(" in ptx


# --------------------------------------------------------------------------- GPU


class PycudaDevice:
    """Device arrays and a stream through pycuda, in its own pushed primary context."""

    def __init__(self) -> None:
        import pycuda.driver as drv
        import pycuda.gpuarray as gpuarray

        drv.init()
        if drv.Device.count() < 1:
            raise RuntimeError("no device")
        self.drv, self.ga = drv, gpuarray
        self.ctx = drv.Device(0).retain_primary_context()
        self.ctx.push()
        self.stream = drv.Stream(flags=1)

    def put(self, a):
        return self.ga.to_gpu(np.ascontiguousarray(a))

    def full(self, shape, value, dtype):
        out = self.ga.empty(shape, dtype)
        out.fill(value)
        return out

    def ptr(self, d) -> int:
        return int(d.gpudata)

    def get(self, d) -> np.ndarray:
        self.stream.synchronize()
        return d.get()

    def close(self) -> None:
        self.drv.Context.synchronize()
        self.drv.Context.pop()
        self.ctx.detach()


class CupyDevice:
    """Device arrays and a non-default stream through CuPy."""

    def __init__(self) -> None:
        import cupy as cp

        if cp.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no device")
        self.cp = cp
        self.stream = cp.cuda.Stream(non_blocking=True)

    def put(self, a):
        return self.cp.asarray(np.ascontiguousarray(a))

    def full(self, shape, value, dtype):
        return self.cp.full(shape, value, dtype)

    def ptr(self, d) -> int:
        return int(d.data.ptr)

    def get(self, d) -> np.ndarray:
        self.stream.synchronize()
        return self.cp.asnumpy(d)

    def close(self) -> None:
        self.cp.cuda.runtime.deviceSynchronize()


@pytest.fixture(scope="module", params=["pycuda", "cupy"])
def gpu(request):
    try:
        dev = PycudaDevice() if request.param == "pycuda" else CupyDevice()
    except Exception as exc:  # ImportError, CUDA driver errors: no usable GPU here
        pytest.skip(f"no CUDA GPU with {request.param} ({type(exc).__name__}: {exc})")
    from edge.cuda.kernels import CudaKernels

    try:
        k = CudaKernels(request.param)
        if request.param == "pycuda":
            assert k.image.endswith((".cubin", ".ptx")), k.image  # prebuilt, no nvcc
        yield dev, k
    finally:
        dev.close()


@pytest.mark.gpu
@pytest.mark.parametrize("half", [False, True])
def test_gpu_preprocess_matches_numpy(gpu, half) -> None:
    dev, k = gpu
    for seed in range(3):
        desc, frame = preprocess_case(seed)
        h, w = desc.input_size
        src = dev.put(frame)
        dst = dev.full((3, h, w), 0, np.float16 if half else np.float32)
        k.preprocess(dev.ptr(src), frame.shape[0], frame.shape[1], frame.strides[0],
                     dev.ptr(dst), h, w, desc, half, stream=dev.stream)
        np.testing.assert_allclose(dev.get(dst).astype(np.float32), preprocess(frame, desc),
                                   atol=2e-2 if half else 1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("mode", list(CROP_MODES))
@pytest.mark.parametrize("half", [False, True])
def test_gpu_crop_gather_matches_numpy(gpu, mode, half) -> None:
    dev, k = gpu
    fmap, windows, out_hw = crop_case(7, mode)
    src = dev.put(fmap.astype(np.float16) if half else fmap)
    out = dev.full((len(windows), fmap.shape[0], *out_hw), 0,
                   np.float16 if half else np.float32)
    win = dev.put(windows)
    k.crop_gather(dev.ptr(src), *fmap.shape, dev.ptr(win), len(windows), dev.ptr(out), *out_hw,
                  mode, half, stream=dev.stream, host_windows=windows)
    np.testing.assert_allclose(dev.get(out).astype(np.float32),
                               gather_crops(fmap, windows, out_hw, mode),
                               atol=2e-2 if half else 1e-4)


@pytest.mark.gpu
def test_gpu_paste_and_blend_match_numpy(gpu) -> None:
    dev, k = gpu
    for seed in range(4):
        logits, boxes, hw = paste_case(seed)
        flat, offsets, mh, mw = (dev.put(a) for a in pack_masks(logits))
        b = dev.put(boxes)
        out = dev.full(hw, -1, np.int32)
        k.paste(dev.ptr(flat), dev.ptr(offsets), dev.ptr(mh), dev.ptr(mw), dev.ptr(b),
                len(logits), dev.ptr(out), hw[0], hw[1], 0.0, stream=dev.stream)
        ids = dev.get(out)
        ref = paste_masks(logits, boxes, hw)
        assert not ((ids != ref) & ~near_threshold(logits, boxes, hw)).any()
    frame, ids, lut = blend_case()
    d_ids, d_lut = dev.put(ids), dev.put(lut)
    for alpha in BLEND_ALPHAS:
        f = dev.put(frame)
        k.blend(dev.ptr(f), *ids.shape, frame.strides[0], dev.ptr(d_ids), dev.ptr(d_lut),
                len(lut), alpha, stream=dev.stream)
        np.testing.assert_array_equal(dev.get(f), blend_reference(frame, ids, lut, alpha),
                                      err_msg=f"alpha {alpha}")
