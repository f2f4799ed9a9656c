"""VOC-like multi-class scenes for seed 002 (per-pixel feedback losses).

Seed 002's template-similarity losses target correlated classes ("cat" and "dog", "sofa"
and "chair"), so the synthetic classes come in four confusable pairs
(:data:`edge.description.VOC_CLASSES` ids 1..8, pairs (1, 2), (3, 4), (5, 6), (7, 8)).
Both members of a pair draw the same body and colours from the same random numbers and
differ only in a small discriminative part (about 5-15% of the object), labelled with
the object's class:

- animals (cat / dog): body, head, legs, tail; pointed ears vs floppy rounded ears;
- furniture (sofa / chair): seat, base, low back, legs; armrests on both ends vs a tall
  backrest on one side;
- vehicles (bus / car): body, cabin, wheels; a row of many small windows vs two large;
- flyers (bird / aeroplane): fuselage, head, wings; forked tail vs fin and tailplane.

:func:`render_object` makes that testable: the same generator state rendered as either
member gives the same pixels outside the part region. Pairs differ from each other in
body shape, so most confusions are within a pair.

A scene is a textured background with 1-4 objects painted far to near (overlaps allowed,
several classes together). ``border`` adds VOC's void band (255, 3 px) along every object
outline. ``occlude`` covers each object's part region with a noisy neutral-grey patch in
the image only (seed 002's masked-discriminative-region experiment, Figs. 2.9-2.11): for
one seed the scenes and labels are identical to the unoccluded split.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from edge.description import VOC_CLASSES
from edge.optional import require

from .fashion import MIN_BOX_PIXELS, _write_boxed_folder, sensor_noise

PAIRS: tuple[tuple[int, int], ...] = ((1, 2), (3, 4), (5, 6), (7, 8))
FAMILIES: tuple[str, ...] = ("animal", "furniture", "vehicle", "flyer")
BOX_CLASSES: tuple[str, ...] = tuple(VOC_CLASSES[1:])
BORDER = 3  # px of the void band along object outlines
OBJECTS = (1, 4)
SCALE_RANGE = (0.3, 0.65)  # object length / shorter frame side

# (length, height) factors of each family's object units: compact upright furniture vs
# long low vehicles, so the pairs' silhouettes differ beyond their parts
_ASPECT = ((1.0, 1.0), (0.75, 1.45), (1.15, 0.85), (1.0, 1.0))
# Shade ids of an object's raster: colour = table[id] (see _colours); 0 = not the object.
_BODY, _HEAD, _LIMB, _FAR, _PART, _DARK, _GLASS, _EYE, _BASE = range(1, 10)


class VocObject(NamedTuple):
    """One object on its own square canvas (the object centred)."""

    image: np.ndarray  # (n, n, 3) float32 BGR, meaningful where mask
    mask: np.ndarray  # (n, n) bool: the object's pixels
    part: np.ndarray  # (n, n) bool: its discriminative part (subset of mask)
    # x0, y0, x1, y1 (exclusive) boxes that hold either member's part, one per part group
    # (e.g. each end of a piece of furniture): where the two members may differ
    regions: tuple[tuple[int, int, int, int], ...]
    patches: tuple[np.ndarray, ...]  # (y1 - y0, x1 - x0, 3) float32 neutral occluders


def _ellipse(c, a, b, n: int = 24) -> list:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return list(np.stack([c[0] + a * np.cos(t), c[1] + b * np.sin(t)], 1))


def _capsule(p, q, r, n: int = 10) -> list:
    """A convex outline of the segment p-q thickened by r."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    d = q - p
    a = math.atan2(d[1], d[0])
    t1 = np.linspace(a - math.pi / 2, a + math.pi / 2, n)
    t0 = t1 + math.pi
    return list(np.concatenate([q + r * np.stack([np.cos(t1), np.sin(t1)], 1),
                                p + r * np.stack([np.cos(t0), np.sin(t0)], 1)]))


