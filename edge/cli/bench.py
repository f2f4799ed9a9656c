"""``edge-bench``: latency, memory and accuracy benchmarks that print figures.

It measures the host-side geometry stages (the NumPy reference path of the runtime)
per SSD-ISB branch configuration, and ONNX Runtime latency of exports per precision;
end-to-end benchmarks join as the runtime lands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from edge import catalog
from edge.cli.base import make_parser, run
from edge.errors import ConfigError

STAGES = ("postprocess", "assign", "crop", "paste")


def cmd_geometry(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edge.bench.geometry import bench_config

    names = list(catalog.INSTANCE_CONFIGS) if args.configs == "all" else args.configs.split(",")
    for n in names:
        if n not in catalog.INSTANCE_CONFIGS:
            raise ConfigError(f"unknown SSD-ISB configuration {n!r}; known: "
                              f"{', '.join(catalog.INSTANCE_CONFIGS)}")
    try:
        counts = [int(v) for v in args.instances.split(",")]
    except ValueError:
        raise ConfigError(f"--instances takes comma-separated integers, got {args.instances!r}") \
            from None
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

    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
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


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("edge-bench", __doc__ or "")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
