"""Semantic segmentation heads on a backbone: FCN skips or atrous (thesis 2.5, 4.2).

A 1x1 scoring conv on the deepest tap; then, per skip step, a 4x4 stride-2 transposed
conv (no bias, initialised to bilinear upsampling as in FCN) summed with a 1x1 scoring
conv of the next-finer tap; finally a fixed bilinear upsampling to the input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge.description import ModelDescription

from .backbones import MobileNetV1, SqueezeNet11


def bilinear_kernel(channels: int, k: int) -> torch.Tensor:
    """(C, C, k, k) weight that makes a stride-k/2 transposed conv a bilinear upsampler."""
    factor = (k + 1) // 2
    centre = factor - 1 if k % 2 == 1 else factor - 0.5
    og = torch.arange(k, dtype=torch.float32)
    filt1d = 1 - (og - centre).abs() / factor
    filt = filt1d[:, None] * filt1d[None, :]
    weight = torch.zeros(channels, channels, k, k)
    weight[range(channels), range(channels)] = filt
    return weight


class FCNSegmenter(nn.Module):
    """Backbone + FCN decoder; ``forward`` gives (B, K, H, W) class logits at input size."""

    def __init__(self, desc: ModelDescription) -> None:
        super().__init__()
        self.desc = desc
        k = desc.num_classes
        if desc.backbone == "mobilenet_v1":
            self.backbone: nn.Module = MobileNetV1(desc.alpha, desc.output_stride, desc.last_rate)
            deepest = 32
        else:
            self.backbone = SqueezeNet11(desc.output_stride, desc.last_rate)
            deepest = 16
        self.deepest = deepest
        self.score = nn.Conv2d(self.backbone.channels(deepest), k, 1)
        self.skip_strides = desc.skip_strides
        self.upsample = nn.ModuleList()
        self.skip_score = nn.ModuleList()
        for s in desc.skip_strides:
            up = nn.ConvTranspose2d(k, k, 4, stride=2, padding=1, bias=False)
            with torch.no_grad():
                up.weight.copy_(bilinear_kernel(k, 4))
            self.upsample.append(up)
            self.skip_score.append(nn.Conv2d(self.backbone.channels(s), k, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = self.backbone(x)
        y = self.score(taps[self.deepest])
        for s, up, score in zip(self.skip_strides, self.upsample, self.skip_score):
            y = up(y) + score(taps[s])
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
