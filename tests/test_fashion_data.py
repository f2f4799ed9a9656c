"""Seed 000's synthetic fashion scenes: garment labels, person boxes, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edge.data.fashion import (  # noqa: E402
    BOX_CLASSES, MIN_BOX_PIXELS, SWAP_LR, render_fashion, render_person_labels,
    sample_outfit, write_fashion_dataset,
)
from edge.data.parts import sample_person  # noqa: E402
from edge.data.semantic import label_folder  # noqa: E402
from edge.data.synth import scene_seed  # noqa: E402
from edge.description import FASHION_CLASSES  # noqa: E402
from edge.errors import ConfigError, DatasetError  # noqa: E402

SIZE = (96, 96)
F = {n: i for i, n in enumerate(FASHION_CLASSES)}


def _files(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _tight(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def test_dataset_deterministic_parallel_and_loadable(tmp_path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    sa = write_fashion_dataset(a, 4, SIZE, seed=3, progress=False)
    write_fashion_dataset(b, 4, SIZE, seed=3, progress=False, workers=2)
    assert _files(a) == _files(b)  # same bytes whatever the worker count
    write_fashion_dataset(c, 4, SIZE, seed=4, progress=False)
    assert _files(c)["images/000000.jpg"] != _files(a)["images/000000.jpg"]
    meta = json.loads((a / "semantic.json").read_text())
    assert meta["kind"] == "fashion" and meta["classes"] == list(FASHION_CLASSES)
    assert meta["swap_lr"] == list(SWAP_LR) and meta["box_classes"] == ["person"]
    assert meta["ignore_label"] == 255 and meta["size"] == list(SIZE) and meta["seed"] == 3
    assert sum(meta["histogram"]) == 4 * SIZE[0] * SIZE[1] == sum(sa["histogram"])
    boxes = json.loads((a / "boxes.json").read_text())
    assert sorted(boxes) == [f"{i:06d}" for i in range(4)]
    folder = label_folder(a)
    assert len(folder) == 4 and folder.class_names == FASHION_CLASSES
    assert folder.swap_lr is not None and folder.histogram.sum() == 4 * SIZE[0] * SIZE[1]
    for k, sample in enumerate(folder):
        assert sample.image.shape == (*SIZE, 3) and sample.labels.shape == SIZE
        assert sample.labels.max() < len(FASHION_CLASSES)
        # the file's boxes are the render's, and enclose every labelled pixel but those of
        # persons too small for a box
        scene = render_fashion(np.random.default_rng(scene_seed(3, k)), SIZE)
        np.testing.assert_array_equal(sample.labels, scene.labels)
        assert boxes[f"{k:06d}"] == scene.boxes
        if getattr(sample, "boxes", None) is not None:  # the reader hands them on
            np.testing.assert_array_equal(
                sample.boxes, np.asarray(scene.boxes, np.float32).reshape(-1, 5))
        for x1, y1, x2, y2, cls in boxes[f"{k:06d}"]:
            assert cls == 0 and 0 <= x1 < x2 <= SIZE[1] and 0 <= y1 < y2 <= SIZE[0]
    # overwrite replaces our own files (boxes.json included)
    s2 = write_fashion_dataset(a, 2, SIZE, seed=5, overwrite=True, progress=False)
    assert s2["removed"] >= 8 and sorted(json.loads((a / "boxes.json").read_text())) == [
        "000000", "000001"]


def test_boxes_are_tight_boxes_of_visible_person_pixels() -> None:
    people = 0
    for seed in range(12):
        scene = render_fashion(np.random.default_rng(seed), (128, 128))
        assert scene.labels.dtype == np.uint8 and scene.labels.max() < len(FASHION_CLASSES)
        np.testing.assert_array_equal(scene.labels > 0, scene.instances > 0)
        expected = []
        for k in range(1, int(scene.instances.max()) + 1):
            m = scene.instances == k
            if m.sum() >= MIN_BOX_PIXELS:
                expected.append(_tight(m) + [0])
        assert scene.boxes == expected
        people += len(expected)
    assert people >= 12 * 1.5  # 1-3 people, most of them visible


def test_swap_lr_is_an_involution_on_left_right_names() -> None:
    n = len(FASHION_CLASSES)
    assert sorted(SWAP_LR) == list(range(n))
    assert all(SWAP_LR[SWAP_LR[i]] == i for i in range(n))
    for i, name in enumerate(FASHION_CLASSES):
        if name.startswith("left-"):
            assert FASHION_CLASSES[SWAP_LR[i]] == "right-" + name[5:]
        elif name.startswith("right-"):
            assert FASHION_CLASSES[SWAP_LR[i]] == "left-" + name[6:]
        else:
            assert SWAP_LR[i] == i
    assert sum(SWAP_LR[i] != i for i in range(n)) == 6 and BOX_CLASSES == ("person",)


def _person(seed: int, facing: str, size=(200, 200)):
    rng = np.random.default_rng(seed)
    p = sample_person(rng, facing)
    o = sample_outfit(rng, p)
    layer = render_person_labels(cv2, rng, p, o, size, 160.0, (100.0, 185.0))
    return p, o, layer


def test_left_right_are_the_persons_own_sides() -> None:
    for facing, sign in (("front", 1), ("back", -1)):
        diff = 0.0
        for seed in range(8):
            _, _, layer = _person(seed, facing)
            xs = np.indices(layer.labels.shape)[1]
            left = np.isin(layer.labels, [F["left-shoe"], F["left-arm"], F["left-leg"]])
            right = np.isin(layer.labels, [F["right-shoe"], F["right-arm"], F["right-leg"]])
            if left.any() and right.any():
                diff += xs[left].mean() - xs[right].mean()
        assert sign * diff > 0, facing


def test_outfits_decide_the_garment_labels() -> None:
    seen: set[int] = set()
    for seed in range(40):
        _, o, layer = _person(seed, None)
        ids = set(np.unique(layer.labels).tolist())
        seen |= ids
        assert F["face"] in ids or F["hair"] in ids
        assert {F["left-shoe"], F["right-shoe"]} & ids
        if o.lower == "dress":
            assert F["dress"] in ids and not ids & {F["upper-clothes"], F["skirt"], F["pants"]}
        elif o.lower == "skirt":
            assert {F["skirt"], F["upper-clothes"]} <= ids and F["pants"] not in ids
        else:
            assert {F["pants"], F["upper-clothes"]} <= ids and F["skirt"] not in ids
        assert (F["hat"] in ids) == o.hat and (F["scarf"] in ids) == o.scarf
        assert (F["bag"] in ids) == bool(o.bag) and (F["belt"] in ids) <= o.belt
        if o.sleeves == "long":  # arms show only the hands
            arm = np.isin(layer.labels, [F["left-arm"], F["right-arm"]]).sum()
            top = (layer.labels == F["upper-clothes"]).sum()
            assert arm < top
        # one colour per garment: pixels of a label are close to its outfit colour
        for name, colour in o.colours.items():
            m = layer.labels == F[name]
            if m.sum() > 30 and name != "face":  # the face has eyes and a mouth
                med = np.median(layer.colours[m], axis=0)
                dark = o.textures[name][3] if o.textures.get(name, (0, 0))[1] else 1.0
                err = min(np.abs(med - colour * k).max() for k in (1.0, dark, (1 + dark) / 2))
                assert err < 50, name
    assert seen == set(range(len(FASHION_CLASSES)))  # every class occurs


def test_scenes_vary_people_and_clip_at_the_frame() -> None:
    counts, cut = [], 0
    for seed in range(20):
        scene = render_fashion(np.random.default_rng(seed), (128, 128))
        counts.append(int(scene.instances.max()))
        for x1, y1, x2, y2, _ in scene.boxes:
            cut += x1 == 0 or y1 == 0 or x2 == 128 or y2 == 128
    assert set(counts) == {1, 2, 3} and cut > 0
    a = render_fashion(np.random.default_rng(7), (128, 128), people=2)
    b = render_fashion(np.random.default_rng(7), (128, 128), people=2)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(ConfigError):
        write_fashion_dataset(tmp_path / "x", 0, SIZE, progress=False)
    with pytest.raises(ConfigError):
        write_fashion_dataset(tmp_path / "x", 2, SIZE, workers=0, progress=False)
    with pytest.raises(ConfigError):
        write_fashion_dataset(tmp_path / "x", 2, (16, 96), progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError):
        write_fashion_dataset(foreign, 1, SIZE, overwrite=True, progress=False)
    assert (foreign / "notes.txt").read_text() == "mine"
