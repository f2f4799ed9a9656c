"""Synthetic fashion scenes for seed 000 (RoI-masked garment segmentation).

Seed 000 never trained on fashion data; its target label set is a decision (seed-systems
1.4.11): ATR's 18 labels (:data:`edge.description.FASHION_CLASSES`). A scene is a street
or indoor background (:func:`edge.data.parts._background`) with person-free clutter, some
of it coloured and shaped like garments (so a net that segments outside people makes
mistakes, which RoI masking is meant to remove), and 1-3 articulated people
(:func:`edge.data.parts.sample_person`) 35-95% of the frame high, anywhere, possibly
overlapping (painted far to near by ground contact) or cut by the frame edge.

Each person wears a sampled outfit: upper clothes (long or short sleeves), pants or
shorts, a skirt, or a dress (torso and skirt one label), optional hat, sunglasses, belt,
scarf, bag (hand-held or on a shoulder strap), long hair. Body parts map to garments per
outfit, the extras are extra drawing primitives sorted into the body's painter's order,
and hair vs face on the head follows :func:`edge.data.parts._paint`'s rule. Left/right
labels are the person's own side (SURREAL's part ids already are). Every garment gets its
own colour and texture, so labels follow from what is painted.

Besides the label folder, ``boxes.json`` holds each image's person boxes (tight boxes of
visible pixels, x2/y2 exclusive): the RoI proposer's ground truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from edge.description import FASHION_CLASSES
from edge.optional import require

from .parts import J, P, Person, _segments, sample_person

F = {name: i for i, name in enumerate(FASHION_CLASSES)}
_LR = (("left-shoe", "right-shoe"), ("left-leg", "right-leg"), ("left-arm", "right-arm"))
SWAP_LR: tuple[int, ...] = tuple(
    {**{F[a]: F[b] for a, b in _LR}, **{F[b]: F[a] for a, b in _LR}}.get(i, i)
    for i in range(len(FASHION_CLASSES)))
BOX_CLASSES: tuple[str, ...] = ("person",)
BOXES_FILE = "boxes.json"
MIN_BOX_PIXELS = 16  # persons with fewer visible pixels get no box
HEIGHT_RANGE = (0.35, 0.95)  # person height / frame height

# Raster ids of the extra primitives (body parts keep SURREAL's 1..24).
_SKIRT, _HAT, _GLASSES, _BELT, _SCARF, _BAG, _HAIR = 30, 31, 32, 33, 34, 35, 36
_EXTRA = {_HAT: "hat", _GLASSES: "sunglasses", _BELT: "belt", _SCARF: "scarf", _BAG: "bag",
          _HAIR: "hair"}
_LOWER = ("pants", "shorts", "skirt", "dress")


@dataclass
class Outfit:
    """What one person wears; colours are BGR float."""

    lower: str  # "pants" | "shorts" | "skirt" | "dress"
    sleeves: str  # "long" | "short" | "none" (none: dresses only)
    skirt_length: float  # fraction of the thigh a skirt / dress reaches (0.45-1.1)
    hat: bool
    sunglasses: bool
    belt: bool
    scarf: bool
    bag: str  # "" | "hand" | "shoulder"
    bag_side: str  # "left" | "right"
    long_hair: bool
    colours: dict[str, np.ndarray]  # FASHION_CLASSES name -> colour
    textures: dict[str, tuple[float, float, float, float]]  # name -> (amp, period, angle, dark)


def _garment_colour(rng: np.random.Generator) -> np.ndarray:
    """Saturated or muted clothing colour: shared with the clutter, so colour alone never
    tells a garment from the background."""
    if rng.random() < 0.5:
        return rng.uniform(0, 255, 3)
    grey = rng.uniform(20, 230)
    return np.clip(grey + rng.normal(0, 25, 3), 0, 255)


def _garment_texture(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """(blotch amplitude, stripe period in body heights (0 = plain), angle, stripe shade)."""
    period = float(rng.uniform(0.015, 0.05)) if rng.random() < 0.3 else 0.0
    return (float(rng.uniform(0.03, 0.15)), period, float(rng.choice([0.0, math.pi / 2,
                                                                      rng.uniform(0, math.pi)])),
            float(rng.uniform(0.45, 0.75)))


def sample_outfit(rng: np.random.Generator, person: Person) -> Outfit:
    """A random outfit; pants vs shorts and long vs short sleeves follow ``person``'s own
    (parts.py) choice so the body sampler stays the single source of those."""
    u = rng.random
    lower = _LOWER[int(rng.choice(4, p=[0.3, 0.15, 0.27, 0.28]))]
    if lower in ("pants", "shorts"):
        lower = "shorts" if person.trousers == "short" else "pants"
    sleeves = person.sleeves
    if lower == "dress":
        sleeves = "none" if u() < 0.5 else "short"
    names = ("hat", "upper-clothes", "skirt", "pants", "dress", "belt", "bag", "scarf",
             "left-shoe")
    colours = {n: _garment_colour(rng) for n in names}
    colours["left-shoe"] = rng.uniform(0, 140, 3)
    colours["right-shoe"] = colours["left-shoe"]
    colours["belt"] = rng.uniform(10, 110, 3)
    colours["sunglasses"] = rng.uniform(10, 45, 3)
    colours["hair"] = person.colors["hair"]
    for n in ("face", "left-leg", "right-leg", "left-arm", "right-arm"):
        colours[n] = person.colors["skin"]
    textures = {n: _garment_texture(rng) for n in names}
    textures["right-shoe"] = textures["left-shoe"]
    return Outfit(
        lower=lower, sleeves=sleeves, skirt_length=float(rng.uniform(0.45, 1.1)),
        hat=u() < 0.3, sunglasses=u() < 0.25, belt=u() < (0.15 if lower == "dress" else 0.35),
        scarf=u() < 0.2, bag=("" if u() < 0.6 else "hand" if u() < 0.5 else "shoulder"),
        bag_side="left" if u() < 0.5 else "right", long_hair=u() < 0.4,
        colours=colours, textures=textures)


def garment_lut(outfit: Outfit) -> np.ndarray:
    """256-entry raster id -> FASHION_CLASSES id for one person (head -> face; the hair
    split of the head is geometric, see :func:`render_person_labels`)."""
    lut = np.zeros(256, np.uint8)
    top = F["dress"] if outfit.lower == "dress" else F["upper-clothes"]
    lower = {"pants": F["pants"], "shorts": F["pants"], "skirt": F["skirt"],
             "dress": F["dress"]}[outfit.lower]
    for side in ("left", "right"):
        arm, leg = F[f"{side}-arm"], F[f"{side}-leg"]
        lut[P[f"{side}Shoulder"]] = top
        lut[P[f"{side}Arm"]] = arm if outfit.sleeves == "none" else top
        lut[P[f"{side}ForeArm"]] = top if outfit.sleeves == "long" else arm
        lut[[P[f"{side}Hand"], P[f"{side}HandIndex1"]]] = arm
        lut[P[f"{side}UpLeg"]] = F["pants"] if outfit.lower in ("pants", "shorts") else leg
        lut[P[f"{side}Leg"]] = F["pants"] if outfit.lower == "pants" else leg
        lut[[P[f"{side}Foot"], P[f"{side}ToeBase"]]] = F[f"{side}-shoe"]
    lut[[P["spine"], P["spine1"], P["spine2"]]] = top
    lut[P["hips"]] = lower
    lut[[P["head"], P["neck"]]] = F["face"]
    lut[_SKIRT] = lower
    for rid, name in _EXTRA.items():
        lut[rid] = F[name]
    return lut


# ---------------------------------------------------------------------- rasterisation


def _extras(p: Person, o: Outfit, min_w: float) -> list[tuple[float, int, str, tuple]]:
    """The outfit's non-body primitives in world units, with depths for the body's
    painter's order (:func:`edge.data.parts._segments`). ``min_w`` is one pixel in world
    units: thin items (belt, straps, sunglasses) stay at least two pixels thick."""
    w, _tips = p.world()
    a = math.radians(p.yaw)
    fwd = np.array([math.sin(a), 0.0, math.cos(a)])
    pelvis, spine1, spine3, neck = w[J["pelvis"]], w[J["spine1"]], w[J["spine3"]], w[J["neck"]]
    head, r = w[J["head"]], p.radius["head"]
    hw, hd = p.torso[0][1], p.torso[0][2]
    hip_half = math.hypot(hw * math.cos(a), hd * math.sin(a))
    up2 = np.array([0.0, 1.0, 0.0])
    out: list[tuple[float, int, str, tuple]] = []
    waist = pelvis + 0.6 * (spine1 - pelvis)
    if o.lower in ("skirt", "dress"):
        lk, rk = w[J["left_knee"]], w[J["right_knee"]]
        lh, rh = w[J["left_hip"]], w[J["right_hip"]]
        bl, br = lh + o.skirt_length * (lk - lh), rh + o.skirt_length * (rk - rh)
        cx, by = (bl[0] + br[0]) / 2, min(bl[1], br[1])
        half = max(abs(bl[0] - br[0]) / 2 + p.radius["thigh"] * 1.3, hip_half * 1.25)
        poly = [waist + (-hip_half, 0, 0), waist + (hip_half, 0, 0),
                np.array([cx + half, by, 0.0]), np.array([cx - half, by, 0.0])]
        out.append((pelvis[2] + 0.012, _SKIRT, "poly", (poly,)))
    if o.belt:
        d = spine1[:2] - pelvis[:2]
        d = d / (np.linalg.norm(d) + 1e-9)
        t = max(0.012, min_w)  # half thickness
        n = np.array([d[1], -d[0]]) * hip_half * 1.04
        c = waist[:2]
        poly = [c + n + t * d, c - n + t * d, c - n - t * d, c + n - t * d]
        out.append((pelvis[2] + 0.014, _BELT, "poly", ([np.array([*q, 0.0]) for q in poly],)))
    if o.scarf:
        lc, rc = w[J["left_collar"]], w[J["right_collar"]]
        lift = 0.35 * (neck - spine3)
        rad = max(1.2 * p.radius["neck"], 2 * min_w)
        z = max(neck[2], lc[2], rc[2]) + 0.007
        out.append((z, _SCARF, "capsule", (lc + lift, rc + lift, rad, rad)))
        if fwd[2] > -0.3:  # the hanging end, in front of the chest
            start = (lc if o.bag_side == "right" else rc) + lift
            out.append((z, _SCARF, "capsule", (start, start - 0.17 * up2, rad * 0.75,
                                                rad * 0.65)))
    if o.long_hair:
        c = head - 0.3 * r * fwd
        bottom = np.array([c[0], neck[1] - 0.09, c[2]])
        z = spine3[2] - 0.05 * fwd[2]
        out.append((z, _HAIR, "capsule", (c, bottom, r * 0.95, r * 0.85)))
    if o.hat:
        c = head
        crown = [c + (-0.82 * r, 0.3 * r, 0), c + (0.82 * r, 0.3 * r, 0),
                 c + (0.7 * r, 1.2 * r, 0), c + (-0.7 * r, 1.2 * r, 0)]
        brim = [c + (-1.4 * r, 0.28 * r, 0), c + (1.4 * r, 0.28 * r, 0),
                c + (1.4 * r, 0.28 * r + max(0.18 * r, 2 * min_w), 0),
                c + (-1.4 * r, 0.28 * r + max(0.18 * r, 2 * min_w), 0)]
        out.append((head[2] + 0.02, _HAT, "poly", (crown,)))
        out.append((head[2] + 0.021, _HAT, "poly", (brim,)))
    if o.sunglasses and fwd[2] > -0.3:
        xs = [head[0] + r * (0.6 * fwd[0] + 0.38 * e * fwd[2]) for e in (-1, 1)
              if not (abs(fwd[2]) < 0.5 and e * fwd[0] < 0)]
        x0, x1 = min(xs) - 0.25 * r, max(xs) + 0.25 * r
        y, t = head[1] + 0.05 * r, max(0.17 * r, min_w)
        poly = [np.array([x0, y - t, 0.0]), np.array([x1, y - t, 0.0]),
                np.array([x1, y + t, 0.0]), np.array([x0, y + t, 0.0])]
        out.append((head[2] + 0.015, _GLASSES, "poly", (poly,)))
    if o.bag:
        s = 1 if o.bag_side == "left" else -1
        bw, bh = 0.13, 0.11
        strap = max(0.009, min_w)
        if o.bag == "hand":
            hand = w[J[f"{o.bag_side}_hand"]]
            top = hand[1] - 0.035
            z = hand[2] + 0.005
            box = [np.array([hand[0] - bw / 2, top, 0.0]), np.array([hand[0] + bw / 2, top, 0.0]),
                   np.array([hand[0] + bw / 2, top - bh, 0.0]),
                   np.array([hand[0] - bw / 2, top - bh, 0.0])]
            for k in (-1, 1):
                out.append((z, _BAG, "capsule", (hand, np.array([hand[0] + k * bw * 0.3, top, 0]),
                                                  strap, strap)))
        else:
            sh = w[J[f"{'right' if o.bag_side == 'left' else 'left'}_shoulder"]]  # crossbody
            bx = pelvis[0] + s * (hip_half + 0.03)
            top = pelvis[1] + 0.02
            z = max(pelvis[2], sh[2]) + 0.025
            box = [np.array([bx - bw / 2, top, 0.0]), np.array([bx + bw / 2, top, 0.0]),
                   np.array([bx + bw / 2, top - bh * 0.9, 0.0]),
                   np.array([bx - bw / 2, top - bh * 0.9, 0.0])]
            out.append((z, _BAG, "capsule", (sh, np.array([bx, top, 0.0]), strap, strap)))
        out.append((z, _BAG, "poly", (box,)))
    return out


def _rasterise(cv2, prims, shape: tuple[int, int], scale: float,
               origin: tuple[float, float]) -> np.ndarray:
    """:func:`edge.data.parts._draw_labels` for a primitive list that also holds polygons
    (world (x, y) -> pixel origin + scale * (x, -y)), far to near."""
    sh = 4
    f = float(1 << sh)
    lab = np.zeros(shape, np.uint8)
    o = np.array(origin)

    def px(v) -> np.ndarray:
        return o + scale * np.array([v[0], -v[1]])

    def fixed(pts) -> np.ndarray:
        return np.round(np.asarray(pts) * f).astype(np.int32)

    for _d, rid, kind, g in sorted(prims, key=lambda e: e[0]):
        if kind == "capsule":
            a, b, ra, rb = g
            pa, pb, ra, rb = px(a), px(b), ra * scale, rb * scale
            d = pb - pa
            n = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9)
            cv2.fillConvexPoly(lab, fixed([pa + ra * n, pb + rb * n, pb - rb * n, pa - ra * n]),
                               rid, cv2.LINE_8, sh)
            for c, rr in ((pa, ra), (pb, rb)):
                cv2.circle(lab, tuple(int(v) for v in fixed(c)), max(1, int(round(rr * f))),
                           rid, -1, cv2.LINE_8, sh)
        elif kind == "slab":
            lo, hi, half = g
            plo, phi = px(lo), px(hi)
            d = phi - plo
            n = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9) * half * scale
            cv2.fillConvexPoly(lab, fixed([plo + n, phi + n, phi - n, plo - n]), rid,
                               cv2.LINE_8, sh)
        elif kind == "head":
            c, rr = g
            axes = (max(1, int(round(rr * scale * 0.88 * f))), max(1, int(round(rr * scale * f))))
            cv2.ellipse(lab, tuple(int(v) for v in fixed(px(c))), axes, 0, 0, 360, rid, -1,
                        cv2.LINE_8, sh)
        else:  # convex polygon
            cv2.fillConvexPoly(lab, fixed([px(v) for v in g[0]]), rid, cv2.LINE_8, sh)
    return lab


def _window(prims, scale: float, origin: tuple[float, float], size: tuple[int, int]
            ) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1): the primitives' pixel extent clipped to the frame, or None."""
    pts, rad = [], []
    for _d, _rid, kind, g in prims:
        if kind == "capsule":
            pts += [g[0], g[1]]
            rad += [g[2], g[3]]
        elif kind == "slab":
            pts += [g[0], g[1]]
            rad += [g[2]] * 2
        elif kind == "head":
            pts.append(g[0])
            rad.append(g[1])
        else:
            pts += list(g[0])
            rad += [0.0] * len(g[0])
    xy = np.asarray(pts)[:, :2]
    r = np.asarray(rad)[:, None] * scale + 2
    px = np.stack([origin[0] + scale * xy[:, 0], origin[1] - scale * xy[:, 1]], 1)
    lo, hi = (px - r).min(0), (px + r).max(0)
    h, w = size
    x0, y0 = max(0, int(math.floor(lo[0]))), max(0, int(math.floor(lo[1])))
    x1, y1 = min(w, int(math.ceil(hi[0])) + 1), min(h, int(math.ceil(hi[1])) + 1)
    return (y0, y1, x0, x1) if x1 > x0 and y1 > y0 else None


