"""GPU kernel checks and benchmarks: each CUDA kernel against its NumPy reference, and its
throughput as GB/s against the card's theoretical memory bandwidth.

Runs with CuPy or pycuda (whichever imports and sees a GPU); ``edge-bench kernels``,
``edge-bench gpucheck`` and the self-test call it. The tests in
``tests/test_cuda_kernels.py`` are the same comparisons.

:class:`Device` is a context manager: with pycuda it pushes the primary context and must
pop it on every path, or pycuda aborts at interpreter exit ("context stack was not empty").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge import catalog
from edge.errors import MissingDependencyError
from edge.optional import available

log = logging.getLogger(__name__)

# Jetsons name their board here (the CUDA name is just "Orin" for AGX, NX and Nano)
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")


def board_model(path: Path | None = None) -> str | None:
    """The Jetson board name from the device tree, or None elsewhere (no error)."""
    p = DEVICE_TREE_MODEL if path is None else path
    try:
        return p.read_bytes().rstrip(b"\x00").decode(errors="replace").strip() or None
    except OSError:
        return None


def peak_bandwidth(clock_khz: int | None, bus_bits: int | None) -> tuple[float | None, str]:
    """Theoretical DRAM bandwidth in GB/s (DDR: two transfers per clock), or None and why.

    The inputs come from ``cudaDeviceGetAttribute`` (CUDA 13 removed ``memoryClockRate``
    from ``cudaDeviceProp``; the attribute still exists on 12 and 13)."""
    if not clock_khz or not bus_bits:
        return None, (f"the driver reports memory clock {clock_khz!r} kHz and bus width "
                      f"{bus_bits!r} bits; the theoretical bandwidth is unknown")
    gbs = 2 * clock_khz * 1e3 * bus_bits / 8 / 1e9
    return gbs, f"{clock_khz / 1e3:.0f} MHz x {bus_bits} bit x 2 (DDR)"


class DeviceArray:
    """A device buffer with its shape and dtype (CuPy array or pycuda allocation)."""

    def __init__(self, handle: Any, ptr: int, shape: tuple[int, ...], dtype: Any) -> None:
        self.handle, self.ptr = handle, int(ptr)
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize


class Device:
    """The few device-memory operations the checks need, over CuPy or pycuda.

    Use as a context manager: ``close`` frees every buffer (while the context is still
    current) and pops the pycuda context, also when a check raises.
    """

    def __init__(self, api: str = "auto") -> None:
        self.api = ""
        self.ctx: Any = None
        self._bufs: list[DeviceArray] = []
        self.info: dict[str, Any] = {}
        reasons: list[str] = []
        if api in ("auto", "cupy") and available("cupy"):
            reason = self._open_cupy()
            if reason is None:
                return
            reasons.append(reason)
        if api in ("auto", "pycuda") and available("pycuda.driver"):
            reason = self._open_pycuda()
            if reason is None:
                return
            reasons.append(reason)
        raise MissingDependencyError(
            "the GPU checks need a CUDA GPU with CuPy or pycuda (pip install "
            "'edge-seg[jetson]')" + (f"; {'; '.join(reasons)}" if reasons else ""))

    # ------------------------------------------------------------------ opening
    def _open_cupy(self) -> str | None:
        import cupy as cp

        try:
            if cp.cuda.runtime.getDeviceCount() < 1:
                return "CuPy sees no GPU"
        except cp.cuda.runtime.CUDARuntimeError as exc:
            log.info("CuPy sees no usable GPU: %s", exc)
            return f"CuPy: {exc}"
        self.api, self.cp = "cupy", cp
        props = cp.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        attrs = cp.cuda.Device(0).attributes  # cudaDeviceGetAttribute: same on CUDA 12 and 13
        major, minor = attrs.get("ComputeCapabilityMajor"), attrs.get("ComputeCapabilityMinor")
        self._describe(name.decode() if isinstance(name, bytes) else str(name),
                       f"{major}.{minor}", attrs.get("MemoryClockRate"),
                       attrs.get("GlobalMemoryBusWidth"), bool(attrs.get("Integrated", 0)),
                       attrs.get("MultiProcessorCount"), cp.cuda.runtime.driverGetVersion(),
                       cp.cuda.runtime.runtimeGetVersion(), f"cupy {cp.__version__}")
        return None

    def _open_pycuda(self) -> str | None:
        import pycuda.driver as cuda

        try:
            cuda.init()
            if cuda.Device.count() < 1:
                return "pycuda sees no GPU"
            dev = cuda.Device(0)
        except cuda.Error as exc:
            log.info("pycuda sees no usable GPU: %s", exc)
            return f"pycuda: {exc}"
        self.api, self.cuda = "pycuda", cuda
        self.ctx = dev.retain_primary_context()
        self.ctx.push()
        try:
            attr = cuda.device_attribute
            major, minor = dev.compute_capability()
            import pycuda

            self._describe(dev.name(), f"{major}.{minor}",
                           dev.get_attribute(attr.MEMORY_CLOCK_RATE),
                           dev.get_attribute(attr.GLOBAL_MEMORY_BUS_WIDTH),
                           bool(dev.get_attribute(attr.INTEGRATED)),
                           dev.get_attribute(attr.MULTIPROCESSOR_COUNT),
                           cuda.get_driver_version(), None,
                           f"pycuda {getattr(pycuda, 'VERSION_TEXT', 'present')}")
        except BaseException:
            self.close()
            raise
        return None

    def _describe(self, name: str, cc: str, clock_khz: Any, bus_bits: Any, integrated: bool,
                  sms: Any, driver: Any, runtime: Any, api_version: str) -> None:
        self.name, self.integrated = name, integrated
        self.peak_gbs, why = peak_bandwidth(clock_khz, bus_bits)
        if self.peak_gbs is None:
            log.warning("%s", why)
        self.info = {"gpu": name, "compute_capability": cc, "multiprocessors": sms,
                     "integrated": integrated, "board": board_model(),
                     "driver_version": _cuda_version(driver),
                     "runtime_version": _cuda_version(runtime), "api": api_version,
                     "memory_clock_khz": clock_khz, "memory_bus_bits": bus_bits,
                     "peak_gb_s": self.peak_gbs, "peak_note": why}

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Free the buffers, then pop and release the pycuda context (idempotent)."""
        for b in self._bufs:
            free = getattr(b.handle, "free", None)
            if self.api == "pycuda" and free is not None:
                free()
        self._bufs.clear()
        if self.ctx is not None:
            ctx, self.ctx = self.ctx, None
            try:
                ctx.pop()
            finally:
                ctx.detach()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ memory
    def empty(self, shape: Any, dtype: Any) -> DeviceArray:
        shape = tuple(int(s) for s in np.atleast_1d(shape))
        dtype = np.dtype(dtype)
        if self.api == "cupy":
            a = self.cp.zeros(shape, dtype)
            buf = DeviceArray(a, a.data.ptr, shape, dtype)
        else:
            n = max(int(np.prod(shape)) * dtype.itemsize, 1)
            alloc = self.cuda.mem_alloc(n)
            self.cuda.memcpy_htod(alloc, np.zeros(n, np.uint8))
            buf = DeviceArray(alloc, int(alloc), shape, dtype)
        self._bufs.append(buf)
        return buf

    def put(self, a: np.ndarray) -> DeviceArray:
        a = np.ascontiguousarray(a)
        buf = self.empty(a.shape, a.dtype)
        self.upload(buf, a)
        return buf

    def upload(self, buf: DeviceArray, a: np.ndarray) -> None:
        a = np.ascontiguousarray(a, buf.dtype)
        assert a.nbytes <= buf.nbytes, (a.shape, buf.shape)
        if a.nbytes == 0:
            return
        if self.api == "cupy":
            buf.handle.ravel()[:a.size] = self.cp.asarray(a.ravel())
        else:
            self.cuda.memcpy_htod(buf.handle, a)

    def get(self, buf: DeviceArray) -> np.ndarray:
        if self.api == "cupy":
            return self.cp.asnumpy(buf.handle)
        out = np.empty(buf.shape, buf.dtype)
        if out.nbytes:
            self.cuda.memcpy_dtoh(out, buf.handle)
        return out

    def sync(self) -> None:
        if self.api == "cupy":
            self.cp.cuda.runtime.deviceSynchronize()
        else:
            self.cuda.Context.synchronize()


