"""ICNet (seed 001): shapes, reference parameter counts, static pyramid pooling, export
to TensorRT-parseable ONNX that ONNX Runtime reproduces, and gradients everywhere."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from edge import catalog  # noqa: E402
from edge.models.icnet import ICNet, PyramidPooling, pyramid_pool_bins  # noqa: E402
from tests.torch_helpers import randomise_bn  # noqa: E402

SMALL = (128, 128)  # 1/32 map 4x4: bin 3 pools with kernel 1


def small_model(filter_scale: int = 1, k: int = 5) -> ICNet:
    torch.manual_seed(0)
    desc = catalog.describe("icnet", input_size=SMALL, num_classes=k, filter_scale=filter_scale)
    return ICNet(desc)


@pytest.mark.parametrize("name, reference", [("icnet", 6_710_000), ("icnet-fs2", 26_755_000)])
def test_parameter_counts_match_reference(name: str, reference: int) -> None:
    desc = catalog.describe(name)
    assert desc.num_classes == 25
    model = ICNet(desc)
    ours = sum(p.numel() for p in model.parameters())
    # trainable values (weights, biases, BN gamma/beta): 6,710,411 and 26,755,275
    assert abs(ours - reference) / reference < 0.001, ours
    assert catalog.thesis_params(desc) == reference


def test_forward_and_train_shapes() -> None:
    model = small_model().eval()
    x = torch.randn(1, 3, *SMALL)
    with torch.no_grad():
        # the zoo's ICNet gives logits at 1/4 (the runtime upsamples the labels) ...
        assert tuple(model(x).shape) == (1, 5, SMALL[0] // 4, SMALL[1] // 4)
        quarter = model(x)
        # ... and output_stride 1 upsamples them x4 in the graph, as the seed's code
        model.desc = model.desc.replace(output_stride=1)
        full = model(x)
        assert tuple(full.shape) == (1, 5, *SMALL)
        assert torch.allclose(full, F.interpolate(quarter, size=SMALL, mode="bilinear",
                                                  align_corners=True), atol=1e-5)
        model.desc = model.desc.replace(output_stride=4)
        out = model.forward_train(x)
    assert out["joints"] is None
    h, w = SMALL
    shapes = [tuple(o.shape) for o, _ in out["outputs"]]
    assert shapes == [(1, 5, h // 16, w // 16), (1, 5, h // 8, w // 8), (1, 5, h // 4, w // 4)]
    assert [wt for _, wt in out["outputs"]] == [0.16, 0.4, 1.0]


def test_wrong_input_size_is_refused() -> None:
    with pytest.raises(ValueError, match="128x128"):
        small_model()(torch.zeros(1, 3, 96, 96))


@pytest.mark.parametrize("size", [(12, 12), (24, 12), (12, 36)])
def test_static_pyramid_pooling_equals_adaptive_when_divisible(size) -> None:
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(2))
    for b, pooled in zip((1, 2, 3, 4), pyramid_pool_bins(x)):
        torch.testing.assert_close(pooled, F.adaptive_avg_pool2d(x, b), rtol=0, atol=1e-6)
    ppm = PyramidPooling(size)(x)
    expected = x + sum(F.interpolate(F.adaptive_avg_pool2d(x, b), size=size, mode="bilinear",
                                     align_corners=True) for b in (1, 2, 3, 4))
    torch.testing.assert_close(ppm, expected, rtol=0, atol=1e-5)


def test_static_pyramid_pooling_small_map_keeps_code_semantics() -> None:
    """4x4 map (128 input), bins 3 and 4: kernel floor(4/b) = 1, so the 'pooled' map is
    the input itself (not adaptive pooling's 3x3 / 4x4 averages)."""
    x = torch.randn(1, 2, 4, 4)
    pooled = pyramid_pool_bins(x)
    assert [tuple(p.shape[-2:]) for p in pooled] == [(1, 1), (2, 2), (4, 4), (4, 4)]
    torch.testing.assert_close(pooled[2], x)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter, on purpose
def test_export_is_trt_parseable_and_matches_onnxruntime(tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from edge.export.trt_support import check_model

    model = small_model()
    randomise_bn(model)
    model.eval()
    x = torch.randn(1, 3, *SMALL, generator=torch.Generator().manual_seed(3))
    path = tmp_path / "icnet.onnx"
    with torch.no_grad():
        torch.onnx.export(model, (x,), str(path), input_names=["image"],
                          output_names=["logits"], opset_version=17,
                          do_constant_folding=True, dynamo=False)
        ref = model(x).numpy()
    report = check_model(str(path))
    assert report.ok, report.problems
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert not ops & {"Gather", "GatherND", "Where", "If", "Loop"}, ops
    assert "AveragePool" in ops and "Resize" in ops
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})[0]
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)


def test_gradients_reach_every_parameter() -> None:
    model = small_model().train()
    x = torch.randn(1, 3, *SMALL)  # BN still sees 16 values per channel at 1/32
    labels = torch.randint(0, 5, (1, *SMALL))
    loss = torch.zeros(())
    for logits, _ in model.forward_train(x)["outputs"]:
        lab = F.interpolate(labels[:, None].float(), size=logits.shape[-2:], mode="nearest")
        loss = loss + F.cross_entropy(logits, lab[:, 0].long())
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