class PersonLayer(NamedTuple):
    """One rendered person in its frame window: garment labels and colours (local)."""

    window: tuple[int, int, int, int]  # y0, y1, x0, x1 in the frame
    labels: np.ndarray  # (h, w) uint8 FASHION_CLASSES ids, 0 = not this person
    colours: np.ndarray  # (h, w, 3) float32 BGR where labels > 0


def render_person_labels(cv2, rng: np.random.Generator, p: Person, o: Outfit,
                         size: tuple[int, int], scale: float,
                         origin: tuple[float, float]) -> PersonLayer | None:
    """Rasterise and paint one person (world -> pixel origin + scale * (x, -y)) inside
    the frame ``size``; None when nothing of it falls in the frame."""
    prims = _segments(p) + _extras(p, o, 1.0 / scale)
    win = _window(prims, scale, origin, size)
    if win is None:
        return None
    y0, y1, x0, x1 = win
    org = (origin[0] - x0, origin[1] - y0)
    raster = _rasterise(cv2, prims, (y1 - y0, x1 - x0), scale, org)
    labels = garment_lut(o)[raster]
    # hair vs face on the head (parts._paint's rule)
    h, w = raster.shape
    yy, xx = np.indices((h, w), dtype=np.float32)
    wj, _ = p.world()
    hc = (org[0] + scale * wj[J["head"]][0], org[1] - scale * wj[J["head"]][1])
    r = p.radius["head"] * scale
    a = math.radians(p.yaw)
    fwd = (math.sin(a), math.cos(a))
    hm = raster == P["head"]
    if fwd[1] < -0.3:
        hair = hm
    else:
        hair = hm & ((yy < hc[1] - 0.35 * r) | ((xx - hc[0]) * fwd[0] < -0.25 * r))
    labels[hair] = F["hair"]
    return PersonLayer(win, labels, _paint(cv2, rng, o, labels, yy, xx, scale, hc, r, fwd))


