"""GPU kernel checks and benchmarks: each CUDA kernel against its NumPy reference, and its
throughput as GB/s against the card's theoretical memory bandwidth.

Runs with CuPy or pycuda (whichever imports and sees a GPU); ``edge-bench kernels`` and the
self-test call it. The tests in ``tests/test_cuda_kernels.py`` are the same comparisons.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from edge import catalog
from edge.errors import MissingDependencyError
from edge.optional import available


class Device:
    """The few device-memory operations the checks need, over CuPy or pycuda."""

    def __init__(self) -> None:
        if available("cupy"):
            import cupy as cp

            try:
                if cp.cuda.runtime.getDeviceCount() > 0:
                    self.api, self.cp = "cupy", cp
                    props = cp.cuda.runtime.getDeviceProperties(0)
                    self.name = props["name"].decode() if isinstance(props["name"], bytes) \
                        else str(props["name"])
                    # kHz * bits -> GB/s (DDR: two transfers per clock)
                    self.peak_gbs = 2 * props["memoryClockRate"] * 1e3 * props["memoryBusWidth"] \
                        / 8 / 1e9
                    self.integrated = bool(props.get("integrated", 0))
                    return
            except Exception:  # a CuPy without a driver: try pycuda
                pass
        if available("pycuda"):
            import pycuda.driver as cuda

            cuda.init()
            dev = cuda.Device(0)
            self.ctx = dev.retain_primary_context()
            self.ctx.push()
            import pycuda.gpuarray as gpuarray

            self.api, self.cuda, self.gpuarray = "pycuda", cuda, gpuarray
            attr = cuda.device_attribute
            self.name = dev.name()
            self.peak_gbs = 2 * dev.get_attribute(attr.MEMORY_CLOCK_RATE) * 1e3 * \
                dev.get_attribute(attr.GLOBAL_MEMORY_BUS_WIDTH) / 8 / 1e9
            self.integrated = bool(dev.get_attribute(attr.INTEGRATED))
            return
        raise MissingDependencyError("the kernel checks need a CUDA GPU with CuPy or pycuda "
                                     "(pip install 'edge-seg[jetson]')")

    def put(self, a: np.ndarray):
        a = np.ascontiguousarray(a)
        return self.cp.asarray(a) if self.api == "cupy" else self.gpuarray.to_gpu(a)

    def empty(self, shape, dtype):
        return (self.cp.zeros(shape, dtype) if self.api == "cupy"
                else self.gpuarray.zeros(shape, dtype))

    def ptr(self, d) -> int:
        return int(d.data.ptr) if self.api == "cupy" else int(d.gpudata)

    def get(self, d) -> np.ndarray:
        return self.cp.asnumpy(d) if self.api == "cupy" else d.get()

    def sync(self) -> None:
        if self.api == "cupy":
            self.cp.cuda.runtime.deviceSynchronize()
        else:
            self.cuda.Context.synchronize()


def _time(dev: Device, fn, repeats: int) -> float:
    fn()
    dev.sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    dev.sync()
    return (time.perf_counter() - t0) / repeats


def run_kernels(repeats: int = 50) -> dict[str, Any]:
    """Check every kernel against NumPy and time it at realistic sizes."""
    from edge.cuda.kernels import CudaKernels, pack_masks
    from edge.geometry import gather_crops, paste_masks
    from edge.preprocess import preprocess
    from edge.runtime.render import PALETTE, blend_reference

    dev = Device()
    k = CudaKernels(dev.api)
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    desc = catalog.describe("ssd-isb-multi-shape")  # 640x640 input
    ih, iw = desc.input_size

    # pre-processing: 1080p camera frame -> 640x640 FP32 and FP16
    frame = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    src = dev.put(frame)
    ref = preprocess(frame, desc)
    for half in (False, True):
        dst = dev.empty((3, ih, iw), np.float16 if half else np.float32)

        def pre(dst=dst, half=half) -> None:
            k.preprocess(dev.ptr(src), 1080, 1920, 1920 * 3, dev.ptr(dst), ih, iw, desc, half)

        sec = _time(dev, pre, repeats)
        err = float(np.abs(dev.get(dst).astype(np.float32) - ref).max())
        moved = frame.nbytes + dst.nbytes  # bilinear taps re-read from cache, counted once
        rows.append({"kernel": f"preprocess_{'f16' if half else 'f32'}", "size": "1080p->640",
                     "max_abs_err": err, "tolerance": 2e-2 if half else 1e-4,
                     "ok": err <= (2e-2 if half else 1e-4), "ms": sec * 1e3,
                     "gb_s": moved / sec / 1e9})

    # crop gather: 30 boxes of a 512-channel stride-16 map into 20x20 resize+pool crops
    fmap = rng.standard_normal((512, 40, 40)).astype(np.float32)
    c0 = rng.integers(0, 30, 30)
    r0 = rng.integers(0, 30, 30)
    wins = np.stack([c0, r0, c0 + rng.integers(2, 10, 30), r0 + rng.integers(2, 10, 30)],
                    1).astype(np.int32)
    wins[:, 2:] = np.minimum(wins[:, 2:], 40)
    dmap, dwin = dev.put(fmap), dev.put(wins)
    for mode, hw in (("resize", (20, 20)), ("resize_pool", (20, 20))):
        out = dev.empty((30, 512, *hw), np.float32)

        def crop(out=out, mode=mode, hw=hw) -> None:
            k.crop_gather(dev.ptr(dmap), 512, 40, 40, dev.ptr(dwin), 30, dev.ptr(out), *hw, mode)

        sec = _time(dev, crop, repeats)
        err = float(np.abs(dev.get(out) - gather_crops(fmap, wins, hw, mode)).max())
        rows.append({"kernel": f"crop_gather ({mode})", "size": "30 x 512ch -> 20x20",
                     "max_abs_err": err, "tolerance": 1e-4, "ok": err <= 1e-4, "ms": sec * 1e3,
                     "gb_s": 2 * out.nbytes / sec / 1e9})

    # mask paste and blend: 30 masks into a 1080p instance map
    logits = [rng.standard_normal((int(a), int(b))).astype(np.float32)
              for a, b in rng.integers(4, 40, (30, 2))]
    xy = rng.uniform(0, 1700, (30, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(20, 400, (30, 2))], 1).astype(np.float32)
    boxes[:, [1, 3]] *= 1080 / 2100
    flat, offsets, mh, mw = (dev.put(a) for a in pack_masks(logits))
    dbox = dev.put(boxes)
    ids = dev.empty((1080, 1920), np.int32)

    def paste() -> None:
        k.paste(dev.ptr(flat), dev.ptr(offsets), dev.ptr(mh), dev.ptr(mw), dev.ptr(dbox), 30,
                dev.ptr(ids), 1080, 1920, 0.0)

    sec = _time(dev, paste, repeats)
    got, ref_ids = dev.get(ids), paste_masks(logits, boxes, (1080, 1920))
    frac = float((got != ref_ids).mean())
    rows.append({"kernel": "paste_masks", "size": "30 masks -> 1080p", "mismatch_fraction": frac,
                 "tolerance": 1e-4, "ok": frac <= 1e-4, "ms": sec * 1e3,
                 "gb_s": got.nbytes / sec / 1e9})
    lut = np.ascontiguousarray(np.concatenate([np.zeros((1, 3), np.uint8), PALETTE]))
    dlut, dframe = dev.put(lut), dev.put(frame)
    k.blend(dev.ptr(dframe), 1080, 1920, 1920 * 3, dev.ptr(ids), dev.ptr(dlut), len(lut), 0.5)
    equal = bool(np.array_equal(dev.get(dframe), blend_reference(frame, got, lut, 0.5)))
    sec = _time(dev, lambda: k.blend(dev.ptr(dframe), 1080, 1920, 1920 * 3, dev.ptr(ids),
                                     dev.ptr(dlut), len(lut), 0.5), repeats)
    rows.append({"kernel": "blend_overlay", "size": "1080p", "exact": equal, "ok": equal,
                 "ms": sec * 1e3, "gb_s": (2 * frame.nbytes + got.nbytes) / sec / 1e9})
    return {"device": dev.name, "api": dev.api, "peak_gb_s": dev.peak_gbs,
            "integrated": dev.integrated, "rows": rows}
