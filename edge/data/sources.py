"""Open a dataset folder or file as the reader a task needs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edge.errors import DatasetError

from .coco import CocoInstances
from .semantic import SemanticFolder, cityscapes, label_folder


def open_instances(path: str | Path, categories: Sequence[str] | None = None) -> CocoInstances:
    """A COCO instances JSON, or a folder holding ``annotations.json`` beside its images."""
    p = Path(path)
    if p.is_dir():
        p = p / "annotations.json"
    if not p.is_file():
        raise DatasetError(f"{p}: not found; --data takes a folder holding annotations.json "
                           f"(COCO instances) or the JSON file itself")
    return CocoInstances(p, categories=categories)


def open_semantic(path: str | Path, split: str = "val") -> SemanticFolder:
    """A label folder (``semantic.json``) or a Cityscapes root (``leftImg8bit/``)."""
    p = Path(path)
    if (p / "semantic.json").is_file():
        return label_folder(p)
    if (p / "leftImg8bit").is_dir():
        return cityscapes(p, split)
    raise DatasetError(f"{p}: neither a label folder (semantic.json) nor a Cityscapes root "
                       f"(leftImg8bit/, gtFine/)")
