"""Encoders: MobileNet-v1 (depth multiplier) and SqueezeNet v1.1 (thesis 2.3.3, 2.3.4).

Both return a dict ``{stride: feature map}`` of the taps later stages use. Padding is
TF's SAME for even sizes (every stride divides the input exactly), so skip sums and
encompassing-box crops line up pixel for pixel. ``output_stride`` below the natural
one turns later strides into dilations (DeepLab's atrous trick, thesis 4.2.1);
``last_rate`` multiplies the dilation of the encoder's last 3x3 convolution (4.3).
"""

from __future__ import annotations

import torch
from torch import nn

from edge.architecture import (
    MOBILENET_TAPS,
    MOBILENET_V1_LAYERS,
    MOBILENET_V1_STEM_DEPTH,
    SQUEEZENET_TAP_CHANNELS,
    mobilenet_depth,
)

# TF slim's batch-norm epsilon; PyTorch's default (1e-5) would change pretrained outputs.
BN_EPS = 1e-3

def conv_bn_relu6(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1,
                  groups: int = 1) -> nn.Sequential:
    """Conv (no bias) + BN + ReLU6: MobileNet's unit, also used by the SSD extra layers."""
    pad = dilation * (k - 1) // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=BN_EPS),
        nn.ReLU6(inplace=True),
    )


class MobileNetV1(nn.Module):
    """MobileNet-v1 without its classifier; ``forward`` returns taps at strides 8, 16, 32.

    With ``output_stride`` 16 or 8 the later stride-2 layers run at stride 1 and the
    layers after them are dilated; taps are then keyed by their nominal stride.
    """

    def __init__(self, alpha: float = 1.0, output_stride: int = 32, last_rate: int = 1) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"MobileNet output stride must be 8, 16 or 32, got {output_stride}")
        self.alpha = alpha
        first = mobilenet_depth(MOBILENET_V1_STEM_DEPTH, alpha)
        layers: list[nn.Module] = [conv_bn_relu6(3, first, 3, stride=2)]
        self.depths = [first]
        current, rate, cin = 2, 1, first
        for i, (stride, depth) in enumerate(MOBILENET_V1_LAYERS, start=1):
            cout = mobilenet_depth(depth, alpha)
            if current * stride > output_stride:
                layer_stride, layer_rate, rate = 1, rate, rate * stride
            else:
                layer_stride, layer_rate = stride, rate
                current *= stride
            if i == len(MOBILENET_V1_LAYERS):
                layer_rate *= last_rate
            layers.append(nn.Sequential(
                conv_bn_relu6(cin, cin, 3, layer_stride, layer_rate, groups=cin),
                conv_bn_relu6(cin, cout, 1),
            ))
            self.depths.append(cout)
            cin = cout
        self.layers = nn.ModuleList(layers)

    def channels(self, stride: int) -> int:
        """Depth of the tap at nominal ``stride`` (8, 16 or 32)."""
        return self.depths[MOBILENET_TAPS[stride]]

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        taps: dict[int, torch.Tensor] = {}
        wanted = {v: k for k, v in MOBILENET_TAPS.items()}
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in wanted:
                taps[wanted[i]] = x
        return taps


class Fire(nn.Module):
    """SqueezeNet fire module: 1x1 squeeze, then parallel 1x1 and 3x3 expands, concatenated."""

    def __init__(self, cin: int, squeeze: int, e1: int, e3: int, dilation: int = 1) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=dilation, dilation=dilation)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.squeeze(x))
        return torch.cat([self.relu(self.expand1x1(x)), self.relu(self.expand3x3(x))], 1)


# SqueezeNet v1.1 (torchvision's layout): fire configs grouped by the stride they run at.
_SQUEEZE_STAGES = (
    (4, ((64, 16, 64, 64), (128, 16, 64, 64))),
    (8, ((128, 32, 128, 128), (256, 32, 128, 128))),
    (16, ((256, 48, 192, 192), (384, 48, 192, 192), (384, 64, 256, 256), (512, 64, 256, 256))),
)


class SqueezeNet11(nn.Module):
    """SqueezeNet v1.1 features (no BN, convs with bias); natural output stride 16.

    Taps are the pooling outputs, as FCN taps VGG's ``pool3``/``pool4``: stride 4 (64
    channels), stride 8 (128 channels) and the last fire module at stride 16 (512).
    """

    def __init__(self, output_stride: int = 16, last_rate: int = 1) -> None:
        super().__init__()
        if output_stride not in (4, 8, 16):
            raise ValueError(f"SqueezeNet output stride must be 4, 8 or 16, got {output_stride}")
        self.conv1 = nn.Sequential(nn.Conv2d(3, 64, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.pools = nn.ModuleList()
        self.stages = nn.ModuleList()
        current, rate = 2, 1
        for stage_index, (_, fires) in enumerate(_SQUEEZE_STAGES):
            if current * 2 > output_stride:
                self.pools.append(nn.MaxPool2d(3, stride=1, padding=1))
                rate *= 2
            else:
                self.pools.append(nn.MaxPool2d(3, stride=2, padding=1))
                current *= 2
            mods = []
            for j, cfg in enumerate(fires):
                last = stage_index == len(_SQUEEZE_STAGES) - 1 and j == len(fires) - 1
                mods.append(Fire(*cfg, dilation=rate * (last_rate if last else 1)))
            self.stages.append(nn.Sequential(*mods))

    def channels(self, stride: int) -> int:
        return SQUEEZENET_TAP_CHANNELS[stride]

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        x = self.conv1(x)
        taps: dict[int, torch.Tensor] = {}
        for (nominal, _), pool, stage in zip(_SQUEEZE_STAGES, self.pools, self.stages):
            x = pool(x)
            if nominal < 16:
                taps[nominal] = x
            x = stage(x)
        taps[16] = x
        return taps
