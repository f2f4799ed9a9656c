"""Boxes, NMS, anchors, box coding and SSD post-processing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge import catalog
from edge.description import AnchorSpec
from edge.geometry import (
    BoxCoder,
    batched_nms,
    box_iou,
    nms,
    select_detections,
    ssd_anchors,
    ssd_feature_sizes,
)


def boxes_strategy(max_n: int = 30, extent: float = 640.0, min_size: float = 1.0):
    coords = st.floats(0, extent, allow_nan=False, width=32)
    sizes = st.floats(min_size, extent / 2, allow_nan=False, width=32)
    box = st.tuples(coords, coords, sizes, sizes).map(
        lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3]))
    return st.lists(box, min_size=0, max_size=max_n).map(
        lambda b: np.asarray(b, dtype=np.float32).reshape(-1, 4))


def reference_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep: list[int] = []
    for i in order:
        if all(box_iou(boxes[i : i + 1], boxes[k : k + 1])[0, 0] <= thr for k in keep):
            keep.append(i)
    return keep


@given(boxes_strategy(), st.floats(0.1, 0.9), st.randoms(use_true_random=False))
def test_nms_matches_the_definition(boxes, thr, rnd) -> None:
    scores = np.array([rnd.random() for _ in range(len(boxes))], dtype=np.float32)
    assert nms(boxes, scores, thr).tolist() == reference_nms(boxes, scores, thr)


def test_nms_breaks_score_ties_by_index() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    assert nms(boxes, np.array([0.5, 0.5, 0.5]), 0.5).tolist() == [0, 2]


def test_batched_nms_keeps_overlapping_boxes_of_other_classes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7])
    assert batched_nms(boxes, scores, np.array([0, 0, 1]), 0.5).tolist() == [0, 2]


def test_iou_of_known_boxes() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0]])


@given(boxes_strategy(max_n=20), st.floats(0.2, 5.0), st.floats(-50, 50))
def test_box_coder_round_trips(boxes, scale, shift) -> None:
    coder = BoxCoder()
    # anchors within the coder's clamp (a box at most 62.5x its anchor), elsewhere
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + shift
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * scale
    anchors = np.concatenate([centre - half, centre + half], axis=1)
    codes = coder.encode(boxes, anchors)
    np.testing.assert_allclose(coder.decode(codes, anchors), boxes, rtol=1e-5, atol=1e-2)


def test_box_coder_uses_thesis_scale_factors() -> None:
    anchor = np.array([[0, 0, 100, 50]], np.float32)
    box = np.array([[10, 5, 110, 55]], np.float32)  # shifted by 10% of w and h
    np.testing.assert_allclose(BoxCoder().encode(box, anchor), [[1.0, 1.0, 0.0, 0.0]], atol=1e-6)
    wide = np.array([[0, 0, 200, 50]], np.float32)
    np.testing.assert_allclose(BoxCoder().encode(wide, anchor)[0, 2], 5 * np.log(2), rtol=1e-6)


def test_feature_sizes_for_640_and_odd_sizes() -> None:
    assert ssd_feature_sizes((640, 640)) == [(40, 40), (20, 20), (10, 10), (5, 5), (3, 3), (2, 2)]
    assert ssd_feature_sizes((320, 480)) == [(20, 30), (10, 15), (5, 8), (3, 4), (2, 2), (1, 1)]


def test_anchor_count_layout_and_scales() -> None:
    spec = AnchorSpec()
    anchors = ssd_anchors(spec, (640, 640))
    sizes = ssd_feature_sizes((640, 640))
    per = spec.anchors_per_location(6)
    assert per == (3, 6, 6, 6, 6, 6)
    assert anchors.shape == (sum(h * w * a for (h, w), a in zip(sizes, per)), 4)
    # first anchor: cell (0, 0) of the 40x40 map, scale 0.1, ratio 1 -> 64 px square at (8, 8)
    np.testing.assert_allclose(anchors[0], [8 - 32, 8 - 32, 8 + 32, 8 + 32], atol=1e-4)
    # second map starts after 40*40*3 anchors; its first anchor: scale s_2, ratio 1
    s2 = 0.2 + (0.9 - 0.2) / 5
    a = anchors[40 * 40 * 3]
    np.testing.assert_allclose(a, [16 - s2 * 320, 16 - s2 * 320, 16 + s2 * 320, 16 + s2 * 320],
                               atol=1e-3)
    # the last map's interpolated anchor uses sqrt(s_max * 1.0)
    last = anchors[-1]
    np.testing.assert_allclose(last[2] - last[0], np.sqrt(0.9) * 640, rtol=1e-5)


def test_select_detections_recovers_encoded_boxes() -> None:
    desc = catalog.describe("ssd-isb-multi-shape")
    anchors = ssd_anchors(desc.anchors, desc.input_size)
    coder = BoxCoder(desc.box_coder_weights)
    gt = np.array([[100, 120, 180, 300], [400, 50, 600, 620]], np.float32)
    idx = np.array([5000, 7000])
    codes = np.zeros_like(anchors)
    codes[idx] = coder.encode(gt, anchors[idx])
    logits = np.zeros((len(anchors), 2), np.float32)
    logits[:, 0] = 5
    logits[idx] = [[-5, 5], [-4, 4]]
    det = select_detections(codes, logits, anchors, desc.input_size, coder=coder,
                            score_threshold=0.5, iou_threshold=0.6, max_detections=100)
    assert len(det) == 2
    np.testing.assert_allclose(det.boxes, gt, atol=1e-3)
    assert det.scores[0] > det.scores[1] and det.classes.tolist() == [0, 0]


def test_select_detections_caps_and_handles_empty() -> None:
    anchors = np.array([[0, 0, 10, 10]] * 5, np.float32) + np.arange(5)[:, None] * 20
    logits = np.tile(np.array([[0.0, 3.0]], np.float32), (5, 1))
    det = select_detections(np.zeros((5, 4), np.float32), logits, anchors, (100, 100),
                            coder=BoxCoder(), score_threshold=0.5, iou_threshold=0.5,
                            max_detections=3)
    assert len(det) == 3
    none = select_detections(np.zeros((5, 4), np.float32), -logits, anchors, (100, 100),
                             coder=BoxCoder(), score_threshold=0.5, iou_threshold=0.5,
                             max_detections=3)
    assert len(none) == 0 and none.boxes.shape == (0, 4)


@pytest.mark.parametrize("n", [0, 1])
def test_nms_small_inputs(n: int) -> None:
    boxes = np.array([[3, 4, 9, 9]] * n, np.float32).reshape(-1, 4)
    assert nms(boxes, np.ones(n), 0.5).tolist() == list(range(n))
