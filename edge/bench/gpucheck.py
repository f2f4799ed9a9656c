"""``edge-bench gpucheck``: the GPU half of the runtime checked on any CUDA machine, no
TensorRT needed (CuPy or pycuda is enough).

Why: TensorRT exists only on the devices, but every CUDA kernel of the GPU pipeline can
be checked wherever a GPU is. It records the environment (GPU, compute capability, driver
and runtime, CuPy/pycuda), checks every kernel against its NumPy reference with GB/s
against the card's theoretical bandwidth, and runs the GPU pipeline's own kernels
(pre-processing, crop gather, mask paste) around a host-side network - ONNX Runtime runs
the detector and the branches - on the shipped demo model and a synthetic scene,
compared stage by stage with the ONNX Runtime pipeline. One Markdown + JSON report;
PASS, FAIL (exit 2) or INCOMPLETE (a part could not run here).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge import atomic
from edge.bench.kernels import FULL, Device, KernelSizes, preprocess_tolerance, run_kernels
from edge.bench.selftest import (Outcome, environment, failed_and_skipped, finish,
                                 kernel_table)
from edge.description import ModelDescription
from edge.pipeline import InstancePipeline, InstanceResult, Stopwatch

log = logging.getLogger(__name__)

# kernel output vs the NumPy stage it replaces (absolute; inputs are O(1)-scaled)
# pre-processing: edge.bench.kernels.preprocess_tolerance (1e-4 up to 640 px frames)
TOL_CROPS = 1e-4
TOL_MASK_LOGITS = 1e-3   # after a branch network: crop rounding amplified a little
TOL_BOXES_PX = 1e-2      # the detector sees the kernel's input: boxes in frame pixels
TOL_MAP_MISMATCH = 1e-3  # pixels whose logit is within rounding of the threshold


class KernelHostPipeline(InstancePipeline):
    """The GPU pipeline's kernels around a host backend (ONNX Runtime): the frame is
    pre-processed, the crops gathered and the masks pasted on the GPU, the networks run
    on the host. Each kernel's output is also compared with the NumPy stage it replaces,
    so a wrong kernel is named rather than only seen in the masks."""

    def __init__(self, desc: ModelDescription, backend: Any, dev: Device) -> None:
        from edge.cuda.kernels import CudaKernels

        super().__init__(desc, backend)
        self.dev = dev
        self.k = CudaKernels(dev.api)
        self.max_err = {"preprocess": 0.0, "crops": 0.0}
        ih, iw = desc.input_size
        self.d_input = dev.empty((3, ih, iw), np.float32)

    def __call__(self, frame: np.ndarray, sw: Stopwatch | None = None) -> InstanceResult:
        from edge.geometry import branch_inputs, crop_windows

        d, dev, k = self.desc, self.dev, self.k
        sw = sw or Stopwatch()
        h, w = frame.shape[:2]
        ih, iw = d.input_size
        with sw("preprocess"):
            src = dev.put(frame)
            k.preprocess(src.ptr, h, w, w * 3, self.d_input.ptr, ih, iw, d, False)
            image = dev.get(self.d_input)[None]
        self._err("preprocess", image, self.preprocess(frame))
        with sw("detector"):
            codes, logits, taps = self.backend.detect(image)
        with sw("postprocess"):
            plan = self.plan(codes, logits)
        crops_by_job = []
        with sw("crop"):
            maps = {s: dev.put(np.ascontiguousarray(taps[s], np.float32))
                    for s in d.mask_strides} if plan.jobs else {}
            for b, idx in plan.jobs:
                spec, crops = d.branches[b], []
                for s in d.mask_strides:
                    kf = d.crop_stride // s
                    win = dev.put(crop_windows(plan.cells[idx], d.crop_stride, s)
                                  .astype(np.int32))
                    c, fh, fw = maps[s].shape
                    oh, ow = spec.shape[0] * kf, spec.shape[1] * kf
                    out = dev.empty((len(idx), c, oh, ow), np.float32)
                    k.crop_gather(maps[s].ptr, c, fh, fw, win.ptr, len(idx), out.ptr, oh, ow,
                                  spec.mode)
                    crops.append(dev.get(out))
                crops_by_job.append(crops)
        for (b, idx), crops in zip(plan.jobs, crops_by_job):
            want = branch_inputs(taps, plan.cells[idx], d.branches[b], d)
            for got, ref in zip(crops, want):
                self._err("crops", got, ref)
        with sw("branches"):
            outs = [self.backend.segment(b, crops)
                    for (b, _), crops in zip(plan.jobs, crops_by_job)]
        return self.result(plan, outs, (h, w))

    def paste(self, result: InstanceResult) -> np.ndarray:
        """The instance map by the ``paste_masks`` kernel, numbered like
        :meth:`InstanceResult.instance_map`."""
        from edge.cuda.kernels import pack_masks

        dev = self.dev
        h, w = result.frame_hw
        have = [i for i, m in enumerate(result.mask_logits) if m is not None]
        if not have:
            return np.zeros((h, w), np.int32)
        flat, offsets, mh, mw = (dev.put(a) for a in
                                 pack_masks([result.mask_logits[i] for i in have]))
        boxes = dev.put(np.ascontiguousarray(result.mask_boxes[have], np.float32))
        ids = dev.empty((h, w), np.int32)
        self.k.paste(flat.ptr, offsets.ptr, mh.ptr, mw.ptr, boxes.ptr, len(have), ids.ptr, h, w,
                     result.threshold)
        lut = np.zeros(len(have) + 1, np.int32)
        lut[1:] = np.asarray(have) + 1
        return lut[dev.get(ids)]

    def _err(self, stage: str, got: np.ndarray, ref: np.ndarray) -> None:
        err = (float(np.abs(np.asarray(got, np.float32) - np.asarray(ref, np.float32)).max())
               if got.shape == np.shape(ref) else float("inf"))
        self.max_err[stage] = max(self.max_err[stage], err)


def scene_frames(size: tuple[int, int], n: int, seed: int = 3) -> list[np.ndarray]:
    """Synthetic street scenes (the demo model's domain), deterministic."""
    from edge.data.synth import random_scene

    return [random_scene(seed + i, size).render()[0] for i in range(n)]


def pipeline_check(dev: Device, model: str | Path, frames: list[np.ndarray]) -> dict[str, Any]:
    """The kernel pipeline against the ONNX Runtime pipeline on the same frames."""
    from edge.runtime.model import Pipeline

    with Pipeline.from_dir(model, backend="onnxruntime", threads=1) as cpu:
        if cpu.desc.task != "instance":
            from edge.errors import ConfigError

            raise ConfigError(f"{model}: gpucheck runs an SSD-ISB model; give --model demo "
                              f"or an SSD-ISB export")
        gpu = KernelHostPipeline(cpu.desc, cpu.backend, dev)
        cmp = {"instances": 0, "masks": 0, "count_mismatch": 0, "box_err_px": 0.0,
               "mask_logit_err": 0.0, "map_mismatch": 0.0}
        times: dict[str, list[float]] = {}
        for frame in frames:
            sw_g, sw_c = Stopwatch(), Stopwatch()
            a = gpu(frame, sw_g)
            with sw_g("paste"):
                amap = gpu.paste(a)
            b = cpu(frame, sw_c)
            for tag, sw in (("gpu", sw_g), ("cpu", sw_c)):
                for stage, ms in sw.ms.items():
                    times.setdefault(f"{tag}:{stage}", []).append(float(np.sum(ms)))
            if len(a) != len(b):
                cmp["count_mismatch"] += 1
                continue
            cmp["instances"] += len(a)
            if len(a):
                cmp["box_err_px"] = max(cmp["box_err_px"],
                                        float(np.abs(a.boxes - b.boxes).max()))
            for la, lb in zip(a.mask_logits, b.instances.mask_logits):
                if (la is None) != (lb is None):
                    cmp["count_mismatch"] += 1
                elif la is not None:
                    cmp["masks"] += 1
                    cmp["mask_logit_err"] = max(cmp["mask_logit_err"],
                                                float(np.abs(la - lb).max()))
            cmp["map_mismatch"] = max(cmp["map_mismatch"],
                                      float((amap != b.instance_map).mean()))
        desc = cpu.desc
    cmp.update({f"{s}_max_abs_err": e for s, e in gpu.max_err.items()})
    checks = {"same detections": cmp["count_mismatch"] == 0,
              "pre-processing kernel": cmp["preprocess_max_abs_err"] <= preprocess_tolerance(
                  max((f.shape[:2] for f in frames), key=max), desc),
              "crop gather kernel": cmp["crops_max_abs_err"] <= TOL_CROPS,
              "boxes": cmp["box_err_px"] <= TOL_BOXES_PX,
              "mask logits": cmp["mask_logit_err"] <= TOL_MASK_LOGITS,
              "paste kernel (instance map)": cmp["map_mismatch"] <= TOL_MAP_MISMATCH}
    stages = {s: {"p50": float(np.median(v)), "frames": len(v)} for s, v in sorted(times.items())}
    return {"model": str(model), "frames": len(frames), "frame_hw": list(frames[0].shape[:2]),
            **cmp, "checks": checks, "ok": all(checks.values()), "stages_ms": stages}


def run_gpucheck(out_dir: str | Path, model: str | Path | None = None, repeats: int = 20,
                 frames: int = 3, frame_hw: tuple[int, int] = (480, 640),
                 sizes: KernelSizes = FULL) -> dict[str, Any]:
    """Run every part that can run here and write ``gpucheck.md`` / ``gpucheck.json``."""
    from edge.runtime.model import DEMO_EXPORT

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = DEMO_EXPORT if model is None or str(model) == "demo" else Path(model)
    report: dict[str, Any] = {"environment": {}, "kernels": None, "pipeline": None,
                              "skipped": [], "failed": []}
    part = Outcome(report)
    try:
        report["environment"] = part.run("environment", lambda: environment(gpu=False)) or {}
        dev = part.run("GPU", Device)
        if dev is not None:
            with dev:
                report["environment"].update(dev.info)
                report["kernels"] = part.run("CUDA kernels",
                                             lambda: run_kernels(repeats, sizes, dev))
                report["pipeline"] = part.run(
                    "kernel pipeline", lambda: pipeline_check(
                        dev, model, scene_frames(frame_hw, frames)))
        if report["pipeline"] is not None and not report["pipeline"]["instances"]:
            report["skipped"].append("kernel pipeline: the model found no instance in the "
                                     "scene, so crops and paste were not exercised")
    finally:
        finish(report)
        if report["pipeline"] is not None and not report["pipeline"]["ok"]:
            report["ok"], report["status"] = False, "fail"
        atomic.write_text(out / "gpucheck.json", json.dumps(report, indent=2, default=str) + "\n")
        atomic.write_text(out / "gpucheck.md", markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = ["# edge-seg GPU check (CUDA kernels, no TensorRT)", "",
             f"Result: **{report['status'].upper()}**", "", "## Environment", "",
             "| item | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report["environment"].items()]
    lines += ["", "## CUDA kernels vs NumPy references", ""] + kernel_table(report["kernels"])
    lines += ["", "## Kernel pipeline vs ONNX Runtime pipeline", ""]
    p = report["pipeline"]
    if not p:
        lines.append("Not run (see Skipped or Failed).")
    else:
        lines += [f"{p['model']}: {p['frames']} synthetic frames of {p['frame_hw'][1]}x"
                  f"{p['frame_hw'][0]}, {p['instances']} instances, {p['masks']} masks; the "
                  f"networks run in ONNX Runtime on the host", "", "| check | value | |",
                  "|---|---|---|"]
        values = {"same detections": f"{p['count_mismatch']} frames/instances differ",
                  "pre-processing kernel": f"max abs err {p['preprocess_max_abs_err']:.2e}",
                  "crop gather kernel": f"max abs err {p['crops_max_abs_err']:.2e}",
                  "boxes": f"max {p['box_err_px']:.2e} px",
                  "mask logits": f"max abs err {p['mask_logit_err']:.2e}",
                  "paste kernel (instance map)": f"{100 * p['map_mismatch']:.3f}% pixels differ"}
        lines += [f"| {c} | {values[c]} | {'ok' if ok else 'FAIL'} |"
                  for c, ok in p["checks"].items()]
        lines += ["", "| stage | p50 ms |", "|---|---|"]
        lines += [f"| {s} | {t['p50']:.2f} |" for s, t in p["stages_ms"].items()]
    lines += failed_and_skipped(report)
    return "\n".join(lines) + "\n"
