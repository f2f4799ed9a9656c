"""Datasets as training batches: augmentation, then the shared preprocessing."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.data.augment import AugmentConfig, fit_instances, fit_semantic
from edge.description import ModelDescription
from edge.preprocess import preprocess


class _Batches:
    """Map-style dataset over a reader; randomness comes from ``(seed, epoch, index)``
    only, so a run is reproducible whatever the number of loader workers."""

    def __init__(self, reader, desc: ModelDescription, augment: bool, seed: int = 0,
                 cfg: AugmentConfig | None = None) -> None:
        self.reader, self.desc, self.augment, self.seed = reader, desc, augment, seed
        self.cfg = cfg or AugmentConfig()
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.reader)

    def _rng(self, index: int) -> np.random.Generator | None:
        return np.random.default_rng([self.seed, self.epoch, index]) if self.augment else None


class InstanceBatches(_Batches):
    """Items: ``image`` (3, H, W) float32 from :func:`edge.preprocess.preprocess`, and at
    the network input size ``boxes`` (N, 4), ``classes`` (N,), ``masks`` (N, H, W) bool,
    ``iscrowd`` (N,)."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = fit_instances(self.reader[index], self.desc.input_size, self._rng(index), self.cfg)
        return {"image": preprocess(s.image, self.desc), "boxes": s.boxes, "classes": s.classes,
                "masks": s.masks, "iscrowd": s.iscrowd, "index": index}


class SemanticBatches(_Batches):
    """Items: ``image`` (3, H, W) float32, ``labels`` (H, W) int64 (255 = ignore) and, for
    datasets with joints, ``joints`` (J, 3) in network-input pixels, and with boxes,
    ``boxes`` (N, 5) ``(x1, y1, x2, y2, c)`` in network-input pixels. Mirroring swaps the
    reader's left/right ids (``swap_lr``) unless ``swap`` is False (seed 001's bug, kept
    to reproduce its result)."""

    def __init__(self, reader, desc: ModelDescription, augment: bool, seed: int = 0,
                 cfg: AugmentConfig | None = None, swap: bool = True) -> None:
        super().__init__(reader, desc, augment, seed, cfg)
        self.swap_lr = getattr(reader, "swap_lr", None) if swap else None
        self.joint_swap = getattr(reader, "joint_swap", None) if swap else None

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = fit_semantic(self.reader[index], self.desc.input_size, self._rng(index), self.cfg,
                         self.swap_lr, self.joint_swap)
        item = {"image": preprocess(s.image, self.desc), "labels": s.labels.astype(np.int64),
                "index": index}
        if s.joints is not None:
            item["joints"] = s.joints
        if s.boxes is not None:
            item["boxes"] = s.boxes
        return item


def collate(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep items as a list: images are stacked by the trainer, targets vary in length."""
    return items
