"""The streaming loop: source -> pipeline -> render -> outputs, with statistics.

Runs until the source ends, ``frames`` frames are done or ``stop`` is set (the CLI sets
it on Ctrl-C/SIGTERM); every exit path finalises the outputs. Latency statistics live in
fixed-size ring buffers, so memory stays flat however long the run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edge.errors import SourceError
from edge.pipeline import Stopwatch
from edge.runtime.render import Renderer
from edge.runtime.sinks import frame_record
from edge.runtime.sources import (MAX_BAD_RUN, CorruptFrame, FrameSource, LatestFrameReader,
                                  source_info)

log = logging.getLogger(__name__)

STAGE_ORDER = ("capture", "decode", "preprocess", "detector", "network", "postprocess", "crop",
               "branches", "paste", "render", "output")


class StageStats:
    """Per-stage latency samples in ring buffers of ``capacity`` (the latest frames)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._buf: dict[str, np.ndarray] = {}
        self._count: dict[str, int] = {}

    def add(self, stages_ms: dict[str, float]) -> None:
        for k, v in stages_ms.items():
            buf = self._buf.get(k)
            if buf is None:
                buf = self._buf[k] = np.zeros(self.capacity, np.float64)
                self._count[k] = 0
            buf[self._count[k] % self.capacity] = v
            self._count[k] += 1

    def summary(self) -> dict[str, dict[str, float]]:
        def rank(name: str) -> tuple[int, str]:
            base = name.split(":")[0]
            return (STAGE_ORDER.index(base) if base in STAGE_ORDER else len(STAGE_ORDER), name)

        out = {}
        for k in sorted(self._buf, key=rank):
            a = self._buf[k][:min(self._count[k], self.capacity)]
            out[k] = {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
                      "mean": float(a.mean()), "count": self._count[k]}
        return out

    def recent_mean(self, name: str, n: int = 30) -> float:
        c = self._count.get(name, 0)
        if not c:
            return 0.0
        idx = (np.arange(max(0, c - n), c)) % self.capacity
        return float(self._buf[name][idx].mean())


@dataclass
class RunSummary:
    source: str  # its name, as in messages
    model: str
    backend: str
    precision: str
    source_kind: str = "custom"  # camera, csi, video, rtsp, images, gst, demo
    source_device: str = ""  # what was opened: /dev/video0, a path, a redacted URL, ...
    frames: int = 0
    corrupt: int = 0
    dropped: int = 0
    reconnects: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    interrupted: bool = False
    error: str | None = None
    frames_expected: int | None = None  # a video file's declared frame count, when known
    frames_unread: int = 0  # of those, frames never read (corrupt ones included)
    truncated: bool = False  # reading stopped before the declared end (damaged file)
    stages_ms: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        lines = [f"{self.frames} frames from {self.source_kind} {self.source_device} "
                 f"in {self.seconds:.1f} s: "
                 f"{self.fps:.1f} FPS ({self.model}, {self.backend} {self.precision}); "
                 f"dropped {self.dropped}, corrupt {self.corrupt}, reconnects {self.reconnects}"
                 + (" [interrupted]" if self.interrupted else "")]
        if self.stages_ms:
            lines.append(f"  {'stage':22} {'p50 ms':>9} {'p95 ms':>9}")
            for k, v in self.stages_ms.items():
                lines.append(f"  {k:22} {v['p50']:>9.2f} {v['p95']:>9.2f}")
        return "\n".join(lines)


@dataclass
class Outputs:
    """Where results go; any of them may be absent."""

    video: Any = None  # VideoSink
    jsonl: Any = None  # JsonlSink
    window: Any = None  # WindowSink
    overlay: bool = True

    def close(self) -> None:
        for sink in (self.video, self.jsonl, self.window):
            if sink is not None:
                try:
                    sink.close()
                except Exception:  # finalising one output must not lose the others
                    log.exception("closing %s failed", type(sink).__name__)


