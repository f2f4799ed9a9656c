"""SSD default anchors and the feature-map sizes they sit on.

The detector (torch), the exporter and the runtime all take anchors from here, so
box decoding cannot drift between them.
"""

from __future__ import annotations

import math

import numpy as np

from edge.description import AnchorSpec

from .boxes import FloatArray


def ssd_feature_sizes(input_hw: tuple[int, int]) -> list[tuple[int, int]]:
    """(h, w) of the six SSD-MobileNet prediction maps for an input of ``input_hw``.

    Maps at strides 16 and 32, then four stride-2 extra layers with SAME padding
    (``ceil(n / 2)``): 640x640 gives 40, 20, 10, 5, 3, 2.
    """
    h, w = input_hw
    sizes = [(h // 16, w // 16), (h // 32, w // 32)]
    for _ in range(4):
        ph, pw = sizes[-1]
        sizes.append(((ph + 1) // 2, (pw + 1) // 2))
    return sizes


def anchor_shapes(spec: AnchorSpec, num_maps: int) -> list[list[tuple[float, float]]]:
    """Per map, the (scale, aspect ratio) of each anchor at one location (TF OD API order)."""
    m = num_maps
    scales = [spec.min_scale + (spec.max_scale - spec.min_scale) * k / (m - 1) for k in range(m)]
    scales.append(1.0)
    shapes: list[list[tuple[float, float]]] = []
    for k in range(m):
        if k == 0 and spec.reduce_lowest:
            shapes.append([(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)])
            continue
        layer = [(scales[k], ar) for ar in spec.aspect_ratios]
        layer.append((math.sqrt(scales[k] * scales[k + 1]), 1.0))
        shapes.append(layer)
    return shapes


def ssd_anchors(spec: AnchorSpec, input_hw: tuple[int, int]) -> FloatArray:
    """All default anchors as (A, 4) float32 ``(x1, y1, x2, y2)`` in input pixels.

    Order: map by map; within a map row-major over cells (y, then x); within a cell
    anchor type by type. This is the order the detector heads flatten their outputs in.
    An anchor of scale ``s`` and ratio ``r`` is ``s*sqrt(r)`` of the input wide and
    ``s/sqrt(r)`` high, centred on its cell; anchors may extend past the image.
    """
    h, w = input_hw
    sizes = ssd_feature_sizes(input_hw)
    out = []
    for (fh, fw), shapes in zip(sizes, anchor_shapes(spec, len(sizes))):
        cy = (np.arange(fh, dtype=np.float64) + 0.5) / fh * h
        cx = (np.arange(fw, dtype=np.float64) + 0.5) / fw * w
        sw = np.array([s * math.sqrt(r) for s, r in shapes]) * w
        sh = np.array([s / math.sqrt(r) for s, r in shapes]) * h
        cyy, cxx = np.meshgrid(cy, cx, indexing="ij")  # (fh, fw)
        ctr_x = np.broadcast_to(cxx[:, :, None], (fh, fw, len(shapes)))
        ctr_y = np.broadcast_to(cyy[:, :, None], (fh, fw, len(shapes)))
        boxes = np.stack(
            [ctr_x - sw / 2, ctr_y - sh / 2, ctr_x + sw / 2, ctr_y + sh / 2], axis=-1
        )
        out.append(boxes.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)
