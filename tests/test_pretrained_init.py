"""``--init FILE``: published ImageNet weight layouts mapped onto our backbones.

Each foreign file is written here, in that layout's exact names and tensor layouts, from a
small random-weights backbone built by our own code (no checkpoint can be downloaded), then
loaded back through :func:`edge.train.pretrained.init_from_file`; the backbone must come
back bit for bit, and where the layout is PyTorch's, a forward pass of a module built the
way that library builds it must agree with ours.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.numpy import save_file as save_numpy  # noqa: E402
from safetensors.torch import save_file as save_torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from edge.architecture import MOBILENET_V1_LAYERS, mobilenet_depth  # noqa: E402
from edge.errors import ModelFileError  # noqa: E402
from edge.models.backbones import BN_EPS, MobileNetV1, SqueezeNet11  # noqa: E402
from edge.models.zoo import create  # noqa: E402
from edge.train.pretrained import InitReport, init_from_file  # noqa: E402
from tests.torch_helpers import randomise_bn  # noqa: E402

BN_TF = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
         "running_var": "moving_variance"}


def _source_backbone(alpha: float = 0.25, seed: int = 0) -> MobileNetV1:
    torch.manual_seed(seed)
    mn = MobileNetV1(alpha).eval()
    randomise_bn(mn, seed + 1)
    return mn


def _backbone_of(model) -> dict[str, torch.Tensor]:
    """Our MobileNet-v1 tensors of a zoo model, keyed by the backbone's own names."""
    for prefix in ("detector.backbone.", "backbone.", "trunk."):
        sd = {k[len(prefix):]: v for k, v in model.state_dict().items() if k.startswith(prefix)}
        if sd:
            return sd if prefix != "trunk." else {"layers." + k: v for k, v in sd.items()}
    raise AssertionError("no backbone")


def _assert_backbone_equal(model, source: MobileNetV1) -> None:
    got = _backbone_of(model)
    want = source.state_dict()
    assert set(got) == set(want)
    for k, v in want.items():
        assert torch.equal(got[k], v), k


# ---------------------------------------------------------------- timm, built as timm does


class _TimmDS(nn.Module):
    """timm's DepthwiseSeparableConv as "dsa" builds it: conv_dw, bn1, conv_pw, bn2 (both
    followed by ReLU6), no skip. BN eps is ours (timm's is 1e-5) so outputs compare exactly."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn1 = nn.BatchNorm2d(cin, eps=BN_EPS)
        self.conv_pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self.bn2(self.conv_pw(F.relu6(self.bn1(self.conv_dw(x))))))


class TimmMobileNetV1(nn.Module):
    """timm ``mobilenetv1_*`` module names: conv_stem, bn1, blocks.S.B (arch_def stages of
    1, 2, 2, 6, 2 blocks), classifier."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        stem = mobilenet_depth(32, alpha)
        self.conv_stem = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, eps=BN_EPS)
        stages, cin, layer = [], stem, 0
        for n in (1, 2, 2, 6, 2):
            blocks = []
            for _ in range(n):
                stride, depth = MOBILENET_V1_LAYERS[layer]
                layer += 1
                blocks.append(_TimmDS(cin, mobilenet_depth(depth, alpha), stride))
                cin = mobilenet_depth(depth, alpha)
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.classifier = nn.Linear(cin, 1000)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(F.relu6(self.bn1(self.conv_stem(x))))


def _timm_from(source: MobileNetV1) -> TimmMobileNetV1:
    """The same weights in a timm-structured module, copied by position (not by name)."""
    timm = TimmMobileNetV1(source.alpha).eval()
    mine = list(source.state_dict().values())
    theirs = [k for k in timm.state_dict() if not k.startswith("classifier")]
    assert len(mine) == len(theirs)
    timm.load_state_dict({**timm.state_dict(), **dict(zip(theirs, mine))})
    return timm


# ------------------------------------------------------------ TF layouts (HWIO, HWC1)


