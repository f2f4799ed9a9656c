"""``edge-bench``: latency, memory and accuracy benchmarks that print figures.

With no command it runs the benchmark of the whole pipeline per branch configuration
and FCN variant (see the options below); the commands measure parts.
It measures the host-side geometry stages (the NumPy reference path of the runtime)
per SSD-ISB branch configuration, ONNX Runtime latency of exports per precision, the CUDA
kernels (``kernels``), the GPU pipeline's kernels on any CUDA machine without TensorRT
(``gpucheck``), on a device the whole TensorRT stack (``selftest``), and a long run's memory,
frame rate and latency over time (``soak``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from edge import catalog
from edge.cli.base import make_parser, parse_precisions, run
from edge.errors import ConfigError

STAGES = ("postprocess", "assign", "crop", "paste")


def _ints(text: str, option: str, minimum: int, what: str) -> list[int]:
    """``"0,10,30"`` -> ``[0, 10, 30]`` (order kept, repeats dropped); empty items are
    skipped, so ``""`` gives ``[]`` and the caller decides what an empty list means."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} takes {what}, got {text!r}") from None
    if any(v < minimum for v in values):
        raise ConfigError(f"{option} takes {what}, got {text!r}")
    return list(dict.fromkeys(values))


def _at_least(value: int | None, option: str, minimum: int, what: str) -> None:
    """Refuse ``value < minimum`` (``None``, an omitted option, passes)."""
    if value is not None and value < minimum:
        raise ConfigError(f"{option} takes {what}, got {value}")


def _name(value: str | None, option: str, what: str) -> None:
    """Refuse an empty file or folder name (``None``, an omitted option, passes)."""
    if value is not None and not value.strip():
        raise ConfigError(f"{option} takes {what}, got an empty name")


def _precisions(text: str) -> list[str]:
    return list(dict.fromkeys(parse_precisions(text)))


