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
