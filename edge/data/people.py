"""Synthetic scenes built to transfer to real cameras (``edge-build dataset synth --kind
people``): articulated people on a ground plane, seen through the geometry and the optics
of real installations.

Why each ingredient is here (each one closes a gap the flat silhouettes of
:mod:`edge.data.synth` leave between synthetic and real footage):

- **People** are :mod:`edge.data.parts`'s articulated bodies (24 joints, human
  proportions) posed walking, standing or sitting, at any walking direction (yaw
  0-360 degrees), tilted by the camera's pitch, clothed in the colours people really wear
  (nearly half dark: the old demo missed people in dark clothes), shaded by a light
  direction with soft body edges, with skin and hair tones and a cast shadow on the
  ground (the shadow is not part of the mask). Pairs walk together and occlude each other.
- **Camera geometry**: person height grows linearly with the foot's distance below the
  horizon (a flat ground plane). *surveillance*: camera high and pitched down, horizon
  above or near the top, people 4-35% of the frame; *street*: eye level, horizon
  mid-frame, heights from a few pixels to taller than the frame; *webcam*: one or two
  close upper bodies, standing or seated. A quarter of the scenes are the classic
  :mod:`edge.data.synth` scenes, so the shipped model keeps its synthetic held-out AP.
- **Hard negatives** sized by the same perspective: poles and lamp posts (with signs),
  bollards, traffic cones, bins, bags and litter on the ground, A-frame signs, trees,
  tripods and rocks: the upright or person-sized things a detector trained on people
  alone fires on. Nearer objects occlude farther people (masks keep the visible part).
- **Backgrounds**: random crops of real photographs (``backgrounds``: a folder of
  photos without people, e.g. ``tools/fetch_backgrounds.sh``'s from Debian's opencv-doc
  and PyPI's scikit-image) or procedural grass, paving, kerbs, facades and rooms.
- **Optics and encoding**: exposure, gamma, white balance, defocus, motion blur, a
  lower-resolution sensor upsampled, shot and read noise, chroma subsampling and JPEG
  compression at quality 20-90 (block and ringing artefacts like H.264's).

Annotations are COCO person instances of the visible pixels (people under
:data:`edge.data.synth.MIN_VISIBLE_PIXELS` are crowd, ignored), written by
:func:`edge.data.synth.write_dataset`; the semantic label map marks people and ignores the
rest (255), since a photograph's other classes are unknown. Everything is seeded.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.optional import require

from . import parts as body
from .samples import IGNORE_LABEL

VIEWS: tuple[str, ...] = ("surveillance", "street", "webcam", "classic")
VIEW_WEIGHTS: tuple[float, ...] = (0.4, 0.2, 0.15, 0.25)
ACTIONS: tuple[str, ...] = ("walk", "stand", "sit")
# scene width / frame width: square, 4:3 and 16:9 cameras stretched to the frame
ASPECTS: tuple[float, ...] = (1.0, 4 / 3, 16 / 9)
ASPECT_WEIGHTS: tuple[float, ...] = (0.3, 0.45, 0.25)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_PHOTOS = 2000
MIN_PHOTO_SIDE = 64
MAX_PHOTO_SIDE = 1280

# clothing in BGR: dark garments are common in real streets and were the old demo's misses
_DARK = ((25, 25, 28), (45, 35, 30), (60, 40, 25), (30, 30, 45), (50, 50, 50), (70, 55, 45),
         (20, 30, 20), (35, 25, 55))
_MID = ((110, 80, 50), (130, 120, 110), (90, 110, 130), (60, 90, 60), (140, 100, 70),
        (50, 60, 120), (100, 100, 150), (120, 130, 140))
_SKIN = ((60, 80, 110), (75, 100, 140), (95, 125, 170), (120, 155, 205), (150, 185, 230),
         (45, 60, 85), (105, 140, 190))
_HAIR = ((15, 15, 20), (25, 35, 50), (40, 60, 90), (70, 110, 150), (150, 160, 170),
         (30, 30, 30))


@dataclass
class ScenePerson(body.Person):
    """A :class:`edge.data.parts.Person` seen by a camera pitched down by ``pitch``
    degrees: the top of the head shows and the body shortens by cos(pitch)."""

    pitch: float = 0.0

    def world(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        joints, tips = super().world()
        t = math.radians(self.pitch)
        # rotate about x: points nearer the camera (z) go down the image, points higher up
        # come toward the camera
        rot = np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
        return joints @ rot.T, {k: v @ rot.T for k, v in tips.items()}


def _pick(rng: np.random.Generator, table) -> np.ndarray:
    return np.array(table[int(rng.integers(len(table)))], np.float64)


def _garment_colour(rng: np.random.Generator, dark: float) -> np.ndarray:
    r = rng.random()
    if r < dark:
        c = _pick(rng, _DARK)
    elif r < dark + 0.35:
        c = _pick(rng, _MID)
    else:
        c = rng.uniform(0, 255, 3)
    return np.clip(c * rng.uniform(0.8, 1.2, 3), 0, 255)


def _limbs(rng: np.random.Generator, p: ScenePerson, action: str) -> None:
    """Re-pose arms and legs of ``p`` (body frame) for ``action``; sitting also lowers the
    upper body onto a seat at knee height."""
    j, J, u = p.joints, body.J, rng.uniform
    length = {n: float(np.linalg.norm(j[J[f"left_{b}"]] - j[J[f"left_{a}"]]))
              for n, a, b in (("thigh", "hip", "knee"), ("shin", "knee", "ankle"),
                              ("upper", "shoulder", "elbow"), ("fore", "elbow", "wrist"))}
    phase = u(0, 2 * math.pi)
    stride = u(14, 32)
    if action == "sit":
        drop = j[J["pelvis"]][1] - (length["shin"] + 0.07)
        for name in body.JOINT_NAMES:
            if name not in ("left_knee", "right_knee", "left_ankle", "right_ankle",
                            "left_foot", "right_foot"):
                j[J[name]] = j[J[name]] - (0, drop, 0)
        for k in ("left_fingers", "right_fingers"):
            p.tips[k] = p.tips[k] - (0, drop, 0)
    for side, s in (("left", 1), ("right", -1)):
        if action == "walk":
            leg_flex = s * stride * math.sin(phase)
            knee = u(5, 15) + max(0.0, -leg_flex) * 1.3
            arm = dict(abduct=u(4, 12), flex=-0.8 * leg_flex + u(-5, 5), elbow=u(10, 40))
            leg_abduct = u(-2, 6)
        elif action == "stand":
            leg_flex, knee, leg_abduct = u(-6, 6), u(0, 8), u(0, 10)
            arm = dict(abduct=u(3, 15), flex=u(-10, 25), elbow=u(0, 40))
            if rng.random() < 0.2:  # holding a phone or a cup
                arm = dict(abduct=u(5, 20), flex=u(20, 45), elbow=u(80, 120))
        else:  # sit: thighs forward, shins down
            leg_flex, knee, leg_abduct = u(75, 95), u(70, 100), u(3, 15)
            arm = dict(abduct=u(5, 20), flex=u(10, 45), elbow=u(20, 80))
        d = body._limb_dir(s, leg_abduct, leg_flex)
        kn = j[J[f"{side}_hip"]] + length["thigh"] * d
        # the shin folds back and, for a horizontal (seated) thigh, down
        d2 = body._bend(d, np.array([0, -1.0 if action == "sit" else 0.0, -1.0]),
                        math.radians(knee))
        ankle = kn + length["shin"] * d2
        foot_dir = body._unit(np.array([s * u(0, 0.2), u(-0.3, 0.05), 1.0]))
        foot = ankle + 0.085 * foot_dir
        j[J[f"{side}_knee"]], j[J[f"{side}_ankle"]], j[J[f"{side}_foot"]] = kn, ankle, foot
        p.tips[f"{side}_toes"] = foot + 0.045 * foot_dir
        da = body._limb_dir(s, arm["abduct"], arm["flex"])
        elbow = j[J[f"{side}_shoulder"]] + length["upper"] * da
        db = body._bend(da, np.array([0, 0.3, 1.0]), math.radians(arm["elbow"]))
        wrist = elbow + length["fore"] * db
        hand = wrist + 0.055 * db
        j[J[f"{side}_elbow"]], j[J[f"{side}_wrist"]], j[J[f"{side}_hand"]] = elbow, wrist, hand
        p.tips[f"{side}_fingers"] = hand + 0.05 * db


def sample_scene_person(rng: np.random.Generator, action: str, pitch: float,
                        yaw: float | None = None) -> ScenePerson:
    """A posed, clothed person for a scene (``yaw`` degrees; None: any direction)."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
    base = body.sample_person(rng)
    p = ScenePerson(**{f: getattr(base, f) for f in base.__dataclass_fields__}, pitch=pitch)
    p.joints = p.joints.copy()
    p.tips = {k: v.copy() for k, v in p.tips.items()}
    p.yaw = float(rng.uniform(0, 360) if yaw is None else yaw)
    dark = rng.uniform(0.35, 0.6)
    p.colors = {"skin": _pick(rng, _SKIN) * rng.uniform(0.85, 1.1),
                "shirt": _garment_colour(rng, dark), "pants": _garment_colour(rng, dark + 0.15),
                "shoes": _pick(rng, _DARK) * rng.uniform(0.6, 1.6),
                "hair": _pick(rng, _HAIR) * rng.uniform(0.8, 1.2)}
    p.stripes = float(rng.choice([0.0, 0.0, 0.0, rng.uniform(0.02, 0.06)]))
    _limbs(rng, p, action)
    return p


