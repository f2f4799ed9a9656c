"""``edge-bench soak``: run the streaming loop for tens of thousands of frames and watch
the process for what kills a camera after weeks in the field: memory that creeps up,
a frame rate that sags, latency spikes that grow, file descriptors or threads that leak.

The frames go through exactly what ``edge-run`` runs (:func:`edge.runtime.model.Pipeline`,
:func:`edge.runtime.sources.open_source`, :func:`edge.runtime.loop.run_stream` and its
sinks). The only addition is :class:`SoakProbe`, a transparent wrapper around the
pipeline that the loop calls once per frame: it times the loop's period (call to call:
decode, every pipeline stage, render, outputs and the statistics, i.e. the per-frame wall
time of the whole loop) and, every ``window`` frames, reads the process from ``/proc``.

Memory is read twice per window. ``rss_raw_mb`` is VmRSS as the OS sees it. ``rss_mb`` is
VmRSS after ``gc.collect()`` and glibc's ``malloc_trim(0)``: glibc keeps freed heap in its
per-thread arenas and how much it keeps wanders with the allocation pattern (ONNX Runtime
and the branch workers allocate from several threads), which moves raw RSS up and down by
megabytes without anything being held. Trimming hands the free pages back, so what is left
is memory something still references: a leak shows in ``rss_mb``, allocator retention only
in ``rss_raw_mb``. The gate uses ``rss_mb``; both are reported (and VmHWM, the peak).

The gate is the least-squares slope of ``rss_mb`` over the windows after warm-up,
projected to ``per_frames`` frames, not the first-to-last difference: a single allocator
step after warm-up (an arena growing once) is not a leak, and the difference over a short
run understates a leak that the projection shows. Open file descriptors and threads fail
when they keep growing after warm-up: a new high in more than one window. One step up
that then holds (a cache, a pool filled on first use) is reported, not failed. The
threads of the pipeline's branch pool are counted apart (``pool_threads``) and not
judged: the pool starts a worker the first time a frame has that many branch jobs at
once, so a scene that gets busier after warm-up adds threads in steps, and it never
starts more than its ``max_workers``.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.bench.suite import machine_info
from edge.errors import ConfigError, SourceError
from edge.runtime.sources import FrameSource, open_source, redact_text

log = logging.getLogger(__name__)

MIN_FITTED = 3  # windows after warm-up needed for a slope (two points fit any line)
PROC = Path("/proc/self")
# the names of the branch pool's workers: edge.runtime.model.Pipeline makes its executor
# with thread_name_prefix="isb", and ThreadPoolExecutor names its threads PREFIX_N
POOL_THREAD_PREFIX = "isb_"
# windows after warm-up in which fds or threads may reach a new high before it is a leak:
# one step (a cache, a pool filled once) is not; growth window after window is
NEW_HIGHS_ALLOWED = 1


# --------------------------------------------------------------------------- the process


_trim: Callable[[int], int] | None | bool = False  # False: not looked up yet


def malloc_trim() -> bool:
    """Hand glibc's free heap back to the OS; False where there is no glibc (musl, macOS:
    then ``rss_mb`` includes the allocator's slack and equals ``rss_raw_mb`` in kind)."""
    global _trim
    if _trim is False:
        try:
            _trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = None
            log.warning("no glibc malloc_trim: the soak's RSS includes memory the allocator "
                        "keeps for reuse, so its slope is noisier (a leak still shows)")
    if _trim is None:
        return False
    _trim(0)  # type: ignore[operator]
    return True


