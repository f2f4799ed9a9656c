"""Frame sources: cameras, CSI sensors, streams, files, image folders and the demo scene.

Every source yields BGR uint8 (H, W, 3) frames. Live sources (``--camera``, ``--csi``,
``--rtsp``, ``--gst``) are read by :class:`LatestFrameReader`, a capture thread that
keeps only the newest frame (so latency never builds up behind a slow model) and reopens
a source that stops delivering, with exponential back-off. Files, folders and the demo
are read frame by frame in the caller's thread, without drops.
"""

from __future__ import annotations

import logging
import math
import os
import re
from abc import ABC, abstractmethod
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import ConfigError, SourceError
from edge.optional import require

log = logging.getLogger(__name__)

RTSP_OPEN_TIMEOUT_MS = 10_000  # FFmpeg: give up opening an RTSP stream after this
RTSP_READ_TIMEOUT_MS = 5_000  # FFmpeg: a stream silent this long has stopped (an outage)
# Failed reads in a row after which a file of unknown length is taken as ended; also the
# most undecodable frames in a row a file may have before the run fails (exit 2).
MAX_BAD_RUN = 25
# The largest share of a file's frames that may be undecodable before the run fails: a
# long recording with sporadic loss decodes to its end and is reported, not failed.
MAX_BAD_SHARE = 0.10
# Reads tried past a failed read when the file declares more frames: a read past the
# real end costs ~1 us, but a garbage count (2**31) would take minutes.
MAX_END_READS = MAX_BAD_RUN * 40
# A declared count above this (46 days at 25 FPS) is garbage: the length is unknown.
MAX_PLAUSIBLE_FRAMES = 100_000_000
# A file that stops decoding more than this many frames before the count its container
# declares has stopped early (damaged or cut off); FFmpeg's count can be one off when it
# is estimated from the duration.
END_SLACK = 1
# A timestamp gap after a failed read longer than this many frame intervals means frames
# were lost (a VFR file's intervals vary; a frame's own jitter stays well below it).
GAP_FRAMES = 1.5
_CAP_PROP_POS_MSEC = 0  # cv2.CAP_PROP_POS_MSEC (a constant since OpenCV 2)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MIN_DEMO_SIZE = 64



class CorruptFrame(Exception):
    """A frame that could not be decoded; the run skips and counts it. One is raised per
    lost frame; ``repeat`` marks the second and later of one damaged stretch, whose first
    already said which frames it spans (callers log those quietly)."""

    def __init__(self, message: str, repeat: bool = False) -> None:
        super().__init__(message)
        self.repeat = repeat


