#!/usr/bin/env python3
"""Rebuild the prebuilt CUDA kernel images in edge/cuda/prebuilt (see tools/build_kernels.sh).

One toolkit per run: ``--nvcc PATH`` (any CUDA) or ``--nvrtc LIBNVRTC`` (NVRTC's shared
library, e.g. from the nvidia-cuda-nvrtc-cu12 wheel: no full toolkit needed). Each run
replaces the images of its CUDA major version and keeps the other's, so CUDA 12 (JetPack 6)
and CUDA 13 (JetPack 7) images come from two runs. manifest.json records the sha256 of
kernels.cu: images of another source are ignored at run time.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "edge" / "cuda" / "kernels.cu"
OUT = ROOT / "edge" / "cuda" / "prebuilt"
# cubin architectures per CUDA major (Jetson: 72 Xavier, 87 Orin, 110 Thor; desktop
# 75..90) and the PTX architecture (the oldest, JIT-compiled by newer drivers)
ARCHS = {12: ([72, 75, 80, 86, 87, 89, 90], 72), 13: ([75, 80, 86, 87, 89, 90, 110], 75)}
OPTIONS = ["-std=c++14"]


def nvcc_version(nvcc: str) -> tuple[int, int]:
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=True).stdout
    major, minor = re.search(r"release (\d+)\.(\d+)", out).groups()
    return int(major), int(minor)


def build_nvcc(nvcc: str, kind: str, arch: int, out: Path) -> None:
    flag = f"-arch=sm_{arch}" if kind == "cubin" else f"-arch=compute_{arch}"
    subprocess.run([nvcc, f"--{kind}", flag, *OPTIONS, str(SOURCE), "-o", str(out)],
                   check=True)


class Nvrtc:
    def __init__(self, lib: str) -> None:
        self.lib = ctypes.CDLL(lib)
        major, minor = ctypes.c_int(), ctypes.c_int()
        self.lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
        self.version = (major.value, minor.value)

    def build(self, kind: str, arch: int, out: Path) -> None:
        lib, prog = self.lib, ctypes.c_void_p()
        src = SOURCE.read_bytes()
        assert lib.nvrtcCreateProgram(ctypes.byref(prog), src, b"kernels.cu", 0, None, None) == 0
        opts = [f"-arch={'sm' if kind == 'cubin' else 'compute'}_{arch}".encode(),
                *(o.encode() for o in OPTIONS)]
        rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        if rc != 0:
            n = ctypes.c_size_t()
            lib.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
            log = ctypes.create_string_buffer(n.value)
            lib.nvrtcGetProgramLog(prog, log)
            sys.exit(f"NVRTC failed for {kind} {arch}:\n{log.value.decode()}")
        get_size, get = ((lib.nvrtcGetCUBINSize, lib.nvrtcGetCUBIN) if kind == "cubin"
                         else (lib.nvrtcGetPTXSize, lib.nvrtcGetPTX))
        n = ctypes.c_size_t()
        get_size(prog, ctypes.byref(n))
        buf = ctypes.create_string_buffer(n.value)
        get(prog, buf)
        data = buf.raw[:n.value]
        out.write_bytes(data.rstrip(b"\0") + b"\n" if kind == "ptx" else data)
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--nvcc", help="path of nvcc")
    group.add_argument("--nvrtc", help="path of libnvrtc.so")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.nvcc:
        version = nvcc_version(args.nvcc)
        tool = "nvcc"
        build = lambda kind, arch, out: build_nvcc(args.nvcc, kind, arch, out)  # noqa: E731
    else:
        nvrtc = Nvrtc(args.nvrtc)
        version, tool, build = nvrtc.version, "nvrtc", nvrtc.build
    major = version[0]
    if major not in ARCHS:
        sys.exit(f"CUDA {major} is not a target here (CUDA 12 = JetPack 6, 13 = JetPack 7)")
    cubins, ptx_arch = ARCHS[major]
    args.out.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256(SOURCE.read_bytes()).hexdigest()
    manifest = args.out / "manifest.json"
    old = json.loads(manifest.read_text()) if manifest.is_file() else {"images": []}
    keep = [e for e in old["images"] if int(e["cuda"].split(".")[0]) != major]
    if keep and old.get("source_sha256") != sha:
        print(f"note: the CUDA {sorted({e['cuda'] for e in keep})} images were built from "
              f"another kernels.cu; dropping them (rebuild with their toolkit)")
        for e in keep:
            (args.out / e["file"]).unlink(missing_ok=True)
        keep = []
    for e in old["images"]:
        if e not in keep:
            (args.out / e["file"]).unlink(missing_ok=True)
    cuda = f"{version[0]}.{version[1]}"
    images = []
    for kind, arch in [("cubin", a) for a in cubins] + [("ptx", ptx_arch)]:
        name = f"kernels.cuda{major}.{'sm' if kind == 'cubin' else 'compute'}_{arch}.{kind}"
        build(kind, arch, args.out / name)
        # a cubin loads on any driver of its major version (minor version compatibility);
        # PTX needs a driver at least as new as the toolkit that wrote it
        min_driver = major * 1000 if kind == "cubin" else major * 1000 + version[1] * 10
        images.append({"file": name, "kind": kind, "arch": arch, "cuda": cuda,
                       "min_driver": min_driver, "tool": tool})
        print(f"  {name}  ({(args.out / name).stat().st_size} bytes)")
    manifest.write_text(json.dumps({"source_sha256": sha, "options": OPTIONS,
                                    "images": sorted(keep + images,
                                                     key=lambda e: e["file"])}, indent=1) + "\n")
    print(f"{manifest}: {len(keep) + len(images)} images")


if __name__ == "__main__":
    main()
