"""SegNet family (edge.models.segnet): shapes, parameter counts against
shared/reference/seed-systems.md 0.7, ONNX export through the package's exporter that
passes the TensorRT check and matches PyTorch, and native vs index-free path parity."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from edge.catalog import describe  # noqa: E402
from edge.description import PARTS_CLASSES  # noqa: E402
from edge.export.onnx_export import export_onnx  # noqa: E402
from edge.export.trt_support import check_model  # noqa: E402
from edge.models.segnet import SegNet, SegNetBasic, SegNetToy, build_segnet  # noqa: E402
from edge.models.unpool import export_mode, is_export_mode  # noqa: E402

SIZE = (64, 64)


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _randomise_bn(model, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters, so eval-mode parity means something."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)


# (catalog name, options, class kwargs for a narrow net)
VARIANTS = [
    ("segnet-basic", {}, {"width": 16}),
    ("segnet-basic-deconv", {}, {"width": 16}),
    ("segnet", {}, {"base": 8}),
    ("segnet", {"upsample": "deconv"}, {"base": 8}),
    ("segnet-toy", {}, {"width": 16}),
]
IDS = ["basic-indices", "basic-deconv", "segnet-indices", "segnet-deconv", "toy"]


def _desc(name, options, **kw):
    upsample = options.get("upsample")
    desc = describe(name, **kw)
    return desc.replace(upsample=upsample) if upsample else desc


def _small(name, options, cls_kwargs, seed: int = 0):
    desc = _desc(name, options, input_size=SIZE)
    torch.manual_seed(seed)
    model = build_segnet(desc, **cls_kwargs)
    _randomise_bn(model, seed)
    return desc, model.eval()


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_output_shape_and_forward_train(variant) -> None:
    desc, model = _small(*variant)
    x = torch.randn(2, 3, *SIZE)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, desc.num_classes, *SIZE)
    assert torch.isfinite(y).all()
    out = model.forward_train(x)
    assert out["joints"] is None and len(out["outputs"]) == 1
    logits, weight = out["outputs"][0]
    assert weight == 1.0 and logits.shape == y.shape


def test_input_size_must_be_divisible_by_the_pools() -> None:
    desc, model = _small(*VARIANTS[0])
    with pytest.raises(ValueError, match="divisible by 16"):
        model(torch.zeros(1, 3, 72, 64))


@pytest.mark.parametrize("name, options, reference", [
    ("segnet-basic", {}, 1_417_000),
    ("segnet-basic-deconv", {}, 1_483_000),
    ("segnet-basic-deconv", {"filter_scale": 2}, 5_907_000),
])
def test_segnet_basic_parameter_counts(name, options, reference) -> None:
    desc = describe(name, class_names=PARTS_CLASSES, **options)
    assert desc.num_classes == 25
    model = SegNetBasic(desc)
    assert abs(_params(model) - reference) / reference < 0.01, _params(model)


def test_segnet_parameter_counts() -> None:
    desc = describe("segnet", class_names=PARTS_CLASSES)
    model = SegNet(desc)
    assert abs(_params(model) - 29_449_000) / 29_449_000 < 0.01, _params(model)
    assert abs(_params(model.encoders) - 14_700_000) / 14_700_000 < 0.01
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 26 and convs[-1].out_channels == 25
    # the deconv variant only adds the five transposed convs (no bias)
    deconv = SegNet(desc.replace(upsample="deconv"))
    extra = sum(c * c * 4 for c in (64, 128, 256, 512, 512))
    assert _params(deconv) - _params(model) == extra


def test_segnet_toy_structure() -> None:
    desc = describe("segnet-toy")
    model = SegNetToy(desc)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4 and all(c.kernel_size == (7, 7) for c in convs)
    assert convs[-1].out_channels == 2


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_export_passes_the_trt_check_and_matches_onnxruntime(variant, tmp_path) -> None:
    desc, model = _small(*variant)
    # the package's exporter as edge-build export runs it; export mode is switched on
    # explicitly here (it is also automatic inside torch.onnx.export)
    with export_mode(model):
        manifest = export_onnx(desc, model, tmp_path, fp16=False)
    assert not is_export_mode(model)
    path = tmp_path / manifest["files"][0]["file"]
    report = check_model(str(path))
    assert report.ok, report.problems
    import onnx

    proto = onnx.load(str(path))
    ops = {n.op_type for n in proto.graph.node}
    assert "MaxUnpool" not in ops and "If" not in ops and "LRN" not in ops
    assert all(len([o for o in n.output if o]) == 1 for n in proto.graph.node
               if n.op_type == "MaxPool")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(1, 3, *SIZE, generator=torch.Generator().manual_seed(1))
    got = session.run(None, {"image": x.numpy()})[0]
    with torch.no_grad(), export_mode(model):
        expected = model(x).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("variant", [VARIANTS[0], VARIANTS[2], VARIANTS[4]],
                         ids=["basic", "segnet", "toy"])
def test_native_and_export_paths_are_identical(variant) -> None:
    desc, model = _small(*variant)
    x = torch.relu(torch.randn(2, 3, *SIZE, generator=torch.Generator().manual_seed(2)))
    with torch.no_grad():  # eval mode: native pooling indices vs the index-free rewrite
        native = model(x)
        with export_mode(model):
            rewritten = model(x)
    assert torch.equal(native, rewritten)

    # train mode (batch statistics): outputs and every parameter gradient identical
    results = []
    for export in (False, True):
        torch.manual_seed(3)
        _, m = _small(*variant)
        m.train()
        with export_mode(m, on=export):
            y = m(x)
            y.square().mean().backward()
        results.append((y.detach(), [p.grad.clone() for p in m.parameters()]))
    (y0, g0), (y1, g1) = results
    assert torch.equal(y0, y1)
    assert all(torch.equal(a, b) for a, b in zip(g0, g1))


def test_exporter_switches_to_the_index_free_path_by_itself(tmp_path) -> None:
    desc, model = _small(*VARIANTS[4])
    manifest = export_onnx(desc, model, tmp_path, fp16=True)  # no export_mode here
    x = torch.randn(1, 3, *SIZE, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = model(x).numpy()
    for entry in manifest["files"]:  # FP32 and the FP16 copy: both valid and parseable
        path = str(tmp_path / entry["file"])
        report = check_model(path)
        assert report.ok, (entry["file"], report.problems)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = session.run(None, {"image": x.numpy()})[0]
        atol = 1e-4 if entry["precision"] == "fp32" else 0.05
        np.testing.assert_allclose(got, expected, atol=atol, rtol=0)
