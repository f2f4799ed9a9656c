"""Encompassing boxes on a stride grid and the crop windows they give (thesis 3.1.3).

An encompassing box is the smallest box aligned to the stride-``s`` feature grid that
contains a box, clipped to the image. Cells are ``(c0, r0, c1, r1)`` int arrays:
columns ``c0 <= c < c1`` and rows ``r0 <= r < r1`` of the grid (half-open), so a crop
of a feature map is ``fmap[:, r0:r1, c0:c1]`` and its shape is ``(r1 - r0, c1 - c0)``.
"""

from __future__ import annotations

import numpy as np

from .boxes import FloatArray, IntArray


def encompassing_cells(boxes: FloatArray, image_hw: tuple[int, int], stride: int) -> IntArray:
    """(N, 4) pixel boxes -> (N, 4) int64 grid cells ``(c0, r0, c1, r1)``.

    ``c0 = floor(x1 / s)``, ``c1 = ceil(x2 / s)``, clipped to the grid of
    ``ceil(W / s) x ceil(H / s)`` cells, and never empty: a box with no extent, or
    lying wholly outside the image, still gets the one cell nearest to it.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    h, w = image_hw
    gw, gh = -(-w // stride), -(-h // stride)
    c0 = np.floor(boxes[:, 0] / stride)
    r0 = np.floor(boxes[:, 1] / stride)
    c1 = np.ceil(boxes[:, 2] / stride)
    r1 = np.ceil(boxes[:, 3] / stride)
    c0 = np.clip(c0, 0, gw - 1)
    r0 = np.clip(r0, 0, gh - 1)
    c1 = np.clip(np.maximum(c1, c0 + 1), 1, gw)
    r1 = np.clip(np.maximum(r1, r0 + 1), 1, gh)
    c0 = np.minimum(c0, c1 - 1)
    r0 = np.minimum(r0, r1 - 1)
    return np.stack([c0, r0, c1, r1], axis=1).astype(np.int64)


def cells_to_pixels(cells: IntArray, image_hw: tuple[int, int], stride: int) -> IntArray:
    """Grid cells (N, 4) -> the encompassing box in pixels (N, 4) int64, clipped to the image."""
    h, w = image_hw
    px = np.asarray(cells, dtype=np.int64).reshape(-1, 4) * stride
    px[:, 0::2] = np.clip(px[:, 0::2], 0, w)
    px[:, 1::2] = np.clip(px[:, 1::2], 0, h)
    return px


def encompassing_boxes(boxes: FloatArray, image_hw: tuple[int, int], stride: int) -> IntArray:
    """(N, 4) pixel boxes -> (N, 4) int64 encompassing boxes in pixels."""
    return cells_to_pixels(encompassing_cells(boxes, image_hw, stride), image_hw, stride)


def cell_shapes(cells: IntArray) -> IntArray:
    """(N, 4) cells -> (N, 2) int64 shapes ``(h, w)`` in cells (rows, columns)."""
    cells = np.asarray(cells).reshape(-1, 4)
    return np.stack([cells[:, 3] - cells[:, 1], cells[:, 2] - cells[:, 0]], axis=1)


def crop_windows(cells: IntArray, grid_stride: int, target_stride: int) -> IntArray:
    """Cells on the ``grid_stride`` grid -> the same region on a ``target_stride`` map.

    Encompassing boxes are aligned to the coarsest grid, so on every finer map (stride
    16, 8) the window is exact: ``cells * (grid_stride // target_stride)``.
    """
    if grid_stride % target_stride:
        raise ValueError(f"stride {target_stride} does not divide grid stride {grid_stride}")
    return np.asarray(cells, dtype=np.int64).reshape(-1, 4) * (grid_stride // target_stride)
