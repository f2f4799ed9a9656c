"""COCO run-length encoding in NumPy, so the lean runtime can write masks without
pycocotools. Output is byte-identical to ``pycocotools.mask.encode`` (tested)."""

from __future__ import annotations

from typing import Any

import numpy as np


def rle_counts(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool -> run lengths in column-major order, starting with a run of zeros."""
    flat = np.asarray(mask, dtype=bool).T.ravel()
    if flat.size == 0:
        return np.zeros(0, np.int64)
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], edges, [flat.size]))
    counts = np.diff(bounds)
    if flat[0]:
        counts = np.concatenate(([0], counts))
    return counts


def counts_to_string(counts: np.ndarray) -> str:
    """COCO's compressed counts string: deltas to the count two back, 5 bits per char."""
    out: list[str] = []
    c = [int(v) for v in counts]
    for i, x in enumerate(c):
        if i > 2:
            x -= c[i - 2]
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = x != -1 if ch & 0x10 else x != 0
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def encode(mask: np.ndarray) -> dict[str, Any]:
    """(H, W) bool -> ``{"size": [H, W], "counts": str}`` (COCO compressed RLE)."""
    h, w = mask.shape
    return {"size": [int(h), int(w)], "counts": counts_to_string(rle_counts(mask))}


def decode(rle: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode` -> (H, W) bool."""
    h, w = rle["size"]
    s = rle["counts"]
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            ch = ord(s[p]) - 48
            x |= (ch & 0x1F) << (5 * k)
            more = bool(ch & 0x20)
            p += 1
            k += 1
            if not more and ch & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    flat = np.zeros(h * w, bool)
    pos, val = 0, False
    for n in counts:
        if val:
            flat[pos:pos + n] = True
        pos += n
        val = not val
    return flat.reshape(w, h).T