# ------------------------------------------------------------------------- drawing


def _extent(p: ScenePerson) -> tuple[np.ndarray, np.ndarray]:
    """World (x, y) bounds of the drawn body: the joints and tips padded by the limb
    radii (0.09 covers the torso's half-width and the head; below the lowest joint only
    the feet's radius, so the lowest point is where the sole touches the ground)."""
    w, tips = p.world()
    pts = np.concatenate([w, np.stack(list(tips.values()))])[:, :2]
    lo, hi = pts.min(0) - 0.09, pts.max(0) + 0.09
    lo[1] = pts[:, 1].min() - p.radius["foot"]
    return lo, hi


def _shade(cv2, img: np.ndarray, mask: np.ndarray, scale: float, light: tuple[float, float],
           strength: float) -> None:
    """Light the body like a rounded solid: the edge facing ``light`` (image-plane unit
    vector) brightens, the far one darkens, silhouettes soften toward the background."""
    m = mask.astype(np.float32)
    sigma = max(0.6, 0.03 * scale)
    blur = cv2.GaussianBlur(m, (0, 0), sigma)
    gx = cv2.Sobel(blur, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(blur, cv2.CV_32F, 0, 1, ksize=3)
    norm = float(np.abs(np.stack([gx, gy])).max()) + 1e-6
    # the outward normal is -gradient; lit where it faces the light
    lambert = -(gx * light[0] + gy * light[1]) / norm
    shade = 1.0 + strength * lambert - 0.25 * strength * (1.0 - blur)
    sel = mask > 0
    img[sel] = np.clip(img[sel] * shade[sel][:, None], 0, 255)


def _draw_person(cv2, rng: np.random.Generator, frame: np.ndarray, p: ScenePerson,
                 foot: tuple[float, float], scale: float, light: tuple[float, float],
                 shadow: tuple[float, float, float] | None) -> np.ndarray | None:
    """Paint ``p`` with its lowest point at pixel ``foot`` and body height ``scale`` px;
    returns the person's full-frame boolean mask (None when it falls outside)."""
    h, w = frame.shape[:2]
    lo, hi = _extent(p)
    # world (x, y) -> pixel (ox + scale * x, oy - scale * y), the lowest point on the foot
    ox, oy = foot[0], foot[1] + scale * lo[1]
    x0, x1 = int(math.floor(ox + scale * lo[0])) - 1, int(math.ceil(ox + scale * hi[0])) + 2
    y0, y1 = int(math.floor(oy - scale * hi[1])) - 1, int(math.ceil(oy - scale * lo[1])) + 2
    cx0, cx1, cy0, cy1 = max(0, x0), min(w, x1), max(0, y0), min(h, y1)
    if cx1 - cx0 < 1 or cy1 - cy0 < 1:
        return None
    origin = (ox - cx0, oy - cy0)
    lab = body._draw_labels(cv2, p, (cy1 - cy0, cx1 - cx0), scale, origin)
    sel = lab > 0
    if not sel.any():
        return None
    full = np.zeros((h, w), bool)
    full[cy0:cy1, cx0:cx1] = sel
    if shadow is not None:
        _cast_shadow(cv2, frame, full, foot[1], shadow)
    patch = frame[cy0:cy1, cx0:cx1].astype(np.float32)
    body._paint(cv2, rng, p, patch, lab, scale, origin)
    _shade(cv2, patch, sel, scale, light, rng.uniform(0.15, 0.45))
    region = frame[cy0:cy1, cx0:cx1]
    region[sel] = patch[sel].astype(np.uint8)
    return full


def _cast_shadow(cv2, frame: np.ndarray, mask: np.ndarray, foot_y: float,
                 shadow: tuple[float, float, float]) -> None:
    """Darken the ground where ``mask`` (full frame) falls when projected from the feet:
    ``shadow`` = (shear, length, darkness); length < 0 throws it away from the camera."""
    shear, length, dark = shadow
    h, w = mask.shape
    # (x, y) -> (x + shear * (foot_y - y), foot_y + length * (foot_y - y))
    m = np.float32([[1, -shear, shear * foot_y], [0, -length, foot_y * (1 + length)]])
    sh = cv2.warpAffine(mask.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR)
    sh = cv2.GaussianBlur(sh, (0, 0), 1.5)
    sh[mask] = 0.0
    frame[:] = np.clip(frame * (1.0 - dark * sh)[..., None], 0, 255).astype(np.uint8)


def _colour(rng: np.random.Generator, choices) -> tuple[int, int, int]:
    c = choices[int(rng.integers(len(choices)))]
    return tuple(int(np.clip(v * rng.uniform(0.8, 1.2), 0, 255)) for v in c)


_GREYS = ((60, 60, 60), (110, 110, 110), (150, 150, 150), (40, 45, 40), (180, 180, 175))
_VIVID = ((0, 120, 255), (0, 200, 255), (255, 120, 0), (40, 40, 200), (0, 160, 0),
          (230, 230, 230), (20, 20, 20))
OBJECTS: tuple[str, ...] = ("pole", "bollard", "cone", "bin", "bag", "sign", "tree", "tripod",
                            "rock")


def _draw_object(cv2, rng: np.random.Generator, kind: str, x: float, y: float, ph: float,
                 size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A hard negative standing at ground point (x, y) where a person is ``ph`` px tall:
    (colours (H, W, 3) uint8, covered mask (H, W) uint8)."""
    h, w = size
    img = np.zeros((h, w, 3), np.uint8)
    m = np.zeros((h, w), np.uint8)
    u = rng.uniform

    def box(x0, y0, x1, y1, col):
        cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), col, -1)
        cv2.rectangle(m, (int(x0), int(y0)), (int(x1), int(y1)), 1, -1)

    def ell(cx, cy, ax, ay, col):
        axes = (max(1, int(ax)), max(1, int(ay)))
        cv2.ellipse(img, (int(cx), int(cy)), axes, 0, 0, 360, col, -1)
        cv2.ellipse(m, (int(cx), int(cy)), axes, 0, 0, 360, 1, -1)

    def poly(pts, col):
        pts = np.asarray(pts, np.int32)
        cv2.fillPoly(img, [pts], col)
        cv2.fillPoly(m, [pts], 1)

    if kind == "pole":
        tw, th = max(1.0, u(0.03, 0.07) * ph), u(1.3, 3.0) * ph
        col = _colour(rng, _GREYS + ((40, 80, 40),))
        box(x - tw / 2, y - th, x + tw / 2, y, col)
        top = rng.random()
        if top < 0.35:  # lamp head
            ell(x + u(-0.1, 0.1) * ph, y - th, u(0.06, 0.15) * ph, u(0.03, 0.06) * ph, col)
        elif top < 0.8:  # sign
            s = u(0.12, 0.3) * ph
            sy = y - th + u(0, 0.4) * th
            if rng.random() < 0.5:
                box(x - s, sy - s, x + s, sy + s * u(0.5, 1.2), _colour(rng, _VIVID))
            else:
                ell(x, sy, s, s, _colour(rng, _VIVID))
    elif kind == "bollard":
        bw, bh = u(0.1, 0.22) * ph, u(0.3, 0.6) * ph
        col = _colour(rng, _GREYS + ((30, 200, 230), (30, 30, 30), (90, 120, 150)))
        box(x - bw / 2, y - bh, x + bw / 2, y, col)
        ell(x, y - bh, bw / 2, bw / 5, tuple(min(255, int(c * 1.2)) for c in col))
    elif kind == "cone":
        cw, ch = u(0.12, 0.25) * ph, u(0.2, 0.4) * ph
        poly([(x - cw / 2, y), (x + cw / 2, y), (x + cw * 0.08, y - ch), (x - cw * 0.08, y - ch)],
             (0, int(u(90, 150)), 255))
        cv2.line(img, (int(x - cw * 0.3), int(y - ch * 0.5)), (int(x + cw * 0.3),
                                                                  int(y - ch * 0.5)),
                 (240, 240, 240), max(1, int(ch * 0.12)))
    elif kind == "bin":
        bw, bh = u(0.25, 0.45) * ph, u(0.4, 0.65) * ph
        col = _colour(rng, _GREYS + ((40, 90, 40), (120, 70, 20), (20, 20, 20)))
        box(x - bw / 2, y - bh, x + bw / 2, y, col)
        box(x - bw * 0.55, y - bh - bh * 0.08, x + bw * 0.55, y - bh, tuple(
            int(c * 0.7) for c in col))
    elif kind == "bag":  # a bag or litter lying on the ground: flat, irregular
        r = u(0.08, 0.3) * ph
        k = int(rng.integers(6, 11))
        ang = np.sort(rng.uniform(0, 2 * math.pi, k))
        rad = r * rng.uniform(0.5, 1.0, k)
        flat = u(0.3, 0.8)
        poly(np.stack([x + rad * np.cos(ang), y - r * flat + rad * flat * np.sin(ang)], 1),
             _colour(rng, ((230, 230, 230), (60, 220, 230), (200, 120, 40), (20, 20, 20),
                           (180, 200, 120))))
    elif kind == "sign":  # A-frame board
        sw, sh = u(0.2, 0.4) * ph, u(0.35, 0.6) * ph
        col = _colour(rng, _VIVID + _GREYS)
        poly([(x - sw / 2, y), (x + sw / 2, y), (x + sw * 0.4, y - sh), (x - sw * 0.4, y - sh)],
             col)
        for k in range(int(rng.integers(1, 4))):
            ly = y - sh * (0.3 + 0.2 * k)
            cv2.line(img, (int(x - sw * 0.25), int(ly)), (int(x + sw * 0.25), int(ly)),
                     tuple(255 - c for c in col), max(1, int(sh * 0.05)))
    elif kind == "tree":
        tw, th = u(0.05, 0.15) * ph, u(0.8, 2.5) * ph
        box(x - tw / 2, y - th, x + tw / 2, y, _colour(rng, ((30, 50, 70), (60, 70, 80))))
        green = (int(u(20, 60)), int(u(70, 150)), int(u(20, 90))) if rng.random() < 0.8 else \
            (int(u(20, 60)), int(u(80, 140)), int(u(140, 200)))
        for _ in range(int(rng.integers(1, 4))):
            ell(x + u(-0.3, 0.3) * th * 0.4, y - th - u(-0.1, 0.2) * th, u(0.2, 0.45) * th,
                u(0.2, 0.4) * th, tuple(int(c * u(0.8, 1.2)) for c in green))
    elif kind == "tripod":
        th = u(0.5, 0.9) * ph
        apex = (int(x), int(y - th))
        col = _colour(rng, ((20, 20, 20), (60, 60, 60), (150, 150, 150)))
        t = max(1, int(0.015 * ph))
        for dx in (-0.2, 0.05, 0.22):
            foot_pt = (int(x + dx * th), int(y - u(0, 0.05) * th))
            cv2.line(img, apex, foot_pt, col, t)
            cv2.line(m, apex, foot_pt, 1, t)
        box(x - 0.04 * ph, y - th - 0.08 * ph, x + 0.04 * ph, y - th, col)
    else:  # rock
        rw = u(0.15, 0.5) * ph
        ell(x, y - rw * 0.25, rw / 2, rw * u(0.2, 0.35), _colour(rng, _GREYS))
    if kind != "tripod":  # rounded solids: one side lit
        lit = img.astype(np.float32)
        _shade(cv2, lit, m, ph, (0.6, -0.8), 0.3)
        img = lit.astype(np.uint8)
    return img, m


# ---------------------------------------------------------------------- backgrounds


def list_photos(folder: str | Path) -> list[Path]:
    """The photos directly inside ``folder`` (no sub-folders, nothing that resolves outside
    it: a model-data folder is untrusted). Errors name the folder and the fix."""
    from edge.errors import DatasetError

    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"--backgrounds {root}: no such folder; give a folder of photos "
                           f"without people (see tools/fetch_backgrounds.sh)")
    base = root.resolve()
    photos = []
    for f in sorted(root.iterdir()):
        if f.suffix.lower() not in PHOTO_SUFFIXES or not f.is_file():
            continue
        if not f.resolve().is_relative_to(base):
            raise DatasetError(f"--backgrounds {root}: {f.name} links outside the folder; "
                               f"copy the photo in instead")
        photos.append(f)
    if not photos:
        raise DatasetError(f"--backgrounds {root}: no photos ({', '.join(PHOTO_SUFFIXES)}); "
                           f"give a folder of photos without people")
    if len(photos) > MAX_PHOTOS:
        raise DatasetError(f"--backgrounds {root}: {len(photos)} photos, more than "
                           f"{MAX_PHOTOS}; split the folder")
    for f in photos:  # every one readable before anything is written (or overwritten)
        _read_photo(str(f))
    return photos


@functools.lru_cache(maxsize=16)
def _read_photo(path: str) -> np.ndarray:
    """The photo, its longest side cut to :data:`MAX_PHOTO_SIDE` (crops are at most the
    frame's size, and a cache of full-size 12 MP decodes would take gigabytes)."""
    from edge.errors import DatasetError

    cv2 = require("cv2", "reading background photos")
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None or min(img.shape[:2]) < MIN_PHOTO_SIDE:
        raise DatasetError(f"{path}: not a readable photo of at least {MIN_PHOTO_SIDE}x"
                           f"{MIN_PHOTO_SIDE} pixels; remove it from --backgrounds")
    k = MAX_PHOTO_SIDE / max(img.shape[:2])
    if k < 1:
        img = cv2.resize(img, (round(img.shape[1] * k), round(img.shape[0] * k)),
                         interpolation=cv2.INTER_AREA)
    return img


def _photo_background(cv2, rng: np.random.Generator, photo: np.ndarray,
                      size: tuple[int, int]) -> np.ndarray:
    """A random crop (30-100% of the photo's short side, the frame's aspect), flipped and
    colour-shifted, resized to ``size``."""
    h, w = size
    ph, pw = photo.shape[:2]
    side = rng.uniform(0.3, 1.0)
    ch = int(min(ph, pw * h / w) * side)
    cw = int(ch * w / h)
    ch, cw = max(8, min(ch, ph)), max(8, min(cw, pw))
    y0, x0 = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = photo[y0:y0 + ch, x0:x0 + cw]
    out = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if cw > w else cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    gain = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.7, 1.2)
    return np.clip(out.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _fine(rng: np.random.Generator, h: int, w: int, amp: float) -> np.ndarray:
    return rng.normal(0, amp, (h, w, 1)).astype(np.float32)


def _ground_background(cv2, rng: np.random.Generator, size: tuple[int, int],
                       horizon: float) -> np.ndarray:
    """Grass and paving seen from above: paths at random angles, kerb lines, painted
    marks; a facade where the horizon is in frame."""
    from .synth import _texture

    h, w = size
    grass = _texture(rng, h, w, np.array([u for u in (rng.uniform(30, 70),
                                                      rng.uniform(90, 150),
                                                      rng.uniform(50, 100))]), 18, 10)
    img = np.clip(grass + _fine(rng, h, w, 10), 0, 255)
    pave = _texture(rng, h, w, np.full(3, rng.uniform(90, 190)) + rng.uniform(-10, 10, 3), 10,
                    int(rng.integers(6, 30)))
    pave = np.clip(pave + _fine(rng, h, w, 6), 0, 255)
    m = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        a = rng.uniform(-0.6, 0.6)
        y = rng.uniform(0.1, 1.0) * h
        width = rng.uniform(0.1, 0.5) * h
        pts = np.array([[-w, y - math.tan(a) * w], [2 * w, y + math.tan(a) * w * 2],
                        [2 * w, y + width + math.tan(a) * 2 * w],
                        [-w, y + width - math.tan(a) * w]], np.int32)
        cv2.fillPoly(m, [pts], 1)
        if rng.random() < 0.5:  # kerb / painted line along the path
            cv2.line(img, tuple(pts[0]), tuple(pts[1]), (0, 200, 230) if rng.random() < 0.5
                     else (220, 220, 220), max(1, int(h * 0.006)))
    img[m > 0] = pave[m > 0]
    if horizon > 0.02 * h:  # a building front above the horizon
        top = int(horizon)
        wall = _texture(rng, top, w, rng.uniform(50, 160, 3), 12, 8)
        img[:top] = wall
        win = max(3, int(rng.uniform(0.02, 0.06) * h))
        for wy in range(win, top - win, 2 * win):
            for wx in range(int(rng.integers(0, win)), w - win, int(win * rng.uniform(1.6, 3))):
                cv2.rectangle(img, (wx, wy), (wx + win, wy + int(win * 1.3)),
                              tuple(float(v) for v in rng.uniform(20, 90, 3)), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _background(cv2, rng: np.random.Generator, view: str, size: tuple[int, int],
                horizon: float, photos: tuple[str, ...]) -> np.ndarray:
    if photos and rng.random() < 0.55:
        return _photo_background(cv2, rng, _read_photo(photos[int(rng.integers(len(photos)))]),
                                 size)
    if view == "webcam":
        return body._background(rng, *size)
    if view == "street" and rng.random() < 0.6:
        from .synth import _background as street

        return street(rng, size)[0]
    return _ground_background(cv2, rng, size, horizon)


# --------------------------------------------------------------------------- camera


def camera(cv2, rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """What a real camera does to a scene: exposure, gamma, white balance, defocus or
    motion blur, a lower-resolution sensor, shot and read noise, chroma subsampling and
    JPEG compression. Returns a new uint8 image of the same size."""
    h, w = img.shape[:2]
    x = img.astype(np.float32) / 255.0
    x = np.clip(x * rng.uniform(0.6, 1.4), 0, 1) ** rng.uniform(0.8, 1.25)
    x = x * rng.uniform(0.88, 1.12, 3)[None, None, :]
    x = x * 255.0
    r = rng.random()
    if r < 0.35:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.6))
    elif r < 0.55:
        n = int(rng.integers(3, 10))
        k = np.zeros((n, n), np.float32)
        c = (n - 1) / 2
        a = rng.uniform(0, math.pi)
        cv2.line(k, (int(round(c - c * math.cos(a))), int(round(c - c * math.sin(a)))),
                 (int(round(c + c * math.cos(a))), int(round(c + c * math.sin(a)))), 1.0, 1)
        x = cv2.filter2D(x, -1, k / max(1.0, float(k.sum())))
    if rng.random() < 0.4:  # a lower-resolution sensor, upsampled
        f = rng.uniform(0.4, 0.85)
        small = cv2.resize(x, (max(8, int(w * f)), max(8, int(h * f))),
                           interpolation=cv2.INTER_AREA)
        x = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    shot = rng.uniform(0.0, 0.6)
    x = x + rng.normal(0, 1, x.shape).astype(np.float32) * (
        rng.uniform(1, 6) + shot * np.sqrt(np.maximum(x, 0)))
    out = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:  # 4:2:0 chroma, as video codecs store it
        ycc = cv2.cvtColor(out, cv2.COLOR_BGR2YCrCb)
        chroma = cv2.resize(ycc[..., 1:], (max(1, w // 2), max(1, h // 2)),
                            interpolation=cv2.INTER_AREA)
        ycc[..., 1:] = cv2.resize(chroma, (w, h), interpolation=cv2.INTER_LINEAR)
        out = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)
    if rng.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 91))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


# ---------------------------------------------------------------------------- scenes


def _layout(rng: np.random.Generator, view: str, size: tuple[int, int]
            ) -> tuple[float, float, float, tuple[int, int]]:
    """(horizon y, person px per px below the horizon, pitch degrees, people range)."""
    h, _ = size
    u = rng.uniform
    if view == "surveillance":
        horizon = h * u(-0.9, 0.12)
        bottom = h * u(0.1, 0.35)
        return horizon, bottom / (h - horizon), u(15, 45), (2, 12)
    horizon = h * u(0.3, 0.6)
    bottom = h * u(0.4, 1.1)
    return horizon, bottom / (h - horizon), u(0, 12), (1, 8)


def render_scene(seed: int, size: tuple[int, int] = (480, 480), photos: tuple[str, ...] = (),
                 view: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray]:
    """One seeded scene: (image BGR uint8 (H, W, 3), labels uint8 (H, W), person masks
    (N, H, W) bool, iscrowd (N,) bool), like :meth:`edge.data.synth.Scene.render`.

    ``photos``: paths of background photos (see :func:`list_photos`); ``view`` one of
    :data:`VIEWS` (None: drawn with :data:`VIEW_WEIGHTS`)."""
    from .synth import LABEL, MIN_VISIBLE_PIXELS, random_scene

    cv2 = require("cv2", "the synthetic people generator")
    rng = np.random.default_rng(seed)
    if view is None:
        view = VIEWS[int(rng.choice(len(VIEWS), p=VIEW_WEIGHTS))]
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    if view == "classic":
        image, labels, masks, crowd = random_scene(int(rng.integers(0, 2**31)), size).render()
        return camera(cv2, rng, image), labels, masks, crowd
    # 4:3 and 16:9 cameras squeezed into the frame, as the runtime stretches them
    aspect = float(rng.choice(ASPECTS, p=ASPECT_WEIGHTS))
    out_size = size
    size = (size[0], int(round(size[0] * aspect)))
    h, w = size
    u = rng.uniform
    light_angle = u(0, 2 * math.pi)
    light = (math.cos(light_angle), math.sin(light_angle))
    # shadows fall away from the light's side
    shadow_cfg = (-light[0] * u(0.3, 1.2), u(-0.6, 0.5), u(0.25, 0.6)) \
        if rng.random() < 0.7 else None
    actors: list[tuple[float, str, dict]] = []  # (foot y, kind, parameters), far first
    if view == "webcam":
        horizon, pitch = -1e9, u(0, 15)
        for k in range(int(rng.integers(1, 3))):
            scale = h * u(1.1, 2.6)
            action = "sit" if rng.random() < 0.5 else "stand"
            yaw = u(-40, 40) if rng.random() < 0.8 else u(0, 360)
            person = sample_scene_person(rng, action, pitch, yaw)
            lo, hi = _extent(person)
            head_top = h * u(-0.05, 0.35)
            foot_y = head_top + scale * (hi[1] - lo[1])
            x = w * (u(0.2, 0.8) if k == 0 else u(0.05, 0.95))
            actors.append((foot_y, "person", dict(p=person, x=x, scale=scale)))
        background = _background(cv2, rng, view, size, 0.0, photos)
    else:
        horizon, slope, pitch, (lo_n, hi_n) = _layout(rng, view, size)
        background = _background(cv2, rng, view, size, horizon, photos)
        top = max(horizon + 6 / slope, 0.0)
        bottom = h * (1.05 if view == "surveillance" else 1.3)
        n = int(rng.integers(lo_n, hi_n + 1))
        feet: list[tuple[float, float]] = []
        for _ in range(n):
            if feet and rng.random() < 0.3:  # walking with someone
                fx, fy = feet[int(rng.integers(len(feet)))]
                ph = slope * (fy - horizon)
                x, y = fx + rng.choice([-1, 1]) * u(0.15, 0.5) * ph, fy + u(-0.1, 0.1) * ph
            else:
                x, y = u(-0.05, 1.05) * w, u(top, bottom)
            feet.append((x, y))
            action = ACTIONS[int(rng.choice(3, p=(0.6, 0.3, 0.1)))]
            person = sample_scene_person(rng, action, pitch)
            actors.append((y, "person", dict(p=person, x=x, scale=slope * (y - horizon))))
        for _ in range(int(rng.integers(2, 10))):
            y = u(top, h * 1.02)
            kind = OBJECTS[int(rng.integers(len(OBJECTS)))]
            actors.append((y, kind, dict(x=u(0, w), ph=slope * (y - horizon))))
    frame = background.copy()
    masks: list[np.ndarray] = []
    for y, kind, a in sorted(actors, key=lambda t: t[0]):
        if kind == "person":
            if a["scale"] < 4:
                continue
            m = _draw_person(cv2, rng, frame, a["p"], (a["x"], y), a["scale"], light,
                             shadow_cfg if view != "webcam" else None)
            if m is None:
                continue
            for old in masks:
                old &= ~m
            masks.append(m)
        elif a["ph"] >= 3:
            img, cover = _draw_object(cv2, rng, kind, a["x"], y, a["ph"], size)
            sel = cover > 0
            frame[sel] = img[sel]
            for old in masks:
                old &= ~sel
    if size != out_size:
        frame = cv2.resize(frame, out_size[::-1], interpolation=cv2.INTER_AREA)
        masks = [cv2.resize(m.astype(np.uint8), out_size[::-1],
                            interpolation=cv2.INTER_NEAREST) > 0 for m in masks]
        masks = [m for m in masks if m.any()]
        h, w = out_size
    image = camera(cv2, rng, frame)
    labels = np.full((h, w), IGNORE_LABEL, np.uint8)
    if masks:
        stack = np.stack(masks)
        labels[stack.any(0)] = LABEL["person"]
        crowd = stack.reshape(len(masks), -1).sum(1) < MIN_VISIBLE_PIXELS
    else:
        stack, crowd = np.zeros((0, h, w), bool), np.zeros(0, bool)
    return image, labels, stack, crowd
