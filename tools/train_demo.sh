#!/usr/bin/env bash
# Reproduce the shipped demo model (edge/demo/ssd-isb-demo.npz) and its report with the
# project's own commands: synthetic data, training of Multi-Shape and of Single-Branch on
# the same data, evaluation on a held-out set generated with a seed never used in training.
# On a 2-core CPU: about 30 minutes per model.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-demo-work}
STEPS=${STEPS:-3500}
COMMON=(--alpha 0.25 --input-size 480 480 --data "$WORK/train" --steps "$STEPS" --batch-size 8 --seed 0)

edge-build dataset synth --out "$WORK/train" --images 3000 --size 480 480 --seed 1 --overwrite
edge-build dataset synth --out "$WORK/val" --images 300 --size 640 640 --seed 20261122 --overwrite
edge-build train --model ssd-isb-multi-shape "${COMMON[@]}" --out "$WORK/multi-shape"
edge-build train --model ssd-isb-single-branch "${COMMON[@]}" --out "$WORK/single-branch"
for m in multi-shape single-branch; do
    edge-build eval --model "$WORK/$m/weights.npz" --data "$WORK/val" \
        --json "$WORK/$m-eval.json" --results "$WORK/$m-results.json"
done
cp "$WORK/multi-shape/weights.npz" edge/demo/ssd-isb-demo.npz
cp "$WORK/multi-shape-eval.json" edge/demo/ssd-isb-demo-eval.json
