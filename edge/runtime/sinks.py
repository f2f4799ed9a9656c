"""Outputs of a run: the annotated video, the JSONL record and the window.

Each sink checks its path before the run starts (so a bad path fails before a camera is
opened) and finalises in :meth:`close`, which the run loop calls on every exit path.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import IO, Any

import numpy as np

from edge import rle
from edge.errors import ConfigError, EdgeError
from edge.optional import available, require

log = logging.getLogger(__name__)

# What the end of a run still needs on disk once a sink stops taking frames: the mp4's
# index (written at close), the last JSONL line, the --summary JSON.
RESERVE_BYTES = 1 << 20
MP4_INDEX_BYTES_PER_FRAME = 32  # stts/stsz/stco entries, generously


class OutputError(EdgeError):
    """An output cannot take more data (disk full, file-size limit, I/O error): the run
    stops, finalises what it wrote, and edge-run exits 2 naming the file."""


def room(path: Path, fd: int | None = None) -> tuple[int | None, str]:
    """(bytes ``path`` may still grow by, what limits it): the smaller of the free disk
    space (for this user) on the file's own filesystem (``fd``, the open file, when given;
    else ``path``, symlinks followed) and the process's file-size limit (``ulimit -f``).
    None when no limit applies or none can be known: a pipe, a terminal or /dev/null
    (not a regular file: nothing to fill), or a system without statvfs (Windows)."""
    try:
        st = os.fstat(fd) if fd is not None else os.stat(path)
    except OSError:
        return None, "no file to measure"
    if not stat.S_ISREG(st.st_mode):
        return None, "not a regular file"
    statvfs = getattr(os, "fstatvfs" if fd is not None else "statvfs", None)
    if statvfs is None:
        return None, "no free-space query on this system"
    vfs = statvfs(fd if fd is not None else path)
    free = vfs.f_bavail * vfs.f_frsize
    try:
        import resource
    except ImportError:
        return free, f"the free space for {path}"
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and limit - st.st_size < free:
        return max(0, limit - st.st_size), f"the file-size limit (ulimit -f: {limit} bytes)"
    return free, f"the free space for {path}"


def check_writable(path: str | Path, what: str) -> Path:
    """Refuse an output path that cannot be written, before any work is done."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.exists() and not p.is_file() and not p.is_dir():
        # /dev/null, a pipe, a terminal: written in place, so the folder's permissions do
        # not matter (a non-root user cannot write /dev itself)
        if not os.access(p, os.W_OK):
            raise ConfigError(f"{p}: not writable; choose another path for {what}")
        return p
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
        self.full: str | None = None  # why it stopped taking frames

    def check_room(self) -> None:
        """Refuse the next frame when what is left could not hold it and the index the mp4
        writes at close: OpenCV's writer reports no write error, and an mp4 whose index
        did not fit is unreadable, so stopping early is what keeps it playable."""
        if self.writer is None or not self.path.exists():
            return
        size = self.path.stat().st_size
        per_frame = size / max(1, self.frames)
        need = RESERVE_BYTES + 4 * per_frame + MP4_INDEX_BYTES_PER_FRAME * (self.frames + 1)
        left, what = room(self.path)
        if left is not None and left < need:
            self.full = (f"{self.path}: cannot write frame {self.frames}: {what} leaves "
                         f"{left} bytes, below the {int(need)} needed to add a frame and "
                         f"finalise the video; stopped with {self.frames} frames in it "
                         f"(free space or raise the limit)")
            raise OutputError(self.full)

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
            if self.frames and self._unreadable():
                raise OutputError(f"{self.path}: the video could not be finalised (its "
                                  f"index did not fit: disk full or file-size limit) and "
                                  f"does not play ({self.frames} frame"
                                  f"{'s were' if self.frames != 1 else ' was'} written to it)")

    def _unreadable(self) -> bool:
        """True when the finished file does not open: the writer's own failures are
        silent, so the file is checked instead of trusted."""
        cap = self.cv2.VideoCapture(str(self.path))
        try:
            return not cap.isOpened()
        finally:
            cap.release()


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
    """One JSON object per frame, each line written whole with one unbuffered write: a
    killed run leaves whole lines. A write that fails part-way (disk full, file-size
    limit) is cut back to the last whole line and raises :class:`OutputError`.

    The file is created by :meth:`open` once the source is open (or at the first frame),
    so a run whose source never opens leaves an existing file of that name as it was."""

    def __init__(self, path: str | Path) -> None:
        self.path = check_writable(path, "--json")
        self.fh: IO[bytes] | None = None
        self.lines = 0
        self.size = 0  # bytes of whole lines written

    def open(self) -> None:
        if self.fh is None:
            self.fh = open(self.path, "wb", buffering=0)  # noqa: SIM115

    def check_room(self) -> None:
        """Refuse the next line when the disk or file-size limit has less than the reserve
        left, so the run stops with room for the summary and the video's index."""
        self.open()
        assert self.fh is not None
        left, what = room(self.path, self.fh.fileno())
        if left is not None and left < RESERVE_BYTES // 4:
            raise OutputError(f"{self.path}: cannot write frame {self.lines}'s record: {what} "
                              f"leaves {left} bytes; stopped with {self.lines} whole lines "
                              f"in it (free space or raise the limit)")

    def write(self, record: dict[str, Any]) -> None:
        self.open()
        assert self.fh is not None
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        try:
            while view:
                n = self.fh.write(view)
                if not n:
                    raise OSError(28, "no space left on device")
                view = view[n:]
        except OSError as exc:
            self._cut_back()
            raise OutputError(f"{self.path}: cannot write frame {self.lines}'s record "
                              f"({exc.strerror or exc}); kept the {self.lines} whole lines "
                              f"before it") from exc
        self.lines += 1
        self.size += len(data)

    def _cut_back(self) -> None:
        """Drop a part-written last line (shrinking a file needs no space)."""
        assert self.fh is not None
        try:
            os.ftruncate(self.fh.fileno(), self.size)
        except OSError as exc:
            log.warning("%s: could not remove a part-written last line (%s)", self.path, exc)

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
