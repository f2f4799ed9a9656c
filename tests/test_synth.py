"""The synthetic scene generator: deterministic, consistent annotations, every ISB shape."""

from __future__ import annotations

import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("pycocotools")

from edge.data.coco import CocoInstances  # noqa: E402
from edge.data.synth import SEMANTIC_CLASSES, random_scene, write_dataset, write_video  # noqa: E402
from edge.geometry import cell_shapes, encompassing_cells  # noqa: E402


def test_same_seed_same_pixels_other_seed_other_pixels() -> None:
    a = random_scene(5, (96, 128)).render()
    b = random_scene(5, (96, 128)).render()
    c = random_scene(6, (96, 128)).render()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_masks_are_visible_parts_and_labels_agree() -> None:
    for seed in range(10):
        image, labels, masks, crowd = random_scene(seed, (160, 160)).render()
        assert image.dtype == np.uint8 and labels.max() < len(SEMANTIC_CLASSES)
        if len(masks) > 1:
            assert masks.sum(0).max() <= 1  # occlusion: no pixel belongs to two people
        person = SEMANTIC_CLASSES.index("person")
        if len(masks):
            assert (labels[masks.any(0)] == person).all()
            assert crowd.dtype == bool and len(crowd) == len(masks)


def test_sizes_cover_every_isb_shape() -> None:
    shapes = set()
    for seed in range(120):
        _, _, masks, crowd = random_scene(seed, (640, 640)).render()
        for m in masks[~crowd]:
            ys, xs = np.nonzero(m)
            box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
            shapes.add(tuple(cell_shapes(encompassing_cells(box, (640, 640), 32))[0]))
    assert (1, 1) in shapes and (2, 1) in shapes
    assert any(h >= 15 and w >= 10 for h, w in shapes)
    ratios = [h / w for h, w in shapes]
    assert min(ratios) < 1.5 < 3 < max(ratios)  # upright people, plus partial views


def test_write_dataset_is_valid_coco_and_deterministic(tmp_path) -> None:
    s1 = write_dataset(str(tmp_path / "a"), 6, (96, 96), seed=3, workers=1, progress=False)
    write_dataset(str(tmp_path / "b"), 6, (96, 96), seed=3, workers=2, progress=False)
    assert s1["images"] == 6
    ja = json.loads((tmp_path / "a/annotations.json").read_text())
    jb = json.loads((tmp_path / "b/annotations.json").read_text())
    assert ja == jb and ja["categories"] == [{"id": 1, "name": "person",
                                              "supercategory": "person"}]
    ds = CocoInstances(tmp_path / "a/annotations.json")
    for i in range(len(ds)):
        s = ds[i]
        assert s.image.shape == (96, 96, 3)
        for m, b in zip(s.masks, s.boxes):
            ys, xs = np.nonzero(m)
            np.testing.assert_allclose(b, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    labels = cv2.imread(str(tmp_path / "a/labels/000000.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (96, 96)


def test_write_video(tmp_path) -> None:
    path = tmp_path / "scene.mp4"
    write_video(str(path), 12, (64, 96), seed=1, progress=False)
    cap = cv2.VideoCapture(str(path))
    n = 0
    first = None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        first = frame if first is None else first
        n += 1
    assert n == 12 and first.shape == (64, 96, 3)


def test_stream_rendering_draws_the_same_scene() -> None:
    from edge.data.synth import random_scene

    scene = random_scene(4, (240, 320), moving=True)
    scene.advance(3)
    full = scene.render()[0].astype(np.int16)
    fast = scene.render_image().astype(np.int16)
    diff = np.abs(full - fast)
    assert diff.mean() < 6.0  # only the sensor noise differs (sigma 4 each)
    assert np.percentile(diff, 99) < 30