def _tf_names(source: MobileNetV1, style: str, suffix: str = "") -> dict[str, np.ndarray]:
    """Keras ``MobileNet`` or TF-slim ``MobilenetV1`` names, kernels as TF stores them.

    Keras with ``suffix`` ":0" is tf.keras's ``weight.name`` (``conv_dw_1/depthwise_kernel:0``);
    without, Keras 3's ``variable.path`` (``conv_dw_1/kernel``, as keras 3.15 names it)."""
    out: dict[str, np.ndarray] = {}
    for name, t in source.state_dict().items():
        parts = name.split(".")  # layers.L.conv.param (stem) / layers.L.unit.conv.param
        layer, param = int(parts[1]), parts[-1]
        if param == "num_batches_tracked":
            continue
        a = t.numpy()
        is_bn = parts[-2] == "1"
        unit = "conv" if layer == 0 else ("dw" if parts[2] == "0" else "pw")
        if not is_bn:
            a = a.transpose(2, 3, 0, 1) if unit == "dw" else a.transpose(2, 3, 1, 0)
        if style == "keras":
            base = {"conv": "conv1", "dw": f"conv_dw_{layer}", "pw": f"conv_pw_{layer}"}[unit]
            key = (f"{base}_bn/{BN_TF[param]}" if is_bn
                   else f"{base}/{'depthwise_kernel' if unit == 'dw' and suffix else 'kernel'}")
        else:
            base = {"conv": "MobilenetV1/Conv2d_0", "dw": f"MobilenetV1/Conv2d_{layer}_depthwise",
                    "pw": f"MobilenetV1/Conv2d_{layer}_pointwise"}[unit]
            key = (f"{base}/BatchNorm/{BN_TF[param]}" if is_bn
                   else f"{base}/{'depthwise_weights' if unit == 'dw' else 'weights'}")
        out[key + suffix] = np.ascontiguousarray(a)
    return out


def _tf_conv(x: np.ndarray, k: np.ndarray, stride: int, pad: tuple[int, int]) -> np.ndarray:
    """TF's conv2d by its definition: NHWC input (H, W, C), HWIO kernel, explicit pads."""
    x = np.pad(x, (pad, pad, (0, 0)))
    kh, kw = k.shape[:2]
    h, w = (x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1
    return np.stack([[np.einsum("ijc,ijco->o", x[y * stride:y * stride + kh,
                                                 z * stride:z * stride + kw], k)
                      for z in range(w)] for y in range(h)])


def _tf_depthwise(x: np.ndarray, k: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    x = np.pad(x, (pad, pad, (0, 0)))
    kh, kw = k.shape[:2]
    h, w = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    return np.stack([[np.einsum("ijc,ijc->c", x[y:y + kh, z:z + kw], k[..., 0])
                      for z in range(w)] for y in range(h)])


# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("model_name", ["ssd-isb-multi-shape", "mobilenet-fcn8",
                                        "deeplab-largefov-mobilenet"])
def test_timm_safetensors_initialise_the_backbone_wherever_the_model_nests_it(
        tmp_path, model_name) -> None:
    source = _source_backbone()
    timm = _timm_from(source)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():  # the timm-structured module is the same network as ours
        assert torch.allclose(timm.forward_features(x), source(x)[32], atol=1e-5)
    save_torch(timm.state_dict(), str(tmp_path / "mobilenetv1_025.safetensors"))

    torch.manual_seed(7)
    options = {"fc_width": 32} if model_name.startswith("deeplab") else {}
    _, target = create(model_name, alpha=0.25, input_size=(96, 96), **options)
    report = init_from_file(target, tmp_path / "mobilenetv1_025.safetensors")
    assert report.layout == "timm-mobilenetv1"
    assert report.backbone_matched == report.backbone_total == 27 * 4 + 27  # convs + BN
    assert sorted(report.unused) == ["classifier.bias", "classifier.weight"]
    assert report.source_alpha == report.model_alpha == 0.25
    _assert_backbone_equal(target, source)
    if model_name == "ssd-isb-multi-shape":
        with torch.no_grad():
            got = target.eval().detector.backbone(x)[32]
        assert torch.allclose(got, timm.forward_features(x), atol=1e-5)


