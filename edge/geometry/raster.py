"""RoI rasterisation of seed 000's RoI-masked segmentation (seed-systems.md 1.1, 1.4.3/4).

Pure NumPy: the definition that :mod:`edge.models.roimask` mirrors as graph ops (and is
tested equal to, exactly). Three pieces replace the seed's Caffe Python layers:

* :func:`box_mask`: the RoI mask ``M`` on a stride-``s`` grid. The seed sets "the
  pass-band inside the resulting boxes"; on a coarse grid that needs a rounding rule, and
  we round *outward* (1.4.3): cell ``(i, j)`` covers pixels ``[j s, (j+1) s) x
  [i s, (i+1) s)`` and is inside a box when ``x1 < (j+1) s and x2 > j s`` (same for y),
  so a box never loses the cells it partly covers (features there are not zeroed).
  Only boxes whose score is strictly above ``threshold`` count; the mask is their union.
* :func:`confidence_maps`: the "Global RoI-Level Context" CMaps, one map per detector
  class (background included): the max of the class probability over the boxes covering
  a cell, 0 where none does (1.4.4). Max (not sum) keeps the map a probability and makes
  duplicate boxes harmless.
* :func:`background_correction`: the "CMap Element sum" of 5.2.2.1: masked positions have
  all-zero scores (cross-entropy log K); adding ``value`` (20) to the background channel
  there makes their loss ~0 and their prediction background with margin ``value``.

Boxes are ``(x1, y1, x2, y2)`` pixels of the network input, scores and probabilities
float32; probabilities must be non-negative (softmax outputs or one-hot), which the
max-with-zero-outside definition relies on. A zero-size box strictly inside a cell marks
that cell (the comparison rule above, taken literally).
"""

from __future__ import annotations

import numpy as np

from .boxes import FloatArray


def _inside(boxes: FloatArray, scores: FloatArray, hw: tuple[int, int], stride: int,
            threshold: float) -> np.ndarray:
    """(N, h, w) bool: cell inside box n (outward rounding) and ``scores[n] > threshold``."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float32).reshape(-1)
    if s.shape[0] != b.shape[0]:
        raise ValueError(f"{b.shape[0]} boxes but {s.shape[0]} scores")
    h, w = hw
    left = np.arange(w, dtype=np.float32) * np.float32(stride)
    top = np.arange(h, dtype=np.float32) * np.float32(stride)
    right, bottom = left + np.float32(stride), top + np.float32(stride)
    in_x = (b[:, 0, None] < right) & (b[:, 2, None] > left)  # (N, w)
    in_y = (b[:, 1, None] < bottom) & (b[:, 3, None] > top)  # (N, h)
    valid = s > np.float32(threshold)
    return in_y[:, :, None] & in_x[:, None, :] & valid[:, None, None]


def box_mask(boxes: FloatArray, scores: FloatArray, hw: tuple[int, int], stride: int,
             threshold: float) -> FloatArray:
    """(h, w) float32 {0, 1}: union of the boxes scoring above ``threshold`` on the
    stride-``stride`` grid of ``hw`` cells, rounded outward."""
    inside = _inside(boxes, scores, hw, stride, threshold)
    return inside.any(axis=0).astype(np.float32)


def confidence_maps(boxes: FloatArray, scores: FloatArray, probs: FloatArray,
                    hw: tuple[int, int], stride: int, threshold: float) -> FloatArray:
    """(C, h, w) float32: per class c, ``max_n probs[n, c]`` over the boxes covering the
    cell (as in :func:`box_mask`), 0 where no box does. ``probs`` is (N, C) >= 0."""
    inside = _inside(boxes, scores, hw, stride, threshold).astype(np.float32)
    p = np.asarray(probs, dtype=np.float32).reshape(inside.shape[0], -1)
    per_box = inside[:, None] * p[:, :, None, None]  # (N, C, h, w)
    return np.max(per_box, axis=0, initial=np.float32(0.0)).astype(np.float32)


def background_correction(logits: FloatArray, mask: FloatArray, value: float) -> FloatArray:
    """``logits`` (..., K, h, w) with channel 0 raised by ``value * (1 - mask)``; ``mask``
    (h, w) (or broadcastable to (..., h, w)) is 1 inside the RoIs. Returns a new array."""
    out = np.array(logits, dtype=np.float32, copy=True)
    m = np.asarray(mask, dtype=np.float32)
    out[..., 0, :, :] = out[..., 0, :, :] + np.float32(value) * (np.float32(1.0) - m)
    return out
