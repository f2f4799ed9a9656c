"""The CUDA kernels of the GPU runtime (``kernels.cu``): load once, launch on streams.

The kernels ship precompiled (``prebuilt/``: cubins per GPU architecture and PTX for newer
ones, for CUDA 12 = JetPack 6 and CUDA 13 = JetPack 7; ``tools/build_kernels.sh`` rebuilds
them), so nothing runs nvcc at start-up: JetPack does not put nvcc on PATH, and pycuda's
``SourceModule`` would run it on every start. The image is picked for the device's compute
capability and the driver's CUDA version (``cuDriverGetVersion``); only when none fits is
the source compiled (nvcc via pycuda, NVRTC via CuPy), with a WARNING. Launch
configurations and argument layouts are plain Python below, so they are tested without a
GPU; the kernels' NumPy references are named in ``kernels.cu``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.description import ModelDescription
from edge.errors import EdgeError, MissingDependencyError
from edge.optional import available, require
from edge.preprocess import normalisation

log = logging.getLogger(__name__)

KERNEL_FILE = Path(__file__).with_name("kernels.cu")
PREBUILT_DIR = Path(__file__).with_name("prebuilt")
BLOCK_2D = (32, 8)
BLOCK_1D = 256
CROP_MODES = {"exact": 0, "resize": 1, "resize_pool": 2}
KERNEL_NAMES = ("preprocess_f32", "preprocess_f16", "crop_gather_f32", "crop_gather_f16",
                "paste_masks", "blend_overlay")


def kernel_source() -> str:
    return KERNEL_FILE.read_text()


def source_sha256() -> str:
    return hashlib.sha256(KERNEL_FILE.read_bytes()).hexdigest()


@dataclass(frozen=True)
class KernelImage:
    """One prebuilt image: a cubin for ``sm_XY`` or PTX for ``compute_XY``, built by CUDA
    ``cuda`` and loadable from driver version ``min_driver`` (cuDriverGetVersion form)."""

    path: Path
    kind: str  # "cubin" | "ptx"
    arch: int  # 87 for sm_87 / compute_87
    cuda: str
    min_driver: int


def prebuilt_images(folder: Path = PREBUILT_DIR) -> list[KernelImage]:
    """The shipped images, or none when they were built from another ``kernels.cu``
    (a stale image would run old kernels)."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return []
    data = json.loads(manifest.read_text())
    if data.get("source_sha256") != source_sha256():
        log.warning("%s: built from another kernels.cu; ignoring the prebuilt kernels (rebuild "
                    "with tools/build_kernels.sh)", manifest)
        return []
    return [KernelImage(folder / e["file"], e["kind"], int(e["arch"]), str(e["cuda"]),
                        int(e["min_driver"])) for e in data["images"]]


