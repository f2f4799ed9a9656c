"""Semantic-segmentation metrics from one confusion matrix over the whole dataset.

Besides mIoU, pixel accuracy and mean class accuracy, :meth:`ConfusionMatrix.metrics`
gives per-class accuracy (= recall), precision and F1 and their macro averages
(seed-systems.md 0.5, 2.6 item 9), and, for SURREAL's 25 body parts, the 13-group
accuracy table of seed 001 (:data:`PART_GROUPS`, :func:`grouped_accuracy`; 0.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from edge.data.samples import IGNORE_LABEL
from edge.description import PARTS_CLASSES

# Seed 001's 13 reporting groups over SURREAL's 25 part ids (seed-systems.md 2.0, 0.3).
# This is the canonical definition; other modules should import it from here.
PART_GROUPS: Mapping[str, tuple[int, ...]] = MappingProxyType({
    "Background": (0,),
    "Head": (16,),
    "Torso": (1, 4, 7, 10),
    "U.Legs": (2, 3),
    "L.Legs": (5, 6),
    "Neck": (13,),
    "Shoulder": (14, 15),
    "U.Arms": (17, 18),
    "L.Arms": (19, 20),
    "Feet": (8, 9),
    "Hands": (21, 22),
    "Fingers": (23, 24),
    "Toes": (11, 12),
})


def _values(per_class: Sequence[float | None] | np.ndarray | Mapping[Any, float | None],
            ) -> np.ndarray:
    if isinstance(per_class, Mapping):
        per_class = list(per_class.values())  # metrics' dicts are in class-id order
    return np.array([np.nan if v is None else float(v) for v in per_class], np.float64)


def grouped_accuracy(per_class_accuracy: Sequence[float | None] | np.ndarray
                     | Mapping[Any, float | None],
                     groups: Mapping[str, Sequence[int]] = PART_GROUPS,
                     ) -> dict[str, float | None]:
    """Each group's accuracy as the MEAN of its member classes' accuracies (seed 001's
    reporting, seed-systems.md 0.3), not the pooled pixel accuracy of the group.

    ``per_class_accuracy``: values indexed by class id (a sequence, or the metrics'
    ``per_class_accuracy`` dict in class order); None/NaN (class absent from ground truth)
    are skipped; a group with no present member gives None."""
    acc = _values(per_class_accuracy)
    out: dict[str, float | None] = {}
    for name, members in groups.items():
        v = acc[list(members)]
        out[name] = float(np.nanmean(v)) if np.isfinite(v).any() else None
    return out


def expand_groups(group_values: Mapping[str, float | None],
                  groups: Mapping[str, Sequence[int]] = PART_GROUPS,
                  num_classes: int | None = None) -> np.ndarray:
    """Per-class array (K,) giving every member class its group's value (NaN for None or
    for classes in no group); K defaults to the largest id + 1."""
    k = num_classes if num_classes is not None else 1 + max(max(m) for m in groups.values())
    out = np.full(k, np.nan)
    for name, members in groups.items():
        v = group_values.get(name)
        out[list(members)] = np.nan if v is None else float(v)
    return out


def expanded_mean(group_values: Mapping[str, float | None],
                  groups: Mapping[str, Sequence[int]] = PART_GROUPS,
                  num_classes: int | None = None) -> float:
    """Mean over the classes of :func:`expand_groups`: from seed 001's 13 group columns
    this recovers its "all classes" mean accuracy (the mean over 25 classes)."""
    e = expand_groups(group_values, groups, num_classes)
    return float(np.nanmean(e)) if np.isfinite(e).any() else float("nan")


def _per_class(names: Sequence[str], v: np.ndarray) -> dict[str, float | None]:
    return {n: (None if np.isnan(x) else float(x)) for n, x in zip(names, v)}


def _nanmean(v: np.ndarray) -> float:
    return float(np.nanmean(v)) if np.isfinite(v).any() else 0.0


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
        accuracy and mean class accuracy (over classes present in ground truth).

        Also per class: ``per_class_accuracy`` (= recall, tp / gt; None if the class is
        absent from ground truth), ``per_class_precision`` (tp / predicted; None if never
        predicted), ``per_class_f1`` (2 tp / (gt + predicted); None if absent from both).
        ``macro_precision`` / ``macro_recall`` / ``macro_f1`` average over the classes
        present in **ground truth** (like mean class accuracy, so ``macro_recall`` equals
        it); a present class that is never predicted counts precision 0 (and F1 0);
        classes only predicted are left out. ``macro_f1`` is the mean of per-class F1,
        not the F1 of the macro precision and recall. (Micro F1 is pixel accuracy.)
        With SURREAL's 25 part names, ``group_accuracy`` gives seed 001's 13 groups
        (:func:`grouped_accuracy`).
        """
        m = self.matrix.astype(np.float64)
        tp = np.diag(m)
        gt = m.sum(1)
        pred = m.sum(0)
        union = gt + pred - tp
        iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
        acc = np.where(gt > 0, tp / np.maximum(gt, 1), np.nan)
        precision = np.where(pred > 0, tp / np.maximum(pred, 1), np.nan)
        f1 = np.where(gt + pred > 0, 2 * tp / np.maximum(gt + pred, 1), np.nan)
        present = gt > 0
        names = class_names or tuple(str(i) for i in range(self.k))
        total = m.sum()
        out: dict[str, Any] = {
            "mIoU": float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0,
            "pixel_accuracy": float(tp.sum() / total) if total else 0.0,
            "mean_class_accuracy": float(np.nanmean(acc)) if np.isfinite(acc).any() else 0.0,
            "per_class_iou": _per_class(names, iou),
            "per_class_accuracy": _per_class(names, acc),
            "per_class_precision": _per_class(names, precision),
            "per_class_f1": _per_class(names, f1),
            "macro_precision": _nanmean(np.where(present, np.nan_to_num(precision), np.nan)),
            "macro_recall": _nanmean(np.where(present, acc, np.nan)),
            "macro_f1": _nanmean(np.where(present, f1, np.nan)),
        }
        if tuple(names) == PARTS_CLASSES:
            out["group_accuracy"] = grouped_accuracy(acc, PART_GROUPS)
        return out


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
