"""How well an instance-segmentation model finds people in real footage (``edge-bench footage``).

Users judge the shipped demo model on real videos of walking people, not on our generated
scenes, so this module scores a model on a video clip against a per-frame reference of
person boxes and publishes, per clip: people visible, people found, recall, false
detections per frame, how well masks follow bodies, and a contact sheet.

The reference is either written by hand (a JSON file, see :func:`load_reference`) or
produced here, independently of the model, by background subtraction
(:func:`background_people`). Background subtraction needs a STATIC camera; its known
failure modes are stated where it is defined. Inference, mask pasting and rendering are
the runtime's own (:class:`edge.runtime.model.Pipeline`, :class:`edge.runtime.render.Renderer`),
so what is scored is what ``edge-run`` shows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ConfigError, DatasetError, SourceError
from edge.optional import require

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]
FramesOrVideo = str | Path | Sequence[np.ndarray] | np.ndarray

REFERENCE_SOURCES = ("background-subtraction", "hand")
CAMERAS = ("static", "moving")
REFERENCE_KEYS = ("video", "source", "frames", "notes", "camera")
PERSON = "person"
DEFAULT_EVERY = 10
DEFAULT_IOU = 0.3
MOVING_SHARE = 0.10  # foreground share above which the camera is taken as not static
MIN_BACKGROUND_FRAMES = 3  # distinct frames a median background needs (1: the frame itself)
SHEET_TILES = 12  # 4 columns x 3 rows
SHEET_COLUMNS = 4
TILE_WIDTH = 384
PERSISTENT_SHOWN = 5  # largest same-place false-detection groups a clip row keeps

MASK_IOU_MEASURE = ("approximate: IoU of the predicted mask with the background-subtraction "
                    "foreground, both cut to the reference box (shadows left after "
                    "suppression, holes where clothes match the background and other "
                    "people inside the box all lower it)")
BACKGROUND_LIMITATIONS = (
    "needs a static camera; people standing still for more than half of the clip become "
    "background; people walking together merge into one blob (a blob at least 1.6 "
    "typical person widths wide is split into equal strips, but pairs overlapping more "
    "than that and a person behind another in depth are not), so merged people are "
    "undercounted (vtest.avi, 12 frames checked by eye: 67 boxes, one of them a car, "
    "for about 71 people); lighting "
    "changes and moving objects other than people (cars, doors, trees) can add blobs "
    "that pass the size and shape filters")


# --------------------------------------------------------------------------- video reading


def _open_video(path: str | Path):
    """The runtime's own file source (same decoding and error messages as ``edge-run``)."""
    from edge.runtime.sources import open_source

    source = open_source("video", str(path))
    source.open()
    return source


def iter_video(path: str | Path) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame index, BGR frame)`` for every decodable frame of a video file.

    Indices count every frame of the file, damaged ones included (they are skipped with a
    warning), so a reference's frame numbers stay those a player shows."""
    from edge.runtime.sources import CorruptFrame

    source = _open_video(path)
    index = 0
    try:
        while True:
            try:
                frame = source.read()
            except CorruptFrame as exc:
                log.warning("%s", exc)
                index += 1
                continue
            if frame is None:
                break
            yield index, frame
            index += 1
    finally:
        source.close()
    if index == 0:
        raise SourceError(f"{path}: no frame could be decoded; not a video OpenCV can read "
                          f"(try ffmpeg -i IN -c:v libx264 OUT.mp4)")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a clip (``frames`` is decoded-counted when the
    container does not say)."""

    path: Path
    frames: int
    hw: tuple[int, int]
    fps: float | None


def video_info(path: str | Path) -> VideoInfo:
    """Frame count, size and rate of a video, refusing what cannot be decoded (one line).

    The count is the container's when it gives one (cheap); otherwise every frame is
    decoded and counted."""
    source = _open_video(path)
    try:
        frames, fps = int(source.frames_total or 0), source.fps
        first = source.read()
    except Exception as exc:  # noqa: BLE001 - a damaged first frame is the file's problem
        source.close()
        raise SourceError(f"{path}: cannot decode its first frame ({exc}); not a video "
                          f"OpenCV can read") from None
    source.close()
    if first is None:
        raise SourceError(f"{path}: no frame could be decoded; not a video OpenCV can read "
                          f"(try ffmpeg -i IN -c:v libx264 OUT.mp4)")
    if frames <= 0:
        frames = sum(1 for _ in iter_video(path))
    return VideoInfo(Path(path), frames, (int(first.shape[0]), int(first.shape[1])), fps)


def schedule(frames: int, every: int = DEFAULT_EVERY, max_frames: int | None = None
             ) -> list[int]:
    """Frame indices to evaluate: 0, every, 2*every, ... below ``frames``; with
    ``max_frames``, thinned evenly so that they still span the whole clip."""
    if every < 1:
        raise ConfigError(f"every {every}: evaluate every N-th frame with N >= 1")
    return thin(list(range(0, max(0, frames), every)), max_frames)


def thin(indices: list[int], max_frames: int | None) -> list[int]:
    """At most ``max_frames`` of ``indices``, spread evenly (first and last kept)."""
    if max_frames is None or len(indices) <= max_frames:
        return list(indices)
    if max_frames < 1:
        raise ConfigError(f"max frames {max_frames}: give at least 1")
    pick = np.unique(np.linspace(0, len(indices) - 1, max_frames).round().astype(int))
    return [indices[int(k)] for k in pick]


# --------------------------------------------------------------------- background people


@dataclass(frozen=True)
class BackgroundOptions:
    """Parameters of the background-subtraction people counter; sizes are fractions of
    the frame so one set works from 176x144 to 1080p.

    The defaults were tuned on OpenCV's ``vtest.avi`` (768x576, elevated static camera,
    overcast): people differ from the road and grass by 60-160 grey levels, sensor noise
    by under 10, hence a threshold of 30 on the largest channel difference."""

    samples: int = 51  # frames sampled evenly across the clip for the median background
    threshold: float = 30.0  # |frame - background|, largest channel, 0-255
    shadows: bool = True  # drop pixels that look like the background, darker (shadows)
    shadow_brightness: tuple[float, float] = (0.5, 0.95)  # frame/background brightness
    shadow_chroma: float = 0.06  # colour distortion (relative) below which it is a shadow
    open_frac: float = 1 / 200  # opening kernel / min(H, W): removes noise, tape, wires
    close_w_frac: float = 1 / 100  # closing kernel width / W: bridges a lamp post
    close_h_frac: float = 1 / 40  # closing kernel height / H: joins head, torso and legs
    min_height_frac: float = 0.04  # a person is at least this share of the frame height
    min_height_px: int = 12  # and this many pixels tall (smaller: no model finds it)
    min_area_frac: float = 0.0004  # and covers at least this share of its pixels
    min_fill: float = 0.2  # blob pixels / box area (diagonal lines and rings fail)
    min_aspect: float = 0.7  # height / width below this: a car, a shadow, not people
    isolated_aspect: tuple[float, float] = (1.8, 5.0)  # h/w of blobs taken as one person
    default_width: float = 0.4  # person width / height when too few isolated people
    split_at: float = 1.6  # blob width / typical person width from which it is 2 people
    max_split: int = 4  # most people one merged blob is split into
    min_part: float = 0.6  # each part of a split blob is at least this share of its height

    def check(self) -> None:
        if self.samples < 3:
            raise ConfigError(f"background samples {self.samples}: give at least 3 frames")
        if not 0 < self.threshold < 255:
            raise ConfigError(f"background threshold {self.threshold:g}: between 0 and 255")


@dataclass
class BackgroundPeople:
    """People found by background subtraction.

    ``boxes[i]`` are frame ``i``'s person boxes (x0, y0, x1, y1, float pixels);
    ``masks[i]`` its foreground (H, W) bool mask after shadow suppression and morphology
    (the body outlines the mask-quality measure compares with); ``typical_width`` is a
    person's width / height measured on isolated people of the clip; ``split_blobs``
    counts blobs split into several people (merged people)."""

    background: np.ndarray
    boxes: dict[int, list[Box]]
    masks: dict[int, np.ndarray]
    frames_total: int
    typical_width: float
    isolated: int
    split_blobs: int
    sampled: list[int] = field(default_factory=list)
    foreground_share: float = 0.0  # mean share of sampled pixels unlike the background
    options: BackgroundOptions = field(default_factory=BackgroundOptions)


class TooFewFrames(ConfigError):
    """Background subtraction refused: fewer than :data:`MIN_BACKGROUND_FRAMES` distinct
    frames (a still image, a very short clip, a still looped into a video). The median of
    one or two frames is those frames, so the foreground would be empty: 0 people, every
    detection false, mask quality 0."""

    def __init__(self, message: str, distinct: int, total: int) -> None:
        super().__init__(message)
        self.distinct, self.total = distinct, total


def _is_path(frames_or_video: FramesOrVideo) -> bool:
    return isinstance(frames_or_video, (str, Path))


def _what(frames_or_video: FramesOrVideo) -> str:
    """The clip's file name in messages ("frames" for frames given in memory)."""
    if _is_path(frames_or_video):
        return Path(frames_or_video).name  # type: ignore[arg-type]
    return "frames"


