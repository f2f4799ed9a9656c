"""Training-time augmentation for detection and segmentation, with box and mask updates.

One affine warp does scale jitter, random crop/pad and horizontal flip for the image
(bilinear) and its masks or label map (nearest), straight to the network input size;
boxes are recomputed from the warped masks, so they stay tight. Photometric jitter
(brightness, contrast, saturation, hue) changes pixels only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.optional import require

from .samples import IGNORE_LABEL, InstanceSample, SemanticSample, boxes_from_masks

MIN_MASK_PIXELS = 8  # instances cropped smaller than this are dropped


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms (zoom > 1 crops in, < 1 zooms out with padding)."""

    zoom: tuple[float, float] = (0.6, 1.6)
    flip: float = 0.5
    brightness: float = 32.0
    contrast: tuple[float, float] = (0.7, 1.3)
    saturation: tuple[float, float] = (0.7, 1.3)
    hue: float = 8.0


def _warp_matrix(src_hw: tuple[int, int], dst_hw: tuple[int, int], zoom: float, flip: bool,
                 rng: np.random.Generator | None) -> np.ndarray:
    """2x3 matrix mapping source pixel coordinates to destination ones.

    The source window is the destination aspect at ``1/zoom`` of the image, placed at a
    random position (centred when ``rng`` is None); pixel centres map to pixel centres.
    """
    sh, sw = src_hw
    dh, dw = dst_hw
    win_h, win_w = sh / zoom, sw / zoom
    if rng is None:
        y0, x0 = (sh - win_h) / 2, (sw - win_w) / 2
    else:
        y0 = rng.uniform(min(0.0, sh - win_h), max(0.0, sh - win_h))
        x0 = rng.uniform(min(0.0, sw - win_w), max(0.0, sw - win_w))
    ax, ay = dw / win_w, dh / win_h
    # continuous coordinates: u_dst = a * (u_src - x0); pixel centre i sits at i + 0.5
    m = np.array([[ax, 0.0, ax * (0.5 - x0) - 0.5], [0.0, ay, ay * (0.5 - y0) - 0.5]])
    if flip:
        m[0] = -m[0]
        m[0, 2] += dw - 1
    return m


def _choose_warp(src: tuple[int, int], size: tuple[int, int], rng: np.random.Generator | None,
                 cfg: AugmentConfig | None) -> np.ndarray:
    """A plain stretch without ``rng``; else a random zoom, crop/pad position and flip."""
    if rng is None:
        return _warp_matrix(src, size, 1.0, False, None)
    cfg = cfg or AugmentConfig()
    return _warp_matrix(src, size, float(np.exp(rng.uniform(*np.log(cfg.zoom)))),
                        bool(rng.random() < cfg.flip), rng)


def _photometric(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    cv2 = require("cv2", "augmentation")
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.hue, cfg.hue)) % 180
    hsv[..., 1] *= rng.uniform(*cfg.saturation)
    hsv = np.clip(hsv, 0, [179, 255, 255]).astype(np.uint8)
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(np.float32)
    mean = out.mean()
    out = (out - mean) * rng.uniform(*cfg.contrast) + mean + rng.uniform(-cfg.brightness,
                                                                         cfg.brightness)
    return np.clip(out, 0, 255).astype(np.uint8)


