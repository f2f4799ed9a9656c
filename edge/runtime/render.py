"""Rendering: masks blended in instance (or class) colours, boxes, scores and a latency
overlay, drawn into a reused output buffer. Masks are blended with NumPy; boxes and text
use OpenCV when it is importable (it is wherever frames come from a camera or a file)."""

from __future__ import annotations

import numpy as np

from edge.optional import available

# 20 well-separated BGR colours; instance i gets PALETTE[i % 20], class c of a semantic
# model PALETTE[c % 20].
PALETTE = np.array([
    (75, 25, 230), (75, 180, 60), (25, 225, 255), (200, 130, 0), (48, 130, 245),
    (180, 30, 145), (240, 240, 70), (230, 50, 240), (60, 245, 210), (212, 190, 250),
    (128, 128, 0), (255, 190, 220), (40, 110, 170), (200, 250, 255), (0, 0, 128),
    (195, 255, 170), (0, 128, 128), (180, 215, 255), (128, 0, 0), (128, 128, 128)], np.uint8)


def blend_reference(frame: np.ndarray, ids: np.ndarray, lut: np.ndarray,
                    alpha: float) -> np.ndarray:
    """NumPy reference of the overlay (and of the ``blend_overlay`` CUDA kernel): where
    ``ids > 0``, ``round((1 - alpha) * pixel + alpha * lut[ids % len(lut)])`` (float32,
    round half to even)."""
    out = frame.copy()
    sel = ids > 0
    colour = lut[ids[sel] % len(lut)].astype(np.float32)
    a = np.float32(alpha)
    mixed = (np.float32(1) - a) * out[sel].astype(np.float32) + a * colour
    out[sel] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return out


class Renderer:
    """Draws one result onto a copy of its frame; the copy's buffer is reused."""

    def __init__(self, alpha: float = 0.5, draw_boxes: bool = True) -> None:
        self.alpha = alpha
        self.draw_boxes = draw_boxes
        self._out: np.ndarray | None = None
        self._cv2 = None
        if available("cv2"):
            import cv2

            self._cv2 = cv2
        # instance id -> colour (0 = background, unused)
        self._lut = np.concatenate([np.zeros((1, 3), np.uint8), np.tile(PALETTE, (13, 1))])

    def _buffer(self, frame: np.ndarray) -> np.ndarray:
        if self._out is None or self._out.shape != frame.shape:
            self._out = np.empty_like(frame)
        np.copyto(self._out, frame)
        return self._out

    def _blend(self, out: np.ndarray, ids: np.ndarray, colours: np.ndarray) -> None:
        """``out = (1 - alpha) * out + alpha * colours[ids]`` where ``ids > 0``."""
        sel = ids > 0
        ys, xs = np.nonzero(sel.any(axis=1))[0], np.nonzero(sel.any(axis=0))[0]
        if ys.size == 0:
            return
        win = (slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1))  # only where masks are
        region, ids_w = out[win], ids[win]
        paint = np.take(colours, ids_w, axis=0)  # 3x faster than colours[ids_w]
        if self._cv2 is not None:
            mixed = self._cv2.addWeighted(region, 1 - self.alpha, paint, self.alpha, 0.0)
            self._cv2.copyTo(mixed, sel[win].view(np.uint8), region)
        else:
            region[...] = blend_reference(region, ids_w, colours, self.alpha)

    def __call__(self, frame: np.ndarray, result, overlay: list[str] | None = None
                 ) -> np.ndarray:
        """``result`` is a :class:`edge.runtime.model.FrameResult`; ``overlay`` lines of text
        (FPS, stage latency) are written top-left."""
        out = self._buffer(frame)
        if result.task == "semantic":
            self._blend(out, result.labels.astype(np.int64) + 1, self._lut)
        else:
            ids = result.instance_map
            lut = self._lut
            if len(result) >= len(lut) - 1:
                lut = np.concatenate([lut[:1]] + [PALETTE] * (len(result) // 20 + 1))
            self._blend(out, ids, lut)
            if self.draw_boxes and self._cv2 is not None:
                self._boxes(out, result)
        if overlay and self._cv2 is not None:
            self._text(out, overlay)
        return out

    def _boxes(self, out: np.ndarray, result) -> None:
        cv2 = self._cv2
        for i in range(len(result)):
            x1, y1, x2, y2 = (int(round(float(v))) for v in result.boxes[i])
            colour = tuple(int(c) for c in PALETTE[i % len(PALETTE)])
            cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
            name = result.class_names[int(result.classes[i])]
            label = f"{name} {float(result.scores[i]):.2f}"
            cv2.putText(out, label, (x1 + 2, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, label, (x1 + 2, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        colour, 1, cv2.LINE_AA)

    def _text(self, out: np.ndarray, lines: list[str]) -> None:
        cv2 = self._cv2
        width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0] for t in lines)
        dark = out[:8 + 16 * len(lines), :width + 12]
        dark //= 3  # a dimmed panel keeps the text legible over any scene
        for k, line in enumerate(lines):
            y = 18 + 16 * k
            cv2.putText(out, line, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3,
                        cv2.LINE_AA)
            cv2.putText(out, line, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                        cv2.LINE_AA)
