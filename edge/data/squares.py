"""Seed 004's toy task: one solid square on a solid background, two classes.

The document gives only "m x m where m is randomly selected from 90 to 100", a random
centre and 100 images each for training, validation and testing; colours and image size
are decisions (seed-systems 4.4): random solid colours far enough apart to be visible,
Gaussian sensor noise, the square always fully inside. The three splits are three
datasets with different seeds; :func:`write_squares_splits` writes them together.
"""

from __future__ import annotations

import numpy as np

from edge.description import SQUARES_CLASSES


SIDE_RANGE = (90, 100)  # seed 004's m, at 128 px or more
SPLITS = ("train", "val", "test")


def square_side_range(size: tuple[int, int]) -> tuple[int, int]:
    """The allowed side: U{90..100}, scaled by min(H, W)/128 when the frame is smaller
    than 128 px (so small test frames keep the square-to-frame ratio)."""
    short = min(size)
    if short >= 128:
        return SIDE_RANGE
    k = short / 128
    return max(1, int(round(SIDE_RANGE[0] * k))), max(1, int(round(SIDE_RANGE[1] * k)))


def render_square(rng: np.random.Generator, size: tuple[int, int] = (256, 256)
                  ) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """(image BGR uint8, labels uint8 {0, 1}, (x0, y0, side)) of one sample."""
    h, w = size
    lo, hi = square_side_range(size)
    m = int(rng.integers(lo, hi + 1))
    if m > h or m > w:
        raise ValueError(f"a {m}px square does not fit in {h}x{w}")
    x0, y0 = int(rng.integers(0, w - m + 1)), int(rng.integers(0, h - m + 1))
    bg = rng.uniform(0, 255, 3)
    fg = rng.uniform(0, 255, 3)
    while np.abs(fg - bg).sum() < 90:  # a square that cannot be seen is not a task
        fg = rng.uniform(0, 255, 3)
    img = np.empty((h, w, 3), np.float32)
    img[:] = bg
    img[y0:y0 + m, x0:x0 + m] = fg
    img += rng.normal(0.0, rng.uniform(4, 16), img.shape).astype(np.float32)
    labels = np.zeros((h, w), np.uint8)
    labels[y0:y0 + m, x0:x0 + m] = 1
    return np.clip(img, 0, 255).astype(np.uint8), labels, (x0, y0, m)


def write_squares_dataset(out, images: int = 100, size: tuple[int, int] = (256, 256),
                          seed: int = 0, overwrite: bool = False, progress: bool = True) -> dict:
    """Write ``images`` squares samples as a label folder (``images/``, ``labels/``,
    ``semantic.json`` with kind ``squares``, the class histogram and each square's
    ``[x0, y0, side]``). Output-folder rule as :func:`edge.data.synth.prepare_output`."""
    import json

    from tqdm import tqdm

    from edge import atomic

    from .synth import scene_seed, start_label_folder, write_pair

    root, removed, meta = start_label_folder(out, images, seed, overwrite, {
        "classes": list(SQUARES_CLASSES), "kind": "squares", "size": list(size)})
    hist = np.zeros(len(SQUARES_CLASSES), np.int64)
    boxes = []
    for i in tqdm(range(images), desc="squares", unit="img", disable=None if progress else True):
        image, labels, box = render_square(np.random.default_rng(scene_seed(seed, i)),
                                           tuple(size))
        write_pair(root, i, image, labels)
        hist += np.bincount(labels.ravel(), minlength=2)[:2]
        boxes.append(list(box))
    meta.update(histogram=hist.tolist(), squares=boxes)
    atomic.write_text(root / "semantic.json", json.dumps(meta, indent=1))
    return {"images": images, "out": str(root), "size": list(size), "seed": seed,
            "removed": removed, "histogram": hist.tolist()}


def split_seeds(seed: int) -> dict[str, int]:
    """Independent seeds of the train/val/test splits derived from one ``seed``."""
    from .synth import scene_seed

    return {name: scene_seed(seed, 1_000_003 + k) for k, name in enumerate(SPLITS)}


def write_squares_splits(out, counts: tuple[int, int, int] = (100, 100, 100),
                         size: tuple[int, int] = (256, 256), seed: int = 0,
                         overwrite: bool = False, progress: bool = True) -> dict:
    """Seed 004's 100/100/100 split: ``out/train``, ``out/val``, ``out/test``, each a
    squares dataset with its own seed from :func:`split_seeds` (no shared samples)."""
    seeds = split_seeds(seed)
    from pathlib import Path

    return {name: write_squares_dataset(Path(out) / name, n, size, seeds[name], overwrite,
                                        progress)
            for name, n in zip(SPLITS, counts)}