def _rect(u0, v0, u1, v1) -> list:
    return [(u0, v0), (u1, v0), (u1, v1), (u0, v1)]


def _shapes(rng: np.random.Generator, family: int) -> tuple[list, list, list]:
    """(body, first member's part, second member's part): lists of (shade id, convex
    polygon in object units, u right / v up, length about 1), parts with a group key
    (the occluder covers each group of both members' parts with one box). Draws the same
    random numbers whichever member is rendered."""
    u = rng.uniform
    if family == 0:  # animal
        k, rh = u(0.85, 1.15), 0.15 * u(0.9, 1.1)
        hx, hy = 0.47, 0.17 + u(-0.03, 0.06)
        body = [(_LIMB, _capsule((-0.4, 0.05), (-0.58, 0.22 + u(-0.08, 0.12)), 0.03))]
        for x0 in (-0.3, -0.18, 0.18, 0.3):
            sway = u(-0.08, 0.08)
            body.append((_FAR if x0 in (-0.18, 0.3) else _LIMB,
                         _capsule((x0, -0.05), (x0 + sway, -0.42), 0.045)))
        body += [(_BODY, _ellipse((0, 0), 0.42, 0.17 * k)),
                 (_BODY, _capsule((0.3, 0.05), (hx, hy), 0.09)),
                 (_HEAD, _ellipse((hx, hy), rh, rh)),
                 (_HEAD, _ellipse((hx + 0.7 * rh, hy - 0.3 * rh), 0.55 * rh, 0.4 * rh)),
                 (_EYE, _ellipse((hx + 0.35 * rh, hy + 0.15 * rh), 0.14 * rh, 0.14 * rh, 10))]
        spread, tilt = u(0.35, 0.55), u(-0.15, 0.15)
        cat, dog = [], []
        for ang in (math.pi / 2 + spread + tilt, math.pi / 2 - spread + tilt):
            d = np.array([math.cos(ang), math.sin(ang)])
            n = np.array([-d[1], d[0]])
            base = np.array([hx, hy]) + 0.8 * rh * d
            cat.append((_PART, [base + 0.55 * rh * n, base - 0.55 * rh * n,
                                base + 1.3 * rh * d], 0))
            side = np.array([hx, hy]) + np.array([0.75 * rh * d[0] * 1.1, 0.4 * rh])
            dog.append((_PART, _capsule(side, side + np.array([0.15 * rh * d[0], -1.0 * rh]),
                                        0.33 * rh), 0))
        return body, cat, dog
    if family == 1:  # furniture
        back, leg = u(0.22, 0.32), u(0.08, 0.14)
        side = 1 if rng.random() < 0.5 else -1
        body = [(_DARK, _rect(x - 0.03, -0.25 - leg, x + 0.03, -0.2))
                for x in (-0.45, 0.45)]
        body += [(_FAR, _rect(-0.5, 0.02, 0.5, 0.02 + back)),
                 (_BASE, _rect(-0.5, -0.25, 0.5, -0.08)),
                 (_BODY, _rect(-0.5, -0.1, 0.5, 0.05))]
        arm_h = u(0.25, 0.32)
        sofa = [(_PART, _rect(s * 0.44, -0.15, s * 0.55, -0.15 + arm_h), s) for s in (-1, 1)]
        tall = u(0.26, 0.34)
        chair = [(_PART, _rect(side * 0.35, back - 0.03, side * 0.5, 0.02 + back + tall), side)]
        return body, sofa, chair
    if family == 2:  # vehicle
        cab0, cab1 = u(-0.48, -0.4), u(0.25, 0.38)
        body = [(_BODY, [(-0.5, -0.12), (0.5, -0.12), (0.5, 0.12), (0.44, 0.18),
                         (-0.5, 0.18)]),
                (_BODY, [(cab0, 0.17), (cab1, 0.17), (cab1 - 0.04, 0.3), (cab0, 0.3)])]
        for x in (-0.32, 0.32):
            body += [(_DARK, _ellipse((x, -0.12), 0.09, 0.09)),
                     (_EYE, _ellipse((x, -0.12), 0.04, 0.04, 12))]
        n = int(rng.integers(6, 10))
        span0, span1 = cab0 + 0.04, cab1 - 0.08
        step = (span1 - span0) / n
        bus = [(_GLASS, _rect(span0 + i * step + 0.18 * step, 0.15,
                              span0 + (i + 0.82) * step, 0.245), 0) for i in range(n)]
        mid = (span0 + span1) / 2 + u(-0.03, 0.03)
        car = [(_GLASS, _rect(span0 + 0.03, 0.155, mid - 0.03, 0.245), 0),
               (_GLASS, _rect(mid + 0.03, 0.155, span1 - 0.03, 0.245), 0)]
        return body, bus, car
    # flyer
    sweep, span = u(-0.12, 0.05), u(0.32, 0.42)
    body = [(_FAR, [(-0.05, 0.02), (0.15, 0.02), (sweep - 0.05, span), (sweep - 0.17, span)]),
            (_BODY, _ellipse((0, 0), 0.45, 0.08)),
            (_HEAD, _ellipse((0.42, 0.02), 0.075, 0.07)),
            (_EYE, _ellipse((0.45, 0.04), 0.015, 0.015, 8)),
            (_LIMB, [(-0.05, -0.02), (0.15, -0.02), (sweep - 0.08, -span * 0.9),
                     (sweep - 0.2, -span * 0.9)])]
    fork = u(0.12, 0.18)
    bird = [(_PART, [(-0.4, 0.025), (-0.45, -0.005), (-0.7, fork), (-0.645, fork + 0.02)], 0),
            (_PART, [(-0.4, -0.025), (-0.45, 0.005), (-0.7, -fork), (-0.645, -fork - 0.02)], 0)]
    plane = [(_PART, [(-0.44, 0.02), (-0.36, 0.04), (-0.44, 0.22), (-0.5, 0.22)], 0),
             (_PART, _rect(-0.58, -0.018, -0.4, 0.018), 0)]
    return body, bird, plane


