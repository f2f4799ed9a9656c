"""DeepLab-LargeFOV (seed 002): the reference parameter count, LargeFOV's layer layout and
output stride, the training outputs the feedback losses read, the flat layer list the
fixations tool walks, and export to TensorRT-parseable ONNX that ONNX Runtime reproduces."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from edge.description import VOC_CLASSES, ModelDescription  # noqa: E402
from edge.errors import ConfigError  # noqa: E402
from edge.models.deeplab import DeepLabLargeFOV  # noqa: E402

SMALL = (48, 48)  # logits 6x6; small enough for VGG on two CPU cores
VOC21 = ("background",) + tuple(f"class{i}" for i in range(1, 21))


def describe(backbone: str = "vgg16", size: tuple[int, int] = SMALL, **kw) -> ModelDescription:
    kw.setdefault("output_stride", 8)
    kw.setdefault("class_names", VOC_CLASSES)
    return ModelDescription(name="deeplab-largefov", task="semantic", backbone=backbone,
                            architecture="deeplab-largefov", input_size=size, **kw)


def small_model(backbone: str = "vgg16", **kw) -> DeepLabLargeFOV:
    torch.manual_seed(0)
    kw.setdefault("fc_width", 64)
    kw.setdefault("alpha", 0.25)
    model = DeepLabLargeFOV(describe(backbone, **kw))
    g = torch.Generator().manual_seed(1)
    for m in model.modules():  # non-trivial BN statistics for the eval-mode comparisons
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model


def test_vgg16_parameter_count_matches_reference() -> None:
    model = DeepLabLargeFOV(describe(class_names=VOC21, size=(320, 320)))  # not run
    ours = sum(p.numel() for p in model.parameters())
    assert ours == 20_505_429  # trunk 14,714,688 + fc6 4,719,616 + fc7 1,049,600 + fc8 21,525
    assert abs(ours - 20_505_000) / 20_505_000 < 0.001
    assert sum(p.numel() for p in model.fc6.parameters()) == 512 * 1024 * 9 + 1024


def test_vgg16_largefov_layout() -> None:
    model = DeepLabLargeFOV(describe(class_names=VOC21))
    convs = [m for m in model.fixation_layers() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 16  # 13 VGG convs + fc6, fc7, fc8
    assert [c.dilation[0] for c in convs[:13]] == [1] * 10 + [2] * 3
    assert all(c.bias is not None and c.kernel_size == (3, 3) for c in convs[:13])
    assert convs[13] is model.fc6 and model.fc6.dilation == (12, 12)
    assert model.fc7.kernel_size == (1, 1) and model.fc8.out_channels == 21
    pools = [m for m in model.fixation_layers() if isinstance(m, nn.MaxPool2d)]
    assert [(p.kernel_size, p.stride, p.padding) for p in pools] == \
        [(3, 2, 1)] * 3 + [(3, 1, 1)] * 2
    drops = [m for m in model.fixation_layers() if isinstance(m, nn.Dropout)]
    assert [d.p for d in drops] == [0.5, 0.5]
    assert not any(isinstance(m, nn.AvgPool2d) for m in model.modules())
    assert model.head_modules() == [model.fc6, model.fc7, model.fc8]


@pytest.mark.parametrize("size, out", [((321, 321), (41, 41)), ((64, 96), (8, 12)),
                                       ((320, 320), (40, 40))])
def test_output_stride_8_sizes(size, out) -> None:
    """Every conv keeps the size (stride 1, "same" padding), so the pools decide it:
    321 -> 161 -> 81 -> 41 as DeepLab's crops, and exactly H/8 at multiples of 8."""
    model = DeepLabLargeFOV(describe(class_names=VOC21, fc_width=8))
    x = torch.zeros(1, 1, *size)
    for m in model.fixation_layers():
        if isinstance(m, nn.Conv2d):
            assert m.stride == (1, 1)
            assert m.padding == tuple(d * (k // 2) for d, k in zip(m.dilation, m.kernel_size))
        elif isinstance(m, nn.MaxPool2d):
            x = m(x)
    assert tuple(x.shape[-2:]) == out


@pytest.mark.parametrize("backbone", ["vgg16", "mobilenet_v1"])
def test_forward_shapes_and_upsampled_output(backbone: str) -> None:
    model = small_model(backbone).eval()
    x = torch.randn(1, 3, *SMALL, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = model(x)
        assert tuple(logits.shape) == (1, 9, 6, 6)
        model.desc = model.desc.replace(output_stride=1)
        full = model(x)
    assert tuple(full.shape) == (1, 9, *SMALL)
    expected = F.interpolate(logits, size=SMALL, mode="bilinear", align_corners=True)
    torch.testing.assert_close(full, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("backbone", ["vgg16", "mobilenet_v1"])
def test_forward_train_outputs_and_features(backbone: str) -> None:
    model = small_model(backbone).eval()
    x = torch.randn(1, 3, *SMALL, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model.forward_train(x)
        ref = model(x)
    assert out["joints"] is None
    [(logits, weight)] = out["outputs"]
    assert weight == 1.0 and torch.equal(logits, ref)
    feats = out["features"]
    assert tuple(feats.shape) == (1, 64, 6, 6) and bool((feats >= 0).all())
    with torch.no_grad():  # eval: dropout is the identity, so fc8(features) are the logits
        torch.testing.assert_close(model.fc8(feats), logits)
    model.train()
    train_feats = model.forward_train(x)["features"]
    assert bool((train_feats >= 0).all())  # after ReLU, before dropout (no zeroed x2 scale)


@pytest.mark.parametrize("backbone", ["vgg16", "mobilenet_v1"])
def test_fixation_layers_reproduce_forward(backbone: str) -> None:
    model = small_model(backbone).eval()
    x = torch.randn(1, 3, *SMALL, generator=torch.Generator().manual_seed(4))
    layers = model.fixation_layers()
    allowed = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.MaxPool2d, nn.Dropout)
    assert all(isinstance(m, allowed) for m in layers)
    with torch.no_grad():
        y = x.clone()
        for m in layers:
            y = m(y)
        torch.testing.assert_close(y, model(x), rtol=0, atol=0)


def test_head_only_fine_tuning_reaches_the_head() -> None:
    model = small_model().train()
    head = {id(p) for m in model.head_modules() for p in m.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in head)
    x = torch.randn(2, 3, *SMALL, generator=torch.Generator().manual_seed(6))
    labels = torch.randint(0, 9, (2, 6, 6))
    F.cross_entropy(model.forward_train(x)["outputs"][0][0], labels).backward()
    assert all(p.grad is not None and p.grad.any() for m in model.head_modules()
               for p in m.parameters())
    assert all(p.grad is None for p in model.trunk.parameters())


def test_bad_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="output stride"):
        DeepLabLargeFOV(describe(output_stride=16))
    with pytest.raises(ConfigError, match="backbone"):
        DeepLabLargeFOV(describe("squeezenet1_1"))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter, on purpose
@pytest.mark.parametrize("backbone, stride", [("vgg16", 8), ("mobilenet_v1", 1)])
def test_export_is_trt_parseable_and_matches_onnxruntime(backbone, stride, tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from edge.export.onnx_export import export_onnx
    from edge.export.trt_support import check_model

    model = small_model(backbone, output_stride=stride).eval()
    manifest = export_onnx(model.desc, model, tmp_path, fp16=False)
    path = str(tmp_path / manifest["files"][0]["file"])
    report = check_model(path)
    assert report.ok, report.problems
    ops = {n.op_type for n in onnx.load(path).graph.node}
    expected = {"Conv", "Relu", "MaxPool"} if backbone == "vgg16" else {"Conv", "Relu", "Clip"}
    if stride == 1:
        expected.add("Resize")
    assert ops <= expected | {"Constant", "Identity"} and expected <= ops, ops  # Identity: dropout
    x = torch.randn(1, 3, *SMALL, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = model(x).numpy()
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})[0]
    assert got.shape == ref.shape == ((1, 9, 6, 6) if stride == 8 else (1, 9, *SMALL))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
