#!/usr/bin/env bash
# Background photos WITHOUT people for `edge-build dataset synth --kind people --backgrounds`,
# from two registry packages (nothing else can be downloaded here):
#   Debian's opencv-doc   (/usr/share/doc/opencv-doc/examples/data: streets, facades, aerial
#                          views, rooms, objects)
#   PyPI's scikit-image   (skimage/data: brick, grass and gravel textures, objects)
# Every photo below was checked by eye to hold no person. The footage the demo is evaluated
# on (vtest.avi, messi5.jpg, basketball*.png, astronaut.png, camera.png: tools/
# fetch_real_media.sh) is deliberately NOT in this list: never train on what you evaluate.
#
# usage: tools/fetch_backgrounds.sh OUT_DIR        (idempotent; ~35 MB of downloads)
set -euo pipefail
OUT=${1:?usage: tools/fetch_backgrounds.sh OUT_DIR}
mkdir -p "$OUT"
OPENCV=(aero1.jpg aero3.jpg aloeL.jpg apple.jpg baboon.jpg board.jpg box_in_scene.png
        building.jpg butterfly.jpg chicky_512.png ela_original.jpg fruits.jpg graf1.png
        graf3.png home.jpg leuvenA.jpg leuvenB.jpg orange.jpg rubberwhale1.png smarties.png
        squirrel_cls.jpg starry_night.jpg stuff.jpg)
SKIMAGE=(brick.png grass.png gravel.png coffee.png chelsea.png rocket.jpg motorcycle_left.png)

have_all() {
    for f in "${OPENCV[@]}"; do [[ -s "$OUT/$f" ]] || return 1; done
    for f in "${SKIMAGE[@]}"; do [[ -s "$OUT/skimage-$f" ]] || return 1; done
}
if have_all; then
    echo "fetch_backgrounds: $OUT already holds all ${#OPENCV[@]}+${#SKIMAGE[@]} photos"
    exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && apt-get download opencv-doc >/dev/null) || {
    echo "fetch_backgrounds: 'apt-get download opencv-doc' failed; run 'apt-get update' first" >&2
    exit 1
}
dpkg-deb -x "$TMP"/opencv-doc_*.deb "$TMP/deb"
for f in "${OPENCV[@]}"; do
    cp "$TMP/deb/usr/share/doc/opencv-doc/examples/data/$f" "$OUT/$f"
done

python3 -m pip download --no-deps --only-binary :all: -d "$TMP/whl" scikit-image >/dev/null || {
    echo "fetch_backgrounds: 'pip download scikit-image' failed" >&2
    exit 1
}
python3 - "$TMP/whl" "$OUT" "${SKIMAGE[@]}" <<'EOF'
import sys, zipfile, pathlib
whl = next(pathlib.Path(sys.argv[1]).glob("scikit_image-*.whl"))
out = pathlib.Path(sys.argv[2])
with zipfile.ZipFile(whl) as z:
    for name in sys.argv[3:]:
        (out / f"skimage-{name}").write_bytes(z.read(f"skimage/data/{name}"))
EOF
echo "fetch_backgrounds: wrote ${#OPENCV[@]}+${#SKIMAGE[@]} photos to $OUT"
