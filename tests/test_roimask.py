"""Seed 000's RoI-masked segmentation (edge.models.roimask): shapes in the three RoI
modes, crop-and-paste geometry (and crop == dense masking for a full-image RoI), the
background margin outside the RoIs, masks as fixed inputs (no segmentation gradient into
the SSD heads), and export to TensorRT-parseable ONNX that ONNX Runtime reproduces."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from edge.description import FASHION_CLASSES, ModelDescription  # noqa: E402
from edge.errors import ConfigError  # noqa: E402
from edge.geometry import ssd_anchors  # noqa: E402
from edge.models.roimask import (  # noqa: E402
    RoIMaskedSegmenter,
    inside_boxes,
    paste_crops,
    sample_crops,
)
from tests.torch_helpers import randomise_bn  # noqa: E402

SMALL = (64, 64)
K = len(FASHION_CLASSES)


def make_desc(mode: str = "mask", size: tuple[int, int] = SMALL, **kw) -> ModelDescription:
    return ModelDescription(name="roimask", task="semantic", backbone="mobilenet_v1",
                            architecture="roimask", input_size=size, class_names=FASHION_CLASSES,
                            alpha=0.25, output_stride=1, detector_classes=("person",),
                            roi_mode=mode, **kw)


def make_model(mode: str = "mask", size: tuple[int, int] = SMALL, **kw) -> RoIMaskedSegmenter:
    torch.manual_seed(0)
    return RoIMaskedSegmenter(make_desc(mode, size, **kw))


def gt_rois(boxes: list[list[list[float]]], n: int) -> tuple[torch.Tensor, ...]:
    """Per image boxes -> (B, n, 4), scores 1/0 (padding), one-hot person probs."""
    b = len(boxes)
    rois = torch.zeros(b, n, 4)
    scores = torch.zeros(b, n)
    probs = torch.zeros(b, n, 2)
    probs[..., 0] = 1
    for i, bx in enumerate(boxes):
        if not bx:
            continue
        rois[i, :len(bx)] = torch.tensor(bx)
        scores[i, :len(bx)] = 1
        probs[i, :len(bx)] = torch.tensor([0.0, 1.0])
    return rois, scores, probs


@pytest.mark.parametrize("mode", ["mask", "crop", "none"])
def test_shapes_in_every_roi_mode(mode: str) -> None:
    model = make_model(mode, roi_boxes=3, roi_crop=2).eval()
    x = torch.randn(2, 3, *SMALL)
    with torch.no_grad():
        out = model.forward_train(x)
        logits = model(x)
    a = len(ssd_anchors(model.desc.anchors, SMALL))
    assert tuple(logits.shape) == (2, K, *SMALL)
    assert set(out) == {"outputs", "joints", "codes", "class_logits", "roi_mask"}
    assert out["joints"] is None and len(out["outputs"]) == 1 and out["outputs"][0][1] == 1.0
    torch.testing.assert_close(out["outputs"][0][0], logits, rtol=0, atol=0)
    assert tuple(out["codes"].shape) == (2, a, 4)
    assert tuple(out["class_logits"].shape) == (2, a, 2)
    mask = out["roi_mask"]
    assert tuple(mask.shape) == (2, 1, *SMALL)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    if mode == "none":
        assert bool((mask == 1).all())
    # the single backbone pass gives exactly the SSD's own outputs
    codes, cls, _ = model.detector(x)
    torch.testing.assert_close(out["codes"], codes, rtol=0, atol=0)
    torch.testing.assert_close(out["class_logits"], cls, rtol=0, atol=0)


def test_refuses_wrong_sizes_and_output_stride() -> None:
    with pytest.raises(ValueError, match="64x64"):
        make_model()(torch.zeros(1, 3, 96, 96))
    with pytest.raises(ConfigError, match="output_stride 1"):
        RoIMaskedSegmenter(make_desc().replace(output_stride=8))


def test_sample_and_paste_are_exact_on_grid_aligned_boxes() -> None:
    g = torch.Generator().manual_seed(2)
    dense = torch.randn(2, 3, 32, 48, generator=g)  # a stride-1 map of a 32x48 image
    rois = torch.tensor([[[8.0, 16.0, 40.0, 32.0], [0.0, 0.0, 16.0, 16.0]],
                         [[16.0, 8.0, 32.0, 24.0], [0.0, 0.0, 1.0, 1.0]]])
    crops = sample_crops(dense, rois[:, :1], 16, 1)  # (B*1, C, 16, 16)
    # 32 px wide over 16 samples: centres at x = 9, 11, ..., 39
    torch.testing.assert_close(crops[0], dense[0, :, 16:32, 9:40:2], rtol=0, atol=0)
    torch.testing.assert_close(crops[1], dense[1, :, 8:24, 16:32], rtol=0, atol=0)
    # coarser level: 1/8 cells of the same boxes (box 1 of image 1 is 2x2 cells)
    coarse = torch.randn(2, 3, 4, 6, generator=g)
    torch.testing.assert_close(sample_crops(coarse, rois[:, :1], 2, 8)[1],
                               coarse[1, :, 1:3, 2:4], rtol=0, atol=0)
    # paste: each aligned crop lands back where it came from, max where RoIs overlap,
    # -1e4 where no RoI covers the pixel (the model multiplies by the union mask there)
    exact = rois.clone()
    exact[0, 0] = torch.tensor([8.0, 16.0, 24.0, 32.0])  # 16x16 so the crop is 1:1
    crops = sample_crops(dense, exact, 16, 1)  # (4, C, 16, 16)
    scores = torch.tensor([[1.0, 1.0], [1.0, 0.0]])  # image 1's second RoI is off
    inside = inside_boxes(exact, scores, (32, 48), 1, 0.5)
    pasted = paste_crops(crops, exact, inside, (32, 48))
    covered = inside.amax(1, keepdim=True).bool().expand_as(dense)
    torch.testing.assert_close(pasted[covered], dense[covered], rtol=0, atol=0)
    assert bool((pasted[~covered] == -1e4).all())
    assert int(covered[1, 0].sum()) == 16 * 16


def test_crop_mode_equals_dense_masking_for_a_full_image_roi() -> None:
    """One RoI over the whole image with ``roi_crop`` = the 1/8 grid: the crop is the
    image, nearest sampling is the identity, so crop == mask mode (same weights). A second,
    zero-score RoI must not leak into the paste; the batch checks the crop offsets."""
    size = (64, 64)
    mask_model = make_model("mask", size, roi_boxes=2, roi_crop=8)
    randomise_bn(mask_model)
    crop_model = RoIMaskedSegmenter(make_desc("crop", size, roi_boxes=2, roi_crop=8))
    crop_model.load_state_dict(mask_model.state_dict())
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(4))
    rois, scores, probs = gt_rois([[[0, 0, 64, 64], [5, 7, 30, 41]],
                                   [[0, 0, 64, 64], [20, 3, 60, 33]]], 2)
    scores[:, 1] = 0.0
    probs[1, 0] = torch.tensor([0.3, 0.7])
    with torch.no_grad():
        dense = mask_model.eval().forward_train(x, rois, scores, probs)["outputs"][0][0]
        crop = crop_model.eval().forward_train(x, rois, scores, probs)["outputs"][0][0]
    torch.testing.assert_close(crop, dense, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["mask", "crop"])
def test_outside_the_rois_is_background_by_the_margin(mode: str) -> None:
    model = make_model(mode, roi_boxes=3, roi_crop=2).eval()
    x = torch.randn(2, 3, *SMALL, generator=torch.Generator().manual_seed(5))
    rois, scores, probs = gt_rois([[[3, 5, 20, 30]], [[40, 10, 60, 50], [0, 40, 10, 64]]], 3)
    with torch.no_grad():
        out = model.forward_train(x, rois, scores, probs)
        pred = model.forward_train(x)  # predicted RoIs: the same rule holds
    for o in (out, pred):
        logits, outside = o["outputs"][0][0], o["roi_mask"][:, 0] == 0
        assert bool(outside.any())
        assert bool((logits[:, 0][outside] == model.desc.background_score).all())
        assert bool((logits[:, 1:].permute(1, 0, 2, 3)[:, outside] == 0).all())
    # ground-truth mask at 1/1: the boxes rounded outward
    expected = torch.zeros(2, *SMALL)
    expected[0, 5:30, 3:20] = 1
    expected[1, 10:50, 40:60] = 1
    expected[1, 40:64, 0:10] = 1
    torch.testing.assert_close(out["roi_mask"][:, 0], expected, rtol=0, atol=0)


def test_unmasked_ablation_decodes_everywhere() -> None:
    """roi_mode "none": no masking and no background correction, so even without any RoI
    the decoder's scores are not the constant background of the masked model."""
    rois, scores, probs = gt_rois([[]], 2)
    x = torch.randn(1, 3, *SMALL, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        masked = make_model("mask").eval().forward_train(x, rois, scores, probs)
        plain = make_model("none").eval().forward_train(x, rois, scores, probs)
    m = masked["outputs"][0][0]
    assert bool((m[:, 0] == 20).all()) and bool((m[:, 1:] == 0).all())
    p = plain["outputs"][0][0]
    assert float(p.std()) > 0 and bool((plain["roi_mask"] == 1).all())


@pytest.mark.parametrize("mode, given", [("mask", False), ("mask", True), ("crop", False)])
def test_segmentation_loss_reaches_backbone_not_ssd_heads(mode: str, given: bool) -> None:
    """The masks are fixed inputs (seed 000, Fig. 25): L_seg trains the shared backbone and
    the decoder, never the SSD extras/heads through the mask or the CMaps."""
    model = make_model(mode, roi_boxes=3, roi_crop=2).train()
    x = torch.randn(2, 3, *SMALL, generator=torch.Generator().manual_seed(7))
    args = gt_rois([[[3, 5, 40, 60]], [[10, 10, 50, 40]]], 3) if given else ()
    out = model.forward_train(x, *args)
    labels = torch.randint(0, K, (2, *SMALL), generator=torch.Generator().manual_seed(8))
    F.cross_entropy(out["outputs"][0][0], labels).backward()
    det = model.detector
    heads = [*det.extras.parameters(), *det.box_heads.parameters(), *det.cls_heads.parameters()]
    assert all(p.grad is None or not p.grad.any() for p in heads)
    assert all(p.grad is not None and p.grad.any() for p in det.backbone.layers[0].parameters())
    assert model.stage1.post[0].weight.grad.any() and model.score2.weight.grad.any()
    # the detection loss does reach the heads (the shared backbone gets both losses)
    model.zero_grad()
    out = model.forward_train(x, *args)
    (out["codes"].square().mean() + out["class_logits"].logsumexp(-1).mean()).backward()
    assert all(p.grad is not None and p.grad.any() for p in det.cls_heads.parameters())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter, on purpose
@pytest.mark.parametrize("mode", ["mask", "crop"])
def test_export_is_trt_parseable_and_matches_onnxruntime(mode: str, tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from edge.export.onnx_export import export_onnx
    from edge.export.trt_support import check_model

    model = make_model(mode, roi_boxes=4, roi_crop=2)
    randomise_bn(model)
    model.eval()
    x = torch.randn(1, 3, *SMALL, generator=torch.Generator().manual_seed(3))
    # random weights give distinct RoI scores (no TopK ties); a threshold between the
    # 2nd and 3rd keeps two RoIs so the mask is neither empty nor everything
    with torch.no_grad():
        top = torch.topk(1 - model.forward_train(x)["class_logits"].softmax(-1)[0, :, 0], 5)[0]
    assert bool((top[:-1] > top[1:]).all())
    model.desc = model.desc.replace(score_threshold=float(top[1] + top[2]) / 2)
    export_onnx(model.desc, model, tmp_path, fp16=False)
    path = str(tmp_path / "model.onnx")
    report = check_model(path)
    assert report.ok, report.problems
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert not ops & {"GridSample", "RoiAlign", "NonZero", "Loop", "If"}, ops
    assert {"TopK", "ReduceMax"} <= ops
    if mode == "crop":
        assert {"Floor", "Gather"} <= ops
    with torch.no_grad():
        out = model.forward_train(x)
    ref = out["outputs"][0][0].numpy()
    assert 0 < float(out["roi_mask"].mean()) < 1
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})[0]
    assert got.shape == ref.shape == (1, K, *SMALL)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