def _colours(rng: np.random.Generator, family: int) -> tuple[np.ndarray, float, float]:
    """(shade table (10, 3) BGR, texture amplitude, stripe period (0 = none)): the same
    statistics for both members of the family's pair."""
    if family == 0:
        base = np.array([(40, 70, 120), (60, 110, 190), (110, 110, 110), (30, 30, 35),
                         (210, 215, 220), (70, 100, 140)][int(rng.integers(6))], np.float64)
        base = base * rng.uniform(0.8, 1.15)
    elif family == 1:
        base = rng.uniform(30, 230, 3)
    elif family == 2:
        base = rng.uniform(20, 250, 3)
    else:
        base = np.array([(200, 200, 200), (90, 90, 95), (60, 90, 130), (160, 120, 80),
                         (235, 235, 240)][int(rng.integers(5))], np.float64)
        base = base * rng.uniform(0.85, 1.1)
    table = np.zeros((10, 3), np.float64)
    table[_BODY] = base
    table[_HEAD] = base * 1.05
    table[_LIMB] = base * 0.9
    table[_FAR] = base * 0.78
    table[_PART] = base * rng.uniform(0.6, 0.75)
    table[_BASE] = base * 0.85
    table[_DARK] = rng.uniform(15, 45, 3)
    table[_GLASS] = np.array([90, 70, 50]) * rng.uniform(0.7, 1.3)
    table[_EYE] = (25, 25, 30) if family in (0, 3) else (150, 150, 150)
    amp = rng.uniform(0.04, 0.2)
    period = rng.uniform(0.05, 0.1) if family == 0 and rng.random() < 0.3 else 0.0
    return np.clip(table, 0, 255), float(amp), float(period)


