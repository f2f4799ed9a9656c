"""The CUDA kernels of the GPU runtime (``kernels.cu``): compile once, launch on streams.

pycuda (the Jetson runtime) or CuPy (handy on a desktop GPU for the kernel tests) compile
the same CUDA C source; pycuda caches the binary in ``~/.cache/edge-seg/cuda``. Launch
configurations and argument layouts are plain Python below, so they are tested without a
GPU; the kernels' NumPy references are named in ``kernels.cu``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from edge.description import ModelDescription
from edge.errors import MissingDependencyError
from edge.optional import available, require
from edge.preprocess import normalisation

log = logging.getLogger(__name__)

KERNEL_FILE = Path(__file__).with_name("kernels.cu")
BLOCK_2D = (32, 8)
BLOCK_1D = 256
CROP_MODES = {"exact": 0, "resize": 1, "resize_pool": 2}
KERNEL_NAMES = ("preprocess_f32", "preprocess_f16", "crop_gather_f32", "crop_gather_f16",
                "paste_masks", "blend_overlay")


def kernel_source() -> str:
    return KERNEL_FILE.read_text()


def grid_2d(width: int, height: int, block: tuple[int, int] = BLOCK_2D) -> tuple[int, int]:
    """Blocks covering a ``width`` x ``height`` image with one thread per pixel."""
    return (max(1, -(-width // block[0])), max(1, -(-height // block[1])))


def grid_1d(n: int, block: int = BLOCK_1D) -> int:
    return max(1, -(-n // block))


def pack_masks(logits: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
    """Masks of different shapes as one float32 buffer + offsets + heights + widths, the
    layout ``paste_masks`` reads (one upload for all instances)."""
    sizes = [int(m.size) for m in logits]
    offsets = np.zeros(len(logits), np.int32)
    if logits:
        offsets[1:] = np.cumsum(sizes[:-1])
    flat = (np.concatenate([np.asarray(m, np.float32).ravel() for m in logits])
            if logits else np.zeros(0, np.float32))
    mh = np.array([m.shape[0] for m in logits], np.int32)
    mw = np.array([m.shape[1] for m in logits], np.int32)
    return flat, offsets, mh, mw


class CudaKernels:
    """The compiled kernels, launched with device pointers (ints) on a given stream.

    ``api`` is ``pycuda``, ``cupy`` or ``auto`` (pycuda first). A CUDA context must be
    current (the TensorRT backend makes one; CuPy makes its own).
    """

    def __init__(self, api: str = "auto", cache_dir: str | Path | None = None) -> None:
        if api == "auto":
            api = "pycuda" if available("pycuda") else "cupy" if available("cupy") else ""
            if not api:
                raise MissingDependencyError(
                    "the CUDA kernels need pycuda (pip install 'edge-seg[jetson]', with nvcc on "
                    "PATH) or CuPy")
        self.api = api
        source = kernel_source()
        if api == "pycuda":
            compiler = require("pycuda.compiler", "compiling the CUDA kernels")
            cache = Path(cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                         / "edge-seg" / "cuda")
            cache.mkdir(parents=True, exist_ok=True)
            # no_extern_c: the source declares its own extern "C" entry points (templates
            # inside); pycuda keys its cache on the source and options.
            module = compiler.SourceModule(source, no_extern_c=True, cache_dir=str(cache),
                                           options=["-std=c++14"])
            self._fn = {n: module.get_function(n) for n in KERNEL_NAMES}
        elif api == "cupy":
            cp = require("cupy", "compiling the CUDA kernels with CuPy")
            module = cp.RawModule(code=source, options=("-std=c++14",))
            self._fn = {n: module.get_function(n) for n in KERNEL_NAMES}
        else:
            raise ValueError(f"unknown CUDA API {api!r}")

    def _launch(self, name: str, grid: tuple[int, int], block: tuple[int, int],
                args: list[Any], stream: Any = None) -> None:
        fn = self._fn[name]
        if self.api == "pycuda":
            packed = [np.intp(a) if isinstance(a, Pointer) else a for a in args]
            fn(*packed, block=(block[0], block[1], 1), grid=grid, stream=stream)
        else:
            packed = [np.uint64(a) if isinstance(a, Pointer) else a for a in args]
            fn(grid, (block[0], block[1], 1), tuple(packed))

    def preprocess(self, src: int, sh: int, sw: int, pitch: int, dst: int, dh: int, dw: int,
                   desc: ModelDescription, half: bool = False, stream: Any = None) -> None:
        """BGR uint8 (sh, sw) frame with row ``pitch`` bytes -> (3, dh, dw) network input."""
        scale, shift, chan = normalisation(desc)
        args = [Pointer(src), np.int32(sh), np.int32(sw), np.int32(pitch), Pointer(dst),
                np.int32(dh), np.int32(dw), *(np.float32(v) for v in scale),
                *(np.float32(v) for v in shift), *(np.int32(v) for v in chan)]
        self._launch("preprocess_f16" if half else "preprocess_f32", grid_2d(dw, dh), BLOCK_2D,
                     args, stream)

    def crop_gather(self, fmap: int, c: int, h: int, w: int, windows: int, n: int, out: int,
                    oh: int, ow: int, mode: str, half: bool = False, stream: Any = None) -> None:
        """``n`` windows (int32 (n, 4) c0 r0 c1 r1 at ``windows``) of a (c, h, w) map ->
        (n, c, oh, ow) at ``out``."""
        args = [Pointer(fmap), np.int32(c), np.int32(h), np.int32(w), Pointer(windows),
                np.int32(n), Pointer(out), np.int32(oh), np.int32(ow),
                np.int32(CROP_MODES[mode])]
        total = n * c * oh * ow
        self._launch("crop_gather_f16" if half else "crop_gather_f32",
                     (grid_1d(total), 1), (BLOCK_1D, 1), args, stream)

    def paste(self, logits: int, offsets: int, mh: int, mw: int, boxes: int, n: int,
              id_map: int, h: int, w: int, threshold: float, stream: Any = None) -> None:
        """Instance-id map (h, w) int32 from ``n`` packed masks (see :func:`pack_masks`)."""
        args = [Pointer(logits), Pointer(offsets), Pointer(mh), Pointer(mw), Pointer(boxes),
                np.int32(n), Pointer(id_map), np.int32(h), np.int32(w), np.float32(threshold)]
        self._launch("paste_masks", grid_2d(w, h), BLOCK_2D, args, stream)

    def blend(self, frame: int, h: int, w: int, pitch: int, id_map: int, lut: int,
              lut_len: int, alpha: float, stream: Any = None) -> None:
        """Blend instance colours into a BGR frame in place."""
        args = [Pointer(frame), np.int32(h), np.int32(w), np.int32(pitch), Pointer(id_map),
                Pointer(lut), np.int32(lut_len), np.float32(alpha)]
        self._launch("blend_overlay", grid_2d(w, h), BLOCK_2D, args, stream)


class Pointer(int):
    """A device address; packed as a pointer-sized integer for the launch."""
