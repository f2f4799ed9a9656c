"""Metrics against hand-computed cases: the confusion matrix, and COCOeval wiring."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.evaluate.semantic import ConfusionMatrix

pytest.importorskip("pycocotools")
cv2 = pytest.importorskip("cv2")

from edge.data.coco import CocoInstances, encode_rle  # noqa: E402
from edge.evaluate.instances import coco_metrics  # noqa: E402


def test_confusion_matrix_metrics_by_hand() -> None:
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 1]], np.uint8)
    pred = np.array([[0, 1, 1, 1], [2, 0, 0, 1]], np.uint8)
    cm = ConfusionMatrix(3)
    cm.update(gt, pred)
    m = cm.metrics(("a", "b", "c"))
    # class a: tp 1, gt 2, pred 2 -> IoU 1/3; b: tp 3, gt 3, pred 4 -> 3/4; c: tp 1, gt 2,
    # pred 1 -> 1/2
    assert m["per_class_iou"] == pytest.approx({"a": 1 / 3, "b": 3 / 4, "c": 1 / 2})
    assert m["mIoU"] == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)
    assert m["pixel_accuracy"] == pytest.approx(5 / 7)
    assert m["mean_class_accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)


def test_absent_classes_do_not_count() -> None:
    cm = ConfusionMatrix(4)
    cm.update(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    m = cm.metrics()
    assert m["mIoU"] == 1.0 and m["per_class_iou"]["3"] is None


def _dataset(tmp_path, masks):
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images/0.png"), np.zeros((64, 64, 3), np.uint8))
    anns = []
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        anns.append({"id": i + 1, "image_id": 1, "category_id": 3, "iscrowd": 0,
                     "segmentation": encode_rle(m), "area": int(m.sum()),
                     "bbox": [int(xs.min()), int(ys.min()), int(np.ptp(xs) + 1),
                              int(np.ptp(ys) + 1)]})
    data = {"images": [{"id": 1, "file_name": "0.png", "height": 64, "width": 64}],
            "annotations": anns, "categories": [{"id": 3, "name": "person"}]}
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    return CocoInstances(tmp_path / "annotations.json")


def _square(x0, y0, x1, y1):
    m = np.zeros((64, 64), bool)
    m[y0:y1, x0:x1] = True
    return m


def _result(m, score):
    ys, xs = np.nonzero(m)
    return {"image_id": 1, "category_id": 3, "score": score, "segmentation": encode_rle(m),
            "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1),
                     float(np.ptp(ys) + 1)]}


def test_perfect_predictions_score_one(tmp_path) -> None:
    gts = [_square(2, 2, 20, 40), _square(30, 10, 60, 60)]
    reader = _dataset(tmp_path, gts)
    m = coco_metrics(reader, [_result(g, 0.9) for g in gts])
    for kind in ("segm", "bbox"):
        assert m[kind]["AP50"] == pytest.approx(1.0) and m[kind]["AP"] == pytest.approx(1.0)
        assert m[kind]["AP_50"] == pytest.approx(1.0)
        assert m[kind]["AR100_50"] == pytest.approx(1.0)


def test_a_false_positive_ranked_first(tmp_path) -> None:
    """Two ground truths; detections: a false positive (0.9), then one hit (0.8).

    Precision is 1/2 at recall 1/2 and recall 1 is never reached, so COCO's 101-point
    interpolated AP@0.5 is 0.5 * 51/101; AR@100 is 1/2; AR@1 is 0 (the top detection misses).
    """
    gts = [_square(2, 2, 20, 40), _square(30, 10, 60, 60)]
    reader = _dataset(tmp_path, gts)
    results = [_result(_square(40, 0, 44, 4), 0.9), _result(gts[0], 0.8)]
    m = coco_metrics(reader, results)["segm"]
    assert m["AP_50"] == pytest.approx(0.5 * 51 / 101)
    assert m["AP50"] == pytest.approx(0.5 * 51 / 101)
    assert m["AR100_50"] == pytest.approx(0.5)
    assert m["AR1_50"] == pytest.approx(0.0)


def test_no_results(tmp_path) -> None:
    reader = _dataset(tmp_path, [_square(2, 2, 20, 40)])
    assert coco_metrics(reader, [])["segm"]["AP50"] == 0.0
