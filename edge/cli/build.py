"""``edge-build``: the workstation build pipeline (models today; data, training, export,
calibration and engines join as subcommands)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from edge import catalog
from edge.cli.base import add_input_size, make_parser, run
from edge.optional import require

DESCRIPTION = "Build pipeline for edge-seg models: zoo, (later) data, training, export, engines."


def _model_row(name: str, args: argparse.Namespace) -> dict[str, Any]:
    torch = require("torch", "edge-build models")

    from edge.models.stats import count_parameters, model_macs
    from edge.models.zoo import build_model

    task_is_semantic = name in catalog.SEMANTIC_CONFIGS
    options: dict[str, Any] = {}
    if args.input_size:
        options["input_size"] = tuple(args.input_size)
    if args.num_classes:
        options["num_classes"] = args.num_classes
    if args.alpha is not None and not (task_is_semantic and name.startswith("squeezenet")):
        options["alpha"] = args.alpha
    if not task_is_semantic:
        options["isb_skip"] = args.isb_skip
    desc = catalog.describe(name, **options)
    with torch.device("meta"):  # shapes only: no weights are allocated or initialised
        model = build_model(desc)
    params = count_parameters(model)
    thesis = catalog.thesis_params(desc)
    macs = model_macs(desc)
    return {
        "name": name,
        "task": desc.task,
        "backbone": desc.backbone,
        "alpha": desc.alpha,
        "input_size": list(desc.input_size),
        "num_classes": desc.num_classes,
        "branches": [b.name for b in desc.branches],
        "params": params,
        "thesis_params": thesis,
        "params_vs_thesis_pct": None if thesis is None else round(100.0 * (params - thesis) / thesis, 2),
        "macs": macs["total"],
        "macs_detail": macs,
        "summary": catalog.summary(name),
    }


def _print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'model':28} {'task':8} {'alpha':>5} {'input':>9} {'params':>10} {'thesis':>10} " \
             f"{'diff':>7} {'GMACs':>7}  branches"
    print(header)
    print("-" * len(header))
    for r in rows:
        thesis = "-" if r["thesis_params"] is None else f"{r['thesis_params']:,}"
        diff = "-" if r["params_vs_thesis_pct"] is None else f"{r['params_vs_thesis_pct']:+.1f}%"
        size = "x".join(str(v) for v in r["input_size"])
        branches = " ".join(r["branches"]) if r["branches"] else "-"
        print(f"{r['name']:28} {r['task']:8} {r['alpha']:>5} {size:>9} {r['params']:>10,} "
              f"{thesis:>10} {diff:>7} {r['macs'] / 1e9:>7.2f}  {branches}")
    print("\nparams: weights + biases + 4 per batch-norm channel (as TensorFlow counted them).\n"
          "SSD-ISB MACs: detector plus one box through every branch.")


def cmd_models(args: argparse.Namespace) -> int:
    names = args.names or catalog.model_names()
    for n in names:
        catalog.summary(n)  # raises ConfigError naming the known models
    rows = [_model_row(n, args) for n in names]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(rows)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("edge-build", DESCRIPTION)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    p = sub.add_parser("models", help="list the model zoo with parameters and MACs",
                       description="List zoo models: task, parameter count beside the thesis's, "
                                   "input size and multiply-adds at that size. Needs PyTorch.")
    p.add_argument("names", nargs="*", metavar="NAME", help="models to list (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    p.add_argument("--alpha", type=float, choices=catalog.ALPHAS,
                   help="MobileNet depth multiplier (default 0.5 semantic, 1.0 SSD-ISB)")
    p.add_argument("--isb-skip", choices=("fcn8", "fcn16", "fcn32"), default="fcn8",
                   help="ISB skip depth for SSD-ISB models (default fcn8)")
    p.add_argument("--num-classes", type=int, help="number of classes (default 19 / 1)")
    add_input_size(p, "network input height and width (multiples of 32)")
    p.set_defaults(handler=cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
