"""Synthetic street scenes with person instances, for tests, the demo model and the
runtime's ``--demo`` source (no dataset can be downloaded here).

A scene is a horizon with sky, buildings, trees, road and sidewalk, poles with signs,
vehicles, textured clutter and "person-like" actors: upright silhouettes 1.5-3x taller
than wide (head, torso, swinging arms and legs), in varied colours and textures, at
heights log-uniform from 5% to 95% of the frame (one stride-32 cell to nearly the frame at 640), so every ISB shape
from 1x1 to beyond 15x10 cells occurs. Actors are drawn far to near and occlude each
other; annotations are the visible parts. Everything is seeded: the same seed gives the
same pixels.

Scenes can also move (:meth:`Scene.advance`): people walk and cars drive, which is what
``--video`` writes and the runtime's demo source plays.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edge import atomic
from edge.optional import require
from edge.palette import class_colours

SEMANTIC_CLASSES: tuple[str, ...] = (
    "sky", "building", "vegetation", "road", "sidewalk", "pole", "vehicle", "person",
)  # fmt: skip
LABEL = {name: i for i, name in enumerate(SEMANTIC_CLASSES)}
# Label-map colours: Cityscapes' colours of these classes (edge.palette), BGR.
PALETTE = class_colours(SEMANTIC_CLASSES)

MIN_VISIBLE_PIXELS = 24  # smaller visible parts are annotated as crowd (ignored)


@dataclass
class Actor:
    """Something that moves: a person or a vehicle, anchored at its ground contact."""

    kind: str  # "person" | "vehicle" | "pole"
    x: float  # centre x of the ground contact, pixels
    y: float  # ground contact (feet / wheels) y, pixels; larger = nearer
    height: float
    width: float
    vx: float  # pixels per frame
    colors: np.ndarray  # (4, 3) uint8 palette of the actor's parts
    phase: float  # gait phase, radians
    arm_swing: float
    leg_swing: float
    stripes: float  # stripe period in pixels (0 = plain)
    stripe_angle: float


@dataclass
class Scene:
    """A seeded scene: a static background plus actors that can be advanced in time."""

    size: tuple[int, int]
    background: np.ndarray  # (H, W, 3) uint8 BGR
    labels: np.ndarray  # (H, W) uint8 semantic labels of the background
    actors: list[Actor] = field(default_factory=list)
    noise_seed: int = 0
    frame: int = 0
    _noise: np.ndarray | None = field(default=None, repr=False, compare=False)

    def advance(self, frames: int = 1) -> None:
        """Move every actor; walkers leaving the frame re-enter on the other side."""
        h, w = self.size
        for a in self.actors:
            a.x += a.vx * frames
            a.phase += 0.25 * frames * (abs(a.vx) > 0)
            margin = a.width
            if a.x < -margin:
                a.x += w + 2 * margin
            elif a.x > w + margin:
                a.x -= w + 2 * margin
        self.frame += frames

    def render(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(image BGR uint8, labels uint8, person masks (N, H, W) bool, iscrowd (N,) bool)."""
        cv2 = require("cv2", "the synthetic scene generator")
        h, w = self.size
        image = self.background.copy()
        labels = self.labels.copy()
        masks: list[np.ndarray] = []
        for a, (y0, y1, x0, x1), sel_local, parts in self._layers(cv2):
            sel = np.zeros((h, w), bool)
            sel[y0:y1, x0:x1] = sel_local
            for old in masks:
                old &= ~sel
            image[y0:y1, x0:x1][sel_local] = parts[sel_local]
            labels[y0:y1, x0:x1][sel_local] = LABEL[a.kind]
            if a.kind == "person":
                masks.append(sel)
        rng = np.random.default_rng(self.noise_seed + self.frame)
        noise = rng.normal(0.0, 4.0, size=image.shape).astype(np.float32)
        image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        if masks:
            stack = np.stack(masks)
            crowd = stack.reshape(len(masks), -1).sum(1) < MIN_VISIBLE_PIXELS
        else:
            stack = np.zeros((0, h, w), bool)
            crowd = np.zeros(0, bool)
        return image, labels, stack, crowd

    def render_image(self, out: np.ndarray | None = None) -> np.ndarray:
        """The frame only, fast enough for a live stream (a few ms at 640x640).

        The same drawing as :meth:`render` without annotations; sensor noise comes from a
        small bank of precomputed frames instead of a fresh draw per frame.
        """
        cv2 = require("cv2", "the synthetic scene generator")
        if out is None:
            out = np.empty_like(self.background)
        np.copyto(out, self.background)
        for _a, (y0, y1, x0, x1), sel_local, parts in self._layers(cv2):
            out[y0:y1, x0:x1][sel_local] = parts[sel_local]
        if self._noise is None:
            rng = np.random.default_rng(self.noise_seed)
            self._noise = rng.normal(0.0, 4.0, size=(4, *out.shape)).round().astype(np.int16)
        cv2.add(out, self._noise[self.frame % 4], dst=out, dtype=cv2.CV_8U)
        return out

    def _layers(self, cv2):
        """Each visible actor, far to near: (actor, window (y0, y1, x0, x1), local covered
        mask, local colours). Drawing happens in the actor's window only."""
        h, w = self.size
        for a in sorted(self.actors, key=lambda a: a.y):  # far (high in the frame) first
            m = 0.15 * a.height + 2
            y0, y1 = max(0, int(a.y - a.height - m)), min(h, int(a.y + m) + 1)
            x0, x1 = max(0, int(a.x - a.width - m)), min(w, int(a.x + a.width + m) + 1)
            if y1 <= y0 or x1 <= x0:
                continue
            local = replace(a, x=a.x - x0, y=a.y - y0)
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            parts = _draw_actor(cv2, local, mask, origin=(x0, y0))
            sel = mask > 0
            if sel.any():
                yield a, (y0, y1, x0, x1), sel, parts