class FrameSource(ABC):
    """Base of every source. ``read`` returns a frame, ``None`` at the end of the stream
    (or, for a live source, when it stopped delivering), or raises :class:`CorruptFrame`."""

    name = "source"
    kind = "custom"  # the CLI option that chose it: camera, csi, video, rtsp, images, gst, demo
    device = ""  # what was actually opened: /dev/video0, a path, a redacted URL, ...
    live = False
    fps: float | None = None
    frames_total = 0  # frames in a file or folder when known (0 = unknown or live)

    def open(self) -> None:
        """Open or reopen the source; raises :class:`SourceError` saying what to try."""

    @abstractmethod
    def read(self) -> np.ndarray | None:
        """The next frame (see the class docstring)."""

    def close(self) -> None:
        """Release the device or file; safe to call twice."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _valid(frame: object) -> bool:
    return (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
            and frame.dtype == np.uint8 and frame.shape[0] > 0 and frame.shape[1] > 0)


class CaptureSource(FrameSource):
    """An OpenCV ``VideoCapture``: V4L2/USB cameras, GStreamer pipelines, RTSP, video files."""

    def __init__(self, target: int | str, name: str, live: bool, hint: str,
                 api: str | None = None, ffmpeg_options: str | None = None,
                 kind: str = "custom", device: str = "",
                 on_fail: Callable[[], str] | None = None,
                 open_params: dict[str, int] | None = None) -> None:
        self.target = target  # may hold credentials: never logged, only opened
        self.open_params = open_params or {}  # cv2.CAP_PROP_* name -> value, given at open
        self.kind = kind
        self.device = device or name
        self.on_fail = on_fail  # a better hint computed when opening fails
        self.ffmpeg_options = ffmpeg_options
        self.name = name
        self.live = live
        self.hint = hint
        self.api = api  # "v4l2" | "gstreamer" | "ffmpeg" | None (OpenCV decides)
        self.cap = None
        self.frames_total = 0
        self.position = 0  # frames returned so far
        self.next_index = 0  # the file's index of the next frame expected
        self.media_index = -1  # the file's index of the frame last returned
        self.media_time: float | None = None  # seconds into the file of the last frame
        self.undecodable = 0  # frames of a file that could not be decoded (skipped)
        self.longest_bad_run = 0  # the most undecodable frames in a row
        self.longest_bad_from = 0  # the first frame of that stretch
        self.truncated = False  # a file whose decoding stopped before its known last frame
        self.stopped_at: int | None = None  # the frame where it stopped
        self._ahead: np.ndarray | None = None  # a good frame found past undecodable ones
        self._ahead_index = 0
        self._ahead_pos: float | None = None
        self._ahead_bad = 0  # undecodable frames still to report before it
        self._ahead_from = 0  # the first of them
        self._stamps: bool | None = None  # POS_MSEC trusted (FFmpeg); None = not asked yet
        self._last_pos: float | None = None  # ms of the last frame returned
        self._interval: float | None = None  # ms between the last two consecutive frames

    def open(self) -> None:
        cv2 = require("cv2", "reading cameras and videos")
        self.close()
        api = {"v4l2": cv2.CAP_V4L2, "gstreamer": cv2.CAP_GSTREAMER,
               "ffmpeg": cv2.CAP_FFMPEG}.get(self.api or "", cv2.CAP_ANY)
        cap = self._open(cv2, api)
        if not cap.isOpened():
            cap.release()
            hint = self.on_fail() if self.on_fail is not None else self.hint
            raise SourceError(f"{self.name}: cannot open it; {hint}")
        if not self.live:
            count = float(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            self.frames_total = int(count) if 0 < count <= MAX_PLAUSIBLE_FRAMES else 0
            if count > MAX_PLAUSIBLE_FRAMES:
                log.warning("%s declares %d frames, not a plausible count: its length is "
                            "taken as unknown", self.name, count)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0 < fps < 1000 else None
        self.cap = cap
        self._stamps, self._last_pos, self._interval = None, None, None

    def _open(self, cv2, api: int):
        """OpenCV reads FFmpeg options from the environment at open time only; set them for
        this open and restore, so they never leak into other captures or child processes.
        ``open_params`` (timeouts) go to the backend as VideoCapture parameters."""
        params: list[int] = []
        for prop, value in self.open_params.items():
            if hasattr(cv2, prop):
                params += [int(getattr(cv2, prop)), int(value)]
            else:
                log.debug("this OpenCV has no %s; opening without it", prop)

        def capture():
            if params:
                return cv2.VideoCapture(self.target, api, params)
            return cv2.VideoCapture(self.target, api)

        if self.ffmpeg_options is None:
            return capture()
        key = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
        old = os.environ.get(key)
        os.environ[key] = self.ffmpeg_options
        try:
            return capture()
        finally:
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old

    def read(self) -> np.ndarray | None:
        if self.cap is None:
            return None
        if self._ahead is not None:
            return self._from_ahead()
        ok, frame = self.cap.read()
        if ok and _valid(frame):
            if self.live:
                self.position += 1
                return frame
            return self._located(frame)
        if self.live:
            return None
        # A file: the end, or a frame that did not decode (each failed read consumes one).
        # Read on to tell them apart: up to the length the file declares (at most
        # MAX_END_READS), else up to MAX_BAD_RUN reads. A read past the real end fails at
        # once, so this costs little.
        tries = min(MAX_END_READS, max(MAX_BAD_RUN, self.frames_total - self.next_index))
        for failed in range(1, tries + 1):
            ok, frame = self.cap.read()
            if ok and _valid(frame):
                return self._located(frame, failed_reads=failed)
        if (self.frames_total > 0 and self.next_index < self.frames_total - END_SLACK
                and not self._reached_declared_end()):
            self.truncated = True
            self.stopped_at = self.next_index
            self.undecodable += self.frames_total - self.next_index
        return None

    def _position(self) -> float | None:
        """The decoded frame's timestamp in ms, where it can be trusted: FFmpeg's
        POS_MSEC is the frame's presentation time from the stream's start; other backends
        (GStreamer: a running position) and stand-ins say nothing reliable."""
        if self._stamps is None:
            backend = getattr(self.cap, "getBackendName", None)  # absent in stand-ins
            self._stamps = backend is not None and backend() == "FFMPEG"
        if not self._stamps:
            return None
        pos = float(self.cap.get(_CAP_PROP_POS_MSEC) or 0.0)
        return pos if math.isfinite(pos) and pos >= 0 else None

    def _located(self, frame: np.ndarray, failed_reads: int = 0) -> np.ndarray:
        """Place a decoded file frame on the file's timeline. Frames are inferred lost only
        after failed reads (a healthy file's timestamps, variable rate, B-frames or an
        offset start, never count as damage): by the timestamp gap to the previous frame
        in the file's local frame interval where timestamps are trusted (a gap within
        GAP_FRAMES intervals lost none), else one per failed read. The lost ones are
        reported as undecodable, one CorruptFrame each, before the frame."""
        pos = self._position()
        lost = 0
        if failed_reads:
            lost = failed_reads
            step = self._interval or (1000.0 / self.fps if self.fps else None)
            if pos is not None and self._last_pos is not None and step and \
                    pos > self._last_pos:
                gap = pos - self._last_pos
                lost = round(gap / step) - 1 if gap > GAP_FRAMES * step else 0
        elif pos is not None and self._last_pos is not None and pos > self._last_pos:
            self._interval = pos - self._last_pos  # consecutive frames: the local rate
        if lost > 0:
            self._ahead, self._ahead_index, self._ahead_pos = frame, self.next_index + lost, pos
            self._ahead_bad, self._ahead_from = lost, self.next_index
            self.undecodable += lost
            if lost > self.longest_bad_run:
                self.longest_bad_run, self.longest_bad_from = lost, self.next_index
            return self._from_ahead()
        return self._deliver(frame, self.next_index, pos)

    def _reached_declared_end(self) -> bool:
        """Whether the last frame's timestamp reached the duration the declared count
        stands for: then the count was an estimate (duration x nominal rate, a VFR file)
        and the file ended; without trusted timestamps the count is taken at its word."""
        if self._last_pos is None or not self.fps:
            return False
        step = self._interval or 1000.0 / self.fps
        declared_ms = self.frames_total * 1000.0 / self.fps
        return self._last_pos + step >= declared_ms - (END_SLACK + 0.5) * step

    def _from_ahead(self) -> np.ndarray:
        if self._ahead_bad > 0:
            first = self._ahead_from
            last = self._ahead_index - 1
            repeat = self.next_index > first
            self.next_index += 1
            self._ahead_bad -= 1
            span = f"frame {first}" if first == last else f"frames {first}-{last}"
            raise CorruptFrame(f"{self.name}: {span} undecodable, skipped", repeat=repeat)
        frame, self._ahead = self._ahead, None
        assert frame is not None
        return self._deliver(frame, self._ahead_index, self._ahead_pos)

    def _deliver(self, frame: np.ndarray, index: int, pos: float | None = None) -> np.ndarray:
        self.position += 1
        self.media_index = index
        self.next_index = index + 1
        if pos is not None:
            self._last_pos = pos
            self.media_time = pos / 1000.0
        else:
            self.media_time = index / self.fps if self.fps else None
        return frame

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class ImageFolderSource(FrameSource):
    """Every image of a folder in name order; unreadable files are corrupt frames."""

    kind = "images"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.name = str(self.folder)
        self.device = str(self.folder)
        self.files: list[Path] = []
        self.index = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: not a folder; pass a folder of images to --images")
        self.files = sorted(p for p in self.folder.iterdir()
                            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise SourceError(f"{self.folder}: no images ({', '.join(IMAGE_SUFFIXES)}); "
                              f"check the path")
        self.frames_total = len(self.files)
        self.index = 0

    def read(self) -> np.ndarray | None:
        cv2 = require("cv2", "reading images")
        if self.index >= len(self.files):
            return None
        path = self.files[self.index]
        self.index += 1
        # IMREAD_COLOR gives 8-bit BGR whatever the file holds (grey, BGRA, 16-bit)
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if not _valid(frame):
            raise CorruptFrame(f"{path}: not a readable image")
        return frame


class DemoSource(FrameSource):
    """The built-in moving synthetic street scene (people-like figures walking)."""

    kind = "demo"

    def __init__(self, size: tuple[int, int] = (640, 640), seed: int = 2026) -> None:
        h, w = size
        if h < MIN_DEMO_SIZE or w < MIN_DEMO_SIZE:
            raise ConfigError(f"--demo-size {h} {w}: the demo scene needs at least "
                              f"{MIN_DEMO_SIZE}x{MIN_DEMO_SIZE} (H W), e.g. --demo-size 480 640")
        self.size = size
        self.seed = seed
        # H x W everywhere, as edge-build models prints input sizes
        self.name = f"demo scene {h}x{w} (HxW)"
        self.device = f"scene {h}x{w} (HxW, seed {seed})"
        self.fps = 25.0
        self.scene = None

    def open(self) -> None:
        from edge.data.synth import random_scene

        require("cv2", "the demo scene")
        self.scene = random_scene(self.seed, self.size, people=(4, 8), moving=True)

    def read(self) -> np.ndarray | None:
        assert self.scene is not None, "open() first"
        frame = self.scene.render_image()
        self.scene.advance()
        return frame


# --------------------------------------------------------------------------- live reading


@dataclass
class Outage:
    """One stretch without frames from a live source, as the summary reports it."""

    index: int  # 1 = the run's first outage
    started_at: float  # time.time() when the source stopped delivering
    ended_at: float | None = None  # time.time() of the first frame after it; None = never
    seconds: float = 0.0  # how long it lasted (until the run ended, if it never came back)
    attempts: int = 0  # reopen attempts
    frames_before: int = 0  # frames received in the stretch before it
    frames_after: int = 0  # frames received after it, until the next outage or the end

    def to_dict(self) -> dict[str, float | int | None]:
        return {k: (round(v, 3) if isinstance(v, float) else v)
                for k, v in self.__dict__.items()}


@dataclass
class ReaderStats:
    received: int = 0  # frames read from the source
    delivered: int = 0  # frames handed to the pipeline
    dropped: int = 0  # frames replaced by a newer one before the pipeline took them
    corrupt: int = 0
    reconnects: int = 0  # reopen attempts, over all outages
    outages: list[Outage] = field(default_factory=list)


class LatestFrameReader:
    """Reads a live source in a thread, keeping only the newest frame.

    When the source stops delivering (a read fails: a killed server closes the
    connection at once; a silent one trips the backend's read timeout) an outage starts:
    a WARNING, then the source is closed and reopened with exponential back-off
    (``backoff`` doubling up to ``max_backoff`` seconds) until a frame comes (an INFO with
    the outage's length) or ``reconnect_timeout`` seconds pass without one, when the
    reader gives up and :meth:`get` raises SourceError. Every outage is kept in
    ``stats.outages``. ``clock`` and ``wait`` (seconds -> True when stopped meanwhile; by
    default a wait on the stop event) are injectable so tests can drive the back-off
    without real time.
    """

    def __init__(self, source: FrameSource, reconnect_timeout: float = 30.0,
                 backoff: float = 0.25, max_backoff: float = 4.0,
                 clock: Callable[[], float] = time.monotonic,
                 wait: Callable[[float], bool] | None = None) -> None:
        self.source = source
        self.reconnect_timeout = reconnect_timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self.stats = ReaderStats()
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._taken = 0
        self._failure: str | None = None
        self._up_from = 0  # stats.received when the current stretch of frames began
        self._stop = threading.Event()
        self.wait = wait if wait is not None else self._stop.wait
        self._thread = threading.Thread(target=self._loop, name=f"capture {source.name}",
                                        daemon=True)

    def start(self) -> LatestFrameReader:
        self.source.open()  # the first open fails loudly in the caller's thread
        self._thread.start()
        return self

    def _publish(self, frame: np.ndarray) -> None:
        with self._cond:
            self.stats.received += 1
            if self._seq > self._taken:
                self.stats.dropped += 1
            self._frame = frame
            self._seq += 1
            self._cond.notify_all()

    def _fail(self, reason: str) -> None:
        with self._cond:
            self._failure = reason
            self._cond.notify_all()

    def _begin_outage(self) -> Outage:
        up = self.stats.received - self._up_from
        with self._cond:
            if self.stats.outages:
                self.stats.outages[-1].frames_after = up
            outage = Outage(len(self.stats.outages) + 1, time.time(), frames_before=up)
            self.stats.outages.append(outage)
        log.warning("%s stopped delivering frames (outage %d, after %d frames); reconnecting "
                    "with back-off for up to %.0f s (--reconnect-timeout)", self.source.name,
                    outage.index, up, self.reconnect_timeout)
        return outage

    def _reconnect(self) -> bool:
        """Reopen until it works or the timeout passes; False when giving up."""
        outage = self._begin_outage()
        start = self.clock()
        delay = self.backoff
        try:
            while not self._stop.is_set():
                waited = self.clock() - start
                if waited >= self.reconnect_timeout:
                    return False
                log.debug("%s: reopening in %.2f s (%.1f s of %.0f s spent)", self.source.name,
                          delay, waited, self.reconnect_timeout)
                if self.wait(delay) or self._stop.is_set():
                    return False
                self.stats.reconnects += 1
                outage.attempts += 1
                try:
                    self.source.open()
                    frame = self.source.read()
                except (SourceError, CorruptFrame) as exc:
                    log.debug("reopening %s failed: %s", self.source.name, redact_text(str(exc)))
                    frame = None
                if frame is not None:
                    outage.ended_at = time.time()
                    outage.seconds = self.clock() - start
                    log.info("%s is back after %.1f s (outage %d, %d reopen attempts)",
                             self.source.name, outage.seconds, outage.index, outage.attempts)
                    self._up_from = self.stats.received
                    self._publish(frame)
                    return True
                delay = min(delay * 2, self.max_backoff)
            return False
        finally:
            if outage.ended_at is None:
                outage.seconds = self.clock() - start

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    frame = self.source.read()
                except CorruptFrame as exc:
                    log.info("%s", redact_text(str(exc)))
                    self.stats.corrupt += 1
                    continue
                if frame is not None:
                    self._publish(frame)
                elif not self._reconnect():
                    if not self._stop.is_set():
                        self._fail(f"{self.source.name}: no frames for "
                                   f"{self.reconnect_timeout:.0f} s despite reconnecting; check "
                                   f"the cable, power or network, or raise --reconnect-timeout")
                    return
        except Exception as exc:  # report any capture failure to the consumer, not stderr
            # the message only, redacted: a backend's text may quote the URL it opened
            reason = redact_text(f"{type(exc).__name__}: {exc}")
            # the traceback tells a programming error from a device failure
            log.debug("capture thread failed: %s", redact_text(traceback.format_exc()))
            self._fail(f"{self.source.name}: capture failed ({reason})")
        finally:
            self.source.close()

    def get(self, timeout: float | None = None) -> np.ndarray | None:
        """The newest frame not yet returned; waits for one. None when stopped."""
        with self._cond:
            while self._seq == self._taken and self._failure is None and not self._stop.is_set():
                if not self._cond.wait(timeout):
                    return None
            if self._seq > self._taken:
                self._taken = self._seq
                self.stats.delivered += 1
                return self._frame
            if self._failure is not None:
                raise SourceError(self._failure)
            return None

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        with self._cond:
            if self.stats.outages and self.stats.outages[-1].ended_at is not None:
                self.stats.outages[-1].frames_after = self.stats.received - self._up_from


# --------------------------------------------------------------------------- constructors


def _has_gstreamer() -> bool:
    cv2 = require("cv2", "reading cameras")
    info = cv2.getBuildInformation()
    return any("GStreamer" in line and "YES" in line for line in info.splitlines())


# Query, fragment and parameter keys whose values are secrets (whole key names, any case).
_SECRET_KEYS = ("password", "passwd", "pass", "pwd", "passphrase", "token", "access_token",
                "refresh_token", "id_token", "auth_token", "key", "apikey", "api_key",
                "api-key", "secret", "client_secret", "sig", "signature", "auth",
                "authorization", "credential", "credentials", "sessionid", "session_id",
                "session", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
                "x-goog-signature", "x-goog-credential")
_SECRET_QUERY = re.compile(r"(?P<head>[?&;#@](?:%s)=)[^&;#]*"
                           % "|".join(re.escape(k) for k in _SECRET_KEYS), re.IGNORECASE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
# a scheme written without its "//" (rtsp:/u:pw@h, rtsp:u:pw@h): kept when redacting
_LOOSE_SCHEME = re.compile(r"(?i)(?:rtsps?|rtspt|rtmps?|https?|srt|udp|tcp|rtp|mmsh?|ftp):/?")
_HOST = re.compile(r"(?:\[[^\]\s/?#@]*\]|[\w.%-]+)(?::\d*)?")


def _first(text: str, chars: str, start: int = 0) -> int:
    """Index of the first of ``chars`` in ``text`` from ``start``; len(text) if none."""
    found = [i for i in (text.find(c, start) for c in chars) if i != -1]
    return min(found) if found else len(text)


def _userinfo_end(rest: str) -> int | None:
    """Where the userinfo of ``rest`` (a URL after ``scheme://``) ends: the index of its
    ``@``, or None when it has none. Passwords are not always percent-encoded, so an
    ``@``, ``/``, ``?`` or ``#`` may sit inside one, while an ``@`` after the first
    ``/?#`` may as well belong to the path or query. Where both readings are possible the
    one that hides more is taken: an ``@`` further on ends the userinfo when a host
    follows it (``u:p/w@host/x``; ``h:8080/x?email=a@b.com`` is hidden up to ``b.com``);
    one followed by more query (``?email=a@b.com&token=...``) is the query's."""
    stop = _first(rest, "/?#")
    at = rest.rfind("@", 0, stop)
    later = rest.rfind("@", stop)
    authority = rest[:stop]
    if later == -1 or ":" not in authority:  # no password before the path: a user at most
        return at if at != -1 else None
    host = rest[later + 1:_first(rest, "/?#", later + 1)]
    if _HOST.fullmatch(host):
        return later
    if at != -1:
        return at
    port = authority.rsplit(":", 1)[1]
    return None if port.isdigit() else later  # host:port, else user:pass before a "/?#"


def redact_url(url: str) -> str:
    """``url`` with its password and secret query, fragment and parameter values replaced
    by ``***``, for logs, errors and outputs (an RTSP URL often carries the camera's
    credentials): ``rtsp://user:***@host/path``. Built to never show a secret rather than
    to keep the URL's form: an unencoded ``@ / ? #`` in a password, an ``@`` in a query
    value, a malformed ``rtsp:/user:pw@host`` are all hidden, erring on hiding more."""
    head, sep, rest = url.partition("://")
    if sep and _SCHEME.fullmatch(head):
        at = _userinfo_end(rest)
        if at is not None:
            userinfo = rest[:at]
            user = userinfo.split(":", 1)[0]
            if any(c in user for c in "/?#@ \t\n\\\"'"):
                user = "***"
            cred = f"{user}:***" if ":" in userinfo else user
            url = f"{head}://{cred}@{rest[at + 1:]}"
        else:
            authority = rest[:_first(rest, "/?#")]
            if ":" in authority and not authority.startswith("["):
                host, port = authority.rsplit(":", 1)
                if port and not port.isdigit():  # user:password cut before its "@"
                    url = f"{head}://{host}:***{rest[len(authority):]}"
    else:
        at = url.rfind("@")
        if at != -1:  # no "scheme://": whatever precedes the "@" may be a password
            scheme = _LOOSE_SCHEME.match(url)
            url = (scheme.group(0) if scheme else "") + "***" + url[at:]
    return _SECRET_QUERY.sub(lambda m: m.group("head") + "***", url)


# element properties and parameters that hold credentials: rtspsrc user-pw=, souphttpsrc
# proxy-pw= and extra-headers=, awss3src secret-access-key=, srtsrc passphrase=, ...;
# whole names (user-pw, api_key), never a suffix of another word (monkey=, keyframes=)
_SECRET_PROPERTY = re.compile(
    r"""(?<![\w-])(?P<key>(?:\w+[-_])*(?:pw|pwd|passwd|password|passphrase|pass|token|"""
    r"""secret|key|credentials?|cookies?|auth|authorization|signature|sessionid)|"""
    r"""extra-headers)(?P<eq>\s*=\s*)"""
    r"""(?P<value>"(?:\\.|[^"\\])*"?|'(?:\\.|[^'\\])*'?|(?:\\.|[^\s\\])+)""", re.IGNORECASE)
_AUTH_HEADER = re.compile(r"(?i)(?P<head>\b(?:proxy-)?authorization\s*:\s*"
                          r"(?:(?:basic|bearer|digest|negotiate)\s+)?)[^\s\"',;]+")
_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# a userinfo without "scheme://" (rtsp:/u:pw@h, u:pw@h) in free text
_LOOSE_CRED = re.compile(r"""(?<![^\s"'=(<,])(?:[A-Za-z][\w+.-]*:/?(?!/))?[^\s"'/@:=]*:"""
                         r"""[^\s"'@]*@""")


def _quoted_end(text: str, start: int, quote: str) -> int:
    """Index of the quote closing a string that starts at ``start`` (backslash escapes
    skipped), or len(text) when it is never closed."""
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return len(text)


def _unquoted_end(text: str, start: int, rest_at: int) -> int:
    """End of an unquoted URL: the next whitespace. A password holding a space leaves a
    ``user:pass`` authority without its ``@`` there: then the URL runs on to the last
    ``@`` of the line."""
    end = _first(text, " \t\r\n\f\v", start)
    authority = text[rest_at:_first(text[:end], "/?#", rest_at)]
    if "@" not in text[rest_at:end] and ":" in authority and not authority.startswith("["):
        port = authority.rsplit(":", 1)[1]
        if port and not port.isdigit():
            line_end = _first(text, "\r\n", end)
            at = text.rfind("@", end, line_end)
            if at != -1:
                end = _first(text, " \t\r\n\f\v", at)
    return end


def redact_text(text: str) -> str:
    """``text`` (a GStreamer pipeline, a backend's error message, a traceback) with every
    URL redacted (see :func:`redact_url`), the values of credential properties
    (``user-pw=...``) and Authorization headers replaced by ``***``. A URL in quotes runs
    to the closing quote, so a space, ``!`` or quote in a password stays inside it."""
    parts: list[str] = []
    pos = 0
    while (m := _URL_START.search(text, pos)) is not None:
        start = m.start()
        quote = text[start - 1] if start > 0 and text[start - 1] in "\"'" else ""
        end = (_quoted_end(text, m.end(), quote) if quote
               else _unquoted_end(text, start, m.end()))
        parts.append(_redact_between_urls(text[pos:start]))
        url = redact_url(text[start:end])
        # a span with whitespace (a quote never closed, a password with a space) may have
        # taken in what follows the URL: its properties are redacted as well
        parts.append(_redact_between_urls(url) if re.search(r"\s", url) else url)
        pos = end
    parts.append(_redact_between_urls(text[pos:]))
    return "".join(parts)


def _redact_between_urls(text: str) -> str:
    """Text outside URLs: ``user:pw@`` written without ``scheme://`` (a malformed URL),
    Authorization headers and credential properties redacted. (Within a URL its query is
    redact_url's: a property's value runs to whitespace and would take ``&x=1`` along.)"""
    text = _LOOSE_CRED.sub(lambda m: redact_url(m.group(0)), text)
    text = _AUTH_HEADER.sub(lambda m: m.group("head") + "***", text)
    return _SECRET_PROPERTY.sub(lambda m: m.group("key") + m.group("eq").strip() + "***",
                                text)


def carries_secret(value: str) -> bool:
    """Whether a source option's value may hold a credential: anything redaction changes,
    and any ``user...@`` or credential property even when nothing shows (the video
    libraries print what they open, so such a source keeps them quiet)."""
    return (redact_text(value) != value or bool(_SECRET_PROPERTY.search(value))
            or ("@" in value and ":" in value))


_redact_pipeline = redact_text  # a pipeline is text like any other


def csi_pipeline(sensor: int, width: int = 1280, height: int = 720, fps: int = 30,
                 flip: int = 0) -> str:
    """GStreamer pipeline for a Jetson CSI camera (Argus) ending in a BGR appsink that
    keeps one buffer and drops stale ones."""
    return (f"nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM), width={width}, "
            f"height={height}, framerate={fps}/1, format=NV12 ! nvvidconv flip-method={flip} ! "
            f"video/x-raw, format=BGRx ! videoconvert ! video/x-raw, format=BGR ! "
            f"appsink drop=true max-buffers=1 sync=false")


def rtsp_source(url: str, latency_ms: int = 200) -> CaptureSource:
    """RTSP through GStreamer (``rtspsrc latency``) where OpenCV has it, else FFmpeg over TCP
    with buffering off. Names and errors carry the URL without its credentials."""
    if not url.lower().startswith(("rtsp://", "rtsps://")):
        raise SourceError(f"--rtsp {redact_url(url)!r}: not an RTSP URL; give "
                          f"rtsp://[user:password@]host[:port]/path")
    if latency_ms < 0:
        raise ConfigError(f"--rtsp-latency {latency_ms}: the jitter buffer is in ms and cannot "
                          f"be negative (0 = none)")
    shown = redact_url(url)
    hint = "check the URL, credentials and that the stream is reachable (try ffplay URL)"
    if _has_gstreamer():
        # quoted and escaped as GStreamer's parser reads it back: a "!", space or quote in
        # the password can neither split the pipeline nor end the location early
        location = url.replace("\\", "\\\\").replace('"', '\\"')
        pipe = (f'rtspsrc location="{location}" latency={latency_ms} ! decodebin ! '
                f"videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1 "
                f"sync=false")
        return CaptureSource(pipe, shown, True, hint, api="gstreamer", kind="rtsp")
    options = f"rtsp_transport;tcp|fflags;nobuffer|max_delay;{latency_ms * 1000}"
    # A killed server closes the TCP connection and the read fails at once; a server that
    # hangs, or a cable pulled mid-stream, would block a read for FFmpeg's default 30 s:
    # the read timeout turns that into an outage within seconds.
    return CaptureSource(url, shown, True, hint, api="ffmpeg", ffmpeg_options=options,
                         kind="rtsp", open_params={
                             "CAP_PROP_OPEN_TIMEOUT_MSEC": RTSP_OPEN_TIMEOUT_MS,
                             "CAP_PROP_READ_TIMEOUT_MSEC": RTSP_READ_TIMEOUT_MS})


def camera_device(index: int) -> str:
    """The device a camera index opens: ``/dev/videoN`` on Linux (V4L2)."""
    return f"/dev/video{index}" if os.name == "posix" else f"camera index {index}"


def _camera_hint(index: int) -> Callable[[], str]:
    def hint() -> str:
        dev = Path(camera_device(index))
        if os.name == "posix" and not dev.exists():
            found = sorted(str(p) for p in Path("/dev").glob("video*"))
            listed = (f"the cameras here are {', '.join(found)}" if found else
                      "this machine has no V4L2 camera: ls /dev/video* lists none")
            return (f"{dev} does not exist and {listed}; connect a camera, pick another index, "
                    f"or use --video FILE / --demo")
        return (f"{dev} exists but could not be opened: check it is not used by another "
                f"program and that you may read it (sudo usermod -aG video $USER)")
    return hint


def open_source(kind: str, value: str | int, *, rtsp_latency_ms: int = 200,
                size: tuple[int, int] = (640, 640), csi_size: tuple[int, int] = (720, 1280)
                ) -> FrameSource:
    """The source behind a CLI option: camera, csi, video, rtsp, images, gst or demo.

    An explicit source is opened as given or refused (:class:`SourceError`) naming the
    device and the fix; nothing falls back to another source.
    """
    if kind in ("camera", "csi") and (isinstance(value, bool) or int(value) < 0):
        raise SourceError(f"--{kind} {value}: a device index is 0 or more (0 = the first)")
    if kind in ("video", "images", "rtsp", "gst") and not str(value).strip():
        raise SourceError(f"--{kind}: empty value; give the {kind} to read")
    if kind == "camera":
        index = int(value)
        dev = camera_device(index)
        # V4L2 by name on Linux: CAP_ANY would also probe other backends (and print their
        # noise) and could open something other than /dev/videoN.
        return CaptureSource(index, f"camera {index} ({dev})", True, "", kind="camera",
                             device=dev, api="v4l2" if os.name == "posix" else None,
                             on_fail=_camera_hint(index))
    if kind == "csi":
        sensor = int(value)
        h, w = csi_size
        if h < 1 or w < 1:
            raise ConfigError(f"--csi-size {h} {w}: the capture size must be positive (H W), "
                              f"e.g. --csi-size 720 1280")
        device = f"nvarguscamerasrc sensor-id={sensor}"
        if not _has_gstreamer():
            raise SourceError(f"--csi {sensor} ({device}) needs OpenCV built with GStreamer "
                              f"(JetPack's python3-opencv); this OpenCV has none (pip's "
                              f"opencv-python): pip uninstall opencv-python opencv-python-headless")
        return CaptureSource(csi_pipeline(sensor, w, h), f"CSI camera {sensor} ({device})", True,
                             "check the ribbon cable and that nvargus-daemon runs "
                             "(sudo systemctl restart nvargus-daemon)", api="gstreamer",
                             kind="csi", device=device)
    if kind == "video":
        if _URL_START.match(str(value).strip()):  # http(s)://, a file read over the network
            url = str(value).strip()
            shown = redact_url(url)
            return CaptureSource(url, shown, False, "check the URL, credentials and that the "
                                 "server is reachable (try ffprobe URL)", api="ffmpeg",
                                 kind="video", device=shown)
        path = Path(str(value))
        if not path.is_file():
            raise SourceError(f"{redact_text(str(path))}: no such video file")
        return CaptureSource(str(path), str(path), False,
                             "not a video OpenCV can decode; try converting it with "
                             "ffmpeg -i IN -c:v libx264 OUT.mp4", kind="video")
    if kind == "rtsp":
        return rtsp_source(str(value), rtsp_latency_ms)
    if kind == "gst":
        pipe = str(value)
        shown = _redact_pipeline(pipe)
        if "appsink" not in pipe:
            raise SourceError("--gst: the pipeline must end in an appsink (e.g. '... ! "
                              "videoconvert ! video/x-raw,format=BGR ! appsink drop=true')")
        if not _has_gstreamer():
            raise SourceError("--gst needs OpenCV built with GStreamer; this OpenCV has none "
                              "(pip's opencv-python): use JetPack's or your distribution's "
                              "python3-opencv, or read the stream with --rtsp / --video")
        return CaptureSource(pipe, "GStreamer pipeline", True,
                             "check it with gst-launch-1.0 (replace appsink by fakesink)",
                             api="gstreamer", kind="gst", device=shown)
    if kind == "images":
        return ImageFolderSource(str(value))
    if kind == "demo":
        return DemoSource(size)
    raise SourceError(f"unknown source kind {kind!r}")


def source_info(source: object) -> dict[str, str]:
    """``{"kind", "device"}`` of a source, for the JSONL, the summary and the start line."""
    return {"kind": str(getattr(source, "kind", "custom")),
            "device": str(getattr(source, "device", "") or getattr(source, "name", "source"))}
