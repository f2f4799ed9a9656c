"""Calibration sets: which frames calibrate a model, recorded so a build is repeatable.

A manifest (JSON, kept in ``calibration/``) names the set, its source (an image folder,
a video with frame indices, or a COCO file), the sampling rule and seed, the count and
the hash of the preprocessing the frames feed. Frames are preprocessed by the runtime's
own :func:`edge.preprocess.preprocess`, never a copy of it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from edge import atomic
from edge.errors import DatasetError
from edge.optional import require

log = logging.getLogger(__name__)

DEFAULT_COUNT = 500
WARN_BELOW = 300
MIN_FRAMES = 16  # fewer than this cannot estimate activation ranges at all
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class CalibrationSet:
    """A calibration-set manifest. ``kind`` is ``images``, ``video`` or ``coco``."""

    name: str
    kind: str
    path: str
    count: int = DEFAULT_COUNT
    seed: int = 0
    rule: str = "uniform-random"
    frames: list[int] = field(default_factory=list)  # video frame indices (rule "indices")
    preprocessing_hash: str = ""

    @classmethod
    def load(cls, ref: str | Path) -> CalibrationSet:
        """A manifest file, a set name in ``calibration/``, or an image folder / COCO JSON /
        video used directly (uniform random sample of ``DEFAULT_COUNT``, seed 0).

        A manifest's relative ``path`` is relative to the manifest's folder (what
        :meth:`save` writes); manifests written before that, relative to the working
        directory, are still found there."""
        p = Path(ref)
        if p.is_dir():
            return cls(name=p.name, kind="images", path=str(p))
        if p.suffix.lower() in (".mp4", ".avi", ".mkv", ".mov"):
            return cls(name=p.stem, kind="video", path=str(p))
        if p.suffix == ".json" and p.is_file():
            from edge.untrusted import load_json

            data = load_json(p, "pass a calibration-set manifest or a COCO file", DatasetError)
            if not isinstance(data, dict):
                raise DatasetError(f"{p}: not a calibration-set manifest or COCO file")
            if "images" in data and "annotations" in data:
                return cls(name=p.parent.name, kind="coco", path=str(p))
            known = {f.name for f in fields(cls)}
            unknown = sorted(repr(k)[:40] for k in set(data) - known)
            missing = sorted({"name", "kind", "path"} - set(data))
            if unknown or missing:
                raise DatasetError(f"{p}: not a calibration-set manifest (unknown fields "
                                   f"{', '.join(unknown[:5]) or 'none'}; missing "
                                   f"{', '.join(missing) or 'none'})")
            cset = cls(**data)
            cset.check(p)
            source = Path(cset.path)
            if not source.is_absolute():
                beside = p.parent / source
                if beside.exists() or not source.exists():
                    cset.path = os.path.normpath(beside)
            return cset
        named = Path("calibration") / f"{ref}.json"
        if named.is_file():
            return cls.load(named)
        raise DatasetError(f"{ref}: no such calibration set; pass an image folder, a video, a "
                           f"COCO JSON or a manifest (calibration/<name>.json)")

    def check(self, where: str | Path) -> None:
        """Refuse, naming ``where``, a manifest whose fields are not what :meth:`save` writes
        (before any of them is used: a string count or a null byte in the path would
        otherwise fail deep inside NumPy or the file system)."""
        def nonneg_int(v: Any) -> bool:
            return type(v) is int and v >= 0

        problems = [k for k, ok in (
            ("name", isinstance(self.name, str) and self.name.isprintable()),
            ("kind", self.kind in ("images", "video", "coco")),
            ("path", isinstance(self.path, str) and bool(self.path) and "\0" not in self.path),
            ("count", nonneg_int(self.count) and self.count >= 1),
            ("seed", nonneg_int(self.seed) and self.seed < 2**63),
            ("rule", isinstance(self.rule, str) and self.rule.isprintable()),
            ("frames", isinstance(self.frames, list) and all(nonneg_int(f) for f in self.frames)),
            ("preprocessing_hash", isinstance(self.preprocessing_hash, str))) if not ok]
        if problems:
            raise DatasetError(f"{where}: invalid {', '.join(problems)} in the calibration-set "
                               f"manifest (kind images|video|coco, a path, count >= 1, seed >= 0, "
                               f"frames a list of indices); fix it or re-create the set")

    def save(self, path: str | Path) -> None:
        """Write the manifest; a relative source path is stored relative to the manifest's
        folder (so :meth:`load` finds it from any working directory), an absolute one as is."""
        path = Path(path)
        data = asdict(self)
        if not Path(self.path).is_absolute():
            data["path"] = Path(os.path.relpath(Path(self.path).absolute(),
                                                path.parent.absolute())).as_posix()
        atomic.write_text(path, json.dumps(data, indent=2) + "\n")

    def frames_bgr(self) -> list[np.ndarray]:
        """The sampled frames, BGR uint8, in a fixed order. Refuses empty or tiny sets."""
        cv2 = require("cv2", "reading calibration frames")
        if self.kind == "images":
            root = Path(self.path)
            files = sorted(f for f in root.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
            chosen = self._sample(len(files), str(root))
            frames = [cv2.imread(str(files[i]), cv2.IMREAD_COLOR) for i in chosen]
            bad = [str(files[i]) for i, f in zip(chosen, frames) if f is None]
            if bad:
                raise DatasetError(f"{bad[0]}: unreadable calibration image")
            return frames
        if self.kind == "coco":
            from edge.data.coco import CocoInstances

            ds = CocoInstances(self.path)
            return [ds.load_image(i) for i in self._sample(len(ds), self.path)]
        if self.kind == "video":
            cap = cv2.VideoCapture(self.path)
            total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            wanted = sorted(self.frames) if self.frames else sorted(self._sample(total, self.path))
            frames, index = [], 0
            want = set(wanted)
            while len(frames) < len(wanted):
                ok, frame = cap.read()
                if not ok:
                    break
                if index in want:
                    frames.append(frame)
                index += 1
            cap.release()
            if len(frames) < MIN_FRAMES:
                raise DatasetError(f"{self.path}: read {len(frames)} calibration frames, need at "
                                   f"least {MIN_FRAMES}; check the video")
            self.count = len(frames)
            return frames
        raise DatasetError(f"calibration set {self.name}: unknown kind {self.kind!r}")

    def _sample(self, available: int, where: str) -> list[int]:
        if available < MIN_FRAMES:
            raise DatasetError(f"{where}: {available} calibration images found, need at least "
                               f"{MIN_FRAMES} (and {WARN_BELOW}+ for stable INT8 ranges)")
        if self.count < 1:
            raise DatasetError(f"calibration set {self.name}: count must be at least 1, got "
                               f"{self.count}")
        n = min(self.count, available)
        self.count = n  # what the set really is: recorded in manifests as the frames used
        if n < WARN_BELOW:
            log.warning("calibration set %s: %d frames; below %d INT8 ranges are often unstable",
                        self.name, n, WARN_BELOW)
        rng = np.random.default_rng(self.seed)
        return sorted(rng.choice(available, size=n, replace=False).tolist())

    def describe(self) -> dict[str, Any]:
        return asdict(self)