def _distinct(frames: Sequence[np.ndarray]) -> int:
    """How many of ``frames`` differ in content (a still looped into a clip counts once)."""
    return len({hashlib.blake2b(np.ascontiguousarray(f).tobytes(), digest_size=16).digest()
                for f in frames})


def _sample_frames(frames_or_video: FramesOrVideo, samples: int
                   ) -> tuple[list[np.ndarray], list[int], int]:
    """Up to ``samples`` frames spread evenly over the whole clip, their indices, and the
    clip's length. For a file this is one decoding pass that keeps every ``stride``-th
    frame, doubling the stride (and dropping every other kept frame) whenever more than
    ``2 * samples`` are kept: even coverage without knowing the length in advance."""
    if not _is_path(frames_or_video):
        frames = list(frames_or_video)  # type: ignore[arg-type]
        if not frames:
            raise ConfigError("background_people: no frames given")
        idx = np.unique(np.linspace(0, len(frames) - 1, min(samples, len(frames)))
                        .round().astype(int))
        return [frames[int(i)] for i in idx], [int(i) for i in idx], len(frames)
    kept: list[tuple[int, np.ndarray]] = []
    stride, total = 1, 0
    for index, frame in iter_video(frames_or_video):  # type: ignore[arg-type]
        total = index + 1
        if index % stride == 0:
            kept.append((index, frame))
            if len(kept) > 2 * samples:
                stride *= 2
                kept = [(i, f) for i, f in kept if i % stride == 0]
    if len(kept) > samples:
        pick = np.unique(np.linspace(0, len(kept) - 1, samples).round().astype(int))
        kept = [kept[int(k)] for k in pick]
    return [f for _, f in kept], [i for i, _ in kept], total