def _texture(rng: np.random.Generator, h: int, w: int, base: np.ndarray, amp: float,
             scale: int) -> np.ndarray:
    """Base colour with blotchy low-frequency noise: (h, w, 3) uint8."""
    cv2 = require("cv2", "the synthetic scene generator")
    small = rng.normal(0, 1, size=(max(1, h // scale), max(1, w // scale), 1)).astype(np.float32)
    blot = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    out = base[None, None, :].astype(np.float32) + amp * blot
    return np.clip(out, 0, 255).astype(np.uint8)


def _background(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray,
                                                                           int]:
    cv2 = require("cv2", "the synthetic scene generator")
    h, w = size
    horizon = int(h * rng.uniform(0.3, 0.55))
    img = np.zeros((h, w, 3), np.uint8)
    lab = np.zeros((h, w), np.uint8)
    # sky: vertical gradient
    top = np.array(rng.choice([(235, 206, 135), (200, 200, 200), (250, 220, 180)]), np.float32)
    t = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
    img[:horizon] = np.clip(top * (1 - 0.3 * t) + 30 * t, 0, 255).astype(np.uint8)
    lab[:horizon] = LABEL["sky"]
    # ground: sidewalk, then a road trapezoid with lane marks
    img[horizon:] = _texture(rng, h - horizon, w, rng.uniform(140, 200, 3), 12, 8)
    lab[horizon:] = LABEL["sidewalk"]
    cx = rng.uniform(0.3, 0.7) * w
    road = np.array([[cx - 0.05 * w, horizon], [cx + 0.05 * w, horizon],
                     [cx + rng.uniform(0.5, 0.9) * w, h], [cx - rng.uniform(0.5, 0.9) * w, h]],
                    np.int32)
    road_mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(road_mask, [road], 1)
    road_tex = _texture(rng, h, w, rng.uniform(60, 100, 3), 8, 6)
    img[road_mask > 0] = road_tex[road_mask > 0]
    lab[road_mask > 0] = LABEL["road"]
    for k in range(6):
        y0 = horizon + (h - horizon) * (k / 6) ** 1.5
        y1 = horizon + (h - horizon) * ((k + 0.5) / 6) ** 1.5
        cv2.line(img, (int(cx), int(y0)), (int(cx), int(y1)), (230, 230, 230),
                 max(1, int(8 * (y1 - horizon) / h)))
    # buildings along the horizon
    x = -rng.uniform(0, 60)
    while x < w:
        bw = rng.uniform(0.08, 0.3) * w
        btop = int(rng.uniform(0.02, 0.9) * horizon)
        x0, x1 = int(x), int(min(w, x + bw))
        if x1 > max(0, x0):
            color = rng.uniform(50, 170, 3)
            img[btop:horizon, max(0, x0):x1] = _texture(rng, horizon - btop, x1 - max(0, x0),
                                                         color, 10, 10)
            lab[btop:horizon, max(0, x0):x1] = LABEL["building"]
            win = rng.uniform(6, 16)
            for wy in np.arange(btop + win, horizon - win, 2 * win):
                for wx in np.arange(x0 + win, x1 - win, 2 * win):
                    cv2.rectangle(img, (int(wx), int(wy)), (int(wx + win * 0.8),
                                                            int(wy + win * 1.1)),
                                  tuple(int(v) for v in color * 0.4), -1)
        x += bw + rng.uniform(0, 40)
    # trees / bushes
    for _ in range(rng.integers(2, 7)):
        c = (int(rng.uniform(0, w)), int(horizon + rng.uniform(-0.25, 0.1) * h))
        axes = (int(rng.uniform(0.03, 0.1) * w), int(rng.uniform(0.04, 0.15) * h))
        m = np.zeros((h, w), np.uint8)
        cv2.ellipse(m, c, axes, 0, 0, 360, 1, -1)
        tex = _texture(rng, h, w, np.array([40, rng.uniform(110, 170), 60]), 25, 4)
        img[m > 0] = tex[m > 0]
        lab[m > 0] = LABEL["vegetation"]
    return img, lab, horizon


def _person_colors(rng: np.random.Generator) -> np.ndarray:
    skin = rng.choice([(90, 120, 170), (120, 160, 215), (60, 85, 120), (150, 185, 230)])
    shirt = rng.integers(0, 256, 3)
    pants = rng.integers(0, 200, 3)
    hair = rng.integers(0, 90, 3)
    return np.array([skin, shirt, pants, hair], np.uint8)


def _draw_actor(cv2, a: Actor, mask: np.ndarray, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Draw actor ``a`` into ``mask`` (1 = covered) and return its colours, same size.

    ``origin`` is where ``mask`` sits in the frame (``a`` is given relative to it); it keeps
    textures anchored to the frame, so drawing into a window equals drawing full frame."""
    h, w = mask.shape
    parts = np.zeros((h, w, 3), np.uint8)
    if a.kind == "person":
        _draw_person(cv2, a, mask, parts, origin)
    elif a.kind == "vehicle":
        x0, x1 = a.x - a.width / 2, a.x + a.width / 2
        y1, y0 = a.y, a.y - a.height
        body = np.array([[x0, y0 + 0.45 * a.height], [x0 + 0.2 * a.width, y0],
                         [x1 - 0.25 * a.width, y0], [x1, y0 + 0.45 * a.height],
                         [x1, y1 - 0.15 * a.height], [x0, y1 - 0.15 * a.height]], np.int32)
        cv2.fillPoly(mask, [body], 1)
        cv2.fillPoly(parts, [body], tuple(int(v) for v in a.colors[1]))
        win = np.array([[x0 + 0.25 * a.width, y0 + 0.08 * a.height],
                        [x1 - 0.3 * a.width, y0 + 0.08 * a.height],
                        [x1 - 0.2 * a.width, y0 + 0.42 * a.height],
                        [x0 + 0.15 * a.width, y0 + 0.42 * a.height]], np.int32)
        cv2.fillPoly(parts, [win], (90, 60, 40))
        r = max(2, int(0.18 * a.height))
        for wx in (x0 + 0.22 * a.width, x1 - 0.22 * a.width):
            cv2.circle(mask, (int(wx), int(y1 - r)), r, 1, -1)
            cv2.circle(parts, (int(wx), int(y1 - r)), r, (20, 20, 20), -1)
    else:  # pole with a sign
        t = max(2, int(a.width * 0.25))
        cv2.rectangle(mask, (int(a.x - t / 2), int(a.y - a.height)), (int(a.x + t / 2), int(a.y)),
                      1, -1)
        cv2.rectangle(parts, (int(a.x - t / 2), int(a.y - a.height)),
                      (int(a.x + t / 2), int(a.y)), tuple(int(v) for v in a.colors[1]), -1)
        s = int(a.width / 2)
        c = (int(a.x), int(a.y - a.height + s))
        cv2.circle(mask, c, s, 1, -1)
        cv2.circle(parts, c, s, tuple(int(v) for v in a.colors[2]), -1)
    return parts


def _draw_person(cv2, a: Actor, mask: np.ndarray, parts: np.ndarray,
                 origin: tuple[int, int] = (0, 0)) -> None:
    ph, pw = a.height, a.width
    top = a.y - ph
    cx = a.x
    skin, shirt, pants, hair = (tuple(int(v) for v in c) for c in a.colors)
    # head
    hr = max(1, int(0.075 * ph))
    head = (int(cx), int(top + hr))
    # torso: shoulders -> hips
    sw, hw = 0.5 * pw, 0.4 * pw
    ys, yh = top + 0.17 * ph, top + 0.55 * ph
    torso = np.array([[cx - sw / 2, ys], [cx + sw / 2, ys], [cx + hw / 2, yh], [cx - hw / 2, yh]],
                     np.int32)
    limb = max(1, int(0.09 * ph))
    swing = math.sin(a.phase)
    # legs from the hips to the feet
    legs = []
    for side in (-1, 1):
        hip = (cx + side * hw / 4, yh)
        foot = (cx + side * (0.12 + 0.25 * a.leg_swing * abs(swing)) * pw, a.y - limb / 2)
        legs.append((hip, foot))
    arms = []
    for side in (-1, 1):
        sh = (cx + side * sw / 2, ys + limb / 2)
        hand = (cx + side * (sw / 2 + (0.02 + 0.2 * a.arm_swing * abs(swing)) * pw),
                top + (0.55 - 0.1 * a.arm_swing * abs(swing)) * ph)
        arms.append((sh, hand))

    def seg(img, p, q, color, th):
        cv2.line(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), color, th)

    for p, q in legs:
        seg(mask, p, q, 1, limb)
        seg(parts, p, q, pants, limb)
    cv2.fillPoly(mask, [torso], 1)
    cv2.fillPoly(parts, [torso], shirt)
    if a.stripes > 0:
        ys_i, ye_i = max(0, int(ys)), min(mask.shape[0], int(yh))
        xs_i, xe_i = max(0, int(cx - sw / 2)), min(mask.shape[1], int(cx + sw / 2) + 1)
        if ye_i > ys_i and xe_i > xs_i:
            yy, xx = np.mgrid[ys_i:ye_i, xs_i:xe_i]
            xx, yy = xx + origin[0], yy + origin[1]
            band = np.sin((xx * math.cos(a.stripe_angle) + yy * math.sin(a.stripe_angle))
                          * 2 * math.pi / a.stripes) > 0
            region = parts[ys_i:ye_i, xs_i:xe_i]
            region[band] = (region[band].astype(np.int16) * 0.5).astype(np.uint8)
    for p, q in arms:
        seg(mask, p, q, 1, max(1, int(limb * 0.8)))
        seg(parts, p, q, shirt, max(1, int(limb * 0.8)))
        cv2.circle(parts, (int(q[0]), int(q[1])), max(1, int(limb * 0.5)), skin, -1)
        cv2.circle(mask, (int(q[0]), int(q[1])), max(1, int(limb * 0.5)), 1, -1)
    cv2.circle(mask, head, hr, 1, -1)
    cv2.circle(parts, head, hr, skin, -1)
    cv2.ellipse(parts, head, (hr, max(1, hr // 2)), 0, 180, 360, hair, -1)


def random_scene(seed: int, size: tuple[int, int] = (640, 640), people: tuple[int, int] = (1, 8),
                 min_height: float | None = None, moving: bool = False) -> Scene:
    """A new scene from ``seed``: background, 1-8 people and distractors.

    People's heights are log-uniform from ``min_height`` (default 5% of the frame height:
    32 px, one stride-32 cell, at 640) to 95% of it; widths are a third to two thirds of
    the height. Relative sizes keep the distribution the same at every resolution.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    background, labels, horizon = _background(rng, size)
    actors: list[Actor] = []
    lo = math.log(min_height or 0.05 * h)
    hi = math.log(0.95 * h)
    for _ in range(int(rng.integers(people[0], people[1] + 1))):
        ph = math.exp(rng.uniform(lo, hi))
        pw = ph / rng.uniform(1.5, 3.0)
        y = rng.uniform(max(horizon + 2, ph * 0.9), h + 0.08 * ph)
        actors.append(Actor("person", rng.uniform(0, w), y, ph, pw,
                            rng.uniform(-3, 3) * moving * (ph / h + 0.3), _person_colors(rng),
                            rng.uniform(0, 2 * math.pi), rng.uniform(0.2, 1.0),
                            rng.uniform(0.2, 1.0), rng.choice([0.0, rng.uniform(4, 12)]),
                            rng.uniform(0, math.pi)))
    for _ in range(int(rng.integers(0, 4))):
        vh = rng.uniform(0.05, 0.3) * h
        actors.append(Actor("vehicle", rng.uniform(0, w), rng.uniform(horizon + vh * 0.5, h),
                            vh, vh * rng.uniform(1.6, 2.6), rng.uniform(-6, 6) * moving,
                            rng.integers(0, 256, (4, 3)).astype(np.uint8), 0, 0, 0, 0, 0))
    for _ in range(int(rng.integers(0, 4))):
        ph = rng.uniform(0.15, 0.6) * h
        actors.append(Actor("pole", rng.uniform(0, w), rng.uniform(horizon + 5, h), ph,
                            ph * rng.uniform(0.08, 0.2), 0.0,
                            rng.integers(0, 256, (4, 3)).astype(np.uint8), 0, 0, 0, 0, 0))
    return Scene(size=size, background=background, labels=labels, actors=actors,
                 noise_seed=int(rng.integers(0, 2**31)))


def scene_seed(seed: int, index: int) -> int:
    """Seed of image ``index`` of a dataset generated with ``seed`` (stable across runs)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _render_record(args: tuple[int, int, tuple[int, int], str, str, tuple[str, ...]]) -> dict:
    """Render and write image ``index`` of ``kind`` (street or people, with background
    photos); returns its COCO image and annotation records."""
    from edge.data.coco import encode_rle

    cv2 = require("cv2", "the synthetic scene generator")
    seed, index, size, out, kind, photos = args
    if kind == "people":
        from edge.data.people import render_scene

        image, labels, masks, crowd = render_scene(scene_seed(seed, index), size, photos)
    else:
        image, labels, masks, crowd = random_scene(scene_seed(seed, index), size).render()
    name = f"{index:06d}"
    if not cv2.imwrite(f"{out}/images/{name}.jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95]) or \
            not cv2.imwrite(f"{out}/labels/{name}.png", labels):
        raise OSError(f"cannot write {out}/images/{name}.jpg or its label")
    anns = []
    for m, c in zip(masks, crowd):
        ys, xs = np.nonzero(m)
        if ys.size == 0:
            continue
        anns.append({"segmentation": encode_rle(m), "area": int(ys.size),
                     "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                              int(ys.max() - ys.min() + 1)],
                     "iscrowd": int(c), "category_id": 1})
    return {"image": {"file_name": f"{name}.jpg", "height": size[0], "width": size[1]},
            "annotations": anns}


GENERATOR = "edge-seg synth"
_COCO_DESCRIPTION = "edge-seg synthetic scenes"
# joints: kind parts; boxes: kinds fashion and voc
_OWNED_TOP = ("annotations.json", "semantic.json", "joints.json", "boxes.json")
_OWNED_IN = {"images": ".jpg", "labels": ".png"}


def _is_owned(root, path) -> bool:
    """Whether ``path`` (inside ``root``) is a file :func:`write_dataset` writes: the two
    JSON files (and their temporary ``.tmp`` names) and ``images/NNNNNN.jpg`` /
    ``labels/NNNNNN.png``."""
    rel = path.relative_to(root).parts
    if len(rel) == 1:
        return rel[0] in _OWNED_TOP or rel[0] in {f + ".tmp" for f in _OWNED_TOP}
    if len(rel) == 2 and rel[0] in _OWNED_IN:
        stem, dot, ext = rel[1].partition(".")
        return stem.isdigit() and len(stem) >= 6 and dot + ext == _OWNED_IN[rel[0]]
    return False


def is_synth_dataset(root) -> bool:
    """True when ``root`` was written by :func:`write_dataset` (its ``semantic.json`` names
    the generator, or its ``annotations.json`` carries the synthetic description)."""
    import json
    from pathlib import Path

    root = Path(root)
    try:
        meta = json.loads((root / "semantic.json").read_text())
        if isinstance(meta, dict) and meta.get("generator") == GENERATOR:
            return True
    except (OSError, ValueError):
        pass
    try:
        coco = json.loads((root / "annotations.json").read_text())
        return isinstance(coco, dict) and (coco.get("info") or {}).get(
            "description") == _COCO_DESCRIPTION
    except (OSError, ValueError, AttributeError):
        return False


def start_label_folder(out, images: int, seed: int, overwrite: bool,
                       meta: dict) -> tuple[Path, int, dict]:
    """Check the counts, prepare ``out`` (see :func:`prepare_output`), make images/ and
    labels/ and write a first semantic.json (which marks the folder as synth's): the start
    shared by the label-folder kinds (parts, squares, camvid). ``meta`` adds the kind's own
    keys (classes, kind, size, ...). Returns (root, files removed, the full meta)."""
    from edge.errors import ConfigError

    if images < 1:
        raise ConfigError(f"--images must be at least 1, got {images}")
    if seed < 0:
        raise ConfigError(f"--seed must be 0 or more, got {seed}")
    root = Path(out)
    removed = prepare_output(root, overwrite)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    full = {"ignore_label": 255, "images": "images", "labels": "labels",
            "generator": GENERATOR, "seed": seed, **meta}
    atomic.write_text(root / "semantic.json", json.dumps(full, indent=1))
    return root, removed, full


def write_pair(root, index: int, image: np.ndarray, labels: np.ndarray) -> None:
    """images/NNNNNN.jpg (quality 95) and labels/NNNNNN.png, or an OSError naming them."""
    cv2 = require("cv2", "writing datasets")
    name = f"{index:06d}"
    if not cv2.imwrite(f"{root}/images/{name}.jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95]) \
            or not cv2.imwrite(f"{root}/labels/{name}.png", labels):
        raise OSError(f"cannot write {root}/images/{name}.jpg or its label")


def prepare_output(out, overwrite: bool = False, keep=()) -> int:
    """Make ``out`` ready for :func:`write_dataset`, refusing anything that could lose or
    mix data: a file; a non-empty folder that is not a synthetic dataset; a synthetic
    dataset unless ``overwrite`` (then only the files synth wrote are removed, and only
    when nothing else is in the way; paths in ``keep``, e.g. the video being written,
    are left alone). Returns how many old files were removed."""
    from pathlib import Path

    from edge.errors import DatasetError

    root = Path(out)
    if root.exists() and not root.is_dir():
        raise DatasetError(f"--out {root}: is a file; give a folder (new or empty)")
    if not root.is_dir() or not any(root.iterdir()):
        return 0
    kept = {Path(k).resolve() for k in keep}
    if not is_synth_dataset(root):
        raise DatasetError(f"--out {root}: not empty and not an edge-seg synthetic dataset; "
                           f"choose a new or empty folder (nothing was written)")
    files = [p for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()]
    if not overwrite:
        n = sum(1 for p in files if p.parent.name == "images" and _is_owned(root, p))
        raise DatasetError(f"--out {root}: already holds a synthetic dataset ({n} images); "
                           f"pass --overwrite to replace it (removes only the files synth "
                           f"wrote) or choose another --out")
    foreign = [p for p in files if not _is_owned(root, p) and p.resolve() not in kept]
    foreign += [p for p in sorted(root.iterdir()) if p.is_dir() and p.name not in _OWNED_IN]
    if foreign:
        raise DatasetError(f"--out {root}: holds files synth did not write (e.g. {foreign[0]}); "
                           f"--overwrite removes only synth's own files, so move those away "
                           f"or choose another --out (nothing was removed)")
    owned = [p for p in files if _is_owned(root, p)]
    for p in owned:
        p.unlink()
    return len(owned)


def write_dataset(out: str, images: int, size: tuple[int, int], seed: int,
                  workers: int = 1, progress: bool = True, overwrite: bool = False,
                  keep=(), kind: str = "street", backgrounds: str | None = None) -> dict:
    """Write ``images`` synthetic scenes to ``out``: ``images/*.jpg``, ``labels/*.png``
    (semantic labels, :data:`SEMANTIC_CLASSES`), ``annotations.json`` (COCO instances,
    category ``person``, RLE masks) and ``semantic.json``. Returns a summary.

    ``kind``: ``street`` (this module's scenes) or ``people`` (:mod:`edge.data.people`'s
    scenes built to transfer to real cameras; ``backgrounds`` a folder of photos without
    people to crop backgrounds from, else procedural ones only).

    ``out`` must be new or empty, or a previous synthetic dataset with ``overwrite``
    (see :func:`prepare_output`): old images never mix with new ones."""
    import json
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path

    from tqdm import tqdm

    from edge.errors import ConfigError

    if images < 1:
        raise ConfigError(f"--images must be at least 1, got {images}")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1 (1 renders in this process), got "
                          f"{workers}")
    if seed < 0:
        raise ConfigError(f"--seed must be 0 or more, got {seed}")
    if kind not in ("street", "people"):
        raise ConfigError(f"kind must be street or people, got {kind!r}")
    if backgrounds is not None and kind != "people":
        raise ConfigError("--backgrounds is for --kind people")
    photos: tuple[str, ...] = ()
    if backgrounds is not None:
        from edge.data.people import list_photos

        photos = tuple(str(p) for p in list_photos(backgrounds))
    root = Path(out)
    removed = prepare_output(root, overwrite, keep)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    # first: marks the folder as synth's, so an interrupted run can be overwritten
    atomic.write_text(root / "semantic.json", json.dumps(
        {"classes": list(SEMANTIC_CLASSES), "ignore_label": 255, "images": "images",
         "labels": "labels", "palette_bgr": PALETTE.tolist(), "generator": GENERATOR},
        indent=1))
    jobs = [(seed, i, tuple(size), str(root), kind, photos) for i in range(images)]
    bar = dict(total=images, desc="synth", unit="img", disable=None if progress else True)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            records = list(tqdm(pool.map(_render_record, jobs, chunksize=8), **bar))
    else:
        records = [_render_record(j) for j in tqdm(jobs, **bar)]
    coco_images, coco_anns = [], []
    for i, rec in enumerate(records):
        coco_images.append({"id": i + 1, **rec["image"]})
        for ann in rec["annotations"]:
            coco_anns.append({"id": len(coco_anns) + 1, "image_id": i + 1, **ann})
    coco = {"info": {"description": _COCO_DESCRIPTION, "seed": seed, "kind": kind,
                     "backgrounds": len(photos)},
            "images": coco_images, "annotations": coco_anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    atomic.write_text(root / "annotations.json", json.dumps(coco))
    return {"images": images, "instances": len(coco_anns),
            "crowd": sum(a["iscrowd"] for a in coco_anns), "out": str(root),
            "size": list(size), "seed": seed, "removed": removed, "kind": kind,
            "backgrounds": len(photos)}


def write_video(path: str, frames: int, size: tuple[int, int], seed: int, fps: float = 25.0,
                progress: bool = True) -> dict:
    """Write a moving synthetic scene (people walking, cars driving) as an mp4 video."""
    from tqdm import tqdm

    from edge.errors import ConfigError, DatasetError

    cv2 = require("cv2", "writing videos")
    if frames < 1:
        raise ConfigError(f"--frames must be at least 1 with --video, got {frames}")
    if seed < 0:
        raise ConfigError(f"--seed must be 0 or more, got {seed}")
    h, w = size
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise DatasetError(f"{path}: cannot open a video writer (mp4v); check the folder exists "
                           f"and is writable, and that the name ends in .mp4")
    scene = random_scene(seed, size, moving=True)
    try:
        for _ in tqdm(range(frames), desc="video", unit="frame",
                      disable=None if progress else True):
            writer.write(scene.render()[0])
            scene.advance()
    finally:
        writer.release()
    return {"frames": frames, "fps": fps, "size": list(size), "out": path}
