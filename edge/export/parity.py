"""Numeric parity of an export against PyTorch on real inputs.

Inputs are a synthetic scene through the runtime's preprocessing; branch inputs are
crops of the real feature maps at real encompassing windows (exact shapes for exact
branches). Tolerances, per output, relative to the output's largest magnitude ``R``:
FP32 ``max|ort - torch| <= 1e-4 + 1e-3 * R``; FP16 ``<= 1e-2 + 2e-2 * R``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.description import ModelDescription
from edge.geometry import branch_inputs
from edge.optional import require

TOLERANCES = {"fp32": (1e-4, 1e-3), "fp16": (1e-2, 2e-2)}


def _compare(ref: np.ndarray, got: np.ndarray, precision: str) -> dict[str, Any]:
    atol, rtol = TOLERANCES[precision]
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    err = np.abs(ref.astype(np.float64) - got.astype(np.float64))
    max_abs = float(err.max()) if err.size else 0.0
    rel = err / np.maximum(np.abs(ref), 1e-6)
    return {"max_abs": max_abs, "max_rel": float(rel.max()) if rel.size else 0.0,
            "scale": scale, "tolerance": atol + rtol * scale,
            "ok": bool(max_abs <= atol + rtol * scale)}


def sample_windows(desc: ModelDescription, branch: int, rng: np.random.Generator) -> np.ndarray:
    """Three windows on the stride-32 grid a branch could receive (its exact shape for an
    exact branch, random sizes for a resizing one)."""
    gh, gw = desc.input_size[0] // 32, desc.input_size[1] // 32
    spec = desc.branches[branch]
    cells = []
    for _ in range(3):
        if spec.mode == "exact":
            h, w = spec.shape
        else:
            h, w = int(rng.integers(1, gh + 1)), int(rng.integers(1, gw + 1))
        r0, c0 = int(rng.integers(0, gh - h + 1)), int(rng.integers(0, gw - w + 1))
        cells.append((c0, r0, c0 + w, r0 + h))
    return np.array(cells, np.int64)


def check_parity(desc: ModelDescription, model, backend, precision: str = "fp32",
                 seed: int = 0) -> dict[str, dict[str, Any]]:
    """{graph: {output: comparison}} of ``backend`` (an export) against ``model``."""
    torch = require("torch", "parity checks")
    from .onnx_export import example_inputs

    x = example_inputs(desc, seed)
    model = model.eval().cpu()
    report: dict[str, dict[str, Any]] = {}
    with torch.no_grad():
        if desc.task == "semantic":
            ref = model(torch.from_numpy(x))[0].numpy()
            report["model.onnx"] = {"logits": _compare(ref, backend.segment_image(x), precision)}
            return report
        codes, logits, taps = model(torch.from_numpy(x))
        taps_np = {s: t[0].numpy() for s, t in taps.items()}
        got_codes, got_logits, got_taps = backend.detect(x)
        det = {"box_codes": _compare(codes[0].numpy(), got_codes, precision),
               "class_logits": _compare(logits[0].numpy(), got_logits, precision)}
        for s in (32, 16, 8):
            det[f"feat{s}"] = _compare(taps_np[s], got_taps[s], precision)
        report["detector.onnx"] = det
        rng = np.random.default_rng(seed)
        for b, spec in enumerate(desc.branches):
            crops = branch_inputs(taps_np, sample_windows(desc, b, rng), spec, desc)
            ref = model.segment(b, [torch.from_numpy(c) for c in crops]).numpy()
            report[f"branch_{spec.name}.onnx"] = {
                "mask_logits": _compare(ref, backend.segment(b, crops), precision)}
    return report


def parity_ok(report: dict[str, dict[str, Any]]) -> bool:
    return all(c["ok"] for outputs in report.values() for c in outputs.values())