def _cuda_version(v: Any) -> str | None:
    """CUDA's integer version (12060) as "12.6"."""
    if not isinstance(v, int):
        return None if v is None else str(v)
    return f"{v // 1000}.{v % 1000 // 10}"


@dataclass(frozen=True)
class KernelSizes:
    """Problem sizes of the kernel checks (realistic by default; tiny in the tests)."""

    frame: tuple[int, int] = (1080, 1920)
    model_input: tuple[int, int] = (640, 640)
    channels: int = 512
    fmap: tuple[int, int] = (40, 40)
    boxes: int = 30
    crop: tuple[int, int] = (20, 20)
    max_mask: int = 40

    def label(self) -> dict[str, str]:
        f, i, c = self.frame, self.model_input, self.crop
        return {"pre": f"{f[1]}x{f[0]}->{i[1]}x{i[0]}",
                "crop": f"{self.boxes} x {self.channels}ch -> {c[0]}x{c[1]}",
                "paste": f"{self.boxes} masks -> {f[1]}x{f[0]}", "blend": f"{f[1]}x{f[0]}"}


FULL = KernelSizes()
# a smoke check in seconds (``gpucheck --quick``; the emulated kernels of the tests)
QUICK = KernelSizes(frame=(120, 160), model_input=(96, 96), channels=16, fmap=(12, 12),
                    boxes=6, crop=(6, 6), max_mask=12)


