"""Bilinear resampling with half-pixel centres: the NumPy reference.

Matches ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
antialias=False)``, ONNX ``Resize`` (linear, half_pixel) and TensorRT's resize: the
source coordinate of destination pixel ``j`` is ``(j + 0.5) * in / out - 0.5``,
clamped to the edge. The CUDA crop and paste kernels are tested against this.
"""

from __future__ import annotations

import math

import numpy as np

from .boxes import FloatArray


def axis_taps(src_len: int, positions: FloatArray, lo: float, hi: float):
    """Bilinear taps along one axis.

    ``positions`` are destination sample points (pixel centres) in a frame where the
    source's ``src_len`` samples span ``[lo, hi)``. Returns ``(i0, i1, frac)`` with
    ``value = src[i0] * (1 - frac) + src[i1] * frac``.
    """
    u = (np.asarray(positions, dtype=np.float64) - lo) / (hi - lo) * src_len - 0.5
    u = np.clip(u, 0.0, src_len - 1)
    i0 = np.floor(u).astype(np.int64)
    i1 = np.minimum(i0 + 1, src_len - 1)
    return i0, i1, (u - i0).astype(np.float32)


def interp_matrix(src_len: int, positions: FloatArray, lo: float, hi: float) -> FloatArray:
    """(len(positions), src_len) float32 matrix ``M`` with ``dst = M @ src`` (bilinear)."""
    i0, i1, f = axis_taps(src_len, positions, lo, hi)
    m = np.zeros((len(i0), src_len), dtype=np.float32)
    rows = np.arange(len(i0))
    np.add.at(m, (rows, i0), 1.0 - f)
    np.add.at(m, (rows, i1), f)
    return m


def _sample(x: FloatArray, my: FloatArray, mx: FloatArray) -> FloatArray:
    """``my @ x @ mx.T`` over the last two axes: separable bilinear as BLAS products.

    The column pass is one GEMM over all leading axes (contiguous input keeps NumPy on
    its BLAS path; a strided crop view would fall back to a slow loop).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    *lead, h, w = x.shape
    cols = (x.reshape(-1, w) @ np.ascontiguousarray(mx.T)).reshape(*lead, h, mx.shape[0])
    return np.matmul(my, cols)


def resize_bilinear(x: FloatArray, out_hw: tuple[int, int]) -> FloatArray:
    """Resize the last two axes of ``x`` (..., h, w) to ``out_hw`` -> float32 (..., oh, ow)."""
    oh, ow = out_hw
    h, w = x.shape[-2:]
    if (h, w) == (oh, ow):
        return np.asarray(x, dtype=np.float32).copy()
    my = interp_matrix(h, np.arange(oh) + 0.5, 0.0, float(oh))
    mx = interp_matrix(w, np.arange(ow) + 0.5, 0.0, float(ow))
    return _sample(x, my, mx)


def box_pixel_span(lo: float, hi: float, limit: int) -> tuple[int, int]:
    """Pixels ``[a, b)`` whose centres lie in ``[lo, hi)``, clipped to ``[0, limit)``."""
    a = max(0, math.ceil(lo - 0.5))
    b = min(limit, math.ceil(hi - 0.5))
    return a, max(a, b)


def sample_in_box(
    values: FloatArray, box: FloatArray, frame_hw: tuple[int, int]
) -> tuple[tuple[int, int, int, int], FloatArray]:
    """Stretch ``values`` (h, w) over ``box`` ``(x1, y1, x2, y2)`` of a frame.

    Returns the covered pixel window ``(y0, y1, x0, x1)`` (half-open, clipped to the
    frame) and the bilinearly sampled patch there. For an integer box of extent
    ``(H, W)`` inside the frame this equals ``resize_bilinear(values, (H, W))``.
    """
    fh, fw = frame_hw
    bx0, by0, bx1, by1 = (float(v) for v in box)
    ya, yb = box_pixel_span(by0, by1, fh)
    xa, xb = box_pixel_span(bx0, bx1, fw)
    h, w = values.shape[-2:]
    my = interp_matrix(h, np.arange(ya, yb) + 0.5, by0, by1)
    mx = interp_matrix(w, np.arange(xa, xb) + 0.5, bx0, bx1)
    return (ya, yb, xa, xb), _sample(values, my, mx)


def max_pool_2x2(x: FloatArray) -> FloatArray:
    """2x2 stride-2 max pooling of the last two axes (both must be even)."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(f"2x2 max pooling needs even height and width, got {h}x{w}")
    top = np.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2])
    return np.maximum(top, np.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))
