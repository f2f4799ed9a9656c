"""The CUDA kernels against their NumPy references.

Three levels, each skipping with its reason when the tool is missing:
- CPU emulation: kernels.cu compiled as C++ (tests/cuda_emu) with every thread of a launch
  run in a loop, launched with edge.cuda.kernels' own grid/block helpers; tests the
  kernels' arithmetic and indexing on any machine with g++.
- nvcc: the source compiles for Jetson Orin (sm_87) and Turing-class GPUs (sm_75).
- GPU: the compiled kernels on a real GPU (CuPy or pycuda), same comparisons.

Tolerances: float outputs 1e-4 absolute (FP32) / 2e-2 (FP16: half precision has 11
significant bits, an ulp of 2e-3 at the |x| < 4 used here, plus the reference's rounding); integer outputs exact except at pixels where the reference's sampled logit is
within 1e-4 of the threshold; the blend exactly equal.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge import catalog
from edge.cuda.kernels import (BLOCK_1D, BLOCK_2D, CROP_MODES, KERNEL_FILE, grid_1d, grid_2d,
                               pack_masks)
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
    lib = tmp_path_factory.mktemp("emu") / "emu.so"
    proc = subprocess.run([cxx, "-O1", "-std=c++17", "-shared", "-fPIC", f"-I{ROOT}",
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


def test_emulated_blend_matches_numpy(emu) -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    ids = rng.integers(0, 7, (37, 53)).astype(np.int32)
    lut = np.ascontiguousarray(np.concatenate([np.zeros((1, 3), np.uint8), PALETTE]))
    for alpha in (0.5, 0.3):
        np.testing.assert_array_equal(EmuKernels(emu).blend(frame, ids, lut, alpha),
                                      blend_reference(frame, ids, lut, alpha))


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


@pytest.mark.parametrize("arch", ["sm_87", "sm_75"])
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


@pytest.fixture(scope="module")
def gpu():
    try:
        import cupy as cp

        if cp.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no device")
    except Exception as exc:  # ImportError, CUDA driver errors: no usable GPU here
        pytest.skip(f"no CUDA GPU with CuPy ({type(exc).__name__}: {exc})")
    from edge.cuda.kernels import CudaKernels

    return cp, CudaKernels("cupy")


@pytest.mark.gpu
@pytest.mark.parametrize("half", [False, True])
def test_gpu_preprocess_matches_numpy(gpu, half) -> None:
    cp, k = gpu
    for seed in range(3):
        desc, frame = preprocess_case(seed)
        h, w = desc.input_size
        src = cp.asarray(frame)
        dst = cp.zeros((3, h, w), cp.float16 if half else cp.float32)
        k.preprocess(src.data.ptr, frame.shape[0], frame.shape[1], frame.strides[0],
                     dst.data.ptr, h, w, desc, half)
        np.testing.assert_allclose(cp.asnumpy(dst).astype(np.float32), preprocess(frame, desc),
                                   atol=2e-2 if half else 1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("mode", list(CROP_MODES))
@pytest.mark.parametrize("half", [False, True])
def test_gpu_crop_gather_matches_numpy(gpu, mode, half) -> None:
    cp, k = gpu
    fmap, windows, out_hw = crop_case(7, mode)
    src = cp.asarray(fmap.astype(np.float16) if half else fmap)
    out = cp.zeros((len(windows), fmap.shape[0], *out_hw), src.dtype)
    win = cp.asarray(windows)
    k.crop_gather(src.data.ptr, *fmap.shape, win.data.ptr, len(windows), out.data.ptr, *out_hw,
                  mode, half)
    np.testing.assert_allclose(cp.asnumpy(out).astype(np.float32),
                               gather_crops(fmap, windows, out_hw, mode),
                               atol=2e-2 if half else 1e-4)


@pytest.mark.gpu
def test_gpu_paste_and_blend_match_numpy(gpu) -> None:
    cp, k = gpu
    for seed in range(4):
        logits, boxes, hw = paste_case(seed)
        flat, offsets, mh, mw = (cp.asarray(a) for a in pack_masks(logits))
        b = cp.asarray(boxes)
        out = cp.full(hw, -1, cp.int32)
        k.paste(flat.data.ptr, offsets.data.ptr, mh.data.ptr, mw.data.ptr, b.data.ptr,
                len(logits), out.data.ptr, hw[0], hw[1], 0.0)
        ids = cp.asnumpy(out)
        ref = paste_masks(logits, boxes, hw)
        assert not ((ids != ref) & ~near_threshold(logits, boxes, hw)).any()
        frame = np.random.default_rng(seed).integers(0, 256, (*hw, 3), dtype=np.uint8)
        lut = np.ascontiguousarray(np.concatenate([np.zeros((1, 3), np.uint8), PALETTE]))
        f = cp.asarray(frame)
        k.blend(f.data.ptr, hw[0], hw[1], frame.strides[0], out.data.ptr,
                cp.asarray(lut).data.ptr, len(lut), 0.5)
        np.testing.assert_array_equal(cp.asnumpy(f), blend_reference(frame, ids,
                                                                     lut, 0.5))
