"""Build the PyTorch module of any catalogue model from its description."""

from __future__ import annotations

from typing import Any

from torch import nn

from edge.catalog import describe
from edge.description import ModelDescription

from .fcn import FCNSegmenter
from .ssd_isb import SSDISB


def build_model(desc: ModelDescription) -> nn.Module:
    """``nn.Module`` for ``desc``: an :class:`SSDISB`, an :class:`FCNSegmenter`, or one of the
    seed systems (ICNet, SegNet-Basic, SegNet, the toy SegNet, Stacked Hourglass), whose
    ``forward`` gives logits at the input size and ``forward_train`` every supervised
    output (see :mod:`edge.train.seg_losses`)."""
    if desc.task == "instance":
        return SSDISB(desc)
    arch = desc.architecture
    if arch == "fcn":
        return FCNSegmenter(desc)
    if arch == "icnet":
        from .icnet import ICNet

        return ICNet(desc)
    if arch == "hourglass":
        from .hourglass import StackedHourglass

        return StackedHourglass(desc)
    if arch == "deeplab-largefov":
        from .deeplab import DeepLabLargeFOV

        return DeepLabLargeFOV(desc)
    if arch == "roimask":
        from .roimask import RoIMaskedSegmenter

        return RoIMaskedSegmenter(desc)
    from .segnet import SegNet, SegNetBasic, SegNetToy

    return {"segnet-basic": SegNetBasic, "segnet": SegNet, "segnet-toy": SegNetToy}[arch](desc)


def create(name: str, **options: Any) -> tuple[ModelDescription, nn.Module]:
    """Description and freshly initialised module of zoo model ``name``."""
    desc = describe(name, **options)
    return desc, build_model(desc)