def cmd_geometry(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edge.bench.geometry import bench_config

    known = list(catalog.INSTANCE_CONFIGS)
    if args.configs.strip() == "all":
        names = known
    else:
        names = list(dict.fromkeys(n.strip() for n in args.configs.split(",") if n.strip()))
        if not names:
            raise ConfigError(f"--configs takes 'all' or comma-separated SSD-ISB names (e.g. "
                              f"ssd-isb-multi-shape), got {args.configs!r}")
    for n in names:
        if n not in known:
            raise ConfigError(f"--configs: unknown SSD-ISB configuration {n!r}; known: "
                              f"{', '.join(known)} (or 'all')")
    counts = _ints(args.instances, "--instances", 0,
                   "detections per frame, 0 or more, comma-separated (e.g. 0,10,30)")
    if not counts:
        raise ConfigError(f"--instances takes detections per frame, 0 or more, comma-separated "
                          f"(e.g. 0,10,30), got {args.instances!r}")
    _at_least(args.repeats, "--repeats", 1, "at least 1 timed run per row (e.g. 30)")
    _at_least(args.seed, "--seed", 0, "a seed of 0 or more")
    _name(args.json, "--json", "a file name")
    jobs = [(n, k) for n in names for k in counts]
    rows = [bench_config(n, k, args.repeats, seed=args.seed)
            for n, k in tqdm(jobs, desc="geometry", unit="run", disable=None)]
    if args.json is not None:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    print(f"{'config':28} {'inst':>4} {'masks':>5} " + " ".join(f"{s + ' p50':>15}" for s in STAGES))
    for r in rows:
        cells = " ".join(f"{r['stages_ms'][s]['p50']:>12.3f} ms" for s in STAGES)
        print(f"{r['config']:28} {r['instances']:>4} {r['masked']:>5} {cells}")
    return 0


def cmd_onnx(args: argparse.Namespace) -> int:
    from edge.bench.onnx_models import bench_export

    _name(args.model, "--model", "an export folder")
    precisions = _precisions(args.precision)
    _at_least(args.repeats, "--repeats", 1, "at least 1 timed run per graph (e.g. 30)")
    _at_least(args.boxes, "--boxes", 0, "crops per branch call, 0 or more (0 times the "
                                        "detector alone)")
    _at_least(args.threads, "--threads", 1,
              f"at least 1 thread (omit it to use all {os.cpu_count() or 1})")
    _name(args.json, "--json", "a file name")
    rows = [bench_export(args.model, p, args.repeats, args.boxes, args.threads)
            for p in precisions]
    if args.json is not None:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    stages = list(rows[0]["stages_ms"])
    print(f"{'graph':22} " + " ".join(f"{p + ' p50 ms':>14}" for p in precisions)
          + (f" {'speed-up':>9}" if len(rows) > 1 else ""))
    for s in stages:
        vals = [r["stages_ms"][s]["p50"] for r in rows]
        speed = f" {vals[0] / vals[-1]:>8.2f}x" if len(rows) > 1 else ""
        print(f"{s:22} " + " ".join(f"{v:>14.2f}" for v in vals) + speed)
    return 0


def _kernel_lines(res: dict) -> list[str]:
    peak = res.get("peak_gb_s")
    head = (f"theoretical bandwidth {peak:.0f} GB/s" if peak else
            f"theoretical bandwidth unknown ({res.get('peak_note')})")
    lines = [f"{res['device']} ({res['api']}), {head}"]
    for r in res["rows"]:
        pct = f"{100 * r['gb_s'] / peak:.0f}% of peak" if peak else "peak unknown"
        lines.append(f"  {r['kernel']:26} {r['size']:22} {'ok' if r['ok'] else 'FAIL':4} "
                     f"{r['ms']:8.3f} ms {r['gb_s']:8.1f} GB/s ({pct})")
    return lines


def cmd_kernels(args: argparse.Namespace) -> int:
    from edge.bench.kernels import run_kernels

    _at_least(args.repeats, "--repeats", 1, "at least 1 timed run per kernel (e.g. 50)")
    _name(args.json, "--json", "a file name")
    res = run_kernels(args.repeats)  # opens and always closes the GPU context
    if args.json is not None:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print("\n".join(_kernel_lines(res)))
    if not all(r["ok"] for r in res["rows"]):
        raise ConfigError("a CUDA kernel disagrees with its NumPy reference (see above)")
    return 0


def _print_outcome(report: dict) -> None:
    for f in report.get("failed", []):
        print(f"  failed: {f['part']}: {f['type']}: {f['message']}")
    for s in report["skipped"]:
        print(f"  skipped: {s}")


def cmd_selftest(args: argparse.Namespace) -> int:
    from edge.bench.selftest import run_selftest

    _name(args.export, "--export", "an export folder")
    _name(args.out, "--out", "a report folder")
    _name(args.engines, "--engines", "an engine folder (omit it for OUT/engines)")
    precisions = _precisions(args.precision)
    _at_least(args.repeats, "--repeats", 1, "at least 1 timed run per stage (e.g. 30)")
    _name(args.holdout, "--holdout", "a held-out dataset folder")
    _at_least(args.holdout_images, "--holdout-images", 1, "at least 1 generated scene")
    report = run_selftest(args.export, args.out, precisions, args.engines, args.repeats,
                          holdout=args.holdout, holdout_images=args.holdout_images)
    print(f"self-test {report['status'].upper()}: report in "
          f"{Path(args.out) / 'selftest.md'} (and selftest.json)")
    _print_outcome(report)
    if not report["ok"]:
        raise ConfigError(f"the self-test FAILED (see above); attach {args.out}/selftest.md "
                          f"to a bug report")
    return 0


def cmd_gpucheck(args: argparse.Namespace) -> int:
    from edge.bench.gpucheck import run_gpucheck

    _name(args.out, "--out", "a report folder")
    _name(args.model, "--model", "an SSD-ISB export folder or 'demo'")
    _name(args.json, "--json", "a file name")
    _at_least(args.repeats, "--repeats", 1, "at least 1 timed run per kernel (e.g. 20)")
    _at_least(args.frames, "--frames", 1, "at least 1 synthetic frame (e.g. 3)")
    if args.size is not None:
        _at_least(min(args.size), "--size", 32, "a frame size H W of 32 or more (e.g. 480 640)")
    from edge.bench.kernels import FULL, QUICK

    report = run_gpucheck(args.out, args.model, args.repeats, args.frames,
                          tuple(args.size) if args.size else (480, 640),
                          QUICK if args.quick else FULL)
    if args.json is not None:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    if report["kernels"]:
        print("\n".join(_kernel_lines(report["kernels"])))
    p = report["pipeline"]
    if p:
        print(f"kernel pipeline vs ONNX Runtime: {p['instances']} instances in {p['frames']} "
              f"frames, " + ", ".join(f"{c} {'ok' if ok else 'FAIL'}"
                                      for c, ok in p["checks"].items()))
    print(f"GPU check {report['status'].upper()}: report in {Path(args.out) / 'gpucheck.md'} "
          f"(and gpucheck.json)")
    _print_outcome(report)
    if not report["ok"]:
        raise ConfigError(f"the GPU check FAILED (see above); attach {args.out}/gpucheck.md "
                          f"to a bug report")
    return 0


def cmd_suite(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edge.bench.report import markdown, plot, write_markdown
    from edge.bench.suite import (BASIS, BenchOptions, choose_for_budget, has_measured_accuracy,
                                  run_suite)

    # --configs: omitted = Multi-Shape (none with --model); 'none' or '' = no zoo rows
    # (then --model is needed: BenchOptions.check refuses a run with nothing to measure)
    if args.configs is None:
        configs = [] if args.model else ["ssd-isb-multi-shape"]
    elif args.configs.strip().lower() == "all":  # the thesis's models
        configs = list(catalog.INSTANCE_CONFIGS) + list(catalog.SEMANTIC_CONFIGS)
    elif args.configs.strip().lower() == "seeds":  # the seed systems (000, 001, 002, 004)
        configs = list(catalog.SEED_CONFIGS)
    elif args.configs.strip().lower() in ("", "none"):
        configs = []
    else:
        configs = list(dict.fromkeys(c.strip() for c in args.configs.split(",") if c.strip()))
    precisions = _precisions(args.precision)
    instances = _ints(args.instances, "--instances", 0,
                      "instances per frame, 0 or more, comma-separated (e.g. 0,10,30)")
    if not instances:
        raise ConfigError(f"--instances takes instances per frame, 0 or more, comma-separated "
                          f"(e.g. 0,10,30), got {args.instances!r}")
    # --size-curve '' (or omitted): no curve
    sizes = [] if args.size_curve is None else _ints(
        args.size_curve, "--size-curve", 1,
        "square input sizes, positive multiples of 32 (e.g. 320,480,640)")
    if args.budget_ms is not None and not (math.isfinite(args.budget_ms)
                                           and args.budget_ms > 0):
        raise ConfigError(f"--budget-ms takes a frame time in milliseconds above 0 (e.g. 150), "
                          f"got {args.budget_ms:g}")
    for option in ("json", "markdown", "plot"):
        _name(getattr(args, option), f"--{option}", "a file name")
    opts = BenchOptions(configs=configs, models=list(args.model or []), backend=args.backend,
                        precisions=precisions, input_size=args.input_size, alpha=args.alpha,
                        instances=instances, frames=args.frames, threads=args.threads,
                        data=args.data, peers=not args.no_peers, sizes=sizes,
                        holdout_images=args.holdout_images,
                        semantic_size=(None if args.semantic_size is None
                                       else tuple(args.semantic_size)))
    opts.check()  # every bad value fails here, before any export or timing
    for out in (args.json, args.markdown, args.plot):
        if out is not None:
            from edge.runtime.sinks import check_writable

            check_writable(out, "the report")
    bar = tqdm(desc="edge-bench", unit="row", disable=None)

    def progress(msg: str) -> None:
        bar.set_postfix_str(msg)
        bar.update(1)

    try:
        report = run_suite(opts, progress)
    finally:
        bar.close()
    if args.budget_ms is not None:
        report["budget"] = {"budget_ms": args.budget_ms, "basis": BASIS}
        for task in ("instance", "semantic"):
            best = choose_for_budget(report["rows"], args.budget_ms, task)
            report["budget"][task] = None if best is None else {
                **{k: best.get(k) for k in ("config", "precision", "instances", "accuracy",
                                            "accuracy_metric", "accuracy_source",
                                            "accuracy_data", "accuracy_detail")},
                "frame_p50_ms": best["frame_ms"]["p50"]}
    argv = getattr(args, "argv", None)
    report["command"] = "edge-bench " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    if args.json is not None:
        from edge import atomic

        atomic.write_text(args.json, json.dumps(report, indent=2) + "\n")
    if args.markdown is not None:
        header = ""
        if args.plot is not None:
            rel = os.path.relpath(args.plot, os.path.dirname(os.path.abspath(args.markdown)))
            header = f"![speed, latency curves, speed/accuracy plane, stage breakdown]({rel})\n\n"
        write_markdown(report, args.markdown, args.budget_ms, header=header)
    if args.plot is not None:
        plot(report, args.plot)
    print(markdown(report, args.budget_ms))
    if args.budget_ms is not None and report["budget"]["instance"] is None \
            and report["budget"]["semantic"] is None:
        if any(has_measured_accuracy(r) for r in report["rows"]):
            raise ConfigError(f"no configuration with measured accuracy meets --budget-ms "
                              f"{args.budget_ms:g} (p50 frame time) on this machine; raise it")
        raise ConfigError("--budget-ms chooses by measured accuracy and no row has one (zoo "
                          "rows have random weights): add --model DIR --data D, or --model "
                          "demo (measured on generated held-out scenes)")
    return 0


def cmd_footage(args: argparse.Namespace) -> int:
    from edge.evaluate import footage as fe
    from edge.runtime.sinks import check_distinct, check_writable

    videos = list(args.video)
    for v in videos:
        _name(v, "--video", "a video file")
        if not Path(v).is_file():
            from edge.errors import SourceError

            raise SourceError(f"--video {v}: no such video file")
    _name(args.model, "--model", "an export folder, a .npz/.pt file or 'demo'")
    for option in ("sheet", "json", "write_reference"):
        _name(getattr(args, option), "--" + option.replace("_", "-"), "a file name")
    for r in args.reference or []:
        _name(r, "--reference", "a reference JSON file")
    _at_least(args.every, "--every", 1, "N >= 1 (evaluate every N-th frame, e.g. 10)")
    _at_least(args.max_frames, "--max-frames", 1, "at least 1 evaluated frame")
    _at_least(args.threads, "--threads", 1,
              f"at least 1 thread (omit it to use all {os.cpu_count() or 1})")
    if args.score is not None and not (math.isfinite(args.score) and 0.0 <= args.score <= 1.0):
        raise ConfigError(f"--score takes a detection score between 0 and 1 (default: the "
                          f"model's own threshold), got {args.score:g}")
    if not (math.isfinite(args.iou) and 0.0 < args.iou <= 1.0):
        raise ConfigError(f"--iou takes a box IoU above 0 and at most 1 (default "
                          f"{fe.DEFAULT_IOU:g}), got {args.iou:g}")
    if args.model is None and args.write_reference is None:
        raise ConfigError("--model is required (an export folder, a .npz/.pt file or 'demo'); "
                          "only --write-reference runs without a model")
    if len({Path(v).resolve() for v in videos}) != len(videos):
        raise ConfigError("--video: a clip is given twice")
    several = len(videos) > 1
    outputs: dict[str, str | None] = {"--json": args.json}
    for v in videos:
        for option, path in (("--sheet", args.sheet), ("--write-reference", args.write_reference)):
            if path is not None:
                outputs[f"{option} ({Path(v).name})"] = str(fe.per_clip_path(path, v, several))
    # inputs first, so that an output naming one is refused: no output may replace a clip,
    # nor a hand-reviewed reference (--json, --sheet or --write-reference onto it is lost work)
    check_distinct({**{f"--video {v}": v for v in videos}, **outputs})
    check_distinct({**{f"--reference {r}": r for r in args.reference or []}, **outputs})
    for option, path in outputs.items():
        if path is not None:
            check_writable(path, option.split()[0])
    # references: each to the clip of its 'video' name, refused before any work
    refs: dict[str, fe.Reference] = {}
    names: dict[str, list[str]] = {}
    for v in videos:
        names.setdefault(Path(v).name, []).append(v)
    for r in args.reference or []:
        ref = fe.load_reference(r)
        if ref.video not in names:
            raise ConfigError(f"--reference {r}: a reference for {ref.video!r}, which is not "
                              f"among the --video clips ({', '.join(names)})")
        if len(names[ref.video]) > 1:
            raise ConfigError(f"--reference {r}: a reference names its clip by file name only "
                              f"and {len(names[ref.video])} --video clips are called "
                              f"{ref.video!r} ({', '.join(names[ref.video])}); give them "
                              f"distinct names (rename or link one) and set 'video' to match")
        if ref.video in refs:
            raise ConfigError(f"--reference: two references for {ref.video!r} "
                              f"({refs[ref.video].path} and {r})")
        refs[ref.video] = ref
    if refs and args.every is not None:
        import logging

        logging.getLogger("edge.bench").warning(
            "--every %d does not apply to %s: a reference's own frames are evaluated",
            args.every, ", ".join(sorted(refs)))
    every = fe.DEFAULT_EVERY if args.every is None else args.every
    model = None
    if args.model is not None:
        model = fe.FootageModel(args.model, precision=args.precision, score_threshold=args.score,
                                backend=args.backend, threads=args.threads)
    rows = []
    try:
        for v in videos:
            ref = refs.get(Path(v).name)
            people = None
            if args.write_reference is not None:
                written, people = fe.background_reference(v, every, args.max_frames,
                                                          progress=True)
                out = fe.per_clip_path(args.write_reference, v, several)
                fe.write_reference(out, written)
                print(f"{Path(v).name}: background-subtraction reference of "
                      f"{len(written.frames)} frames written to {out}; review it (static "
                      f"camera only, merged people undercounted)")
            if model is not None:
                sheet = None if args.sheet is None else fe.per_clip_path(args.sheet, v, several)
                rows.append(fe.evaluate_clip(model, v, ref, every=every, iou_threshold=args.iou,
                                             max_frames=args.max_frames, sheet=sheet,
                                             people=people if ref is None else None))
    finally:
        if model is not None:
            model.close()
    if not rows:
        return 0
    print(fe.table(rows))
    for r in rows:
        if r["sheet"]:
            print(f"contact sheet: {r['sheet']}")
    if args.json is not None:
        argv = getattr(args, "argv", None)
        report = {"command": "edge-bench " + " ".join(
            shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
            "clips": rows}
        fe.write_output(args.json, (json.dumps(report, indent=2) + "\n").encode())
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    import signal
    import threading

    from edge.bench import soak
    from edge.runtime.sinks import check_distinct, check_writable

    _name(args.model, "--model", "an export or engine folder, or 'demo'")
    for option in ("video", "jsonl", "output", "json", "plot"):
        _name(getattr(args, option), f"--{option}", "a file name")
    if args.frames is not None and args.minutes is not None:
        raise ConfigError(f"--frames {args.frames} and --minutes {args.minutes:g}: give one "
                          f"(the run ends at the first window boundary past it)")
    if args.minutes is not None and not (math.isfinite(args.minutes) and args.minutes > 0):
        raise ConfigError(f"--minutes takes a duration above 0 (e.g. 60), got {args.minutes:g}")
    _at_least(args.frames, "--frames", 1, "at least 1 frame (e.g. 30000)")
    _at_least(args.window, "--window", 10, "at least 10 frames per window (e.g. 1000)")
    _at_least(args.warmup_windows, "--warmup-windows", 0, "0 or more windows")
    _at_least(args.threads, "--threads", 1,
              f"at least 1 core (omit it to use all {os.cpu_count() or 1})")
    _at_least(args.per_frames, "--per-frames", 1, "at least 1 frame (e.g. 20000)")
    if not (math.isfinite(args.max_rss_growth_mb) and args.max_rss_growth_mb > 0):
        raise ConfigError(f"--max-rss-growth-mb takes megabytes above 0 (e.g. 5), got "
                          f"{args.max_rss_growth_mb:g}")
    if args.demo_size is not None and args.video is not None:
        raise ConfigError("--demo-size applies to the demo scene only; this soak reads --video: "
                          "drop --demo-size")
    frames = args.frames if args.frames is not None or args.minutes is not None else 30_000
    if frames is not None and frames // args.window - args.warmup_windows < soak.MIN_FITTED:
        need = (args.warmup_windows + soak.MIN_FITTED) * args.window
        raise ConfigError(f"--frames {frames} gives {frames // args.window} window(s) of "
                          f"{args.window}; the slope needs {args.warmup_windows} warm-up + "
                          f"{soak.MIN_FITTED} (--frames {need} or more, or a smaller --window)")
    if frames is not None and frames % args.window:
        raise ConfigError(f"--frames {frames} is not a whole number of --window {args.window} "
                          f"frames; use --frames {frames - frames % args.window} or "
                          f"{frames - frames % args.window + args.window}")
    if args.no_jsonl and args.jsonl != os.devnull:
        raise ConfigError(f"--jsonl {args.jsonl} and --no-jsonl: give one")
    jsonl = None if args.no_jsonl else args.jsonl
    for option, value in (("--json", args.json), ("--plot", args.plot)):
        if value is not None:
            check_writable(value, option)
    # a URL is no file an output could overwrite (and the refusal would show it whole)
    check_distinct({"--video": None if args.video is None or "://" in args.video
                    else args.video, "--jsonl": jsonl, "--output": args.output,
                    "--json": args.json, "--plot": args.plot})
    if args.plot is not None:  # fail now, not after an hour of soak
        from edge.optional import require

        require("matplotlib", "the soak plot (pip install 'edge-seg[bench]')")
    soak.check_platform()
    from edge.cli.run import quiet_video_backends
    from edge.runtime.sources import redact_text

    # a URL with credentials: OpenCV's and FFmpeg's own messages stay off even with -v
    # (they can print the password); edge-bench's show it redacted
    quiet_video_backends(args.verbose > 0, secret=args.video is not None
                         and redact_text(args.video) != args.video)
    opts = soak.SoakOptions(model=args.model, video=args.video,
                            demo_size=tuple(args.demo_size or (640, 640)), frames=frames,
                            minutes=args.minutes, window=args.window, threads=args.threads,
                            backend=args.backend, precision=args.precision, jsonl=jsonl,
                            output=args.output,
                            limits=soak.Limits(args.max_rss_growth_mb, args.per_frames,
                                               args.warmup_windows))
    stop = threading.Event()
    previous = {}

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        report = soak.run_soak(opts, stop, progress=True,
                               announce=lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    argv = getattr(args, "argv", None)
    report = {"command": "edge-bench " + " ".join(  # as typed, credentials redacted
        shlex.quote(redact_text(a)) for a in (sys.argv[1:] if argv is None else argv)),
        **report}
    print(soak.table(report))
    if args.json is not None:
        from edge import atomic

        atomic.write_text(args.json, json.dumps(report, indent=2) + "\n")
    if args.plot is not None and report["windows"]:
        soak.plot(report, args.plot)
    if report["interrupted"]:
        print("edge-bench: interrupted: the windows above are those completed",
              file=sys.stderr)
        return 130
    result = report["result"]
    if not result["ok"]:
        print("edge-bench: soak FAILED: " + "; ".join(result["reasons"]), file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("edge-bench", __doc__ or "")
    g = parser.add_argument_group(
        "the benchmark (edge-bench with no command)",
        "Per configuration, precision and instance count: per-stage p50/p90/p99, FPS, "
        "sequential vs parallel branches, peak RSS, parameters, size on disk, activation "
        "memory, share of the machine's physical peak (and the achieved ONNX Runtime matmul "
        "peak); masks per scripted person; accuracy only where measured in the run; "
        "PyTorch eager and Mask R-CNN peers; the thesis's rows in their own reference table.")
    g.add_argument("--model", nargs="+", metavar="DIR",
                   help="export folders of trained models, or 'demo' (the shipped model); "
                        "accuracy measured on --data, or for demo without --data on generated "
                        "held-out scenes")
    g.add_argument("--configs", default=None,
                   help="'all' (the thesis's models), 'seeds' (the RoI-masked nets, ICNet, "
                        "DeepLab, SegNet, hourglass of seeds 000-004), 'none', or comma-separated zoo names (default "
                        "ssd-isb-multi-shape; none with --model, which 'none' needs)")
    g.add_argument("--backend", default="onnxruntime", choices=("onnxruntime", "tensorrt"))
    g.add_argument("--precision", default="fp32,int8", help="comma list (default fp32,int8)")
    g.add_argument("--input-size", type=int, default=640,
                   help="square input of SSD-ISB zoo models (default 640)")
    g.add_argument("--semantic-size", nargs=2, type=int, metavar=("H", "W"),
                   help="input of FCN zoo models (default: the zoo's 512 1024)")
    g.add_argument("--alpha", type=float,
                   help="MobileNet depth multiplier for zoo models (default: the zoo's, 1.0 "
                        "for SSD-ISB and 0.5 for FCNs)")
    g.add_argument("--instances", default="0,10,30",
                   help="instances per frame, comma-separated; 0 is a frame with none "
                        "(default 0,10,30)")
    g.add_argument("--frames", type=int, default=30,
                   help="timed frames per row, at least 1 (after warm-up; default 30)")
    g.add_argument("--threads", type=int, help="cores to use, at least 1 (default: all)")
    g.add_argument("--data", help="dataset the accuracy of --model rows is measured on")
    g.add_argument("--holdout-images", type=int, default=50, metavar="N",
                   help="generated held-out scenes the demo model's accuracy is measured on "
                        "without --data (seed 4242, the demo's input size; default 50)")
    g.add_argument("--size-curve", metavar="S1,S2",
                   help="also time ssd-isb-multi-shape (else the first SSD-ISB configuration) "
                        "at these square input sizes (multiples of 32), FP32, 10 instances "
                        "(else the largest --instances); empty: no curve")
    g.add_argument("--no-peers", action="store_true", help="skip PyTorch eager and Mask R-CNN")
    g.add_argument("--budget-ms", type=float, metavar="X",
                   help="name the configuration with the highest measured accuracy meeting X "
                        "ms per frame (p50, X > 0)")
    g.add_argument("--json", metavar="F", help="write {machine, rows, ...} as JSON")
    g.add_argument("--markdown", metavar="F", help="write the tables as Markdown")
    g.add_argument("--plot", metavar="F.png", help="write the figure")
    parser.set_defaults(handler=cmd_suite)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    p = sub.add_parser("geometry", help="time the NumPy geometry stages per branch configuration",
                       description="Time SSD post-processing, branch assignment, crop gather and "
                                   "mask pasting (NumPy reference path) on seeded synthetic "
                                   "detections.")
    p.add_argument("--configs", default="all", help="'all' or comma-separated SSD-ISB names")
    p.add_argument("--instances", default="10,30",
                   help="detections per frame, comma-separated; 0 is a frame with none")
    p.add_argument("--repeats", type=int, default=30, help="timed runs per row (after warm-up)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic detections "
                                                      "(0 or more; default 0)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")
    p.set_defaults(handler=cmd_geometry)

    p = sub.add_parser("onnx", help="ONNX Runtime latency of an export, per precision",
                       description="Times the detector (or FCN) at batch 1 and every branch "
                                   "with --boxes crops through ONNX Runtime on the CPU, for "
                                   "each precision; the last column is first / last.")
    p.add_argument("--model", required=True, help="export or calibrate output folder")
    p.add_argument("--precision", default="fp32", help="comma list, e.g. fp32,int8")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--boxes", type=int, default=8,
                   help="crops per branch call (default 8; 0 times the detector alone)")
    p.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: all)")
    p.add_argument("--json", metavar="FILE")
    p.set_defaults(handler=cmd_onnx)

    p = sub.add_parser("kernels", help="CUDA kernels vs their NumPy references, with GB/s",
                       description="Runs every CUDA kernel (pre-processing, crop gather, mask "
                                   "paste, overlay blend) on the GPU at realistic sizes, checks "
                                   "it against its NumPy reference and reports GB/s against the "
                                   "card's theoretical memory bandwidth. Needs a GPU with CuPy "
                                   "or pycuda.")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--json", metavar="FILE")
    p.set_defaults(handler=cmd_kernels)

    p = sub.add_parser("gpucheck", help="GPU check without TensorRT: kernels, and the GPU "
                                        "pipeline's kernels around ONNX Runtime, one report",
                       description="For any CUDA machine with CuPy or pycuda (no TensorRT): "
                                   "records the GPU, driver and libraries, checks every CUDA "
                                   "kernel against NumPy with GB/s against the card's "
                                   "bandwidth, and runs the GPU pipeline's pre-processing, "
                                   "crop and paste kernels around ONNX Runtime networks on "
                                   "the demo model and a synthetic scene, compared with the "
                                   "ONNX Runtime pipeline. Writes gpucheck.md and "
                                   "gpucheck.json; PASS (0), FAIL (2) or INCOMPLETE (0).")
    p.add_argument("--out", default="gpucheck", help="report folder (default ./gpucheck)")
    p.add_argument("--model", default="demo",
                   help="SSD-ISB export folder for the pipeline check (default: demo)")
    p.add_argument("--frames", type=int, default=3, help="synthetic frames (default 3)")
    p.add_argument("--size", nargs=2, type=int, metavar=("H", "W"),
                   help="synthetic frame size (default 480 640)")
    p.add_argument("--repeats", type=int, default=20, help="timed runs per kernel (default 20)")
    p.add_argument("--quick", action="store_true",
                   help="small kernel sizes: a smoke check in seconds (GB/s not meaningful)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    p.set_defaults(handler=cmd_gpucheck)

    p = sub.add_parser("selftest", help="device self-test: engines vs ONNX Runtime, kernels, "
                                        "timings, one report",
                       description="For a bug report from a real device: records the "
                                   "environment, checks the CUDA kernels, builds the TensorRT "
                                   "engines of an export and compares every output with ONNX "
                                   "Runtime (per-output tolerances), times every stage, and "
                                   "writes selftest.md and selftest.json. Parts that cannot run "
                                   "(no GPU, no TensorRT) are listed as skipped (INCOMPLETE, "
                                   "exit 0); a part that breaks or disagrees is FAIL (exit 2).")
    p.add_argument("--export", required=True, help="export folder (FP32 graphs at least)")
    p.add_argument("--out", default="selftest", help="report folder (default ./selftest)")
    p.add_argument("--precision", default="fp32,fp16", help="comma list of precisions")
    p.add_argument("--engines", help="engine folder to build into (default OUT/engines)")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--holdout", metavar="DIR",
                   help="held-out dataset for the engines' accuracy vs FP32 (default: "
                        "synthetic scenes generated here, for person / synthetic-class "
                        "models); INT8 past the export's gate --max-drop FAILs")
    p.add_argument("--holdout-images", type=int, default=24, metavar="N",
                   help="scenes to generate when no --holdout is given (default 24)")
    p.set_defaults(handler=cmd_selftest)

    p = sub.add_parser("footage", help="people found in real video: recall, false detections "
                                       "per frame, mask quality, contact sheet",
                       description="Runs an instance-segmentation model (as edge-run runs it) "
                                   "on every N-th frame of real videos and scores it against "
                                   "a per-frame reference of person boxes: people visible, "
                                   "found (matched greedily by box IoU), recall, false "
                                   "detections per frame and, on static-camera clips, an "
                                   "approximate mask quality (IoU of each found person's mask "
                                   "with the background-subtraction foreground inside the "
                                   "reference box). Without --reference the reference is made "
                                   "by background subtraction: it needs a STATIC camera and "
                                   "undercounts people walking together (merged blobs), and "
                                   "its boxes are loose (hence the low default --iou). One "
                                   "table row per clip; exit 2 on a missing or unreadable "
                                   "video, a reference for another clip (references name "
                                   "their clip by file name), an output onto a --video or "
                                   "--reference file, or a still image or a clip of fewer "
                                   "than 3 distinct frames without a hand --reference.")
    p.add_argument("--model", help="export or engine folder, a .npz/.pt weights file, or "
                                   "'demo' (the shipped model, ONNX Runtime on the CPU)")
    p.add_argument("--video", action="append", required=True, metavar="PATH",
                   help="a video file; repeat for several clips (one row each)")
    p.add_argument("--reference", action="append", metavar="R.json",
                   help="per-frame person boxes (hand-written or reviewed), matched to the "
                        "clip of its 'video' file name; repeatable; its frames are the ones "
                        "evaluated")
    p.add_argument("--every", type=int, metavar="N",
                   help="evaluate every N-th frame when there is no reference (default 10)")
    p.add_argument("--score", type=float, metavar="S",
                   help="detection score threshold (default: the model's own, what edge-run "
                        "shows; 0.3 for the demo)")
    p.add_argument("--iou", type=float, default=0.3, metavar="T",
                   help="box IoU for a detection to match a reference box (default 0.3: "
                        "background-subtraction boxes of a static camera are loose)")
    p.add_argument("--max-frames", type=int, metavar="N",
                   help="evaluate at most N frames, spread evenly over the clip")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"),
                   help="graphs to run, where the export has them (default fp32)")
    p.add_argument("--backend", default="auto", choices=("auto", "tensorrt", "onnxruntime"),
                   help="auto = TensorRT when the folder has engines and TensorRT imports")
    p.add_argument("--threads", type=int, metavar="N", help="CPU cores to use (default: all)")
    p.add_argument("--sheet", metavar="OUT.jpg",
                   help="contact sheet of up to 12 evaluated frames spread over the clip "
                        "(several clips: OUT-<clip>.jpg)")
    p.add_argument("--json", metavar="FILE", help="write {command, clips: [row per clip]}")
    p.add_argument("--write-reference", metavar="R.json",
                   help="write the clip's background-subtraction reference for review "
                        "(several clips: R-<clip>.json); runs without --model too")
    p.set_defaults(handler=cmd_footage)

    p = sub.add_parser("soak", help="tens of thousands of frames through edge-run's loop: RSS "
                                    "slope, FPS drift, p99 over time, fds and threads",
                       description="Runs a model on the demo scene (or a looped --video) "
                                   "through exactly what edge-run runs, headless, JSONL on "
                                   "(to /dev/null unless --jsonl FILE) and video off, and "
                                   "every --window frames records the window's FPS and "
                                   "per-frame loop time (p50/p99), resident memory as is and "
                                   "after gc.collect() + malloc_trim(0) (what is still "
                                   "referenced, without the allocator's retention), the peak "
                                   "(VmHWM), open file descriptors and threads. Reports the "
                                   "RSS slope (least squares over the windows after warm-up, "
                                   "MB per 10,000 frames), growth, FPS drift and p99 over "
                                   "time. Exit 0 when the slope projected to --per-frames "
                                   "frames stays within --max-rss-growth-mb and descriptors "
                                   "and threads (less the branch pool's, started lazily) "
                                   "do not keep growing after warm-up (a new high in more "
                                   "than one window; one step is reported, not failed); 1 "
                                   "(with the reason) otherwise; 2 bad options; 130 "
                                   "interrupted (the windows completed are reported). See "
                                   "docs/runtime.md.")
    p.add_argument("--model", default="demo",
                   help="export or engine folder, or 'demo' (the shipped model; default)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--demo", action="store_true",
                     help="the built-in moving scene with people (the default source)")
    src.add_argument("--video", metavar="FILE", help="a video file (or http(s) URL, shown "
                                                     "without its password), read again from "
                                                     "its start whenever it ends")
    p.add_argument("--demo-size", nargs=2, type=int, metavar=("H", "W"),
                   help="demo frame height and width (default 640 640; demo only)")
    p.add_argument("--backend", default="auto", choices=("auto", "tensorrt", "onnxruntime"))
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    p.add_argument("--threads", type=int, metavar="N", help="CPU cores to use (default: all)")
    p.add_argument("--frames", type=int, metavar="N",
                   help="frames to run, a whole number of windows (default 30000)")
    p.add_argument("--minutes", type=float, metavar="M",
                   help="run for M minutes instead (ends at the first window boundary past it)")
    p.add_argument("--window", type=int, default=1000, metavar="N",
                   help="frames per sample (default 1000)")
    p.add_argument("--warmup-windows", type=int, default=2, metavar="K",
                   help="windows left out of the slope and drift (default 2)")
    p.add_argument("--max-rss-growth-mb", type=float, default=5.0, metavar="MB",
                   help="allowed RSS growth per --per-frames frames, from the slope (default 5)")
    p.add_argument("--per-frames", type=int, default=20_000, metavar="N",
                   help="frames the growth limit is per (default 20000)")
    p.add_argument("--jsonl", default=os.devnull, metavar="FILE.jsonl",
                   help="where the per-frame JSONL goes (default /dev/null: records are built, "
                        "encoded and written, nothing kept)")
    p.add_argument("--no-jsonl", action="store_true", help="no JSONL sink")
    p.add_argument("--output", metavar="FILE.mp4",
                   help="also render and write the annotated video (off by default, as on a "
                        "field camera)")
    p.add_argument("--json", metavar="FILE", help="write the report (windows, result) as JSON")
    p.add_argument("--plot", metavar="FILE.png",
                   help="RSS, FPS and p50/p99 against frames (needs matplotlib: pip install "
                        "'edge-seg[bench]')")
    p.set_defaults(handler=cmd_soak)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.set_defaults(argv=list(sys.argv[1:] if argv is None else argv))
    return run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
