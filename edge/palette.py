"""Class colours: the Cityscapes colours by class name, the one palette of the semantic
datasets edge-seg reads (Cityscapes itself, and the synthetic scenes, whose classes are
Cityscapes classes or, for ``vehicle``, Cityscapes' ``car``).

Colours are BGR (OpenCV's order). Names the table does not know get well-separated
colours from :data:`DISTINCT`, in class order.
"""

from __future__ import annotations

import numpy as np

# Cityscapes' published label colours (RGB in its documentation), here as BGR.
CITYSCAPES_BGR: dict[str, tuple[int, int, int]] = {
    "road": (128, 64, 128), "sidewalk": (232, 35, 244), "building": (70, 70, 70),
    "wall": (156, 102, 102), "fence": (153, 153, 190), "pole": (153, 153, 153),
    "traffic light": (30, 170, 250), "traffic sign": (0, 220, 220),
    "vegetation": (35, 142, 107), "terrain": (152, 251, 152), "sky": (180, 130, 70),
    "person": (60, 20, 220), "rider": (0, 0, 255), "car": (142, 0, 0), "truck": (70, 0, 0),
    "bus": (100, 60, 0), "train": (100, 80, 0), "motorcycle": (230, 0, 0),
    "bicycle": (32, 11, 119),
    "vehicle": (142, 0, 0),  # the synthetic scenes' cars and vans
}  # fmt: skip

# 20 well-separated BGR colours: instance i gets DISTINCT[i % 20].
DISTINCT = np.array([
    (75, 25, 230), (75, 180, 60), (25, 225, 255), (200, 130, 0), (48, 130, 245),
    (180, 30, 145), (240, 240, 70), (230, 50, 240), (60, 245, 210), (212, 190, 250),
    (128, 128, 0), (255, 190, 220), (40, 110, 170), (200, 250, 255), (0, 0, 128),
    (195, 255, 170), (0, 128, 128), (180, 215, 255), (128, 0, 0), (128, 128, 128)], np.uint8)


def class_colours(class_names: tuple[str, ...] | list[str]) -> np.ndarray:
    """(C, 3) uint8 BGR, one colour per class: Cityscapes' for the names it has, else the
    next distinct colour (so a custom dataset still gets a readable, stable palette)."""
    out = np.empty((len(class_names), 3), np.uint8)
    spare = 0
    for i, name in enumerate(class_names):
        known = CITYSCAPES_BGR.get(name.lower())
        if known is None:
            known = tuple(DISTINCT[spare % len(DISTINCT)])
            spare += 1
        out[i] = known
    return out
