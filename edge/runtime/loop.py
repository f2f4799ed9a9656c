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
from edge.runtime.sinks import OutputError, frame_record
from edge.runtime.sources import (MAX_BAD_RUN, MAX_BAD_SHARE, CorruptFrame, FrameSource,
                                  LatestFrameReader, source_info)

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
                # written through at once (np.zeros would map pages as the ring fills, and
                # a stage seen on one frame in five would grow RSS for 50,000 frames: a
                # bounded growth a soak cannot tell from a leak)
                buf = self._buf[k] = np.full(self.capacity, 0.0, np.float64)
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
    source: str  # its name, as in messages (URLs without their passwords)
    model: str
    backend: str
    precision: str
    source_kind: str = "custom"  # camera, csi, video, rtsp, images, gst, demo
    source_device: str = ""  # what was opened: /dev/video0, a path, a redacted URL, ...
    frames: int = 0  # frames processed: one JSONL record and one video frame each
    corrupt: int = 0  # frames skipped because they could not be decoded (the run went on)
    dropped: int = 0  # live: frames replaced by a newer one before the model took them
    reconnects: int = 0  # live: reopen attempts, over all outages
    received: int = 0  # live: frames read from the source (= frames + dropped)
    outages: list[dict[str, Any]] = field(default_factory=list)  # live: each stretch without frames
    seconds: float = 0.0
    fps: float = 0.0
    interrupted: bool = False
    ended: str = ""  # why the run ended: see END_REASONS
    error: str | None = None
    failed: str | None = None  # "source" or "output" when error is set
    frames_expected: int | None = None  # a video file's declared frame count, when known
    frames_unread: int = 0  # of those, frames never read (undecodable ones included)
    frames_undecodable: int = 0  # frames of the file that could not be decoded
    undecodable_longest_run: int = 0  # the most of them in a row
    decode_stopped_at: int | None = None  # the frame where decoding stopped before the end
    truncated: bool = False  # decoding stopped before the declared end (damaged file)
    stages_ms: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        head = (f"{self.frames} frames from {self.source_kind} {self.source_device} "
                f"in {self.seconds:.1f} s: "
                f"{self.fps:.1f} FPS ({self.model}, {self.backend} {self.precision}); "
                f"dropped {self.dropped}, corrupt {self.corrupt}, reconnects {self.reconnects}")
        if self.outages:
            down = sum(o["seconds"] for o in self.outages)
            head += f", outages {len(self.outages)} ({down:.1f} s without frames)"
        if self.frames_undecodable:
            head += f", undecodable {self.frames_undecodable}"
        lines = [head + (" [interrupted]" if self.interrupted else "")
                 + (f" [ended: {self.ended}]" if self.ended and self.error else "")]
        if self.stages_ms:
            lines.append(f"  {'stage':22} {'p50 ms':>9} {'p95 ms':>9}")
            for k, v in self.stages_ms.items():
                lines.append(f"  {k:22} {v['p50']:>9.2f} {v['p95']:>9.2f}")
        return "\n".join(lines)


END_REASONS = ("end of file", "end of stream (length unknown)", "decoding stopped",
               "frame limit", "interrupted", "window closed", "source lost", "output failed")


@dataclass
class Outputs:
    """Where results go; any of them may be absent."""

    video: Any = None  # VideoSink
    jsonl: Any = None  # JsonlSink
    window: Any = None  # WindowSink
    overlay: bool = True

    def close(self) -> list[str]:
        """Finalise every output; returns what went wrong (one line each), so that an
        output that could not be finalised (a full disk) fails the run, not only logs."""
        problems = []
        for sink in (self.video, self.jsonl, self.window):
            if sink is not None:
                try:
                    sink.close()
                except OutputError as exc:
                    problem = str(exc)
                    if sink is self.video and self.jsonl is not None:
                        lines = getattr(self.jsonl, "lines", 0)
                        problem += (f"; {getattr(self.jsonl, 'path', 'the JSONL')} holds their "
                                    f"{lines} record{'s' if lines != 1 else ''}")
                    problems.append(problem)
                except Exception:  # finalising one output must not lose the others
                    log.exception("closing %s failed", type(sink).__name__)
        return problems


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
                    if exc.repeat:  # the first of its stretch said which frames it spans
                        log.debug("skipped a corrupt frame: %s", exc)
                    else:
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
                    media = _media_time(source) if reader is None else None
                    record = (frame_record(summary.frames, stamp, result, dict(sw.ms), media,
                                           info) if outputs.jsonl is not None else None)
                    # each output checks its room first, so a full disk stops the run
                    # before the frame is in one output and not the other
                    for sink in (outputs.video, outputs.jsonl):
                        if sink is not None and hasattr(sink, "check_room"):
                            sink.check_room()
                    if outputs.video is not None:
                        outputs.video.write(shown)
                    if outputs.window is not None:
                        outputs.window.write(shown)
                    if outputs.jsonl is not None:
                        outputs.jsonl.write(record)
            stats.add(sw.ms)
            summary.frames += 1
            if bar is not None:
                bar.update(1)
            t_last = time.perf_counter()
            if outputs.window is not None and outputs.window.closed_by_user:
                summary.ended = "window closed"
                break
    except SourceError as exc:  # a live source that did not come back: end the run cleanly
        summary.error, summary.failed, summary.ended = str(exc), "source", "source lost"
    except OutputError as exc:  # disk full, file-size limit: stop, keep what was written
        summary.error, summary.failed, summary.ended = str(exc), "output", "output failed"
        log.debug("output failed at frame %d", summary.frames, exc_info=True)
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
            summary.received = reader.stats.received
            summary.outages = [o.to_dict() for o in reader.stats.outages]
        else:
            source.close()
        for problem in outputs.close():
            if summary.error is None:
                summary.error, summary.failed, summary.ended = problem, "output", \
                    "output failed"
            else:
                log.warning("%s", problem)
        summary.interrupted = summary.interrupted or stop.is_set()
        if not summary.ended:
            summary.ended = ("interrupted" if summary.interrupted else "frame limit"
                             if frames is not None and summary.frames >= frames else
                             "end of file")
        if t_first is not None:
            summary.seconds = t_last - t_first
            summary.fps = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
        summary.stages_ms = stats.summary()
    return summary


