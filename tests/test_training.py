"""Augmentation, targets, losses, a training smoke test, checkpoints and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("cv2")
pytest.importorskip("pycocotools")

from edge import catalog  # noqa: E402
from edge.data.augment import fit_instances  # noqa: E402
from edge.data.samples import InstanceSample  # noqa: E402
from edge.data.sources import open_instances, open_semantic  # noqa: E402
from edge.data.synth import write_dataset  # noqa: E402
from edge.geometry import BoxCoder  # noqa: E402
from edge.train.checkpoint import load_model, read_description  # noqa: E402
from edge.train.losses import mask_loss, ssd_loss  # noqa: E402
from edge.train.targets import IGNORE, mask_jobs, match_anchors, ssd_targets  # noqa: E402
from edge.train.trainer import lr_factor, make_config, train  # noqa: E402


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_dataset(str(root), 16, (128, 128), seed=11, workers=1, progress=False)
    return root


def sample_with_box() -> InstanceSample:
    img = np.zeros((40, 80, 3), np.uint8)
    m = np.zeros((1, 40, 80), bool)
    m[0, 10:30, 5:25] = True
    return InstanceSample(img, np.array([[5, 10, 25, 30]], np.float32), np.array([0]), m,
                          np.array([False]), 1)


def test_stretch_scales_boxes_and_flip_mirrors_them() -> None:
    s = sample_with_box()
    out = fit_instances(s, (80, 160))
    np.testing.assert_allclose(out.boxes, [[10, 20, 50, 60]])
    flips = [fit_instances(s, (40, 80), np.random.default_rng(i)) for i in range(20)]
    kept = [f for f in flips if len(f)]
    assert any(f.boxes[0, 0] > 40 for f in kept)  # some mirrored to the right half
    assert any(f.boxes[0, 2] < 40 for f in kept)  # and some not
    again = fit_instances(s, (40, 80), np.random.default_rng(3))  # same seed, same warp
    np.testing.assert_array_equal(again.image, flips[3].image)
    np.testing.assert_array_equal(again.boxes, flips[3].boxes)
    for f in flips:  # boxes stay tight to their masks whatever the warp
        for m, b in zip(f.masks, f.boxes):
            ys, xs = np.nonzero(m)
            np.testing.assert_allclose(b, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])


def test_matching_thresholds_and_forced_matches() -> None:
    anchors = np.array([[0, 0, 10, 10], [0, 0, 20, 20], [50, 50, 60, 60]], np.float32)
    boxes = np.array([[0, 0, 11, 11], [55, 55, 80, 80], [200, 200, 210, 210]], np.float32)
    m = match_anchors(anchors, boxes)
    assert m[0] == 0  # IoU 0.83
    assert m[1] == -1  # IoU 0.30 with box 0
    assert m[2] == 1  # IoU 0.04: below the threshold, but box 1's best anchor
    assert 2 not in m  # a box touching no anchor matches none


def test_ssd_targets_ignore_crowd_and_encode_positives() -> None:
    anchors = np.array([[0, 0, 10, 10], [30, 30, 40, 40], [70, 70, 80, 80]], np.float32)
    boxes = np.array([[1, 1, 11, 11]], np.float32)
    crowd = np.array([[28, 28, 45, 45]], np.float32)
    codes, labels = ssd_targets(anchors, boxes, np.array([0]), crowd, BoxCoder())
    assert labels.tolist() == [1, IGNORE, 0]
    np.testing.assert_allclose(BoxCoder().decode(codes[:1], anchors[:1]), boxes, atol=1e-4)
    assert (codes[1:] == 0).all()


def test_mask_jobs_follow_assignment_and_cap() -> None:
    desc = catalog.describe("ssd-isb-multi-shape", input_size=(128, 128), max_boxes=2)
    boxes = np.array([[0, 0, 30, 30], [32, 32, 60, 60], [64, 64, 90, 90], [0, 64, 128, 128]],
                     np.float32)
    masks = np.zeros((4, 128, 128), bool)
    for m, (x0, y0, x1, y1) in zip(masks, boxes.astype(int)):
        m[y0:y1, x0:x1] = True
    jobs = mask_jobs(desc, 0, boxes, np.zeros(4, np.int64), masks, np.random.default_rng(0))
    names = [b.name for b in desc.branches]
    one = jobs[names.index("1x1r")]
    assert one is not None and len(one.cells) == 2  # three 1x1 boxes, capped at two
    two = jobs[names.index("2x2r")]
    assert two is not None and two.targets.shape == (1, 8, 8)
    assert two.targets.min() >= 0 and two.targets.max() == 1.0


def test_hard_negative_mining_counts() -> None:
    labels = torch.tensor([[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, IGNORE]])
    logits = torch.zeros(1, 13, 2)
    logits[0, :, 1] = torch.arange(13, dtype=torch.float32)  # later negatives are harder
    codes = torch.zeros(1, 13, 4)
    loc, cls = ssd_loss(codes, logits, codes, labels, neg_ratio=3.0)
    assert float(loc) == 0.0
    ce = torch.nn.functional.cross_entropy(logits[0], labels[0].clamp(min=0), reduction="none")
    hardest = ce[1:12].sort(descending=True).values[:8]  # 3 per positive, at least 8
    expected = (ce[0] + hardest.sum()) / 1
    assert torch.allclose(cls, expected)


def test_mask_loss_picks_the_class_channel() -> None:
    logits = torch.zeros(2, 3, 4, 4)
    logits[0, 2] = 100.0
    targets = torch.ones(2, 4, 4)
    loss = mask_loss(logits, torch.tensor([2, 0]), targets)
    assert abs(float(loss) - np.log(2) / 2) < 1e-6


def test_schedules() -> None:
    thesis = make_config("thesis-instance")
    assert thesis.optimizer == "rmsprop" and thesis.lr == 4e-5
    assert lr_factor(thesis, 9_999) == 1.0 and lr_factor(thesis, 20_000) == 0.75**2
    cos = make_config(steps=100, warmup=10)
    assert lr_factor(cos, 0) == pytest.approx(0.1) and lr_factor(cos, 99) < 0.05


def test_instance_training_loss_falls_and_resumes(tiny_synth, tmp_path) -> None:
    reader = open_instances(tiny_synth, ["person"])
    desc = catalog.describe("ssd-isb-multi-shape", alpha=0.25, input_size=(128, 128))
    cfg = make_config(steps=30, batch_size=4, lr=3e-3, warmup=3, log_every=5,
                      checkpoint_every=15, seed=1)
    summary = train(desc, reader, tmp_path / "run", cfg, progress=False)
    assert summary["loss_last"] < 0.8 * summary["loss_first"]
    assert read_description(tmp_path / "run/last.pt") == desc
    loaded_desc, model, step = load_model(tmp_path / "run/last.pt")
    assert loaded_desc == desc and step == 30
    npz_desc, npz_model, _ = load_model(tmp_path / "run/weights.npz")
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        a, b = model(x)[1], npz_model(x)[1]
    assert torch.allclose(a, b, atol=0.05)  # float16 weights
    log = [json.loads(line) for line in (tmp_path / "run/train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [5, 10, 15, 20, 25, 30]
    longer = make_config(steps=35, batch_size=4, lr=3e-3, warmup=3, log_every=5, seed=1)
    train(desc, reader, tmp_path / "run", longer, resume=tmp_path / "run/last.pt",
          progress=False)
    assert load_model(tmp_path / "run/last.pt")[2] == 35


def test_semantic_training_loss_falls(tiny_synth, tmp_path) -> None:
    reader = open_semantic(tiny_synth)
    desc = catalog.describe("mobilenet-fcn8", alpha=0.25, input_size=(64, 64),
                            class_names=reader.class_names)
    cfg = make_config(steps=25, batch_size=4, lr=5e-3, warmup=2, seed=0)
    summary = train(desc, reader, tmp_path / "sem", cfg, progress=False)
    assert summary["loss_last"] < 0.8 * summary["loss_first"]


def test_training_is_reproducible(tiny_synth, tmp_path) -> None:
    reader = open_instances(tiny_synth)
    desc = catalog.describe("ssd-isb-single-branch", alpha=0.25, input_size=(64, 64))
    cfg = make_config(steps=4, batch_size=2, seed=5, warmup=1)
    a = train(desc, reader, tmp_path / "a", cfg, progress=False)
    b = train(desc, reader, tmp_path / "b", cfg, progress=False)
    c = train(desc, reader, tmp_path / "c", make_config(steps=4, batch_size=2, seed=6, warmup=1),
              progress=False)
    assert a["loss_last"] == b["loss_last"] and a["loss_first"] == b["loss_first"]
    wa, wb, wc = (load_model(tmp_path / d / "last.pt")[1].state_dict() for d in "abc")
    assert wa.keys() == wb.keys() == wc.keys()
    for k in wa:  # equal seeds: bit-identical weights
        assert torch.equal(wa[k], wb[k]), k
    # another seed: other initial weights and batches, so other weights and losses
    assert any(wa[k].is_floating_point() and not torch.equal(wa[k], wc[k]) for k in wa)
    assert (a["loss_first"], a["loss_last"]) != (c["loss_first"], c["loss_last"])


def test_distributed_training_under_torchrun(tiny_synth, tmp_path) -> None:
    """Two CPU processes with Gloo: the DDP path trains, and only rank 0 writes."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
         "--master-port", "29517", "-m", "edge.cli.build", "train",
         "--model", "ssd-isb-multi-shape", "--alpha", "0.25", "--input-size", "64", "64",
         "--data", str(tiny_synth), "--out", str(out), "--steps", "3", "--batch-size", "2",
         "--threads", "1", "--json"],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert load_model(out / "last.pt")[2] == 3
    assert (out / "weights.npz").is_file()


