"""Centre-size box coding (SSD / Faster R-CNN), one coder for training and inference.

A box is encoded against an anchor as ``(dx, dy, dw, dh) = (wx * (cx - cxa) / wa,
wy * (cy - cya) / ha, ww * log(w / wa), wh * log(h / ha))`` with the thesis's scale
factors ``(10, 10, 5, 5)``. :mod:`edge.models.geometry_torch` mirrors it for losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .boxes import FloatArray

# exp() of larger log-scales overflows float16 and means a box >1000x its anchor.
DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)


def _centre_size(boxes: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h


@dataclass(frozen=True)
class BoxCoder:
    """Encode boxes against anchors and decode regressions back to boxes.

    Boxes and anchors are ``(..., 4)`` ``(x1, y1, x2, y2)``; codes are ``(..., 4)``
    ``(dx, dy, dw, dh)``. ``decode(encode(b, a), a) == b`` up to float rounding.
    """

    weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    scale_clamp: float = DEFAULT_SCALE_CLAMP

    def encode(self, boxes: FloatArray, anchors: FloatArray) -> FloatArray:
        """Regression targets of ``boxes`` w.r.t. ``anchors`` (same leading shape)."""
        boxes = np.asarray(boxes, dtype=np.float64)
        anchors = np.asarray(anchors, dtype=np.float64)
        wx, wy, ww, wh = self.weights
        cx, cy, w, h = _centre_size(boxes)
        acx, acy, aw, ah = _centre_size(anchors)
        eps = 1e-8
        codes = np.stack(
            [
                wx * (cx - acx) / aw,
                wy * (cy - acy) / ah,
                ww * np.log(np.maximum(w, eps) / aw),
                wh * np.log(np.maximum(h, eps) / ah),
            ],
            axis=-1,
        )
        return codes.astype(np.float32)

    def decode(self, codes: FloatArray, anchors: FloatArray) -> FloatArray:
        """Boxes from regression ``codes`` (..., 4) and ``anchors`` (..., 4)."""
        codes = np.asarray(codes, dtype=np.float64)
        anchors = np.asarray(anchors, dtype=np.float64)
        wx, wy, ww, wh = self.weights
        acx, acy, aw, ah = _centre_size(anchors)
        cx = codes[..., 0] / wx * aw + acx
        cy = codes[..., 1] / wy * ah + acy
        w = np.exp(np.minimum(codes[..., 2] / ww, self.scale_clamp)) * aw
        h = np.exp(np.minimum(codes[..., 3] / wh, self.scale_clamp)) * ah
        boxes = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)
        return boxes.astype(np.float32)
