"""Dataset readers: COCO instances (polygons, RLE, crowd, empty images, sparse category
ids, subsets, bad entries), Cityscapes and label folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("pycocotools")

from edge.data.coco import CocoInstances, encode_rle  # noqa: E402
from edge.data.semantic import cityscapes, label_folder  # noqa: E402
from edge.data.sources import open_instances, open_semantic  # noqa: E402
from edge.errors import DatasetError  # noqa: E402

H, W = 40, 60


def square(x0, y0, x1, y1) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def uncompressed_rle(mask: np.ndarray) -> dict:
    flat = mask.T.reshape(-1).astype(np.uint8)  # column-major, starting with zeros
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return {"size": [H, W], "counts": counts}


@pytest.fixture
def coco_dir(tmp_path):
    (tmp_path / "images").mkdir()
    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(tmp_path / "images" / name), np.full((H, W, 3), 100, np.uint8))
    data = {
        "images": [{"id": 7, "file_name": "a.png", "height": H, "width": W},
                   {"id": 9, "file_name": "b.png", "height": H, "width": W},
                   {"id": 11, "file_name": "c.png", "height": H, "width": W}],
        "categories": [{"id": 90, "name": "dog"}, {"id": 1, "name": "person"},
                       {"id": 5, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [2, 3, 10, 20],
             "segmentation": [[2, 3, 12, 3, 12, 23, 2, 23]]},
            {"id": 2, "image_id": 7, "category_id": 5, "iscrowd": 0,
             "segmentation": encode_rle(square(30, 5, 50, 15))},
            {"id": 3, "image_id": 7, "category_id": 1, "iscrowd": 1,
             "segmentation": uncompressed_rle(square(40, 20, 60, 40))},
            {"id": 4, "image_id": 9, "category_id": 90, "bbox": [0, 0, 5, 5],
             "segmentation": [[0, 0, 5, 0, 5, 5, 0, 5]]},
        ],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    return tmp_path


def test_coco_reads_polygons_rle_and_crowd(coco_dir) -> None:
    ds = CocoInstances(coco_dir / "annotations.json")
    assert ds.class_names == ("person", "car", "dog")  # sorted by category id
    s = ds[0]
    assert s.image.shape == (H, W, 3) and s.image_id == 7
    assert s.classes.tolist() == [0, 1, 0] and s.iscrowd.tolist() == [False, False, True]
    np.testing.assert_array_equal(s.masks[1], square(30, 5, 50, 15))
    np.testing.assert_array_equal(s.masks[2], square(40, 20, 60, 40))  # uncompressed RLE
    assert 180 <= s.masks[0].sum() <= 231  # 10x20 polygon, rasterised
    np.testing.assert_allclose(s.boxes[0], [2, 3, 12, 23])
    np.testing.assert_allclose(s.boxes[1], [30, 5, 50, 15])  # from the mask (no bbox given)


def test_coco_category_subset_and_empty_images(coco_dir) -> None:
    ds = open_instances(coco_dir, ["person"])
    assert ds.class_names == ("person",) and len(ds) == 3
    assert [len(ds.annotations(i)) for i in range(3)] == [2, 0, 0]
    assert ds.annotations(1).masks.shape == (0, H, W)
    assert ds.class_to_cat == {0: 1}
    assert len(CocoInstances(coco_dir / "annotations.json", categories=["person"],
                             skip_empty=True)) == 1
    with pytest.raises(DatasetError, match=r"categories \['cat'\] not found"):
        CocoInstances(coco_dir / "annotations.json", categories=["cat"])


@pytest.mark.parametrize("bad,match", [
    ({"segmentation": [[1, 2, 3]]}, "annotation 99: malformed segmentation"),
    ({"segmentation": {"counts": "abc", "size": [1, 1]}}, "annotation 99: malformed"),
    ({"image_id": 12345}, "annotation 99: refers to image 12345"),
    ({"bbox": [0, 0, -1, 3]}, "annotation 99: negative bbox"),
])
def test_malformed_annotations_name_the_file_and_entry(coco_dir, bad, match) -> None:
    path = coco_dir / "annotations.json"
    data = json.loads(path.read_text())
    ann = {"id": 99, "image_id": 11, "category_id": 1, "segmentation": [[0, 0, 4, 0, 4, 4]]}
    ann.update(bad)
    data["annotations"].append(ann)
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=match) as err:
        ds = CocoInstances(path)
        for i in range(len(ds)):
            ds.annotations(i)
    assert "annotations.json" in str(err.value)


def test_missing_files_are_named(coco_dir) -> None:
    (coco_dir / "images" / "b.png").unlink()
    ds = CocoInstances(coco_dir / "annotations.json")
    with pytest.raises(DatasetError, match=r"b\.png: missing or unreadable image"):
        ds[1]
    with pytest.raises(DatasetError, match="no such annotation file"):
        CocoInstances(coco_dir / "nope.json")
    (coco_dir / "annotations.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        CocoInstances(coco_dir / "annotations.json")


def make_cityscapes(root, split="val"):
    rng = np.random.default_rng(0)
    for city in ("aachen", "bonn"):
        (root / "leftImg8bit" / split / city).mkdir(parents=True)
        (root / "gtFine" / split / city).mkdir(parents=True)
        for k in range(2):
            stem = f"{city}_000000_00000{k}"
            cv2.imwrite(str(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"),
                        rng.integers(0, 255, (16, 32, 3), dtype=np.uint8))
            ids = np.array([[7, 8, 24, 26, 0, 33, 9, 23]] * 16, np.uint8).repeat(4, axis=1)
            cv2.imwrite(str(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png"), ids)


def test_cityscapes_maps_label_ids_to_train_ids(tmp_path) -> None:
    make_cityscapes(tmp_path)
    ds = cityscapes(tmp_path, "val")
    assert len(ds) == 4 and ds.class_names[11] == "person"
    s = ds[0]
    assert s.image.shape == (16, 32, 3)
    # road 7->0, sidewalk 8->1, person 24->11, car 26->13, unlabeled 0->255,
    # bicycle 33->18, parking 9->255 (ignored in training), sky 23->10
    assert s.labels[0, ::4].tolist() == [0, 1, 11, 13, 255, 18, 255, 10]
    assert open_semantic(tmp_path).source == str(tmp_path)
    (tmp_path / "gtFine/val/bonn/bonn_000000_000001_gtFine_labelIds.png").unlink()
    with pytest.raises(DatasetError, match="bonn_000000_000001_gtFine_labelIds.png: missing"):
        cityscapes(tmp_path, "val")
    with pytest.raises(DatasetError, match="leftImg8bit/train: not found"):
        cityscapes(tmp_path, "train")


def test_label_folder(tmp_path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images/x.jpg"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "labels/x.png"), np.full((8, 8), 2, np.uint8))
    (tmp_path / "semantic.json").write_text(json.dumps({"classes": ["a", "b", "c"]}))
    ds = label_folder(tmp_path)
    assert ds.class_names == ("a", "b", "c") and (ds[0].labels == 2).all()
    (tmp_path / "semantic.json").unlink()
    with pytest.raises(DatasetError, match="neither a label folder"):
        open_semantic(tmp_path)
