"""ONNX export: parity with PyTorch, the TensorRT parser check, manifest and bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from edge.backends.onnxruntime_backend import OnnxRuntimeBackend  # noqa: E402
from edge.backends.torch_backend import TorchBackend  # noqa: E402
from edge.errors import ModelFileError  # noqa: E402
from edge.export.onnx_export import (  # noqa: E402
    description_from_onnx,
    export_onnx,
    read_manifest,
)
from edge.export.parity import check_parity, parity_ok  # noqa: E402
from edge.export.trt_support import check_model  # noqa: E402
from edge.models.zoo import create  # noqa: E402
from edge.pipeline import InstancePipeline  # noqa: E402

FAMILIES = [
    ("ssd-isb-single-shape-plus", {"alpha": 0.25, "input_size": (256, 256)}),
    ("ssd-isb-single-branch", {"alpha": 0.25, "input_size": (192, 256), "isb_skip": "fcn16"}),
    ("mobilenet-fcn8", {"alpha": 0.25, "input_size": (64, 128)}),
    ("squeezenet-fcn4s", {"input_size": (64, 128)}),
    ("mobilenet-os8", {"alpha": 0.25, "input_size": (64, 128)}),
]


@pytest.fixture(scope="module", params=FAMILIES, ids=[f[0] for f in FAMILIES])
def exported(request, tmp_path_factory):
    name, options = request.param
    torch.manual_seed(0)
    desc, model = create(name, **options)
    model.eval()
    out = tmp_path_factory.mktemp(name)
    manifest = export_onnx(desc, model, out)
    return desc, model, out, manifest


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_parity_with_pytorch(exported, precision) -> None:
    desc, model, out, _ = exported
    report = check_parity(desc, model, OnnxRuntimeBackend(out, precision, threads=1),
                          precision=precision)
    assert parity_ok(report), report
    expected = 1 if desc.task == "semantic" else 1 + len(desc.branches)
    assert len(report) == expected


def test_exports_pass_the_tensorrt_check(exported) -> None:
    _, _, out, manifest = exported
    for entry in manifest["files"]:
        report = check_model(str(out / entry["file"]))
        assert report.ok, report.problems
        assert report.opset == 17


def test_manifest_round_trips_and_lists_everything(exported) -> None:
    desc, _, out, manifest = exported
    again = read_manifest(out)
    assert again == json.loads(json.dumps(manifest))
    assert {f["file"] for f in again["files"]} == {p.name for p in out.glob("*.onnx")}
    for f in again["files"]:
        assert set(f) >= {"file", "precision", "target", "sha256"}
        assert f["precision"] == ("fp16" if ".fp16." in f["file"] else "fp32")
        assert f["target"] == "any"
        assert description_from_onnx(out / f["file"]) == desc
        import onnx

        meta = {p.key: p.value for p in onnx.load(str(out / f["file"])).metadata_props}
        assert meta["edge.precision"] == f["precision"]
        assert json.loads(meta["edge.exporter"])["opset"] == 17


def test_branches_take_any_number_of_boxes(exported) -> None:
    desc, _, out, _ = exported
    if desc.task == "semantic":
        pytest.skip("no branches")
    be = OnnxRuntimeBackend(out, threads=1)
    spec = desc.branches[0]
    chans = {32: 256, 16: 128, 8: 64}
    for n in (1, 5):
        crops = [np.zeros((n, chans[s], spec.shape[0] * 32 // s, spec.shape[1] * 32 // s),
                          np.float32) for s in desc.mask_strides]
        assert be.segment(0, crops).shape == (n, 1, *desc.mask_shape(spec))


def test_corrupt_or_truncated_files_are_named(tmp_path) -> None:
    torch.manual_seed(0)
    desc, model = create("mobilenet-fcn32", alpha=0.25, input_size=(64, 64))
    export_onnx(desc, model.eval(), tmp_path, fp16=False)
    path = tmp_path / "model.onnx"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"model\.onnx: sha256 differs"):
        read_manifest(tmp_path)
    with pytest.raises(ModelFileError, match=r"model\.onnx: not a readable ONNX file"):
        check_model(str(path))
    with pytest.raises(ModelFileError, match=r"model\.onnx: not a readable ONNX file"):
        description_from_onnx(path)
    path.unlink()
    with pytest.raises(ModelFileError, match=r"model\.onnx: listed in .* but missing"):
        OnnxRuntimeBackend(tmp_path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(ModelFileError, match="manifest.json: missing"):
        read_manifest(tmp_path)


def test_onnxruntime_and_pytorch_pipelines_agree(tmp_path) -> None:
    from edge.data.synth import random_scene

    torch.manual_seed(1)
    desc, model = create("ssd-isb-multi-shape", alpha=0.25, input_size=(192, 192))
    desc = desc.replace(score_threshold=0.45)  # random weights: keep a handful of boxes
    model.desc = desc
    export_onnx(desc, model.eval(), tmp_path, fp16=False)
    frame = random_scene(3, (240, 320)).render()[0]
    a = InstancePipeline(desc, TorchBackend(model))(frame)
    b = InstancePipeline(desc, OnnxRuntimeBackend(tmp_path, threads=1))(frame)
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
    for i in range(len(a)):
        if a.mask_logits[i] is not None:
            np.testing.assert_allclose(a.mask_logits[i], b.mask_logits[i], atol=1e-4)


def test_bench_onnx_times_every_graph(exported, tmp_path) -> None:
    from edge.cli.bench import main as bench_main

    desc, _, out, _ = exported
    report = tmp_path / "bench.json"
    assert bench_main(["onnx", "--model", str(out), "--precision", "fp32,fp16", "--repeats",
                       "2", "--boxes", "2", "--threads", "1", "--json", str(report)]) == 0
    rows = json.loads(report.read_text())["rows"]
    assert [r["precision"] for r in rows] == ["fp32", "fp16"]
    expected = 1 if desc.task == "semantic" else 1 + len(desc.branches)
    assert all(len(r["stages_ms"]) == expected for r in rows)
    assert all(v["p50"] > 0 for r in rows for v in r["stages_ms"].values())


def test_in_graph_nms_matches_the_host_geometry(tmp_path) -> None:
    """detector_nms.onnx (ONNX NonMaxSuppression + fixed top-K) equals the shared host
    post-processing (without its pre-NMS top-1000 cut) on real scenes."""
    from edge.export.onnx_export import example_inputs
    from edge.export.trt_support import check_model
    from edge.geometry import BoxCoder, select_detections, ssd_anchors

    torch.manual_seed(2)
    desc, model = create("ssd-isb-single-branch", alpha=0.25, input_size=(192, 192))
    desc = desc.replace(score_threshold=0.4)  # random weights: a handful of detections
    manifest = export_onnx(desc, model.eval(), tmp_path, fp16=False)
    assert "detector_nms.onnx" in {f["file"] for f in manifest["files"]}
    assert check_model(str(tmp_path / "detector_nms.onnx")).ok
    be = OnnxRuntimeBackend(tmp_path, threads=1)
    anchors = ssd_anchors(desc.anchors, desc.input_size)
    seen = 0
    for seed in range(4):
        x = example_inputs(desc, seed)
        boxes, scores, classes, taps = be.detect_nms(x)
        codes, logits, taps_raw = be.detect(x)
        ref = select_detections(codes, logits, anchors, desc.input_size,
                                coder=BoxCoder(desc.box_coder_weights),
                                score_threshold=0.4, iou_threshold=desc.nms_iou_threshold,
                                max_detections=desc.max_detections, pre_nms_top_k=10**9)
        assert len(boxes) == len(ref)
        np.testing.assert_allclose(boxes, ref.boxes, atol=1e-3)
        np.testing.assert_allclose(scores, ref.scores, atol=1e-5)
        np.testing.assert_array_equal(classes, ref.classes)
        np.testing.assert_allclose(taps[8], taps_raw[8], atol=1e-6)
        seen += len(ref)
    assert seen > 0


def test_a_zoo_name_exports_the_same_graph_every_time(tmp_path) -> None:
    """`edge-build export --model NAME` draws its random weights from a fixed seed: the
    same command gives byte-identical graphs (and the same parity figures), so a parity
    failure on random weights reproduces instead of coming and going."""
    from edge.cli.build import main as build_main

    outs = []
    for k in range(2):
        out = tmp_path / f"e{k}"
        assert build_main(["export", "--model", "segnet-basic", "--input-size", "64", "64",
                           "--out", str(out), "--no-fp16"]) == 0
        outs.append(json.loads((out / "manifest.json").read_text())["files"])
    assert [f["sha256"] for f in outs[0]] == [f["sha256"] for f in outs[1]]