def _status() -> dict[str, str]:
    out = {}
    for line in (PROC / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _kb_to_mb(value: str) -> float:
    return int(value.split()[0]) / 1024.0


def process_sample() -> dict[str, Any]:
    """VmRSS as is, then after ``gc.collect()`` + ``malloc_trim(0)``; VmHWM; open file
    descriptors; threads (every native thread: ONNX Runtime's pools included) and, of
    them, the branch pool's workers (``pool_threads``, by name)."""
    raw = _kb_to_mb(_status()["VmRSS"])
    gc.collect()
    trimmed = malloc_trim()
    st = _status()
    fds = len(os.listdir(PROC / "fd")) - 1  # the listing's own descriptor is in it
    pool = sum(t.name.startswith(POOL_THREAD_PREFIX) for t in threading.enumerate())
    return {"rss_raw_mb": round(raw, 2), "rss_mb": round(_kb_to_mb(st["VmRSS"]), 2),
            "hwm_mb": round(_kb_to_mb(st["VmHWM"]), 2), "fds": fds,
            "threads": int(st["Threads"]), "pool_threads": pool, "trimmed": trimmed}


def check_platform() -> None:
    if not (PROC / "status").is_file() or not (PROC / "fd").is_dir():
        raise ConfigError("edge-bench soak reads memory, file descriptors and threads from "
                          "/proc/self; run it on Linux (a Jetson, a PC)")


# --------------------------------------------------------------------------- the probe


class SoakProbe:
    """The pipeline as the loop sees it, plus a stopwatch and a sampler.

    ``run_stream`` calls it once per frame, so the time between two calls is one whole
    loop iteration. At every ``window``-th call (before handing the frame on) the window's
    statistics and a :func:`process_sample` are recorded; the sampling time is kept out
    of the next frame's period. The run ends at a window boundary: after ``frames``
    frames (the caller passes ``frames + 1`` to ``run_stream``: the frame that closes the
    last window is processed but not counted) or, with ``seconds``, at the first boundary
    past it (``stop`` is set).
    """

    def __init__(self, pipeline: Any, window: int, frames: int | None, seconds: float | None,
                 stop: threading.Event, on_window: Callable[[dict[str, Any]], None] | None = None
                 ) -> None:
        self._pipeline = pipeline
        self.window = window
        self.frames = frames
        self.seconds = seconds
        self.stop = stop
        self.on_window = on_window
        self.periods = np.zeros(window, np.float64)
        # instances per frame: the load, so FPS changes over a run can be told apart from
        # a slowing runtime (the demo scene's people come and go)
        self.instances = np.zeros(window, np.int64)
        self.count = 0  # frames handed to the pipeline so far
        self.windows: list[dict[str, Any]] = []
        self.start: dict[str, Any] | None = None
        self.done = False  # the last window is recorded
        self._last: float | None = None
        self._t0 = 0.0

    def __getattr__(self, name: str) -> Any:  # desc, backend_name, precision, ...
        if name == "_pipeline":
            raise AttributeError(name)
        return getattr(self._pipeline, name)

    def __call__(self, frame: np.ndarray, sw: Any = None) -> Any:
        now = time.perf_counter()
        if self._last is None:  # the first frame: the baseline, before any frame ran
            self.start = process_sample()
            self._t0 = now = time.perf_counter()
        else:
            self.periods[(self.count - 1) % self.window] = (now - self._last) * 1e3
        if self.count and self.count % self.window == 0 and not self.done:
            self._record(now)
            now = time.perf_counter()
        self._last = now
        self.count += 1
        result = self._pipeline(frame, sw)
        try:
            self.instances[(self.count - 1) % self.window] = len(result)
        except TypeError:  # a result without a length (a stand-in pipeline): no load figure
            self.instances[(self.count - 1) % self.window] = -1
        return result

    def _record(self, now: float) -> None:
        ms = self.periods
        row = {"window": len(self.windows), "frames": self.count,
               "elapsed_s": round(now - self._t0, 3),
               "seconds": round(float(ms.sum()) / 1e3, 4),
               "fps": round(self.window / (float(ms.sum()) / 1e3), 3),
               "latency_ms": {"p50": round(float(np.percentile(ms, 50)), 3),
                              "p99": round(float(np.percentile(ms, 99)), 3),
                              "max": round(float(ms.max()), 3)},
               "instances_mean": (None if (self.instances < 0).any()
                                  else round(float(self.instances.mean()), 2))}
        row.update(process_sample())
        self.windows.append(row)
        if (self.frames is not None and self.count >= self.frames) or \
                (self.seconds is not None and now - self._t0 >= self.seconds):
            self.done = True
            if self.frames is None:  # --minutes: the loop has no frame limit to end on
                self.stop.set()
        if self.on_window is not None:
            self.on_window(row)


# --------------------------------------------------------------------------- the source


class LoopedVideo(FrameSource):
    """A video file read again from its start whenever it ends, so a short clip can feed
    a soak of any length. Each pass opens a fresh capture (as ``edge-run --video`` does),
    so a leak in opening and closing captures would show too."""

    kind = "video"
    live = False
    frames_total = 0  # endless

    def __init__(self, path: str) -> None:
        self.path = path
        self.inner = open_source("video", path)  # refuses a missing file in one line
        # a URL (http://user:password@host/clip) is shown without its credentials
        self.shown = redact_text(path)
        self.name = f"{self.shown} (looped)"
        self.device = f"{self.shown} (looped)"
        self.fps: float | None = None
        self.passes = 0

    def open(self) -> None:
        self.inner.open()
        self.fps = getattr(self.inner, "fps", None)
        self.passes = 1

    def read(self) -> np.ndarray | None:
        frame = self.inner.read()
        if frame is None:
            self.inner.close()
            self.inner = open_source("video", self.path)
            self.inner.open()
            self.passes += 1
            frame = self.inner.read()
            if frame is None:
                raise SourceError(f"{self.shown}: no frame could be read after reopening it "
                                  f"(pass {self.passes}); check it with edge-run --video "
                                  f"{self.shown}, or re-encode it (ffmpeg -i IN -c:v libx264 "
                                  f"OUT.mp4)")
        return frame

    def close(self) -> None:
        self.inner.close()


# --------------------------------------------------------------------------- the analysis


@dataclass
class Limits:
    max_rss_growth_mb: float = 5.0  # allowed trimmed-RSS growth per `per_frames` frames
    per_frames: int = 20_000
    warmup_windows: int = 2


def _slope_per_frame(x: list[float], y: list[float]) -> float:
    return float(np.polyfit(np.asarray(x, np.float64), np.asarray(y, np.float64), 1)[0])


def _new_highs(windows: list[dict[str, Any]], values: list[int]) -> list[int]:
    """The windows (after the first) in which ``values`` rose above every earlier one."""
    return [w["window"] for i, w in enumerate(windows[1:], 1)
            if values[i] > max(values[:i])]


LEAK_RULE = (f"open file descriptors, and threads less the branch pool's workers "
             f"(pool_threads: started lazily, at most its max_workers), are a leak when they "
             f"reach a new high in more than {NEW_HIGHS_ALLOWED} window(s) after warm-up "
             f"(they keep growing); one step up that holds is reported, not failed")


def analyse(windows: list[dict[str, Any]], limits: Limits) -> dict[str, Any]:
    """The soak's figures from its windows: RSS slope (MB per 10,000 frames, least squares
    over the windows after warm-up), growth from the first window after warm-up to the
    last, FPS drift (mean of the last k windows against the first k, k = up to 3), p99 over
    time, descriptors and threads (the windows in which each reached a new high);
    ``ok`` and the ``reasons`` it is not (the rule for descriptors and threads:
    ``leak_rule``)."""
    fitted = windows[limits.warmup_windows:]
    if len(fitted) < MIN_FITTED:
        raise ConfigError(f"only {len(fitted)} window(s) after the {limits.warmup_windows} "
                          f"warm-up window(s): a slope needs at least {MIN_FITTED}; run more "
                          f"frames (--frames) or use a smaller --window")
    x = [w["frames"] for w in fitted]
    slope = _slope_per_frame(x, [w["rss_mb"] for w in fitted])
    slope_raw = _slope_per_frame(x, [w["rss_raw_mb"] for w in fitted])
    k = max(1, min(3, len(fitted) // 3))
    fps_first = float(np.mean([w["fps"] for w in fitted[:k]]))
    fps_last = float(np.mean([w["fps"] for w in fitted[-k:]]))
    loads = [w.get("instances_mean") for w in fitted]
    known = all(v is not None for v in loads)
    p99 = [w["latency_ms"]["p99"] for w in fitted]
    first, last = fitted[0], fitted[-1]
    projected = slope * limits.per_frames
    res: dict[str, Any] = {
        "fitted_windows": [first["window"], last["window"]],
        "fitted_frames": [first["frames"], last["frames"]],
        "instances_first": round(float(np.mean(loads[:k])), 2) if known else None,
        "instances_last": round(float(np.mean(loads[-k:])), 2) if known else None,
        "rss_slope_mb_per_10k": round(slope * 1e4, 3),
        "rss_raw_slope_mb_per_10k": round(slope_raw * 1e4, 3),
        "rss_projected_mb": round(projected, 3),
        "rss_growth_mb": round(last["rss_mb"] - first["rss_mb"], 2),
        "rss_raw_growth_mb": round(last["rss_raw_mb"] - first["rss_raw_mb"], 2),
        "rss_first_mb": first["rss_mb"], "rss_last_mb": last["rss_mb"],
        "hwm_mb": max(w["hwm_mb"] for w in windows),
        "drift_windows": k,
        "fps_first": round(fps_first, 2), "fps_last": round(fps_last, 2),
        "fps_drift_pct": round(100.0 * (fps_last - fps_first) / fps_first, 2),
        "p99_first_ms": p99[0], "p99_last_ms": p99[-1], "p99_max_ms": max(p99),
        "p99_median_ms": round(float(np.median(p99)), 3),
        "fds": [first["fds"], last["fds"]], "threads": [first["threads"], last["threads"]],
    }
    # threads outside the branch pool (windows of a report without pool_threads: all)
    counts = {"fds": [w["fds"] for w in fitted],
              "threads": [w["threads"] - w.get("pool_threads", 0) for w in fitted]}
    res["threads_outside_pool"] = [counts["threads"][0], counts["threads"][-1]]
    res["pool_threads_max"] = max(w.get("pool_threads", 0) for w in windows)
    res["leak_rule"] = LEAK_RULE
    reasons = []
    if projected > limits.max_rss_growth_mb:
        reasons.append(f"RSS grows {slope * 1e4:.2f} MB per 10,000 frames (least squares over "
                       f"windows {first['window']}-{last['window']}), {projected:.2f} MB per "
                       f"{limits.per_frames:,} frames: above the limit of "
                       f"{limits.max_rss_growth_mb:g} MB")
    for what, name in (("fds", "open file descriptors"),
                       ("threads", "threads outside the branch pool")):
        highs = _new_highs(fitted, counts[what])
        res[f"{what}_new_highs"] = highs
        if len(highs) > NEW_HIGHS_ALLOWED:
            shown = counts[what]
            reasons.append(f"{name} kept growing after warm-up: {shown[0]} -> {shown[-1]}, a "
                           f"new high in windows {', '.join(map(str, highs))} (more than "
                           f"{NEW_HIGHS_ALLOWED})")
    res["ok"] = not reasons
    res["reasons"] = reasons
    return res


# --------------------------------------------------------------------------- the run


@dataclass
class SoakOptions:
    model: str = "demo"
    video: str | None = None  # None: the demo scene
    demo_size: tuple[int, int] = (640, 640)
    frames: int | None = 30_000
    minutes: float | None = None
    window: int = 1000
    threads: int | None = None
    backend: str = "auto"
    precision: str = "fp32"
    jsonl: str | None = os.devnull
    output: str | None = None
    limits: Limits = field(default_factory=Limits)


def run_soak(opts: SoakOptions, stop: threading.Event | None = None,
             progress: bool = True, announce: Callable[[str], None] | None = None
             ) -> dict[str, Any]:
    """Run the soak and return its report (``windows``, ``start``, ``result``, ...).

    ``stop`` set from outside (Ctrl-C) ends the run at the next frame with the windows
    recorded so far (``interrupted``; no ``result`` when too few for a slope)."""
    from edge.runtime.loop import Outputs, run_stream
    from edge.runtime.model import Pipeline
    from edge.runtime.sinks import JsonlSink, VideoSink

    check_platform()
    stop = stop or threading.Event()
    source = (LoopedVideo(opts.video) if opts.video is not None
              else open_source("demo", True, size=opts.demo_size))
    pipeline = Pipeline.from_dir(opts.model, backend=opts.backend, precision=opts.precision,
                                 threads=opts.threads)
    outputs = Outputs(overlay=True)
    try:
        if opts.jsonl is not None:
            outputs.jsonl = JsonlSink(opts.jsonl)
        if opts.output is not None:
            outputs.video = VideoSink(opts.output, fps=25.0)
    except BaseException:
        outputs.close()
        pipeline.close()
        raise
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=opts.frames, desc="soak", unit="frame", disable=None,
                   dynamic_ncols=True)

    def on_window(row: dict[str, Any]) -> None:
        if bar is not None and not bar.disable:
            bar.update(row["frames"] - bar.n)
            bar.set_postfix_str(f"RSS {row['rss_mb']:.1f} MB, {row['fps']:.1f} FPS, "
                                f"p99 {row['latency_ms']['p99']:.1f} ms", refresh=True)
        else:  # no terminal (a service's journal, CI): a line per window with -v
            log.info("window %d done: %d frames, RSS %.1f MB (raw %.1f), %.1f FPS, p99 %.1f "
                     "ms, %d fds, %d threads", row["window"], row["frames"], row["rss_mb"],
                     row["rss_raw_mb"], row["fps"], row["latency_ms"]["p99"], row["fds"],
                     row["threads"])

    seconds = None if opts.minutes is None else opts.minutes * 60.0
    probe = SoakProbe(pipeline, opts.window, opts.frames, seconds, stop, on_window)

    def opened(summary: Any) -> None:
        if announce is not None:
            announce(f"edge-bench soak: {summary.model} ({summary.backend} {summary.precision}) "
                     f"on {summary.source_kind} {summary.source_device}; "
                     + (f"{opts.frames:,} frames" if opts.frames else f"{opts.minutes:g} min")
                     + f" in windows of {opts.window:,}; JSONL to "
                     f"{opts.jsonl or 'nothing'}, video to {opts.output or 'nothing'}; "
                     f"Ctrl-C stops with the windows so far")

    try:
        summary = run_stream(probe, source, outputs,
                             frames=None if opts.frames is None else opts.frames + 1,
                             stop=stop, progress=False, on_open=opened)
    finally:
        if bar is not None:
            bar.close()
        pipeline.close()
    # --minutes ends by setting ``stop`` itself; any other stop is the caller's (Ctrl-C)
    interrupted = bool(summary.interrupted and not (probe.done and opts.frames is None))
    report: dict[str, Any] = {
        "machine": machine_info(opts.threads, modules=("onnxruntime",)),
        "model": summary.model, "backend": summary.backend, "precision": summary.precision,
        "source": {"kind": summary.source_kind, "device": summary.source_device},
        "sinks": {"jsonl": opts.jsonl, "video": opts.output},
        "threads": opts.threads, "window": opts.window,
        "frames_asked": opts.frames, "minutes_asked": opts.minutes,
        "frames": probe.windows[-1]["frames"] if probe.windows else 0,
        "limits": {"max_rss_growth_mb": opts.limits.max_rss_growth_mb,
                   "per_frames": opts.limits.per_frames,
                   "warmup_windows": opts.limits.warmup_windows},
        "rss": ("rss_mb: VmRSS after gc.collect() and malloc_trim(0) (what is still "
                "referenced); rss_raw_mb: VmRSS as is (allocator retention included)"),
        "latency": "per-frame wall time of the whole loop (call to call of the pipeline)",
        "interrupted": interrupted, "error": summary.error,
        "start": probe.start, "windows": probe.windows,
    }
    if summary.error:
        raise SourceError(summary.error)
    if not interrupted or len(probe.windows) - opts.limits.warmup_windows >= MIN_FITTED:
        report["result"] = analyse(probe.windows, opts.limits)
    return report


# --------------------------------------------------------------------------- reporting


def _num(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def table(report: dict[str, Any]) -> str:
    """The per-window table and the verdict lines, for stdout."""
    lines = [f"{'window':>6} {'frames':>8} {'FPS':>7} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'inst':>5} {'RSS MB':>8} {'raw MB':>8} {'fds':>4} {'thr':>4}"]
    warm = report["limits"]["warmup_windows"]
    for w in report["windows"]:
        mark = " (warm-up)" if w["window"] < warm else ""
        lines.append(f"{w['window']:>6} {w['frames']:>8} {w['fps']:>7.1f} "
                     f"{w['latency_ms']['p50']:>8.2f} {w['latency_ms']['p99']:>8.2f} "
                     f"{_num(w.get('instances_mean'), 5, 1)} {w['rss_mb']:>8.1f} {w['rss_raw_mb']:>8.1f} {w['fds']:>4} "
                     f"{w['threads']:>4}{mark}")
    r = report.get("result")
    if r is None:
        lines.append(f"{len(report['windows'])} window(s), too few after warm-up for a slope: "
                     f"no verdict")
        return "\n".join(lines)
    lim = report["limits"]
    lines += [
        f"RSS slope {r['rss_slope_mb_per_10k']:+.2f} MB per 10,000 frames (raw "
        f"{r['rss_raw_slope_mb_per_10k']:+.2f}), least squares over windows "
        f"{r['fitted_windows'][0]}-{r['fitted_windows'][1]} (frames "
        f"{r['fitted_frames'][0]:,}-{r['fitted_frames'][1]:,}); "
        f"{r['rss_projected_mb']:+.2f} MB per {lim['per_frames']:,} frames "
        f"(limit {lim['max_rss_growth_mb']:g})",
        f"RSS growth {r['rss_growth_mb']:+.2f} MB ({r['rss_first_mb']:.1f} -> "
        f"{r['rss_last_mb']:.1f}), raw {r['rss_raw_growth_mb']:+.2f} MB; peak (VmHWM) "
        f"{r['hwm_mb']:.1f} MB",
        f"FPS {r['fps_first']:.1f} -> {r['fps_last']:.1f} ({r['fps_drift_pct']:+.1f}%, "
        f"first vs last {r['drift_windows']} window(s)"
        + ("" if r.get("instances_first") is None else
           f", at {r['instances_first']:.1f} -> {r['instances_last']:.1f} instances a frame")
        + f"); p99 {r['p99_first_ms']:.1f} -> "
        f"{r['p99_last_ms']:.1f} ms (median {r['p99_median_ms']:.1f}, max "
        f"{r['p99_max_ms']:.1f})",
        f"open fds {r['fds'][0]} -> {r['fds'][1]}, threads {r['threads'][0]} -> "
        f"{r['threads'][1]} (outside the branch pool {r['threads_outside_pool'][0]} -> "
        f"{r['threads_outside_pool'][1]}); a leak only when they keep growing (a new high "
        f"in more than {NEW_HIGHS_ALLOWED} window after warm-up)",
    ]
    if report.get("interrupted"):
        lines.append(f"interrupted after {report['frames']:,} frames: figures of the windows "
                     f"completed, no verdict")
    else:
        lines.append("soak PASS" if r["ok"] else "soak FAIL: " + "; ".join(r["reasons"]))
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str | Path) -> None:
    """RSS (trimmed and raw, with the fitted line), FPS and p50/p99 against frames; the
    warm-up windows shaded."""
    from edge import atomic
    from edge.optional import require

    require("matplotlib", "the soak plot (pip install 'edge-seg[bench]')")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ws = report["windows"]
    x = [w["frames"] for w in ws]
    warm = report["limits"]["warmup_windows"]
    fig, ax = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    ax[0].plot(x, [w["rss_mb"] for w in ws], "-o", ms=3, label="RSS after gc + malloc_trim")
    ax[0].plot(x, [w["rss_raw_mb"] for w in ws], ":", label="RSS as is")
    r = report.get("result")
    if r is not None:
        fx = x[warm:]
        slope = r["rss_slope_mb_per_10k"] / 1e4
        fy = np.asarray([w["rss_mb"] for w in ws[warm:]])
        b = float(fy.mean() - slope * np.mean(fx))
        ax[0].plot(fx, [b + slope * v for v in fx], "C3--", lw=1,
                   label=f"fit {r['rss_slope_mb_per_10k']:+.2f} MB / 10k frames")
    ax[0].set_ylabel("RSS (MB)")
    ax[0].legend(fontsize=7)
    ax[1].plot(x, [w["fps"] for w in ws], "-o", ms=3)
    ax[1].set_ylabel("FPS (window)")
    if all(w.get("instances_mean") is not None for w in ws):
        load = ax[1].twinx()  # the load beside the rate: fewer FPS with more people is no drift
        load.plot(x, [w["instances_mean"] for w in ws], "C2:", lw=1)
        load.set_ylabel("instances / frame", color="C2")
    ax[2].plot(x, [w["latency_ms"]["p50"] for w in ws], "-o", ms=3, label="p50")
    ax[2].plot(x, [w["latency_ms"]["p99"] for w in ws], "-s", ms=3, label="p99")
    ax[2].set_ylabel("frame time (ms)")
    ax[2].set_xlabel("frames")
    ax[2].legend(fontsize=7)
    if warm and len(ws) > warm:
        for a in ax:
            a.axvspan(0, ws[warm - 1]["frames"], color="0.9", zorder=0)
        ax[0].text(0.01, 0.95, "warm-up", transform=ax[0].transAxes, fontsize=7, va="top")
    m = report["machine"]
    fig.suptitle(f"edge-bench soak: {report['model']} ({report['backend']} "
                 f"{report['precision']}), {report['source']['device']}, {m['cpu']}, "
                 f"{report['threads'] or m['cores']} threads, {m['date']}", fontsize=9)
    fig.tight_layout()
    tmp = Path(str(path) + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    atomic.replace(tmp, path)
