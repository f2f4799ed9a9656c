"""Rendering: masks blended in instance colours (or, for semantic models, the dataset's
class colours with a legend), boxes with labels, and a latency panel, drawn into a reused
output buffer. Masks are blended with NumPy; boxes and text use OpenCV when it is
importable (it is wherever frames come from a camera or a file)."""

from __future__ import annotations

import numpy as np

from edge.optional import available
from edge.palette import DISTINCT, class_colours

# instance i gets PALETTE[i % 20]
PALETTE = DISTINCT

FONT_SCALE = 0.45
LINE_H = 16  # pixels per text line at FONT_SCALE


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


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Do the x1, y1, x2, y2 rectangles ``a`` and ``b`` intersect?"""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class Renderer:
    """Draws one result onto a copy of its frame; the copy's buffer is reused."""

    def __init__(self, alpha: float = 0.5, draw_boxes: bool = True,
                 legend: bool = True) -> None:
        self.alpha = alpha
        self.draw_boxes = draw_boxes
        self.legend = legend
        self._class_lut: tuple[tuple[str, ...], np.ndarray] | None = None
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

    def class_lut(self, class_names: tuple[str, ...]) -> np.ndarray:
        """Label map + 1 -> BGR: index 0 unused, class c at c + 1 (cached per model)."""
        if self._class_lut is None or self._class_lut[0] != tuple(class_names):
            lut = np.concatenate([np.zeros((1, 3), np.uint8), class_colours(class_names)])
            self._class_lut = (tuple(class_names), lut)
        return self._class_lut[1]

    def __call__(self, frame: np.ndarray, result, overlay: list[str] | None = None
                 ) -> np.ndarray:
        """``result`` is a :class:`edge.runtime.model.FrameResult`; ``overlay`` lines of text
        (FPS, stage latency) are written top-left on a dimmed panel that box labels avoid."""
        out = self._buffer(frame)
        cv2 = self._cv2
        panel = self._panel_rect(overlay, out.shape) if overlay and cv2 is not None else None
        if result.task == "semantic":
            lut = self.class_lut(result.class_names)
            self._blend(out, result.labels.astype(np.int64) + 1, lut)
            if self.legend and cv2 is not None:
                self._legend(out, result, lut)
        else:
            ids = result.instance_map
            lut = self._lut
            if len(result) >= len(lut) - 1:
                lut = np.concatenate([lut[:1]] + [PALETTE] * (len(result) // 20 + 1))
            self._blend(out, ids, lut)
            if self.draw_boxes and cv2 is not None:
                self._boxes(out, result, panel)
        if panel is not None:
            self._text(out, overlay, panel)
        return out

    def _panel_rect(self, lines: list[str], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        cv2 = self._cv2
        width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, 1)[0][0]
                    for t in lines)
        return (0, 0, min(shape[1], width + 12), min(shape[0], 8 + LINE_H * len(lines)))

    def _boxes(self, out: np.ndarray, result,
               panel: tuple[int, int, int, int] | None) -> None:
        """Boxes, and labels on a filled tag of the box's colour: above the box, or inside
        it where the frame's top edge or the latency panel is in the way."""
        cv2 = self._cv2
        h_img = out.shape[0]
        for i in range(len(result)):
            x1, y1, x2, y2 = (int(round(float(v))) for v in result.boxes[i])
            colour = tuple(int(c) for c in PALETTE[i % len(PALETTE)])
            cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
            name = result.class_names[int(result.classes[i])]
            label = f"{name} {float(result.scores[i]):.2f}"
            (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, 1)
            tag_h = th + base + 4
            x = max(0, x1)
            top = y1 - tag_h if y1 - tag_h >= 0 else max(0, y1)  # above, else inside
            if panel is not None and _overlaps((x, top, x + tw + 4, top + tag_h), panel):
                top = panel[3]  # just below the panel
            top = min(top, max(0, h_img - tag_h))
            cv2.rectangle(out, (x, top), (x + tw + 4, top + tag_h), colour, -1)
            ink = (0, 0, 0) if sum(colour) > 3 * 110 else (255, 255, 255)
            cv2.putText(out, label, (x + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE,
                        ink, 1, cv2.LINE_AA)

    def _legend(self, out: np.ndarray, result, lut: np.ndarray) -> None:
        """The classes present in the frame, each with its colour, bottom-left."""
        cv2 = self._cv2
        present = np.flatnonzero(np.bincount(result.labels.ravel(),
                                             minlength=len(result.class_names)))
        present = present[present < len(result.class_names)]
        if present.size == 0:
            return
        names = [result.class_names[int(c)] for c in present]
        width = max(cv2.getTextSize(n, cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, 1)[0][0]
                    for n in names) + 32
        h, w = out.shape[:2]
        y0 = max(0, h - 6 - LINE_H * len(names))
        region = out[y0:h, 0:min(w, width)]
        region //= 3
        for k, (c, n) in enumerate(zip(present, names)):
            y = y0 + 3 + LINE_H * k
            colour = tuple(int(v) for v in lut[int(c) + 1])
            cv2.rectangle(out, (6, y + 2), (18, y + LINE_H - 3), colour, -1)
            cv2.putText(out, n, (24, y + LINE_H - 4), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE,
                        (255, 255, 255), 1, cv2.LINE_AA)

    def _text(self, out: np.ndarray, lines: list[str],
              panel: tuple[int, int, int, int]) -> None:
        """White text on a dimmed panel: legible over any scene, with no shadow stroke
        (a thick shadow is wider than the glyphs with OpenCV 5 and leaves ghost letters)."""
        cv2 = self._cv2
        dark = out[panel[1]:panel[3], panel[0]:panel[2]]
        dark //= 3
        for k, line in enumerate(lines):
            cv2.putText(out, line, (6, 18 + LINE_H * k), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE,
                        (255, 255, 255), 1, cv2.LINE_AA)
