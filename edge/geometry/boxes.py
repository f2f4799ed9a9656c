"""Box primitives. Boxes are ``(x1, y1, x2, y2)`` float arrays in pixels, shape (N, 4),
with ``x2 > x1`` and ``y2 > y1`` for non-empty boxes (torchvision's convention)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating]
IntArray = NDArray[np.integer]


def box_area(boxes: FloatArray) -> FloatArray:
    """(N, 4) -> (N,) area; degenerate boxes have area 0."""
    boxes = np.asarray(boxes)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def box_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """(N, 4), (M, 4) -> (N, M) intersection over union (0 where the union is empty)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def clip_boxes(boxes: FloatArray, image_hw: tuple[int, int]) -> FloatArray:
    """Clip (N, 4) boxes to ``[0, W] x [0, H]``; returns a new array."""
    h, w = image_hw
    out = np.array(boxes, dtype=np.float32, copy=True)
    np.clip(out[:, 0::2], 0, w, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, h, out=out[:, 1::2])
    return out


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> IntArray:
    """Greedy non-maximum suppression.

    boxes (N, 4), scores (N,) -> indices of kept boxes, highest score first. A box is
    dropped when its IoU with a kept, higher-scoring box is strictly above the
    threshold (ONNX NonMaxSuppression and torchvision use the same rule). Ties in
    score keep the lower index first (stable sort), so results are deterministic.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    scores = np.asarray(scores)
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    areas = box_area(boxes)
    keep: list[int] = []
    suppressed = np.zeros(boxes.shape[0], dtype=bool)
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(int(i))
        rest = order[pos + 1 :]
        rest = rest[~suppressed[rest]]
        if rest.size == 0:
            break
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        wh = np.clip(rb - lt, 0, None)
        inter = wh[:, 0] * wh[:, 1]
        union = areas[i] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        suppressed[rest[iou > iou_threshold]] = True
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: FloatArray, scores: FloatArray, classes: IntArray, iou_threshold: float
) -> IntArray:
    """Per-class NMS: boxes of different classes never suppress each other.

    Uses the coordinate-offset trick (each class shifted past every other), so it is one
    NMS call. Returns kept indices, highest score first.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(boxes.max() - min(boxes.min(), 0.0)) + 1.0
    shifted = boxes + (np.asarray(classes, dtype=np.float64) * span)[:, None]
    return nms(shifted, scores, iou_threshold)
