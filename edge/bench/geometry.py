"""Host-side cost of the geometry stages per SSD-ISB branch configuration.

With a controlled number of detections per frame (synthetic, seeded), times: SSD
post-processing (decode + NMS), encompassing boxes + branch assignment, the crop
gather of every branch's inputs, and mask pasting. These are the NumPy reference
implementations the runtime uses on the ONNX Runtime backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge import catalog, geometry
from edge.bench.timing import time_call
from edge.description import ModelDescription
from edge.errors import ConfigError
from edge.architecture import mobilenet_tap_channels


def _synthetic_outputs(desc: ModelDescription, anchors: np.ndarray, instances: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """SSD outputs where exactly ``instances`` anchors score above threshold."""
    a = anchors.shape[0]
    codes = rng.normal(0, 0.5, size=(a, 4)).astype(np.float32)
    logits = np.zeros((a, desc.num_classes + 1), np.float32)
    logits[:, 0] = 4.0  # background wins everywhere ...
    # ... except on well-separated anchors of the stride-32 map and coarser (sizes vary)
    first = desc.input_size[0] // 16 * desc.input_size[1] // 16 * 3
    chosen = rng.choice(np.arange(first, a), size=min(instances, a - first), replace=False)
    logits[chosen, 0] = -4.0
    logits[chosen, 1] = 4.0
    return codes, logits


def bench_config(name: str, instances: int, repeats: int, seed: int = 0) -> dict[str, Any]:
    """Per-stage latency of one configuration at ``instances`` detections per frame (0: a
    frame without detections)."""
    if instances < 0:
        raise ConfigError(f"--instances takes detections per frame, 0 or more, got {instances}")
    desc = catalog.describe(name)
    rng = np.random.default_rng(seed)
    hw = desc.input_size
    anchors = geometry.ssd_anchors(desc.anchors, hw)
    codes, logits = _synthetic_outputs(desc, anchors, instances, rng)
    coder = geometry.BoxCoder(desc.box_coder_weights)
    chans = mobilenet_tap_channels(desc.alpha)
    feats = {s: rng.standard_normal((chans[s], hw[0] // s, hw[1] // s)).astype(np.float32)
             for s in desc.mask_strides}

    def detect() -> geometry.Detections:
        return geometry.select_detections(
            codes, logits, anchors, hw, coder=coder, score_threshold=desc.score_threshold,
            iou_threshold=1.0, max_detections=desc.max_detections)

    dets = detect()

    def assign() -> list[np.ndarray]:
        cells = geometry.encompassing_cells(dets.boxes, hw, desc.crop_stride)
        a = geometry.assign_branches(geometry.cell_shapes(cells), desc.branches, desc.assignment)
        return geometry.select_per_branch(a, dets.scores, desc.branches)

    cells = geometry.encompassing_cells(dets.boxes, hw, desc.crop_stride)
    per_branch = assign()

    def crop() -> None:
        for b, idx in zip(desc.branches, per_branch):
            if len(idx):
                geometry.branch_inputs(feats, cells[idx], b, desc)

    masks = [rng.standard_normal(desc.mask_shape(b)).astype(np.float32)
             for b, idx in zip(desc.branches, per_branch) for _ in idx]
    mask_boxes = geometry.cells_to_pixels(
        np.concatenate([cells[idx] for idx in per_branch]) if masks else np.zeros((0, 4)),
        hw, desc.crop_stride)
    out = np.zeros(hw, np.int32)

    def paste() -> None:
        geometry.paste_masks(masks, mask_boxes, hw, out=out)

    stages = {"postprocess": time_call(detect, repeats), "assign": time_call(assign, repeats),
              "crop": time_call(crop, repeats), "paste": time_call(paste, repeats)}
    return {"config": name, "instances": instances, "detections": len(dets),
            "masked": len(masks), "input_size": list(hw), "stages_ms": stages}
