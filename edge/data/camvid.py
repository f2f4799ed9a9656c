"""CamVid-like street scenes with seed 004's 11 classes.

The synthetic street scenes (:mod:`edge.data.synth`) already have sky, building, road,
sidewalk, vegetation, poles with signs, vehicles and people; they map one to one onto
CamVid's Sky, Building, Road, Sidewalk, Tree, Signs, Car and Pedestrian. The three classes
the streets lack are drawn on top, seeded like the scene: fences along the sidewalk and
clutter objects (bins, boxes, bollards, cones = Misc) sit behind the actors (they are
painted on static background only), bicyclists (a rider on two wheels, labelled as one
Bicyclist region as CamVid does) in front.
"""

from __future__ import annotations

import math

import numpy as np

from edge.description import CAMVID_CLASSES
from edge.optional import require

from .samples import IGNORE_LABEL
from .synth import LABEL as STREET, SEMANTIC_CLASSES

C = {name: i for i, name in enumerate(CAMVID_CLASSES)}
# street id -> CamVid id
STREET_TO_CAMVID: dict[str, str] = {
    "sky": "sky", "building": "building", "vegetation": "tree", "road": "road",
    "sidewalk": "sidewalk", "pole": "signs", "vehicle": "car", "person": "pedestrian",
}  # fmt: skip
STREET_LUT = np.full(256, IGNORE_LABEL, np.uint8)
for _s, _c in STREET_TO_CAMVID.items():
    STREET_LUT[STREET[_s]] = C[_c]
assert set(STREET_TO_CAMVID) == set(SEMANTIC_CLASSES)
_STATIC = np.zeros(256, bool)  # classes that fences and clutter may cover (not actors)
_STATIC[[C["sky"], C["building"], C["road"], C["sidewalk"], C["tree"]]] = True


def _horizon(bg_labels: np.ndarray) -> int:
    """The first ground row of the background (road or sidewalk)."""
    ground = np.isin(bg_labels, [STREET["road"], STREET["sidewalk"]]).any(1)
    rows = np.flatnonzero(ground)
    return int(rows[0]) if rows.size else bg_labels.shape[0] // 2


def _col(rng: np.random.Generator, lo: float = 0, hi: float = 255) -> tuple[float, ...]:
    return tuple(float(v) for v in rng.uniform(lo, hi, 3))


def _fence(cv2, rng, image, labels, bg_street, horizon) -> None:
    h, w = labels.shape
    y0 = int(rng.uniform(horizon + 0.05 * (h - horizon), h - 2))
    row = bg_street[y0] == STREET["sidewalk"]
    if not row.any():
        return
    xs = np.flatnonzero(row)
    runs = np.split(xs, np.flatnonzero(np.diff(xs) > 1) + 1)
    run = max(runs, key=len)
    xa, xb = int(run[0]), int(run[-1])
    if xb - xa < 6:
        return
    fh = max(4.0, (y0 - horizon) * rng.uniform(0.25, 0.6))
    slope = rng.uniform(-0.15, 0.15)
    m = np.zeros((h, w), np.uint8)
    colour = _col(rng, 40, 200)
    t = max(1, int(fh * 0.08))
    posts = max(2, int((xb - xa) / max(6.0, fh * rng.uniform(0.6, 1.2))))
    for x in np.linspace(xa, xb, posts):
        yb = y0 + slope * (x - xa)
        cv2.line(m, (int(x), int(yb)), (int(x), int(yb - fh)), 1, t + 1)
    solid = rng.random() < 0.4
    if solid:  # a panel fence
        poly = np.array([[xa, y0], [xb, y0 + slope * (xb - xa)],
                         [xb, y0 + slope * (xb - xa) - fh * 0.85], [xa, y0 - fh * 0.85]],
                        np.int32)
        cv2.fillPoly(m, [poly], 1)
    else:  # rails
        for k in np.linspace(0.2, 0.9, int(rng.integers(2, 4))):
            cv2.line(m, (xa, int(y0 - k * fh)), (xb, int(y0 + slope * (xb - xa) - k * fh)), 1, t)
    sel = (m > 0) & _STATIC[labels]
    shade = image[sel].astype(np.float32) * 0.15 + np.array(colour, np.float32) * 0.85
    image[sel] = np.clip(shade, 0, 255).astype(np.uint8)
    labels[sel] = C["fence"]


def _clutter(cv2, rng, image, labels, horizon) -> None:
    h, w = labels.shape
    y = rng.uniform(horizon + 0.05 * (h - horizon), h)
    s = max(3.0, (y - horizon) * rng.uniform(0.12, 0.35))
    x = rng.uniform(0, w)
    m = np.zeros((h, w), np.uint8)
    kind = int(rng.integers(4))
    if kind == 0:  # bin
        cv2.rectangle(m, (int(x - s / 3), int(y - s)), (int(x + s / 3), int(y)), 1, -1)
    elif kind == 1:  # box / crate
        cv2.rectangle(m, (int(x - s * 0.6), int(y - s * 0.7)), (int(x + s * 0.6), int(y)), 1, -1)
    elif kind == 2:  # bollard
        cv2.rectangle(m, (int(x - s / 8), int(y - s)), (int(x + s / 8), int(y)), 1, -1)
        cv2.circle(m, (int(x), int(y - s)), max(1, int(s / 8)), 1, -1)
    else:  # cone
        cv2.fillPoly(m, [np.array([[x - s / 3, y], [x + s / 3, y], [x, y - s]], np.int32)], 1)
    sel = (m > 0) & _STATIC[labels]
    image[sel] = _col(rng)
    labels[sel] = C["misc"]


