"""``edge-bench``: latency, memory and accuracy benchmarks that print figures.

With no command it runs the benchmark of the whole pipeline per branch configuration
and FCN variant (see the options below); the commands measure parts.
It measures the host-side geometry stages (the NumPy reference path of the runtime)
per SSD-ISB branch configuration, ONNX Runtime latency of exports per precision, the CUDA
kernels (``kernels``) and, on a device, the whole TensorRT stack (``selftest``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from edge import catalog
from edge.cli.base import make_parser, parse_precisions, run
from edge.errors import ConfigError

STAGES = ("postprocess", "assign", "crop", "paste")


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} takes comma-separated integers, got {text!r}") from None


def cmd_geometry(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edge.bench.geometry import bench_config

    names = list(catalog.INSTANCE_CONFIGS) if args.configs == "all" else args.configs.split(",")
    for n in names:
        if n not in catalog.INSTANCE_CONFIGS:
            raise ConfigError(f"unknown SSD-ISB configuration {n!r}; known: "
                              f"{', '.join(catalog.INSTANCE_CONFIGS)}")
    counts = _ints(args.instances, "--instances")
    jobs = [(n, k) for n in names for k in counts]
    rows = [bench_config(n, k, args.repeats, seed=args.seed)
            for n, k in tqdm(jobs, desc="geometry", unit="run", disable=None)]
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    print(f"{'config':28} {'inst':>4} {'masks':>5} " + " ".join(f"{s + ' p50':>15}" for s in STAGES))
    for r in rows:
        cells = " ".join(f"{r['stages_ms'][s]['p50']:>12.3f} ms" for s in STAGES)
        print(f"{r['config']:28} {r['instances']:>4} {r['masked']:>5} {cells}")
    return 0


def cmd_onnx(args: argparse.Namespace) -> int:
    from edge.bench.onnx_models import bench_export

    precisions = parse_precisions(args.precision)
    rows = [bench_export(args.model, p, args.repeats, args.boxes, args.threads)
            for p in precisions]
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    stages = list(rows[0]["stages_ms"])
    print(f"{'graph':22} " + " ".join(f"{p + ' p50 ms':>14}" for p in precisions)
          + (f" {'speed-up':>9}" if len(rows) > 1 else ""))
    for s in stages:
        vals = [r["stages_ms"][s]["p50"] for r in rows]
        speed = f" {vals[0] / vals[-1]:>8.2f}x" if len(rows) > 1 else ""
        print(f"{s:22} " + " ".join(f"{v:>14.2f}" for v in vals) + speed)
    return 0


def cmd_kernels(args: argparse.Namespace) -> int:
    from edge.bench.kernels import run_kernels

    res = run_kernels(args.repeats)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    print(f"{res['device']} ({res['api']}), theoretical bandwidth {res['peak_gb_s']:.0f} GB/s")
    for r in res["rows"]:
        print(f"  {r['kernel']:26} {r['size']:22} {'ok' if r['ok'] else 'FAIL':4} "
              f"{r['ms']:8.3f} ms {r['gb_s']:8.1f} GB/s "
              f"({100 * r['gb_s'] / max(res['peak_gb_s'], 1e-9):.0f}% of peak)")
    if not all(r["ok"] for r in res["rows"]):
        raise ConfigError("a CUDA kernel disagrees with its NumPy reference (see above)")
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from edge.bench.selftest import run_selftest

    precisions = parse_precisions(args.precision)
    report = run_selftest(args.export, args.out, precisions, args.engines, args.repeats)
    print(f"self-test {report['status'].upper()}: report in "
          f"{Path(args.out) / 'selftest.md'} (and selftest.json)")
    for s in report["skipped"]:
        print(f"  skipped: {s}")
    if not report["ok"]:
        raise ConfigError(f"the self-test found disagreements; attach {args.out}/selftest.md "
                          f"to a bug report")
    return 0


def cmd_suite(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edge.bench.report import markdown, plot, write_markdown
    from edge.bench.suite import BenchOptions, choose_for_budget, run_suite

    if args.configs == "all":
        configs = list(catalog.INSTANCE_CONFIGS) + list(catalog.SEMANTIC_CONFIGS)
    elif args.configs in ("", "none") or (args.configs is None and args.model):
        configs = []
    else:
        configs = [c.strip() for c in (args.configs or "ssd-isb-multi-shape").split(",")
                   if c.strip()]
    precisions = parse_precisions(args.precision)
    for out in (args.json, args.markdown, args.plot):
        if out:
            from edge.runtime.sinks import check_writable

            check_writable(out, "the report")
    opts = BenchOptions(configs=configs, models=args.model or [], backend=args.backend,
                        precisions=precisions, input_size=args.input_size, alpha=args.alpha,
                        instances=_ints(args.instances, "--instances"), frames=args.frames,
                        threads=args.threads, data=args.data, peers=not args.no_peers,
                        sizes=_ints(args.size_curve, "--size-curve") if args.size_curve else [],
                        semantic_size=tuple(args.semantic_size) if args.semantic_size else None)
    bar = tqdm(desc="edge-bench", unit="row", disable=None)

    def progress(msg: str) -> None:
        bar.set_postfix_str(msg)
        bar.update(1)

    try:
        report = run_suite(opts, progress)
    finally:
        bar.close()
    if args.budget_ms is not None:
        report["budget"] = {"budget_ms": args.budget_ms}
        for task in ("instance", "semantic"):
            best = choose_for_budget(report["rows"], args.budget_ms, task)
            report["budget"][task] = None if best is None else {
                **{k: best[k] for k in ("config", "precision", "instances", "accuracy",
                                        "accuracy_source")},
                "frame_p50_ms": best["frame_ms"]["p50"]}
    if args.json:
        from edge import atomic

        atomic.write_text(args.json, json.dumps(report, indent=2) + "\n")
    report["command"] = "edge-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if args.markdown:
        header = ""
        if args.plot:
            rel = os.path.relpath(args.plot, os.path.dirname(os.path.abspath(args.markdown)))
            header = f"![speed, latency curves, speed/accuracy plane, stage breakdown]({rel})\n\n"
        write_markdown(report, args.markdown, args.budget_ms, header=header)
    if args.plot:
        plot(report, args.plot)
    print(markdown(report, args.budget_ms))
    if args.budget_ms is not None and not (report["budget"]["instance"]
                                           or report["budget"]["semantic"]):
        raise ConfigError(f"no measured configuration with an accuracy meets "
                          f"{args.budget_ms:g} ms on this machine")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("edge-bench", __doc__ or "")
    g = parser.add_argument_group(
        "the benchmark (edge-bench with no command)",
        "Per configuration, precision and instance count: per-stage p50/p90/p99, FPS, "
        "sequential vs parallel branches, peak RSS, parameters, size on disk, activation "
        "memory, share of the machine's peak; PyTorch eager and Mask R-CNN peers; the "
        "thesis's rows as reference lines.")
    g.add_argument("--model", nargs="+", metavar="DIR",
                   help="export folders of trained models (accuracy with --data)")
    g.add_argument("--configs", default=None,
                   help="'all', or comma-separated zoo names (default ssd-isb-multi-shape; "
                        "none with --model)")
    g.add_argument("--backend", default="onnxruntime", choices=("onnxruntime", "tensorrt"))
    g.add_argument("--precision", default="fp32,int8", help="comma list (default fp32,int8)")
    g.add_argument("--input-size", type=int, default=640,
                   help="square input of SSD-ISB zoo models (default 640)")
    g.add_argument("--semantic-size", nargs=2, type=int, metavar=("H", "W"),
                   help="input of FCN zoo models (default: the zoo's 512 1024)")
    g.add_argument("--alpha", type=float,
                   help="MobileNet depth multiplier for zoo models (default: the zoo's, 1.0 "
                        "for SSD-ISB and 0.5 for FCNs)")
    g.add_argument("--instances", default="0,10,30", help="instances per frame (default 0,10,30)")
    g.add_argument("--frames", type=int, default=30, help="timed frames per row (after warm-up)")
    g.add_argument("--threads", type=int, help="cores to use (default: all)")
    g.add_argument("--data", help="dataset for accuracy columns of --model rows")
    g.add_argument("--size-curve", metavar="S1,S2",
                   help="also time ssd-isb-multi-shape (else the first configuration) at these square "
                        "input sizes, FP32, 10 instances")
    g.add_argument("--no-peers", action="store_true", help="skip PyTorch eager and Mask R-CNN")
    g.add_argument("--budget-ms", type=float, metavar="X",
                   help="name the most accurate configuration meeting X ms per frame")
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
    p.add_argument("--instances", default="10,30", help="detections per frame, comma-separated")
    p.add_argument("--repeats", type=int, default=30, help="timed runs per row (after warm-up)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")
    p.set_defaults(handler=cmd_geometry)

    p = sub.add_parser("onnx", help="ONNX Runtime latency of an export, per precision",
                       description="Times the detector (or FCN) at batch 1 and every branch "
                                   "with --boxes crops through ONNX Runtime on the CPU, for "
                                   "each precision; the last column is first / last.")
    p.add_argument("--model", required=True, help="export or calibrate output folder")
    p.add_argument("--precision", default="fp32", help="comma list, e.g. fp32,int8")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--boxes", type=int, default=8, help="crops per branch call")
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

    p = sub.add_parser("selftest", help="device self-test: engines vs ONNX Runtime, kernels, "
                                        "timings, one report",
                       description="For a bug report from a real device: records the "
                                   "environment, checks the CUDA kernels, builds the TensorRT "
                                   "engines of an export and compares every output with ONNX "
                                   "Runtime (per-output tolerances), times every stage, and "
                                   "writes selftest.md and selftest.json. Parts that cannot run "
                                   "(no GPU, no TensorRT) are listed as skipped.")
    p.add_argument("--export", required=True, help="export folder (FP32 graphs at least)")
    p.add_argument("--out", default="selftest", help="report folder (default ./selftest)")
    p.add_argument("--precision", default="fp32,fp16", help="comma list of precisions")
    p.add_argument("--engines", help="engine folder to build into (default OUT/engines)")
    p.add_argument("--repeats", type=int, default=30)
    p.set_defaults(handler=cmd_selftest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