def render_object(rng: np.random.Generator, cls: int, scale: float = 120.0) -> VocObject:
    """One object of class ``cls`` (1..8) about ``scale`` pixels long, on a square canvas.

    Everything random is drawn the same way for both members of ``cls``'s pair, so one
    generator state rendered as either member differs only inside ``regions``."""
    from edge.errors import ConfigError

    cv2 = require("cv2", "the synthetic VOC-like generator")
    if not 1 <= int(cls) < len(VOC_CLASSES):
        raise ConfigError(f"class must be 1..{len(VOC_CLASSES) - 1}, got {cls}")
    family, member = (int(cls) - 1) // 2, (int(cls) - 1) % 2
    body, part0, part1 = _shapes(rng, family)
    table, amp, period = _colours(rng, family)
    flip = 1.0 if rng.random() < 0.5 else -1.0
    a = math.radians(rng.uniform(-12, 12))
    stretch = rng.uniform(0.9, 1.1)
    n = int(math.ceil(scale * 1.75)) + 4
    c = n / 2.0
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])

    def px(poly) -> np.ndarray:
        uv = np.asarray(poly, float) * (flip * _ASPECT[family][0], stretch * _ASPECT[family][1])
        xy = uv @ rot.T * scale
        return np.round((np.stack([c + xy[:, 0], c - xy[:, 1]], 1)) * 16).astype(np.int32)

    def draw(shapes, raster) -> None:
        for sid, poly, *_group in shapes:
            cv2.fillConvexPoly(raster, px(poly), sid, cv2.LINE_8, 4)

    raster = np.zeros((n, n), np.uint8)
    draw(body, raster)
    chosen = np.zeros((n, n), np.uint8)
    draw(part0 if member == 0 else part1, chosen)
    draw(part0 if member == 0 else part1, raster)
    regions = []
    for g in sorted({e[2] for e in part0 + part1}):
        m = np.zeros((n, n), np.uint8)
        draw([e for e in part0 + part1 if e[2] == g], m)
        x, y, bw, bh = cv2.boundingRect(m)
        if bw and bh:
            regions.append((max(0, x - 2), max(0, y - 2), min(n, x + bw + 2),
                            min(n, y + bh + 2)))
    # colours: shade table, blotches, optional stripes (tabby), one-sided light; computed
    # in the object's bounding box only (the canvas is mostly empty)
    small = rng.standard_normal((max(1, n // 8), max(1, n // 8)), dtype=np.float32)
    blot = cv2.resize(small, (n, n), interpolation=cv2.INTER_LINEAR)
    gx, gy = rng.uniform(-0.2, 0.2), rng.uniform(-0.15, 0.15)
    x, y, bw, bh = cv2.boundingRect(raster)
    yy, xx = np.indices((bh, bw), dtype=np.float32)
    yy += y
    xx += x
    box = raster[y:y + bh, x:x + bw]
    shade = (1.0 + gx * (xx / n - 0.5) * 2 + gy * (yy / n - 0.5) * 2) * (
        1.0 + amp * blot[y:y + bh, x:x + bw])
    if period > 0:
        band = np.sin((xx * 0.9 + yy * 0.3) * (2 * math.pi / (period * scale))) > 0
        shade[band & (box != _EYE)] *= 0.7
    image = np.zeros((n, n, 3), np.float32)
    image[y:y + bh, x:x + bw] = table.astype(np.float32)[box] * shade[..., None]
    grey = rng.uniform(110, 145)
    patches = tuple(grey + sensor_noise(rng, (y1 - y0, x1 - x0, 1), 8.0)
                    + sensor_noise(rng, (y1 - y0, x1 - x0, 3), 3.0)
                    for x0, y0, x1, y1 in regions)
    return VocObject(image, raster > 0, chosen > 0, tuple(regions), patches)


def _background(cv2, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Textured wall and floor (or sky and ground) with neutral, class-free clutter."""
    from .synth import _texture

    img = _texture(rng, h, w, rng.uniform(40, 230, 3), rng.uniform(6, 25),
                   int(rng.integers(3, 16))).astype(np.float32)
    split = int(h * rng.uniform(0.35, 0.85))
    img[split:] = _texture(rng, h - split, w, rng.uniform(30, 210, 3), rng.uniform(6, 20), 6)
    for _ in range(int(rng.integers(0, 5))):
        x0, y0 = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        x1, y1 = x0 + int(rng.uniform(0.05, 0.3) * w), y0 + int(rng.uniform(0.05, 0.3) * h)
        if rng.random() < 0.5:
            cv2.rectangle(img, (x0, y0), (x1, y1), tuple(float(v) for v in rng.uniform(0, 255, 3)),
                          -1 if rng.random() < 0.5 else max(1, w // 80))
        else:
            cv2.circle(img, (x0, y0), max(2, (x1 - x0) // 2),
                       tuple(float(v) for v in rng.uniform(0, 255, 3)), -1)
    return img


class VocScene(NamedTuple):
    """One rendered scene."""

    image: np.ndarray  # (H, W, 3) uint8 BGR
    labels: np.ndarray  # (H, W) uint8: 0 background, 1..8 classes, 255 void border
    instances: np.ndarray  # (H, W) uint8: 0 background, k = k-th object in paint order
    classes: list[int]  # class id of instance k at index k - 1
    boxes: list[list[int]]  # [x1, y1, x2, y2, class id - 1], >= MIN_BOX_PIXELS visible
    regions: list[tuple[int, int, int, int]]  # frame-clipped part regions (x0, y0, x1, y1)


def border_band(instances: np.ndarray, width: int = BORDER) -> np.ndarray:
    """Pixels within the ``width``-px band centred on every instance outline (VOC void)."""
    cv2 = require("cv2", "the synthetic VOC-like generator")
    edge = np.zeros(instances.shape, np.uint8)
    edge[:, :-1] |= instances[:, :-1] != instances[:, 1:]
    edge[:-1, :] |= instances[:-1, :] != instances[1:, :]
    if width <= 1:
        return edge > 0
    return cv2.dilate(edge, np.ones((width, width), np.uint8), anchor=(width // 2,
                                                                      width // 2)) > 0


def render_voc(rng: np.random.Generator, size: tuple[int, int] = (320, 320),
               occlude: bool = False, border: bool = False,
               objects: int | None = None) -> VocScene:
    """A scene of 1-4 objects (``objects`` fixes the count) on a textured background.
    ``occlude`` and ``border`` change nothing else: the random draws are the same."""
    from edge.errors import ConfigError

    if objects is not None and objects < 0:
        raise ConfigError(f"objects must be 0 or more, got {objects}")
    cv2 = require("cv2", "the synthetic VOC-like generator")
    h, w = size
    img = _background(cv2, rng, h, w)
    n = int(rng.integers(OBJECTS[0], OBJECTS[1] + 1)) if objects is None else int(objects)
    placed = []
    for _ in range(n):
        cls = int(rng.integers(1, len(VOC_CLASSES)))
        scale = rng.uniform(*SCALE_RANGE) * min(h, w)
        cx, cy = rng.uniform(0.05, 0.95) * w, rng.uniform(0.1, 0.95) * h
        placed.append((cy + 0.3 * scale, cls, scale, cx, cy))
    placed.sort(key=lambda e: e[0])  # far (higher in the frame) first
    labels = np.zeros((h, w), np.uint8)
    inst = np.zeros((h, w), np.uint8)
    classes, regions, windows = [], [], []
    for k, (_depth, cls, scale, cx, cy) in enumerate(placed, start=1):
        obj = render_object(rng, cls, scale)
        m = obj.mask.shape[0]
        ox, oy = int(round(cx - m / 2)), int(round(cy - m / 2))
        x0, y0, x1, y1 = max(0, ox), max(0, oy), min(w, ox + m), min(h, oy + m)
        classes.append(cls)
        windows.append((y0, y1, x0, x1))
        if x1 > x0 and y1 > y0:
            sel = obj.mask[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
            labels[y0:y1, x0:x1][sel] = cls
            inst[y0:y1, x0:x1][sel] = k
            img[y0:y1, x0:x1][sel] = obj.image[y0 - oy:y1 - oy, x0 - ox:x1 - ox][sel]
        for (rx0, ry0, rx1, ry1), patch in zip(obj.regions, obj.patches):
            fx0, fy0 = max(0, rx0 + ox), max(0, ry0 + oy)
            fx1, fy1 = min(w, rx1 + ox), min(h, ry1 + oy)
            if fx1 > fx0 and fy1 > fy0:
                regions.append((fx0, fy0, fx1, fy1))
                if occlude:
                    img[fy0:fy1, fx0:fx1] = patch[fy0 - oy - ry0:fy1 - oy - ry0,
                                                  fx0 - ox - rx0:fx1 - ox - rx0]
    boxes = []
    for k, (y0, y1, x0, x1) in enumerate(windows, start=1):
        if x1 <= x0 or y1 <= y0:
            continue
        ys, xs = np.nonzero(inst[y0:y1, x0:x1] == k)
        if ys.size >= MIN_BOX_PIXELS:
            boxes.append([int(xs.min()) + x0, int(ys.min()) + y0, int(xs.max()) + x0 + 1,
                          int(ys.max()) + y0 + 1, classes[k - 1] - 1])
    if border:
        labels[border_band(inst)] = 255
    img += sensor_noise(rng, img.shape, rng.uniform(2, 6))
    return VocScene(np.clip(img, 0, 255).astype(np.uint8), labels, inst, classes, boxes,
                    regions)


def _write_sample(args: tuple[str, int, int, tuple[int, int], bool, bool]
                  ) -> tuple[np.ndarray, list]:
    """Render and write image ``index``: (label histogram, instance boxes)."""
    from .synth import scene_seed, write_pair

    out, index, seed, size, occlude, border = args
    scene = render_voc(np.random.default_rng(scene_seed(seed, index)), size, occlude, border)
    write_pair(out, index, scene.image, scene.labels)
    k = len(VOC_CLASSES)
    return np.bincount(scene.labels.ravel(), minlength=256)[:k], scene.boxes


def write_voc_dataset(out, images: int, size: tuple[int, int] = (320, 320), seed: int = 0,
                      overwrite: bool = False, progress: bool = True, workers: int = 1,
                      occlude: bool = False, border: bool = False) -> dict:
    """Write ``images`` VOC-like scenes: ``images/NNNNNN.jpg``, ``labels/NNNNNN.png``
    (0..8, 255 void borders with ``border``), ``boxes.json`` (``{"NNNNNN": [[x1, y1, x2,
    y2, c], ...]}``, instance boxes of visible pixels, x2/y2 exclusive, ``c`` = class id
    - 1 into ``box_classes``) and ``semantic.json`` (kind ``voc``, classes, histogram,
    ``pairs``, ``occluded``, ``border``, ``box_classes``). ``occlude`` writes the masked
    discriminative-region split (same scenes and labels as without, for one seed).
    ``workers`` > 1 renders in that many processes (same bytes as 1)."""
    size = tuple(int(v) for v in size)
    return _write_boxed_folder(
        out, images, seed, overwrite, progress, workers,
        {"classes": list(VOC_CLASSES), "kind": "voc", "size": list(size),
         "pairs": [list(p) for p in PAIRS], "occluded": bool(occlude), "border": bool(border),
         "box_classes": list(BOX_CLASSES)},
        _write_sample, (seed, size, bool(occlude), bool(border)), len(VOC_CLASSES))

