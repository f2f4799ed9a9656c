"""Which ISB segments which box (thesis 3.1.4, 3.1.5).

Rules, by the encompassing shape ``(h, w)`` of a box in stride-32 cells:

- ``single``: every box goes to the one branch (Single-Branch).
- ``exact``: the branch whose shape equals the box's; none otherwise (Single-Shape).
- ``exact_or_fallback``: as ``exact``, else the first resizing branch (Single-Shape+).
- ``largest_fit``: among branch shapes that fit inside the box's (``bh <= h`` and
  ``bw <= w``), the largest by area, first in configuration order on a tie; the crop
  is then shrunk to it. A box smaller than every shape in some dimension goes to the
  smallest-area branch (unreachable when a 1x1 branch exists, as in every zoo model).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.description import AssignRule, BranchSpec
from edge.errors import ConfigError

from .boxes import FloatArray, IntArray

NO_BRANCH = -1


def assign_branches(
    shapes: IntArray, branches: Sequence[BranchSpec], rule: AssignRule
) -> IntArray:
    """(N, 2) encompassing shapes ``(h, w)`` -> (N,) int64 branch index, or ``NO_BRANCH``."""
    shapes = np.asarray(shapes, dtype=np.int64).reshape(-1, 2)
    n = shapes.shape[0]
    if not branches:
        raise ConfigError("branch assignment needs at least one branch")
    bshape = np.array([b.shape for b in branches], dtype=np.int64)  # (B, 2)
    if rule == "single":
        return np.zeros(n, dtype=np.int64)
    if rule in ("exact", "exact_or_fallback"):
        exact_ok = np.array([b.mode == "exact" for b in branches])
        match = np.all(shapes[:, None, :] == bshape[None, :, :], axis=2) & exact_ok[None, :]
        out = np.where(match.any(axis=1), match.argmax(axis=1), NO_BRANCH)
        if rule == "exact_or_fallback":
            fallback = [i for i, b in enumerate(branches) if b.mode != "exact"]
            if not fallback:
                raise ConfigError("rule exact_or_fallback needs a resizing branch to fall back to")
            out = np.where(out == NO_BRANCH, fallback[0], out)
        return out.astype(np.int64)
    if rule == "largest_fit":
        fits = np.all(bshape[None, :, :] <= shapes[:, None, :], axis=2)  # (N, B)
        area = bshape[:, 0] * bshape[:, 1]
        scored = np.where(fits, area[None, :], -1)
        best = scored.argmax(axis=1)
        smallest = int(np.argmin(area))
        return np.where(fits.any(axis=1), best, smallest).astype(np.int64)
    raise ConfigError(
        f"unknown assignment rule {rule!r}; expected single, exact, exact_or_fallback or largest_fit"
    )


def select_per_branch(
    assignment: IntArray, scores: FloatArray, branches: Sequence[BranchSpec]
) -> list[IntArray]:
    """Box indices each branch segments, highest score first, at most ``max_boxes`` each.

    Boxes past a branch's capacity get no mask (the thesis pads every branch to a fixed
    box count: 100 Single-Branch, 30 multi-branch).
    """
    assignment = np.asarray(assignment)
    order = np.argsort(-np.asarray(scores), kind="stable")
    ranked = assignment[order]
    return [order[ranked == i][: b.max_boxes].astype(np.int64) for i, b in enumerate(branches)]
