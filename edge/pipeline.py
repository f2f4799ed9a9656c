"""The inference pipeline, backend-agnostic: frame in, detections and masks out.

SSD-ISB: preprocess -> detector (backend) -> decode + NMS -> encompassing boxes ->
branch assignment -> crops -> branches (backend) -> masks stretched over the
encompassing boxes. FCN: preprocess -> network (backend) -> argmax -> frame-size labels.
Every geometric step is the shared core's. Backends (PyTorch today; ONNX Runtime and
TensorRT with export) only run networks on arrays, so evaluation and the runtime use
the same code whatever runs the networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge.description import ModelDescription
from edge.geometry import (
    BoxCoder,
    Detections,
    assign_branches,
    branch_inputs,
    cell_shapes,
    cells_to_pixels,
    encompassing_cells,
    paste_mask,
    paste_masks,
    select_detections,
    select_per_branch,
    ssd_anchors,
)
from edge.preprocess import preprocess, to_frame_boxes


class InstanceBackend(Protocol):
    """Runs the SSD-ISB networks on arrays."""

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
        """(1, 3, H, W) -> codes (A, 4), class logits (A, K+1), taps {stride: (C, h, w)}."""
        ...

    def segment(self, branch: int, crops: list[np.ndarray]) -> np.ndarray:
        """Crops of one branch (stride 32 first) -> mask logits (N, K, mh, mw)."""
        ...


class SemanticBackend(Protocol):
    def segment_image(self, image: np.ndarray) -> np.ndarray:
        """(1, 3, H, W) -> class logits (K, H, W)."""
        ...


@dataclass
class InstanceResult:
    """One frame's instances, highest score first, in frame pixels.

    ``boxes`` are the detector's boxes; ``mask_boxes`` the encompassing boxes the mask
    logits span; ``mask_logits[i]`` is (mh, mw) or None when no branch took detection i.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    mask_boxes: np.ndarray
    mask_logits: list[np.ndarray | None]
    frame_hw: tuple[int, int]
    threshold: float = 0.0

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def mask(self, i: int) -> np.ndarray | None:
        """Full-frame (H, W) bool mask of instance ``i``, or None without a mask."""
        logits = self.mask_logits[i]
        if logits is None:
            return None
        return paste_mask(logits, self.mask_boxes[i], self.frame_hw, self.threshold)

    def instance_map(self, out: np.ndarray | None = None) -> np.ndarray:
        """(H, W) int32: 0 background, ``i + 1`` where instance ``i`` wins the pixel."""
        have = [i for i, m in enumerate(self.mask_logits) if m is not None]
        if out is None:
            out = np.zeros(self.frame_hw, np.int32)
        paste_masks([self.mask_logits[i] for i in have], self.mask_boxes[have], self.frame_hw,
                    self.threshold, out=out)
        if have:  # paste numbers masks 1..len(have); map them back to detection indices
            lut = np.zeros(len(have) + 1, np.int32)
            lut[1:] = np.asarray(have) + 1
            out[...] = lut[out]
        return out


class InstancePipeline:
    """SSD-ISB inference for one model description and backend."""

    def __init__(self, desc: ModelDescription, backend: InstanceBackend) -> None:
        self.desc = desc
        self.backend = backend
        self.anchors = ssd_anchors(desc.anchors, desc.input_size)
        self.coder = BoxCoder(desc.box_coder_weights)

    def detections(self, codes: np.ndarray, logits: np.ndarray) -> Detections:
        d = self.desc
        return select_detections(codes, logits, self.anchors, d.input_size, coder=self.coder,
                                 score_threshold=d.score_threshold,
                                 iou_threshold=d.nms_iou_threshold,
                                 max_detections=d.max_detections)

    def __call__(self, frame: np.ndarray) -> InstanceResult:
        d = self.desc
        codes, logits, taps = self.backend.detect(preprocess(frame, d)[None])
        det = self.detections(codes, logits)
        cells = encompassing_cells(det.boxes, d.input_size, d.crop_stride)
        assignment = assign_branches(cell_shapes(cells), d.branches, d.assignment)
        masks: list[np.ndarray | None] = [None] * len(det)
        for b, idx in enumerate(select_per_branch(assignment, det.scores, d.branches)):
            if idx.size == 0:
                continue
            out = self.backend.segment(b, branch_inputs(taps, cells[idx], d.branches[b], d))
            for j, i in enumerate(idx):
                masks[i] = out[j, det.classes[i]]
        frame_hw = frame.shape[:2]
        enc = cells_to_pixels(cells, d.input_size, d.crop_stride).astype(np.float32)
        return InstanceResult(boxes=to_frame_boxes(det.boxes, frame_hw, d), scores=det.scores,
                              classes=det.classes, mask_boxes=to_frame_boxes(enc, frame_hw, d),
                              mask_logits=masks, frame_hw=frame_hw,
                              threshold=d.mask_threshold)


class SemanticPipeline:
    """FCN inference: frame -> (H, W) uint8 class map at the frame's size."""

    def __init__(self, desc: ModelDescription, backend: SemanticBackend) -> None:
        self.desc = desc
        self.backend = backend

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        logits = self.backend.segment_image(preprocess(frame, self.desc)[None])
        labels = logits.argmax(axis=0).astype(np.uint8)
        fh, fw = frame.shape[:2]
        h, w = labels.shape
        rows = ((np.arange(fh) + 0.5) * h / fh).astype(np.int64)
        cols = ((np.arange(fw) + 0.5) * w / fw).astype(np.int64)
        return labels[rows[:, None], cols[None, :]]
