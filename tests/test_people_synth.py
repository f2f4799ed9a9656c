"""The transfer-oriented people scenes (edge.data.people, `dataset synth --kind people`)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edge.cli.build import main as build_main  # noqa: E402
from edge.data import people  # noqa: E402
from edge.data.synth import LABEL  # noqa: E402
from edge.errors import DatasetError  # noqa: E402


def _photo_folder(tmp_path, n=2):
    d = tmp_path / "bg"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(d / f"p{i}.jpg"), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    return d


@pytest.mark.parametrize("view", ["surveillance", "street", "webcam", "classic"])
def test_scene_is_seeded(view):
    a = people.render_scene(5, (96, 128), view=view)
    b = people.render_scene(5, (96, 128), view=view)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    image, labels, masks, crowd = a
    assert image.shape == (96, 128, 3) and image.dtype == np.uint8
    assert masks.shape[1:] == (96, 128) and len(crowd) == len(masks)


MAGENTA = (255, 0, 255)


@pytest.mark.parametrize("view", ["surveillance", "street", "webcam"])
def test_masks_are_exactly_the_visible_painted_people(monkeypatch, view):
    """With a flat magenta background, no shadows and no camera, the pixels that changed
    are the people's (each pixel in exactly one instance) plus the objects'; where an
    object was drawn over a person, that person's mask lost the pixels."""
    monkeypatch.setattr(people, "_background",
                        lambda cv2, rng, view, size, horizon, photos:
                        np.full((*size, 3), MAGENTA, np.uint8))
    monkeypatch.setattr(people, "_cast_shadow", lambda *a: None)
    monkeypatch.setattr(people, "camera", lambda cv2, rng, img: img.copy())
    monkeypatch.setattr(people, "ASPECT_WEIGHTS", (1.0, 0.0, 0.0))  # no resize blending
    covers = []
    real_object = people._draw_object

    def recording(cv2, rng, kind, x, y, ph, size):
        img, cover = real_object(cv2, rng, kind, x, y, ph, size)
        covers.append(cover > 0)
        return img, cover

    monkeypatch.setattr(people, "_draw_object", recording)
    for seed in range(4):
        covers.clear()
        image, labels, masks, _ = people.render_scene(seed, (160, 160), view=view)
        painted = (image != np.array(MAGENTA, np.uint8)).any(-1)
        people_px = masks.any(0)
        objects = np.logical_or.reduce(covers) if covers else np.zeros_like(painted)
        assert masks.shape[0] >= 1, seed
        assert (masks.sum(0) <= 1).all()
        assert not (people_px & ~painted).any()  # a mask pixel is a painted pixel
        assert not (painted & ~people_px & ~objects).any()  # the rest is objects
        np.testing.assert_array_equal(labels == LABEL["person"], people_px)


def test_feet_stand_on_the_ground_point():
    for action in people.ACTIONS:
        for seed in range(5):
            rng = np.random.default_rng(seed)
            p = people.sample_scene_person(rng, action, pitch=float(rng.uniform(0, 40)))
            frame = np.zeros((300, 200, 3), np.uint8)
            m = people._draw_person(cv2, rng, frame, p, (100.0, 260.0), 150.0, (1.0, 0.0), None)
            lowest = np.nonzero(m.any(1))[0].max()
            assert abs(260 - lowest) <= 3, (action, seed, lowest)


def test_shadow_starts_at_the_feet():
    frame = np.full((200, 200, 3), 200, np.uint8)
    mask = np.zeros((200, 200), bool)
    mask[60:120, 90:110] = True  # feet at row 119
    people._cast_shadow(cv2, frame, mask, 119.5, (0.0, 0.5, 0.5))
    dark = (frame[..., 0] < 190) & ~mask
    rows = np.nonzero(dark.any(1))[0]
    assert rows.min() <= 122 and 140 <= rows.max() <= 160  # 0.5 x 60 px toward the camera
    assert not dark[:115].any()


def test_views_put_people_where_their_camera_would():
    sizes = {}
    for view in ("surveillance", "webcam"):
        heights = []
        for seed in range(6):
            _, _, masks, _ = people.render_scene(100 + seed, (160, 160), view=view)
            for m in masks:
                ys = np.nonzero(m.any(1))[0]
                heights.append((ys.max() - ys.min() + 1) / 160)
        assert heights, view
        sizes[view] = float(np.median(heights))
    # surveillance people are small (a few to 35% of the frame), webcam ones fill it
    assert sizes["surveillance"] < 0.3 < sizes["webcam"]


