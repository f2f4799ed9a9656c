"""Datasets as training batches: augmentation, the shared preprocessing, targets."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.data.augment import AugmentConfig, fit_instances, fit_semantic
from edge.description import ModelDescription
from edge.preprocess import preprocess


class InstanceBatches:
    """Map-style dataset over an instance reader yielding network-ready items.

    Each item: ``image`` (3, H, W) float32 from :func:`edge.preprocess.preprocess`,
    ``boxes`` (N, 4), ``classes`` (N,), ``masks`` (N, H, W) bool, ``iscrowd`` (N,) at the
    network input size. Randomness comes from ``(seed, epoch, index)`` only, so a run
    is reproducible whatever the number of loader workers.
    """

    def __init__(self, reader, desc: ModelDescription, augment: bool, seed: int = 0,
                 cfg: AugmentConfig | None = None) -> None:
        self.reader, self.desc, self.augment, self.seed = reader, desc, augment, seed
        self.cfg = cfg or AugmentConfig()
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.augment else None
        s = fit_instances(self.reader[index], self.desc.input_size, rng, self.cfg)
        return {"image": preprocess(s.image, self.desc), "boxes": s.boxes, "classes": s.classes,
                "masks": s.masks, "iscrowd": s.iscrowd, "index": index}


class SemanticBatches:
    """As :class:`InstanceBatches` for semantic readers: ``image`` and ``labels`` (H, W)."""

    def __init__(self, reader, desc: ModelDescription, augment: bool, seed: int = 0,
                 cfg: AugmentConfig | None = None) -> None:
        self.reader, self.desc, self.augment, self.seed = reader, desc, augment, seed
        self.cfg = cfg or AugmentConfig()
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.augment else None
        s = fit_semantic(self.reader[index], self.desc.input_size, rng, self.cfg)
        return {"image": preprocess(s.image, self.desc), "labels": s.labels.astype(np.int64),
                "index": index}


def collate(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep items as a list: images are stacked by the trainer, targets vary in length."""
    return items
