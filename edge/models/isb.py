"""The Instance Segmentation Branch (thesis 3.1.2, 3.2.1; Figure 3.4 is missing).

Choices where the thesis is silent are in ``docs/models.md``; the parameter counts of
Tables 5.7 and 5.9 pin down the layer list exactly:

1. one 3x3 depthwise conv (no bias, no BN) + 1x1 pointwise conv to depth 128 with
   bias, ReLU (TF ``separable_conv2d``) on the stride-32 crop;
2. per skip step (fcn16: one, fcn8: two): a 4x4 stride-2 transposed conv to depth 32
   with bias, plus a 1x1 conv with bias projecting the stride-16 (then stride-8) crop
   to depth 32, summed, ReLU;
3. a 1x1 scoring conv with bias: one mask-logit channel per class.
"""

from __future__ import annotations

import torch
from torch import nn

ISB_DEPTH = 128
SKIP_DEPTH = 32


class ISB(nn.Module):
    """One branch: crops (N, C32, h, w)[, (N, C16, 2h, 2w)[, (N, C8, 4h, 4w)]] -> mask logits.

    Output is (N, K, h * u, w * u) with ``u`` = 1, 2, 4 for 0, 1, 2 skip steps.
    """

    def __init__(self, in_channels: dict[int, int], num_classes: int, skip_steps: int) -> None:
        super().__init__()
        if skip_steps not in (0, 1, 2):
            raise ValueError(f"an ISB has 0, 1 or 2 skip steps, got {skip_steps}")
        c32 = in_channels[32]
        self.depthwise = nn.Conv2d(c32, c32, 3, padding=1, groups=c32, bias=False)
        self.pointwise = nn.Conv2d(c32, ISB_DEPTH, 1)
        self.relu = nn.ReLU(inplace=True)
        self.upsample = nn.ModuleList()
        self.project = nn.ModuleList()
        depth = ISB_DEPTH
        for stride in (16, 8)[:skip_steps]:
            self.upsample.append(nn.ConvTranspose2d(depth, SKIP_DEPTH, 4, stride=2, padding=1))
            self.project.append(nn.Conv2d(in_channels[stride], SKIP_DEPTH, 1))
            depth = SKIP_DEPTH
        self.score = nn.Conv2d(depth, num_classes, 1)

    def forward(self, x32: torch.Tensor, *skips: torch.Tensor) -> torch.Tensor:
        if len(skips) != len(self.upsample):
            raise ValueError(f"ISB expects {len(self.upsample)} skip crops, got {len(skips)}")
        y = self.relu(self.pointwise(self.depthwise(x32)))
        for up, proj, skip in zip(self.upsample, self.project, skips):
            y = self.relu(up(y) + proj(skip))
        return self.score(y)
