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


def preprocess(frame: np.ndarray, desc: ModelDescription) -> np.ndarray:
    """(H, W, 3) uint8 BGR -> (3, h, w) float32 normalised network input."""
    check_frame(frame)
    chw = np.transpose(frame, (2, 0, 1))
    if desc.channel_order == "RGB":
        chw = chw[::-1]
    h, w = desc.input_size
    x = resize_bilinear(chw.astype(np.float32), (h, w))
    mean = np.asarray(desc.mean, np.float32)[:, None, None]
    inv_std = (1.0 / np.asarray(desc.std, np.float32))[:, None, None]
    return ((x - mean) * inv_std).astype(np.float32)


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
