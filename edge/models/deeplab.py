"""DeepLab-LargeFOV (seed 002, seed-systems.md 3.1 and 3.5).

VGG-16 LargeFOV as in DeepLab v1:

* conv1_1 .. conv5_3: 3x3 convs with bias + ReLU (64, 64 | 128, 128 | 256 x3 | 512 x3 |
  512 x3), conv5_x with dilation 2;
* pool1 .. pool3: 3x3 max pool, stride 2, pad 1; pool4 and pool5: 3x3, stride 1, pad 1
  (no average pool after pool5: the parameter count below rules it out either way, and
  DeepLab-LargeFOV's prototxt has none);
* fc6: 3x3 dilation 12 (``fc_width``) + ReLU + dropout 0.5; fc7: 1x1 ``fc_width`` + ReLU +
  dropout 0.5; fc8: 1x1 K. Logits at output stride 8 (321 -> 41).

Caffe pools with ``ceil`` rounding. At DeepLab's 8k+1 crop sizes (321) floor and ceil
give the same sizes (161, 81, 41), but at the description's multiples of 8 ceil would give
H/8 + 1 (64 -> 9); the pools therefore round down (``ceil_mode=False``), so the logits are
exactly (H/8, W/8) at multiples of 8, as the runtime expects, and 41x41 at 321.

Edge variant (backbone ``mobilenet_v1``): MobileNet-v1 (``alpha``) at output stride 8
(its stride-32 tap, dilated) under the same fc6/fc7/fc8 head.

Parameters at K=21, ``fc_width`` 1024 (weights + biases): 20,505,429, the reference
20.505 M of seed-systems.md 0.7 (VGG trunk 14,714,688; fc6 4,719,616; fc7 1,049,600;
fc8 21,525).

The per-pixel template-similarity losses (:mod:`edge.train.feedback_losses`) read the fc7
activations (after ReLU, before dropout) that :meth:`DeepLabLargeFOV.forward_train`
returns; segmentation fixations (:mod:`edge.evaluate.fixations`) walk the flat layer list
of :meth:`DeepLabLargeFOV.fixation_layers`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge.description import ModelDescription
from edge.errors import ConfigError

from .backbones import MobileNetV1

# (channels per conv, dilation) of VGG-16's five blocks, and the stride of the pool after
VGG16_BLOCKS: tuple[tuple[tuple[int, ...], int, int], ...] = (
    ((64, 64), 1, 2), ((128, 128), 1, 2), ((256, 256, 256), 1, 2),
    ((512, 512, 512), 1, 1), ((512, 512, 512), 2, 1),
)  # fmt: skip
FC6_DILATION = 12
DROPOUT = 0.5


def vgg16_largefov_trunk() -> nn.Sequential:
    """conv1_1 .. pool5 as one flat ``Sequential`` (Conv2d, ReLU, MaxPool2d only), so the
    fixations tool can walk it module by module."""
    layers: list[nn.Module] = []
    cin = 3
    for channels, dilation, pool_stride in VGG16_BLOCKS:
        for cout in channels:
            layers += [nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation),
                       nn.ReLU(inplace=True)]
            cin = cout
        layers.append(nn.MaxPool2d(3, stride=pool_stride, padding=1, ceil_mode=False))
    return nn.Sequential(*layers)


class DeepLabLargeFOV(nn.Module):
    """``forward``: (B, K, H/8, W/8) logits (``output_stride`` 8) or (B, K, H, W)
    (``output_stride`` 1: bilinear x8 in the graph, ``align_corners=True`` as Caffe's
    ``Interp``). ``forward_train``: the stride-8 logits and the fc7 features."""

    def __init__(self, desc: ModelDescription) -> None:
        super().__init__()
        if desc.output_stride not in (1, 8):
            raise ConfigError(f"{desc.name}: deeplab-largefov gives logits at output stride 8 "
                              f"(or 1, upsampled in the graph), got {desc.output_stride}")
        self.desc = desc
        self.input_size = tuple(desc.input_size)
        if desc.backbone == "vgg16":
            self.trunk: nn.Module = vgg16_largefov_trunk()
            cin = 512
        elif desc.backbone == "mobilenet_v1":
            mobilenet = MobileNetV1(desc.alpha, output_stride=8)
            # only the layers up to the deepest tap; as one flat Sequential of units
            self.trunk = nn.Sequential(*mobilenet.layers)
            cin = mobilenet.channels(32)
        else:
            raise ConfigError(f"{desc.name}: deeplab-largefov backbone must be vgg16 or "
                              f"mobilenet_v1, got {desc.backbone!r}")
        width, k = desc.fc_width, desc.num_classes
        self.fc6 = nn.Conv2d(cin, width, 3, padding=FC6_DILATION, dilation=FC6_DILATION)
        self.relu6 = nn.ReLU(inplace=True)
        self.drop6 = nn.Dropout(DROPOUT)
        self.fc7 = nn.Conv2d(width, width, 1)
        self.relu7 = nn.ReLU(inplace=False)  # its output is returned as the features
        self.drop7 = nn.Dropout(DROPOUT)
        self.fc8 = nn.Conv2d(width, k, 1)
        self._init_weights(desc.backbone == "vgg16")

    def _init_weights(self, trunk: bool) -> None:
        """He-normal convs with zero bias (VGG without BN trains from scratch with it);
        fc8 Gaussian std 0.01 as in DeepLab's prototxt. MobileNet keeps its own init."""
        convs = [self.fc6, self.fc7]
        if trunk:
            convs += [m for m in self.trunk.modules() if isinstance(m, nn.Conv2d)]
        for m in convs:
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        nn.init.normal_(self.fc8.weight, std=0.01)
        nn.init.zeros_(self.fc8.bias)

    def _fc7(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu7(self.fc7(self.drop6(self.relu6(self.fc6(self.trunk(x))))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.fc8(self.drop7(self._fc7(x)))
        if self.desc.output_stride == 8:
            return logits
        if torch.jit.is_tracing():
            # the export's input is a multiple of 8: a constant scale is a static Resize
            # (no Shape/Slice/Concat); with align_corners the scale is (h-1)/(H-1) anyway
            return F.interpolate(logits, scale_factor=8.0, mode="bilinear", align_corners=True)
        return F.interpolate(logits, size=tuple(x.shape[-2:]), mode="bilinear",
                             align_corners=True)

    def forward_train(self, x: torch.Tensor) -> dict:
        """{"outputs": [(logits at 1/8, 1.0)], "joints": None, "features": fc7 after ReLU,
        before dropout (B, fc_width, h, w)}; the loss nearest-resizes labels to 1/8
        (DeepLab's label shrinking)."""
        features = self._fc7(x)
        logits = self.fc8(self.drop7(features))
        return {"outputs": [(logits, 1.0)], "joints": None, "features": features}

    def head_modules(self) -> list[nn.Module]:
        """fc6, fc7, fc8: the seed fine-tunes only these (every other LR is 0)."""
        return [self.fc6, self.fc7, self.fc8]

    def fixation_layers(self) -> list[nn.Module]:
        """The flat module list that, applied in order, gives the stride-8 logits in eval
        mode (Conv2d, BatchNorm2d, ReLU/ReLU6, MaxPool2d, Dropout)."""
        flat: list[nn.Module] = []
        for m in self.trunk.modules():
            if not isinstance(m, nn.Sequential) and not list(m.children()):
                flat.append(m)
        return flat + [self.fc6, self.relu6, self.drop6, self.fc7, self.relu7, self.drop7,
                       self.fc8]
