"""edge-bench footage: background-subtraction people counter, matching arithmetic, strict
reference files, and end-to-end runs of the demo model on tiny synthetic clips and a still.

No real media: two static-camera clips are written here with cv2.VideoWriter: "walkers"
(a fixed textured background and three dark ellipses walking across it, never touching:
exact background-subtraction boxes) and "street" (a synthetic street scene of
:mod:`edge.data.synth`, what the demo model was trained on, with its people walking: the
demo model must find them, against a reference made of the scene's own person masks).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edge.cli.bench import main as bench_main
from edge.data.synth import random_scene
from edge.errors import ConfigError, DatasetError
from edge.evaluate import footage as fe
from edge.geometry.boxes import box_iou

W, H, FRAMES = 240, 180, 30
# (x at frame 0, top y, width, height, x speed per frame): rows never overlap
PEOPLE = [(10, 15, 14, 40, 5), (200, 70, 16, 44, -4), (60, 128, 14, 42, 3)]


def truth(frame: int) -> list[tuple[float, float, float, float]]:
    """Ground-truth boxes (x0, y0, x1, y1) of the synthetic people in ``frame``."""
    return [(float(x + v * frame), float(y), float(x + v * frame + w), float(y + h))
            for x, y, w, h, v in PEOPLE]


def background() -> np.ndarray:
    rng = np.random.default_rng(7)
    noise = cv2.resize(rng.uniform(90, 200, (12, 16, 3)).astype(np.float32), (W, H),
                       interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(-20, 20, W, dtype=np.float32)[None, :, None]
    return np.clip(noise + ramp, 0, 255).astype(np.uint8)


def synthetic_frames() -> list[np.ndarray]:
    bg = background()
    out = []
    for i in range(FRAMES):
        f = bg.copy()
        for x0, y0, x1, y1 in truth(i):
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            cv2.ellipse(f, (round(cx), round(cy)), (round((x1 - x0) / 2 - 0.5),
                        round((y1 - y0) / 2 - 0.5)), 0, 0, 360, (90, 40, 30), -1)
        out.append(f)
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """The synthetic clip as an MJPG .avi (OpenCV's built-in encoder, no codecs needed)."""
    path = tmp_path_factory.mktemp("footage") / "walkers.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    assert writer.isOpened()
    for f in synthetic_frames():
        writer.write(f)
    writer.release()
    return path


# a synthetic street (static camera): three or four people walking, no cars
SW, SH, SFRAMES, SEED = 320, 240, 30, 2


def mask_box(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def street_frames() -> tuple[list[np.ndarray], list[list[list[int]]]]:
    """Frames of the street scene and each frame's person boxes (from its own masks)."""
    scene = random_scene(SEED, (SH, SW), people=(3, 4), min_height=0.3 * SH, moving=True)
    frames, boxes = [], []
    for _ in range(SFRAMES):
        image, _, masks, crowd = scene.render()
        frames.append(image)
        boxes.append([mask_box(m) for m, c in zip(masks, crowd) if not c])
        scene.advance()
    return frames, boxes


@pytest.fixture(scope="module")
def street(tmp_path_factory) -> tuple[Path, list[list[list[int]]]]:
    """The street clip (MJPG .avi) and its per-frame person boxes."""
    path = tmp_path_factory.mktemp("street") / "street.avi"
    frames, boxes = street_frames()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (SW, SH))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return path, boxes


def hand_reference(tmp_path: Path, video: str, boxes: dict[int, list], camera: str,
                   name: str = "hand.json") -> Path:
    return write(tmp_path, {"video": video, "source": "hand", "camera": camera,
                            "frames": {str(i): b for i, b in boxes.items()}}, name)


# ----------------------------------------------------------------- background subtraction

def test_background_people_recovers_the_walkers_from_the_video_file(clip: Path) -> None:
    frames = [0, 7, 15, 22, 29]
    people = fe.background_people(clip, frames)
    assert people.frames_total == FRAMES
    assert sorted(people.boxes) == frames and sorted(people.masks) == frames
    assert people.split_blobs == 0
    for i in frames:
        got = np.array(people.boxes[i])
        assert len(got) == 3, (i, got)
        iou = box_iou(np.array(truth(i)), got)
        assert iou.max(axis=1).min() >= 0.7, (i, iou)
        assert people.masks[i].shape == (H, W) and people.masks[i].dtype == bool
    assert people.foreground_share < fe.MOVING_SHARE


def test_background_people_takes_frames_too_and_agrees_with_the_file(clip: Path) -> None:
    from_frames = fe.background_people(synthetic_frames(), [3, 20])
    assert [len(from_frames.boxes[i]) for i in (3, 20)] == [3, 3]
    iou = box_iou(np.array(truth(20)), np.array(from_frames.boxes[20]))
    assert iou.max(axis=1).min() >= 0.8


def test_a_blob_two_people_wide_is_split_and_one_person_is_not() -> None:
    mask = np.zeros((120, 160), bool)
    mask[20:80, 10:30] = True  # one person, 20 x 60
    mask[20:80, 60:102] = True  # two side by side, 42 x 60
    mask[100:112, 120:158] = True  # a car: wider than tall, dropped
    blobs = fe.person_blobs(mask)
    assert [b.box for b in blobs] == [(10.0, 20.0, 30.0, 80.0), (60.0, 20.0, 102.0, 80.0)]
    assert fe.split_blob(blobs[0], typical_width=1 / 3) == [(10.0, 20.0, 30.0, 80.0)]
    assert fe.split_blob(blobs[1], typical_width=1 / 3) == [(60.0, 20.0, 81.0, 80.0),
                                                           (81.0, 20.0, 102.0, 80.0)]
    # width / (typical width * height): 1.5 stays one person, 1.6 is two, 2.6 three
    for width, people in ((30, 1), (32, 2), (52, 3), (200, 4)):
        blob = fe.Blob((5.0, 0.0, 5.0 + width, 60.0), np.ones((60, width), bool))
        assert len(fe.split_blob(blob, typical_width=1 / 3)) == people, width
        # cut by the frame's edge: its width means nothing, never split
        assert len(fe.split_blob(blob, 1 / 3, frame_width=5 + width)) == 1
    sliver = np.zeros((60, 40), bool)
    sliver[:, :20] = True  # a person
    sliver[40:50, 20:] = True  # and a bag (or barrier tape) beside them
    blob = fe.Blob((5.0, 0.0, 45.0, 60.0), sliver)
    assert fe.split_blob(blob, typical_width=1 / 3) == [(5.0, 0.0, 45.0, 60.0)]


def test_foreground_drops_a_shadow_but_keeps_a_dark_person() -> None:
    bg = np.full((60, 60, 3), (120, 140, 160), np.uint8)
    frame = bg.copy()
    frame[10:50, 5:20] = (bg[0, 0] * 0.7).astype(np.uint8)  # shadow: same colour, darker
    frame[10:50, 35:50] = (90, 40, 30)  # a person in dark blue
    mask = fe.foreground_mask(frame, bg)
    assert not mask[:, :25].any()
    assert mask[15:45, 38:47].all()


# -------------------------------------------------------------------------------- matching

def test_matching_is_greedy_by_iou_not_by_score() -> None:
    ref = np.array([[0, 0, 10, 20], [6, 0, 16, 20]], float)
    det = np.array([[3, 0, 13, 20],  # first (highest score): IoU 0.54 with ref 0 and 1
                    [6, 0, 16, 20]], float)  # exactly ref 1
    m = fe.match_boxes(det, ref, 0.3)
    assert [(d, r) for d, r, _ in m.pairs] == [(1, 1), (0, 0)]
    assert m.pairs[0][2] == 1.0 and m.pairs[1][2] == pytest.approx(7 / 13)
    assert m.false == [] and m.missed == []


def test_matching_breaks_an_iou_tie_by_score_deterministically() -> None:
    ref = np.array([[10, 0, 20, 20]], float)
    det = np.array([[8, 0, 18, 20],  # IoU 160/240 with the reference
                    [12, 0, 22, 20]], float)  # the same IoU, shifted the other way
    iou = box_iou(det, ref)
    assert iou[0, 0] == iou[1, 0]
    for _ in range(3):  # detections not in score order: the higher score still wins
        m = fe.match_boxes(det, ref, 0.3, scores=np.array([0.4, 0.9]))
        assert [(d, r) for d, r, _ in m.pairs] == [(1, 0)] and m.false == [0]
        m = fe.match_boxes(det, ref, 0.3, scores=np.array([0.9, 0.4]))
        assert [(d, r) for d, r, _ in m.pairs] == [(0, 0)] and m.false == [1]
    # equal scores (or none given): the earlier detection, every time
    for scores in (None, np.array([0.5, 0.5])):
        assert [d for d, _, _ in fe.match_boxes(det, ref, 0.3, scores=scores).pairs] == [0]
    # the score breaks ties only: a better IoU wins over a higher score
    det2 = np.array([[9, 0, 19, 20], [10, 0, 20, 20]], float)
    m = fe.match_boxes(det2, ref, 0.3, scores=np.array([0.99, 0.31]))
    assert [(d, r) for d, r, _ in m.pairs] == [(1, 0)]


def test_matching_counts_found_false_and_missed_exactly() -> None:
    ref = np.array([[0, 0, 10, 20], [20, 0, 30, 20], [40, 0, 50, 20]], float)
    det = np.array([[0, 0, 10, 20],  # ref 0
                    [1, 0, 11, 20],  # ref 0 again: taken, so false
                    [22, 0, 32, 20],  # ref 1, IoU 8/12
                    [100, 0, 110, 20]], float)  # nothing there: false
    m = fe.match_boxes(det, ref, 0.3)
    assert sorted((d, r) for d, r, _ in m.pairs) == [(0, 0), (2, 1)]
    assert m.false == [1, 3] and m.missed == [2]
    assert fe.match_boxes(det, ref, 0.7).pairs == [(0, 0, 1.0)]  # 8/12 < 0.7
    empty = fe.match_boxes(np.zeros((0, 4)), ref)
    assert empty.pairs == [] and empty.missed == [0, 1, 2]
    none = fe.match_boxes(det, np.zeros((0, 4)))
    assert none.false == [0, 1, 2, 3]


def test_summary_arithmetic() -> None:
    frames = [
        {"reference": 3, "detections": 4, "found": 2, "false": 2, "mask_iou": [0.5, 0.7]},
        {"reference": 0, "detections": 1, "found": 0, "false": 1, "mask_iou": []},
        {"reference": 2, "detections": 2, "found": 2, "false": 0, "mask_iou": [0.9, None]},
        {"reference": 1, "detections": 0, "found": 0, "false": 0, "mask_iou": []},
    ]
    s = fe.summarise(frames)
    assert s["frames_evaluated"] == 4
    assert (s["people_visible"], s["people_found"], s["false_detections"]) == (6, 4, 3)
    assert s["recall"] == pytest.approx(4 / 6)
    assert s["false_per_frame"] == pytest.approx(0.75)
    assert s["detections_per_frame"] == pytest.approx(7 / 4)
    assert s["mask_iou_mean"] == pytest.approx(0.7) and s["mask_iou_median"] == pytest.approx(0.7)
    assert s["mask_iou_pairs"] == 3
    nobody = fe.summarise([{"reference": 0, "detections": 0, "found": 0, "false": 0}])
    assert nobody["recall"] is None and nobody["mask_iou_mean"] is None


def test_mask_iou_is_measured_inside_the_reference_box_only() -> None:
    fg = np.zeros((40, 40), bool)
    fg[10:30, 10:20] = True  # the body, 200 px
    fg[0:5, 0:40] = True  # foreground outside the box: ignored
    pred = np.zeros((40, 40), bool)
    pred[10:30, 15:25] = True  # half on the body: 100 px shared, 300 px in either
    assert fe.mask_iou_in_box(pred, fg, (8, 8, 30, 32)) == pytest.approx(100 / 300)
    assert fe.mask_iou_in_box(pred, fg, (8, 8, 22, 32)) == pytest.approx(100 / 240)  # cut
    assert fe.mask_iou_in_box(np.zeros_like(fg), np.zeros_like(fg), (0, 0, 5, 5)) is None


def test_schedule_and_thinning() -> None:
    assert fe.schedule(31, 10) == [0, 10, 20, 30]
    assert fe.schedule(795, 10, max_frames=3) == [0, 400, 790]
    assert fe.sheet_picks(5) == [0, 1, 2, 3, 4]
    assert fe.sheet_picks(80) == sorted(set(fe.sheet_picks(80))) and len(fe.sheet_picks(80)) == 12
    assert fe.per_clip_path("out/s.jpg", "a/vtest.avi", True) == Path("out/s-vtest.jpg")
    assert fe.per_clip_path("out/s.jpg", "a/vtest.avi", False) == Path("out/s.jpg")


# ------------------------------------------------------------------------- reference files

GOOD = {"video": "walkers.avi", "source": "hand", "camera": "static",
        "frames": {"0": [[10, 15, 24, 55]], "5": []}, "notes": "by hand"}


def write(tmp_path: Path, data, name: str = "ref.json") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def test_reference_round_trip(tmp_path: Path) -> None:
    ref = fe.load_reference(write(tmp_path, GOOD))
    assert ref.frames == {0: [(10.0, 15.0, 24.0, 55.0)], 5: []}
    assert (ref.video, ref.source, ref.camera, ref.notes) == ("walkers.avi", "hand", "static",
                                                             "by hand")
    out = tmp_path / "again.json"
    fe.write_reference(out, ref)
    again = fe.load_reference(out)
    assert again.frames == ref.frames and again.camera == "static"
    hand = dict(GOOD)
    del hand["camera"]
    assert fe.load_reference(write(tmp_path, hand, "h.json")).camera == "moving"


@pytest.mark.parametrize("data, says", [
    ("{not json", "not valid JSON"),
    ([1, 2], "expected a JSON object"),
    ({**GOOD, "fps": 10}, "unknown key"),
    ({k: v for k, v in GOOD.items() if k != "frames"}, "missing 'frames'"),
    ({**GOOD, "video": ""}, "'video' must be"),
    ({**GOOD, "source": "yolo"}, "'source' must be one of"),
    ({**GOOD, "camera": "ptz"}, "'camera' must be one of"),
    ({**GOOD, "source": "background-subtraction", "camera": "moving"}, "needs 'camera'"),
    ({**GOOD, "frames": {}}, "non-empty object"),
    ({**GOOD, "frames": {"a": []}}, "frame key 'a'"),
    ({**GOOD, "frames": {"-1": []}}, "frame key '-1'"),
    ({**GOOD, "frames": {"0": [[1, 2, 3]]}}, "frame 0 box 0: expected [x0, y0, x1, y1]"),
    ({**GOOD, "frames": {"0": [[1, 2, True, 4]]}}, "expected [x0, y0, x1, y1]"),
    ({**GOOD, "frames": {"0": [[5, 2, 3, 4]]}}, "empty or reversed"),
    ({**GOOD, "frames": {"0": {"box": 1}}}, "expected a list of boxes"),
    ('{"video": "a", "source": "hand", "frames": {"0": [[0, 0, NaN, 4]]}}', "expected [x0"),
    ({**GOOD, "notes": 3}, "'notes' must be text"),
])
def test_reference_strictness(tmp_path: Path, data, says: str) -> None:
    p = write(tmp_path, data)
    with pytest.raises(DatasetError) as err:
        fe.load_reference(p)
    msg = str(err.value)
    assert says in msg and str(p) in msg and "\n" not in msg


def test_reference_is_checked_against_the_clip(tmp_path: Path) -> None:
    ref = fe.load_reference(write(tmp_path, GOOD))
    fe.check_reference(ref, tmp_path / "walkers.avi", FRAMES, (H, W))
    with pytest.raises(DatasetError, match="a reference for 'walkers.avi', not for 'other.avi'"):
        fe.check_reference(ref, tmp_path / "other.avi", FRAMES, (H, W))
    with pytest.raises(DatasetError, match=r"frame\(s\) 5 beyond walkers.avi's 4 frames"):
        fe.check_reference(ref, tmp_path / "walkers.avi", 4, (H, W))
    with pytest.raises(DatasetError, match="outside the 8x8 frame"):
        fe.check_reference(ref, tmp_path / "walkers.avi", FRAMES, (8, 8))
    with pytest.raises(DatasetError, match="no such reference file"):
        fe.load_reference(tmp_path / "missing.json")


def test_outputs_go_through_links_and_pipes_never_replacing_them(tmp_path: Path) -> None:
    import os
    import threading

    target = tmp_path / "real.json"
    link = tmp_path / "link.json"
    link.symlink_to(target)
    fe.write_output(link, b"{}")
    assert link.is_symlink() and target.read_bytes() == b"{}"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    fe.write_output(fifo, b"sheet")
    reader.join(5)
    assert got == [b"sheet"] and not fifo.is_file() and fifo.exists()
    fe.write_output(tmp_path / "new.json", b"x")  # a new file: atomic, no .tmp left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "new.json", "pipe",
                                                          "real.json"]


