"""Feature crops for the ISBs and mask pasting into the frame.

These are the NumPy references of the runtime's crop-gather and paste stages (and
of their CUDA kernels). Feature maps are (C, H, W) for one image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edge.description import BranchSpec, ModelDescription

from .boxes import FloatArray, IntArray
from .grid import crop_windows
from .resample import max_pool_2x2, resize_bilinear, sample_in_box

INSTANCE_DTYPE = np.int32


def gather_crops(
    fmap: FloatArray, windows: IntArray, out_hw: tuple[int, int], mode: str
) -> FloatArray:
    """Crop ``windows`` (N, 4) ``(c0, r0, c1, r1)`` of ``fmap`` (C, H, W) to (N, C, oh, ow).

    ``exact`` requires every window to be ``out_hw`` already; ``resize`` resizes
    bilinearly; ``resize_pool`` resizes to twice ``out_hw`` and max-pools 2x2.
    """
    windows = np.asarray(windows, dtype=np.int64).reshape(-1, 4)
    c = fmap.shape[0]
    oh, ow = out_hw
    out = np.empty((windows.shape[0], c, oh, ow), dtype=np.float32)
    for i, (c0, r0, c1, r1) in enumerate(windows):
        patch = fmap[:, r0:r1, c0:c1]
        if mode == "exact":
            if patch.shape[1:] != (oh, ow):
                raise ValueError(
                    f"exact crop {tuple(patch.shape[1:])} of window {(c0, r0, c1, r1)} "
                    f"does not match branch input {out_hw}"
                )
            out[i] = patch
        elif mode == "resize":
            out[i] = resize_bilinear(patch, out_hw)
        elif mode == "resize_pool":
            out[i] = max_pool_2x2(resize_bilinear(patch, (2 * oh, 2 * ow)))
        else:
            raise ValueError(f"unknown crop mode {mode!r}")
    return out


def branch_inputs(
    feats: Mapping[int, FloatArray],
    cells: IntArray,
    branch: BranchSpec,
    desc: ModelDescription,
) -> list[FloatArray]:
    """Inputs of one ISB for boxes with encompassing ``cells`` on the stride-32 grid.

    ``feats`` maps stride -> (C, H, W) map. Returns one (N, C_s, h*32/s, w*32/s)
    array per stride in ``desc.mask_strides`` (32, then 16, then 8).
    """
    inputs = []
    for s in desc.mask_strides:
        k = desc.crop_stride // s
        win = crop_windows(cells, desc.crop_stride, s)
        inputs.append(gather_crops(feats[s], win, (branch.shape[0] * k, branch.shape[1] * k),
                                   branch.mode))
    return inputs


def paste_mask(
    logits: FloatArray, box: FloatArray, frame_hw: tuple[int, int], threshold: float = 0.0
) -> FloatArray:
    """One full-frame boolean mask: ``logits`` (h, w) stretched over ``box``, > threshold."""
    mask = np.zeros(frame_hw, dtype=bool)
    (ya, yb, xa, xb), patch = sample_in_box(logits, box, frame_hw)
    mask[ya:yb, xa:xb] = patch > threshold
    return mask


def paste_masks(
    logits: Sequence[FloatArray],
    boxes: FloatArray,
    frame_hw: tuple[int, int],
    threshold: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Paste N instance masks into one (H, W) int32 instance map.

    ``logits[i]`` (h_i, w_i) is stretched bilinearly over ``boxes[i]`` (the encompassing
    box, in frame pixels) and thresholded (logit 0 = probability 0.5). Pixel value
    ``i + 1`` marks instance ``i``; 0 is background. Give instances highest score first:
    where masks overlap, the earlier instance keeps the pixel. ``out`` is reused if given.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(logits) != boxes.shape[0]:
        raise ValueError(f"{len(logits)} masks for {boxes.shape[0]} boxes")
    if out is None:
        out = np.zeros(frame_hw, dtype=INSTANCE_DTYPE)
    else:
        out[...] = 0
    for i in range(boxes.shape[0] - 1, -1, -1):  # later writes win, so go lowest score first
        (ya, yb, xa, xb), patch = sample_in_box(logits[i], boxes[i], frame_hw)
        region = out[ya:yb, xa:xb]
        region[patch > threshold] = i + 1
    return out

