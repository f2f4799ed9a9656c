"""COCO-format instance annotations: reading (any category subset, polygons, RLE,
crowd, images without annotations) and RLE encoding for writing results.

Mask decoding uses pycocotools, the same library the evaluation uses, so training
targets and metrics see identical masks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import DatasetError
from edge.untrusted import short_repr
from edge.optional import require

from .samples import InstanceSample


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """(H, W) bool -> COCO compressed RLE with a JSON-safe ``counts`` string."""
    mu = require("pycocotools.mask", "COCO RLE encoding")
    rle = mu.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


MAX_SIDE = 1 << 15  # an image side beyond this is a corrupt annotation, not a photo


def _coordinate(v: Any) -> bool:
    """A pixel coordinate or size: a finite number of sane magnitude (not bool, not 1e30)."""
    return type(v) in (int, float) and math.isfinite(v) and abs(v) <= 1e7


def _compressed_counts(counts: str) -> list[int]:
    """The run lengths of a COCO compressed RLE string (pycocotools' ``rleFrString``), read
    here so that their sum is checked before pycocotools' decoder writes them (it trusts
    them and would write past the mask)."""
    out: list[int] = []
    i = 0
    while i < len(counts):
        x, k, more = 0, 0, True
        while more:
            if i >= len(counts):
                raise ValueError("compressed RLE ends inside a run length")
            c = ord(counts[i]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"compressed RLE has an invalid character {counts[i]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            i, k = i + 1, k + 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def _check_runs(runs: list[Any], h: int, w: int) -> None:
    if not all(type(r) is int and r >= 0 for r in runs) or sum(runs) != h * w:
        raise ValueError(f"RLE run lengths must be non-negative integers summing to {h}x{w}")


def decode_segmentation(seg: Any, h: int, w: int, where: str) -> np.ndarray:
    """A COCO ``segmentation`` (polygons, uncompressed or compressed RLE) -> (H, W) bool."""
    mu = require("pycocotools.mask", "COCO masks")
    try:
        if isinstance(seg, list):
            if not all(isinstance(p, list) and all(_coordinate(v) for v in p) for p in seg):
                raise ValueError("polygons must be lists of finite numbers")
            polys = [p for p in seg if len(p) >= 6]
            if not polys or any(len(p) % 2 for p in polys):
                raise ValueError("polygons need an even number (>= 6) of coordinates")
            rle = mu.merge(mu.frPyObjects(polys, h, w))
        elif isinstance(seg, dict) and "counts" in seg and "size" in seg:
            if not isinstance(seg["size"], list) or seg["size"] != [h, w]:
                raise ValueError(f"RLE size {short_repr(seg['size'])} differs from the image's "
                                 f"[{h}, {w}]")
            if isinstance(seg["counts"], list):
                _check_runs(seg["counts"], h, w)
                rle = mu.frPyObjects(seg, h, w)
            elif isinstance(seg["counts"], str):
                _check_runs(_compressed_counts(seg["counts"]), h, w)
                rle = {"size": [h, w], "counts": seg["counts"].encode("ascii")}
            else:
                raise ValueError("RLE counts must be a list or a compressed string")
        else:
            raise ValueError("expected a list of polygons or an RLE dict with counts and size")
        return mu.decode(rle).astype(bool)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise DatasetError(f"{where}: malformed segmentation ({str(exc)[:160]}); fix or drop "
                           f"that annotation") from exc


def _valid_image(img: Any) -> bool:
    """An ``images`` entry as COCO defines it: integer id, a relative file name that stays
    in the image folder (no absolute path, no ``..``), positive integer size."""
    if not isinstance(img, dict) or not {"id", "file_name", "height", "width"} <= set(img):
        return False
    name = img["file_name"]
    sizes_ok = all(type(img[k]) is int and 0 < img[k] <= MAX_SIDE for k in ("height", "width"))
    name_ok = (isinstance(name, str) and name.isprintable() and "\\" not in name
               and not name.startswith("/") and ":" not in name
               and all(part not in ("", ".", "..") for part in name.split("/")))
    return type(img["id"]) is int and sizes_ok and name_ok


class CocoInstances:
    """A COCO instances file plus its image folder, as a sequence of samples.

    ``categories`` picks category names, in the order that defines class indices
    (e.g. ``["person"]``); default: every category, sorted by id. Annotations of other
    categories are dropped; images left without annotations are kept unless
    ``skip_empty``. Images are looked up as ``image_dir / file_name`` (default: the
    ``images/`` folder beside the JSON if it exists, else the JSON's folder).
    """

    def __init__(self, annotation_file: str | Path, image_dir: str | Path | None = None,
                 categories: Sequence[str] | None = None, skip_empty: bool = False) -> None:
        self.path = Path(annotation_file)
        if not self.path.is_file():
            raise DatasetError(f"{self.path}: no such annotation file; pass a COCO instances "
                               f"JSON (e.g. DIR/annotations.json from edge-build dataset synth)")
        try:
            data = json.loads(self.path.read_bytes())
        except (ValueError, RecursionError, OSError) as exc:  # not UTF-8, not JSON, unreadable
            raise DatasetError(f"{self.path}: not valid JSON ({str(exc)[:160]})") from exc
        for key in ("images", "annotations", "categories"):
            if not isinstance(data, dict) or not isinstance(data.get(key), list):
                raise DatasetError(f"{self.path}: missing the '{key}' list of a COCO instances file")
        if not all(isinstance(c, dict) and type(c.get("id")) is int and isinstance(
                c.get("name"), str) for c in data["categories"]):
            raise DatasetError(f"{self.path}: every category needs an integer id and a name")
        if image_dir is None:
            image_dir = self.path.parent / "images"
            if not image_dir.is_dir():
                image_dir = self.path.parent
        self.image_dir = Path(image_dir)

        cats = sorted(data["categories"], key=lambda c: c["id"])
        by_name = {c["name"]: c["id"] for c in cats}
        names = list(categories) if categories is not None else [c["name"] for c in cats]
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DatasetError(f"{self.path}: categories {missing} not found; it has "
                               f"{sorted(by_name)}")
        self.class_names: tuple[str, ...] = tuple(names)
        self.cat_to_class = {by_name[n]: i for i, n in enumerate(names)}
        self.class_to_cat = {i: c for c, i in self.cat_to_class.items()}

        self.images: list[dict[str, Any]] = []
        ids = set()
        for n, img in enumerate(data["images"]):
            if not _valid_image(img):
                raise DatasetError(f"{self.path}: image entry {n} needs an integer id, a "
                                   f"relative file_name inside the image folder and integer "
                                   f"height and width in 1..{MAX_SIDE}")
            ids.add(img["id"])
        self.anns: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        for n, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict):
                raise DatasetError(f"{self.path}: annotation entry {n} is not an object")
            where = f"{self.path}: annotation {short_repr(ann.get('id', n))}"
            if type(ann.get("image_id")) is not int or type(ann.get("category_id")) is not int:
                raise DatasetError(f"{where}: needs integer image_id and category_id")
            if ann["image_id"] not in self.anns:
                raise DatasetError(f"{where}: refers to image {ann['image_id']}, which the file "
                                   f"does not list")
            if ann["category_id"] in self.cat_to_class:
                self.anns[ann["image_id"]].append(ann)
        self.images = [img for img in data["images"]
                       if not (skip_empty and not self.anns[img["id"]])]
        self.raw = data

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, index: int) -> Path:
        return self.image_dir / self.images[index]["file_name"]

    def load_image(self, index: int) -> np.ndarray:
        cv2 = require("cv2", "reading images")
        path = self.image_path(index)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DatasetError(f"{path}: missing or unreadable image (listed in {self.path}); "
                               f"check --data points at the dataset folder")
        info = self.images[index]
        if image.shape[:2] != (info["height"], info["width"]):
            raise DatasetError(f"{path}: image is {image.shape[1]}x{image.shape[0]} but "
                               f"{self.path} says {info['width']}x{info['height']}")
        return image

    def annotations(self, index: int) -> InstanceSample:
        """The sample without pixels (``image`` is an empty array): masks, boxes, classes."""
        info = self.images[index]
        h, w = info["height"], info["width"]
        anns = self.anns[info["id"]]
        masks = np.zeros((len(anns), h, w), bool)
        boxes = np.zeros((len(anns), 4), np.float32)
        for i, ann in enumerate(anns):
            where = f"{self.path}: annotation {short_repr(ann.get('id', '?'))}"
            if "segmentation" in ann:
                masks[i] = decode_segmentation(ann["segmentation"], h, w, where)
            if "bbox" in ann:
                box = ann["bbox"]
                if not (isinstance(box, list) and len(box) == 4 and all(
                        _coordinate(v) for v in box)):
                    raise DatasetError(f"{where}: bbox must be 4 finite numbers [x, y, w, h], "
                                       f"got {short_repr(box)}")
                x, y, bw, bh = (float(v) for v in box)
                if bw < 0 or bh < 0:
                    raise DatasetError(f"{where}: negative bbox size {box}")
                boxes[i] = (x, y, x + bw, y + bh)
            elif masks[i].any():
                ys, xs = np.nonzero(masks[i])
                boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            else:
                raise DatasetError(f"{where}: has neither bbox nor a non-empty segmentation")
        return InstanceSample(
            image=np.zeros((0, 0, 3), np.uint8), boxes=boxes,
            classes=np.array([self.cat_to_class[a["category_id"]] for a in anns], np.int64),
            masks=masks, iscrowd=np.array([bool(a.get("iscrowd", 0)) for a in anns], bool),
            image_id=int(info["id"]), file_name=info["file_name"])

    def __getitem__(self, index: int) -> InstanceSample:
        sample = self.annotations(index)
        sample.image = self.load_image(index)
        return sample