def test_pitch_and_sitting_shorten_the_projected_body():
    def height(p):
        lo, hi = people._extent(p)
        return hi[1] - lo[1]

    rng = np.random.default_rng(1)
    up = people.sample_scene_person(rng, "stand", pitch=0.0, yaw=0.0)
    fields = {f: getattr(up, f) for f in up.__dataclass_fields__ if f != "pitch"}
    down = people.ScenePerson(**fields, pitch=45.0)
    assert height(down) < 0.85 * height(up)
    # looking down, the head is nearer the camera than the feet (drawn over them)
    joints, _ = down.world()
    J = people.body.J
    assert joints[J["head"], 2] > joints[J["left_ankle"], 2] + 0.3
    sit = people.sample_scene_person(np.random.default_rng(1), "sit", pitch=0.0, yaw=0.0)
    assert height(sit) < 0.85 * height(up)
    with pytest.raises(ValueError, match="action"):
        people.sample_scene_person(rng, "fly", 0.0)


def test_a_wide_camera_in_a_wide_frame_is_not_squeezed(monkeypatch):
    """Scenes are drawn at the camera's aspect (frame height x aspect) and resized to the
    frame: a 16:9 camera in a 16:9 frame keeps its proportions."""
    seen = []
    real = people._background

    def spy(cv2, rng, view, size, horizon, photos):
        seen.append(size)
        return real(cv2, rng, view, size, horizon, photos)

    monkeypatch.setattr(people, "_background", spy)
    monkeypatch.setattr(people, "ASPECT_WEIGHTS", (0.0, 0.0, 1.0))
    people.render_scene(3, (90, 160), view="surveillance")
    assert seen == [(90, 160)]


def test_camera_degrades_but_keeps_the_frame():
    rng = np.random.default_rng(3)
    img = np.full((64, 80, 3), 128, np.uint8)
    img[20:40, 30:50] = 250
    out = people.camera(cv2, rng, img)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out, img)


def test_background_photos_are_cropped_into_scenes(tmp_path):
    d = _photo_folder(tmp_path)
    photos = tuple(str(p) for p in people.list_photos(d))
    assert len(photos) == 2
    used = [people.render_scene(s, (64, 64), photos, view="surveillance")[0] for s in range(6)]
    plain = [people.render_scene(s, (64, 64), (), view="surveillance")[0] for s in range(6)]
    assert all(u.shape == (64, 64, 3) for u in used)
    assert any(not np.array_equal(u, p) for u, p in zip(used, plain))


def test_background_folder_is_untrusted(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        people.list_photos(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no photos"):
        people.list_photos(empty)
    d = _photo_folder(tmp_path)
    outside = tmp_path / "secret.jpg"
    cv2.imwrite(str(outside), np.zeros((70, 70, 3), np.uint8))
    os.symlink(outside, d / "link.jpg")
    with pytest.raises(DatasetError, match="links outside"):
        people.list_photos(d)
    os.unlink(d / "link.jpg")
    (d / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="broken.png: not a readable photo"):
        people.list_photos(d)  # checked before anything is written


def test_cli_writes_a_people_dataset(tmp_path, capsys):
    d = _photo_folder(tmp_path)
    out = tmp_path / "ds"
    assert build_main(["dataset", "synth", "--kind", "people", "--backgrounds", str(d),
                       "--out", str(out), "--images", "3", "--size", "96", "128",
                       "--seed", "4", "--workers", "1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["dataset"]
    assert summary["kind"] == "people" and summary["backgrounds"] == 2
    coco = json.loads((out / "annotations.json").read_text())
    assert len(coco["images"]) == 3 and coco["info"]["kind"] == "people"
    assert all(a["category_id"] == 1 for a in coco["annotations"])
    assert sorted(p.name for p in (out / "images").iterdir()) == [
        "000000.jpg", "000001.jpg", "000002.jpg"]


def test_output_is_the_same_for_any_number_of_workers(tmp_path):
    from edge.data.synth import write_dataset

    d = _photo_folder(tmp_path)
    for n in (1, 2):
        write_dataset(str(tmp_path / f"w{n}"), 4, (64, 80), seed=9, workers=n, progress=False,
                      kind="people", backgrounds=str(d))
    for i in range(4):
        a = (tmp_path / "w1" / "images" / f"{i:06d}.jpg").read_bytes()
        assert a == (tmp_path / "w2" / "images" / f"{i:06d}.jpg").read_bytes()
    assert (tmp_path / "w1/annotations.json").read_text() == \
        (tmp_path / "w2/annotations.json").read_text()


def test_cli_refuses_people_options_elsewhere(tmp_path, capsys):
    d = _photo_folder(tmp_path)
    assert build_main(["dataset", "synth", "--backgrounds", str(d), "--out",
                       str(tmp_path / "a"), "--images", "1"]) != 0
    assert "--backgrounds is for --kind people" in capsys.readouterr().err
    assert build_main(["dataset", "synth", "--kind", "people", "--video",
                       str(tmp_path / "v.mp4"), "--out", str(tmp_path / "b")]) != 0
    assert "--video writes street scenes" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