def test_init_from_weights_on_disk(tmp_path) -> None:
    """--init: our files, plain state dicts and torchvision SqueezeNet 1.1 names."""
    from edge.models.zoo import create
    from edge.train.checkpoint import _SQUEEZE_FIRES, load_pretrained

    torch.manual_seed(0)
    _, source = create("squeezenet-fcn8s", input_size=(64, 64))
    _, target = create("squeezenet-fcn8s", input_size=(64, 64))
    # a torchvision-style state dict: features.N.* names and a 1000-class classifier
    tv = {}
    back = {v: k for k, v in _SQUEEZE_FIRES.items()}
    for name, t in source.state_dict().items():
        if name.startswith("backbone.conv1.0."):
            tv["features.0." + name.split("backbone.conv1.0.")[1]] = t
        elif name.startswith("backbone.stages."):
            stage, fire, rest = name.split(".", 4)[2], name.split(".", 4)[3], name.split(".", 4)[4]
            tv[f"features.{back[f'{stage}.{fire}']}.{rest}"] = t
    tv["classifier.1.weight"] = torch.zeros(1000, 512, 1, 1)
    torch.save({"state_dict": tv}, tmp_path / "squeezenet1_1.pth")
    copied = load_pretrained(target, tmp_path / "squeezenet1_1.pth")
    assert copied == len(tv) - 1  # everything but the classifier
    for name, t in target.backbone.state_dict().items():
        assert torch.equal(t, source.backbone.state_dict()[name])
    from edge.errors import ModelFileError

    torch.save({"unrelated.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="no tensor matches"):
        load_pretrained(target, tmp_path / "other.pt")


def test_init_matching_few_tensors_is_refused_with_the_count(tmp_path) -> None:
    """A file that fills almost none of the backbone would train from scratch in
    disguise: it is refused, naming how much matched, and the model is left untouched."""
    from edge.errors import ModelFileError
    from edge.models.zoo import create
    from edge.train.checkpoint import load_pretrained

    _, target = create("squeezenet-fcn8s", input_size=(64, 64))
    own = target.state_dict()
    first = next(iter(own))
    few = {first: own[first].clone() + 1, **{f"other.{i}": torch.zeros(2) for i in range(9)}}
    torch.save(few, tmp_path / "mostly-other.pt")
    with pytest.raises(ModelFileError, match=r"mostly-other\.pt.*1 of the 50"):
        load_pretrained(target, tmp_path / "mostly-other.pt")
    assert torch.equal(target.state_dict()[first], own[first])
