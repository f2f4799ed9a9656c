"""Training targets from ground truth, in NumPy with the shared geometry core.

SSD matching follows the TF Object Detection API's ``ArgMaxMatcher`` as SSD uses it
(thesis 3.1.1): an anchor is positive for the ground-truth box it overlaps most if that
IoU is at least 0.5, and every ground-truth box also claims its best anchor. Anchors
overlapping a crowd region by more than 0.5 (of the anchor) and not matched are
ignored: neither positives nor negatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.description import ModelDescription
from edge.geometry import (
    BoxCoder,
    assign_branches,
    box_area,
    box_iou,
    cell_shapes,
    cells_to_pixels,
    encompassing_cells,
    gather_crops,
)

IGNORE = -1  # label of anchors excluded from the classification loss


def match_anchors(anchors: np.ndarray, boxes: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(A, 4) anchors, (G, 4) boxes -> (A,) index of the matched box, or -1."""
    matched = np.full(anchors.shape[0], -1, np.int64)
    if boxes.shape[0] == 0:
        return matched
    iou = box_iou(anchors, boxes)  # (A, G)
    best = iou.argmax(axis=1)
    ok = iou[np.arange(len(best)), best] >= threshold
    matched[ok] = best[ok]
    forced = iou.argmax(axis=0)  # each box's best anchor, even below the threshold ...
    touching = iou[forced, np.arange(boxes.shape[0])] > 0  # ... if it overlaps one at all
    matched[forced[touching]] = np.arange(boxes.shape[0])[touching]
    return matched


def ssd_targets(anchors: np.ndarray, boxes: np.ndarray, classes: np.ndarray,
                crowd_boxes: np.ndarray, coder: BoxCoder) -> tuple[np.ndarray, np.ndarray]:
    """Regression targets (A, 4) float32 and labels (A,) int64 for one image.

    Labels: 0 background, ``c + 1`` for foreground class ``c``, :data:`IGNORE` for anchors
    covered by a crowd region. Codes are zero where the anchor is not positive.
    """
    matched = match_anchors(anchors, boxes)
    labels = np.zeros(anchors.shape[0], np.int64)
    pos = matched >= 0
    labels[pos] = classes[matched[pos]] + 1
    if crowd_boxes.shape[0]:
        lt = np.maximum(anchors[:, None, :2], crowd_boxes[None, :, :2])
        rb = np.minimum(anchors[:, None, 2:], crowd_boxes[None, :, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
        cover = (inter / np.maximum(box_area(anchors), 1e-6)[:, None]).max(axis=1)
        labels[(~pos) & (cover > 0.5)] = IGNORE
    codes = np.zeros_like(anchors, dtype=np.float32)
    if pos.any():
        codes[pos] = coder.encode(boxes[matched[pos]], anchors[pos])
    return codes, labels


@dataclass
class MaskJob:
    """Boxes of one image that one branch segments, with their mask targets."""

    image_index: int
    cells: np.ndarray  # (N, 4) encompassing cells on the crop grid
    classes: np.ndarray  # (N,) foreground class index (picks the logit channel)
    targets: np.ndarray  # (N, mh, mw) float32 in [0, 1]


def mask_jobs(desc: ModelDescription, image_index: int, boxes: np.ndarray, classes: np.ndarray,
              masks: np.ndarray, rng: np.random.Generator) -> list[MaskJob | None]:
    """Per branch, the ground-truth boxes of one image it trains on (thesis 3.2.1).

    Crops come from ground-truth boxes through their encompassing boxes; masks are cut
    at the encompassing box and resized to the branch output. A branch takes at most
    ``max_boxes`` boxes (a random subset when there are more).
    """
    hw = desc.input_size
    out: list[MaskJob | None] = [None] * len(desc.branches)
    if boxes.shape[0] == 0:
        return out
    cells = encompassing_cells(boxes, hw, desc.crop_stride)
    assignment = assign_branches(cell_shapes(cells), desc.branches, desc.assignment)
    pixels = cells_to_pixels(cells, hw, desc.crop_stride)
    for b, spec in enumerate(desc.branches):
        idx = np.flatnonzero(assignment == b)
        if idx.size == 0:
            continue
        if idx.size > spec.max_boxes:
            idx = np.sort(rng.choice(idx, spec.max_boxes, replace=False))
        mh, mw = desc.mask_shape(spec)
        targets = np.stack([gather_crops(masks[i][None].astype(np.float32), pixels[i][None],
                                         (mh, mw), "resize")[0, 0] for i in idx])
        out[b] = MaskJob(image_index, cells[idx], classes[idx], targets)
    return out
