"""Torch mirror of the NumPy geometry core, for losses and crops inside training.

Each function here is tested equal to its :mod:`edge.geometry` counterpart; the
NumPy version stays the definition. Only what must run on tensors (batched, on the
GPU, inside autograd) is mirrored; anchors and assignment are taken from NumPy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edge.geometry.coder import DEFAULT_SCALE_CLAMP


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., N, 4), (..., M, 4) ``(x1, y1, x2, y2)`` -> (..., N, M) IoU; 0 where the union
    is empty. Leading batch dimensions broadcast (the RoI proposer's in-graph NMS)."""
    area_a = (a[..., 2] - a[..., 0]).clamp(min=0) * (a[..., 3] - a[..., 1]).clamp(min=0)
    area_b = (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    lt = torch.maximum(a[..., :, None, :2], b[..., None, :, :2])
    rb = torch.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[..., :, None] + area_b[..., None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def _centre_size(b: torch.Tensor) -> tuple[torch.Tensor, ...]:
    w = b[..., 2] - b[..., 0]
    h = b[..., 3] - b[..., 1]
    return b[..., 0] + 0.5 * w, b[..., 1] + 0.5 * h, w, h


def encode(boxes: torch.Tensor, anchors: torch.Tensor,
           weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)) -> torch.Tensor:
    """Mirror of :meth:`edge.geometry.BoxCoder.encode`."""
    wx, wy, ww, wh = weights
    cx, cy, w, h = _centre_size(boxes)
    acx, acy, aw, ah = _centre_size(anchors)
    return torch.stack([wx * (cx - acx) / aw, wy * (cy - acy) / ah,
                        ww * torch.log(w.clamp(min=1e-8) / aw),
                        wh * torch.log(h.clamp(min=1e-8) / ah)], dim=-1)


def decode(codes: torch.Tensor, anchors: torch.Tensor,
           weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0),
           scale_clamp: float = DEFAULT_SCALE_CLAMP) -> torch.Tensor:
    """Mirror of :meth:`edge.geometry.BoxCoder.decode`."""
    wx, wy, ww, wh = weights
    acx, acy, aw, ah = _centre_size(anchors)
    cx = codes[..., 0] / wx * aw + acx
    cy = codes[..., 1] / wy * ah + acy
    w = torch.exp((codes[..., 2] / ww).clamp(max=scale_clamp)) * aw
    h = torch.exp((codes[..., 3] / wh).clamp(max=scale_clamp)) * ah
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def encompassing_cells(boxes: torch.Tensor, image_hw: tuple[int, int], stride: int) -> torch.Tensor:
    """Mirror of :func:`edge.geometry.encompassing_cells` -> (N, 4) int64 cells."""
    h, w = image_hw
    gw, gh = -(-w // stride), -(-h // stride)
    b = boxes.detach().to(torch.float64)
    c0 = torch.floor(b[:, 0] / stride).clamp(0, gw - 1)
    r0 = torch.floor(b[:, 1] / stride).clamp(0, gh - 1)
    c1 = torch.maximum(torch.ceil(b[:, 2] / stride), c0 + 1).clamp(1, gw)
    r1 = torch.maximum(torch.ceil(b[:, 3] / stride), r0 + 1).clamp(1, gh)
    c0 = torch.minimum(c0, c1 - 1)
    r0 = torch.minimum(r0, r1 - 1)
    return torch.stack([c0, r0, c1, r1], dim=1).to(torch.int64)


def resize_bilinear(x: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    """Mirror of :func:`edge.geometry.resize_bilinear` for (N, C, h, w) tensors."""
    if tuple(x.shape[-2:]) == tuple(out_hw):
        return x
    return F.interpolate(x, size=out_hw, mode="bilinear", align_corners=False, antialias=False)


def gather_crops(fmap: torch.Tensor, windows: torch.Tensor, out_hw: tuple[int, int],
                 mode: str) -> torch.Tensor:
    """Mirror of :func:`edge.geometry.gather_crops`: (C, H, W) map -> (N, C, oh, ow)."""
    oh, ow = out_hw
    crops = []
    for c0, r0, c1, r1 in windows.tolist():
        patch = fmap[None, :, r0:r1, c0:c1]
        if mode == "exact":
            if tuple(patch.shape[-2:]) != (oh, ow):
                raise ValueError(f"exact crop {tuple(patch.shape[-2:])} does not match {out_hw}")
        elif mode == "resize":
            patch = resize_bilinear(patch, out_hw)
        elif mode == "resize_pool":
            patch = F.max_pool2d(resize_bilinear(patch, (2 * oh, 2 * ow)), 2)
        else:
            raise ValueError(f"unknown crop mode {mode!r}")
        crops.append(patch)
    if not crops:
        return fmap.new_zeros((0, fmap.shape[0], oh, ow))
    return torch.cat(crops, 0)
