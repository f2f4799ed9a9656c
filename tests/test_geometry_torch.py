"""The torch mirror used in training equals the NumPy geometry core."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from edge import geometry  # noqa: E402
from edge.models import geometry_torch as gt  # noqa: E402

from .test_geometry_boxes import boxes_strategy  # noqa: E402

# float32 on both sides; torch computes resize source coordinates in float32 and we in
# float64, which moves results by a few ULPs at most.
ATOL = 1e-5


@given(boxes_strategy(max_n=25), boxes_strategy(max_n=25))
def test_iou_mirror(a, b) -> None:
    got = gt.box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(got, geometry.box_iou(a, b), atol=1e-6)


# Anchors of at least 8 px (the smallest SSD anchor is 6.4% of the input): below that,
# float32 rounding of the anchor corners alone moves codes by more than 1e-4.
@given(boxes_strategy(max_n=25, min_size=8.0), st.floats(0.5, 3.0), st.floats(-40, 40))
def test_coder_mirror(boxes, scale, shift) -> None:
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + shift
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * scale
    anchors = np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
    coder = geometry.BoxCoder()
    codes_np = coder.encode(boxes, anchors)
    codes_t = gt.encode(torch.from_numpy(boxes), torch.from_numpy(anchors)).numpy()
    np.testing.assert_allclose(codes_t, codes_np, rtol=1e-4, atol=1e-4)
    dec_t = gt.decode(torch.from_numpy(codes_np), torch.from_numpy(anchors)).numpy()
    np.testing.assert_allclose(dec_t, coder.decode(codes_np, anchors), rtol=1e-5, atol=1e-3)


@given(boxes_strategy(max_n=25, extent=700), st.sampled_from([8, 16, 32]),
       st.sampled_from([(640, 640), (320, 480)]))
def test_encompassing_mirror(boxes, stride, size) -> None:
    got = gt.encompassing_cells(torch.from_numpy(boxes), size, stride).numpy()
    np.testing.assert_array_equal(got, geometry.encompassing_cells(boxes, size, stride))


@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 30), st.integers(1, 30),
       st.integers(0, 1000))
def test_resize_mirror(h, w, oh, ow, seed) -> None:
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w)).astype(np.float32)
    got = gt.resize_bilinear(torch.from_numpy(x), (oh, ow)).numpy()
    np.testing.assert_allclose(got, geometry.resize_bilinear(x, (oh, ow)), atol=ATOL)


@pytest.mark.parametrize("mode,out_hw", [("exact", (3, 2)), ("resize", (5, 4)),
                                         ("resize", (1, 1)), ("resize_pool", (2, 2))])
def test_gather_mirror(mode, out_hw, rng) -> None:
    fmap = rng.standard_normal((4, 8, 8)).astype(np.float32)
    windows = np.array([[0, 0, 2, 3], [5, 4, 7, 7]])
    got = gt.gather_crops(torch.from_numpy(fmap), torch.from_numpy(windows), out_hw, mode).numpy()
    np.testing.assert_allclose(got, geometry.gather_crops(fmap, windows, out_hw, mode), atol=ATOL)


def test_gather_mirror_empty() -> None:
    out = gt.gather_crops(torch.zeros(4, 8, 8), torch.zeros(0, 4, dtype=torch.int64), (2, 2), "resize")
    assert tuple(out.shape) == (0, 4, 2, 2)
