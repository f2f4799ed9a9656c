"""The geometry core: pure NumPy, the single source of truth for every stage.

Training (through the tested torch mirror :mod:`edge.models.geometry_torch`), export
and the runtime all use these functions; nothing here imports torch.
Boxes are ``(x1, y1, x2, y2)`` float pixels of the network input unless a docstring
says otherwise; grid cells are ``(c0, r0, c1, r1)`` half-open int ranges.
"""

from .anchors import anchor_shapes, ssd_anchors, ssd_feature_sizes
from .assign import NO_BRANCH, assign_branches, select_per_branch
from .boxes import batched_nms, box_area, box_iou, clip_boxes, nms
from .coder import BoxCoder
from .detections import Detections, select_detections, softmax
from .grid import cell_shapes, cells_to_pixels, crop_windows, encompassing_boxes, encompassing_cells
from .masks import branch_inputs, gather_crops, paste_mask, paste_masks
from .resample import max_pool_2x2, resize_bilinear, sample_in_box

__all__ = [
    "NO_BRANCH", "BoxCoder", "Detections", "anchor_shapes", "assign_branches", "batched_nms",
    "box_area", "box_iou", "branch_inputs", "cell_shapes", "cells_to_pixels", "clip_boxes",
    "crop_windows", "encompassing_boxes", "encompassing_cells", "gather_crops", "max_pool_2x2",
    "nms", "paste_mask", "paste_masks", "resize_bilinear", "sample_in_box", "select_detections",
    "select_per_branch", "softmax", "ssd_anchors", "ssd_feature_sizes",
]  # fmt: skip
