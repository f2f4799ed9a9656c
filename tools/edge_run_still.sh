#!/usr/bin/env bash
# Regenerate docs/images/edge-run-demo.jpg: frame 150 of README's main job
# (edge-run --demo --output demo.mp4), overlay and labels as a user sees them.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/images/edge-run-demo.jpg}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
edge-run --demo --frames 151 --headless --output "$tmp/demo.mp4"
python3 - "$tmp/demo.mp4" "$OUT" <<'PY'
import sys

import cv2

cap = cv2.VideoCapture(sys.argv[1])
cap.set(cv2.CAP_PROP_POS_FRAMES, 150)
ok, frame = cap.read()
if not ok:
    sys.exit(f"{sys.argv[1]}: frame 150 unreadable")
cv2.imwrite(sys.argv[2], frame, [cv2.IMWRITE_JPEG_QUALITY, 88])
print(f"wrote {sys.argv[2]}")
PY
