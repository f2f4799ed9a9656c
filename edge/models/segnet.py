"""SegNet family (seeds 001 and 004; ``shared/reference/seed-systems.md`` 2.2, 4.1, 5).

Three encoder-decoder networks with 2x2 stride-2 max pooling whose decoders upsample
either through the encoder's pooling switches (``desc.upsample == "indices"``, with the
TensorRT-parseable :mod:`edge.models.unpool`) or by a 2x2 stride-2 transposed
convolution (``"deconv"``, the code seed 001 actually ran, seed-systems.md 0.2):

* :class:`SegNetBasic` (seed 001, after ``tkuanlun350/Tensorflow-SegNet``),
* :class:`SegNet` (VGG16-BN encoder, 13 + 13 layers; seeds 001 and 004),
* :class:`SegNetToy` (seed 004's 2 encoders + 2 decoders for the squares task).

All take ``(B, 3, H, W)`` with H, W divisible by 2**(number of pools) and return
``(B, K, H, W)`` logits; ``forward_train`` wraps them as the trainer expects. For ONNX
export of the indices variants, run the export inside
``edge.models.unpool.export_mode(model)`` (it is also switched on automatically while
``torch.onnx.export`` runs); weights are the same in both modes.

Parameter counts (all parameters, BN gamma and beta included) reproduce
seed-systems.md 0.7 (K = 25): SegNet-Basic 1,482,009 + 1,024 BN = 1.483 M (deconv),
1,417,497 = 1.417 M (indices), 5.907 M at width 128 (deconv); SegNet 29.457 M
(reference 29.449 M, +0.03 %: the reference counted conv layers with a hook and so
misses some BN parameters), of which the encoder is 14.72 M.
"""

from __future__ import annotations

import torch
from torch import nn

from edge.description import ModelDescription

from .fcn import bilinear_kernel
from .unpool import MaxPool2x2, Unpool2x2

__all__ = ["SegNetBasic", "SegNet", "SegNetToy", "build_segnet"]


