"""Boxes beside a label folder (boxes.json, seed 000's RoI targets): read and checked,
carried through the training warp, refused when malformed."""

from __future__ import annotations

import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edge.data.augment import _warp_matrix, fit_semantic, warp_boxes  # noqa: E402
from edge.data.samples import SemanticSample  # noqa: E402
from edge.data.semantic import label_folder  # noqa: E402
from edge.errors import DatasetError  # noqa: E402


def _folder(tmp_path, boxes, meta_extra=None):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    img = np.zeros((40, 60, 3), np.uint8)
    lab = np.zeros((40, 60), np.uint8)
    lab[10:20, 5:25] = 1
    cv2.imwrite(str(tmp_path / "images" / "000000.png"), img)
    cv2.imwrite(str(tmp_path / "labels" / "000000.png"), lab)
    meta = {"classes": ["background", "thing"], **(meta_extra or {})}
    (tmp_path / "semantic.json").write_text(json.dumps(meta))
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    return tmp_path


def test_boxes_are_read_with_their_classes(tmp_path) -> None:
    r = label_folder(_folder(tmp_path, {"000000": [[5, 10, 25, 20, 0]]},
                             {"box_classes": ["person"]}))
    assert r.box_classes == ("person",)
    s = r[0]
    np.testing.assert_array_equal(s.boxes, [[5, 10, 25, 20, 0]])


def test_missing_box_classes_is_refused_naming_the_file(tmp_path) -> None:
    with pytest.raises(DatasetError, match="box_classes"):
        label_folder(_folder(tmp_path, {"000000": [[5, 10, 25, 20, 0]]}))


@pytest.mark.parametrize("bad", [[[5, 10, 4, 20, 0]], [[5, 10, 25, 20, 3]], [[5, 10, 25]],
                                 "x"])
def test_malformed_boxes_are_refused(tmp_path, bad) -> None:
    with pytest.raises(DatasetError, match="boxes.json"):
        label_folder(_folder(tmp_path, {"000000": bad}, {"box_classes": ["person"]}))


def test_warp_boxes_follows_the_label_warp() -> None:
    """A box drawn as a label rectangle stays the tight box of the warped rectangle (to a
    pixel), through zoom, crop and flip."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        lab = np.zeros((90, 120), np.uint8)
        x1, y1 = int(rng.integers(0, 80)), int(rng.integers(0, 60))
        x2, y2 = x1 + int(rng.integers(8, 40)), y1 + int(rng.integers(8, 30))
        lab[y1:y2, x1:x2] = 1
        m = _warp_matrix((90, 120), (64, 64), float(rng.uniform(0.7, 1.5)),
                         bool(rng.random() < 0.5), rng)
        out = cv2.warpAffine(lab, m, (64, 64), flags=cv2.INTER_NEAREST)
        got = warp_boxes(np.array([[x1, y1, x2, y2, 0]], np.float32), m, (64, 64), min_side=0)
        ys, xs = np.nonzero(out)
        if not len(xs):
            continue
        tight = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        assert np.abs(got[0, :4] - tight).max() <= 1.01, (got, tight)


def test_boxes_outside_the_window_are_dropped() -> None:
    m = _warp_matrix((100, 100), (50, 50), 2.0, False, None)  # centre window 25..75, scale 1
    got = warp_boxes(np.array([[0, 0, 10, 10, 0], [40, 40, 60, 60, 1]], np.float32), m, (50, 50))
    np.testing.assert_allclose(got, [[15, 15, 35, 35, 1]])


def test_fit_semantic_carries_boxes() -> None:
    s = SemanticSample(image=np.zeros((40, 60, 3), np.uint8), labels=np.zeros((40, 60), np.uint8),
                       boxes=np.array([[6, 10, 30, 20, 0]], np.float32))
    out = fit_semantic(s, (20, 30))
    np.testing.assert_allclose(out.boxes, [[3, 5, 15, 10, 0]])


@pytest.mark.parametrize("boxes, meta, message", [
    ({"000000": [5, 10, 25, 20, 0, 1, 2, 3, 4, 5]}, ["person"], "rows of 5"),  # flat list
    ({"000000.png": [[5, 10, 25, 20, 0]]}, ["person"], "name no image"),  # not a stem
    ({"000000": [[5, 10, 25, 20, 0]]}, [1], "box_classes"),  # not names
])
def test_boxes_that_do_not_line_up_are_refused(tmp_path, boxes, meta, message) -> None:
    with pytest.raises(DatasetError, match=message):
        label_folder(_folder(tmp_path, boxes, {"box_classes": meta}))


def test_an_image_without_boxes_gets_none(tmp_path) -> None:
    r = label_folder(_folder(tmp_path, {"000000": []}, {"box_classes": ["person"]}))
    assert r[0].boxes.shape == (0, 5)