def _paint(cv2, rng: np.random.Generator, o: Outfit, labels: np.ndarray, yy: np.ndarray,
           xx: np.ndarray, scale: float, hc: tuple[float, float], r: float,
           fwd: tuple[float, float]) -> np.ndarray:
    """Colours of one person's pixels: per-label base colour, blotchy texture, stripes,
    a light gradient; eyes and mouth on the face. Vectorised through per-label tables."""
    h, w = labels.shape
    k = len(FASHION_CLASSES)
    base = np.zeros((k, 3), np.float32)
    amp = np.full(k, 0.03, np.float32)
    period = np.zeros(k, np.float32)
    angle = np.zeros(k, np.float32)
    dark = np.ones(k, np.float32)
    for name, c in o.colours.items():
        base[F[name]] = c
        if name in o.textures:
            amp[F[name]], period[F[name]], angle[F[name]], dark[F[name]] = o.textures[name]
    small = rng.standard_normal((max(1, h // 5), max(1, w // 5)), dtype=np.float32)
    blot = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    light = (1.0 + rng.uniform(-0.2, 0.2) * (xx / w - 0.5) * 2
             + rng.uniform(-0.1, 0.1) * (yy / h - 0.5) * 2).astype(np.float32)
    shade = light * (1.0 + amp[labels] * blot)
    per = period[labels] * scale
    striped = per > 0
    if striped.any():
        ang = angle[labels][striped]
        phase = (xx[striped] * np.cos(ang) + yy[striped] * np.sin(ang)) / per[striped]
        band = np.sin(phase * 2 * math.pi) > 0
        shade[striped] *= np.where(band, dark[labels][striped], 1.0)
    col = base[labels] * shade[..., None]
    if fwd[1] > -0.3 and r >= 3:  # eyes and mouth, only on face pixels
        face = col.copy()
        eye_r = max(1, int(round(0.12 * r)))
        for e in (-1, 1):
            if abs(fwd[1]) < 0.5 and e * fwd[0] < 0:
                continue
            ex = hc[0] + r * (0.6 * fwd[0] + 0.38 * e * fwd[1])
            cv2.circle(face, (int(round(ex)), int(round(hc[1] - 0.05 * r))), eye_r,
                       (30, 30, 40), -1)
        mx, my = hc[0] + 0.6 * r * fwd[0], int(round(hc[1] + 0.45 * r))
        cv2.line(face, (int(round(mx - 0.25 * r * fwd[1])), my),
                 (int(round(mx + 0.25 * r * fwd[1])), my), (60, 60, 150),
                 max(1, int(round(0.08 * r))))
        m = labels == F["face"]
        col[m] = face[m]
    return np.clip(col, 0, 255)


# ---------------------------------------------------------------------- scenes


def _clutter(cv2, rng: np.random.Generator, img: np.ndarray) -> None:
    """Person-free objects, half of them garment-like (a shirt on a hanger, a skirt, a
    bag) in garment colours and textures: background that looks like clothing."""
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(2, 8))):
        s = rng.uniform(0.08, 0.3) * h
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        kind = int(rng.integers(5))
        if kind == 0:  # shirt: body and two sleeves
            polys = [[(cx - s * 0.3, cy - s * 0.4), (cx + s * 0.3, cy - s * 0.4),
                      (cx + s * 0.3, cy + s * 0.5), (cx - s * 0.3, cy + s * 0.5)]]
            polys += [[(cx + k * s * 0.3, cy - s * 0.4), (cx + k * s * 0.6, cy),
                       (cx + k * s * 0.45, cy + 0.1 * s), (cx + k * s * 0.3, cy - 0.1 * s)]
                      for k in (-1, 1)]
        elif kind == 1:  # skirt / trapezoid
            polys = [[(cx - s * 0.2, cy - s * 0.3), (cx + s * 0.2, cy - s * 0.3),
                      (cx + s * 0.4, cy + s * 0.3), (cx - s * 0.4, cy + s * 0.3)]]
        elif kind == 2:  # bag / box
            polys = [[(cx - s * 0.3, cy - s * 0.2), (cx + s * 0.3, cy - s * 0.2),
                      (cx + s * 0.3, cy + s * 0.2), (cx - s * 0.3, cy + s * 0.2)]]
        else:
            polys = None
        x0, y0 = max(0, int(cx - s)), max(0, int(cy - s))
        x1, y1 = min(w, int(cx + s) + 1), min(h, int(cy + s) + 1)
        colour = _garment_colour(rng)
        amp, period, ang, dark = _garment_texture(rng)
        if x1 <= x0 or y1 <= y0:
            continue
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        if polys is not None:
            for poly in polys:
                cv2.fillConvexPoly(m, np.round(np.array(poly) - (x0, y0)).astype(np.int32), 1)
        elif kind == 3:
            cv2.ellipse(m, (int(cx - x0), int(cy - y0)), (int(s * 0.5), int(s * 0.3)),
                        float(rng.uniform(0, 180)), 0, 360, 1, -1)
        else:  # a hanging cloth band (scarf-like)
            cv2.line(m, (int(cx - x0 - s * 0.5), int(cy - y0)), (int(cx - x0 + s * 0.5),
                     int(cy - y0 + s * rng.uniform(-0.5, 0.5))), 1, max(2, int(s * 0.12)))
        sel = m > 0
        yy, xx = np.nonzero(sel)
        shade = 1.0 + amp * rng.normal(0, 1)
        if period > 0:
            per = period * h * rng.uniform(0.4, 0.9)
            band = np.sin((xx * math.cos(ang) + yy * math.sin(ang)) * 2 * math.pi / per) > 0
            shade = np.where(band, dark, 1.0)[:, None] * shade
        win = img[y0:y1, x0:x1]
        win[sel] = np.clip(colour * np.broadcast_to(shade, (yy.size, 1)), 0, 255)


def sensor_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean float32 noise of standard deviation ``sigma``: the sum of two uniform
    random bytes (triangular), about four times cheaper than Gaussian draws and just as
    good a sensor model for training."""
    n = int(np.prod(shape))
    b = np.frombuffer(rng.bytes(2 * n), np.int8).reshape(2, n).astype(np.float32)
    return ((b[0] + b[1] + 1) * np.float32(sigma / 104.52)).reshape(shape)


class FashionScene(NamedTuple):
    """One rendered scene."""

    image: np.ndarray  # (H, W, 3) uint8 BGR
    labels: np.ndarray  # (H, W) uint8 FASHION_CLASSES ids
    instances: np.ndarray  # (H, W) uint8: 0 background, k = k-th person in paint order
    boxes: list[list[int]]  # [x1, y1, x2, y2, 0] per person with >= MIN_BOX_PIXELS visible


def render_fashion(rng: np.random.Generator, size: tuple[int, int] = (320, 320),
                   people: int | None = None) -> FashionScene:
    """A scene of 1-3 people (``people`` fixes the count) on a cluttered background."""
    from edge.errors import ConfigError

    from .parts import _background

    if people is not None and people < 0:
        raise ConfigError(f"people must be 0 or more, got {people}")
    cv2 = require("cv2", "the synthetic fashion generator")
    h, w = size
    img = _background(rng, h, w)
    _clutter(cv2, rng, img)
    img = img.astype(np.float32)
    n = int(rng.integers(1, 4)) if people is None else int(people)
    placed = []
    for _ in range(n):
        p = sample_person(rng)
        o = sample_outfit(rng, p)
        scale = rng.uniform(*HEIGHT_RANGE) * h  # world units are body heights
        # mostly inside; some cut by an edge (at most ~10% of the height top or bottom)
        feet = rng.uniform(max(0.92 * scale, 0.4 * h), h + 0.1 * scale)
        cx = rng.uniform(0.08, 0.92) * w
        origin = (cx - scale * p.joints[J["pelvis"]][0], feet)
        placed.append((feet, p, o, scale, origin))
    labels = np.zeros((h, w), np.uint8)
    inst = np.zeros((h, w), np.uint8)
    order = sorted(range(n), key=lambda k: placed[k][0])  # far (higher feet) first
    windows = []
    for k, idx in enumerate(order, start=1):
        _feet, p, o, scale, origin = placed[idx]
        layer = render_person_labels(cv2, rng, p, o, size, scale, origin)
        if layer is None:
            windows.append(None)
            continue
        y0, y1, x0, x1 = layer.window
        sel = layer.labels > 0
        labels[y0:y1, x0:x1][sel] = layer.labels[sel]
        inst[y0:y1, x0:x1][sel] = k
        img[y0:y1, x0:x1][sel] = layer.colours[sel]
        windows.append(layer.window)
    boxes = []
    for k, win in enumerate(windows, start=1):
        if win is None:
            continue
        y0, y1, x0, x1 = win
        ys, xs = np.nonzero(inst[y0:y1, x0:x1] == k)
        if ys.size >= MIN_BOX_PIXELS:
            boxes.append([int(xs.min()) + x0, int(ys.min()) + y0, int(xs.max()) + x0 + 1,
                          int(ys.max()) + y0 + 1, 0])
    img += sensor_noise(rng, img.shape, rng.uniform(2, 6))
    return FashionScene(np.clip(img, 0, 255).astype(np.uint8), labels, inst, boxes)


# ---------------------------------------------------------------------- datasets


def _write_sample(args: tuple[str, int, int, tuple[int, int]]) -> tuple[np.ndarray, list]:
    """Render and write image ``index``: (label histogram, person boxes)."""
    from .synth import scene_seed, write_pair

    out, index, seed, size = args
    scene = render_fashion(np.random.default_rng(scene_seed(seed, index)), size)
    write_pair(out, index, scene.image, scene.labels)
    k = len(FASHION_CLASSES)
    return np.bincount(scene.labels.ravel(), minlength=k)[:k], scene.boxes


def _write_boxed_folder(out, images: int, seed: int, overwrite: bool, progress: bool,
                        workers: int, meta: dict, render, args: tuple, classes: int) -> dict:
    """The shared writer of the fashion and voc kinds: start the folder, render
    ``render((root, index, *args)) -> (histogram, boxes)`` per image (in ``workers``
    processes, same bytes as one), then boxes.json and the final semantic.json."""
    import json
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    from edge import atomic
    from edge.errors import ConfigError

    if workers < 1:
        raise ConfigError(f"--workers must be at least 1 (1 renders in this process), got "
                          f"{workers}")
    size = meta["size"]
    if len(size) != 2 or min(size) < 32:
        raise ConfigError(f"--size must be two sides of at least 32 px, got {size}")
    from .synth import start_label_folder

    root, removed, meta = start_label_folder(out, images, seed, overwrite, meta)
    jobs = [(str(root), i, *args) for i in range(images)]
    bar = dict(total=images, desc=meta["kind"], unit="img", disable=None if progress else True)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(tqdm(pool.map(render, jobs, chunksize=4), **bar))
    else:
        results = (render(j) for j in tqdm(jobs, **bar))
    hist = np.zeros(classes, np.int64)
    boxes: dict[str, list] = {}
    for i, (h, b) in enumerate(results):
        hist += h
        boxes[f"{i:06d}"] = b
    atomic.write_text(root / BOXES_FILE, json.dumps(boxes))
    meta["histogram"] = hist.tolist()
    atomic.write_text(root / "semantic.json", json.dumps(meta, indent=1))
    return {"images": images, "out": str(root), "size": list(size), "seed": seed,
            "removed": removed, "histogram": hist.tolist(),
            "boxes": sum(len(b) for b in boxes.values())}


def write_fashion_dataset(out, images: int, size: tuple[int, int] = (320, 320), seed: int = 0,
                          overwrite: bool = False, progress: bool = True, workers: int = 1
                          ) -> dict:
    """Write ``images`` fashion scenes: ``images/NNNNNN.jpg``, ``labels/NNNNNN.png``
    (FASHION_CLASSES ids), ``boxes.json`` (``{"NNNNNN": [[x1, y1, x2, y2, c], ...]}``,
    person boxes, x2/y2 exclusive, ``c`` into ``box_classes``) and ``semantic.json``
    (kind ``fashion``, classes, per-class pixel histogram, ``swap_lr``, ``box_classes``).
    Returns a summary. ``workers`` > 1 renders in that many processes (same bytes as 1).
    Output-folder rule as :func:`edge.data.synth.prepare_output`."""
    size = tuple(int(v) for v in size)
    return _write_boxed_folder(
        out, images, seed, overwrite, progress, workers,
        {"classes": list(FASHION_CLASSES), "kind": "fashion", "size": list(size),
         "swap_lr": list(SWAP_LR), "box_classes": list(BOX_CLASSES)},
        _write_sample, (seed, size), len(FASHION_CLASSES))