def run_stream(pipeline, source: FrameSource, outputs: Outputs, *, frames: int | None = None,
               reconnect_timeout: float = 30.0, stop: threading.Event | None = None,
               stats_capacity: int = 10_000, progress: bool = False,
               on_open: Callable[[RunSummary], None] | None = None) -> RunSummary:
    """Process ``source`` until it ends, ``frames`` are done, or ``stop`` is set.

    Opening the source may raise :class:`SourceError` (outputs are closed first, so no
    file is left half-made); ``on_open`` is called once it is open. ``progress`` shows a
    tqdm bar on stderr (frames, FPS; the total when known) where stderr is a terminal."""
    stop = stop or threading.Event()
    info = source_info(source)
    summary = RunSummary(source.name, pipeline.desc.name, pipeline.backend_name,
                         pipeline.precision, info["kind"], info["device"])
    stats = StageStats(stats_capacity)
    renderer = Renderer() if (outputs.video or outputs.window) else None
    reader: LatestFrameReader | None = None
    try:
        if source.live:
            reader = LatestFrameReader(source, reconnect_timeout).start()
        else:
            source.open()
    except BaseException:
        outputs.close()
        raise
    if outputs.jsonl is not None and hasattr(outputs.jsonl, "open"):
        outputs.jsonl.open()
    if on_open is not None:
        on_open(summary)
    if outputs.video is not None and source.fps:
        outputs.video.fps = source.fps
    bar = None
    if progress:
        from tqdm import tqdm

        known = [n for n in (frames, getattr(source, "frames_total", 0)) if n]
        bar = tqdm(total=min(known) if known else None, desc="edge-run", unit="frame",
                   disable=None, leave=False)
    t_first: float | None = None
    t_last = time.perf_counter()
    try:
        while not stop.is_set() and (frames is None or summary.frames < frames):
            sw = Stopwatch()
            t0 = time.perf_counter()
            if reader is not None:
                frame = reader.get(timeout=0.25)
                if frame is None:
                    continue
                sw.add("capture", (time.perf_counter() - t0) * 1e3)
            else:
                try:
                    frame = source.read()
                except CorruptFrame as exc:
                    summary.corrupt += 1
                    log.warning("skipped a corrupt frame: %s", exc)
                    continue
                if frame is None:
                    _check_file_end(source, summary)
                    break
                sw.add("decode", (time.perf_counter() - t0) * 1e3)
            stamp = time.time()
            t_first = t_first if t_first is not None else t0
            result = pipeline(frame, sw)
            if renderer is not None:
                with sw("render"):
                    overlay = _overlay(summary, stats, t_first) if outputs.overlay else None
                    shown = renderer(frame, result, overlay)
            if outputs.video is not None or outputs.window is not None \
                    or outputs.jsonl is not None:
                with sw("output"):
                    if outputs.video is not None:
                        outputs.video.write(shown)
                    if outputs.window is not None:
                        outputs.window.write(shown)
                    if outputs.jsonl is not None:
                        media = (summary.frames / source.fps) if (source.fps and reader is None) \
                            else None
                        outputs.jsonl.write(frame_record(summary.frames, stamp, result,
                                                         dict(sw.ms), media, info))
            stats.add(sw.ms)
            summary.frames += 1
            if bar is not None:
                bar.update(1)
            t_last = time.perf_counter()
            if outputs.window is not None and outputs.window.closed_by_user:
                break
    except SourceError as exc:  # a live source that did not come back: end the run cleanly
        summary.error = str(exc)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        if bar is not None:
            bar.close()
        if reader is not None:
            reader.stop()
            summary.dropped = reader.stats.dropped
            summary.corrupt += reader.stats.corrupt
            summary.reconnects = reader.stats.reconnects
        else:
            source.close()
        outputs.close()
        summary.interrupted = summary.interrupted or stop.is_set()
        if t_first is not None:
            summary.seconds = t_last - t_first
            summary.fps = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
        summary.stages_ms = stats.summary()
    return summary


def _check_file_end(source: FrameSource, summary: RunSummary) -> None:
    """At the end of a video file, tell its real end from damage: frames the file says it
    has but that were never read are logged, marked in the summary and, beyond
    ``MAX_BAD_RUN``, end the run as an error (edge-run exits 2)."""
    expected = getattr(source, "frames_total", 0)
    position = getattr(source, "position", None)
    if getattr(source, "live", True) or position is None:
        return
    if not expected:
        log.info("%s: end of file after %d frames (its length is unknown; up to %d frames "
                 "past the last one read were tried)", source.name, position, MAX_BAD_RUN)
        return
    summary.frames_expected = int(expected)
    missing = int(expected) - int(position)
    if missing <= 0:
        return
    summary.frames_unread = missing
    summary.truncated = bool(getattr(source, "truncated", False))
    log.warning("%s: %d of its %d frames unreadable%s", source.name, missing, expected,
                " (the read stopped early: damaged or truncated file)" if summary.truncated
                else "")
    if missing > MAX_BAD_RUN and summary.error is None:
        summary.error = (f"{source.name}: {missing} of its {expected} frames unreadable "
                         f"(damaged or truncated file; outputs hold the {position} read); "
                         f"re-encode or repair it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4")


def _overlay(summary: RunSummary, stats: StageStats, t_first: float) -> list[str]:
    """The overlay's lines; until a frame has been timed there is no rate or latency to
    show, so the first frame says so instead of ``0.0 FPS`` and an empty ``ms:``."""
    elapsed = time.perf_counter() - t_first
    head = f"{summary.model} | {summary.backend} {summary.precision}"
    if not summary.frames or elapsed <= 0:
        return [f"{head} | measuring..."]
    means = {k: stats.recent_mean(k) for k in
             ("preprocess", "detector", "network", "crop", "branches", "paste")}
    parts = [f"{k} {v:.1f}" for k, v in means.items() if v > 0]
    lines = [f"{head} | {summary.frames / elapsed:.1f} FPS"]
    if parts:
        lines.append("ms: " + " ".join(parts))
    return lines