def test_timm_checkpoint_dict_prefers_the_ema_weights(tmp_path) -> None:
    source = _source_backbone()
    ema = {"module." + k: v for k, v in _timm_from(source).state_dict().items()}
    plain = {k: torch.zeros_like(v) for k, v in ema.items()}
    torch.save({"epoch": 3, "arch": "mobilenetv1_100", "state_dict": plain,
                "state_dict_ema": ema}, tmp_path / "checkpoint.pth.tar.pth")
    _, target = create("mobilenet-fcn8", alpha=0.25, input_size=(64, 64))
    init_from_file(target, tmp_path / "checkpoint.pth.tar.pth")
    _assert_backbone_equal(target, source)


@pytest.mark.parametrize(("style", "fmt"), [("keras", "npz"), ("keras", "pt"),
                                            ("slim", "safetensors")])
def test_tf_layouts_transpose_kernels_into_ours(tmp_path, style, fmt) -> None:
    source = _source_backbone(seed=4)
    suffix = ":0" if fmt == "npz" else ""  # TF2 weight names vs Keras 3 paths
    arrays = _tf_names(source, style, suffix)
    if style == "keras":
        arrays["conv_preds/kernel" + suffix] = np.zeros((1, 1, 256, 1000), np.float32)
    else:  # a detection checkpoint's scope and optimizer slots, as TF writes them
        arrays = {"FeatureExtractor/" + k: v for k, v in arrays.items()}
        arrays["FeatureExtractor/MobilenetV1/Conv2d_0/weights/RMSProp"] = np.zeros(1, np.float32)
    path = tmp_path / f"mobilenet_{style}.{fmt}"
    if fmt == "npz":
        np.savez(path, **arrays)
    elif fmt == "pt":
        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, path)
    else:
        save_numpy(arrays, str(path))

    _, target = create("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96))
    report = init_from_file(target, path)
    assert report.layout == {"keras": "keras-mobilenet", "slim": "tf-slim-mobilenet_v1"}[style]
    assert report.backbone_matched == report.backbone_total == 27 * 4 + 27
    assert len(report.unused) == 1
    assert any("eps" in n for n in report.notes) and any("SAME" in n for n in report.notes)
    _assert_backbone_equal(target, source)

    # the kernels mean what TF means by them: TF's conv by its definition on the file's
    # HWIO / HWC1 arrays equals our layers (stem: TF 'SAME' pads 0 top/left, 1 bottom/right)
    mn = target.detector.backbone
    rng = np.random.default_rng(0)
    img = rng.standard_normal((8, 8, 3)).astype(np.float32)
    dw = "conv_dw_1/depthwise_kernel" if suffix else "conv_dw_1/kernel"
    key = {"keras": ("conv1/kernel", dw, "conv_pw_1/kernel"),
           "slim": ("FeatureExtractor/MobilenetV1/Conv2d_0/weights",
                    "FeatureExtractor/MobilenetV1/Conv2d_1_depthwise/depthwise_weights",
                    "FeatureExtractor/MobilenetV1/Conv2d_1_pointwise/weights")}[style]
    k0, k1, k2 = (arrays[k + suffix] for k in key)
    tf0 = _tf_conv(img, k0, 2, (0, 1))
    tf1 = _tf_depthwise(tf0, k1, (1, 1))
    tf2 = _tf_conv(tf1, k2, 1, (0, 0))
    with torch.no_grad():
        x = F.pad(torch.from_numpy(img).permute(2, 0, 1)[None], (0, 1, 0, 1))
        y0 = F.conv2d(x, mn.layers[0][0].weight, stride=2)
        y1 = mn.layers[1][0][0](y0)  # stride 1, symmetric padding: TF's SAME too
        y2 = mn.layers[1][1][0](y1)
    for tf_out, ours in ((tf0, y0), (tf1, y1), (tf2, y2)):
        np.testing.assert_allclose(ours[0].permute(1, 2, 0).numpy(), tf_out, rtol=1e-4,
                                   atol=1e-4)


def test_torchvision_squeezenet_names_map_onto_squeezenet11(tmp_path) -> None:
    torch.manual_seed(5)
    source = SqueezeNet11().eval()
    fires = {"0.0": 3, "0.1": 4, "1.0": 6, "1.1": 7, "2.0": 9, "2.1": 10, "2.2": 11, "2.3": 12}
    tv = {}
    for name, t in source.state_dict().items():
        if name.startswith("conv1.0."):
            tv["features.0." + name[len("conv1.0."):]] = t
        else:  # stages.S.F.rest
            _, s, f, rest = name.split(".", 3)
            tv[f"features.{fires[f'{s}.{f}']}.{rest}"] = t
    tv["classifier.1.weight"] = torch.zeros(1000, 512, 1, 1)
    tv["classifier.1.bias"] = torch.zeros(1000)
    torch.save(tv, tmp_path / "squeezenet1_1.pth")

    _, target = create("squeezenet-fcn8s", input_size=(64, 64))
    report = init_from_file(target, tmp_path / "squeezenet1_1.pth")
    assert report.layout == "torchvision-squeezenet1_1"
    assert report.backbone_matched == report.backbone_total == 50
    assert sorted(report.unused) == ["classifier.1.bias", "classifier.1.weight"]
    for k, v in source.state_dict().items():
        assert torch.equal(target.backbone.state_dict()[k], v)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        got, want = target.eval().backbone(x), source(x)
    assert all(torch.equal(got[s], want[s]) for s in want)


def test_edge_seg_weights_move_a_backbone_between_models(tmp_path) -> None:
    """An FCN's float16 weights.npz initialises an SSD-ISB's backbone (other prefix)."""
    from edge.train.checkpoint import save_weights

    desc, fcn = create("mobilenet-fcn8", alpha=0.25, input_size=(64, 64))
    randomise_bn(fcn, 2)
    save_weights(tmp_path / "weights.npz", fcn, desc)
    _, target = create("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96))
    report = init_from_file(target, tmp_path / "weights.npz")
    assert report.layout == "edge-seg"
    assert report.backbone_matched == report.backbone_total
    assert report.unused and not any(u.startswith("backbone.") for u in report.unused)
    got = _backbone_of(target)
    for k, v in fcn.backbone.state_dict().items():
        want = v.half().float() if v.is_floating_point() else v
        assert torch.equal(got[k], want), k


def test_a_file_of_another_width_is_refused_with_the_fix(tmp_path) -> None:
    torch.manual_seed(8)
    save_torch(TimmMobileNetV1(1.0).state_dict(), str(tmp_path / "mobilenetv1_100.safetensors"))
    _, target = create("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ModelFileError) as err:
        init_from_file(target, tmp_path / "mobilenetv1_100.safetensors")
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path / "mobilenetv1_100.safetensors") in msg
    assert "timm-mobilenetv1" in msg and "0 of the 135 MobileNet-v1 backbone tensors" in msg
    assert ("weights for MobileNet-v1 depth multiplier 1.0 but the model has --alpha 0.25: "
            "pass --alpha 1.0 or weights of that width") in msg
    assert all(torch.equal(v, before[k]) for k, v in target.state_dict().items())  # untouched


def test_unrelated_tensors_are_refused(tmp_path) -> None:
    torch.save({"encoder.conv.weight": torch.zeros(4, 3, 3, 3), "fc.bias": torch.zeros(2)},
               tmp_path / "other.pt")
    _, target = create("mobilenet-fcn8", alpha=0.25, input_size=(64, 64))
    with pytest.raises(ModelFileError, match="no tensor matches") as err:
        init_from_file(target, tmp_path / "other.pt")
    assert "other.pt" in str(err.value) and "MobileNet-v1" in str(err.value)


class _Payload:
    """Pickles as a call to ``Path.touch(marker)``: what a booby-trapped .pt would run."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (type(self.marker).touch, (self.marker,))


def test_pickled_code_in_a_pt_is_never_run(tmp_path) -> None:
    marker = tmp_path / "code-ran"
    torch.save({"conv_stem.weight": torch.zeros(8, 3, 3, 3), "payload": _Payload(marker)},
               tmp_path / "evil.pt")
    assert not marker.exists()
    _, target = create("mobilenet-fcn8", alpha=0.25, input_size=(64, 64))
    with pytest.raises(ModelFileError, match="weights_only=True") as err:
        init_from_file(target, tmp_path / "evil.pt")
    assert "evil.pt" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()


def test_a_corrupt_safetensors_header_names_the_file(tmp_path) -> None:
    bad = tmp_path / "broken.safetensors"
    header = b'{"conv_stem.weight": {"dtype": "F32", "shape": [8, 3'
    bad.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    _, target = create("mobilenet-fcn8", alpha=0.25, input_size=(64, 64))
    with pytest.raises(ModelFileError, match="not a readable .safetensors file") as err:
        init_from_file(target, bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_the_table_lists_missing_heads_and_mismatched_shapes(tmp_path) -> None:
    source = _source_backbone()
    state = _timm_from(source).state_dict()
    state["blocks.0.0.conv_pw.weight"] = torch.zeros(16, 8, 3, 3)  # a wrong shape: listed
    save_torch(state, str(tmp_path / "w.safetensors"))
    _, target = create("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96))
    report = init_from_file(target, tmp_path / "w.safetensors")
    assert isinstance(report, InitReport)
    assert report.backbone_matched == report.backbone_total - 1
    table = report.table()
    assert "layout timm-mobilenetv1" in table and "missing-in-file" in table
    lines = {line.split()[0]: line.split()[1:] for line in table.splitlines()[2:]
             if line.startswith("  ") and line.split()[0].startswith(("detector.", "branches"))}
    assert lines["detector.box_heads"] == ["12", "0", "0", "12"]
    assert lines["branches"][1] == "0" and lines["branches"][0] == lines["branches"][3]
    assert ("shape mismatch: detector.backbone.layers.1.1.0.weight (16, 8, 1, 1) <- "
            "blocks.0.0.conv_pw.weight (16, 8, 3, 3)") in table
    summary = json.loads(json.dumps(report.as_dict(rows=False)))
    assert summary["groups"]["detector.box_heads"]["missing-in-file"] == 12
    assert [r["status"] for r in summary["rows"]].count("shape-mismatch") == 1
    assert not any(r["status"] == "matched" for r in summary["rows"])


def test_train_cli_init_from_a_timm_file(tmp_path, capsys) -> None:
    pytest.importorskip("cv2")
    pytest.importorskip("pycocotools")
    from edge.cli import build
    from edge.data.synth import write_dataset

    data = tmp_path / "data"
    write_dataset(str(data), 2, (96, 96), seed=3, workers=1, progress=False)
    source = _source_backbone()
    save_torch(_timm_from(source).state_dict(), str(tmp_path / "mobilenetv1_025.safetensors"))
    out = tmp_path / "run"
    rc = build.main(["train", "--model", "ssd-isb-multi-shape", "--alpha", "0.25",
                     "--input-size", "96", "96", "--data", str(data), "--out", str(out),
                     "--steps", "1", "--batch-size", "1", "--threads", "1", "--seed", "0",
                     "--init", str(tmp_path / "mobilenetv1_025.safetensors"), "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err[-2000:]
    summary = json.loads(captured.out)
    init = summary["init"]
    assert init["layout"] == "timm-mobilenetv1" and init["source_alpha"] == 0.25
    assert init["backbone_matched"] == init["backbone_total"] == 135
    assert sorted(init["unused"]) == ["classifier.bias", "classifier.weight"]
    assert init["groups"]["backbone blocks"]["matched"] == 13 * 10
    assert (out / "last.pt").is_file()

    # a width mismatch through the CLI: one line, exit 2, nothing written
    out2 = tmp_path / "run-wide"
    torch.manual_seed(9)
    save_torch(TimmMobileNetV1(1.0).state_dict(), str(tmp_path / "mobilenetv1_100.safetensors"))
    rc = build.main(["train", "--model", "ssd-isb-multi-shape", "--alpha", "0.25",
                     "--input-size", "96", "96", "--data", str(data), "--out", str(out2),
                     "--steps", "1", "--batch-size", "1", "--threads", "1",
                     "--init", str(tmp_path / "mobilenetv1_100.safetensors")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("edge-build: error: ")
    assert "pass --alpha 1.0" in err[-1]
    assert not (out2 / "last.pt").exists()
