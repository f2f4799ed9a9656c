"""Shared test set-up: deterministic hypothesis runs, seeded RNGs, torch gating."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "edge", derandomize=True, max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("edge")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def export_tiny_instance_model(out, input_size=(96, 96), max_detections: int = 12):
    """A random-weights Multi-Shape model (depth 0.25) exported to ``out``: about a
    millisecond a frame with a handful of boxes (threshold 0.45 on random logits).
    Needs torch; callers skip without it."""
    import torch

    from edge.export.onnx_export import export_onnx
    from edge.models.zoo import create

    torch.manual_seed(1)
    desc, model = create("ssd-isb-multi-shape", alpha=0.25, input_size=tuple(input_size))
    desc = desc.replace(score_threshold=0.45, max_detections=max_detections)
    model.desc = desc
    export_onnx(desc, model.eval(), out, fp16=False)
    return out


def video_frames(path) -> tuple[int, tuple[int, int]]:
    """(frames, (h, w)) of a video as OpenCV decodes it: what a player would show."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    n, hw = 0, (0, 0)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n, hw = n + 1, frame.shape[:2]
    cap.release()
    return n, hw
