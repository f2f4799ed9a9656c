"""Stacked Hourglass for part segmentation (seed 001, seed-systems.md 2.3 and 2.6 item 6).

Newell et al.'s network with a K-way segmentation head per stack:

* residual module: BN-ReLU-1x1(n/2), BN-ReLU-3x3(n/2), BN-ReLU-1x1(n), plus the input
  (or a 1x1 projection when the width changes);
* hourglass: ``up1 = Res(x)``; ``low = Res(MaxPool2x2(x))``, recursing (or one more
  Res at the bottom), ``Res`` again, nearest x2 upsample, added to ``up1``;
* stem ``stem_stride`` 1 (seed 001): 7x7 stride-1 conv + BN-ReLU at full resolution, no
  max pool, residuals to ``features``; five pools (320 -> 10). About 349 GMAC at 320^2.
* stem ``stem_stride`` 4 (edge variant, Newell's stem): 7x7 stride-2 conv + BN-ReLU,
  residual, 2x2 max pool, residuals; four pools; logits bilinearly upsampled x4 in
  ``forward``. About 23 GMAC.
* per stack: Res -> 1x1 conv-BN-ReLU (``ll``) -> 1x1 -> K logits; the next stack's input
  is ``input + 1x1(ll) + 1x1(logits)`` (Newell's merge; wbenbihi's code reuses ``ll_[0]``,
  a quirk not copied). The last stack has no merge convs.

The stem widths are ``features/4`` and ``features/2`` (Newell's 64 and 128 at 256), so
small test configurations stay small. Convs keep their biases, as in Newell's code.

Parameters at K=25, 4 x 256 (trainable values: weights, biases, BN gamma/beta):
15,448,804 (stem 1) and 12,874,468 (stem 4), the reference 15.449 M / 12.874 M of
seed-systems.md 0.7; the TF-style ``edge.models.stats.count_parameters`` adds the BN
moving statistics: 15,522,276 / 12,935,652 (+0.5 %).
The two differ by one hourglass level (3 residuals of 214,528 values) per stack.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge.description import ModelDescription


class Residual(nn.Module):
    """Newell's pre-activation bottleneck residual module."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = cout // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=False), nn.Conv2d(cin, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, cout, 1))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    """One hourglass with ``depth`` 2x2 max pools; the skip branch at each level keeps the
    detail the pooled branch loses, and nearest upsampling + add merges them."""

    def __init__(self, depth: int, n: int) -> None:
        super().__init__()
        self.up1 = Residual(n, n)
        self.low1 = Residual(n, n)
        self.low2: nn.Module = Hourglass(depth - 1, n) if depth > 1 else Residual(n, n)
        self.low3 = Residual(n, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2, 2))))
        return self.up1(x) + F.interpolate(low, scale_factor=2.0, mode="nearest")


def _lin(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class StackedHourglass(nn.Module):
    """``forward``: last stack's (B, K, H, W) logits at the input size. ``forward_train``:
    every stack's logits at the stacks' resolution (H / stem_stride), weight 1/stacks each
    (unweighted mean, seed-systems.md 2.6 item 6), and the joint heatmaps when
    ``desc.joints`` > 0 (a parallel head on the ``ll`` features of stack min(2, stacks),
    at the same resolution; training only, never exported)."""

    def __init__(self, desc: ModelDescription) -> None:
        super().__init__()
        self.desc = desc
        n, k, stacks = desc.features, desc.num_classes, desc.stacks
        self.input_size = tuple(desc.input_size)
        self.stem_stride = desc.stem_stride
        q, h = max(n // 4, 1), max(n // 2, 1)
        if desc.stem_stride == 1:
            self.stem = nn.Sequential(nn.Conv2d(3, q, 7, 1, 3), nn.BatchNorm2d(q), nn.ReLU(True),
                                      Residual(q, h), Residual(h, h), Residual(h, n))
            depth = 5
        else:
            self.stem = nn.Sequential(nn.Conv2d(3, q, 7, 2, 3), nn.BatchNorm2d(q), nn.ReLU(True),
                                      Residual(q, h), nn.MaxPool2d(2, 2), Residual(h, h),
                                      Residual(h, n))
            depth = 4
        self.depth = depth
        self.hourglasses = nn.ModuleList(Hourglass(depth, n) for _ in range(stacks))
        self.features = nn.ModuleList(nn.Sequential(Residual(n, n), _lin(n, n))
                                      for _ in range(stacks))
        self.heads = nn.ModuleList(nn.Conv2d(n, k, 1) for _ in range(stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(n, n, 1) for _ in range(stacks - 1))
        self.merge_preds = nn.ModuleList(nn.Conv2d(k, n, 1) for _ in range(stacks - 1))
        self.joint_stack = min(2, stacks) - 1  # 0-based index of the stack it branches from
        self.joint_head = nn.Sequential(_lin(n, n), nn.Conv2d(n, desc.joints, 1)) \
            if desc.joints > 0 else None

    def _stacks(self, x: torch.Tensor, joints: bool) -> tuple[list[torch.Tensor],
                                                               torch.Tensor | None]:
        y = self.stem(x)
        outs: list[torch.Tensor] = []
        heat = None
        for i, (hg, feat, head) in enumerate(zip(self.hourglasses, self.features, self.heads)):
            ll = feat(hg(y))
            logits = head(ll)
            outs.append(logits)
            if joints and self.joint_head is not None and i == self.joint_stack:
                heat = self.joint_head(ll)
            if i < len(self.merge_features):
                y = y + self.merge_features[i](ll) + self.merge_preds[i](logits)
        return outs, heat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self._stacks(x, joints=False)[0][-1]
        if self.stem_stride != 1:
            # a constant scale exports as a static Resize (no Shape ops) at any input size
            logits = F.interpolate(logits, scale_factor=float(self.stem_stride),
                                   mode="bilinear", align_corners=False)
        return logits

    def forward_train(self, x: torch.Tensor) -> dict:
        """{"outputs": [(logits_s, 1/stacks)], "joints": (B, J, h, w) or None}."""
        outs, heat = self._stacks(x, joints=True)
        w = 1.0 / len(outs)
        return {"outputs": [(o, w) for o in outs], "joints": heat}
