"""SSD on MobileNet-v1 in the TF Object Detection API layout (thesis 3.1.1).

Prediction maps: the stride-16 and stride-32 taps plus four extra layers (1x1 conv to
half depth, then 3x3 stride-2 conv; depths 512, 256, 256, 128 times alpha, at least
16), 3 anchors per cell on the first map and 6 elsewhere, 1x1 box and class
predictors with bias (``kernel_size: 1`` in ``ssd_mobilenet_v1_coco.config``).
The anchor layout comes from :mod:`edge.geometry.anchors`.
"""

from __future__ import annotations

import torch
from torch import nn

from edge.description import ModelDescription

from edge.architecture import mobilenet_depth

from .backbones import MobileNetV1, conv_bn_relu6

EXTRA_DEPTHS = (512, 256, 256, 128)


class SSDDetector(nn.Module):
    """MobileNet-v1 SSD. ``forward`` -> (codes (B, A, 4), class logits (B, A, K+1), taps).

    Codes are ``(dx, dy, dw, dh)`` against :func:`edge.geometry.ssd_anchors`; logit 0 is
    background. ``taps`` maps stride 8/16/32 to the MobileNet features the ISBs crop.
    """

    def __init__(self, desc: ModelDescription) -> None:
        super().__init__()
        self.backbone = MobileNetV1(desc.alpha)
        cin = self.backbone.channels(32)
        self.extras = nn.ModuleList()
        map_depths = [self.backbone.channels(16), cin]
        for depth in EXTRA_DEPTHS:
            d = mobilenet_depth(depth, desc.alpha, min_depth=16)
            half = mobilenet_depth(depth // 2, desc.alpha, min_depth=16)
            self.extras.append(nn.Sequential(conv_bn_relu6(cin, half, 1),
                                             conv_bn_relu6(half, d, 3, stride=2)))
            map_depths.append(d)
            cin = d
        per_loc = desc.anchors.anchors_per_location(len(map_depths))
        self.num_logits = desc.num_classes + 1
        self.box_heads = nn.ModuleList(nn.Conv2d(c, a * 4, 1) for c, a in zip(map_depths, per_loc))
        self.cls_heads = nn.ModuleList(
            nn.Conv2d(c, a * self.num_logits, 1) for c, a in zip(map_depths, per_loc)
        )

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
        taps = self.backbone(x)
        codes, logits = self.predict(taps)
        return codes, logits, taps

    def predict(self, taps: dict[int, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(codes (B, A, 4), class logits (B, A, K+1)) from the backbone's stride-16 and
        -32 taps: the extra layers and the heads (also run on a backbone pass shared with
        another decoder, as the RoI-masked segmenter does)."""
        maps = [taps[16], taps[32]]
        y = taps[32]
        for extra in self.extras:
            y = extra(y)
            maps.append(y)
        b = y.shape[0]
        codes, logits = [], []
        for m, box_head, cls_head in zip(maps, self.box_heads, self.cls_heads):
            codes.append(box_head(m).permute(0, 2, 3, 1).reshape(b, -1, 4))
            logits.append(cls_head(m).permute(0, 2, 3, 1).reshape(b, -1, self.num_logits))
        return torch.cat(codes, 1), torch.cat(logits, 1)
