"""Per-class precision/recall/F1, macro averages and seed 001's grouped accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.description import PARTS_CLASSES
from edge.evaluate.semantic import (
    PART_GROUPS, ConfusionMatrix, expand_groups, expanded_mean, grouped_accuracy,
)


def _cm() -> ConfusionMatrix:
    # matrix[gt, pred]:   a  b  c  d
    #               a   [ 3, 1, 0, 0]
    #               b   [ 2, 4, 0, 2]
    #               c   [ 0, 0, 0, 1]
    #               d   [ 0, 0, 0, 0]   (d never in ground truth, predicted 3 times)
    cm = ConfusionMatrix(4)
    cm.matrix[:] = [[3, 1, 0, 0], [2, 4, 0, 2], [0, 0, 0, 1], [0, 0, 0, 0]]
    return cm


def test_precision_recall_f1_by_hand() -> None:
    m = _cm().metrics(("a", "b", "c", "d"))
    assert m["per_class_accuracy"] == pytest.approx({"a": 3 / 4, "b": 4 / 8, "c": 0.0,
                                                     "d": None})
    assert m["per_class_precision"]["a"] == pytest.approx(3 / 5)
    assert m["per_class_precision"]["b"] == pytest.approx(4 / 5)
    assert m["per_class_precision"]["c"] is None  # never predicted
    assert m["per_class_precision"]["d"] == 0.0
    f1a = 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4)
    f1b = 2 * (4 / 5) * (1 / 2) / (4 / 5 + 1 / 2)
    assert m["per_class_f1"] == pytest.approx({"a": f1a, "b": f1b, "c": 0.0, "d": 0.0})
    # macro over classes present in ground truth (a, b, c); c's missing precision counts 0
    assert m["macro_precision"] == pytest.approx((3 / 5 + 4 / 5 + 0) / 3)
    assert m["macro_recall"] == pytest.approx((3 / 4 + 1 / 2 + 0) / 3)
    assert m["macro_recall"] == pytest.approx(m["mean_class_accuracy"])
    assert m["macro_f1"] == pytest.approx((f1a + f1b) / 3)
    # unchanged keys
    assert m["pixel_accuracy"] == pytest.approx(7 / 13)
    assert m["per_class_iou"] == pytest.approx({"a": 3 / 6, "b": 4 / 9, "c": 0.0, "d": 0.0})
    assert m["mIoU"] == pytest.approx((3 / 6 + 4 / 9) / 4)
    json.dumps(m)  # eval --json writes these


def test_update_path_and_absent_everywhere() -> None:
    gt = np.array([[0, 0, 1, 255]], np.uint8)
    pred = np.array([[0, 1, 1, 2]], np.uint8)
    cm = ConfusionMatrix(4)
    cm.update(gt, pred)
    m = cm.metrics()
    assert m["per_class_f1"]["3"] is None and m["per_class_accuracy"]["3"] is None
    assert m["per_class_f1"] == pytest.approx({"0": 2 / 3, "1": 2 / 3, "2": None, "3": None})
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert "group_accuracy" not in m
    empty = ConfusionMatrix(2).metrics()
    assert empty["macro_f1"] == empty["macro_precision"] == empty["mIoU"] == 0.0


def test_part_groups_partition_the_25_ids() -> None:
    assert len(PART_GROUPS) == 13
    ids = sorted(i for members in PART_GROUPS.values() for i in members)
    assert ids == list(range(25))
    assert PART_GROUPS["Torso"] == (1, 4, 7, 10) and PART_GROUPS["Head"] == (16,)
    assert PARTS_CLASSES[PART_GROUPS["Fingers"][0]] == "leftHandIndex1"


def test_grouped_accuracy_is_mean_of_members() -> None:
    acc = np.arange(25) / 25.0
    acc_list = list(acc)
    acc_list[12] = None  # rightToeBase absent from ground truth
    g = grouped_accuracy(acc_list)
    assert g["Torso"] == pytest.approx(np.mean([1, 4, 7, 10]) / 25)
    assert g["Toes"] == pytest.approx(11 / 25)
    assert g["Background"] == 0.0
    # a whole confusion matrix over the part names reports the groups
    cm = ConfusionMatrix(25)
    cm.update(np.arange(25, dtype=np.uint8)[None].repeat(2, 0),
              np.r_[np.arange(25), np.zeros(25)].reshape(2, 25).astype(np.uint8))
    m = cm.metrics(PARTS_CLASSES)
    assert m["group_accuracy"]["Background"] == 1.0
    assert m["group_accuracy"]["Torso"] == pytest.approx(0.5)
    assert grouped_accuracy(m["per_class_accuracy"]) == m["group_accuracy"]
    assert expanded_mean(m["group_accuracy"]) == pytest.approx(m["mean_class_accuracy"])


def test_seed_table2_normal_row_expands_to_the_all_classes_mean() -> None:
    normal = {"Background": 98.9, "Head": 84.9, "Torso": 74.78, "U.Legs": 64.3,
              "L.Legs": 53.8, "Neck": 64.0, "Shoulder": 54.2, "U.Arms": 52.7,
              "L.Arms": 39.5, "Feet": 32.3, "Hands": 19.8, "Fingers": 9.3, "Toes": 9.5}
    expanded = expand_groups(normal, PART_GROUPS, 25)
    assert expanded.shape == (25,) and np.isfinite(expanded).all()
    assert expanded[[1, 4, 7, 10]].tolist() == [74.78] * 4
    mean = expanded_mean(normal)
    assert mean == pytest.approx(48.71, abs=0.005)
    assert round(mean, 1) == 48.7  # the seed's "mean acc" column
    assert np.mean(list(normal.values())) == pytest.approx(50.61, abs=0.005)  # not the 13-mean


def test_part_groups_agree_with_the_data_module() -> None:
    parts = pytest.importorskip("edge.data.parts")
    other = getattr(parts, "PART_GROUPS", None)
    if other is None:
        pytest.skip("edge.data.parts has no PART_GROUPS")
    assert dict(other) == dict(PART_GROUPS) and list(other) == list(PART_GROUPS)
