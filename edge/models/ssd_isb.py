"""SSD-ISB: the SSD detector plus its Instance Segmentation Branches (thesis chapter 3)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edge.description import ModelDescription
from edge.geometry.grid import crop_windows

from . import geometry_torch as gt
from .isb import ISB
from .ssd import SSDDetector

SKIP_STEPS = {"fcn32": 0, "fcn16": 1, "fcn8": 2}


class SSDISB(nn.Module):
    """Detector and branches. ``forward(images)`` runs the detector only; branches run on
    crops chosen outside the graph (ground-truth boxes in training, detections at run
    time), which is how the runtime splits them into separate engines."""

    def __init__(self, desc: ModelDescription) -> None:
        super().__init__()
        self.desc = desc
        self.detector = SSDDetector(desc)
        mn = self.detector.backbone
        channels = {s: mn.channels(s) for s in (8, 16, 32)}
        self.branches = nn.ModuleList(
            ISB(channels, desc.num_classes, SKIP_STEPS[desc.isb_skip]) for _ in desc.branches
        )

    def forward(self, images: torch.Tensor,
                mask_jobs: list[list[tuple[int, np.ndarray]]] | None = None):
        """Detector outputs ``(codes, logits, taps)``; with ``mask_jobs`` also the branch
        outputs: ``mask_jobs[b]`` lists ``(image index, cells (N, 4))`` for branch ``b``
        and the fourth result holds, per branch, (sum N, K, mh, mw) logits or None.

        Running the branches inside ``forward`` keeps them under DistributedDataParallel.
        """
        codes, logits, taps = self.detector(images)
        if mask_jobs is None:
            return codes, logits, taps
        outputs: list[torch.Tensor | None] = []
        for b, jobs in enumerate(mask_jobs):
            if not jobs:
                outputs.append(None)
                continue
            per_job = [self.branch_crops(taps, i, cells, b) for i, cells in jobs]
            crops = [torch.cat([job[k] for job in per_job]) for k in range(len(per_job[0]))]
            outputs.append(self.segment(b, crops))
        return codes, logits, taps, outputs

    def branch_crops(
        self, taps: dict[int, torch.Tensor], image_index: int, cells: np.ndarray, branch: int
    ) -> list[torch.Tensor]:
        """ISB inputs for boxes with encompassing ``cells`` (N, 4) in image ``image_index``.

        Gradients stop at the crop (thesis 3.2.1): each branch trains on its own and the
        shared features learn from the box losses only.
        """
        spec = self.desc.branches[branch]
        out = []
        for s in self.desc.mask_strides:
            k = self.desc.crop_stride // s
            win = torch.from_numpy(crop_windows(cells, self.desc.crop_stride, s))
            fmap = taps[s][image_index].detach()
            out.append(gt.gather_crops(fmap, win, (spec.shape[0] * k, spec.shape[1] * k),
                                       spec.mode))
        return out

    def segment(self, branch: int, crops: list[torch.Tensor]) -> torch.Tensor:
        """Mask logits (N, K, mh, mw) of branch ``branch`` for its crops."""
        return self.branches[branch](*crops)
