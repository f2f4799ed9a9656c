"""What a dataset yields: one image with its annotations, in plain NumPy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class InstanceSample:
    """One image with instance annotations.

    image (H, W, 3) uint8 BGR; boxes (N, 4) float32 ``(x1, y1, x2, y2)`` pixels;
    classes (N,) int64 index into the reader's class names; masks (N, H, W) bool;
    iscrowd (N,) bool (crowd regions are neither positives nor negatives in training
    and are handled by COCOeval in evaluation).
    """

    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    masks: np.ndarray
    iscrowd: np.ndarray
    image_id: int
    file_name: str = ""

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@dataclass
class SemanticSample:
    """One image with a per-pixel class map: labels (H, W) uint8, 255 = ignore; ``joints``
    (J, 3) x, y, visible in image pixels where the dataset has them (body parts); ``boxes``
    (N, 5) float32 ``(x1, y1, x2, y2, c)`` pixels (x2, y2 exclusive), ``c`` indexing the
    reader's ``box_classes``, where it has them (the RoI proposer's targets, seed 000)."""

    image: np.ndarray
    labels: np.ndarray
    file_name: str = ""
    joints: np.ndarray | None = None
    boxes: np.ndarray | None = None


IGNORE_LABEL = 255


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (N, 4) float32 tight boxes; an empty mask gives a zero box."""
    n = masks.shape[0]
    out = np.zeros((n, 4), np.float32)
    for i in range(n):
        ys = np.flatnonzero(masks[i].any(axis=1))
        xs = np.flatnonzero(masks[i].any(axis=0))
        if ys.size:
            out[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return out
