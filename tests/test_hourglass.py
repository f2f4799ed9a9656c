"""Stacked Hourglass (seed 001): shapes for both stems, the joint branch, reference
parameter counts, TensorRT-parseable export matching ONNX Runtime, gradients everywhere."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from edge import catalog  # noqa: E402
from edge.models.hourglass import StackedHourglass  # noqa: E402

SMALL = (64, 64)


def small_model(stem_stride: int = 1, stacks: int = 1, features: int = 16, joints: int = 0,
                k: int = 5) -> StackedHourglass:
    torch.manual_seed(0)
    name = "hourglass" if stem_stride == 1 else "hourglass-edge"
    desc = catalog.describe(name, input_size=SMALL, num_classes=k, stacks=stacks,
                            features=features, joints=joints)
    return StackedHourglass(desc)


@pytest.mark.parametrize("name, reference, pools",
                         [("hourglass", 15_449_000, 5), ("hourglass-edge", 12_874_000, 4)])
def test_parameter_counts_match_reference(name: str, reference: int, pools: int) -> None:
    desc = catalog.describe(name)
    assert (desc.num_classes, desc.stacks, desc.features) == (25, 4, 256)
    model = StackedHourglass(desc)
    assert model.depth == pools
    ours = sum(p.numel() for p in model.parameters())
    # trainable values: 15,448,804 and 12,874,468
    assert abs(ours - reference) / reference < 0.001, ours
    assert catalog.thesis_params(desc) == reference


@pytest.mark.parametrize("stem_stride", [1, 4])
def test_forward_and_train_shapes(stem_stride: int) -> None:
    model = small_model(stem_stride, stacks=2, joints=3).eval()
    x = torch.randn(2, 3, *SMALL)
    h, w = SMALL[0] // stem_stride, SMALL[1] // stem_stride
    with torch.no_grad():
        assert tuple(model(x).shape) == (2, 5, *SMALL)
        out = model.forward_train(x)
    assert [tuple(o.shape) for o, _ in out["outputs"]] == [(2, 5, h, w)] * 2
    assert [wt for _, wt in out["outputs"]] == [0.5, 0.5]
    assert tuple(out["joints"].shape) == (2, 3, h, w)
    # the prediction is the last stack's logits (bilinearly upsampled for stem 4)
    with torch.no_grad():
        up = F.interpolate(out["outputs"][-1][0], scale_factor=stem_stride, mode="bilinear",
                           align_corners=False) if stem_stride > 1 else out["outputs"][-1][0]
        torch.testing.assert_close(model(x), up)


def test_no_joint_branch_by_default_and_one_stack_branches_from_it() -> None:
    assert small_model().forward_train(torch.randn(1, 3, *SMALL))["joints"] is None
    model = small_model(stacks=1, joints=2)
    assert model.joint_stack == 0
    assert tuple(model.forward_train(torch.randn(1, 3, *SMALL))["joints"].shape) == (1, 2, *SMALL)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter, on purpose
@pytest.mark.parametrize("stem_stride", [1, 4])
def test_export_is_trt_parseable_and_matches_onnxruntime(tmp_path, stem_stride: int) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from edge.export.trt_support import check_model

    model = small_model(stem_stride, stacks=2, joints=3)
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    model.eval()
    x = torch.randn(1, 3, *SMALL, generator=torch.Generator().manual_seed(3))
    path = tmp_path / "hourglass.onnx"
    with torch.no_grad():
        torch.onnx.export(model, (x,), str(path), input_names=["image"],
                          output_names=["logits"], opset_version=17,
                          do_constant_folding=True, dynamo=False)
        ref = model(x).numpy()
    report = check_model(str(path))
    assert report.ok, report.problems
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert ops <= {"Conv", "BatchNormalization", "Relu", "MaxPool", "Resize", "Add",
                   "Constant", "Identity"}, ops
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})[0]
    assert got.shape == ref.shape == (1, 5, *SMALL)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)


@pytest.mark.parametrize("stem_stride", [1, 4])
def test_gradients_reach_every_parameter(stem_stride: int) -> None:
    torch.manual_seed(0)
    model = small_model(stem_stride, stacks=2, joints=3).train()
    x = torch.randn(2, 3, *SMALL)
    labels = torch.randint(0, 5, (2, *SMALL))
    out = model.forward_train(x)
    loss = torch.zeros(())
    for logits, weight in out["outputs"]:
        lab = F.interpolate(labels[:, None].float(), size=logits.shape[-2:], mode="nearest")
        loss = loss + weight * F.cross_entropy(logits, lab[:, 0].long())
    loss = loss + F.mse_loss(out["joints"], torch.rand_like(out["joints"]))
    loss.backward()
    # a conv bias whose output reaches the loss only through a training-mode batch norm
    # (the residual sum feeds the next module's BN) has a gradient of exactly zero in
    # exact arithmetic: rounding decides whether it shows, so biases only need one
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or (not p.grad.any() and not n.endswith(".bias"))]
    assert not missing