def _time(dev: Device, fn: Callable[[], None], repeats: int) -> float:
    fn()
    dev.sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    dev.sync()
    return (time.perf_counter() - t0) / repeats


def preprocess_tolerance(frame: tuple[int, int], desc: Any) -> float:
    """FP32 pre-processing tolerance: the kernel computes source positions in float32, whose
    spacing at the frame's far edge (1.2e-4 px at 1920) times the steepest step between two
    pixels (255 levels x the largest 1/std) bounds the difference from the reference; never
    below 1e-4. About 2.5e-4 for a 1080p frame, 1.3e-4 at 640 px."""
    from edge.preprocess import normalisation

    scale = float(normalisation(desc)[0].max())
    ulp = float(np.spacing(np.float32(max(frame))))
    return max(1e-4, 1e-5 + ulp * 255.0 * scale)


def run_kernels(repeats: int = 50, sizes: KernelSizes = FULL, dev: Device | None = None
                ) -> dict[str, Any]:
    """Check every kernel against NumPy and time it; opens (and closes) a :class:`Device`
    unless one is given."""
    if dev is None:
        with Device() as own:
            return run_kernels(repeats, sizes, own)
    from edge.cuda.kernels import CudaKernels, pack_masks
    from edge.geometry import gather_crops, paste_masks
    from edge.preprocess import preprocess
    from edge.runtime.render import PALETTE, blend_reference

    k = CudaKernels(dev.api)
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    label = sizes.label()
    desc = catalog.describe("ssd-isb-multi-shape", input_size=sizes.model_input)
    ih, iw = desc.input_size
    fh, fw = sizes.frame

    # pre-processing: camera frame -> network input, FP32 and FP16
    frame = rng.integers(0, 256, (fh, fw, 3), dtype=np.uint8)
    src = dev.put(frame)
    ref = preprocess(frame, desc)
    for half in (False, True):
        dst = dev.empty((3, ih, iw), np.float16 if half else np.float32)

        def pre(dst: DeviceArray = dst, half: bool = half) -> None:
            k.preprocess(src.ptr, fh, fw, fw * 3, dst.ptr, ih, iw, desc, half)

        sec = _time(dev, pre, repeats)
        err = float(np.abs(dev.get(dst).astype(np.float32) - ref).max())
        tol = 2e-2 if half else preprocess_tolerance((fh, fw), desc)
        moved = frame.nbytes + dst.nbytes  # bilinear taps re-read from cache, counted once
        rows.append({"kernel": f"preprocess_{'f16' if half else 'f32'}", "size": label["pre"],
                     "max_abs_err": err, "tolerance": tol, "ok": err <= tol, "ms": sec * 1e3,
                     "gb_s": moved / sec / 1e9})

    # crop gather: boxes of a stride-16 map into resize / resize+pool crops
    c, (mh_, mw_), n = sizes.channels, sizes.fmap, sizes.boxes
    fmap = rng.standard_normal((c, mh_, mw_)).astype(np.float32)
    c0 = rng.integers(0, mw_ - 2, n)
    r0 = rng.integers(0, mh_ - 2, n)
    wins = np.stack([c0, r0, c0 + rng.integers(2, 10, n), r0 + rng.integers(2, 10, n)],
                    1).astype(np.int32)
    wins[:, 2] = np.minimum(wins[:, 2], mw_)
    wins[:, 3] = np.minimum(wins[:, 3], mh_)
    dmap, dwin = dev.put(fmap), dev.put(wins)
    for mode in ("resize", "resize_pool"):
        out = dev.empty((n, c, *sizes.crop), np.float32)

        def crop(out: DeviceArray = out, mode: str = mode) -> None:
            k.crop_gather(dmap.ptr, c, mh_, mw_, dwin.ptr, n, out.ptr, *sizes.crop, mode)

        sec = _time(dev, crop, repeats)
        err = float(np.abs(dev.get(out) - gather_crops(fmap, wins, sizes.crop, mode)).max())
        rows.append({"kernel": f"crop_gather ({mode})", "size": label["crop"],
                     "max_abs_err": err, "tolerance": 1e-4, "ok": err <= 1e-4, "ms": sec * 1e3,
                     "gb_s": 2 * out.nbytes / sec / 1e9})

    # mask paste and blend: masks into a frame-sized instance map
    logits = [rng.standard_normal((int(a), int(b))).astype(np.float32)
              for a, b in rng.integers(4, sizes.max_mask, (n, 2))]
    xy = rng.uniform(0, fw * 0.9, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(fw * 0.01, fw * 0.2, (n, 2))],
                           1).astype(np.float32)
    boxes[:, [1, 3]] *= fh / fw
    flat, offsets, mh, mw = (dev.put(a) for a in pack_masks(logits))
    dbox = dev.put(boxes)
    ids = dev.empty((fh, fw), np.int32)

    def paste() -> None:
        k.paste(flat.ptr, offsets.ptr, mh.ptr, mw.ptr, dbox.ptr, n, ids.ptr, fh, fw, 0.0)

    sec = _time(dev, paste, repeats)
    got, ref_ids = dev.get(ids), paste_masks(logits, boxes, (fh, fw))
    frac = float((got != ref_ids).mean())
    rows.append({"kernel": "paste_masks", "size": label["paste"], "mismatch_fraction": frac,
                 "tolerance": 1e-4, "ok": frac <= 1e-4, "ms": sec * 1e3,
                 "gb_s": got.nbytes / sec / 1e9})
    lut = np.ascontiguousarray(np.concatenate([np.zeros((1, 3), np.uint8), PALETTE]))
    dlut, dframe = dev.put(lut), dev.put(frame)
    k.blend(dframe.ptr, fh, fw, fw * 3, ids.ptr, dlut.ptr, len(lut), 0.5)
    equal = bool(np.array_equal(dev.get(dframe), blend_reference(frame, got, lut, 0.5)))
    sec = _time(dev, lambda: k.blend(dframe.ptr, fh, fw, fw * 3, ids.ptr, dlut.ptr, len(lut),
                                     0.5), repeats)
    rows.append({"kernel": "blend_overlay", "size": label["blend"], "exact": equal, "ok": equal,
                 "ms": sec * 1e3, "gb_s": (2 * frame.nbytes + got.nbytes) / sec / 1e9})
    for r in rows:
        r["pct_of_peak"] = (None if dev.peak_gbs is None
                            else 100 * r["gb_s"] / dev.peak_gbs)
    return {"device": dev.name, "api": dev.api, "peak_gb_s": dev.peak_gbs,
            "peak_note": dev.info.get("peak_note"), "integrated": dev.integrated,
            "environment": dev.info, "rows": rows}