def choose_images(images: list[KernelImage], cc: tuple[int, int],
                  driver: int) -> list[KernelImage]:
    """Images this device and driver can load, best first: a cubin of the same major
    architecture and a minor at most the device's (binary compatible), then PTX of an
    architecture at most the device's (JIT-compiled by the driver once, then cached)."""
    arch = cc[0] * 10 + cc[1]
    ok = [i for i in images if i.min_driver <= driver]
    cubins = [i for i in ok if i.kind == "cubin" and i.arch // 10 == cc[0] and i.arch <= arch]
    ptx = [i for i in ok if i.kind == "ptx" and i.arch <= arch]
    cubins.sort(key=lambda i: (i.arch, i.min_driver), reverse=True)
    ptx.sort(key=lambda i: (i.min_driver, i.arch), reverse=True)
    return cubins + ptx


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

    ``api`` is ``pycuda``, ``cupy`` or ``auto`` (pycuda first). With pycuda a CUDA context
    must be current (the TensorRT backend pushes its own); CuPy makes its own. ``image``
    says what was loaded: a prebuilt file name, or ``nvcc``/``nvrtc`` when compiled.
    """

    def __init__(self, api: str = "auto", cache_dir: str | Path | None = None,
                 prebuilt: Path = PREBUILT_DIR) -> None:
        if api == "auto":
            api = "pycuda" if available("pycuda") else "cupy" if available("cupy") else ""
            if not api:
                raise MissingDependencyError(
                    "the CUDA kernels need pycuda (pip install 'edge-seg[jetson]') or CuPy")
        if api not in ("pycuda", "cupy"):
            raise ValueError(f"unknown CUDA API {api!r}")
        self.api = api
        self.image = ""
        module = self._load_prebuilt(prebuilt) or self._compile(cache_dir)
        self._fn = {n: module.get_function(n) for n in KERNEL_NAMES}
        if api == "cupy":
            self._cp = require("cupy", "the CUDA kernels with CuPy")

    def _device(self) -> tuple[tuple[int, int], int]:
        """(compute capability, driver version) of the current device."""
        if self.api == "pycuda":
            drv = require("pycuda.driver", "the CUDA kernels")
            return drv.Context.get_device().compute_capability(), drv.get_driver_version()
        cp = require("cupy", "the CUDA kernels with CuPy")
        cc = str(cp.cuda.Device().compute_capability)
        return (int(cc[:-1]), int(cc[-1])), cp.cuda.runtime.driverGetVersion()

    def _load_prebuilt(self, folder: Path) -> Any:
        cc, driver = self._device()
        for img in choose_images(prebuilt_images(folder), cc, driver):
            try:
                if self.api == "pycuda":
                    drv = require("pycuda.driver", "the CUDA kernels")
                    data = img.path.read_bytes()
                    # cuModuleLoadData reads PTX as a NUL-terminated string
                    module = drv.module_from_buffer(data + b"\0" if img.kind == "ptx" else data)
                else:
                    module = require("cupy").RawModule(path=str(img.path))
            except Exception as exc:  # the driver refused this image: try the next one
                log.info("CUDA kernels: %s did not load (%s: %s)", img.path.name,
                         type(exc).__name__, exc)
                continue
            self.image = img.path.name
            log.debug("CUDA kernels: %s (sm_%d%d, driver %d)", img.path.name, *cc, driver)
            return module
        log.warning("CUDA kernels: no prebuilt image for sm_%d%d with driver %d.%d; compiling "
                    "kernels.cu at start-up instead (seconds per start; rebuild the images with "
                    "tools/build_kernels.sh)", cc[0], cc[1], driver // 1000, driver % 1000 // 10)
        return None

    def _compile(self, cache_dir: str | Path | None) -> Any:
        source = kernel_source()
        if self.api == "cupy":
            self.image = "nvrtc"
            return require("cupy").RawModule(code=source, options=("-std=c++14",))
        compiler = require("pycuda.compiler", "compiling the CUDA kernels")
        if shutil.which("nvcc") is None:
            raise EdgeError("the CUDA kernels have no prebuilt image for this GPU/driver and "
                            "nvcc is not on PATH; run tools/build_kernels.sh, or export "
                            "PATH=/usr/local/cuda/bin:$PATH")
        cache = Path(cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                     / "edge-seg" / "cuda")
        cache.mkdir(parents=True, exist_ok=True)
        self.image = "nvcc"
        try:
            # no_extern_c: the source declares its own extern "C" entry points
            return compiler.SourceModule(source, no_extern_c=True, cache_dir=str(cache),
                                         options=["-std=c++14"])
        except Exception as exc:  # pytools ExecError, pycuda CompileError: not EdgeErrors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise EdgeError(f"compiling the CUDA kernels with nvcc failed ({type(exc).__name__}"
                            f": {first}); run tools/build_kernels.sh for this GPU") from exc

    def _launch(self, name: str, grid: tuple[int, int], block: tuple[int, int],
                args: list[Any], stream: Any = None) -> None:
        """``stream``: a pycuda Stream (pycuda), a CuPy Stream or a raw handle (CuPy); None
        is the legacy default stream."""
        fn = self._fn[name]
        if self.api == "pycuda":
            packed = [np.intp(a) if isinstance(a, Pointer) else a for a in args]
            fn(*packed, block=(block[0], block[1], 1), grid=grid, stream=stream)
            return
        cp = self._cp
        packed = [np.uint64(a) if isinstance(a, Pointer) else a for a in args]
        if stream is None:
            fn(grid, (block[0], block[1], 1), tuple(packed))
            return
        if not isinstance(stream, cp.cuda.Stream):  # a handle (int) or another API's stream
            stream = cp.cuda.ExternalStream(int(getattr(stream, "handle", stream)))
        with stream:  # CuPy launches on the current stream
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
                    oh: int, ow: int, mode: str, half: bool = False, stream: Any = None,
                    host_windows: np.ndarray | None = None) -> None:
        """``n`` windows (int32 (n, 4) c0 r0 c1 r1 at ``windows``) of a (c, h, w) map ->
        (n, c, oh, ow) at ``out``. Pass ``host_windows`` (the same windows on the host) to
        have ``exact`` mode refuse a bad window as the NumPy reference does; on the device
        such a window gives NaN crops."""
        if host_windows is not None:
            check_windows(host_windows, n, (h, w), (oh, ow), mode)
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


def check_windows(windows: np.ndarray, n: int, hw: tuple[int, int], out_hw: tuple[int, int],
                  mode: str) -> None:
    """Refuse windows the kernel cannot crop as :func:`edge.geometry.gather_crops` does."""
    win = np.asarray(windows).reshape(-1, 4)[:n].astype(np.int64)
    if mode not in CROP_MODES:
        raise ValueError(f"unknown crop mode {mode!r}")
    h, w = hw
    if mode == "exact":  # NumPy slices must come out exactly out_hw
        inside = ((win[:, 0] >= 0) & (win[:, 1] >= 0) & (win[:, 2] <= w) & (win[:, 3] <= h)
                  & (win[:, 2] - win[:, 0] == out_hw[1]) & (win[:, 3] - win[:, 1] == out_hw[0]))
    else:  # NumPy slices truncate at the edge but must not be empty
        inside = ((win[:, 0] >= 0) & (win[:, 1] >= 0)
                  & (np.minimum(win[:, 2], w) > win[:, 0]) & (np.minimum(win[:, 3], h) > win[:, 1]))
    if not inside.all():
        c0, r0, c1, r1 = (int(v) for v in win[int(np.argmin(inside))])
        raise ValueError(f"{mode} crop window {(c0, r0, c1, r1)} does not fit a {h}x{w} map "
                         f"with branch input {tuple(out_hw)}")


class Pointer(int):
    """A device address; packed as a pointer-sized integer for the launch."""