def _media_time(source: FrameSource) -> float | None:
    """Seconds into the file of the frame just read: its timestamp where the source has
    one it trusts (a VFR file's frames are not evenly spaced), else its index on the
    file's timeline (frames skipped as undecodable count) over the frame rate."""
    stamped = getattr(source, "media_time", None)
    if stamped is not None:
        return float(stamped)
    if not source.fps:
        return None
    index = getattr(source, "media_index", None)
    if index is None or index < 0:
        index = getattr(source, "position", 1) - 1
    return index / source.fps


def _check_file_end(source: FrameSource, summary: RunSummary) -> None:
    """At the end of a video file, tell its real end from damage. Undecodable frames are
    logged and counted in the summary; the run ends as an error (edge-run exits 2) naming
    the frame when decoding stopped before the declared end, when one damaged stretch
    holds more than ``MAX_BAD_RUN`` frames in a row, or when more than ``MAX_BAD_SHARE``
    of the file (and more than ``MAX_BAD_RUN`` frames) is undecodable. Sporadic loss over
    a long recording, or a few bad frames in a short clip, is reported only."""
    if getattr(source, "live", True) or getattr(source, "position", None) is None:
        summary.ended = "end of file"
        return
    expected = int(getattr(source, "frames_total", 0) or 0)
    position = int(source.position)
    summary.frames_undecodable = int(getattr(source, "undecodable", 0))
    summary.undecodable_longest_run = int(getattr(source, "longest_bad_run", 0))
    if not expected:
        summary.ended = "end of stream (length unknown)"
        log.warning("%s: end of stream after %d frames; the file does not say how many it "
                    "has, so a file cut short cannot be told from its end (%d further reads "
                    "were tried)", source.name, position, MAX_BAD_RUN)
        _judge_damage(source, summary, position, position + summary.frames_undecodable,
                      "the")
        return
    summary.frames_expected = expected
    summary.frames_unread = max(0, expected - position)
    summary.truncated = bool(getattr(source, "truncated", False))
    stopped = getattr(source, "stopped_at", None)
    summary.decode_stopped_at = stopped if summary.truncated else None
    if summary.truncated:
        summary.ended = "decoding stopped"
        summary.error = (f"{source.name}: decoding stopped at frame {stopped} of {expected} "
                         f"(damaged or cut-off file; {position} frames decoded, "
                         f"{summary.frames_undecodable} undecodable; the outputs hold the "
                         f"decoded ones); re-encode or repair it, e.g. ffmpeg -i IN -c:v "
                         f"libx264 OUT.mp4")
        summary.failed = "source"
        return
    summary.ended = "end of file"
    _judge_damage(source, summary, position, expected, "its")


def _judge_damage(source: FrameSource, summary: RunSummary, position: int, total: int,
                  whose: str) -> None:
    """Report the undecodable frames of a file read to its end (``total``: its declared
    length, or the frames seen when unknown); an error when one stretch or the share of
    them says the file is damaged."""
    bad, run = summary.frames_undecodable, summary.undecodable_longest_run
    if not bad:
        return
    share = bad / max(1, total)
    tally = f"{bad} of {whose} {total} frames undecodable"
    fix = "re-encode or repair it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4"
    if run > MAX_BAD_RUN:
        first = int(getattr(source, "longest_bad_from", 0))
        summary.error = (f"{source.name}: frames {first}-{first + run - 1} undecodable, {run} "
                         f"in a row (more than {MAX_BAD_RUN} in a row is a damaged file; "
                         f"{tally} in all, the outputs hold the {position} decoded); {fix}")
    elif share > MAX_BAD_SHARE and bad > MAX_BAD_RUN:  # a few in a short file: reported
        summary.error = (f"{source.name}: {tally} ({share:.0%}, more than "
                         f"{MAX_BAD_SHARE:.0%} is a damaged file; the outputs hold the "
                         f"{position} decoded); {fix}")
    else:
        log.warning("%s: %s (skipped; at most %d in a row, %.1f%%)", source.name, tally, run,
                    100 * share)
        return
    summary.failed = "source"


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
