"""Seed 000's RoI rasterisers: the NumPy definitions on hand cases, the torch graph-op
mirrors equal to them exactly, and the background correction against the seed's worked
cross-entropy examples (5.2.2.1, 5.5.1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.geometry.raster import background_correction, box_mask, confidence_maps


def _ce(logits: np.ndarray, label: int) -> float:
    """Softmax cross-entropy of one pixel's (K,) scores, in float64."""
    z = np.asarray(logits, np.float64)
    m = z.max()
    return float(m + math.log(np.exp(z - m).sum()) - z[label])


def test_mask_rounds_outward_and_grid_edges_are_exclusive() -> None:
    # x 3..9 touches columns 0 and 1 (of 8 px); y 5..17 touches rows 0, 1 and 2
    m = box_mask([[3, 5, 9, 17]], [1.0], (4, 4), 8, 0.5)
    expected = np.zeros((4, 4), np.float32)
    expected[0:3, 0:2] = 1
    np.testing.assert_array_equal(m, expected)
    # a box on grid lines marks exactly its cells: x2 == 16 does not reach column 2
    m = box_mask([[8, 8, 16, 16]], [1.0], (4, 4), 8, 0.5)
    assert m.dtype == np.float32 and m.sum() == 1 and m[1, 1] == 1
    # stride 1: pixels
    m = box_mask([[0.5, 0.5, 2.0, 1.0]], [1.0], (3, 3), 1, 0.5)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 0, 0], [0, 0, 0]])


def test_threshold_is_strict_and_mask_is_the_union() -> None:
    boxes = [[0, 0, 8, 8], [16, 16, 32, 32], [8, 0, 16, 8]]
    m = box_mask(boxes, [0.9, 0.6, 0.5], (4, 4), 8, 0.5)  # the third sits on the threshold
    expected = np.zeros((4, 4), np.float32)
    expected[0, 0] = 1
    expected[2:4, 2:4] = 1
    np.testing.assert_array_equal(m, expected)
    assert box_mask(np.zeros((0, 4)), np.zeros(0), (2, 3), 8, 0.5).shape == (2, 3)
    assert not box_mask(np.zeros((0, 4)), np.zeros(0), (2, 3), 8, 0.5).any()


def test_confidence_maps_take_the_max_over_covering_boxes() -> None:
    boxes = [[0, 0, 16, 8], [8, 0, 24, 8], [0, 8, 8, 16]]
    probs = [[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]]
    cm = confidence_maps(boxes, [0.9, 0.9, 0.2], probs, (2, 4), 8, 0.5)
    assert cm.shape == (2, 2, 4) and cm.dtype == np.float32
    np.testing.assert_allclose(cm[:, 0, 0], [0.2, 0.8])  # box 0 only
    np.testing.assert_allclose(cm[:, 0, 1], [0.6, 0.8])  # overlap: per-class max
    np.testing.assert_allclose(cm[:, 0, 2], [0.6, 0.4])  # box 1 only
    assert not cm[:, 0, 3].any()  # no box
    assert not cm[:, 1].any()  # box 2 is below the threshold


def test_background_correction_raises_channel_zero_outside_the_mask() -> None:
    logits = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    mask = np.array([[1, 0], [0, 1]], np.float32)
    out = background_correction(logits, mask, 20.0)
    np.testing.assert_array_equal(out[:, 1:], logits[:, 1:])
    np.testing.assert_array_equal(out[:, 0] - logits[:, 0], np.broadcast_to(20 * (1 - mask),
                                                                          (2, 2, 2)))
    assert logits[0, 0, 0, 1] == 1  # the input is not modified


def test_background_correction_reproduces_the_seed_losses() -> None:
    """Seed 000 Figs. 29-31, 35 on its 3-class toy: a masked pixel has all-zero scores,
    CE log 3 = 1.098; corrected (background + 20) its CE is ~0 (2 e^-20 = 4.1e-9); when
    the mask was wrong (the pixel is really foreground) the corrected CE is 20."""
    masked = np.zeros((3, 1, 1), np.float32)
    assert _ce(masked[:, 0, 0], 0) == pytest.approx(1.0986, abs=1e-4)
    fixed = background_correction(masked, np.zeros((1, 1), np.float32), 20.0)[:, 0, 0]
    np.testing.assert_array_equal(fixed, [20, 0, 0])
    assert _ce(fixed, 0) == pytest.approx(2 * math.exp(-20), rel=1e-6)
    assert _ce(fixed, 0) < 1e-8
    assert _ce(fixed, 1) == pytest.approx(20.0, abs=1e-6)
    # a pixel inside the mask is untouched: the seed's confident (4, 76, 22) example, CE ~0
    inside = np.array([4, 76, 22], np.float32).reshape(3, 1, 1)
    kept = background_correction(inside, np.ones((1, 1), np.float32), 20.0)[:, 0, 0]
    np.testing.assert_array_equal(kept, [4, 76, 22])
    assert _ce(kept, 1) < 1e-20


# --------------------------------------------------------------------------- torch mirrors


def _random_rois(rng: np.random.Generator, b: int, n: int, hw: tuple[int, int],
                 classes: int) -> tuple[np.ndarray, ...]:
    """Boxes partly outside the image, degenerate ones, some edges on grid lines, scores
    around the threshold 0.5 (some exactly on it), softmax-like probabilities."""
    h, w = hw
    xy = rng.uniform(-0.2, 1.2, size=(b, n, 2, 2)) * np.array([w, h])
    xy = np.where(rng.random(xy.shape) < 0.2, np.round(xy / 8) * 8, xy)  # on grid lines
    boxes = np.concatenate([xy.min(2), xy.max(2)], -1).astype(np.float32)
    boxes[:, 0, 2] = boxes[:, 0, 0]  # a zero-width box per image
    scores = rng.choice([0.1, 0.5, 0.51, 0.9], size=(b, n)).astype(np.float32)
    probs = rng.random((b, n, classes)).astype(np.float32)
    probs /= probs.sum(-1, keepdims=True)
    return boxes, scores, probs


@pytest.mark.parametrize("stride", [1, 2, 4, 8])
def test_torch_mirrors_equal_numpy_exactly(stride: int) -> None:
    torch = pytest.importorskip("torch")
    from edge.models import roimask as rm

    rng = np.random.default_rng(stride)
    hw_px = (48, 64)
    hw = (hw_px[0] // stride, hw_px[1] // stride)
    for _ in range(5):
        boxes, scores, probs = _random_rois(rng, 3, 7, hw_px, 4)
        tb, ts, tp = (torch.from_numpy(a) for a in (boxes, scores, probs))
        mask = rm.box_mask(tb, ts, hw, stride, 0.5)
        cm = rm.confidence_maps(tb, ts, tp, hw, stride, 0.5)
        assert tuple(mask.shape) == (3, 1, *hw) and tuple(cm.shape) == (3, 4, *hw)
        logits = rng.normal(size=(3, 5, *hw)).astype(np.float32)
        corrected = rm.background_correction(torch.from_numpy(logits), mask, 20.0)
        for b in range(3):
            ref_mask = box_mask(boxes[b], scores[b], hw, stride, 0.5)
            np.testing.assert_array_equal(mask[b, 0].numpy(), ref_mask)
            np.testing.assert_array_equal(
                cm[b].numpy(), confidence_maps(boxes[b], scores[b], probs[b], hw, stride, 0.5))
            np.testing.assert_array_equal(corrected[b].numpy(),
                                          background_correction(logits[b], ref_mask, 20.0))
        assert 0 < mask.sum() < mask.numel()  # the cases are not trivial
