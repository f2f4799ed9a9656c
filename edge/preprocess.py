"""Frame -> network input: the one preprocessing, used by training, calibration and the
CPU runtime (the CUDA kernel is tested against it).

A BGR uint8 frame (OpenCV's order) of any size is resized to the description's input
size (stretch, bilinear with half-pixel centres), converted to the model's channel
order and normalised as ``(pixel - mean) / std``, giving planar (3, H, W) float32.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from edge.description import ModelDescription
from edge.errors import ConfigError
from edge.geometry.resample import resize_bilinear


def check_frame(frame: np.ndarray) -> None:
    """Refuse what is not an (H, W, 3) uint8 image, naming what was found."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ConfigError(f"expected an (H, W, 3) uint8 BGR frame, got {frame.dtype} "
                          f"array of shape {frame.shape}")


def normalisation(desc: ModelDescription) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scale, shift, source channel) per network input channel: channel ``c`` is
    ``frame[..., src[c]] * scale[c] - shift[c]`` (scale = 1/std, shift = mean/std; BGR
    frames, so RGB models read channels 2, 1, 0). Shared by the reference, the stream
    preprocessor and the CUDA kernel."""
    scale = (1.0 / np.asarray(desc.std, np.float32)).astype(np.float32)
    shift = (np.asarray(desc.mean, np.float32) * scale).astype(np.float32)
    src = np.array((2, 1, 0) if desc.channel_order == "RGB" else (0, 1, 2), np.int32)
    return scale, shift, src


def preprocess(frame: np.ndarray, desc: ModelDescription) -> np.ndarray:
    """(H, W, 3) uint8 BGR -> (3, h, w) float32 normalised network input."""
    check_frame(frame)
    scale, shift, src = normalisation(desc)
    chw = np.transpose(frame, (2, 0, 1))[src]
    x = resize_bilinear(chw.astype(np.float32), desc.input_size)
    return (x * scale[:, None, None] - shift[:, None, None]).astype(np.float32)


class Preprocessor:
    """:func:`preprocess` for a stream, with everything per-frame made once.

    Bilinear resize is two taps per output pixel; the dense matrices of the reference
    would cost a GFLOP per 640x640 frame. With OpenCV present its float32 ``INTER_LINEAR``
    resize is used (same half-pixel bilinear, equal to the reference within 1e-6); without
    it, NumPy gathers the two taps. Returns the same (1, 3, h, w) buffer every call,
    overwritten by the next frame.
    """

    def __init__(self, desc: ModelDescription, use_cv2: bool = True) -> None:
        self.desc = desc
        h, w = desc.input_size
        self.out = np.empty((1, 3, h, w), np.float32)
        self._scale, self._shift, self._src = normalisation(desc)
        self._cv2 = None
        if use_cv2:
            from edge.optional import available

            if available("cv2"):
                import cv2

                self._cv2 = cv2
        self._size: tuple[int, int] | None = None

    def _prepare(self, fh: int, fw: int) -> None:
        from edge.geometry.resample import axis_taps

        h, w = self.desc.input_size
        self._size = (fh, fw)
        self._f32 = np.empty((fh, fw, 3), np.float32)
        self._rs = np.empty((h, w, 3), np.float32)
        self._ry = axis_taps(fh, np.arange(h) + 0.5, 0.0, float(h))
        self._rx = axis_taps(fw, np.arange(w) + 0.5, 0.0, float(w))

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        check_frame(frame)
        fh, fw = frame.shape[:2]
        if self._size != (fh, fw):
            self._prepare(fh, fw)
        h, w = self.desc.input_size
        if self._cv2 is not None:
            np.copyto(self._f32, frame, casting="unsafe")
            self._cv2.resize(self._f32, (w, h), dst=self._rs,
                             interpolation=self._cv2.INTER_LINEAR)
            rs = self._rs
        else:
            y0, y1, fy = self._ry
            x0, x1, fx = self._rx
            rows = frame[y0].astype(np.float32)
            rows += (frame[y1] - rows) * fy[:, None, None]
            rs = rows[:, x0]
            rs += (rows[:, x1] - rs) * fx[None, :, None]
        x = self.out[0]
        for c, src in enumerate(self._src):
            np.multiply(rs[:, :, src], self._scale[c], out=x[c])
            x[c] -= self._shift[c]
        return self.out


def frame_scale(frame_hw: tuple[int, int], desc: ModelDescription) -> tuple[float, float]:
    """(sx, sy): multiply network-input x/y by these to get frame pixels."""
    return frame_hw[1] / desc.input_size[1], frame_hw[0] / desc.input_size[0]


def to_frame_boxes(boxes: np.ndarray, frame_hw: tuple[int, int],
                   desc: ModelDescription) -> np.ndarray:
    """(N, 4) boxes in network-input pixels -> frame pixels (float32)."""
    sx, sy = frame_scale(frame_hw, desc)
    return (np.asarray(boxes, np.float32) * np.array([sx, sy, sx, sy], np.float32)).astype(
        np.float32)


def preprocessing_hash(desc: ModelDescription) -> str:
    """Short hash of everything that changes the network input; calibration sets and
    engines record it so a change of preprocessing invalidates them."""
    key = {"input_size": desc.input_size, "mean": desc.mean, "std": desc.std,
           "channel_order": desc.channel_order, "resize_mode": desc.resize_mode,
           "resample": "bilinear-half-pixel"}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
