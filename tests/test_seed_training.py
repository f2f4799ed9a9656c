"""Training plumbing of the seed systems: mirroring that swaps left/right part ids and joints
(seed 001's reader did not), class weights from the dataset's histogram, option refusals,
and an ICNet whose three-branch loss falls."""

from __future__ import annotations

import numpy as np
import pytest

from edge import catalog
from edge.data.augment import AugmentConfig, fit_semantic
from edge.data.parts import JOINT_SWAP, SWAP_LR, render_person, write_parts_dataset
from edge.data.samples import SemanticSample
from edge.data.semantic import label_folder

FLIP = AugmentConfig(zoom=(1.0, 1.0), flip=1.0, brightness=0.0, contrast=(1.0, 1.0),
                     saturation=(1.0, 1.0), hue=0.0)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts") / "train"
    write_parts_dataset(root, 12, (128, 128), seed=5, progress=False)
    return label_folder(root)


def test_a_mirror_swaps_left_and_right_ids_and_joints() -> None:
    img, lab, joints, _ = render_person(np.random.default_rng(0), size=(128, 128),
                                        facing="front")
    reader_lut = np.arange(256, dtype=np.uint8)
    reader_lut[:25] = SWAP_LR
    out = fit_semantic(SemanticSample(img, lab, "x", joints), (128, 128),
                       np.random.default_rng(1), FLIP, reader_lut, np.asarray(JOINT_SWAP))
    assert np.array_equal(out.labels, reader_lut[lab[:, ::-1]])
    # the person's left shoulder (16) now sits where the right one (17) was, mirrored
    assert out.joints[16, 0] == pytest.approx(127 - joints[17, 0], abs=1e-4)
    assert out.joints[16, 1] == pytest.approx(joints[17, 1], abs=1e-4)
    # without the swap (seed 001's reader): flipped, ids unchanged
    plain = fit_semantic(SemanticSample(img, lab, "x", joints), (128, 128),
                         np.random.default_rng(1), FLIP)
    assert np.array_equal(plain.labels, lab[:, ::-1])


def test_the_training_batches_swap_unless_told_not_to(parts) -> None:
    from edge.train.data import SemanticBatches

    desc = catalog.describe("segnet-basic", input_size=(64, 64))
    assert parts.swap_lr is not None and parts.joint_swap is not None
    swapped = SemanticBatches(parts, desc, True, cfg=FLIP)
    kept = SemanticBatches(parts, desc, True, cfg=FLIP, swap=False)
    a, b = swapped[0]["labels"], kept[0]["labels"]
    lut = np.arange(256)
    lut[:25] = SWAP_LR
    assert np.array_equal(a, lut[b]) and not np.array_equal(a, b)
    assert swapped[0]["joints"].shape == (24, 3)


def test_class_weights_come_from_the_histogram_or_the_labels(parts) -> None:
    from edge.train.trainer import make_config, semantic_class_weights

    desc = catalog.describe("icnet", input_size=(128, 128))
    cfg = make_config(class_weights="w2")
    from_hist = semantic_class_weights(parts, desc, cfg)
    parts_no_hist = label_folder(parts.source)
    parts_no_hist.histogram = None  # an old label folder: counted from its maps
    counted = semantic_class_weights(parts_no_hist, desc, cfg)
    assert np.allclose(from_hist, counted, rtol=1e-5)
    assert from_hist[0] == from_hist.min()  # background, the most frequent, weighs least
    assert semantic_class_weights(parts, desc, make_config()) is None


@pytest.mark.parametrize("argv, message", [
    (["--model", "icnet", "--progressive"], "--progressive gives each hourglass stack"),
    (["--model", "segnet", "--stacks", "2"], "--stacks applies to the hourglass models"),
    (["--model", "hourglass", "--filter-scale", "2"], "--filter-scale applies to ICNet and "
                                                      "SegNet-Basic"),
    (["--model", "icnet", "--alpha", "0.5"], "icnet has none: drop --alpha"),
    (["--model", "icnet", "--eval-every", "5"], "--eval-every needs a validation set"),
    (["--model", "ssd-isb-multi-shape", "--class-weights", "w1"], "--class-weights is for "
                                                                   "semantic models"),
])
def test_seed_options_are_refused_where_they_do_not_apply(parts, tmp_path, capsys, argv,
                                                          message) -> None:
    from edge.cli import build as build_cli

    data = parts.source
    if "ssd-isb" in argv[1]:
        data = str(tmp_path / "none")
    rc = build_cli.main(["train", *argv, "--data", data, "--out", str(tmp_path / "o"),
                         "--steps", "1", "--batch-size", "2", "--input-size", "128", "128"])
    err = capsys.readouterr().err
    assert rc == 2 and message in err, err


def test_icnet_learns_the_parts_with_its_three_branch_loss(parts, tmp_path) -> None:
    from edge.train.trainer import make_config, train

    desc = catalog.describe("icnet", input_size=(128, 128))
    cfg = make_config(steps=24, batch_size=4, lr=3e-3, warmup=2, seed=0, augment=False,
                      log_every=4)
    summary = train(desc, parts, tmp_path / "icnet", cfg, progress=False)
    assert summary["loss_last"] < 0.7 * summary["loss_first"]
