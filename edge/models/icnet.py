"""ICNet (seed 001, seed-systems.md 2.1): the ``ICNet_BN`` of hellochick/ICNet-tensorflow.

Three cascade branches share work so the expensive trunk runs only at 1/4 input size:

* sub2 trunk on the half-size image: three 3x3 convs (first stride 2), 3x3/2 max pool,
  bottlenecks conv2_x and conv3_1 (stride 2) -> 1/16 feature;
* sub4 on conv3_1 resized x0.5 (1/32): conv3_2..4, conv4_x (3x3 dilation 2), conv5_x
  (3x3 dilation 4), pyramid pooling *summed* onto conv5_3, 1x1 conv5_4 (256);
* sub1 on the full image: three 3x3 stride-2 convs -> 1/8;
* cascade feature fusion (CFF) 4->2 and 2->1, classifier ``conv6_cls`` at 1/4.

Channels are those of ``filter_scale`` 1 (the "pruned" model); ``filter_scale`` 2 doubles
every conv except the three 1x1 classifiers (the seed's "doubled filters"). Every conv
is bias-free with batch norm except the classifiers.

Export-oriented choices (seed-systems.md 2.7): every resize has a *static* size computed
from ``desc.input_size`` (bilinear, ``align_corners=True`` as the Caffe ``interp`` layer),
and pyramid pooling uses static average pools (kernel = stride = floor(h / bin)) instead
of adaptive pooling, so the legacy exporter emits AveragePool + Resize only (no
Gather/GatherND/Where). The model therefore only accepts its description's input size.

Parameters at K=25: 6,710,411 (fs1) and 26,755,275 (fs2) trainable values (weights,
biases, BN gamma/beta), the reference 6.710 M / 26.755 M of seed-systems.md 0.7. The
TF-style ``edge.models.stats.count_parameters`` adds the BN moving statistics:
6,738,955 / 26,812,363 (+0.4 % / +0.2 %).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge.description import ModelDescription

PPM_BINS = (1, 2, 3, 4)  # ICNet_BN's pyramid (the plain ICNet class uses 1, 2, 3, 6)
LOSS_WEIGHTS = (0.16, 0.4, 1.0)  # sub4, sub24, sub124: the code's default lambdas
BN_MOMENTUM = 0.05  # TF decay 0.95 in PyTorch's convention


def _size(hw: tuple[int, int], stride: int) -> tuple[int, int]:
    return hw[0] // stride, hw[1] // stride


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize to a static size with ``align_corners=True`` (Caffe ``interp``)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def conv_bn(cin: int, cout: int, k: int = 1, stride: int = 1, dilation: int = 1,
            relu: bool = True) -> nn.Sequential:
    """Bias-free conv + BN (+ ReLU); 'same' padding, so stride 2 halves even sizes."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation=dilation, bias=False),
        nn.BatchNorm2d(cout, eps=1e-5, momentum=BN_MOMENTUM)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """ResNet bottleneck 1x1(mid) -> 3x3(mid, dilation) -> 1x1(out) + shortcut, ReLU after
    the add; the shortcut is a 1x1 projection (with BN) when shape or stride changes.
    As in the code, the stride sits on the first 1x1 (and on the projection)."""

    def __init__(self, cin: int, mid: int, cout: int, stride: int = 1,
                 dilation: int = 1) -> None:
        super().__init__()
        self.proj = conv_bn(cin, cout, 1, stride, relu=False) \
            if cin != cout or stride != 1 else None
        self.body = nn.Sequential(conv_bn(cin, mid, 1, stride),
                                  conv_bn(mid, mid, 3, dilation=dilation),
                                  conv_bn(mid, cout, 1, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.proj is None else self.proj(x)
        return F.relu(self.body(x) + skip)


def _stage(cin: int, mid: int, cout: int, blocks: int, stride: int = 1,
           dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(Bottleneck(cin, mid, cout, stride, dilation),
                         *[Bottleneck(cout, mid, cout, 1, dilation) for _ in range(blocks - 1)])


def pyramid_pool_bins(x: torch.Tensor, bins: tuple[int, ...] = PPM_BINS,
                      size: tuple[int, int] | None = None) -> list[torch.Tensor]:
    """Static average pools, kernel = stride = floor(size / bin), one per bin.

    This is the code's pooling, not true adaptive pooling: it equals
    ``adaptive_avg_pool2d(x, bin)`` only when the map divides by the bin. Otherwise the
    last ``size mod bin`` rows/columns are left out (10 / 3 -> kernel 3, 3 cells), or the
    output has more cells than the bin (4 / 3 -> kernel 1, 4 cells). Static kernels
    export as plain AveragePool, which TensorRT runs natively. ``size`` is the map's
    static (h, w), given by the model so that tracing reads no tensor shapes.
    """
    h, w = size if size is not None else (int(x.shape[-2]), int(x.shape[-1]))
    out = []
    for b in bins:
        k = (max(h // b, 1), max(w // b, 1))
        out.append(F.avg_pool2d(x, k, stride=k))
    return out


class PyramidPooling(nn.Module):
    """PSPNet pyramid as in ICNet_BN: pooled maps resized back and *summed* with the input
    (no convs, no concatenation), so it adds no parameters."""

    def __init__(self, size: tuple[int, int], bins: tuple[int, ...] = PPM_BINS) -> None:
        super().__init__()
        self.size, self.bins = size, bins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for p in pyramid_pool_bins(x, self.bins, self.size):
            out = out + resize(p, self.size)
        return out


class CascadeFeatureFusion(nn.Module):
    """CFF: low-res input x2 upsampled -> 3x3 dilation-2 conv + BN; high-res input -> 1x1
    projection + BN; sum, ReLU. Returns the fusion and the upsampled low-res input (the
    auxiliary classifier reads it)."""

    def __init__(self, low: int, high: int, out: int, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = size
        self.low = conv_bn(low, out, 3, dilation=2, relu=False)
        self.high = conv_bn(high, out, 1, relu=False)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        up = resize(low, self.size)
        return F.relu(self.low(up) + self.high(high)), up


class ICNet(nn.Module):
    """ICNet_BN. ``forward``: (B, K, H, W) logits at the input size; ``forward_train``:
    the three supervised outputs (1/16, 1/8, 1/4) with their loss weights."""

    def __init__(self, desc: ModelDescription) -> None:
        super().__init__()
        self.desc = desc
        self.input_size = tuple(desc.input_size)
        s = desc.filter_scale
        k = desc.num_classes
        hw = self.input_size

        def c(n: int) -> int:
            return n * s

        # sub2 trunk (half-size image; Caffe size (h-1)//2+1 == h//2 for the even sizes
        # the description allows)
        self.size2 = _size(hw, 2)
        self.conv1 = nn.Sequential(conv_bn(3, c(32), 3, 2), conv_bn(c(32), c(32), 3),
                                   conv_bn(c(32), c(64), 3), nn.MaxPool2d(3, 2, 1))
        self.conv2 = _stage(c(64), c(32), c(128), 3)
        self.conv3_1 = _stage(c(128), c(64), c(256), 1, stride=2)
        # sub4 (1/32)
        self.size32 = _size(hw, 32)
        self.conv3_rest = nn.Sequential(*[Bottleneck(c(256), c(64), c(256)) for _ in range(3)])
        self.conv4 = _stage(c(256), c(128), c(512), 6, dilation=2)
        self.conv5 = _stage(c(512), c(256), c(1024), 3, dilation=4)
        self.ppm = PyramidPooling(self.size32)
        self.conv5_4 = conv_bn(c(1024), c(256), 1)
        # sub1 (full image)
        self.sub1 = nn.Sequential(conv_bn(3, c(32), 3, 2), conv_bn(c(32), c(32), 3, 2),
                                  conv_bn(c(32), c(64), 3, 2))
        # fusion and classifiers
        self.cff42 = CascadeFeatureFusion(c(256), c(256), c(128), _size(hw, 16))
        self.cff21 = CascadeFeatureFusion(c(128), c(64), c(128), _size(hw, 8))
        self.size4 = _size(hw, 4)
        self.cls_sub4 = nn.Conv2d(c(256), k, 1)
        self.cls_sub24 = nn.Conv2d(c(128), k, 1)
        self.conv6_cls = nn.Conv2d(c(128), k, 1)

    def _check(self, x: torch.Tensor) -> None:
        if not torch.jit.is_tracing() and tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(f"ICNet built for {self.input_size[0]}x{self.input_size[1]} "
                             f"(static resize sizes), got {tuple(x.shape[-2:])}")

    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sub124 fusion at 1/8, conv5_4 upsampled to 1/16, sub24 upsampled to 1/8)."""
        self._check(x)
        conv3_1 = self.conv3_1(self.conv2(self.conv1(resize(x, self.size2))))
        y = self.conv5(self.conv4(self.conv3_rest(resize(conv3_1, self.size32))))
        y = self.conv5_4(self.ppm(y))
        sub24, up4 = self.cff42(y, conv3_1)
        sub124, up24 = self.cff21(sub24, self.sub1(x))
        return sub124, up4, up24

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at 1/4 of the input when ``desc.output_stride`` is 4 (the zoo's default:
        the runtime takes the argmax there and upsamples the labels, as for every model,
        which saves the x4 bilinear resize of K channels, 8 of ICNet's 35 ms at 384x384 on
        2 cores); otherwise at the input size, bilinear x4 in the graph, as the seed's code."""
        sub124, _, _ = self._features(x)
        logits = self.conv6_cls(resize(sub124, self.size4))
        if self.desc.output_stride == 4:
            return logits
        return resize(logits, self.input_size)

    def forward_train(self, x: torch.Tensor) -> dict:
        """{"outputs": [(logits, weight)] at 1/16, 1/8, 1/4, "joints": None}; the loss
        resizes the labels (nearest) to each output."""
        sub124, up4, up24 = self._features(x)
        outs = [self.cls_sub4(up4), self.cls_sub24(up24),
                self.conv6_cls(resize(sub124, self.size4))]
        return {"outputs": list(zip(outs, LOSS_WEIGHTS)), "joints": None}
