#!/usr/bin/env bash
# Rebuild edge/cuda/prebuilt (the CUDA kernels shipped precompiled, so no nvcc is needed at
# run time): CUDA 13 images (JetPack 7: sm_87 Orin, sm_110 Thor; desktop sm_75..90; PTX
# compute_75) with the nvcc on PATH or $NVCC, and CUDA 12 images (JetPack 6: sm_72, sm_87;
# desktop sm_75..90; PTX compute_72) with NVRTC 12.6 from PyPI's nvidia-cuda-nvrtc-cu12
# wheel, or $NVRTC12 (a libnvrtc.so.12). Run after every change to edge/cuda/kernels.cu;
# tests/test_cuda_kernels.py fails while the images are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
if [[ -z "${NVRTC12:-}" ]]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --quiet --no-deps "nvidia-cuda-nvrtc-cu12==12.6.85" -d "$tmp"
    python3 -m zipfile -e "$tmp"/nvidia_cuda_nvrtc_cu12-*.whl "$tmp/x"
    NVRTC12="$tmp/x/nvidia/cuda_nvrtc/lib/libnvrtc.so.12"
fi
python3 tools/build_kernels.py --nvcc "$NVCC"
python3 tools/build_kernels.py --nvrtc "$NVRTC12"
