"""Outputs of a run: the annotated video, the JSONL record and the window.

Each sink checks its path before the run starts (so a bad path fails before a camera is
opened) and finalises in :meth:`close`, which the run loop calls on every exit path.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import IO, Any

import numpy as np

from edge import rle
from edge.errors import ConfigError
from edge.optional import available, require

log = logging.getLogger(__name__)


def check_writable(path: str | Path, what: str) -> Path:
    """Refuse an output path that cannot be written, before any work is done."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder; give {what} a file name")
    if not parent.is_dir():
        raise ConfigError(f"{p}: folder {parent} does not exist; create it or choose another "
                          f"path for {what}")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ConfigError(f"{p}: not writable; choose another path for {what}")
    return p


def check_distinct(paths: dict[str, str | Path | None]) -> None:
    """Refuse two options naming one file (``--json x --summary x``): the second would
    replace or corrupt the first. ``paths`` maps option -> path (None = not given); inputs
    may be included so that no output overwrites the footage it is made from."""
    seen: dict[str, str] = {}
    for option, path in paths.items():
        if path is None:
            continue
        key = os.path.realpath(os.path.expanduser(str(path)))
        if key in seen:
            raise ConfigError(f"{path}: given to both {seen[key]} and {option}; the second "
                              f"would overwrite the first, choose another name for {option}")
        seen[key] = option


def letterbox(frame: np.ndarray, hw: tuple[int, int], cv2) -> np.ndarray:
    """``frame`` scaled to fit (h, w) with its aspect ratio kept, centred on black."""
    h, w = hw
    fh, fw = frame.shape[:2]
    scale = min(h / fh, w / fw)
    nh, nw = max(1, round(fh * scale)), max(1, round(fw * scale))
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - nh) // 2, (w - nw) // 2
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out[y:y + nh, x:x + nw] = cv2.resize(frame, (nw, nh), interpolation=interp)
    return out


class VideoSink:
    """The annotated frames as an mp4 (``mp4v``), opened at the first frame's size; later
    frames of another size (an image folder of mixed sizes) are letterboxed to it, since
    a video has one size and OpenCV's writer drops mismatched frames without an error."""

    def __init__(self, path: str | Path, fps: float = 25.0) -> None:
        self.path = check_writable(path, "--output")
        if self.path.suffix.lower() not in (".mp4", ".m4v", ".mov", ".avi"):
            raise ConfigError(f"{self.path}: --output writes a video; use a .mp4 name")
        self.cv2 = require("cv2", "writing the output video")
        self.fps = fps
        self.writer = None
        self.size: tuple[int, int] | None = None  # (h, w) of the video
        self.frames = 0
        self.resized = 0

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            h, w = frame.shape[:2]
            fourcc = "MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"
            self.writer = self.cv2.VideoWriter(str(self.path),
                                               self.cv2.VideoWriter_fourcc(*fourcc),
                                               self.fps, (w, h))
            if not self.writer.isOpened():
                raise ConfigError(f"{self.path}: OpenCV cannot open a {fourcc} writer here")
            self.size = (h, w)
        if frame.shape[:2] != self.size:
            if not self.resized:
                log.warning("%s: frame %d is %dx%d, the video %dx%d (HxW): frames of other sizes "
                            "are letterboxed into it", self.path, self.frames, *frame.shape[:2],
                            *self.size)
            frame = letterbox(frame, self.size, self.cv2)
            self.resized += 1
        self.writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            log.info("wrote %d frames to %s (%d letterboxed)", self.frames, self.path,
                     self.resized)


def frame_record(index: int, timestamp: float, result, stages_ms: dict[str, float],
                 source_time: float | None = None,
                 source: dict[str, str] | None = None) -> dict[str, Any]:
    """One JSONL line: the source actually read, detections in frame pixels with COCO RLE
    masks (or, for semantic models, the label map as one RLE per class present)."""
    rec: dict[str, Any] = {"frame": index, "timestamp": round(timestamp, 6)}
    if source is not None:
        rec["source"] = source
    rec["stages_ms"] = {k: round(v, 3) for k, v in stages_ms.items()}
    if source_time is not None:
        rec["media_time"] = round(source_time, 6)
    if result.task == "semantic":
        present = np.unique(result.labels)
        rec["classes"] = {result.class_names[int(c)]: rle.encode(result.labels == c)
                          for c in present}
        return rec
    dets = []
    for i in range(len(result)):
        m = result.mask(i)
        dets.append({
            "box": [round(float(v), 2) for v in result.boxes[i]],
            "score": round(float(result.scores[i]), 4),
            "class": result.class_names[int(result.classes[i])],
            "class_id": int(result.classes[i]),
            "mask": rle.encode(m) if m is not None else None,
        })
    rec["detections"] = dets
    return rec


class JsonlSink:
    """One JSON object per frame, each line flushed: a killed run leaves whole lines.

    The file is created by :meth:`open` once the source is open (or at the first frame),
    so a run whose source never opens leaves an existing file of that name as it was."""

    def __init__(self, path: str | Path) -> None:
        self.path = check_writable(path, "--json")
        self.fh: IO[str] | None = None
        self.lines = 0

    def open(self) -> None:
        if self.fh is None:
            self.fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, record: dict[str, Any]) -> None:
        self.open()
        assert self.fh is not None
        self.fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.fh.flush()
        self.lines += 1

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def display_available() -> bool:
    """True when a window can be shown: a display server and an OpenCV with GUI support."""
    if os.name != "nt" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    if not available("cv2"):
        return False
    import cv2

    info = cv2.getBuildInformation()
    gui = [ln for ln in info.splitlines() if ln.strip().startswith("GUI:")]
    return bool(gui) and "NONE" not in gui[0].upper()


class WindowSink:
    """An OpenCV window; ``q`` or Esc ends the run."""

    def __init__(self, title: str = "edge-run") -> None:
        self.cv2 = require("cv2", "the preview window")
        self.title = title
        self.closed_by_user = False

    def write(self, frame: np.ndarray) -> None:
        try:
            self.cv2.imshow(self.title, frame)
            key = self.cv2.waitKey(1) & 0xFF
        except self.cv2.error as exc:
            raise ConfigError(f"cannot show a window ({exc}); run with --headless") from exc
        if key in (ord("q"), 27):
            self.closed_by_user = True

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.title)
        except self.cv2.error:
            log.debug("window already closed")
