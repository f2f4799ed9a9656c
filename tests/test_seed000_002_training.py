"""Training pieces of seeds 000 and 002: ground-truth RoIs and ground-truth masking, the
poly schedule, head-only fine-tuning, the RoI proposer's suppression and the FP16 export
of the RoI-masked graph."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge import catalog  # noqa: E402
from edge.errors import ConfigError  # noqa: E402
from edge.models.zoo import build_model  # noqa: E402
from edge.train.trainer import _RoIStep, _trainable, lr_factor, make_config  # noqa: E402


def _step(**cfg) -> _RoIStep:
    desc = catalog.describe("roimask", alpha=0.25, input_size=(32, 32), roi_boxes=2,
                            class_names=("background", "a", "b"), detector_classes=("p", "q"))
    return _RoIStep(desc, make_config(**cfg), None)


BOXES = np.array([[0, 0, 8, 8, 1], [10, 10, 30, 30, 0], [16, 0, 24, 6, 1]], np.float32)


def test_gt_rois_keep_the_largest_boxes_one_hot_and_padded() -> None:
    rois, scores, probs = _step().gt_rois([{"boxes": BOXES}, {"boxes": BOXES[:0]}])
    np.testing.assert_array_equal(rois[0], [[10, 10, 30, 30], [0, 0, 8, 8]])  # by area
    np.testing.assert_array_equal(scores, [[1, 1], [0, 0]])
    # detector class c is probability column c + 1; padding is all background
    np.testing.assert_array_equal(probs[0], [[0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(probs[1], [[1, 0, 0], [1, 0, 0]])


def test_ground_truth_masking_backgrounds_outside_and_ignores_left_out_objects() -> None:
    step = _step()
    labels = torch.full((1, 32, 32), 2, dtype=torch.int64)
    labels[0, 31, 31] = 255
    used = torch.zeros(1, 1, 32, 32)
    used[..., 10:30, 10:30] = 1
    used[..., 0:8, 0:8] = 1
    out = step.mask_labels(labels, used, [{"boxes": BOXES}])[0]
    assert out[20, 20] == 2 and out[2, 2] == 2  # inside the RoIs: kept
    assert out[3, 20] == 255  # the third object, left out of the 2 RoIs: ignored
    assert out[31, 0] == 0  # outside every box: background
    assert out[31, 31] == 255  # ignore stays ignore
    off = _step(gt_masking=False).mask_labels(labels, used, [{"boxes": BOXES}])
    assert torch.equal(off, labels)


def test_predicted_rois_mask_with_the_mask_used() -> None:
    step = _step(roi_source="pred")
    labels = torch.ones((1, 32, 32), dtype=torch.int64)
    used = torch.zeros(1, 1, 32, 32)
    used[..., :16, :] = 1
    out = step.mask_labels(labels, used, [{"boxes": BOXES}])[0]
    assert (out[:16] == 1).all() and (out[16:] == 0).all()


def test_poly_schedule_is_deeplabs() -> None:
    cfg = make_config("seed002-finetune", steps=10)
    assert cfg.lr == 1e-4 and cfg.finetune == "head" and cfg.optimizer == "sgd"
    assert lr_factor(cfg, 0) == 1.0
    assert lr_factor(cfg, 5) == pytest.approx(0.5 ** 0.9)
    assert lr_factor(cfg, 10) == 0.0


def test_head_only_fine_tuning_trains_fc6_to_fc8_only() -> None:
    desc = catalog.describe("deeplab-largefov-mobilenet", alpha=0.25, input_size=(64, 64),
                            fc_width=16)
    model = build_model(desc)
    params = _trainable(model, desc, make_config(finetune="head"))
    heads = {id(p) for m in model.head_modules() for p in m.parameters()}
    assert {id(p) for p in params} == heads
    assert all(p.requires_grad == (id(p) in heads) for p in model.parameters())
    icnet = catalog.describe("icnet", input_size=(128, 128))
    with pytest.raises(ConfigError, match="head"):
        _trainable(build_model(icnet), icnet, make_config(finetune="head"))


def test_proposer_suppresses_duplicates_so_a_second_object_gets_rois() -> None:
    """Many confident anchors on object A and fewer, less confident ones on B: without
    suppression every slot would go to A's duplicates."""
    from edge.models.roimask import propose_rois

    anchors = torch.tensor([[0, 0, 10, 10]] * 8 + [[20, 20, 30, 30]] * 2 + [[40, 40, 50, 50]] * 6,
                           dtype=torch.float32)
    codes = torch.zeros(1, len(anchors), 4)
    logits = torch.zeros(1, len(anchors), 2)
    logits[0, :8, 1] = torch.linspace(9, 8, 8)  # A: very confident, 8 duplicates
    logits[0, 8:10, 1] = 3.0  # B: confident enough (p ~ 0.95)
    logits[0, 10:, 1] = -5.0  # C: background
    rois, scores, _ = propose_rois(codes, logits, anchors, (10, 10, 5, 5), 3, (64, 64))
    kept = rois[0][scores[0] > 0.3]
    assert len(kept) == 2
    assert {tuple(r.tolist()) for r in kept} == {(0, 0, 10, 10), (20, 20, 30, 30)}


def test_roimask_fp16_export_loads_and_agrees(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxconverter_common")
    from edge.export.onnx_export import export_onnx

    torch.manual_seed(0)
    desc = catalog.describe("roimask", alpha=0.25, input_size=(64, 64))
    model = build_model(desc).eval()
    export_onnx(desc, model, tmp_path, fp16=True)
    x = np.random.default_rng(0).normal(size=(1, 3, 64, 64)).astype(np.float32)
    ref = model(torch.from_numpy(x)).detach().numpy()
    sess = ort.InferenceSession(str(tmp_path / "model.fp16.onnx"),
                                providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x})[0]
    assert got.shape == ref.shape
    # FP16 logits: the argmax agrees almost everywhere (ties of near-equal scores aside)
    assert (got.argmax(1) == ref.argmax(1)).mean() > 0.98


def test_cmaps_are_summed_as_they_are_only_when_the_classes_coincide() -> None:
    """Seed 000's VOC setting (detector classes = segmentation classes after background):
    the plain "+ CMap" sum; a person detector under garment classes: a 1x1 projection."""
    from edge.description import VOC_CLASSES

    voc = catalog.describe("roimask", alpha=0.25, input_size=(64, 64), class_names=VOC_CLASSES,
                           detector_classes=VOC_CLASSES[1:])
    model = build_model(voc).eval()
    assert model.cmap_proj is None
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, len(VOC_CLASSES), 64, 64)
    shuffled = catalog.describe("roimask", alpha=0.25, input_size=(64, 64),
                                class_names=VOC_CLASSES,
                                detector_classes=tuple(reversed(VOC_CLASSES[1:])))
    assert build_model(shuffled).cmap_proj is not None