# ------------------------------------------------------------------------------------ CLI

def test_cli_end_to_end_with_the_demo_model(street, tmp_path: Path) -> None:
    """Background-subtraction reference of the street clip: the demo model finds people."""
    clip, _ = street
    out, sheet, ref = tmp_path / "f.json", tmp_path / "sheet.jpg", tmp_path / "r.json"
    rc = bench_main(["footage", "--model", "demo", "--video", str(clip), "--every", "5",
                     "--json", str(out), "--sheet", str(sheet), "--write-reference", str(ref)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["command"].startswith("edge-bench footage --model demo")
    (row,) = report["clips"]
    for key in ("video", "frames_total", "frame_size", "frames_evaluated", "people_visible",
                "people_found", "recall", "false_detections", "false_per_frame",
                "detections_per_frame", "mask_iou_mean", "mask_iou_median", "mask_iou_measure",
                "model", "precision", "backend", "score_threshold", "iou_threshold",
                "ms_per_frame", "reference", "per_frame", "sheet", "background"):
        assert key in row, key
    assert row["video"] == "street.avi" and row["frame_size"] == [SW, SH]
    assert row["frames_total"] == SFRAMES and row["frames_evaluated"] == 6
    assert [f["frame"] for f in row["per_frame"]] == [0, 5, 10, 15, 20, 25]
    assert row["model"] == "ssd-isb-multi-shape" and row["precision"] == "fp32"
    assert row["backend"] == "onnxruntime" and row["score_threshold"] == pytest.approx(0.3)
    assert row["iou_threshold"] == 0.3 and row["reference"]["source"] == "background-subtraction"
    found = sum(f["found"] for f in row["per_frame"])
    assert row["people_found"] == found > 0  # a wrong class index or score filter finds none
    assert row["people_visible"] == sum(f["reference"] for f in row["per_frame"]) > 0
    assert 0 < row["recall"] <= 1 and row["recall"] == pytest.approx(found / row["people_visible"])
    assert row["mask_iou_pairs"] > 0 and 0 < row["mask_iou_mean"] <= 1
    assert row["false_per_frame"] == pytest.approx(row["false_detections"] / 6)
    # the operating curve starts at the run's own threshold with the run's own figures
    first = row["operating_points"][0]
    assert first["score_threshold"] == pytest.approx(0.3)
    assert (first["recall"], first["false_per_frame"]) == (row["recall"], row["false_per_frame"])
    assert sum(g["count"] for g in row["persistent_false"]) <= row["false_detections"]
    assert math.isfinite(row["ms_per_frame"]["p50"])
    img = cv2.imread(str(sheet))
    assert img is not None and img.shape[0] > 100 and row["sheet"] == str(sheet)
    written = fe.load_reference(ref)
    assert written.source == "background-subtraction" and sorted(written.frames) == \
        [0, 5, 10, 15, 20, 25]
    # the reviewed reference drives the next run, its frames only
    rc = bench_main(["footage", "--model", "demo", "--video", str(clip), "--reference", str(ref),
                     "--max-frames", "2", "--json", str(out)])
    assert rc == 0
    (row,) = json.loads(out.read_text())["clips"]
    assert [f["frame"] for f in row["per_frame"]] == [0, 25]
    assert row["people_visible"] == len(written.frames[0]) + len(written.frames[25])


def test_cli_scores_the_demo_model_against_the_scenes_own_people(street, tmp_path: Path) -> None:
    """A hand reference of the street clip (its true person boxes, static camera): the
    demo model finds most of them and mask quality is measured."""
    clip, boxes = street
    frames = {i: boxes[i] for i in range(0, SFRAMES, 5)}
    ref = hand_reference(tmp_path, "street.avi", frames, "static")
    out = tmp_path / "f.json"
    rc = bench_main(["footage", "--model", "demo", "--video", str(clip), "--reference", str(ref),
                     "--json", str(out)])
    assert rc == 0
    (row,) = json.loads(out.read_text())["clips"]
    assert row["reference"]["source"] == "hand" and row["reference"]["camera"] == "static"
    assert [f["frame"] for f in row["per_frame"]] == sorted(frames)
    assert row["people_visible"] == sum(len(b) for b in frames.values()) >= 18
    assert row["people_found"] > 0 and 0.5 <= row["recall"] <= 1
    assert row["mask_iou_pairs"] > 0 and 0.1 < row["mask_iou_mean"] <= 1
    assert row["mask_iou_measure"] == fe.MASK_IOU_MEASURE


def test_cli_scores_a_still_image_against_a_hand_reference(street, tmp_path: Path,
                                                           capsys) -> None:
    """cv2 opens a .png as a one-frame clip: a hand reference works; background
    subtraction (median of one frame = the frame) is refused, and on a still said to be
    from a static camera mask quality is skipped with a warning, not scored 0."""
    _, boxes = street
    still = tmp_path / "street.png"
    assert cv2.imwrite(str(still), street_frames()[0][0])
    out = tmp_path / "f.json"
    moving = hand_reference(tmp_path, "street.png", {0: boxes[0]}, "moving", "moving.json")
    rc = bench_main(["footage", "--model", "demo", "--video", str(still), "--reference",
                     str(moving), "--json", str(out), "--sheet", str(tmp_path / "s.jpg")])
    assert rc == 0
    (row,) = json.loads(out.read_text())["clips"]
    assert row["frames_total"] == 1 and row["frames_evaluated"] == 1
    assert row["people_visible"] == len(boxes[0]) and row["people_found"] > 0
    assert 0 < row["recall"] <= 1
    assert row["mask_iou_pairs"] == 0 and row["mask_iou_measure"].startswith("not measured")
    capsys.readouterr()

    static = hand_reference(tmp_path, "street.png", {0: boxes[0]}, "static", "static.json")
    rc = bench_main(["footage", "--model", "demo", "--video", str(still), "--reference",
                     str(static), "--json", str(out)])
    err = capsys.readouterr().err
    assert rc == 0
    (row,) = json.loads(out.read_text())["clips"]
    assert row["people_found"] > 0
    assert row["mask_iou_pairs"] == 0 and row["mask_iou_mean"] is None  # not 0 per match
    assert "not measured" in row["mask_iou_measure"] and "frame" in row["mask_iou_measure"]
    warning = [line for line in err.splitlines() if line.startswith("WARNING")
               and "street.png" in line and "mask" in line]
    assert warning, err

    rc, err = run_cli(["--model", "demo", "--video", str(still)], capsys)
    assert rc == 2 and "street.png" in err and "give a hand --reference" in err
    assert "\n" not in err
    rc, err = run_cli(["--video", str(still), "--write-reference", str(tmp_path / "w.json")],
                      capsys)
    assert rc == 2 and "give a hand --reference" in err and not (tmp_path / "w.json").exists()


def test_background_subtraction_refuses_fewer_than_three_distinct_frames(tmp_path: Path
                                                                         ) -> None:
    frames = synthetic_frames()
    for few in ([frames[0]], frames[:2], [frames[0]] * 5, [frames[0], frames[1]] * 4):
        with pytest.raises(ConfigError, match="give a hand --reference") as err:
            fe.background_people(few)
        assert "\n" not in str(err.value)
    assert len(fe.background_people(frames[:3]).boxes) == 3
    short = tmp_path / "short.avi"
    writer = cv2.VideoWriter(str(short), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for f in frames[:2]:
        writer.write(f)
    writer.release()
    with pytest.raises(ConfigError, match=r"short\.avi: .*give a hand --reference"):
        fe.background_reference(short, every=1)


def test_a_container_overstating_its_length_does_not_break_the_schedule(
        clip: Path, monkeypatch, caplog) -> None:
    """Some MKV/WebM/VFR files report more frames than they decode: the schedule follows
    the frames decoded, not the container's count."""
    real = fe.video_info(clip)
    assert real.frames == FRAMES
    monkeypatch.setattr(fe, "video_info", lambda v: fe.VideoInfo(real.path, 3 * FRAMES,
                                                                 real.hw, real.fps))
    ref, people = fe.background_reference(clip, every=10)
    assert sorted(ref.frames) == [0, 10, 20] and people.frames_total == FRAMES
    ref, _ = fe.background_reference(clip, every=5, max_frames=3)
    assert sorted(ref.frames) == fe.schedule(FRAMES, 5, 3) == [0, 10, 25]
    assert any("90" in r.getMessage() and "30" in r.getMessage() for r in caplog.records
               if r.levelname == "WARNING")
    # frames asked for beyond the decoded end are dropped with a warning, not blamed on you
    caplog.clear()
    people = fe.background_people(clip, [0, 29, 40, 50])
    assert sorted(people.boxes) == [0, 29]
    assert any("40" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    rc = bench_main(["footage", *args])
    return rc, capsys.readouterr().err.strip()


def test_cli_refusals_are_one_line_with_exit_2(clip: Path, tmp_path: Path, capsys) -> None:
    rc, err = run_cli(["--model", "demo", "--video", str(tmp_path / "none.avi")], capsys)
    assert rc == 2 and "no such video file" in err and "\n" not in err
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 10)
    rc, err = run_cli(["--model", "demo", "--video", str(junk)], capsys)
    assert rc == 2 and "junk.avi" in err and "\n" not in err
    other = write(tmp_path, {**GOOD, "video": "other.avi"}, "other.json")
    rc, err = run_cli(["--model", "demo", "--video", str(clip), "--reference", str(other)], capsys)
    assert rc == 2 and "'other.avi'" in err and "\n" not in err
    beyond = write(tmp_path, {**GOOD, "frames": {"300": []}}, "beyond.json")
    rc, err = run_cli(["--model", "demo", "--video", str(clip), "--reference", str(beyond)],
                      capsys)
    assert rc == 2 and "300 beyond walkers.avi's 30 frames" in err and "\n" not in err
    for bad in (["--every", "0"], ["--iou", "0"], ["--score", "1.5"], ["--max-frames", "0"]):
        rc, err = run_cli(["--model", "demo", "--video", str(clip), *bad], capsys)
        assert rc == 2 and bad[0] in err and "\n" not in err
    rc, err = run_cli(["--video", str(clip)], capsys)
    assert rc == 2 and "--model is required" in err


@pytest.mark.parametrize("option", ["--write-reference", "--json", "--sheet"])
def test_cli_refuses_to_overwrite_a_reference(clip: Path, tmp_path: Path, capsys,
                                              option: str) -> None:
    ref = write(tmp_path, GOOD)
    before = ref.read_bytes()
    rc, err = run_cli(["--model", "demo", "--video", str(clip), "--reference", str(ref),
                       option, str(ref)], capsys)
    assert rc == 2 and str(ref) in err and option in err and "--reference" in err
    assert "\n" not in err and ref.read_bytes() == before


def test_cli_refuses_two_clips_of_one_name_with_a_reference(clip: Path, tmp_path: Path,
                                                            capsys) -> None:
    twin = tmp_path / "elsewhere" / "walkers.avi"
    twin.parent.mkdir()
    twin.write_bytes(clip.read_bytes())
    ref = write(tmp_path, GOOD)
    rc, err = run_cli(["--model", "demo", "--video", str(clip), "--video", str(twin),
                       "--reference", str(ref)], capsys)
    assert rc == 2 and "'walkers.avi'" in err and str(twin) in err and str(clip) in err
    assert str(ref) in err and "\n" not in err


def test_operating_points_rematch_per_threshold_by_hand() -> None:
    """Two frames, one person each; a true box at 0.9 and 0.4, a false one at 0.5 and 0.35:
    recall and false/frame at each threshold counted by hand."""
    ref = {0: [(0.0, 0.0, 10.0, 20.0)], 10: [(50.0, 50.0, 60.0, 70.0)]}
    records = [
        {"frame": 0, "boxes": [[0, 0, 10, 20], [100, 100, 110, 120]], "scores": [0.9, 0.5]},
        {"frame": 10, "boxes": [[51, 50, 61, 70], [200, 0, 210, 20]], "scores": [0.4, 0.35]},
    ]
    pts = fe.operating_points(records, ref, [0.3, 0.45, 0.6, 0.95], 0.3, run_threshold=0.3)
    got = [(p["score_threshold"], p["recall"], p["false_per_frame"]) for p in pts]
    assert got == [(0.3, 1.0, 1.0), (0.45, 0.5, 0.5), (0.6, 0.5, 0.0), (0.95, 0.0, 0.0)]
    with pytest.raises(ConfigError, match="below the run's 0.3"):
        fe.operating_points(records, ref, [0.2], 0.3, run_threshold=0.3)
    assert fe.threshold_grid(0.3, top=0.5) == [0.3, 0.35, 0.4, 0.45, 0.5]


def test_persistent_false_groups_the_same_place_across_frames() -> None:
    """A post that fires in 3 of 4 frames is one group of 3; a stray box elsewhere is its
    own group; a matched person is in none."""
    ref = {i: [(0.0, 0.0, 10.0, 20.0)] for i in range(4)}
    post = [100, 100, 110, 130]
    records = [{"frame": i, "boxes": [[0, 0, 10, 20]] + ([[post[0] + i, *post[1:]]] if i < 3
                                                          else [[300, 0, 310, 30]]),
                "scores": [0.9, 0.4 + 0.1 * i]} for i in range(4)]
    groups = fe.persistent_false(records, ref, 0.3)
    assert [(g["count"], g["frames"]) for g in groups] == [(3, [0, 1, 2]), (1, [3])]
    assert groups[0]["share_of_frames"] == 0.75
    assert groups[0]["mean_score"] == pytest.approx(0.5)
    assert groups[0]["box"] == [100.0, 100.0, 110.0, 130.0]
