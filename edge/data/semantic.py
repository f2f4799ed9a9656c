"""Semantic-segmentation readers: Cityscapes (leftImg8bit + gtFine) and label folders
(the synthetic generator's ``images/`` + ``labels/`` + ``semantic.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge.description import CITYSCAPES_CLASSES
from edge.errors import DatasetError
from edge.optional import require

from .samples import IGNORE_LABEL, SemanticSample

# Cityscapes labelIds -> the 19 train ids (cityscapesScripts' labels.py); others ignored.
_CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
                         23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CITYSCAPES_LUT = np.full(256, IGNORE_LABEL, np.uint8)
for _label_id, _train_id in _CITYSCAPES_TRAIN_IDS.items():
    CITYSCAPES_LUT[_label_id] = _train_id


def _read(path: Path, flags: int, what: str) -> np.ndarray:
    cv2 = require("cv2", "reading images")
    img = cv2.imread(str(path), flags)
    if img is None:
        raise DatasetError(f"{path}: missing or unreadable {what}")
    return img


class SemanticFolder:
    """Pairs of images and label maps, as a sequence of :class:`SemanticSample`."""

    def __init__(self, pairs: list[tuple[Path, Path]], class_names: tuple[str, ...],
                 lut: np.ndarray | None, source: str, meta: dict | None = None,
                 joints: dict[str, np.ndarray] | None = None,
                 boxes: dict[str, np.ndarray] | None = None) -> None:
        if not pairs:
            raise DatasetError(f"{source}: no image/label pairs found")
        self.pairs = pairs
        self.class_names = class_names
        self.lut = lut
        self.source = source
        meta = meta or {}
        # per-class pixel counts (class weighting), the left/right id swap for mirroring
        # and, for body parts, the joints' swap (from semantic.json, when the set has them)
        self.histogram = (np.asarray(meta["histogram"], np.float64)
                          if isinstance(meta.get("histogram"), list) else None)
        self.swap_lr = _lut_from(meta.get("swap_lr"), len(class_names), source)
        self.joint_swap = (np.asarray(meta["joint_swap"], np.int64)
                           if isinstance(meta.get("joint_swap"), list) else None)
        self.joints = joints or {}
        # boxes per image (boxes.json) and their class names (semantic.json box_classes)
        self.boxes = boxes
        self.box_classes = tuple(meta.get("box_classes") or ()) if boxes is not None else ()

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> SemanticSample:
        cv2 = require("cv2", "reading images")
        img_path, lab_path = self.pairs[index]
        image = _read(img_path, cv2.IMREAD_COLOR, "image")
        labels = _read(lab_path, cv2.IMREAD_UNCHANGED, "label map")
        if labels.ndim != 2 or labels.shape != image.shape[:2]:
            raise DatasetError(f"{lab_path}: label map must be single-channel and the size of "
                               f"{img_path.name}, got shape {labels.shape}")
        if self.lut is not None:
            labels = self.lut[labels]
        boxes = None
        if self.boxes is not None:
            boxes = self.boxes.get(img_path.stem, np.zeros((0, 5), np.float32))
        return SemanticSample(image=image, labels=labels.astype(np.uint8),
                              file_name=img_path.name, joints=self.joints.get(img_path.stem),
                              boxes=boxes)


def _lut_from(swap, classes: int, source: str) -> np.ndarray | None:
    """A 256-entry uint8 LUT from a class permutation (255 stays 255), or None."""
    if swap is None:
        return None
    perm = np.asarray(swap, np.int64)
    if perm.shape != (classes,) or sorted(perm.tolist()) != list(range(classes)):
        raise DatasetError(f"{source}/semantic.json: swap_lr must be a permutation of the "
                           f"{classes} class ids")
    lut = np.arange(256, dtype=np.uint8)
    lut[:classes] = perm
    return lut


def label_folder(root: str | Path) -> SemanticFolder:
    """A folder with ``semantic.json``, ``images/`` and ``labels/`` (same file stems)."""
    root = Path(root)
    meta_path = root / "semantic.json"
    if not meta_path.is_file():
        raise DatasetError(f"{meta_path}: missing; a label folder needs semantic.json naming its "
                           f"classes (edge-build dataset synth writes one)")
    meta = json.loads(meta_path.read_text())
    labels = {p.stem: p for p in (root / meta.get("labels", "labels")).glob("*.png")}
    images = sorted((root / meta.get("images", "images")).iterdir())
    pairs = [(p, labels[p.stem]) for p in images if p.stem in labels]
    joints = None
    if (root / "joints.json").is_file():  # body parts: 2D joints per image
        try:
            raw = json.loads((root / "joints.json").read_text())
            joints = {k: np.asarray(v, np.float32).reshape(-1, 3) for k, v in raw.items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise DatasetError(f"{root / 'joints.json'}: not {{image stem: [[x, y, visible], "
                               f"...]}} ({exc})") from exc
    boxes = _read_boxes(root, meta) if (root / "boxes.json").is_file() else None
    return SemanticFolder(pairs, tuple(meta["classes"]), None, str(root), meta, joints, boxes)


def _read_boxes(root: Path, meta: dict) -> dict[str, np.ndarray]:
    """``boxes.json`` ({image stem: [[x1, y1, x2, y2, c], ...]}) checked against
    semantic.json's ``box_classes``: a malformed file fails here, naming it, not mid-run."""
    path = root / "boxes.json"
    classes = meta.get("box_classes")
    if not isinstance(classes, list) or not classes or not all(
            isinstance(c, str) and c for c in classes):
        raise DatasetError(f"{root / 'semantic.json'}: boxes.json is there but box_classes "
                           f"(a list of box class names) is missing or not names; add it or "
                           f"remove boxes.json")
    shape = "{image stem: [[x1, y1, x2, y2, class], ...]}"
    try:
        raw = json.loads(path.read_text())
        out = {}
        for k, v in raw.items():
            b = np.asarray(v, np.float32)
            if b.size == 0:
                b = b.reshape(0, 5)
            if b.ndim != 2 or b.shape[1] != 5:
                raise ValueError(f"image {k}: rows of 5 numbers expected, got shape {b.shape}")
            out[str(k)] = b
    except (ValueError, TypeError, AttributeError) as exc:
        raise DatasetError(f"{path}: not {shape} ({exc})") from exc
    stems = {p.stem for p in (root / meta.get("images", "images")).iterdir()}
    unknown = sorted(set(out) - stems)
    if unknown:
        raise DatasetError(f"{path}: keys {unknown[:3]} name no image in "
                           f"{meta.get('images', 'images')}/ (keys are file stems, e.g. "
                           f"{min(stems) if stems else '000000'!r}); fix or remove them")
    for stem, b in out.items():
        c = b[:, 4]
        if not np.all(np.isfinite(b)) or np.any(c < 0) or np.any(c >= len(classes)) or \
                np.any(c != np.round(c)) or np.any(b[:, 2] <= b[:, 0]) or \
                np.any(b[:, 3] <= b[:, 1]):
            raise DatasetError(f"{path}: image {stem}: boxes need x2 > x1, y2 > y1 and a class "
                               f"index below {len(classes)} (box_classes)")
    return out


def cityscapes(root: str | Path, split: str = "val") -> SemanticFolder:
    """Cityscapes ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with
    ``gtFine/<split>/<city>/*_gtFine_labelIds.png``, labels mapped to the 19 train ids."""
    root = Path(root)
    img_root = root / "leftImg8bit" / split
    if not img_root.is_dir():
        raise DatasetError(f"{img_root}: not found; point --data at the Cityscapes root holding "
                           f"leftImg8bit/ and gtFine/")
    pairs = []
    for img in sorted(img_root.glob("*/*_leftImg8bit.png")):
        stem = img.name[: -len("_leftImg8bit.png")]
        lab = root / "gtFine" / split / img.parent.name / f"{stem}_gtFine_labelIds.png"
        if not lab.is_file():
            raise DatasetError(f"{lab}: missing ground truth for {img}")
        pairs.append((img, lab))
    return SemanticFolder(pairs, CITYSCAPES_CLASSES, CITYSCAPES_LUT, str(root))
