"""The streaming loop: source -> pipeline -> render -> outputs, with statistics.

Runs until the source ends, ``frames`` frames are done or ``stop`` is set (the CLI sets
it on Ctrl-C/SIGTERM); every exit path finalises the outputs. Latency statistics live in
fixed-size ring buffers, so memory stays flat however long the run.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edge.errors import SourceError
from edge.pipeline import Stopwatch
from edge.runtime.render import Renderer
from edge.runtime.sinks import frame_record
from edge.runtime.sources import CorruptFrame, FrameSource, LatestFrameReader

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
    source: str
    model: str
    backend: str
    precision: str
    frames: int = 0
    corrupt: int = 0
    dropped: int = 0
    reconnects: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    interrupted: bool = False
    error: str | None = None
    stages_ms: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        lines = [f"{self.frames} frames from {self.source} in {self.seconds:.1f} s: "
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
               stats_capacity: int = 10_000) -> RunSummary:
    """Process ``source`` until it ends, ``frames`` are done, or ``stop`` is set."""
    stop = stop or threading.Event()
    summary = RunSummary(source.name, pipeline.desc.name, pipeline.backend_name,
                         pipeline.precision)
    stats = StageStats(stats_capacity)
    renderer = Renderer() if (outputs.video or outputs.window) else None
    reader: LatestFrameReader | None = None
    if source.live:
        reader = LatestFrameReader(source, reconnect_timeout).start()
    else:
        source.open()
    if outputs.video is not None and source.fps:
        outputs.video.fps = source.fps
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
                                                         dict(sw.ms), media))
            stats.add(sw.ms)
            summary.frames += 1
            t_last = time.perf_counter()
            if outputs.window is not None and outputs.window.closed_by_user:
                break
    except SourceError as exc:  # a live source that did not come back: end the run cleanly
        summary.error = str(exc)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
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


def _overlay(summary: RunSummary, stats: StageStats, t_first: float) -> list[str]:
    elapsed = time.perf_counter() - t_first
    fps = summary.frames / elapsed if elapsed > 0 and summary.frames else 0.0
    means = {k: stats.recent_mean(k) for k in
             ("preprocess", "detector", "network", "crop", "branches", "paste")}
    parts = [f"{k} {v:.1f}" for k, v in means.items() if v > 0]
    return [f"{summary.model} | {summary.backend} {summary.precision} | {fps:.1f} FPS",
            "ms: " + " ".join(parts)]
