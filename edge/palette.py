"""Class colours by class name: Cityscapes' colours (Cityscapes itself, and the synthetic
scenes, whose classes are Cityscapes classes or, for ``vehicle``, Cityscapes' ``car``),
SURREAL's body parts (seed 001; left light, right dark), CamVid's extra classes
(seed 004), VOC's (seed 002) and ATR-like garments (seed 000).

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

# SURREAL's body parts (seed 001): one hue per body region, the person's left side light
# and the right side dark, so a left/right mix-up shows at a glance; background black.
PARTS_BGR: dict[str, tuple[int, int, int]] = {
    "background": (0, 0, 0), "hips": (40, 40, 160), "spine": (60, 60, 190),
    "spine1": (80, 80, 215), "spine2": (100, 100, 240), "neck": (0, 200, 255),
    "head": (0, 230, 230), "leftshoulder": (120, 255, 120), "rightshoulder": (30, 140, 30),
    "leftarm": (255, 200, 120), "rightarm": (160, 90, 20), "leftforearm": (255, 160, 200),
    "rightforearm": (150, 40, 110), "lefthand": (255, 255, 160),
    "righthand": (150, 150, 40), "lefthandindex1": (230, 230, 255),
    "righthandindex1": (120, 120, 170), "leftupleg": (160, 255, 255),
    "rightupleg": (30, 150, 150), "leftleg": (200, 170, 255), "rightleg": (100, 50, 160),
    "leftfoot": (170, 255, 210), "rightfoot": (60, 150, 100), "lefttoebase": (220, 220, 220),
    "righttoebase": (110, 110, 110),
}  # fmt: skip

# CamVid's colours as the SegNet tutorial draws them (RGB there), for seed 004's classes
CAMVID_BGR: dict[str, tuple[int, int, int]] = {
    "tree": (0, 128, 128), "signs": (128, 128, 192), "misc": (0, 0, 64),
    "pedestrian": (0, 64, 64), "bicyclist": (192, 128, 0), "square": (0, 200, 255),
}  # fmt: skip

# PASCAL VOC's colour map (RGB there) for the VOC-like scenes' animals and furniture (seed
# 002; car and bus keep Cityscapes' colours above)
VOC_BGR: dict[str, tuple[int, int, int]] = {
    "cat": (0, 0, 64), "dog": (128, 0, 64), "sofa": (0, 192, 0), "chair": (0, 0, 192),
    "bird": (0, 128, 128), "aeroplane": (0, 0, 128),
}  # fmt: skip

# ATR-like garments (seed 000): left light, right dark, as for the body parts
FASHION_BGR: dict[str, tuple[int, int, int]] = {
    "hat": (0, 128, 255), "hair": (30, 60, 110), "sunglasses": (80, 80, 80),
    "upper-clothes": (60, 20, 220), "skirt": (200, 0, 200), "pants": (160, 90, 20),
    "dress": (140, 60, 255), "belt": (20, 200, 200), "left-shoe": (255, 255, 160),
    "right-shoe": (150, 150, 40), "face": (130, 200, 255), "left-leg": (200, 170, 255),
    "right-leg": (100, 50, 160), "left-arm": (160, 255, 255), "right-arm": (30, 150, 150),
    "bag": (0, 220, 0), "scarf": (255, 90, 90),
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
        key = name.lower()
        known = (CITYSCAPES_BGR.get(key) or PARTS_BGR.get(key) or CAMVID_BGR.get(key)
                 or VOC_BGR.get(key) or FASHION_BGR.get(key))
        if known is None:
            known = tuple(DISTINCT[spare % len(DISTINCT)])
            spare += 1
        out[i] = known
    return out
