"""Helpers shared by the PyTorch model tests."""

from __future__ import annotations

import torch


def randomise_bn(model: torch.nn.Module, seed: int = 1) -> None:
    """Non-trivial batch-norm running statistics, so eval-mode comparisons (ONNX parity,
    crop against dense) exercise them rather than the identity of fresh layers."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
