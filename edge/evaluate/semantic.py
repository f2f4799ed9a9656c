"""Semantic-segmentation metrics from one confusion matrix over the whole dataset."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.data.samples import IGNORE_LABEL


class ConfusionMatrix:
    """Accumulates ``matrix[gt, pred]`` pixel counts, ignoring label 255."""

    def __init__(self, num_classes: int) -> None:
        self.k = num_classes
        self.matrix = np.zeros((num_classes, num_classes), np.int64)

    def update(self, gt: np.ndarray, pred: np.ndarray) -> None:
        valid = gt != IGNORE_LABEL
        g = gt[valid].astype(np.int64)
        p = pred[valid].astype(np.int64)
        if g.size and (g.max() >= self.k or p.max() >= self.k):
            raise ValueError(f"labels must be < {self.k} (or {IGNORE_LABEL} = ignore)")
        self.matrix += np.bincount(self.k * g + p, minlength=self.k * self.k).reshape(self.k,
                                                                                       self.k)

    def metrics(self, class_names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """mIoU (over classes present in ground truth or prediction), per-class IoU, pixel
        accuracy and mean class accuracy (over classes present in ground truth)."""
        m = self.matrix.astype(np.float64)
        tp = np.diag(m)
        gt = m.sum(1)
        pred = m.sum(0)
        union = gt + pred - tp
        iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
        acc = np.where(gt > 0, tp / np.maximum(gt, 1), np.nan)
        names = class_names or tuple(str(i) for i in range(self.k))
        total = m.sum()
        return {
            "mIoU": float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0,
            "pixel_accuracy": float(tp.sum() / total) if total else 0.0,
            "mean_class_accuracy": float(np.nanmean(acc)) if np.isfinite(acc).any() else 0.0,
            "per_class_iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
        }


def evaluate_semantic(pipeline, reader, progress: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    cm = ConfusionMatrix(len(pipeline.desc.class_names))
    for index in tqdm(range(len(reader)), desc="eval", unit="img",
                      disable=None if progress else True):  # None: a bar only on a terminal
        sample = reader[index]
        cm.update(sample.labels, pipeline(sample.image))
    out = cm.metrics(pipeline.desc.class_names)
    out["images"] = len(reader)
    return out
