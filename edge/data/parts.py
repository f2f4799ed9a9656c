"""Synthetic body-part data for seed 001 (a SURREAL substitute; SURREAL cannot be
downloaded here).

An articulated person (24 SMPL-like joints, sampled pose and proportions, a facing of
front / back / profile-left / profile-right) is posed in a small 3D body frame and
projected orthographically, so left/right and occlusion follow from geometry: parts are
painted far to near, and what stays visible is the label. Labels are SURREAL's 25 part
ids (:data:`edge.description.PARTS_CLASSES`), left/right by the person's own side (a
front-facing person's left arm is on the image right). Clothing shares colours across
parts (the torso slices are one shirt), so part boundaries must be learned from shape
and pose, as in SURREAL. Every sample is a person-centred crop (longest box side plus
10-20%), one person per crop, on a street or textured background without other people.

Also here: the left/right swap table and :func:`mirror` (seed 001 flipped without
swapping; ``swap=False`` reproduces that), the 13 reporting groups, and the coarse LUTs
of the hourglass's progressive ground truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from edge.description import PARTS_CLASSES
from edge.optional import require

from .samples import IGNORE_LABEL

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip
J = {name: i for i, name in enumerate(JOINT_NAMES)}
P = {name: i for i, name in enumerate(PARTS_CLASSES)}
FACINGS: tuple[str, ...] = ("front", "back", "profile-left", "profile-right")
# yaw of the body about the vertical axis: profile-left faces the image left, so its left
# side is the near one
_YAW = {"front": 0.0, "back": 180.0, "profile-left": -90.0, "profile-right": 90.0}

_LR_PAIRS = ((2, 3), (5, 6), (8, 9), (11, 12), (14, 15), (17, 18), (19, 20), (21, 22), (23, 24))
SWAP_LR: tuple[int, ...] = tuple(
    int(x) for x in np.array([dict(_LR_PAIRS + tuple((b, a) for a, b in _LR_PAIRS)).get(i, i)
                              for i in range(len(PARTS_CLASSES))]))
_SWAP_LUT = np.arange(256, dtype=np.uint8)
_SWAP_LUT[: len(SWAP_LR)] = SWAP_LR
JOINT_SWAP: tuple[int, ...] = tuple(
    J[n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")]
    for n in JOINT_NAMES)

# Seed 001's 13 reporting columns (Tables 2 and 5), name -> part ids.
PART_GROUPS: dict[str, tuple[int, ...]] = {
    "Background": (0,), "Head": (16,), "Torso": (1, 4, 7, 10), "U.Legs": (2, 3),
    "L.Legs": (5, 6), "Neck": (13,), "Shoulder": (14, 15), "U.Arms": (17, 18),
    "L.Arms": (19, 20), "Feet": (8, 9), "Hands": (21, 22), "Fingers": (23, 24),
    "Toes": (11, 12),
}  # fmt: skip


class Level(NamedTuple):
    """One progressive ground-truth level: ``lut[part_id]`` -> coarse id (255 stays 255)."""

    lut: np.ndarray
    names: tuple[str, ...]


def _level(names: tuple[str, ...], members: list[tuple[int, ...]]) -> Level:
    lut = np.full(256, IGNORE_LABEL, np.uint8)
    lut[0] = 0
    for k, ids in enumerate(members, start=1):
        lut[list(ids)] = k
    assert (lut[: len(PARTS_CLASSES)] != IGNORE_LABEL).all()
    return Level(lut, names)


_ARMS, _LEGS = tuple(range(17, 25)), (2, 3, 5, 6, 8, 9, 11, 12)
# Hourglass progressive GT (seed 001 §4.1.3; decision 2.6.7), level -> LUT and names.
PROGRESSIVE_LEVELS: dict[int, Level] = {
    1: _level(("background", "body"), [tuple(range(1, 25))]),
    2: _level(("background", "head", "torso", "arms", "legs"),
              [(16, 13), (1, 4, 7, 10, 14, 15), _ARMS, _LEGS]),
    3: _level(("background", "head", "torso", "upper_arms", "lower_arms", "thighs",
               "lower_legs"),
              [(16, 13), (1, 4, 7, 10, 14, 15), (17, 18), (19, 20, 21, 22, 23, 24), (2, 3),
               (5, 6, 8, 9, 11, 12)]),
    4: _level(PARTS_CLASSES, [(i,) for i in range(1, 25)]),
}

# Which parts make a joint visible (the joint's pixel shows one of them).
_JOINT_PARTS: dict[str, tuple[int, ...]] = {
    "pelvis": (1,), "left_hip": (1, 2), "right_hip": (1, 3), "spine1": (1, 4, 7),
    "left_knee": (2, 5), "right_knee": (3, 6), "spine2": (4, 7, 10), "left_ankle": (5, 8),
    "right_ankle": (6, 9), "spine3": (7, 10, 13, 14, 15), "left_foot": (8, 11),
    "right_foot": (9, 12), "neck": (10, 13, 16), "left_collar": (10, 13, 14),
    "right_collar": (10, 13, 15), "head": (16,), "left_shoulder": (14, 17),
    "right_shoulder": (15, 18), "left_elbow": (17, 19), "right_elbow": (18, 20),
    "left_wrist": (19, 21), "right_wrist": (20, 22), "left_hand": (21, 23),
    "right_hand": (22, 24),
}  # fmt: skip


def mirror(image: np.ndarray, labels: np.ndarray, joints: np.ndarray | None = None,
           swap: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Horizontal flip of a part sample: (image, labels, joints).

    A flipped left arm looks like a right arm, so ``swap`` (default) relabels left/right
    ids (and joints: x -> W-1-x, left/right rows exchanged). ``swap=False`` is seed 001's
    augmentation, which flipped pixels only and so taught contradictory sides."""
    image = np.ascontiguousarray(image[:, ::-1])
    labels = np.ascontiguousarray(labels[:, ::-1])
    if swap:
        labels = _SWAP_LUT[labels]
    if joints is not None:
        joints = np.array(joints, np.float32, copy=True)
        joints[:, 0] = labels.shape[1] - 1 - joints[:, 0]
        if swap:
            joints = joints[list(JOINT_SWAP)]
    return image, labels, joints


