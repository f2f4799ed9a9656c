"""Frame sources: cameras, CSI sensors, streams, files, image folders and the demo scene.

Every source yields BGR uint8 (H, W, 3) frames. Live sources (``--camera``, ``--csi``,
``--rtsp``, ``--gst``) are read by :class:`LatestFrameReader`, a capture thread that
keeps only the newest frame (so latency never builds up behind a slow model) and reopens
a source that stops delivering, with exponential back-off. Files, folders and the demo
are read frame by frame in the caller's thread, without drops.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import ConfigError, SourceError
from edge.optional import require

log = logging.getLogger(__name__)

MAX_BAD_RUN = 25  # unreadable frames in a row after which a file is taken as ended/damaged

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MIN_DEMO_SIZE = 64
# query parameters whose values are secrets and never reach logs or outputs
_SECRET_KEYS = ("password", "passwd", "pass", "pwd", "token", "access_token", "key", "apikey",
                "api_key", "secret", "sig", "signature", "auth", "authorization", "credential")


class CorruptFrame(Exception):
    """A frame that could not be decoded; the run skips and counts it."""


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
                 on_fail: Callable[[], str] | None = None) -> None:
        self.target = target
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
        self.position = 0
        self.truncated = False  # a file whose read ended before its known last frame
        self._bad_run = 0
        self._bad_total = 0  # failed reads so far (each consumed a frame of the file)
        self._ahead: np.ndarray | None = None  # a good frame found by looking past bad ones
        self._ahead_bad = 0  # bad frames still to report before it

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
            self.frames_total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0 < fps < 1000 else None
        self.cap = cap

    def _open(self, cv2, api: int):
        """OpenCV reads FFmpeg options from the environment at open time only; set them for
        this open and restore, so they never leak into other captures or child processes."""
        if self.ffmpeg_options is None:
            return cv2.VideoCapture(self.target, api)
        key = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
        old = os.environ.get(key)
        os.environ[key] = self.ffmpeg_options
        try:
            return cv2.VideoCapture(self.target, api)
        finally:
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old

    def read(self) -> np.ndarray | None:
        if self.cap is None:
            return None
        if self._ahead is not None:  # unknown length: bad frames were followed by a good one
            if self._ahead_bad > 0:
                self._ahead_bad -= 1
                raise CorruptFrame(f"{self.name}: a frame after frame {self.position} unreadable")
            frame, self._ahead = self._ahead, None
            self.position += 1
            return frame
        ok, frame = self.cap.read()
        if ok and _valid(frame):
            self.position += 1
            self._bad_run = 0
            return frame
        if self.live:
            return None
        if self.frames_total <= 0:
            # Unknown length: look up to MAX_BAD_RUN frames ahead to tell damage from the end.
            for k in range(MAX_BAD_RUN):
                ok, frame = self.cap.read()
                if ok and _valid(frame):
                    self._ahead, self._ahead_bad = frame, k
                    raise CorruptFrame(f"{self.name}: frame {self.position + 1} unreadable")
            return None
        # A file: a failed read before the last frame is a damaged frame, not the end.
        if self.position + self._bad_total + 1 < self.frames_total:
            if self._bad_run < MAX_BAD_RUN:
                self._bad_run += 1
                self._bad_total += 1
                raise CorruptFrame(f"{self.name}: frame {self.position + self._bad_total} "
                                   f"unreadable")
            self.truncated = True  # gave up: more than MAX_BAD_RUN unreadable in a row
        return None

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
class ReaderStats:
    delivered: int = 0  # frames handed to the pipeline
    dropped: int = 0  # frames replaced by a newer one before the pipeline took them
    corrupt: int = 0
    reconnects: int = 0


class LatestFrameReader:
    """Reads a live source in a thread, keeping only the newest frame.

    When the source stops delivering it is closed and reopened with exponential back-off
    (``backoff`` doubling up to ``max_backoff`` seconds); after ``reconnect_timeout``
    seconds without a frame the reader gives up and :meth:`get` raises SourceError.
    ``clock`` and ``wait`` (seconds -> True when stopped meanwhile; by default a wait on
    the stop event) are injectable so tests can drive the back-off without real time.
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
            if self._seq > self._taken:
                self.stats.dropped += 1
            self._frame = frame
            self._seq += 1
            self._cond.notify_all()

    def _fail(self, reason: str) -> None:
        with self._cond:
            self._failure = reason
            self._cond.notify_all()

    def _reconnect(self) -> bool:
        """Reopen until it works or the timeout passes; False when giving up."""
        start = self.clock()
        delay = self.backoff
        while not self._stop.is_set():
            waited = self.clock() - start
            if waited >= self.reconnect_timeout:
                return False
            log.warning("%s stopped delivering frames; reopening in %.2f s (%.1f s of %.0f s "
                        "spent)", self.source.name, delay, waited, self.reconnect_timeout)
            if self.wait(delay) or self._stop.is_set():
                return False
            self.stats.reconnects += 1
            try:
                self.source.open()
                frame = self.source.read()
            except (SourceError, CorruptFrame) as exc:
                log.info("reopening %s failed: %s", self.source.name, exc)
                frame = None
            if frame is not None:
                log.warning("%s is back after %.1f s", self.source.name, self.clock() - start)
                self._publish(frame)
                return True
            delay = min(delay * 2, self.max_backoff)
        return False

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    frame = self.source.read()
                except CorruptFrame as exc:
                    log.info("%s", exc)
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
            log.debug("capture thread failed", exc_info=True)
            self._fail(f"{self.source.name}: capture failed ({exc})")
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


# --------------------------------------------------------------------------- constructors


def _has_gstreamer() -> bool:
    cv2 = require("cv2", "reading cameras")
    info = cv2.getBuildInformation()
    return any("GStreamer" in line and "YES" in line for line in info.splitlines())


def redact_url(url: str) -> str:
    """``url`` with its password and secret query values replaced by ``***``, for logs,
    errors and outputs (an RTSP URL often carries the camera's credentials)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in _SECRET_KEYS else v) for k, v in pairs],
                          safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_pipeline(pipeline: str) -> str:
    """A GStreamer pipeline with every URL in it redacted (``location=rtsp://u:p@h``)."""
    import re

    return re.sub(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s!]+", lambda m: redact_url(m.group(0)),
                  pipeline)


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
        pipe = (f"rtspsrc location={url} latency={latency_ms} ! decodebin ! videoconvert ! "
                f"video/x-raw, format=BGR ! appsink drop=true max-buffers=1 sync=false")
        return CaptureSource(pipe, shown, True, hint, api="gstreamer", kind="rtsp")
    options = f"rtsp_transport;tcp|fflags;nobuffer|max_delay;{latency_ms * 1000}"
    return CaptureSource(url, shown, True, hint, api="ffmpeg", ffmpeg_options=options,
                         kind="rtsp")


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
        path = Path(str(value))
        if not path.is_file():
            raise SourceError(f"{path}: no such video file")
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
