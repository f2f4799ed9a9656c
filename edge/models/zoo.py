"""Build the PyTorch module of any catalogue model from its description."""

from __future__ import annotations

from typing import Any

from torch import nn

from edge.catalog import describe
from edge.description import ModelDescription

from .fcn import FCNSegmenter
from .ssd_isb import SSDISB


def build_model(desc: ModelDescription) -> nn.Module:
    """``nn.Module`` for ``desc``: an :class:`FCNSegmenter` or an :class:`SSDISB`."""
    if desc.task == "semantic":
        return FCNSegmenter(desc)
    return SSDISB(desc)


def create(name: str, **options: Any) -> tuple[ModelDescription, nn.Module]:
    """Description and freshly initialised module of zoo model ``name``."""
    desc = describe(name, **options)
    return desc, build_model(desc)
