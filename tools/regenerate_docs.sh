#!/usr/bin/env bash
# Regenerate every measured figure in README.md and docs/ with the commands that produce
# them, and write the JSON each figure is checked against (tests/test_docs_figures.py):
#
#   1. docs/runtime.json         edge-run rows of docs/runtime.md and README's headline FPS
#                                (tools/runtime_figures.py: one `edge-run ... --summary` per
#                                row, README's main job exactly as README shows it); ~1 min
#   2. docs/images/edge-run-demo.jpg   tools/edge_run_still.sh; ~15 s
#   3. edge/demo/export + its manifest's INT8 gate   tools/package_demo.sh (the one recipe
#                                of the demo's calibration and gate sets); ~3 min
#   4. docs/demo-export-eval.json  `edge-build eval` of the shipped export (FP32, INT8) on
#                                the gate's held-out set; ~2 min
#   5. docs/demo-onnx.json       `edge-bench onnx` of the shipped export; ~30 s
#   6. edge/demo/ssd-isb-demo.npz + ssd-isb-demo-eval.json   tools/train_demo.sh (retrains
#                                Multi-Shape and Single-Branch: ~30 min each on 2 cores);
#                                with --fast only the shipped model is re-evaluated
#   7. docs/benchmarks.{md,json}, docs/images/benchmarks.png   tools/bench_report.sh; ~30 min
#
# Usage: tools/regenerate_docs.sh [--fast] [--skip-bench] [--skip-package]
#   --fast          no retraining (6 re-evaluates the shipped demo model instead)
#   --skip-bench    keep docs/benchmarks.* (step 7)
#   --skip-package  keep the shipped export and its gate (step 3)
# The numbers in the prose of README.md / docs/*.md are then updated by hand from the JSON;
# `python3 -m pytest tests/test_docs_figures.py` says which ones disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
FAST=0 BENCH=1 PACKAGE=1
for a in "$@"; do
    case "$a" in
        --fast) FAST=1 ;;
        --skip-bench) BENCH=0 ;;
        --skip-package) PACKAGE=0 ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "regenerate_docs: unknown option $a" >&2; exit 2 ;;
    esac
done
WORK=${WORK:-demo-work}
export WORK
step() { echo "+ $*" >&2; "$@"; }

step python3 tools/runtime_figures.py --out docs/runtime.json
step bash tools/edge_run_still.sh docs/images/edge-run-demo.jpg
if [ "$PACKAGE" = 1 ]; then
    step bash tools/package_demo.sh
fi
# the gate's held-out set, exactly as tools/package_demo.sh makes it
[ -d "$WORK/holdout" ] || step edge-build dataset synth --out "$WORK/holdout" --images 100 \
    --size 640 640 --seed 99
step edge-build eval --model edge/demo/export --precision fp32,int8 --data "$WORK/holdout" \
    --json docs/demo-export-eval.json
step edge-bench onnx --model edge/demo/export --precision fp32,int8 --threads 2 \
    --json docs/demo-onnx.json
if [ "$FAST" = 1 ]; then
    # the held-out set of tools/train_demo.sh, and the shipped model re-evaluated on it
    [ -d "$WORK/val" ] || step edge-build dataset synth --out "$WORK/val" --images 300 \
        --size 640 640 --seed 20261122
    step edge-build eval --model demo --data "$WORK/val" --json edge/demo/ssd-isb-demo-eval.json
else
    step bash tools/train_demo.sh
fi
if [ "$BENCH" = 1 ]; then
    step bash tools/bench_report.sh
fi
step python3 -m pytest -q tests/test_docs_figures.py
