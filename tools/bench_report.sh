#!/usr/bin/env bash
# Regenerate docs/benchmarks.md, docs/benchmarks.json and docs/images/benchmarks.png on
# this machine: every SSD-ISB configuration (depth 1.0, 640x640) and FCN variant (the
# zoo's 512x1024, depth 0.5) at FP32 and INT8 through ONNX Runtime, 0/10/30 instances,
# the Multi-Shape latency against input size, PyTorch eager and (with torchvision) Mask
# R-CNN R50-FPN as peers, the thesis's rows as a separate reference table, and the shipped
# demo model (--model demo), whose accuracy is measured in the same run on generated
# held-out scenes: the only rows with accuracy, so the only ones the Pareto front and the
# budget choice consider. About 30 minutes on 2 cores; exports are cached in
# ~/.cache/edge-seg/bench, so a rerun is faster.
# Mask R-CNN needs a torchvision built for the installed torch; without it the row is
# skipped and noted.
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${FRAMES:-30}
edge-bench --configs all --model demo --precision fp32,int8 --input-size 640 --instances 0,10,30 \
    --frames "$FRAMES" --size-curve 320,480,640 --budget-ms "${BUDGET_MS:-150}" \
    --json docs/benchmarks.json --markdown docs/benchmarks.md --plot docs/images/benchmarks.png
