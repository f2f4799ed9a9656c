"""``edge-run``: segment a live camera, a stream, a video, an image folder or the demo scene.

Examples:
  edge-run --demo                                  # shipped model on a moving synthetic scene
  edge-run --demo --headless --frames 300 --output demo.mp4
  edge-run --camera 0 --model out/export-int8 --precision int8
  edge-run --csi 0 --model engines/ssd-isb       # Jetson CSI camera, TensorRT engines
  edge-run --video in.mp4 --output out.mp4 --json out.jsonl
  edge-run --rtsp rtsp://cam/stream --rtsp-latency 100 --headless --json dets.jsonl

Live sources keep only the newest frame (no latency build-up) and are reopened with
back-off when they stop; files and folders are processed frame by frame. Ctrl-C or
SIGTERM stops cleanly: the mp4 and JSONL are finalised and a summary is printed.
Exit codes: 0 done, 2 bad input or configuration, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from edge.cli.base import make_parser, run
from edge.errors import ConfigError, SourceError

log = logging.getLogger("edge.run")

SOURCES = ("camera", "csi", "video", "rtsp", "images", "gst", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("edge-run", __doc__ or "")
    src = parser.add_argument_group("source (one of)")
    group = src.add_mutually_exclusive_group()
    group.add_argument("--camera", type=int, metavar="N", help="V4L2/USB camera index")
    group.add_argument("--csi", type=int, metavar="N", help="Jetson CSI camera (sensor-id)")
    group.add_argument("--video", metavar="FILE",
                       help="a video file (or an http(s):// URL to one)")
    group.add_argument("--rtsp", metavar="URL", help="an RTSP stream")
    group.add_argument("--images", metavar="DIR", help="a folder of images, in name order")
    group.add_argument("--gst", metavar="PIPELINE", help="a GStreamer pipeline ending in appsink")
    group.add_argument("--demo", action="store_true",
                       help="the built-in moving synthetic scene (the default source)")
    src.add_argument("--demo-size", nargs=2, type=int, metavar=("H", "W"),
                     help="demo frame height and width (default 640 640; demo only)")
    src.add_argument("--csi-size", nargs=2, type=int, metavar=("H", "W"),
                     help="CSI capture height and width (default 720 1280; --csi only)")
    src.add_argument("--rtsp-latency", type=int, metavar="MS",
                     help="RTSP jitter buffer in ms, 0 = none (default 200; lower = fresher, "
                          "choppier; --rtsp only)")
    src.add_argument("--reconnect-timeout", type=float, default=30.0, metavar="S",
                     help="give up on a live source after S seconds without frames")

    m = parser.add_argument_group("model")
    m.add_argument("--model", default="demo",
                   help="export or engine folder, an engine store (picks the entry built for "
                        "this device), a NAME installed by edge-build engine --deploy NAME, or "
                        "'demo' (the shipped model; default)")
    m.add_argument("--backend", default="auto", choices=("auto", "tensorrt", "onnxruntime"),
                   help="auto = TensorRT when the folder has engines and TensorRT imports")
    m.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    m.add_argument("--allow-refused-int8", action="store_true",
                   help="run INT8 the accuracy gate refused (logs the measured drop); better: "
                        "recalibrate on frames closer to the scene, or run fp16")
    m.add_argument("--threads", type=int, metavar="N", help="CPU cores to use (default: all)")
    m.add_argument("--score-threshold", type=float, metavar="T",
                   help="override the model's detection threshold")

    o = parser.add_argument_group("outputs")
    o.add_argument("--headless", action="store_true", help="no window (default without a display)")
    o.add_argument("--output", metavar="FILE.mp4", help="write the annotated video")
    o.add_argument("--json", metavar="FILE.jsonl",
                   help="one JSON line per frame: stages_ms and detections with RLE masks")
    o.add_argument("--summary", metavar="FILE.json", help="write the run summary as JSON")
    o.add_argument("--frames", type=int, metavar="N", help="stop after N frames")
    o.add_argument("--no-overlay", action="store_true", help="no FPS/latency text on frames")
    parser.set_defaults(handler=cmd_run)
    return parser


def _source_kind(args: argparse.Namespace) -> tuple[str, object, bool]:
    """(kind, value, explicit): the source option given, else the demo (explicit False).

    Tested by identity, never truthiness: ``--camera 0`` (index 0, the first camera) and
    ``--video ''`` are given options, not absent ones."""
    for kind in SOURCES:
        value = getattr(args, kind)
        if kind == "demo":
            if value is True:
                return kind, value, True
        elif value is not None:
            return kind, value, True
    return "demo", True, False


def _check_options(args: argparse.Namespace) -> None:
    """Refuse every option value that would otherwise be ignored or misread, before any
    model is loaded or device opened."""
    if args.frames is not None and args.frames < 1:
        raise ConfigError(f"--frames {args.frames}: give at least 1 (leave it out to run until "
                          f"the source ends or Ctrl-C)")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: give at least 1 core (leave it out to use "
                          f"all {os.cpu_count() or 1})")
    if args.score_threshold is not None and not 0.0 <= args.score_threshold <= 1.0:
        raise ConfigError(f"--score-threshold {args.score_threshold:g}: a detection score is "
                          f"between 0 and 1 (0 keeps every detection)")
    if args.reconnect_timeout < 0:
        raise ConfigError(f"--reconnect-timeout {args.reconnect_timeout:g}: seconds, 0 or more "
                          f"(0 = end the run as soon as a live source stops)")
    for option in ("model", "output", "json", "summary"):
        value = getattr(args, option)
        if value is not None and not str(value).strip():
            raise ConfigError(f"--{option}: empty value; give a path"
                              + (" or 'demo'" if option == "model" else ""))
    from edge.runtime.sinks import check_distinct

    check_distinct({"--video": args.video, "--output": args.output, "--json": args.json,
                    "--summary": args.summary})


def _start_line(summary, outputs: list[str], explicit: bool, window: bool) -> str:
    """What runs on what, said before the first frame (headless runs are otherwise silent
    until they end); a run without a source option says it is the demo."""
    where = "window" if window else "headless"
    sink = f"; writing {', '.join(outputs)}" if outputs else ""
    line = (f"edge-run: reading {summary.source_kind} {summary.source_device} with "
            f"{summary.model} ({summary.backend} {summary.precision}); {where}{sink}; "
            f"Ctrl-C stops")
    if not explicit:
        line = ("edge-run: no source option given: running the built-in demo scene (--camera 0 "
                "reads the first camera, --video FILE a file)\n" + line)
    return line


def quiet_video_backends(verbose: bool, secret: bool = False) -> None:
    """Keep OpenCV's and FFmpeg's own warnings ("can't open camera by index", "moov atom
    not found") off stderr: edge-run's one-line error says what failed and the fix. With
    ``-v`` they stay, except when the source carries credentials (``secret``): those
    libraries print the URL or pipeline they open, password included, so they stay quiet
    (said at INFO). FFmpeg reads its level when OpenCV first uses it, hence the variable."""
    if verbose and secret:
        log.info("the source carries credentials: OpenCV's and FFmpeg's own messages stay "
                 "off (they can print the password); edge-run's messages show it redacted")
    if verbose and not secret:
        return
    if secret:
        os.environ["OPENCV_FFMPEG_LOGLEVEL"] = "-8"  # AV_LOG_QUIET, whatever was set
    else:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    from edge.optional import available

    if available("cv2"):
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT if secret
                                      else cv2.utils.logging.LOG_LEVEL_ERROR)


def cmd_run(args: argparse.Namespace) -> int:
    from edge.runtime.loop import Outputs, run_stream
    from edge.runtime.model import Pipeline
    from edge.runtime.sinks import JsonlSink, OutputError, VideoSink, WindowSink, \
        check_writable, display_available
    from edge.runtime.sources import carries_secret, open_source

    _check_options(args)
    kind, value, explicit = _source_kind(args)
    quiet_video_backends(args.verbose > 0, secret=kind in ("rtsp", "video", "gst")
                         and carries_secret(str(value)))
    for option, owner in (("demo_size", "demo"), ("csi_size", "csi"), ("rtsp_latency", "rtsp")):
        if getattr(args, option) is not None and kind != owner:
            flag = "--" + option.replace("_", "-")
            raise ConfigError(f"{flag} applies to --{owner} only; this run reads --{kind}: "
                              f"drop {flag}")
    # Everything that can be refused is refused before a camera is opened.
    if args.summary is not None:
        check_writable(args.summary, "--summary")
    # the source's options are checked before the (slower) model load
    source = open_source(kind, value, rtsp_latency_ms=200 if args.rtsp_latency is None
                         else args.rtsp_latency,
                         size=tuple(args.demo_size or (640, 640)),
                         csi_size=tuple(args.csi_size or (720, 1280)))
    pipeline = Pipeline.from_dir(args.model, backend=args.backend, precision=args.precision,
                                 threads=args.threads, score_threshold=args.score_threshold,
                                 allow_refused_int8=args.allow_refused_int8)
    outputs = Outputs(overlay=not args.no_overlay)
    try:
        if args.output is not None:
            outputs.video = VideoSink(args.output, fps=25.0)
        if args.json is not None:
            outputs.jsonl = JsonlSink(args.json)
        if not args.headless:
            if display_available():
                outputs.window = WindowSink(f"edge-run: {pipeline.desc.name}")
            else:
                log.info("no display (or OpenCV without GUI): running headless")
    except BaseException:
        outputs.close()
        pipeline.close()
        raise

    stop = threading.Event()
    signals = {}

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        log.warning("%s: finishing the current frame and finalising outputs",
                    signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signals[sig] = signal.signal(sig, on_signal)
    written = [p for p in (args.output, args.json, args.summary) if p is not None]

    def announce(summary) -> None:
        print(_start_line(summary, written, explicit, outputs.window is not None),
              file=sys.stderr, flush=True)

    try:
        summary = run_stream(pipeline, source, outputs, frames=args.frames,
                             reconnect_timeout=args.reconnect_timeout, stop=stop,
                             progress=True, on_open=announce)
    finally:
        for sig, old in signals.items():
            signal.signal(sig, old)
        pipeline.close()
    print(summary.table())
    if args.summary is not None:
        _write_summary(args.summary, summary)
    if summary.error:
        raise (OutputError if summary.failed == "output" else SourceError)(summary.error)
    return 130 if summary.interrupted else 0


def _write_summary(path: str, summary) -> None:
    """The --summary JSON, atomically; a disk too full even for it is one line, exit 2."""
    from edge import atomic
    from edge.runtime.sinks import OutputError

    try:
        atomic.write_text(path, json.dumps(summary.to_dict(), indent=2) + "\n")
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(path + ".tmp")
        failed = f"; the run itself failed: {summary.error}" if summary.error else ""
        raise OutputError(f"{path}: cannot write the summary ({exc.strerror or exc})"
                          f"{failed}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
