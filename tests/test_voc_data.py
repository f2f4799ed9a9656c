"""Seed 002's VOC-like scenes: confusable pairs, occluded split, void borders, boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edge.data.semantic import label_folder  # noqa: E402
from edge.data.synth import scene_seed  # noqa: E402
from edge.data.voc import (  # noqa: E402
    BOX_CLASSES, PAIRS, border_band, render_object, render_voc, write_voc_dataset,
)
from edge.description import VOC_CLASSES  # noqa: E402
from edge.errors import ConfigError  # noqa: E402

SIZE = (96, 96)


def _files(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _in_regions(shape, regions) -> np.ndarray:
    m = np.zeros(shape, bool)
    for x0, y0, x1, y1 in regions:
        m[y0:y1, x0:x1] = True
    return m


def test_dataset_deterministic_parallel_and_loadable(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    sa = write_voc_dataset(a, 4, SIZE, seed=2, progress=False, border=True)
    write_voc_dataset(b, 4, SIZE, seed=2, progress=False, border=True, workers=2)
    assert _files(a) == _files(b)
    meta = json.loads((a / "semantic.json").read_text())
    assert meta["kind"] == "voc" and meta["classes"] == list(VOC_CLASSES)
    assert meta["pairs"] == [[1, 2], [3, 4], [5, 6], [7, 8]] == [list(p) for p in PAIRS]
    assert meta["occluded"] is False and meta["border"] is True
    assert meta["box_classes"] == list(VOC_CLASSES[1:]) == list(BOX_CLASSES)
    folder = label_folder(a)
    assert len(folder) == 4 and folder.class_names == VOC_CLASSES
    ignored = 0
    boxes = json.loads((a / "boxes.json").read_text())
    for k, sample in enumerate(folder):
        assert sample.image.shape == (*SIZE, 3) and sample.labels.shape == SIZE
        ids = set(np.unique(sample.labels).tolist())
        assert ids <= set(range(len(VOC_CLASSES))) | {255} and 255 in ids
        ignored += int((sample.labels == 255).sum())
        scene = render_voc(np.random.default_rng(scene_seed(2, k)), SIZE, border=True)
        np.testing.assert_array_equal(sample.labels, scene.labels)
        assert boxes[f"{k:06d}"] == scene.boxes
        if getattr(sample, "boxes", None) is not None:  # the reader hands them on
            np.testing.assert_array_equal(
                sample.boxes, np.asarray(scene.boxes, np.float32).reshape(-1, 5))
    assert sum(meta["histogram"]) + ignored == 4 * SIZE[0] * SIZE[1] == sum(
        sa["histogram"]) + ignored


def test_occluded_split_differs_only_in_part_regions(tmp_path) -> None:
    for seed in range(10):
        plain = render_voc(np.random.default_rng(seed), (128, 128))
        occl = render_voc(np.random.default_rng(seed), (128, 128), occlude=True)
        np.testing.assert_array_equal(plain.labels, occl.labels)
        np.testing.assert_array_equal(plain.instances, occl.instances)
        assert plain.boxes == occl.boxes and plain.regions == occl.regions
        diff = (plain.image != occl.image).any(2)
        assert diff.any() and not (diff & ~_in_regions(diff.shape, plain.regions)).any()
    a, b = tmp_path / "a", tmp_path / "b"
    write_voc_dataset(a, 3, SIZE, seed=1, progress=False)
    write_voc_dataset(b, 3, SIZE, seed=1, progress=False, occlude=True)
    fa, fb = _files(a), _files(b)
    assert json.loads(fb["semantic.json"])["occluded"] is True
    for k in range(3):
        assert fa[f"labels/{k:06d}.png"] == fb[f"labels/{k:06d}.png"]
        assert fa[f"images/{k:06d}.jpg"] != fb[f"images/{k:06d}.jpg"]
    assert fa["boxes.json"] == fb["boxes.json"]


def test_pair_members_differ_only_in_the_part() -> None:
    for first, second in PAIRS:
        fractions = []
        for seed in range(6):
            a = render_object(np.random.default_rng(seed), first, 80.0)
            b = render_object(np.random.default_rng(seed), second, 80.0)
            assert a.regions == b.regions and a.mask.shape == b.mask.shape
            outside = ~_in_regions(a.mask.shape, a.regions)
            np.testing.assert_array_equal(a.mask & outside, b.mask & outside)
            np.testing.assert_array_equal(a.image[outside], b.image[outside])
            for o in (a, b):
                assert not (o.part & ~o.mask).any() and not (o.part & outside).any()
                fractions.append(o.part.sum() / o.mask.sum())
            # ...and they do differ there, in shape or in what is painted
            inside = ~outside
            assert (a.mask[inside] != b.mask[inside]).any() or (
                np.abs(a.image[inside] - b.image[inside]) > 10).any()
        assert 0.05 <= np.mean(fractions) <= 0.15 and min(fractions) > 0.04, (first, second)


def test_pairs_differ_from_each_other_in_body_shape() -> None:
    def iou(m1, m2):
        return (m1 & m2).sum() / (m1 | m2).sum()

    same, other = [], []
    for seed in range(4):
        masks = {c: render_object(np.random.default_rng(seed), c, 80.0).mask for c in range(1, 9)}
        for c in range(1, 9):
            for d in range(c + 1, 9):
                (same if (c - 1) // 2 == (d - 1) // 2 else other).append(iou(masks[c], masks[d]))
    assert min(same) > 0.75 and max(other) < 0.55


def test_boxes_border_and_scene_mix() -> None:
    seen, counts = set(), set()
    for seed in range(16):
        plain = render_voc(np.random.default_rng(seed), (128, 128))
        scene = render_voc(np.random.default_rng(seed), (128, 128), border=True)
        counts.add(len(scene.classes))
        seen |= set(scene.classes)
        assert not (plain.labels == 255).any()
        band = border_band(scene.instances)
        np.testing.assert_array_equal(scene.labels == 255, band)
        np.testing.assert_array_equal(scene.labels[~band], plain.labels[~band])
        np.testing.assert_array_equal(plain.image, scene.image)
        lut = np.array([0] + scene.classes, np.uint8)
        np.testing.assert_array_equal(plain.labels, lut[scene.instances])
        expected = []
        for k, cls in enumerate(scene.classes, start=1):
            ys, xs = np.nonzero(scene.instances == k)
            if ys.size >= 16:
                expected.append([int(xs.min()), int(ys.min()), int(xs.max()) + 1,
                                 int(ys.max()) + 1, cls - 1])
        assert scene.boxes == expected
    assert seen == set(range(1, 9)) and counts == {1, 2, 3, 4}


def test_border_band_is_three_pixels_wide() -> None:
    inst = np.zeros((40, 40), np.uint8)
    inst[10:30, 10:30] = 1
    band = border_band(inst)
    assert band[20].sum() == 6 and band[:, 20].sum() == 6  # two outlines, 3 px each
    assert band[20, 8:11].all() and band[20, 7] == 0 and band[20, 11] == 0


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(ConfigError):
        render_object(np.random.default_rng(0), 0)
    with pytest.raises(ConfigError):
        render_object(np.random.default_rng(0), 9)
    with pytest.raises(ConfigError):
        write_voc_dataset(tmp_path / "x", 0, SIZE, progress=False)
    with pytest.raises(ConfigError):
        write_voc_dataset(tmp_path / "x", 1, SIZE, workers=0, progress=False)
