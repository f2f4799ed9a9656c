#!/usr/bin/env bash
# Install edge-seg with everything its tests and the build pipeline need, into the
# current Python (activate a venv first if you want one). Safe to re-run.
#
# PyTorch: if a torch is already importable it is kept (your CUDA build stays).
# Otherwise $EDGE_TORCH is installed first (default torch==2.13.0, which these
# machines serve as a local CPU wheel in seconds; an unpinned torch would pull
# several GB of CUDA build). Point pip elsewhere with the usual PIP_* variables.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${EDGE_EXTRAS:-runtime,build,bench,dev}

if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "setup: no torch found; installing ${EDGE_TORCH:-torch==2.13.0}" >&2
    "$PY" -m pip install -q "${EDGE_TORCH:-torch==2.13.0}"
fi
"$PY" -m pip install -q -e ".[${EXTRAS}]"
# pyenv only exposes new console scripts after a rehash.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
"$PY" - <<'PY'
import torch, edge
print(f"setup: edge-seg {edge.__version__} with torch {torch.__version__}")
PY

# The fleet tests (tests/test_fleet_loopback.py) start real OpenSSH servers on 127.0.0.1.
# Install Debian's openssh-server when it is missing and this is root on a Debian/Ubuntu
# machine (CI); elsewhere those tests skip and say how to enable them. EDGE_NO_APT=1 skips.
if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ] && [ -z "${EDGE_NO_APT:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing openssh-server for the loopback fleet tests" >&2
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                openssh-server >/dev/null 2>&1; then
            # the package lists may be missing on a fresh image: refresh them once
            (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends openssh-server >/dev/null 2>&1) \
                || echo "setup: WARNING: could not install openssh-server; the loopback fleet" \
                        "tests will skip (apt-get install openssh-server)" >&2
        fi
    else
        echo "setup: no sshd here; the loopback fleet tests will skip (as root:" \
             "apt-get install openssh-server)" >&2
    fi
fi

# The RTSP reconnection tests (tests/test_rtsp_loopback.py) serve a stream on 127.0.0.1
# with GStreamer's RTSP server, run by the system Python (/usr/bin/python3) through
# python3-gi. Install Debian's packages when they are missing and this is root on a
# Debian/Ubuntu machine (CI, where those tests must run: with $CI set they fail instead of
# skipping); elsewhere the tests skip saying what to install. EDGE_NO_APT=1 skips.
RTSP_PKGS="python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-base"
rtsp_ok() {
    [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import gi; gi.require_version('Gst', '1.0'); \
gi.require_version('GstRtspServer', '1.0'); from gi.repository import Gst, GstRtspServer; \
Gst.init(None); assert Gst.ElementFactory.find('rtpjpegpay') and Gst.ElementFactory.find('jpegparse')" \
        >/dev/null 2>&1
}
if ! rtsp_ok && [ -z "${EDGE_NO_APT:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing GStreamer's RTSP server for the loopback RTSP tests" >&2
        # shellcheck disable=SC2086  # the package list is split on purpose
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                $RTSP_PKGS >/dev/null 2>&1; then
            # shellcheck disable=SC2086
            (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends $RTSP_PKGS >/dev/null 2>&1) \
                || echo "setup: WARNING: could not install $RTSP_PKGS; the loopback RTSP" \
                        "tests will skip (apt-get install $RTSP_PKGS)" >&2
        fi
        rtsp_ok || echo "setup: WARNING: /usr/bin/python3 still cannot start GStreamer's RTSP" \
                        "server; the loopback RTSP tests will skip" >&2
    else
        echo "setup: no GStreamer RTSP server here; the loopback RTSP tests will skip (as" \
             "root: apt-get install $RTSP_PKGS)" >&2
    fi
fi