def part_centroids(labels: np.ndarray) -> np.ndarray:
    """(25, 3) float32 ``(x, y, present)`` per part id: the joint-branch alternative of
    seed 001 (Fig. 16) when joints are not used."""
    out = np.zeros((len(PARTS_CLASSES), 3), np.float32)
    ys, xs = np.indices(labels.shape)
    for i in range(len(PARTS_CLASSES)):
        m = labels == i
        n = m.sum()
        if n:
            out[i] = (xs[m].mean(), ys[m].mean(), 1.0)
    return out


# ---------------------------------------------------------------------------- the person


@dataclass
class Person:
    """A sampled person: body-frame joints (units of body height; x = the person's left,
    y = up, z = forward), limb radii and clothing. Project with :meth:`project`."""

    facing: str
    yaw: float  # degrees, facing's yaw plus jitter
    joints: np.ndarray  # (24, 3) body frame
    tips: dict[str, np.ndarray]  # distal points: fingertips and toe tips, body frame
    radius: dict[str, float]  # part -> radius (units of height)
    torso: list[tuple[int, float, float]]  # slices bottom-up: (id, half-width, half-depth)
    colors: dict[str, np.ndarray]  # skin, shirt, pants, shoes, hair (BGR float)
    sleeves: str  # "short" | "long"
    trousers: str  # "short" | "long"
    stripes: float  # shirt stripe period in pixels (0 = plain)

    def world(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Joints and tips rotated by the yaw: x right in the image, y up, z to camera."""
        a = math.radians(self.yaw)
        rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0],
                        [-math.sin(a), 0, math.cos(a)]])
        return self.joints @ rot.T, {k: v @ rot.T for k, v in self.tips.items()}


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else v


def _bend(d: np.ndarray, toward: np.ndarray, angle: float) -> np.ndarray:
    """Rotate unit ``d`` by ``angle`` radians toward ``toward`` (projected off ``d``)."""
    n = toward - (toward @ d) * d
    if np.linalg.norm(n) < 1e-6:
        n = np.array([0.0, 1.0, 0.0]) - d[1] * d
    n = _unit(n)
    return math.cos(angle) * d + math.sin(angle) * n


def _limb_dir(side: int, abduct: float, flex: float) -> np.ndarray:
    """Direction from hanging straight down, abducted sideways then flexed forward."""
    a, b = math.radians(abduct), math.radians(flex)
    return _unit(np.array([side * math.sin(a) * math.cos(b), -math.cos(a) * math.cos(b),
                           math.sin(b)]))


def sample_person(rng: np.random.Generator, facing: str | None = None) -> Person:
    """A random pose, body shape and outfit; ``facing`` fixes the view (else uniform)."""
    if facing is None:
        facing = FACINGS[int(rng.integers(len(FACINGS)))]
    if facing not in _YAW:
        raise ValueError(f"facing must be one of {FACINGS}, got {facing!r}")
    u = rng.uniform
    bulk = u(0.85, 1.25)
    shoulder, hip = u(0.095, 0.125), u(0.08, 0.1)
    leg = u(0.95, 1.05)
    thigh, shin = 0.245 * leg, 0.235 * leg
    upper, fore = u(0.15, 0.18), u(0.135, 0.155)
    lean, tilt = math.radians(u(-8, 15)), math.radians(u(-8, 8))
    j = np.zeros((24, 3))
    j[J["pelvis"]] = (0, 0.53, 0)
    up = _unit(np.array([math.sin(tilt), 1.0, math.sin(lean)]))
    for name, h in (("spine1", 0.09), ("spine2", 0.17), ("spine3", 0.245), ("neck", 0.335)):
        j[J[name]] = j[J["pelvis"]] + h * up
    j[J["head"]] = j[J["neck"]] + 0.085 * _unit(up + np.array([0, 0, u(-0.2, 0.25)]))
    pose = {}
    for side, s in (("left", 1), ("right", -1)):
        j[J[f"{side}_hip"]] = j[J["pelvis"]] + (s * hip * 0.75, -0.04, 0)
        j[J[f"{side}_collar"]] = j[J["spine3"]] + s * np.array([0.035, 0, 0]) + 0.07 * up
        j[J[f"{side}_shoulder"]] = j[J["spine3"]] + s * np.array([shoulder, 0, 0]) + 0.055 * up
        raised = rng.random() < 0.15
        d = _limb_dir(s, u(100, 165) if raised else u(-3, 70), u(-40, 90))
        elbow = j[J[f"{side}_shoulder"]] + upper * d
        d2 = _bend(d, np.array([0, 0.3, 1.0]), math.radians(u(0, 130)))
        wrist = elbow + fore * d2
        d3 = _bend(d2, np.array([0, 0, 1.0]), math.radians(u(-30, 30)))
        hand = wrist + 0.055 * d3
        j[J[f"{side}_elbow"]], j[J[f"{side}_wrist"]], j[J[f"{side}_hand"]] = elbow, wrist, hand
        pose[f"{side}_fingers"] = hand + 0.05 * _bend(d3, np.array([0, 0, 1.0]),
                                                      math.radians(u(0, 40)))
        dl = _limb_dir(s, u(-4, 25), u(-25, 55))
        knee = j[J[f"{side}_hip"]] + thigh * dl
        dl2 = _bend(dl, np.array([0, 0, -1.0]), math.radians(u(0, 90)))
        ankle = knee + shin * dl2
        foot_dir = _unit(np.array([s * u(0, 0.25), u(-0.45, 0.05), 1.0]))
        foot = ankle + 0.085 * foot_dir
        j[J[f"{side}_knee"]], j[J[f"{side}_ankle"]], j[J[f"{side}_foot"]] = knee, ankle, foot
        pose[f"{side}_toes"] = foot + 0.045 * foot_dir
    radius = {"upper": 0.038 * bulk, "fore": 0.03 * bulk, "hand": 0.026, "fingers": 0.02,
              "thigh": 0.058 * bulk, "shin": 0.042 * bulk, "foot": 0.03, "toes": 0.026,
              "neck": 0.03 * bulk, "shoulder": 0.038 * bulk, "head": u(0.052, 0.062)}
    waist = hip * u(0.85, 1.0)
    chest = shoulder * u(0.8, 0.9)
    depth = u(0.55, 0.75)
    torso = [(P["hips"], hip * bulk ** 0.5 * 1.05, hip * depth),
             (P["spine"], waist * bulk ** 0.5, waist * depth),
             (P["spine1"], chest * bulk ** 0.5, chest * depth),
             (P["spine2"], shoulder * 0.95 * bulk ** 0.5, chest * depth)]
    skin = np.array([(90, 120, 170), (120, 160, 215), (60, 85, 120), (150, 185, 230),
                     (105, 140, 190)][int(rng.integers(5))], np.float64) * u(0.85, 1.1)
    colors = {"skin": skin, "shirt": rng.uniform(0, 255, 3), "pants": rng.uniform(0, 200, 3),
              "shoes": rng.uniform(0, 120, 3), "hair": rng.uniform(0, 90, 3)}
    return Person(facing=facing, yaw=_YAW[facing] + u(-15, 15), joints=j, tips=pose,
                  radius=radius, torso=torso, colors=colors,
                  sleeves="short" if rng.random() < 0.4 else "long",
                  trousers="short" if rng.random() < 0.25 else "long",
                  stripes=float(rng.choice([0.0, 0.0, u(0.02, 0.06)])))


def _segments(p: Person) -> list[tuple[float, int, str, tuple]]:
    """The person's parts as drawing primitives, in painter's order (far first).

    Each entry: (depth, part id, kind, geometry in world units). Depth is the mean z of a
    part, nudged so that at equal depth legs go under the torso, and arms, shoulders,
    neck and head over it."""
    w, tips = p.world()
    r = p.radius
    out: list[tuple[float, int, str, tuple]] = []

    def cap(pid: int, a: np.ndarray, b: np.ndarray, ra: float, rb: float, bias: float):
        out.append(((a[2] + b[2]) / 2 + bias, pid, "capsule", (a, b, ra, rb)))

    for side in ("left", "right"):
        g = lambda n: w[J[f"{side}_{n}"]]  # noqa: E731
        cap(P[f"{side}UpLeg"], g("hip"), g("knee"), r["thigh"], r["shin"] * 1.1, -0.03)
        cap(P[f"{side}Leg"], g("knee"), g("ankle"), r["shin"], r["shin"] * 0.75, -0.03)
        cap(P[f"{side}Foot"], g("ankle"), g("foot"), r["foot"], r["toes"], -0.025)
        cap(P[f"{side}ToeBase"], g("foot"), tips[f"{side}_toes"], r["toes"], r["toes"] * 0.8,
            -0.025)
        cap(P[f"{side}Shoulder"], g("collar"), g("shoulder"), r["shoulder"] * 0.8,
            r["shoulder"], 0.012)
        cap(P[f"{side}Arm"], g("shoulder"), g("elbow"), r["upper"], r["fore"] * 1.05, 0.02)
        cap(P[f"{side}ForeArm"], g("elbow"), g("wrist"), r["fore"], r["fore"] * 0.8, 0.02)
        cap(P[f"{side}Hand"], g("wrist"), g("hand"), r["hand"] * 0.9, r["hand"], 0.021)
        cap(P[f"{side}HandIndex1"], g("hand"), tips[f"{side}_fingers"], r["fingers"],
            r["fingers"] * 0.7, 0.022)
    a = math.radians(p.yaw)
    spine = [w[J["pelvis"]], w[J["spine1"]], w[J["spine2"]], w[J["spine3"]], w[J["neck"]]]
    for k, (pid, hw, hd) in enumerate(p.torso):
        lo = spine[k] if k else spine[0] + (spine[0] - spine[1]) * 0.45
        hi = spine[k + 1] if k < 3 else spine[3] + (spine[4] - spine[3]) * 0.75
        half = math.hypot(hw * math.cos(a), hd * math.sin(a))  # projected ellipse extent
        out.append(((lo[2] + hi[2]) / 2, pid, "slab", (lo, hi, half)))
    neck, head = w[J["neck"]], w[J["head"]]
    cap(P["neck"], w[J["spine3"]] + 0.6 * (neck - w[J["spine3"]]), neck + 0.3 * (head - neck),
        r["neck"], r["neck"], 0.005)
    out.append((w[J["head"]][2] + 0.01, P["head"], "head", (w[J["head"]], r["head"])))
    out.sort(key=lambda e: e[0])
    return out


def _draw_labels(cv2, p: Person, shape: tuple[int, int], scale: float,
                 origin: tuple[float, float]) -> np.ndarray:
    """Rasterise the part labels: world (x, y) -> pixel (origin + scale*(x, -y))."""
    sh = 4  # sub-pixel bits
    f = float(1 << sh)
    lab = np.zeros(shape, np.uint8)

    def px(v: np.ndarray) -> np.ndarray:
        return np.array([origin[0] + scale * v[0], origin[1] - scale * v[1]])

    def fixed(pts) -> np.ndarray:
        return np.round(np.asarray(pts) * f).astype(np.int32)

    for _d, pid, kind, g in _segments(p):
        if kind == "capsule":
            a, b, ra, rb = g
            pa, pb, ra, rb = px(a), px(b), ra * scale, rb * scale
            d = pb - pa
            n = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9)
            quad = [pa + ra * n, pb + rb * n, pb - rb * n, pa - ra * n]
            cv2.fillConvexPoly(lab, fixed(quad), int(pid), cv2.LINE_8, sh)
            for c, rr in ((pa, ra), (pb, rb)):
                cv2.circle(lab, tuple(int(v) for v in fixed(c)), max(1, int(round(rr * f))),
                           int(pid), -1, cv2.LINE_8, sh)
        elif kind == "slab":
            lo, hi, half = g
            plo, phi = px(lo), px(hi)
            d = phi - plo
            n = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9) * half * scale
            cv2.fillConvexPoly(lab, fixed([plo + n, phi + n, phi - n, plo - n]), int(pid),
                               cv2.LINE_8, sh)
        else:
            c, rr = g
            axes = (max(1, int(round(rr * scale * 0.88 * f))), max(1, int(round(rr * scale * f))))
            cv2.ellipse(lab, tuple(int(v) for v in fixed(px(c))), axes, 0, 0, 360, int(pid),
                        -1, cv2.LINE_8, sh)
    return lab


_SKIN_PARTS = {P["head"], P["leftHand"], P["rightHand"], P["leftHandIndex1"],
               P["rightHandIndex1"], P["neck"]}
_SHOE_PARTS = {P["leftFoot"], P["rightFoot"], P["leftToeBase"], P["rightToeBase"]}
_PANTS_PARTS = {P["hips"], P["leftUpLeg"], P["rightUpLeg"], P["leftLeg"], P["rightLeg"]}


def _garment(p: Person, pid: int) -> str:
    if pid in _SKIN_PARTS:
        return "skin"
    if pid in _SHOE_PARTS:
        return "shoes"
    if pid in (P["leftLeg"], P["rightLeg"]) and p.trousers == "short":
        return "skin"
    if pid in _PANTS_PARTS:
        return "pants"
    if pid in (P["leftForeArm"], P["rightForeArm"]) and p.sleeves == "short":
        return "skin"
    return "shirt"


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A street (synth's, without its people) or an indoor-like textured wall and floor."""
    from .synth import _background as street, _texture

    cv2 = require("cv2", "the synthetic part generator")
    if rng.random() < 0.5:
        return street(rng, (h, w))[0]
    img = _texture(rng, h, w, rng.uniform(40, 230, 3), rng.uniform(8, 30),
                   int(rng.integers(3, 16)))
    floor = int(h * rng.uniform(0.55, 0.9))
    img[floor:] = _texture(rng, h - floor, w, rng.uniform(30, 200, 3), 15, 6)
    for _ in range(int(rng.integers(0, 6))):  # furniture / frames: person-free clutter
        x0, y0 = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        x1, y1 = x0 + int(rng.uniform(0.05, 0.4) * w), y0 + int(rng.uniform(0.05, 0.4) * h)
        cv2.rectangle(img, (x0, y0), (x1, y1), tuple(float(v) for v in rng.uniform(0, 255, 3)),
                      -1 if rng.random() < 0.6 else max(1, w // 80))
    return img


def render_person(rng: np.random.Generator, size: tuple[int, int] = (320, 320),
                  facing: str | None = None, person: Person | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Person]:
    """One person-centred crop: (image BGR uint8 (H, W, 3), labels uint8 (H, W) part ids,
    joints float32 (24, 3) ``(x, y, visible)`` in output pixels, the person).

    The crop is the person's label box, its longest side plus a 10-20% margin (the box
    grown to ``size``'s aspect), rendered at a random 0.7-1.3x of the output scale and
    resized (labels nearest), so edge sharpness varies like real resampled crops."""
    cv2 = require("cv2", "the synthetic part generator")
    p = person if person is not None else sample_person(rng, facing)
    H, W = size
    # pass 1: the label box in world units at a nominal scale
    s0 = 200.0
    wj, tips = p.world()
    pts = np.concatenate([wj, np.stack(list(tips.values()))])[:, :2]
    lo, hi = pts.min(0) - 0.15, pts.max(0) + 0.15
    shape0 = (int((hi[1] - lo[1]) * s0) + 2, int((hi[0] - lo[0]) * s0) + 2)
    lab0 = _draw_labels(cv2, p, shape0, s0, (-lo[0] * s0, hi[1] * s0))
    ys, xs = np.nonzero(lab0)
    bx0, bx1 = (xs.min() - 0.5) / s0 + lo[0], (xs.max() + 0.5) / s0 + lo[0]
    by1, by0 = hi[1] - (ys.min() - 0.5) / s0, hi[1] - (ys.max() + 0.5) / s0  # world y up
    side = max(bx1 - bx0, by1 - by0) * (1 + rng.uniform(0.10, 0.20))
    cw, ch = (side * W / H, side) if W <= H else (side, side * H / W)
    if cw < bx1 - bx0 or ch < by1 - by0:  # a non-square size must still hold the box
        k = max((bx1 - bx0) / cw, (by1 - by0) / ch) * (1 + rng.uniform(0.10, 0.20))
        cw, ch = cw * k, ch * k
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
    # pass 2: render the crop window
    zoom = rng.uniform(0.7, 1.3)
    rh, rw = max(8, int(round(H * zoom))), max(8, int(round(W * zoom)))
    scale = (rw / cw + rh / ch) / 2  # equal up to rounding of the render size
    origin = (rw / 2 - cx * scale, rh / 2 + cy * scale)
    lab = _draw_labels(cv2, p, (rh, rw), scale, origin)
    img = _background(rng, rh, rw).astype(np.float32)
    _paint(cv2, rng, p, img, lab, scale, origin)
    noise = rng.normal(0.0, rng.uniform(2, 6), img.shape).astype(np.float32)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    interp = cv2.INTER_AREA if rw > W else cv2.INTER_LINEAR
    image = cv2.resize(img, (W, H), interpolation=interp)
    labels = cv2.resize(lab, (W, H), interpolation=cv2.INTER_NEAREST)
    # joints: world -> render pixels -> output pixels (pixel-centre convention)
    jx = origin[0] + scale * wj[:, 0]
    jy = origin[1] - scale * wj[:, 1]
    joints = np.zeros((24, 3), np.float32)
    joints[:, 0] = (jx + 0.5) * W / rw - 0.5
    joints[:, 1] = (jy + 0.5) * H / rh - 0.5
    for i, name in enumerate(JOINT_NAMES):
        x, y = int(round(joints[i, 0])), int(round(joints[i, 1]))
        if 0 <= x < W and 0 <= y < H:
            joints[i, 2] = float(labels[y, x] in _JOINT_PARTS[name])
    return image, labels, joints, p


def _paint(cv2, rng: np.random.Generator, p: Person, img: np.ndarray, lab: np.ndarray,
           scale: float, origin: tuple[float, float]) -> None:
    """Colour the visible parts by garment (textured, lit from one side), add hair and a
    face on the side the person faces: the cues that tell front from back."""
    h, w = lab.shape
    body = lab > 0
    if not body.any():
        return
    yy, xx = np.indices((h, w), dtype=np.float32)
    light = 1.0 + rng.uniform(-0.25, 0.25) * (xx / w - 0.5) * 2 + rng.uniform(-0.1, 0.1) * (
        yy / h - 0.5) * 2
    for g in ("skin", "shirt", "pants", "shoes"):
        ids = [i for i in range(1, 25) if _garment(p, i) == g]
        m = np.isin(lab, ids)
        if not m.any():
            continue
        small = rng.normal(0, 1, (max(1, h // 6), max(1, w // 6))).astype(np.float32)
        blot = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        amp = 6.0 if g == "skin" else rng.uniform(5, 25)
        col = p.colors[g][None, None, :] + amp * blot[..., None]
        if g == "shirt" and p.stripes > 0:
            band = np.sin(yy * 2 * math.pi / (p.stripes * scale)) > 0
            col = np.where(band[..., None], col * 0.55, col)
        img[m] = np.clip(col * light[..., None], 0, 255)[m]
    # hair and face on the head
    wj, _ = p.world()
    head = wj[J["head"]]
    hc = (origin[0] + scale * head[0], origin[1] - scale * head[1])
    r = p.radius["head"] * scale
    hm = lab == P["head"]
    a = math.radians(p.yaw)
    fwd = (math.sin(a), math.cos(a))  # forward direction's (image x, toward camera)
    hair_col = p.colors["hair"]
    if fwd[1] < -0.3:  # seen from behind: hair over the head
        hair = hm & (yy > hc[1] - 2 * r)
    else:  # the crown, and the back of the head in profile
        hair = hm & ((yy < hc[1] - 0.35 * r) | ((xx - hc[0]) * fwd[0] < -0.25 * r))
    img[hair] = hair_col
    if fwd[1] > -0.3:  # eyes and mouth, kept inside the head
        face = img.copy()
        eye_r = max(1, int(round(0.12 * r)))
        for e in (-1, 1):
            if abs(fwd[1]) < 0.5 and e * fwd[0] < 0:
                continue  # the far eye is hidden in profile
            ex = hc[0] + r * (0.6 * fwd[0] + 0.38 * e * fwd[1])
            cv2.circle(face, (int(round(ex)), int(round(hc[1] - 0.05 * r))), eye_r,
                       (30, 30, 40), -1)
        mx = hc[0] + 0.6 * r * fwd[0]
        cv2.line(face, (int(round(mx - 0.25 * r * fwd[1])), int(round(hc[1] + 0.45 * r))),
                 (int(round(mx + 0.25 * r * fwd[1])), int(round(hc[1] + 0.45 * r))),
                 (60, 60, 150), max(1, int(round(0.08 * r))))
        face_px = hm & ~hair
        img[face_px] = face[face_px]


# ---------------------------------------------------------------------------- datasets


def _write_sample(args: tuple[int, int, tuple[int, int], str]) -> tuple[np.ndarray, list, str]:
    """Render and write sample ``index``: (label histogram, joints rows, facing)."""
    from .synth import scene_seed, write_pair

    seed, index, size, out = args
    image, labels, joints, person = render_person(
        np.random.default_rng(scene_seed(seed, index)), size)
    write_pair(out, index, image, labels)
    hist = np.bincount(labels.ravel(), minlength=len(PARTS_CLASSES))[: len(PARTS_CLASSES)]
    rows = [[round(float(x), 2), round(float(y), 2), int(v)] for x, y, v in joints]
    return hist, rows, person.facing


def write_parts_dataset(out, images: int, size: tuple[int, int] = (320, 320), seed: int = 0,
                        overwrite: bool = False, progress: bool = True, workers: int = 1
                        ) -> dict:
    """Write ``images`` part crops: ``images/NNNNNN.jpg``, ``labels/NNNNNN.png`` (part ids),
    ``joints.json`` (``{"NNNNNN": [[x, y, visible] x 24]}``, crop pixels, SMPL order) and
    ``semantic.json`` (classes, per-class pixel histogram for class weighting, the L/R
    swap tables of ids and joints, reporting groups, each image's facing). Returns a
    summary. ``workers`` > 1 renders in that many processes (same bytes as 1).

    ``out`` follows synth's rule (:func:`edge.data.synth.prepare_output`): new or empty,
    or one of our datasets with ``overwrite`` (only our files are removed)."""
    import json
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    from edge import atomic
    from edge.errors import ConfigError

    from .synth import start_label_folder

    if workers < 1:
        raise ConfigError(f"--workers must be at least 1 (1 renders in this process), got "
                          f"{workers}")
    root, removed, meta = start_label_folder(out, images, seed, overwrite, {
        "classes": list(PARTS_CLASSES), "kind": "parts", "size": list(size),
        "swap_lr": list(SWAP_LR), "groups": {k: list(v) for k, v in PART_GROUPS.items()},
        "joint_names": list(JOINT_NAMES), "joint_swap": list(JOINT_SWAP)})
    hist = np.zeros(len(PARTS_CLASSES), np.int64)
    records: dict[str, list] = {}
    per_image: list[str] = []
    facings = {f: 0 for f in FACINGS}
    jobs = [(seed, i, tuple(size), str(root)) for i in range(images)]
    bar = dict(total=images, desc="parts", unit="img", disable=None if progress else True)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = tqdm(pool.map(_write_sample, jobs, chunksize=8), **bar)
            results = list(results)
    else:
        results = (_write_sample(j) for j in tqdm(jobs, **bar))
    for i, (h, rows, facing) in enumerate(results):
        hist += h
        facings[facing] += 1
        per_image.append(facing)
        records[f"{i:06d}"] = rows
    atomic.write_text(root / "joints.json", json.dumps(records))
    meta.update(histogram=hist.tolist(), facing=per_image)
    atomic.write_text(root / "semantic.json", json.dumps(meta, indent=1))
    return {"images": images, "out": str(root), "size": list(size), "seed": seed,
            "removed": removed, "histogram": hist.tolist(), "facings": facings}
