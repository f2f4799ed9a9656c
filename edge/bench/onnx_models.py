"""ONNX Runtime latency of an export folder's graphs, per precision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.bench.timing import time_call
from edge.errors import ConfigError


def bench_export(export_dir: str | Path, precision: str, repeats: int, boxes: int = 8,
                 threads: int | None = None) -> dict[str, Any]:
    """p50/p90/p99 ms of the detector (or FCN) at batch 1 and of each branch with
    ``boxes`` crops, on the export's own example input; ``boxes=0`` times the detector
    alone (no branch runs on a frame without detections)."""
    from edge.backends.onnxruntime_backend import OnnxRuntimeBackend
    from edge.export.onnx_export import example_inputs

    if repeats < 1:
        raise ConfigError(f"--repeats takes at least 1 timed run per graph, got {repeats}")
    if boxes < 0:
        raise ConfigError(f"--boxes takes crops per branch call, 0 or more, got {boxes}")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads takes at least 1 thread (omit it for all), got {threads}")

    be = OnnxRuntimeBackend(export_dir, precision, threads=threads)
    desc = be.desc
    x = example_inputs(desc)
    stages: dict[str, dict[str, float]] = {}
    if desc.task == "semantic":
        stages["network"] = time_call(lambda: be.segment_image(x), repeats)
        return {"precision": precision, "stages_ms": stages}
    stages["detector"] = time_call(lambda: be.detect(x), repeats)
    _, _, taps = be.detect(x)
    rng = np.random.default_rng(0)
    from edge.export.parity import sample_windows
    from edge.geometry import branch_inputs

    for b, spec in enumerate(desc.branches if boxes > 0 else ()):
        cells = np.concatenate([sample_windows(desc, b, rng) for _ in range(-(-boxes // 3))])[:boxes]
        crops = branch_inputs(taps, cells, spec, desc)
        stages[f"branch_{spec.name}"] = time_call(lambda b=b, c=crops: be.segment(b, c),
                                                  repeats)
    return {"precision": precision, "boxes_per_branch": boxes, "stages_ms": stages}
