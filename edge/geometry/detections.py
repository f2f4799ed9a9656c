"""SSD post-processing: class scores + box regressions -> final detections.

Shared by evaluation, export parity checks and the runtime's host-side NMS path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .boxes import FloatArray, IntArray, batched_nms, clip_boxes
from .coder import BoxCoder


@dataclass(frozen=True)
class Detections:
    """Detections of one image, highest score first.

    boxes (N, 4) float32 ``(x1, y1, x2, y2)`` input pixels; scores (N,) float32;
    classes (N,) int64 foreground class index (0 = first class name).
    """

    boxes: FloatArray
    scores: FloatArray
    classes: IntArray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros(0, np.int64))


def softmax(logits: FloatArray, axis: int = -1) -> FloatArray:
    """Numerically stable softmax."""
    z = np.asarray(logits, dtype=np.float32)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def select_detections(
    codes: FloatArray,
    class_logits: FloatArray,
    anchors: FloatArray,
    image_hw: tuple[int, int],
    *,
    coder: BoxCoder,
    score_threshold: float,
    iou_threshold: float,
    max_detections: int,
    pre_nms_top_k: int = 1000,
) -> Detections:
    """Decode one image's SSD outputs into at most ``max_detections`` detections.

    codes (A, 4) regressions; class_logits (A, K + 1) with background at index 0;
    anchors (A, 4). Softmax, per-class score threshold, keep the ``pre_nms_top_k`` best
    (anchor, class) pairs, decode and clip them, per-class NMS, top ``max_detections``.
    """
    probs = softmax(class_logits)[:, 1:]
    anchor_idx, cls = np.nonzero(probs > score_threshold)
    if anchor_idx.size == 0:
        return Detections.empty()
    scores = probs[anchor_idx, cls]
    if scores.size > pre_nms_top_k:
        top = np.argsort(-scores, kind="stable")[:pre_nms_top_k]
        anchor_idx, cls, scores = anchor_idx[top], cls[top], scores[top]
    boxes = clip_boxes(coder.decode(codes[anchor_idx], anchors[anchor_idx]), image_hw)
    keep = batched_nms(boxes, scores, cls, iou_threshold)[:max_detections]
    return Detections(boxes[keep].astype(np.float32), scores[keep].astype(np.float32),
                      cls[keep].astype(np.int64))
