"""The inference pipeline, backend-agnostic: frame in, detections and masks out.

SSD-ISB: preprocess -> detector (backend) -> decode + NMS -> encompassing boxes ->
branch assignment -> crops -> branches (backend) -> masks stretched over the
encompassing boxes. FCN: preprocess -> network (backend) -> argmax -> frame-size labels.
Every geometric step is the shared core's. Backends (PyTorch today; ONNX Runtime and
TensorRT with export) only run networks on arrays, so evaluation and the runtime use
the same code whatever runs the networks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
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
from edge.preprocess import Preprocessor, to_frame_boxes


class InstanceBackend(Protocol):
    """Runs the SSD-ISB networks on arrays."""

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
        """(1, 3, H, W) -> codes (A, 4), class logits (A, K+1), taps {stride: (C, h, w)}."""
        ...

    def segment(self, branch: int, crops: list[np.ndarray]) -> np.ndarray:
        """Crops of one branch (stride 32 first) -> mask logits (N, K, mh, mw)."""
        ...


class Stopwatch:
    """Stage name -> milliseconds of one frame; ``with sw("detector"): ...`` adds to it."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, (time.perf_counter() - t0) * 1e3)

    def add(self, stage: str, ms: float) -> None:
        self.ms[stage] = self.ms.get(stage, 0.0) + ms


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


@dataclass
class BranchPlan:
    """One frame's post-processing: detections (input pixels), their encompassing cells
    (N, 4) on the stride-32 grid, and ``(branch, detection indices)`` per busy branch."""

    det: Detections
    cells: np.ndarray
    jobs: list[tuple[int, np.ndarray]]


class InstancePipeline:
    """SSD-ISB inference for one model description and backend.

    Stages (timed into an optional :class:`Stopwatch`): ``preprocess``, ``detector``,
    ``postprocess`` (decode + NMS + encompassing boxes + branch assignment), ``crop`` and
    ``branches`` (wall time of all ISBs; ``branch:<name>`` each). With an ``executor`` the
    crops and the branches of different ISBs run concurrently (backends release the GIL).
    """

    def __init__(self, desc: ModelDescription, backend: InstanceBackend,
                 executor: Executor | None = None) -> None:
        self.desc = desc
        self.backend = backend
        self.executor = executor
        self.anchors = ssd_anchors(desc.anchors, desc.input_size)
        self.coder = BoxCoder(desc.box_coder_weights)
        self.preprocess = Preprocessor(desc)

    def detections(self, codes: np.ndarray, logits: np.ndarray) -> Detections:
        d = self.desc
        return select_detections(codes, logits, self.anchors, d.input_size, coder=self.coder,
                                 score_threshold=d.score_threshold,
                                 iou_threshold=d.nms_iou_threshold,
                                 max_detections=d.max_detections)

    def plan(self, codes: np.ndarray, logits: np.ndarray) -> BranchPlan:
        """Post-processing: detections, their encompassing cells and, per branch that
        gets boxes, the indices of its detections (the branch's cap applied)."""
        d = self.desc
        det = self.detections(codes, logits)
        cells = encompassing_cells(det.boxes, d.input_size, d.crop_stride)
        assignment = assign_branches(cell_shapes(cells), d.branches, d.assignment)
        jobs = [(b, idx) for b, idx in
                enumerate(select_per_branch(assignment, det.scores, d.branches)) if idx.size]
        return BranchPlan(det, cells, jobs)

    def result(self, plan: BranchPlan, outputs: list[np.ndarray],
               frame_hw: tuple[int, int]) -> InstanceResult:
        """Frame-pixel result from the branches' mask logits (``outputs[j]`` is job j's
        (n, K, mh, mw)): each detection keeps its own class's mask."""
        d, det = self.desc, plan.det
        masks: list[np.ndarray | None] = [None] * len(det)
        for (_, idx), out in zip(plan.jobs, outputs):
            for j, i in enumerate(idx):
                masks[i] = out[j, det.classes[i]]
        enc = cells_to_pixels(plan.cells, d.input_size, d.crop_stride).astype(np.float32)
        return InstanceResult(boxes=to_frame_boxes(det.boxes, frame_hw, d), scores=det.scores,
                              classes=det.classes, mask_boxes=to_frame_boxes(enc, frame_hw, d),
                              mask_logits=masks, frame_hw=frame_hw,
                              threshold=d.mask_threshold)

    def _map(self, fn, jobs: list) -> list:
        if self.executor is None or len(jobs) < 2:
            return [fn(*j) for j in jobs]
        return [f.result() for f in [self.executor.submit(fn, *j) for j in jobs]]

    def __call__(self, frame: np.ndarray, sw: Stopwatch | None = None) -> InstanceResult:
        d = self.desc
        sw = sw or Stopwatch()
        with sw("preprocess"):
            image = self.preprocess(frame)
        with sw("detector"):
            codes, logits, taps = self.backend.detect(image)
        with sw("postprocess"):
            plan = self.plan(codes, logits)
        with sw("crop"):
            crops = self._map(lambda b, idx: branch_inputs(taps, plan.cells[idx], d.branches[b],
                                                           d), plan.jobs)

        def segment(b: int, c: list[np.ndarray]) -> tuple[np.ndarray, float]:
            t0 = time.perf_counter()
            out = self.backend.segment(b, c)
            return out, (time.perf_counter() - t0) * 1e3

        with sw("branches"):
            outs = self._map(segment, [(b, c) for (b, _), c in zip(plan.jobs, crops)])
        for (b, _), (_, ms) in zip(plan.jobs, outs):
            sw.add(f"branch:{d.branches[b].name}", ms)
        return self.result(plan, [o for o, _ in outs], frame.shape[:2])


def class_argmax(logits: np.ndarray) -> np.ndarray:
    """``logits.argmax(axis=0)`` as uint8 for (K, H, W), one contiguous pass per class
    (NumPy's argmax over the leading axis walks memory with a stride of H*W: 40 vs 25 ms
    at 19x512x1024 on 2 cores). Ties go to the lower class, as with argmax."""
    best = logits[0].copy()
    labels = np.zeros(best.shape, np.uint8)
    better = np.empty(best.shape, bool)
    for k in range(1, logits.shape[0]):
        np.greater(logits[k], best, out=better)
        np.copyto(labels, np.uint8(k), where=better)
        np.maximum(best, logits[k], out=best)
    return labels


class SemanticPipeline:
    """FCN inference: frame -> (H, W) uint8 class map at the frame's size.

    Stages: ``preprocess``, ``network``, ``postprocess`` (argmax + nearest upsampling)."""

    def __init__(self, desc: ModelDescription, backend: SemanticBackend,
                 executor: Executor | None = None) -> None:
        self.desc = desc
        self.backend = backend
        self.preprocess = Preprocessor(desc)
        self._lut: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None

    def __call__(self, frame: np.ndarray, sw: Stopwatch | None = None) -> np.ndarray:
        sw = sw or Stopwatch()
        with sw("preprocess"):
            image = self.preprocess(frame)
        with sw("network"):
            logits = self.backend.segment_image(image)
        with sw("postprocess"):
            labels = class_argmax(logits)
            fh, fw = frame.shape[:2]
            if self._lut is None or self._lut[0] != (fh, fw):
                h, w = labels.shape
                rows = ((np.arange(fh) + 0.5) * h / fh).astype(np.int64)
                cols = ((np.arange(fw) + 0.5) * w / fw).astype(np.int64)
                self._lut = ((fh, fw), rows[:, None], cols[None, :])
            _, rows, cols = self._lut
            return labels[rows, cols]