def _conv_bn(cin: int, cout: int, k: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, padding=k // 2, bias=True),
                               nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Upsample(nn.Module):
    """x2 decoder upsampling: switch-based unpooling, or a bilinear-initialised 2x2
    stride-2 transposed conv (no bias) that ignores the switches."""

    def __init__(self, mode: str, channels: int) -> None:
        super().__init__()
        if mode not in ("indices", "deconv"):
            raise ValueError(f"SegNet upsample must be 'indices' or 'deconv', got {mode!r}")
        self.mode = mode
        if mode == "indices":
            self.unpool = Unpool2x2()
        else:
            # fcn.bilinear_kernel at k=2 is 0.25 on every tap: nearest x2 scaled by 1/4
            # (BN follows, so the scale is immaterial). tkuanlun's get_deconv_filter gives
            # [[1, 0], [0, 0]] at k=2 instead; both are trainable starting points.
            self.deconv = nn.ConvTranspose2d(channels, channels, 2, stride=2, bias=False)
            with torch.no_grad():
                self.deconv.weight.copy_(bilinear_kernel(channels, 2))

    def forward(self, y: torch.Tensor, switches: torch.Tensor) -> torch.Tensor:
        if self.mode == "indices":
            return self.unpool(y, switches)
        return self.deconv(y)


class _SegNetBase(nn.Module):
    """Shared plumbing: input-size check, the encoder/decoder loop, ``forward_train``."""

    pools: int = 0

    def _check_input(self, x: torch.Tensor) -> None:
        m = 2 ** self.pools
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if h % m or w % m:
            raise ValueError(f"{type(self).__name__}: input {h}x{w} must have height and width "
                             f"divisible by {m} (2x2 pooling with switches, {self.pools} "
                             f"pools: even sizes at every stage)")

    def _run(self, x: torch.Tensor, encoders, decoders, upsamples, head=None) -> torch.Tensor:
        import warnings

        with warnings.catch_warnings():  # static input sizes are intended when tracing
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            self._check_input(x)
        switches = []
        for enc in encoders:
            x, s = self.pool(enc(x))
            switches.append(s)
        for up, dec, s in zip(upsamples, decoders, reversed(switches)):
            x = dec(up(x, s))
        return head(x) if head is not None else x

    def forward_train(self, x: torch.Tensor) -> dict:
        return {"outputs": [(self(x), 1.0)], "joints": None}


class SegNetBasic(_SegNetBase):
    """SegNet-Basic (seed 001; seed-systems.md 2.2, spec from tkuanlun350/Tensorflow-SegNet).

    * Input LRN **dropped** (seed-systems.md 0.6: ``F.local_response_norm`` exports with an
      ``If`` node that the TensorRT check refuses; batch norm follows the first conv anyway).
      It has no parameters, so the counts are unchanged.
    * Encoder 4 x [conv 7x7, W = 64*filter_scale, bias; BN; ReLU; max pool 2x2 s2].
    * Decoder 4 x [x2 upsampling (switches, or ConvTranspose 2x2 s2 bilinear-initialised,
      no bias); conv 7x7 W, bias; BN; **no ReLU**] (the SegNet paper's SegNet-Basic).
    * Classifier conv 1x1 W -> K with bias.

    BN is plain ``nn.BatchNorm2d`` (gamma and beta) rather than tkuanlun's ``center=False``
    (no beta): beta is redundant after a biased conv but harmless, exports the same way
    (folded), and with it the counts match seed-systems.md 0.7 exactly (1.483 M deconv,
    1.417 M indices, 5.907 M at W = 128; without beta they are 512/1024 smaller).

    ``width`` overrides W (tests use a narrow net); default ``64 * desc.filter_scale``.
    """

    pools = 4

    def __init__(self, desc: ModelDescription, width: int | None = None) -> None:
        super().__init__()
        self.desc = desc
        w = width or 64 * desc.filter_scale
        k = desc.num_classes
        self.encoders = nn.ModuleList(_conv_bn(3 if i == 0 else w, w, 7, relu=True)
                                      for i in range(4))
        self.pool = MaxPool2x2()
        self.upsamples = nn.ModuleList(_Upsample(desc.upsample, w) for _ in range(4))
        self.decoders = nn.ModuleList(_conv_bn(w, w, 7, relu=False) for _ in range(4))
        self.classifier = nn.Conv2d(w, k, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, self.encoders, self.decoders, self.upsamples, self.classifier)


# VGG16 conv stages: 2-2-3-3-3 convs, width multipliers of the base (64)
_VGG16 = ((2, 1), (2, 2), (3, 4), (3, 8), (3, 8))


class SegNet(_SegNetBase):
    """SegNet (Badrinarayanan et al.; seeds 001 2.2 and 004 4.1).

    * Encoder: VGG16-BN's 13 convs (3x3, bias, BN, ReLU) in 5 stages 2-2-3-3-3, each stage
      followed by 2x2 s2 max pooling with switches (14.72 M parameters, "14.7M").
    * Decoder: mirrored, per stage x2 upsampling (switches or transposed conv) then the
      stage's convs in reverse (3x3, bias, BN, ReLU), the last conv of each stage mapping
      to the next-finer stage's width; the very last conv (stage 1) maps to K logits
      (bias, no BN, no ReLU): 13 decoder convs. Softmax is left to the loss / runtime.

    ``base`` overrides the first stage's width (64; tests use a narrow net).
    """

    pools = 5

    def __init__(self, desc: ModelDescription, base: int = 64) -> None:
        super().__init__()
        self.desc = desc
        k = desc.num_classes
        widths = [base * m for _, m in _VGG16]
        self.encoders = nn.ModuleList()
        cin = 3
        for (n, _), c in zip(_VGG16, widths):
            layers = []
            for _ in range(n):
                layers.append(_conv_bn(cin, c, 3, relu=True))
                cin = c
            self.encoders.append(nn.Sequential(*layers))
        self.pool = MaxPool2x2()
        self.upsamples = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for stage in reversed(range(5)):
            n, c = _VGG16[stage][0], widths[stage]
            self.upsamples.append(_Upsample(desc.upsample, c))
            layers = [_conv_bn(c, c, 3, relu=True) for _ in range(n - 1)]
            if stage > 0:
                layers.append(_conv_bn(c, widths[stage - 1], 3, relu=True))
            else:
                layers.append(nn.Conv2d(c, k, 3, padding=1))
            self.decoders.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, self.encoders, self.decoders, self.upsamples)


class SegNetToy(_SegNetBase):
    """Seed 004's simplified SegNet for the squares task (seed-systems.md 4.1): "4
    convolutional layers (2 encoders + 2 decoders)", 2 max pools, 2 upsamplings.

    Kernel and width are not given; SegNet-Basic's 7x7 / 64 is used (seed-systems.md 4.1
    [INF]). Encoders: conv 7x7 64, bias, BN, ReLU, pool 2x2 s2. Decoders: upsample, conv 7x7
    with BN and ReLU (as in full SegNet) for the first; the second maps straight to K
    logits (bias, no BN/ReLU), so there are 4 convs in all. ``width`` overrides 64.
    """

    pools = 2

    def __init__(self, desc: ModelDescription, width: int = 64) -> None:
        super().__init__()
        self.desc = desc
        k = desc.num_classes
        self.encoders = nn.ModuleList([_conv_bn(3, width, 7, relu=True),
                                       _conv_bn(width, width, 7, relu=True)])
        self.pool = MaxPool2x2()
        self.upsamples = nn.ModuleList(_Upsample(desc.upsample, width) for _ in range(2))
        self.decoders = nn.ModuleList([_conv_bn(width, width, 7, relu=True),
                                       nn.Conv2d(width, k, 7, padding=3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, self.encoders, self.decoders, self.upsamples)


def build_segnet(desc: ModelDescription, **kwargs) -> nn.Module:
    """The SegNet-family module for ``desc.architecture`` (segnet-basic, segnet,
    segnet-toy); ``kwargs`` go to the class (``width`` / ``base`` for narrow test nets)."""
    classes = {"segnet-basic": SegNetBasic, "segnet": SegNet, "segnet-toy": SegNetToy}
    if desc.architecture not in classes:
        raise ValueError(f"{desc.name}: {desc.architecture!r} is not a SegNet architecture")
    return classes[desc.architecture](desc, **kwargs)