def fit_instances(sample: InstanceSample, size: tuple[int, int],
                  rng: np.random.Generator | None = None,
                  cfg: AugmentConfig | None = None) -> InstanceSample:
    """Warp ``sample`` to the network ``size``: a plain stretch when ``rng`` is None,
    otherwise a random zoom/crop/flip plus photometric jitter."""
    cv2 = require("cv2", "augmentation")
    h, w = size
    m = _choose_warp(sample.image.shape[:2], size, rng, cfg)
    fill = tuple(float(v) for v in sample.image.reshape(-1, 3).mean(0))
    image = cv2.warpAffine(sample.image, m, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    n = len(sample)
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        masks[i] = cv2.warpAffine(sample.masks[i].astype(np.uint8), m, (w, h),
                                  flags=cv2.INTER_NEAREST, borderValue=0) > 0
    keep = masks.reshape(n, -1).sum(1) >= MIN_MASK_PIXELS if n else np.zeros(0, bool)
    keep |= sample.iscrowd & masks.reshape(n, -1).any(1) if n else keep
    if rng is not None:
        image = _photometric(image, cfg or AugmentConfig(), rng)
    masks = masks[keep]
    return InstanceSample(image=image, boxes=boxes_from_masks(masks),
                          classes=sample.classes[keep], masks=masks,
                          iscrowd=sample.iscrowd[keep], image_id=sample.image_id,
                          file_name=sample.file_name)


def fit_semantic(sample: SemanticSample, size: tuple[int, int],
                 rng: np.random.Generator | None = None,
                 cfg: AugmentConfig | None = None, swap_lr: np.ndarray | None = None,
                 joint_swap: np.ndarray | None = None) -> SemanticSample:
    """As :func:`fit_instances` for a label map (padding is labelled ignore). A mirrored
    sample's ids go through ``swap_lr`` (a 256-entry LUT: body parts' left and right trade
    places, as a mirror demands; seed 001's reader did not, which corrupted its labels),
    and its joints through ``joint_swap`` (a permutation of the joint rows). With boxes
    the padding is the image's mean colour, as for instances: a reflected person there
    would have no box and teach the detector that people are background."""
    cv2 = require("cv2", "augmentation")
    h, w = size
    m = _choose_warp(sample.image.shape[:2], size, rng, cfg)
    if sample.boxes is None:
        image = cv2.warpAffine(sample.image, m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
    else:
        fill = tuple(float(v) for v in sample.image.reshape(-1, 3).mean(0))
        image = cv2.warpAffine(sample.image, m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    labels = cv2.warpAffine(sample.labels, m, (w, h), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE_LABEL)
    mirrored = bool(m[0, 0] < 0)
    if mirrored and swap_lr is not None:
        labels = swap_lr[labels]
    joints = None
    if sample.joints is not None:
        joints = sample.joints.astype(np.float32).copy()
        # the warp maps pixel indices to pixel indices (centres to centres)
        joints[:, :2] = joints[:, :2] @ m[:, :2].T.astype(np.float32) + m[:, 2].astype(
            np.float32)
        if mirrored and joint_swap is not None:
            joints = joints[joint_swap]
        inside = ((joints[:, 0] >= 0) & (joints[:, 0] <= w - 1) & (joints[:, 1] >= 0)
                  & (joints[:, 1] <= h - 1))
        joints[:, 2] = np.where(inside, joints[:, 2], 0.0)
    boxes = None if sample.boxes is None else warp_boxes(sample.boxes, m, (h, w))
    if rng is not None:
        image = _photometric(image, cfg or AugmentConfig(), rng)
    return SemanticSample(image=image, labels=labels, file_name=sample.file_name,
                          joints=joints, boxes=boxes)


def warp_boxes(boxes: np.ndarray, m: np.ndarray, size: tuple[int, int],
               min_side: float = 2.0) -> np.ndarray:
    """(N, 5) ``(x1, y1, x2, y2, c)`` boxes through the 2x3 warp ``m`` (pixel centres to
    pixel centres, so edges map as ``x - 0.5``), clipped to ``size`` (H, W); boxes left
    narrower than ``min_side`` pixels are dropped. A flip swaps x1 and x2."""
    h, w = size
    out = boxes.astype(np.float32).copy()
    if not len(out):
        return out
    a = m[:, :2].astype(np.float32)
    t = m[:, 2].astype(np.float32) + 0.5 - a.sum(1) * 0.5  # edges: e_dst = a e_src + t'
    corners = np.stack([out[:, [0, 1]], out[:, [2, 1]], out[:, [0, 3]], out[:, [2, 3]]], 1)
    moved = corners @ a.T + t
    lo, hi = moved.min(1), moved.max(1)
    out[:, 0], out[:, 2] = np.clip(lo[:, 0], 0, w), np.clip(hi[:, 0], 0, w)
    out[:, 1], out[:, 3] = np.clip(lo[:, 1], 0, h), np.clip(hi[:, 1], 0, h)
    keep = (out[:, 2] - out[:, 0] >= min_side) & (out[:, 3] - out[:, 1] >= min_side)
    return out[keep]