def estimate_background(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Per-pixel median of frames spread over the whole clip.

    Chosen over OpenCV's MOG2 after comparing both on ``vtest.avi``: the median sees the
    whole clip at once, so it has no warm-up (MOG2 leaves "ghosts" where people stood in
    the first tens of frames) and it keeps a person who stands still for a while in the
    foreground (MOG2 learns them into the background within seconds: the man waiting by
    the tripod around frame 600 turns hollow), and it labels fewer pixels around feet as
    shadow. Its price: the camera must be static, lighting must not change much, and a
    person present at one spot in more than half of the sampled frames is background."""
    stack = np.stack([np.asarray(f) for f in frames])
    return np.median(stack, axis=0).astype(np.uint8)


def foreground_mask(frame: np.ndarray, background: np.ndarray,
                    options: BackgroundOptions | None = None) -> np.ndarray:
    """(H, W) bool: pixels that differ from the background, shadows removed, cleaned.

    A pixel is foreground when its largest channel difference exceeds the threshold;
    a shadow (cheap, Horprasert-style test) is a pixel whose colour is the background's
    scaled by 0.5-0.95 with little colour distortion. Opening removes speckle and thin
    lines (the barrier tape in vtest); closing joins a body cut by a lamp post or by
    clothes close to the background colour."""
    cv2 = require("cv2", "background subtraction")
    o = options or BackgroundOptions()
    f = frame.astype(np.float32)
    b = background.astype(np.float32)
    mask = np.abs(f - b).max(axis=2) > o.threshold
    if o.shadows:
        bb = (b * b).sum(axis=2) + 1.0
        alpha = (f * b).sum(axis=2) / bb  # brightness of the frame relative to the bg
        chroma = np.sqrt(((f - alpha[..., None] * b) ** 2).sum(axis=2) / bb)
        lo, hi = o.shadow_brightness
        mask &= ~((alpha > lo) & (alpha < hi) & (chroma < o.shadow_chroma))
    h, w = mask.shape
    # odd sizes: an even kernel has no centre and shifts the mask by a pixel per pass
    k_open = max(3, round(min(h, w) * o.open_frac)) | 1
    k_close = (max(3, round(w * o.close_w_frac)) | 1, max(3, round(h * o.close_h_frac)) | 1)
    m = mask.view(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN,
                         cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k_open, k_open)))
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE,
                         cv2.getStructuringElement(cv2.MORPH_ELLIPSE, k_close))
    return m.astype(bool)


@dataclass(frozen=True)
class Blob:
    """One connected foreground component that passed the person filters: its box and
    its own pixels within the box (other blobs' pixels excluded)."""

    box: Box
    own: np.ndarray


def person_blobs(mask: np.ndarray, options: BackgroundOptions | None = None) -> list[Blob]:
    """Connected components of ``mask`` that can be one or more people.

    Filters, relative to the frame: height, area, fill (blob pixels / box) and aspect
    (height / width >= ``min_aspect``: groups of up to about three people side by side
    pass, a car seen from the side does not)."""
    cv2 = require("cv2", "background subtraction")
    o = options or BackgroundOptions()
    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    blobs: list[Blob] = []
    for k in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[k])
        if bh < max(o.min_height_frac * h, o.min_height_px) or area < o.min_area_frac * h * w:
            continue
        if area < o.min_fill * bw * bh or bh < o.min_aspect * bw:
            continue
        blobs.append(Blob((float(x), float(y), float(x + bw), float(y + bh)),
                          labels[y:y + bh, x:x + bw] == k))
    return blobs


def split_blob(blob: Blob, typical_width: float, max_split: int = 4,
               split_at: float = 1.6, min_part: float = 0.6,
               frame_width: int | None = None) -> list[Box]:
    """One box per person in a blob: with ``ratio = width / (typical_width * height)``, a
    blob of ``ratio >= split_at`` is ``floor(ratio - split_at) + 2`` people (2 from 1.6,
    3 from 2.6, ...) and is cut into that many equal vertical strips, each strip's box
    shrunk to the blob's pixels in it.

    Why 1.6 and not a plain ``floor(ratio)``: on vtest.avi the ratios of all blobs form
    two modes, one person around 1.0 (tail to 1.5: legs apart, arms, a bag) and two
    people around 1.8-2.1 (they overlap a little when walking together), with the valley
    at 1.5-1.6; ``floor`` cut at 2.0 and left most pairs whole.

    Not split: a blob touching the frame's left or right edge (its width is cut, and on
    vtest the one such wide blob is a car), and a blob whose strips are not all at least
    ``min_part`` of its height (a person with a bag or barrier tape beside them is one
    person plus a sliver, not two people). People merged in depth (one behind the other,
    taller than one person) are not split; they count once."""
    x0, y0, x1, y1 = blob.box
    bw, bh = x1 - x0, y1 - y0
    ratio = bw / max(1e-6, typical_width * bh)
    k = 1 if ratio < split_at else int(min(max_split, math.floor(ratio - split_at) + 2))
    if k == 1 or x0 <= 0 or (frame_width is not None and x1 >= frame_width):
        return [blob.box]
    own = blob.own
    out: list[Box] = []
    edges = np.linspace(0, own.shape[1], k + 1).round().astype(int)
    for a, b in pairwise(edges):
        rows = np.flatnonzero(own[:, a:b].any(axis=1))
        if rows.size == 0 or rows[-1] + 1 - rows[0] < min_part * bh:
            return [blob.box]
        out.append((x0 + float(a), y0 + float(rows[0]), x0 + float(b), y0 + float(rows[-1] + 1)))
    return out


def background_people(frames_or_video: FramesOrVideo,
                      indices: Sequence[int] | Callable[[int], Sequence[int]] | None = None,
                      options: BackgroundOptions | None = None,
                      progress: bool = False) -> BackgroundPeople:
    """Count people in a STATIC-camera clip without any learned model: the reference the
    footage evaluation scores a model against when nobody wrote one by hand.

    ``frames_or_video`` is a video file or a sequence of BGR frames; ``indices`` the frames
    to return boxes and masks for (default: every frame; for a long file pass the frames
    you evaluate, each mask is H*W bytes), or a function of the number of frames decoded
    returning them (a container's frame count can overstate it). Indices at or past the
    decoded end are dropped with a WARNING. Fewer than :data:`MIN_BACKGROUND_FRAMES`
    distinct frames (a still image, a very short clip) are refused (:class:`TooFewFrames`):
    their median background is the frames themselves.

    Steps: median background of ``samples`` frames spread over the whole clip (see
    :func:`estimate_background` for why not MOG2), foreground by absolute difference with
    shadow suppression and morphology (:func:`foreground_mask`), connected components
    filtered by size and shape relative to the frame (:func:`person_blobs`), and merged
    blobs split by the width of a typical person, measured on this clip's isolated people
    (:func:`split_blob`).

    Known failure modes: see :data:`BACKGROUND_LIMITATIONS`."""
    o = options or BackgroundOptions()
    o.check()
    t0 = time.perf_counter()
    samples, sampled, total = _sample_frames(frames_or_video, o.samples)
    distinct = _distinct(samples)
    if distinct < MIN_BACKGROUND_FRAMES:
        raise TooFewFrames(
            f"{frames_or_video if _is_path(frames_or_video) else 'frames'}: {distinct} "
            f"distinct frame(s) of {total} (a still image "
            f"or a very short clip), background subtraction needs at least "
            f"{MIN_BACKGROUND_FRAMES} of a static camera (the background of fewer is the frames "
            f"themselves: nobody would be found); give a hand --reference for it",
            distinct, total)
    background = estimate_background(samples)
    # share of the sampled frames' pixels unlike the background, before any clean-up:
    # 2-4 % on vtest.avi (people), 13 % on the in-car carphone clip, 36-60 % on panning
    # shots; above MOVING_SHARE the camera moves or the light changes
    share = float(np.mean([(np.abs(f.astype(np.int16) - background).max(axis=2)
                            > o.threshold).mean() for f in samples]))
    del samples
    log.info("background: median of %d frames of %d in %.1f s", len(sampled), total,
             time.perf_counter() - t0)
    if callable(indices):
        indices = indices(total)
    wanted = set(range(total) if indices is None else (int(i) for i in indices))
    negative = sorted(i for i in wanted if i < 0)
    if negative:
        raise ConfigError(f"background_people: frame indices {negative[:5]} are negative")
    beyond = sorted(i for i in wanted if i >= total)
    if beyond:  # e.g. a container that overstates its length, or a reference written for it
        log.warning("%s: frame(s) %s requested but only %d frame(s) could be decoded (0-%d); "
                    "they get no background-subtraction boxes or masks",
                    _what(frames_or_video), ", ".join(map(str, beyond[:5])), total, total - 1)
        wanted -= set(beyond)
    raw: dict[int, list[Blob]] = {}
    masks: dict[int, np.ndarray] = {}
    frames = (iter_video(frames_or_video) if _is_path(frames_or_video)  # type: ignore[arg-type]
              else enumerate(frames_or_video))  # type: ignore[arg-type]
    from tqdm import tqdm

    bar = tqdm(total=len(wanted), desc="background", unit="frame",
               disable=None if progress else True)
    try:
        for index, frame in frames:
            if index not in wanted:
                continue
            if frame.shape != background.shape:
                raise SourceError(f"frame {index} is {frame.shape[1]}x{frame.shape[0]}, the "
                                  f"clip's background {background.shape[1]}x"
                                  f"{background.shape[0]}: the frame size changes mid-clip")
            mask = foreground_mask(frame, background, o)
            raw[index] = person_blobs(mask, o)
            masks[index] = mask
            bar.update(1)
            if len(masks) == len(wanted):
                break  # the rest of the clip is not needed
    finally:
        bar.close()
    missing = sorted(wanted - set(masks))
    if missing:  # damaged frames the decoder skipped
        log.warning("background: %d requested frame(s) could not be decoded (first %d); they "
                    "have no reference", len(missing), missing[0])
    lo, hi = o.isolated_aspect
    ratios = [(b.box[2] - b.box[0]) / (b.box[3] - b.box[1])
              for blobs in raw.values() for b in blobs
              if lo <= (b.box[3] - b.box[1]) / (b.box[2] - b.box[0]) <= hi]
    typical = float(np.median(ratios)) if len(ratios) >= 5 else o.default_width
    if len(ratios) < 5:
        log.info("background: %d isolated people only; a person's width is taken as %.2f of "
                 "their height", len(ratios), typical)
    boxes: dict[int, list[Box]] = {}
    split = 0
    for index, blobs in sorted(raw.items()):
        out: list[Box] = []
        for b in blobs:
            parts = split_blob(b, typical, o.max_split, o.split_at, o.min_part,
                               background.shape[1])
            split += len(parts) > 1
            out.extend(parts)
        boxes[index] = sorted(out)
    if share > MOVING_SHARE:
        what = _what(frames_or_video)
        log.warning("%s: background subtraction finds %.0f%% of the pixels unlike the "
                    "background on average (a static camera filmed walking people gives a few "
                    "%%): the camera probably moves or the lighting changes, and its people "
                    "counts are meaningless; write a reference by hand", what, 100 * share)
    return BackgroundPeople(background, boxes, masks, total, typical, len(ratios), split,
                            sampled, share, o)


# ------------------------------------------------------------------------------ reference


@dataclass
class Reference:
    """Per-frame person boxes a clip is scored against (the JSON reference file).

    ``frames`` maps a frame index to its boxes; a listed frame with no boxes is a frame
    with nobody visible (detections there are false). Only listed frames are evaluated.
    ``camera`` is ``static`` (mask quality is measured against background subtraction)
    or ``moving`` (it is not)."""

    video: str
    source: str
    frames: dict[int, list[Box]]
    notes: str = ""
    camera: str = "static"
    path: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {"video": self.video, "source": self.source, "camera": self.camera,
                "frames": {str(i): [[round(float(v), 1) for v in b] for b in self.frames[i]]
                           for i in sorted(self.frames)},
                "notes": self.notes}


def _bad(path: str | Path, what: str) -> DatasetError:
    return DatasetError(f"{path}: {what} (a footage reference is {{\"video\": NAME, \"source\": "
                        f"\"hand\"|\"background-subtraction\", \"frames\": {{\"INDEX\": "
                        f"[[x0, y0, x1, y1], ...]}}, \"notes\": TEXT}})")


def load_reference(path: str | Path) -> Reference:
    """Read a reference file strictly: anything off is a one-line :class:`DatasetError`
    naming the file and the offending entry, because a silently skipped box would change
    recall without anyone noticing. ``camera`` is optional (``static`` by default for
    background-subtraction references, ``moving`` for hand ones: say ``static`` to get
    mask quality on a hand reference)."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: no such reference file")
    try:
        data = json.loads(p.read_text())
    except UnicodeDecodeError:
        raise _bad(p, "not a text file") from None
    except json.JSONDecodeError as exc:
        raise _bad(p, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
                   ) from None
    if not isinstance(data, dict):
        raise _bad(p, f"expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(REFERENCE_KEYS))
    if unknown:
        raise _bad(p, f"unknown key(s) {unknown}")
    for key in ("video", "source", "frames"):
        if key not in data:
            raise _bad(p, f"missing {key!r}")
    video, source = data["video"], data["source"]
    if not isinstance(video, str) or not video.strip():
        raise _bad(p, f"'video' must be the clip's file name, got {video!r}")
    if source not in REFERENCE_SOURCES:
        raise _bad(p, f"'source' must be one of {list(REFERENCE_SOURCES)}, got {source!r}")
    notes = data.get("notes", "")
    if not isinstance(notes, str):
        raise _bad(p, f"'notes' must be text, got {type(notes).__name__}")
    camera = data.get("camera", "static" if source == "background-subtraction" else "moving")
    if camera not in CAMERAS:
        raise _bad(p, f"'camera' must be one of {list(CAMERAS)}, got {camera!r}")
    if source == "background-subtraction" and camera != "static":
        raise _bad(p, "a background-subtraction reference needs 'camera': 'static'")
    raw = data["frames"]
    if not isinstance(raw, dict) or not raw:
        raise _bad(p, "'frames' must be a non-empty object {\"frame index\": [boxes]}")
    frames: dict[int, list[Box]] = {}
    for key, boxes in raw.items():
        if not (isinstance(key, str) and key.isdigit() and key.isascii()):
            raise _bad(p, f"frame key {key!r} is not a frame index (0, 1, 2, ...)")
        index = int(key)
        if index in frames:
            raise _bad(p, f"frame {index} is listed twice ({key!r})")
        if not isinstance(boxes, list):
            raise _bad(p, f"frame {key}: expected a list of boxes, got {type(boxes).__name__}")
        out: list[Box] = []
        for j, b in enumerate(boxes):
            ok = (isinstance(b, list) and len(b) == 4
                  and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                          and math.isfinite(v) for v in b))
            if not ok:
                raise _bad(p, f"frame {key} box {j}: expected [x0, y0, x1, y1] numbers, got "
                              f"{json.dumps(b)}")
            x0, y0, x1, y1 = (float(v) for v in b)
            if not (x1 > x0 and y1 > y0):
                raise _bad(p, f"frame {key} box {j}: {json.dumps(b)} is empty or reversed "
                              f"(need x1 > x0 and y1 > y0)")
            if min(x0, y0) < -1:
                raise _bad(p, f"frame {key} box {j}: {json.dumps(b)} starts left of or above "
                              f"the frame")
            out.append((x0, y0, x1, y1))
        frames[index] = out
    return Reference(video, source, frames, notes, camera, p)


def check_reference(ref: Reference, video: str | Path, frames_total: int,
                    hw: tuple[int, int]) -> None:
    """Refuse a reference written for another clip (by file name), with frames beyond the
    clip or boxes outside the frame: scoring it would report numbers about nothing."""
    where = ref.path or "reference"
    name = Path(video).name
    if ref.video != name:
        raise DatasetError(f"{where}: a reference for {ref.video!r}, not for {name!r}; pass the "
                           f"reference written for this clip (its 'video' is the file name)")
    beyond = sorted(i for i in ref.frames if i >= frames_total)
    if beyond:
        raise DatasetError(f"{where}: frame(s) {', '.join(map(str, beyond[:5]))} beyond "
                           f"{name}'s {frames_total} frames (0-{frames_total - 1})")
    h, w = hw
    for i in sorted(ref.frames):
        for j, (x0, y0, x1, y1) in enumerate(ref.frames[i]):
            if x0 >= w or y0 >= h:
                raise DatasetError(f"{where}: frame {i} box {j} [{x0:g}, {y0:g}, {x1:g}, "
                                   f"{y1:g}] lies outside the {w}x{h} frame")


def write_output(path: str | Path, data: bytes) -> None:
    """Write an output file with :func:`edge.atomic.write_bytes` (atomic; through links
    and into ``/dev/null``-like files without replacing them)."""
    from edge import atomic

    atomic.write_bytes(path, data)


def write_reference(path: str | Path, ref: Reference) -> None:
    """Write a reference for review (see :func:`write_output`)."""
    write_output(path, (json.dumps(ref.to_json(), indent=1) + "\n").encode())


def reference_from_background(people: BackgroundPeople, video: str | Path) -> Reference:
    """The background-subtraction reference of a clip, with its method and caveats in
    ``notes`` so whoever reviews the file knows what to correct."""
    o = people.options
    notes = (f"Written by edge-bench footage from background subtraction (median of "
             f"{len(people.sampled)} frames, threshold {o.threshold:g}, shadow suppression "
             f"{'on' if o.shadows else 'off'}); typical person width {people.typical_width:.2f} "
             f"of height from {people.isolated} isolated people; {people.split_blobs} merged "
             f"blob(s) split. Boxes are loose (shadow remnants, merged people). Limitations: "
             f"{BACKGROUND_LIMITATIONS}. Correct boxes by hand and set source to 'hand'.")
    return Reference(Path(video).name, "background-subtraction",
                     {i: list(b) for i, b in people.boxes.items()}, notes, "static")


# ------------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class FrameMatch:
    """One frame's matching: ``pairs`` are (detection, reference, box IoU)."""

    pairs: list[tuple[int, int, float]]
    false: list[int]  # unmatched detections
    missed: list[int]  # unmatched reference boxes


def match_boxes(detections: np.ndarray, reference: np.ndarray, iou_threshold: float = DEFAULT_IOU,
                scores: np.ndarray | None = None) -> FrameMatch:
    """Greedy one-to-one matching by IoU: the pair with the highest IoU first, then the
    next highest among unused boxes, down to ``iou_threshold``. Ties of IoU go to the
    detection with the higher score (``scores``, one per detection), then to the earlier
    detection, then to the earlier reference box: the same inputs always match alike."""
    from edge.geometry.boxes import box_iou

    det = np.asarray(detections, np.float64).reshape(-1, 4)
    ref = np.asarray(reference, np.float64).reshape(-1, 4)
    score = (np.zeros(len(det)) if scores is None
             else np.asarray(scores, np.float64).reshape(-1))
    if len(score) != len(det):
        raise ValueError(f"match_boxes: {len(score)} scores for {len(det)} detections")
    pairs: list[tuple[int, int, float]] = []
    if len(det) and len(ref):
        iou = box_iou(det, ref)
        order = np.lexsort((np.tile(np.arange(len(ref)), len(det)),
                            np.repeat(np.arange(len(det)), len(ref)),
                            np.repeat(-score, len(ref)), -iou.ravel()))
        used_d, used_r = set(), set()
        for flat in order:
            d, r = divmod(int(flat), len(ref))
            v = float(iou[d, r])
            if v < iou_threshold:
                break
            if d in used_d or r in used_r:
                continue
            used_d.add(d)
            used_r.add(r)
            pairs.append((d, r, v))
    matched_d = {d for d, _, _ in pairs}
    matched_r = {r for _, r, _ in pairs}
    return FrameMatch(pairs, [d for d in range(len(det)) if d not in matched_d],
                      [r for r in range(len(ref)) if r not in matched_r])


def mask_iou_in_box(pred: np.ndarray, foreground: np.ndarray, box: Box) -> float | None:
    """IoU of a predicted mask with the foreground, both cut to ``box`` (None when both are
    empty there). Approximate by nature: see :data:`MASK_IOU_MEASURE`."""
    h, w = foreground.shape
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(w, math.ceil(box[2])), min(h, math.ceil(box[3]))
    if x1 <= x0 or y1 <= y0:
        return None
    p, f = pred[y0:y1, x0:x1], foreground[y0:y1, x0:x1]
    union = int(np.count_nonzero(p | f))
    return None if union == 0 else int(np.count_nonzero(p & f)) / union


def summarise(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """Clip totals from per-frame records (``reference``, ``detections``, ``found``,
    ``false``, ``mask_iou`` lists): people visible = reference boxes, found = matched,
    recall = found / visible (None without people), false detections per frame."""
    n = len(frames)
    visible = sum(f["reference"] for f in frames)
    found = sum(f["found"] for f in frames)
    false = sum(f["false"] for f in frames)
    dets = sum(f["detections"] for f in frames)
    ious = [v for f in frames for v in f.get("mask_iou", []) if v is not None]
    return {"frames_evaluated": n, "people_visible": visible, "people_found": found,
            "recall": None if visible == 0 else found / visible,
            "false_detections": false, "false_per_frame": None if n == 0 else false / n,
            "detections_per_frame": None if n == 0 else dets / n,
            "mask_iou_mean": float(np.mean(ious)) if ious else None,
            "mask_iou_median": float(np.median(ious)) if ious else None,
            "mask_iou_pairs": len(ious)}


def operating_points(records: Sequence[dict[str, Any]], reference: dict[int, Sequence[Box]],
                     thresholds: Sequence[float], iou_threshold: float = DEFAULT_IOU,
                     run_threshold: float = 0.0) -> list[dict[str, Any]]:
    """Recall and false detections per frame at each score threshold, re-matched from the
    per-frame ``boxes``/``scores`` a clip row keeps: what ``--score-threshold`` would give,
    without running the model again. A row only holds detections at or above the
    threshold it was run with, so lower ``thresholds`` are refused rather than guessed."""
    low = [t for t in thresholds if t < run_threshold - 1e-9]
    if low:
        raise ConfigError(f"score threshold(s) {low} below the run's {run_threshold:g}: the "
                          f"row has no detections under it; evaluate again with a lower "
                          f"--score-threshold")
    out = []
    for t in sorted(thresholds):
        frames = []
        for rec in records:
            boxes = np.asarray(rec["boxes"], np.float64).reshape(-1, 4)
            scores = np.asarray(rec["scores"], np.float64).reshape(-1)
            keep = scores >= t
            ref = np.asarray(reference[rec["frame"]], np.float64).reshape(-1, 4)
            m = match_boxes(boxes[keep], ref, iou_threshold, scores=scores[keep])
            frames.append({"reference": len(ref), "detections": int(keep.sum()),
                           "found": len(m.pairs), "false": len(m.false)})
        s = summarise(frames)
        out.append({"score_threshold": t, "recall": s["recall"],
                    "false_per_frame": s["false_per_frame"], "people_found": s["people_found"],
                    "false_detections": s["false_detections"]})
    return out


def threshold_grid(run_threshold: float, top: float = 0.9, step: float = 0.05) -> list[float]:
    """Score thresholds from the run's own up to ``top``: the rows of an operating curve."""
    n = int(math.floor((top - run_threshold) / step + 1e-9))
    return [round(run_threshold + k * step, 4) for k in range(max(n, 0) + 1)]


def persistent_false(records: Sequence[dict[str, Any]], reference: dict[int, Sequence[Box]],
                     iou_threshold: float = DEFAULT_IOU, same_place_iou: float = 0.5
                     ) -> list[dict[str, Any]]:
    """False detections grouped by place: on a static camera a false detection that comes
    back frame after frame at the same spot is scenery the model takes for a person (a
    post, a sign), not noise; the groups say how much of the false rate that is. A false
    box joins the first group whose first box it overlaps by ``same_place_iou``. Groups
    come largest first, with the frames they appear in and their mean score."""
    from edge.geometry.boxes import box_iou

    groups: list[dict[str, Any]] = []
    for rec in records:
        boxes = np.asarray(rec["boxes"], np.float64).reshape(-1, 4)
        scores = np.asarray(rec["scores"], np.float64).reshape(-1)
        ref = np.asarray(reference[rec["frame"]], np.float64).reshape(-1, 4)
        for d in match_boxes(boxes, ref, iou_threshold, scores=scores).false:
            for g in groups:
                if box_iou(boxes[d:d + 1], np.asarray([g["box"]]))[0, 0] >= same_place_iou:
                    g["frames"].append(rec["frame"])
                    g["scores"].append(float(scores[d]))
                    break
            else:
                groups.append({"box": [round(float(v), 1) for v in boxes[d]],
                               "frames": [rec["frame"]], "scores": [float(scores[d])]})
    n = len(records)
    out = [{"box": g["box"], "count": len(g["frames"]),
            "share_of_frames": len(set(g["frames"])) / n if n else None,
            "mean_score": round(float(np.mean(g["scores"])), 4), "frames": g["frames"]}
           for g in groups]
    return sorted(out, key=lambda g: (-g["count"], g["frames"][0]))


# ---------------------------------------------------------------------------------- model


class FootageModel:
    """A model as the runtime runs it: ``demo``, an export or engine folder or an installed
    name through :meth:`edge.runtime.model.Pipeline.from_dir` (ONNX Runtime on the CPU,
    TensorRT where engines and TensorRT are), a ``.npz`` / ``.pt`` file through
    :func:`edge.evaluate.runner.load_pipeline` (PyTorch, FP32). Calls return the runtime's
    :class:`~edge.runtime.model.FrameResult`, so the renderer draws what ``edge-run``
    draws."""

    def __init__(self, ref: str, precision: str = "fp32", score_threshold: float | None = None,
                 backend: str = "auto", threads: int | None = None) -> None:
        self.ref = ref
        self._pipeline = None
        self._core = None
        if Path(ref).suffix in (".npz", ".pt") and not Path(ref).exists():
            from edge.errors import ModelFileError

            raise ModelFileError(f"--model {ref}: no such weights file")
        if Path(ref).suffix in (".npz", ".pt") and Path(ref).is_file():
            from edge.evaluate.runner import load_pipeline

            if precision != "fp32":
                raise ConfigError(f"--precision {precision}: {Path(ref).name} runs in PyTorch "
                                  f"at fp32; export and calibrate it for {precision}")
            self._core = load_pipeline(ref, precision=precision, score_threshold=score_threshold)
            self.desc = self._core.desc
            self.backend_name, self.precision = "pytorch", "fp32"
        else:
            from edge.runtime.model import Pipeline

            self._pipeline = Pipeline.from_dir(ref, backend=backend, precision=precision,
                                               threads=threads, score_threshold=score_threshold)
            self.desc = self._pipeline.desc
            self.backend_name, self.precision = self._pipeline.backend_name, precision
        if self.desc.task != "instance" or PERSON not in self.desc.class_names:
            what = (f"a {self.desc.task} model" if self.desc.task != "instance"
                    else f"an instance model of {list(self.desc.class_names)}")
            self.close()
            raise ConfigError(f"--model {ref}: {self.desc.name} is {what}; footage evaluation "
                              f"needs an instance-segmentation model with a {PERSON!r} class")
        self.person = self.desc.class_names.index(PERSON)
        self.score_threshold = float(self.desc.score_threshold)

    @property
    def name(self) -> str:
        return self.desc.name

    def __call__(self, frame: np.ndarray):
        if self._pipeline is not None:
            return self._pipeline(frame)
        from edge.pipeline import Stopwatch
        from edge.runtime.model import FrameResult, check_frame

        check_frame(frame)
        sw = Stopwatch()
        res = self._core(frame, sw)
        with sw("paste"):
            ids = res.instance_map()
        return FrameResult("instance", self.desc.class_names, res.frame_hw, sw.ms,
                           boxes=res.boxes, scores=res.scores, classes=res.classes,
                           instance_map=ids, instances=res)

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None
        if self._core is not None:
            close = getattr(self._core.backend, "close", None)
            if close is not None:
                close()
            self._core = None

    def __enter__(self) -> FootageModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- contact sheet

REF_COLOUR = (255, 255, 0)  # cyan (BGR): reference boxes, thin
MATCHED_COLOUR = (0, 200, 0)  # green: detection matched to a reference box
FALSE_COLOUR = (0, 0, 255)  # red: false detection


def sheet_picks(n: int, tiles: int = SHEET_TILES) -> list[int]:
    """Positions (into the evaluated frames) of the sheet's tiles, spread across the clip."""
    if n <= tiles:
        return list(range(n))
    return [int(k) for k in np.unique(np.linspace(0, n - 1, tiles).round().astype(int))]


def render_tile(frame: np.ndarray, result, renderer, ref_boxes: Sequence[Box],
                det_boxes: np.ndarray, match: FrameMatch, index: int,
                width: int = TILE_WIDTH) -> np.ndarray:
    """One contact-sheet tile: the runtime's mask overlay (``renderer`` with its own boxes
    off), then, at tile scale, reference boxes thin in cyan, matched detections green,
    false ones red, and the frame index and counts on a dark strip."""
    cv2 = require("cv2", "contact sheets")
    out = renderer(frame, result).copy()
    scale = width / out.shape[1]
    tile = cv2.resize(out, (width, max(1, round(out.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)

    def pt(x: float, y: float) -> tuple[int, int]:
        return round(x * scale), round(y * scale)

    for b in ref_boxes:
        cv2.rectangle(tile, pt(b[0], b[1]), pt(b[2], b[3]), REF_COLOUR, 1)
    matched = {d for d, _, _ in match.pairs}
    for d, b in enumerate(det_boxes):
        colour = MATCHED_COLOUR if d in matched else FALSE_COLOUR
        cv2.rectangle(tile, pt(b[0], b[1]), pt(b[2], b[3]), colour, 2)
    text = (f"#{index}  people {len(ref_boxes)}  found {len(match.pairs)}  "
            f"false {len(match.false)}")
    tile[:18] //= 3
    cv2.putText(tile, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1,
                cv2.LINE_AA)
    return tile


def contact_sheet(tiles: Sequence[np.ndarray], title: str,
                  columns: int = SHEET_COLUMNS) -> np.ndarray:
    """Tiles in a grid (row by row, frame order) under a title line."""
    cv2 = require("cv2", "contact sheets")
    th, tw = tiles[0].shape[:2]
    cols = min(columns, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    head = 24
    sheet = np.full((head + rows * (th + 2), cols * (tw + 2), 3), 32, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        y, x = head + r * (th + 2), c * (tw + 2)
        sheet[y:y + t.shape[0], x:x + t.shape[1]] = t
    cv2.putText(sheet, title, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    return sheet


def write_jpeg(path: str | Path, image: np.ndarray, quality: int = 90) -> None:
    """Encode, then write (a failed encode never leaves a truncated JPEG)."""
    cv2 = require("cv2", "contact sheets")

    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ConfigError(f"{path}: OpenCV could not encode the contact sheet as JPEG")
    write_output(path, buf.tobytes())


# ------------------------------------------------------------------------------ evaluation


def background_reference(video: str | Path, every: int = DEFAULT_EVERY,
                         max_frames: int | None = None,
                         options: BackgroundOptions | None = None, progress: bool = False
                         ) -> tuple[Reference, BackgroundPeople]:
    """The background-subtraction reference of every ``every``-th frame of a clip.

    The frames are scheduled over the frames actually decoded, not the container's count
    (some MKV/WebM/variable-rate files overstate it; a WARNING says so)."""
    info = video_info(video)
    schedule(info.frames, every)  # a bad ``every`` is refused before decoding
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"max frames {max_frames}: give at least 1")
    people = background_people(video, lambda total: schedule(total, every, max_frames),
                               options, progress=progress)
    if people.frames_total != info.frames:
        log.warning("%s: the file says it has %d frames, %d could be decoded; the reference's "
                    "frames are spread over the decoded ones", info.path.name, info.frames,
                    people.frames_total)
    return reference_from_background(people, video), people


def evaluate_clip(model: FootageModel, video: str | Path, reference: Reference | None = None,
                  *, every: int = DEFAULT_EVERY, iou_threshold: float = DEFAULT_IOU,
                  max_frames: int | None = None, sheet: str | Path | None = None,
                  people: BackgroundPeople | None = None,
                  options: BackgroundOptions | None = None, progress: bool = True
                  ) -> dict[str, Any]:
    """Run ``model`` on a clip's reference frames and score it (see :func:`summarise`).

    Without ``reference`` the clip's background-subtraction reference of every
    ``every``-th frame is used (a WARNING says it needs a static camera and undercounts
    merged people). With one, its frames are evaluated (``every`` is not used). Mask
    quality (:data:`MASK_IOU_MEASURE`) is measured on static-camera clips only: on a
    moving camera there is no foreground to compare with, nor on a still image or a clip of
    fewer than :data:`MIN_BACKGROUND_FRAMES` distinct frames (skipped with a WARNING; without
    ``reference`` such a clip is refused, :class:`TooFewFrames`). ``people`` passes background
    subtraction already computed for these frames. ``max_frames`` thins the evaluated
    frames evenly. The model's time per frame excludes the first (warm-up) frame;
    ``wall_s`` is the whole scoring pass (decoding, model, matching, sheet tiles).
    Returns the clip's row (JSON-ready); writes the contact sheet to ``sheet``."""
    from tqdm import tqdm

    from edge.runtime.render import Renderer

    if not 0.0 < iou_threshold <= 1.0:
        raise ConfigError(f"IoU threshold {iou_threshold:g}: between 0 (excluded) and 1")
    info = video_info(video)
    name = info.path.name
    computed = reference is None  # made here, of every ``every``-th frame
    if reference is None:
        if people is None:  # refuses a still or a very short clip (TooFewFrames)
            reference, people = background_reference(video, every, max_frames, options,
                                                      progress)
        else:
            reference = reference_from_background(people, video)
        log.warning("%s: no --reference, scoring against background subtraction: it needs a "
                    "static camera and undercounts people walking together (merged blobs)", name)
    check_reference(reference, video, info.frames, info.hw)
    frames = thin(sorted(reference.frames), max_frames)
    fg: dict[int, np.ndarray] | None = None
    not_measured = "not measured: moving camera (no background-subtraction foreground)"
    if reference.camera == "static":
        if people is None or not set(frames) <= set(people.masks):
            try:
                people = background_people(video, frames, options, progress=progress)
            except TooFewFrames as exc:
                people = None
                not_measured = (f"not measured: {exc.distinct} distinct frame(s), a "
                                f"background-subtraction foreground needs at least "
                                f"{MIN_BACKGROUND_FRAMES}")
                log.warning("%s: 'camera': 'static' but %d distinct frame(s) (a still or a very "
                            "short clip): mask quality is not measured for this clip "
                            "(mask_iou_* are null; the background of fewer than %d frames is "
                            "the frames themselves, every mask would score 0)", name,
                            exc.distinct, MIN_BACKGROUND_FRAMES)
        if people is not None:
            fg = people.masks
    picks = {frames[k] for k in sheet_picks(len(frames))}
    renderer = Renderer(draw_boxes=False)
    records: list[dict[str, Any]] = []
    tiles: list[np.ndarray] = []
    times: list[float] = []
    wanted = set(frames)
    bar = tqdm(total=len(frames), desc=name, unit="frame", disable=None if progress else True)
    t_clip = time.perf_counter()
    try:
        for index, frame in iter_video(video):
            if index not in wanted:
                continue
            t0 = time.perf_counter()
            result = model(frame)
            times.append((time.perf_counter() - t0) * 1e3)
            keep = np.flatnonzero((result.classes == model.person)
                                  & (result.scores >= model.score_threshold))
            det = np.asarray(result.boxes, np.float64).reshape(-1, 4)[keep]
            ref = reference.frames[index]
            match = match_boxes(det, np.asarray(ref, np.float64).reshape(-1, 4), iou_threshold,
                                scores=result.scores[keep])
            ious: list[float | None] = []
            if fg is not None and index in fg:
                for d, r, _ in match.pairs:
                    pred = result.mask(int(keep[d]))
                    ious.append(None if pred is None else mask_iou_in_box(pred, fg[index], ref[r]))
            records.append({"frame": index, "reference": len(ref), "detections": len(det),
                            "found": len(match.pairs), "false": len(match.false),
                            "missed": len(match.missed),
                            "mask_iou": [None if v is None else round(v, 4) for v in ious],
                            "boxes": [[round(float(v), 1) for v in b] for b in det],
                            "scores": [round(float(s), 4) for s in result.scores[keep]]})
            if sheet is not None and index in picks:
                tiles.append(render_tile(frame, result, renderer, ref, det, match, index))
            bar.update(1)
            if len(records) == len(frames):
                break
    finally:
        bar.close()
    wall = time.perf_counter() - t_clip
    missing = sorted(wanted - {r["frame"] for r in records})
    if missing:
        log.warning("%s: %d reference frame(s) could not be decoded and were not evaluated "
                    "(first: %d)", name, len(missing), missing[0])
    row = summarise(records)
    timed = times[1:] if len(times) > 1 else times
    row.update({
        "video": name, "path": str(video),
        "frames_total": info.frames if people is None else people.frames_total,
        "frame_size": [info.hw[1], info.hw[0]], "fps": info.fps,
        "model": model.name, "model_ref": model.ref, "backend": model.backend_name,
        "precision": model.precision, "score_threshold": model.score_threshold,
        "iou_threshold": iou_threshold,
        "reference": {"source": reference.source, "camera": reference.camera,
                      "path": None if reference.path is None else str(reference.path),
                      "frames": len(reference.frames), "notes": reference.notes},
        "every": every if computed else None,
        "mask_iou_measure": MASK_IOU_MEASURE if fg is not None else not_measured,
        "ms_per_frame": {"mean": float(np.mean(timed)) if timed else None,
                         "p50": float(np.median(timed)) if timed else None,
                         "note": "model only (inference + mask paste), first frame excluded"},
        "wall_s": round(wall, 2), "sheet": None, "per_frame": records})
    row["operating_points"] = operating_points(
        records, reference.frames, threshold_grid(model.score_threshold), iou_threshold,
        model.score_threshold)
    row["persistent_false"] = persistent_false(records, reference.frames,
                                               iou_threshold)[:PERSISTENT_SHOWN]
    if people is not None and reference.source == "background-subtraction":
        row["background"] = {"method": "median", "samples": len(people.sampled),
                             "typical_width": round(people.typical_width, 3),
                             "isolated_people": people.isolated,
                             "split_blobs": people.split_blobs,
                             "foreground_share": round(people.foreground_share, 4),
                             "limitations": BACKGROUND_LIMITATIONS}
    if sheet is not None and tiles:
        title = (f"{name}: {model.name} {model.precision} ({model.backend_name}), score >= "
                 f"{model.score_threshold:g}, IoU >= {iou_threshold:g}; cyan = reference "
                 f"({reference.source}), green = found, red = false")
        write_jpeg(sheet, contact_sheet(tiles, title))
        row["sheet"] = str(sheet)
    return row


def table(rows: Sequence[dict[str, Any]]) -> str:
    """One line per clip: what a user reads first."""
    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    head = rows[0] if rows else {}
    lines = [(f"model {head.get('model')} ({head.get('model_ref')}) {head.get('precision')} "
              f"on {head.get('backend')}; detections: person, score >= "
              f"{head.get('score_threshold', 0):g}; matched at box IoU >= "
              f"{head.get('iou_threshold', 0):g}")] if rows else []
    lines += [(f"{'clip':26} {'frames':>6} {'reference':>22} {'visible':>7} {'found':>6} "
               f"{'recall':>6} {'false':>6} {'false/fr':>8} {'det/fr':>6} {'mask IoU':>11} "
               f"{'ms/fr':>6}")]
    for r in rows:
        ref = r["reference"]["source"].replace("background-subtraction", "background")
        iou = (f"{num(r['mask_iou_mean'], '.2f')}/{num(r['mask_iou_median'], '.2f')}"
               if r["mask_iou_mean"] is not None else "-")
        lines.append(f"{r['video'][:26]:26} {r['frames_evaluated']:>6} "
                     f"{ref + ' ' + r['reference']['camera']:>22} {r['people_visible']:>7} "
                     f"{r['people_found']:>6} {num(r['recall'], '.3f'):>6} "
                     f"{r['false_detections']:>6} {num(r['false_per_frame'], '.2f'):>8} "
                     f"{num(r['detections_per_frame'], '.2f'):>6} {iou:>11} "
                     f"{num(r['ms_per_frame']['p50'], '.1f'):>6}")
    return "\n".join(lines)


def per_clip_path(path: str | Path, video: str | Path, several: bool) -> Path:
    """``out.jpg`` for one clip; ``out-<clip stem>.jpg`` for each of several clips."""
    p = Path(path)
    if not several:
        return p
    return p.with_name(f"{p.stem}-{Path(video).stem}{p.suffix}")
