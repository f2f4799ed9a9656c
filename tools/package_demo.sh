#!/usr/bin/env bash
# Rebuild the demo's shipped export (edge/demo/export/) from edge/demo/ssd-isb-demo.npz. The one
# recipe of the demo's calibration and gate sets (docs/demo-model.md, calibration/ and
# tests/test_docs_figures.py follow it):
# FP32 graphs, the ONNX Runtime INT8 graphs (calibrated on 500 synthetic frames of the
# --kind people scenes the demo is trained on for real cameras, procedural backgrounds
# only so nothing is downloaded, and gated on a held-out set of classic scenes) and the TensorRT calibration caches, so `edge-run --demo` needs
# neither PyTorch nor a build step. FP16 and TensorRT Q/DQ graphs are left out to keep the
# wheel small: `edge-build export --model demo` makes them. About 3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-demo-work}
mkdir -p "$WORK"
[ -d "$WORK/calib" ] || edge-build dataset synth --out "$WORK/calib" --images 500 --size 640 640 --seed 7 --kind people
[ -d "$WORK/holdout" ] || edge-build dataset synth --out "$WORK/holdout" --images 100 --size 640 640 --seed 99
edge-build export --model demo --out "$WORK/export"
edge-build calibrate --export "$WORK/export" --set "$WORK/calib/images" --holdout "$WORK/holdout" \
    --out "$WORK/export-int8"
rm -rf edge/demo/export
python3 - "$WORK/export-int8" edge/demo/export <<'PY'
import sys

from edge.export.onnx_export import copy_export

def keep(entry):
    return (entry["precision"] == "fp32" and entry["role"] != "detector_nms") or (
        entry["precision"] == "int8" and entry["file"].endswith((".int8.onnx", ".calib.cache")))

copy_export(sys.argv[1], sys.argv[2], keep)
PY
du -sh edge/demo/export
