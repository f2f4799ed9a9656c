"""Seed-specific synthetic data: body parts (001), squares (004), CamVid-like (004)."""

from __future__ import annotations

import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

import edge.data.parts as parts_mod  # noqa: E402
from edge.data.camvid import render_camvid, write_camvid_dataset  # noqa: E402
from edge.data.parts import (  # noqa: E402
    JOINT_NAMES, JOINT_SWAP, PART_GROUPS, PROGRESSIVE_LEVELS, SWAP_LR, _draw_labels, mirror,
    render_person, sample_person, write_parts_dataset,
)
from edge.data.semantic import label_folder  # noqa: E402
from edge.data.squares import (  # noqa: E402
    render_square, square_side_range, write_squares_dataset, write_squares_splits,
)
from edge.description import CAMVID_CLASSES, PARTS_CLASSES  # noqa: E402
from edge.errors import DatasetError  # noqa: E402

SIZE = (96, 96)
P = {n: i for i, n in enumerate(PARTS_CLASSES)}


def _files(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_parts_dataset_is_deterministic_and_consistent(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    sa = write_parts_dataset(a, 6, SIZE, seed=3, progress=False)
    write_parts_dataset(b, 6, SIZE, seed=3, progress=False, workers=2)  # same bytes
    assert _files(a) == _files(b)
    meta = json.loads((a / "semantic.json").read_text())
    assert meta["classes"] == list(PARTS_CLASSES) and meta["kind"] == "parts"
    assert sum(meta["histogram"]) == 6 * SIZE[0] * SIZE[1] == sum(sa["histogram"])
    assert meta["swap_lr"] == list(SWAP_LR) and list(meta["groups"]) == list(PART_GROUPS)
    assert meta["joint_names"] == list(JOINT_NAMES) and meta["joint_swap"] == list(JOINT_SWAP)
    assert len(meta["facing"]) == 6
    joints = json.loads((a / "joints.json").read_text())
    assert sorted(joints) == [f"{i:06d}" for i in range(6)]
    folder = label_folder(a)
    assert len(folder) == 6 and folder.class_names == PARTS_CLASSES
    for k, sample in enumerate(folder):
        assert sample.image.shape == (*SIZE, 3) and sample.labels.shape == SIZE
        assert sample.labels.max() < len(PARTS_CLASSES)
        js = np.array(joints[f"{k:06d}"])
        if getattr(sample, "joints", None) is not None:
            np.testing.assert_allclose(sample.joints, js)
        assert js.shape == (24, 3)
        assert (js[:, 0] >= 0).all() and (js[:, 0] < SIZE[1]).all()
        assert (js[:, 1] >= 0).all() and (js[:, 1] < SIZE[0]).all()
        assert js[:, 2].sum() >= 8  # most joints are on their own parts
    c = tmp_path / "c"
    write_parts_dataset(c, 2, SIZE, seed=4, progress=False)
    assert _files(c)["images/000000.jpg"] != _files(a)["images/000000.jpg"]


def test_labels_cover_exactly_the_person_one_per_crop() -> None:
    for seed in range(8):
        rng = np.random.default_rng(seed)
        person = sample_person(rng)
        image, labels, joints, _ = render_person(rng, SIZE, person=person)
        body = labels > 0
        assert labels.dtype == np.uint8 and labels.max() <= 24
        n, _ = cv2.connectedComponents(body.astype(np.uint8), connectivity=8)
        assert n == 2  # background + one person
        ys, xs = np.nonzero(body)
        side = max(np.ptp(xs), np.ptp(ys)) + 1
        assert 0.75 * SIZE[0] <= side <= 0.95 * SIZE[0]  # 10-20% margin (+ rounding)
        # occlusion decides labels, never the silhouette: any painting order gives the
        # same union of parts
        geom = (cv2, person, (200, 200), 100.0, (100.0, 150.0))
        sil = _draw_labels(*geom)
        with pytest.MonkeyPatch.context() as mp:
            segs = parts_mod._segments
            mp.setattr(parts_mod, "_segments", lambda p: segs(p)[::-1])
            reverse = _draw_labels(*geom)
        np.testing.assert_array_equal(sil > 0, reverse > 0)
        assert not np.array_equal(sil, reverse)  # ...but it does decide the labels
        assert {P["head"], P["hips"], P["neck"], P["spine2"]} <= set(np.unique(sil))


def test_front_and_back_left_right_semantics() -> None:
    for seed in range(6):
        for facing, sign in (("front", 1), ("back", -1)):
            _, labels, joints, _ = render_person(np.random.default_rng(seed), (128, 128),
                                                 facing=facing)
            ys, xs = np.indices(labels.shape)
            left = np.isin(labels, [P["leftArm"], P["leftShoulder"]])
            right = np.isin(labels, [P["rightArm"], P["rightShoulder"]])
            assert left.any() and right.any()
            assert sign * (xs[left].mean() - xs[right].mean()) > 0, (seed, facing)
            lhip, rhip = joints[JOINT_NAMES.index("left_hip")], joints[
                JOINT_NAMES.index("right_hip")]
            assert sign * (lhip[0] - rhip[0]) > 0


def test_profile_hides_far_side() -> None:
    near_far = {"profile-left": ("left", "right"), "profile-right": ("right", "left")}
    for facing, (near, far) in near_far.items():
        near_px = far_px = 0
        for seed in range(6):
            _, labels, _, _ = render_person(np.random.default_rng(seed), (128, 128),
                                            facing=facing)
            near_px += np.isin(labels, [P[f"{near}Arm"], P[f"{near}Shoulder"]]).sum()
            far_px += np.isin(labels, [P[f"{far}Arm"], P[f"{far}Shoulder"]]).sum()
        assert near_px > far_px


def test_mirror_swaps_and_is_an_involution() -> None:
    image, labels, joints, _ = render_person(np.random.default_rng(1), SIZE, facing="front")
    labels = labels.copy()
    labels[0, 0] = 255  # ignore stays ignore
    mi, ml, mj = mirror(image, labels, joints)
    np.testing.assert_array_equal(mi, image[:, ::-1])
    np.testing.assert_array_equal(ml, np.where(labels == 255, 255,
                                               np.array(SWAP_LR)[np.minimum(labels, 24)])[:, ::-1])
    assert mj[JOINT_NAMES.index("left_wrist"), 0] == pytest.approx(
        SIZE[1] - 1 - joints[JOINT_NAMES.index("right_wrist"), 0])
    back = mirror(mi, ml, mj)
    np.testing.assert_array_equal(back[0], image)
    np.testing.assert_array_equal(back[1], labels)
    np.testing.assert_allclose(back[2], joints)
    _, raw, _ = mirror(image, labels, swap=False)  # seed 001's bug: ids unchanged
    np.testing.assert_array_equal(raw, labels[:, ::-1])
    assert sorted(SWAP_LR) == list(range(25)) and all(SWAP_LR[SWAP_LR[i]] == i
                                                      for i in range(25))
    assert sum(SWAP_LR[i] != i for i in range(25)) == 18
    assert all(JOINT_SWAP[JOINT_SWAP[i]] == i for i in range(24))


def test_groups_and_progressive_levels() -> None:
    ids = sorted(i for g in PART_GROUPS.values() for i in g)
    assert ids == list(range(25)) and len(PART_GROUPS) == 13
    for level, k in ((1, 2), (2, 5), (3, 7), (4, 25)):
        lut, names = PROGRESSIVE_LEVELS[level]
        assert lut.dtype == np.uint8 and lut.shape == (256,) and lut[255] == 255
        assert len(names) == k and set(lut[:25].tolist()) == set(range(k)) and lut[0] == 0
    np.testing.assert_array_equal(PROGRESSIVE_LEVELS[4].lut[:25], np.arange(25))
    # each level refines the previous one
    for level in (2, 3, 4):
        fine, coarse = PROGRESSIVE_LEVELS[level].lut[:25], PROGRESSIVE_LEVELS[level - 1].lut[:25]
        for c in set(fine.tolist()):
            assert len(set(coarse[fine == c].tolist())) == 1


def test_squares(tmp_path) -> None:
    for seed in range(20):
        for size in ((256, 256), (96, 128)):
            image, labels, (x0, y0, m) = render_square(np.random.default_rng(seed), size)
            lo, hi = square_side_range(size)
            assert lo <= m <= hi and set(np.unique(labels)) == {0, 1}
            assert 0 <= x0 and x0 + m <= size[1] and 0 <= y0 and y0 + m <= size[0]
            ys, xs = np.nonzero(labels)
            assert ys.min() == y0 and xs.min() == x0 and labels.sum() == m * m
    assert square_side_range((256, 256)) == (90, 100)
    out = write_squares_splits(tmp_path / "sq", (3, 2, 2), (128, 128), seed=0, progress=False)
    assert set(out) == {"train", "val", "test"}
    folder = label_folder(tmp_path / "sq" / "train")
    assert len(folder) == 3 and folder.class_names == ("background", "square")
    meta = json.loads((tmp_path / "sq" / "train" / "semantic.json").read_text())
    assert meta["kind"] == "squares" and sum(meta["histogram"]) == 3 * 128 * 128
    train = _files(tmp_path / "sq" / "train")["images/000000.jpg"]
    assert train != _files(tmp_path / "sq" / "val")["images/000000.jpg"]


def test_camvid(tmp_path) -> None:
    seen = set()
    for seed in range(8):
        image, labels = render_camvid(seed, (96, 128))
        assert image.shape == (96, 128, 3) and labels.max() < len(CAMVID_CLASSES)
        seen |= set(np.unique(labels).tolist())
    assert {CAMVID_CLASSES.index(c) for c in ("fence", "bicyclist", "misc")} <= seen
    assert len(seen) >= 10
    a = render_camvid(5, (96, 128))
    b = render_camvid(5, (96, 128))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    s = write_camvid_dataset(tmp_path / "cv", 3, (96, 128), seed=1, progress=False)
    meta = json.loads((tmp_path / "cv" / "semantic.json").read_text())
    assert meta["kind"] == "camvid" and meta["classes"] == list(CAMVID_CLASSES)
    assert sum(meta["histogram"]) == 3 * 96 * 128 == sum(s["histogram"])
    sample = label_folder(tmp_path / "cv")[0]
    assert sample.image.shape[:2] == sample.labels.shape == (96, 128)


def test_output_folder_safety(tmp_path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    for write in (write_parts_dataset, write_camvid_dataset, write_squares_dataset):
        with pytest.raises(DatasetError):
            write(foreign, 1, (64, 64), seed=0, overwrite=True, progress=False)
    assert (foreign / "notes.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1
    ours = tmp_path / "ours"
    write_parts_dataset(ours, 3, (64, 64), seed=0, progress=False)
    with pytest.raises(DatasetError):
        write_parts_dataset(ours, 2, (64, 64), seed=0, progress=False)
    s = write_parts_dataset(ours, 2, (64, 64), seed=1, overwrite=True, progress=False)
    assert s["removed"] == 3 + 3 + 2  # images, labels, semantic.json, joints.json
    assert len(list((ours / "images").iterdir())) == 2
    (ours / "extra.txt").write_text("x")
    with pytest.raises(DatasetError):
        write_parts_dataset(ours, 1, (64, 64), seed=0, overwrite=True, progress=False)
    assert (ours / "joints.json").is_file()  # nothing removed when refusing
