"""Encompassing boxes, branch assignment, crops and mask pasting (thesis 3.1.3-3.1.5)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge import catalog
from edge.description import BranchSpec
from edge.geometry import (
    NO_BRANCH,
    assign_branches,
    branch_inputs,
    cell_shapes,
    cells_to_pixels,
    crop_windows,
    encompassing_boxes,
    encompassing_cells,
    gather_crops,
    max_pool_2x2,
    paste_mask,
    paste_masks,
    resize_bilinear,
    select_per_branch,
)

sizes = st.sampled_from([(640, 640), (320, 480), (96, 160), (64, 64)])


@st.composite
def image_and_box(draw):
    h, w = draw(sizes)
    x1 = draw(st.floats(-20, w + 20, allow_nan=False))
    y1 = draw(st.floats(-20, h + 20, allow_nan=False))
    bw = draw(st.floats(0, w, allow_nan=False))
    bh = draw(st.floats(0, h, allow_nan=False))
    return (h, w), np.array([[x1, y1, x1 + bw, y1 + bh]], dtype=np.float32)


@given(image_and_box(), st.sampled_from([8, 16, 32]))
def test_encompassing_box_contains_box_is_aligned_and_in_bounds(case, stride) -> None:
    (h, w), box = case
    enc = encompassing_boxes(box, (h, w), stride)[0]
    clipped = np.clip(box[0], [0, 0, 0, 0], [w, h, w, h])
    inside = clipped[2] > clipped[0] and clipped[3] > clipped[1]
    assert np.all(enc % stride == 0)  # every test size is a multiple of 32
    assert 0 <= enc[0] < enc[2] <= w and 0 <= enc[1] < enc[3] <= h
    if inside:  # the part of the box inside the image is covered
        assert enc[0] <= clipped[0] and enc[1] <= clipped[1]
        assert enc[2] >= clipped[2] and enc[3] >= clipped[3]
        # smallest: shrinking any side by one cell would cut the box
        assert enc[0] + stride > clipped[0] or enc[0] == 0
        assert enc[2] - stride < clipped[2] or enc[2] - stride <= enc[0]


def test_encompassing_cells_examples() -> None:
    boxes = np.array([[10, 20, 100, 300], [0, 0, 640, 640], [64, 64, 64, 64], [700, 5, 800, 6]],
                     np.float32)
    cells = encompassing_cells(boxes, (640, 640), 32)
    assert cells.tolist() == [[0, 0, 4, 10], [0, 0, 20, 20], [2, 2, 3, 3], [19, 0, 20, 1]]
    assert cell_shapes(cells).tolist() == [[10, 4], [20, 20], [1, 1], [1, 1]]
    assert cells_to_pixels(cells[:1], (640, 640), 32).tolist() == [[0, 0, 128, 320]]


def test_grid_on_sizes_that_are_not_multiples_of_the_stride() -> None:
    cells = encompassing_cells(np.array([[90, 0, 100, 10]], np.float32), (50, 100), 32)
    assert cells.tolist() == [[2, 0, 4, 1]]
    assert cells_to_pixels(cells, (50, 100), 32).tolist() == [[64, 0, 100, 32]]


# ---------------------------------------------------------------- branch assignment
shapes_st = st.lists(st.tuples(st.integers(1, 20), st.integers(1, 20)), min_size=1, max_size=40)


@pytest.mark.parametrize("name", list(catalog.INSTANCE_CONFIGS))
@given(shapes=shapes_st)
def test_assignment_follows_the_configuration_rule(name, shapes) -> None:
    desc = catalog.describe(name)
    shapes = np.array(shapes)
    got = assign_branches(shapes, desc.branches, desc.assignment)
    bshapes = [b.shape for b in desc.branches]
    for (h, w), g in zip(shapes.tolist(), got.tolist()):
        exact = [i for i, b in enumerate(desc.branches) if b.shape == (h, w) and b.mode == "exact"]
        if desc.assignment == "single":
            assert g == 0
        elif desc.assignment == "exact":
            assert g == (exact[0] if exact else NO_BRANCH)
        elif desc.assignment == "exact_or_fallback":
            assert g == (exact[0] if exact else len(bshapes) - 1)  # the 14x14 resize branch
        else:  # largest_fit: fits, and no fitting shape is larger
            bh, bw = bshapes[g]
            assert bh <= h and bw <= w
            fitting = [bh2 * bw2 for bh2, bw2 in bshapes if bh2 <= h and bw2 <= w]
            assert bh * bw == max(fitting)


def test_largest_fit_examples_from_the_thesis_shapes() -> None:
    desc = catalog.describe("ssd-isb-multi-shape")
    names = [b.name for b in desc.branches]
    got = assign_branches(np.array([[20, 20], [10, 4], [16, 9], [8, 3], [1, 7], [3, 3]]),
                          desc.branches, desc.assignment)
    assert [names[i] for i in got] == ["15x10r", "9x4r", "9x4r", "7x3r", "1x1r", "3x2r"]


def test_largest_fit_without_a_fitting_shape_takes_the_smallest() -> None:
    branches = (BranchSpec((4, 4), "resize", 5), BranchSpec((3, 2), "resize", 5))
    assert assign_branches(np.array([[1, 1], [5, 5]]), branches, "largest_fit").tolist() == [1, 0]


def test_select_per_branch_caps_by_score() -> None:
    branches = (BranchSpec((2, 2), "exact", 2), BranchSpec((1, 1), "exact", 5))
    assign = np.array([0, 0, 1, 0, NO_BRANCH])
    scores = np.array([0.1, 0.9, 0.5, 0.8, 0.99])
    sel = select_per_branch(assign, scores, branches)
    assert [s.tolist() for s in sel] == [[1, 3], [2]]


# ---------------------------------------------------------------- crops and paste
@st.composite
def frame_and_cells(draw):
    h, w = draw(st.sampled_from([(64, 96), (128, 64), (96, 96)]))
    c0 = draw(st.integers(0, w // 32 - 1))
    r0 = draw(st.integers(0, h // 32 - 1))
    c1 = draw(st.integers(c0 + 1, w // 32))
    r1 = draw(st.integers(r0 + 1, h // 32))
    seed = draw(st.integers(0, 2**16))
    return (h, w), np.array([[c0, r0, c1, r1]]), seed


@given(frame_and_cells())
def test_crop_then_paste_round_trips(case) -> None:
    (h, w), cells, seed = case
    logits = np.random.default_rng(seed).standard_normal((h, w)).astype(np.float32)
    box = cells_to_pixels(cells, (h, w), 32)
    # crop the full-frame map at the encompassing box (exact mode, stride 1)
    crop = gather_crops(logits[None], box, (int(box[0, 3] - box[0, 1]), int(box[0, 2] - box[0, 0])),
                        "exact")[0, 0]
    pasted = paste_masks([crop], box, (h, w))
    x0, y0, x1, y1 = box[0]
    expect = np.zeros((h, w), np.int32)
    expect[y0:y1, x0:x1] = logits[y0:y1, x0:x1] > 0
    np.testing.assert_array_equal(pasted, expect)


@given(frame_and_cells(), st.sampled_from([16, 8]))
def test_crop_windows_cover_the_same_pixels_at_every_stride(case, stride) -> None:
    (h, w), cells, _ = case
    win = crop_windows(cells, 32, stride)
    np.testing.assert_array_equal(win * stride, cells * 32)
    fmap = np.arange(h // stride * (w // stride), dtype=np.float32).reshape(1, h // stride, -1)
    c0, r0, c1, r1 = win[0]
    crop = gather_crops(fmap, win, (r1 - r0, c1 - c0), "exact")
    np.testing.assert_array_equal(crop[0], fmap[:, r0:r1, c0:c1])


def test_branch_inputs_shapes_for_every_mode(rng) -> None:
    desc = catalog.describe("ssd-isb-single-shape-plus", input_size=(128, 128), alpha=0.25)
    feats = {s: rng.standard_normal((c, 128 // s, 128 // s)).astype(np.float32)
             for s, c in {32: 8, 16: 6, 8: 4}.items()}
    exact = next(b for b in desc.branches if b.shape == (3, 2))
    cells = np.array([[0, 1, 2, 4], [2, 0, 4, 3]])
    ins = branch_inputs(feats, cells, exact, desc)
    assert [i.shape for i in ins] == [(2, 8, 3, 2), (2, 6, 6, 4), (2, 4, 12, 8)]
    np.testing.assert_array_equal(ins[2][1], feats[8][:, 0:12, 8:16])
    resize = desc.branches[-1]
    ins = branch_inputs(feats, np.array([[0, 0, 4, 4]]), resize, desc)
    assert [i.shape for i in ins] == [(1, 8, 14, 14), (1, 6, 28, 28), (1, 4, 56, 56)]
    with pytest.raises(ValueError, match="does not match"):
        branch_inputs(feats, np.array([[0, 0, 1, 1]]), exact, desc)


def test_resize_pool_is_mask_rcnn_style() -> None:
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    got = gather_crops(x, np.array([[0, 0, 4, 4]]), (2, 2), "resize_pool")
    np.testing.assert_array_equal(got[0], max_pool_2x2(resize_bilinear(x, (4, 4))))
    np.testing.assert_array_equal(got[0, 0], [[5, 7], [13, 15]])


def test_resize_bilinear_known_values() -> None:
    x = np.array([[0.0, 1.0]], np.float32)
    np.testing.assert_allclose(resize_bilinear(x, (1, 4)), [[0, 0.25, 0.75, 1.0]])
    np.testing.assert_allclose(resize_bilinear(np.ones((3, 5, 7)), (2, 9)), np.ones((3, 2, 9)))


def test_paste_mask_on_a_scaled_frame_box() -> None:
    # a 2x2 mask over x 10.5..20.5, y 0..8: pixels whose centres (x + 0.5) lie inside
    m = paste_mask(np.ones((2, 2), np.float32), np.array([10.5, 0, 20.5, 8]), (10, 30))
    ys, xs = np.nonzero(m)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (10, 19, 0, 7)
    # boxes hanging off the frame are clipped, not wrapped
    m = paste_mask(np.ones((4, 4), np.float32), np.array([-10, -10, 5, 5]), (10, 30))
    assert m.sum() == 25 and m[:5, :5].all()


def test_paste_masks_priority_and_reuse() -> None:
    on = np.ones((2, 2), np.float32)
    boxes = np.array([[0, 0, 4, 4], [2, 2, 6, 6]], np.float32)
    out = np.full((8, 8), 7, np.int32)
    got = paste_masks([on, on], boxes, (8, 8), out=out)
    assert got is out
    assert got[3, 3] == 1 and got[5, 5] == 2 and got[0, 7] == 0  # earlier instance wins overlap
    with pytest.raises(ValueError, match="2 masks for 1 boxes"):
        paste_masks([on, on], boxes[:1], (8, 8))