def _bicyclist(cv2, rng, image, labels, horizon) -> None:
    h, w = labels.shape
    y = rng.uniform(horizon + 0.15 * (h - horizon), h + 0.02 * h)
    ph = max(8.0, (y - horizon) * rng.uniform(0.9, 1.4))
    x = rng.uniform(0.05, 0.95) * w
    d = 1 if rng.random() < 0.5 else -1  # riding direction
    r = 0.2 * ph
    wb = 0.62 * ph  # wheel base
    front, back = (x + d * wb / 2, y - r), (x - d * wb / 2, y - r)
    m = np.zeros((h, w), np.uint8)
    img = np.zeros((h, w, 3), np.uint8)
    t = max(1, int(0.03 * ph))
    frame, tyre = _col(rng), (25, 25, 25)
    top = y - ph
    seat = (x - d * 0.12 * ph, y - 0.6 * ph)
    bars = (x + d * 0.25 * ph, y - 0.68 * ph)
    hip, shoulder = seat, (x + d * 0.08 * ph, top + 0.22 * ph)
    crank = (x, y - r)
    a = rng.uniform(0, 2 * math.pi)
    pedal = (crank[0] + 0.09 * ph * math.cos(a), crank[1] + 0.09 * ph * math.sin(a))
    knee = (x + d * 0.15 * ph, y - 0.5 * ph)
    shirt, pants, skin = _col(rng), _col(rng, 0, 200), _col(rng, 60, 230)

    def line(p, q, colour, th):
        p, q = (int(p[0]), int(p[1])), (int(q[0]), int(q[1]))
        cv2.line(m, p, q, 1, th)
        cv2.line(img, p, q, colour, th)

    for c in (front, back):
        cc, rr = (int(c[0]), int(c[1])), max(2, int(r))
        cv2.circle(m, cc, rr, 1, t + 1)
        cv2.circle(img, cc, rr, tyre, t + 1)
    for p, q in ((back, crank), (crank, seat), (seat, back), (crank, bars), (bars, front),
                 (seat, bars)):
        line(p, q, frame, t)
    line(hip, knee, pants, max(1, int(0.08 * ph)))
    line(knee, pedal, pants, max(1, int(0.07 * ph)))
    line(hip, shoulder, shirt, max(2, int(0.16 * ph)))
    line(shoulder, bars, shirt, max(1, int(0.06 * ph)))
    head = (int(shoulder[0] + d * 0.03 * ph), int(top + 0.1 * ph))
    hr = max(1, int(0.075 * ph))
    cv2.circle(m, head, hr, 1, -1)
    cv2.circle(img, head, hr, skin, -1)
    cv2.ellipse(img, head, (hr, max(1, hr // 2)), 0, 180, 360, _col(rng, 0, 250), -1)  # helmet
    sel = m > 0
    image[sel] = img[sel]
    labels[sel] = C["bicyclist"]


def render_camvid(seed: int, size: tuple[int, int] = (360, 480)) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """(image BGR uint8, labels uint8 in 0..10) of one CamVid-like scene from ``seed``."""
    from .synth import random_scene

    cv2 = require("cv2", "the CamVid-like generator")
    scene = random_scene(seed, size)
    image, street, _masks, _crowd = scene.render()
    labels = STREET_LUT[street]
    rng = np.random.default_rng([seed, 4])  # independent of the scene's own stream
    horizon = _horizon(scene.labels)
    for _ in range(int(rng.integers(1, 3)) if rng.random() < 0.85 else 0):
        _fence(cv2, rng, image, labels, scene.labels, horizon)
    for _ in range(int(rng.integers(1, 6))):
        _clutter(cv2, rng, image, labels, horizon)
    for _ in range(int(rng.integers(1, 3)) if rng.random() < 0.75 else 0):
        _bicyclist(cv2, rng, image, labels, horizon)
    noise = rng.normal(0.0, 3.0, image.shape).astype(np.float32)  # drawn objects get sensor
    image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)  # noise too
    return image, labels


def write_camvid_dataset(out, images: int, size: tuple[int, int] = (360, 480), seed: int = 0,
                         overwrite: bool = False, progress: bool = True) -> dict:
    """Write ``images`` CamVid-like scenes as a label folder (``images/``, ``labels/``,
    ``semantic.json`` with kind ``camvid`` and the class histogram). Output-folder rule
    as :func:`edge.data.synth.prepare_output`."""
    import json

    from tqdm import tqdm

    from edge import atomic
    from edge.palette import class_colours

    from .synth import scene_seed, start_label_folder, write_pair

    root, removed, meta = start_label_folder(out, images, seed, overwrite, {
        "classes": list(CAMVID_CLASSES), "kind": "camvid", "size": list(size),
        "palette_bgr": class_colours(CAMVID_CLASSES).tolist()})
    hist = np.zeros(len(CAMVID_CLASSES), np.int64)
    for i in tqdm(range(images), desc="camvid", unit="img", disable=None if progress else True):
        image, labels = render_camvid(scene_seed(seed, i), tuple(size))
        write_pair(root, i, image, labels)
        hist += np.bincount(labels.ravel(), minlength=len(CAMVID_CLASSES))[: len(hist)]
    meta["histogram"] = hist.tolist()
    atomic.write_text(root / "semantic.json", json.dumps(meta, indent=1))
    return {"images": images, "out": str(root), "size": list(size), "seed": seed,
            "removed": removed, "histogram": hist.tolist()}
