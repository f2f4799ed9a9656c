"""edge-bench's benchmark: statistics and frame timing on a fake clock, the Pareto front
and the budget choice on fake rows (measured accuracy only), controlled instance counts and
how many of them get a mask, the JSON schema of a tiny real run (with and without
torchvision), the Mask R-CNN peer, the demo model's accuracy on generated held-out scenes,
and that only expected errors become notes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.bench.suite import (ScriptedDetections, choose_for_budget, mask_count,
                              pareto_front, pareto_rows, person_boxes, summarize, time_frames)
from edge.pipeline import Stopwatch


def test_summarize_percentiles() -> None:
    s = summarize([float(v) for v in range(1, 101)])
    assert s["p50"] == pytest.approx(50.5) and s["p90"] == pytest.approx(90.1)
    assert s["p99"] == pytest.approx(99.01) and s["mean"] == pytest.approx(50.5)
    assert summarize([])["p50"] == 0.0


class FakeClock:
    """Advances by a scripted step (seconds) per call."""

    def __init__(self, steps) -> None:
        self.t, self.steps, self.i = 0.0, list(steps), 0

    def __call__(self) -> float:
        self.t += self.steps[self.i % len(self.steps)]
        self.i += 1
        return self.t


def test_time_frames_on_a_fake_clock() -> None:
    cv2 = pytest.importorskip("cv2")
    frame = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()

    def pipe(img, sw: Stopwatch):
        sw.add("detector", 2.0)
        return None

    # clock calls per frame (no render): t0, t1 (after decode), t3 (end): decode = 1 ms,
    # frame = 4 ms then 6 ms alternating
    clock = FakeClock([0.0, 0.001, 0.004, 0.0, 0.001, 0.006])
    stages, totals = time_frames(pipe, [frame], n=4, warmup=2, render=False, clock=clock)
    assert totals == pytest.approx([4.0, 6.0, 4.0, 6.0])
    assert stages["decode"] == pytest.approx([1.0] * 4) and stages["detector"] == [2.0] * 4


def test_pareto_front_and_budget_choice() -> None:
    pts = [(10, 30), (20, 25), (5, 40), (8, 29), (20, 20)]
    assert sorted(pareto_front(pts)) == [0, 1, 2]

    def row(cfg, ms, acc, peer=None, inst=10, semantic=False, source="measured"):
        return {"config": cfg, "precision": "fp32", "instances": inst, "frame_ms": {"p50": ms},
                "accuracy": acc, "accuracy_source": source, "peer": peer, "fps": 1000 / ms,
                "stages_ms": {"network" if semantic else "detector": {}}}

    rows = [row("fast", 20, 30.0), row("best", 45, 38.6), row("mid", 30, 35.0),
            row("peer", 5, 99.0, peer="maskrcnn-r50-fpn"), row("unknown", 10, None),
            row("light-load", 12, 50.0, inst=0), row("fcn", 8, 44.0, inst=0, semantic=True),
            # a figure not measured in the run (e.g. the thesis's) never counts
            row("borrowed", 5, 90.0, source="thesis, reported")]
    assert choose_for_budget(rows, 50)["config"] == "best"
    assert choose_for_budget(rows, 40)["config"] == "mid"
    assert choose_for_budget(rows, 25)["config"] == "fast"
    # the peer, the row without accuracy, the borrowed one and rows at another load never
    # count
    assert choose_for_budget(rows, 15) is None
    assert choose_for_budget(rows, 15, instances=0)["config"] == "light-load"
    assert choose_for_budget(rows, 10, task="semantic")["config"] == "fcn"  # mIoU vs mIoU only
    front = pareto_rows(rows)
    assert "measured accuracy only" in front["basis"] and front["instances"] == 10
    assert {x["config"] for x in front["instance"]} == {"fast", "best", "mid"}
    assert [x["config"] for x in front["semantic"]] == ["fcn"]


def test_person_boxes_are_separated_and_scripted_exactly() -> None:
    from edge import catalog
    from edge.pipeline import InstancePipeline

    desc = catalog.describe("ssd-isb-multi-shape", alpha=0.25, input_size=(320, 320))
    boxes = person_boxes(12, desc.input_size)
    assert boxes.shape == (12, 4) and (boxes[:, 2:] - boxes[:, :2] >= 12).all()

    class Net:
        def detect(self, image):
            h, w = desc.input_size
            return None, None, {s: np.zeros((8, h // s, w // s), np.float32) for s in (8, 16, 32)}

        def segment(self, b, crops):
            return np.ones((crops[0].shape[0], 1, *desc.mask_shape(desc.branches[b])), np.float32)

    res = InstancePipeline(desc, ScriptedDetections(Net(), desc, boxes))(
        np.zeros((320, 320, 3), np.uint8))
    assert len(res) == 12
    got = res.boxes[np.lexsort(res.boxes.T[::-1])]
    want = boxes[np.lexsort(boxes.T[::-1])]
    np.testing.assert_allclose(got, want, atol=0.05)
    assert mask_count(res) == 12  # Multi-Shape masks every scripted person


def test_single_shape_masks_few_of_the_scripted_people() -> None:
    """The row's ``masked``: Single-Shape's one branch takes few box shapes, so of 30
    scripted people only some get a mask (the count the tables show)."""
    from edge import catalog
    from edge.pipeline import InstancePipeline

    counts = {}
    for name in ("ssd-isb-single-shape", "ssd-isb-multi-shape"):
        desc = catalog.describe(name, alpha=0.25, input_size=(640, 640))

        class Net:
            def detect(self, image, desc=desc):
                h, w = desc.input_size
                return None, None, {s: np.zeros((8, h // s, w // s), np.float32)
                                    for s in (8, 16, 32)}

            def segment(self, b, crops, desc=desc):
                return np.ones((crops[0].shape[0], 1, *desc.mask_shape(desc.branches[b])),
                               np.float32)

        res = InstancePipeline(desc, ScriptedDetections(Net(), desc, person_boxes(
            30, desc.input_size)))(np.zeros((640, 640, 3), np.uint8))
        assert len(res) == 30
        counts[name] = mask_count(res)
    assert counts["ssd-isb-multi-shape"] == 30
    assert 0 < counts["ssd-isb-single-shape"] < 30


def _fast_peak(monkeypatch) -> None:
    """The achieved peak on small matrices (still ONNX Runtime's own kernels)."""
    import functools

    import edge.bench.peak as peak

    monkeypatch.setattr(peak, "achieved_peak",
                        functools.partial(peak.achieved_peak, n=128, repeats=1))


def test_a_tiny_run_writes_the_documented_schema(tmp_path, monkeypatch, capsys) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from edge.cli import bench
    from edge.optional import available

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _fast_peak(monkeypatch)
    out = tmp_path / "b.json"
    md = tmp_path / "b.md"
    rc = bench.main(["--configs", "ssd-isb-multi-shape", "--alpha", "0.25", "--input-size",
                     "96", "--instances", "0,2", "--frames", "2", "--precision", "fp32,int8",
                     "--json", str(out), "--markdown", str(md)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert {"cpu", "cores", "threads", "peak"} <= set(report["machine"])
    physical = report["machine"]["peak"]["physical"]
    achieved = report["machine"]["peak"]["achieved"]
    assert {"fp32_gmacs", "int8_gmacs", "clock_source", "assumptions"} <= set(physical)
    assert achieved["fp32_gmacs"] > 0 and "ONNX Runtime" in achieved["kernel"]
    ours = [r for r in report["rows"] if r["peer"] is None]
    peers = [r for r in report["rows"] if r["peer"]]
    assert {(r["precision"], r["instances"]) for r in ours} == {
        ("fp32", 0), ("fp32", 2), ("int8", 0), ("int8", 2)}
    for r in report["rows"]:
        assert {"config", "backend", "precision", "alpha", "input_size", "instances", "masked",
                "fps", "stages_ms", "peak_rss_mb", "params", "peer"} <= set(r)
        assert 0 <= r["masked"] <= r["instances"]
        for stats in r["stages_ms"].values():
            assert {"p50", "p90", "p99"} <= set(stats)
    two = next(r for r in ours if r["instances"] == 2 and r["precision"] == "fp32")
    assert {"preprocess", "detector", "postprocess", "crop", "branches", "paste", "render",
            "decode"} <= set(two["stages_ms"])
    assert two["params"] > 0 and two["file_mb"] > 0 and two["activation_mb"] > 0
    assert 0 < two["overhead_share"] < 1 and "branches_sequential_ms" in two
    assert two["masked"] == 2  # Multi-Shape masks both scripted people
    # share of peak: FP32 against the physical float32 peak, INT8 against the int8 one
    if physical["fp32_gmacs"]:
        assert two["peak_share"] == pytest.approx(two["gmacs_per_s"] / physical["fp32_gmacs"])
    int8 = next(r for r in ours if r["instances"] == 2 and r["precision"] == "int8")
    if physical["int8_gmacs"]:
        assert int8["peak_share"] == pytest.approx(int8["gmacs_per_s"] / physical["int8_gmacs"])
    # peers: PyTorch eager per row of ours, Mask R-CNN only when torchvision imports
    eager = [p for p in peers if p["peer"] == "pytorch-eager"]
    mrcnn = [p for p in peers if p["peer"] == "maskrcnn-r50-fpn"]
    assert [p["instances"] for p in eager] == [0, 2]
    assert len(eager) + len(mrcnn) == len(peers)
    if available("torchvision"):
        assert [p["instances"] for p in mrcnn] == [0, 2]
    else:
        assert mrcnn == [] and any("torchvision" in n for n in report["notes"])
    text = md.read_text()
    assert "## Every configuration" in text and "| inst | masked |" in text
    assert "## This machine's peak" in text and "Achieved:" in text
    # zoo rows have random weights: no accuracy, and none borrowed from the thesis
    assert all(r["accuracy"] is None and r["accuracy_source"] is None for r in ours)
    assert "measured accuracy only" in report["pareto"]["basis"]
    assert report["pareto"]["instance"] == [] and "No row has measured accuracy" in text
    # stdout is the report alone: the INT8 quantiser's prints went to logging
    stdout = capsys.readouterr().out
    assert stdout.startswith("# edge-seg benchmarks") and "Collecting tensor data" not in stdout


def test_zoo_rows_never_carry_the_thesis_accuracy(tmp_path, monkeypatch) -> None:
    """A zoo row of a configuration the thesis reports (Multi-Shape at depth 1.0: 38.60
    mask AP@0.50 in Table 5.5) still has no accuracy: its weights are random. The zoo
    export is a tiny real one, labelled depth 1.0."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    import edge.bench.suite as suite
    from edge.bench.thesis import thesis_accuracy
    from edge.description import ModelDescription
    from edge.export.onnx_export import read_manifest
    from tests.conftest import export_tiny_instance_model

    root = tmp_path / "zoo"
    export_tiny_instance_model(root / "fp32")
    (root / "bench.json").write_text(json.dumps(
        {"params": 1, "macs": {"detector": 1e6, "branches": 1e5}, "activation_bytes": {}}))
    desc = ModelDescription.from_dict(read_manifest(root / "fp32")["description"]).replace(
        alpha=1.0)
    assert thesis_accuracy(desc.name, desc.alpha, desc.isb_skip) == 38.60
    monkeypatch.setattr(suite, "zoo_desc", lambda name, alpha, size: desc)
    monkeypatch.setattr(suite, "prepare_export", lambda d, precisions, root=root: root)
    monkeypatch.setattr(suite, "machine_peaks", lambda threads: {"physical": {},
                                                                 "achieved": {}})
    monkeypatch.setattr(suite, "machine_info", lambda threads: {})
    monkeypatch.setattr(suite, "synthetic_frames", lambda size, n=8, seed=0: _frames(size))
    report = suite.run_suite(suite.BenchOptions(
        configs=["ssd-isb-multi-shape"], precisions=["fp32"], instances=[2], frames=1,
        peers=False, threads=1))
    (row,) = report["rows"]
    assert row["alpha"] == 1.0 and row["masked"] is not None
    assert row["accuracy"] is None and row["accuracy_source"] is None
    assert report["pareto"]["instance"] == []
    assert 38.60 in [t["accuracy"] for t in report["thesis"]]  # only in its own table


def _md_row(config, acc, metric, source, instances=10, semantic=False, masked=None,
            data=None):
    ms = {"p50": 20.0, "p90": 21.0, "p99": 22.0, "mean": 20.0}
    return {"config": config, "precision": "fp32", "instances": instances, "peer": None,
            "masked": None if semantic else (instances if masked is None else masked),
            "fps": 50.0, "frame_ms": ms, "stages_ms": {"network" if semantic else "detector": ms},
            "input_size": [640, 640], "accuracy": acc, "accuracy_metric": metric,
            "accuracy_source": source, "accuracy_data": data, "overhead_share": 0.25,
            "peak_share": None}


def test_markdown_shows_measured_accuracy_masks_and_the_thesis_apart() -> None:
    from edge.bench.peak import cpu_peak
    from edge.bench.report import markdown
    from edge.bench.thesis import HARDWARE, ROWS
    from tests.test_bench_peak import HASWELL

    physical = cpu_peak(HASWELL, 2, machine="x86_64")
    report = {"machine": {"cpu": "cpu", "cores": 2, "threads": 2, "date": "d",
                          "peak": {"physical": physical,
                                   "achieved": {"fp32_gmacs": 60.0, "int8_gmacs": 90.0,
                                                "kernel": "ONNX Runtime MatMul"}}},
              "rows": [_md_row("mine", 53.194736, "mask AP@0.50", "measured", data="val"),
                       _md_row("ssd-isb-single-shape", None, None, None, 30, masked=10),
                       _md_row("mobilenet-fcn8", 41.0, "mIoU", "measured", 0, True,
                               data="cityscapes"),
                       _md_row("untrained", None, None, None)],
              "thesis": [r.__dict__ for r in ROWS], "thesis_hardware": HARDWARE, "notes": []}
    text = markdown(report, budget_ms=30)
    head = text.split("## Every configuration")[0]
    assert "Physical peak" in head and "float32 80 GMAC/s" in head  # 2 x 2 x 8 x 2.5
    assert "Assumed: 2 FMA pipes" in head and "no VNNI" in head
    assert "Achieved: float32 60 GMAC/s (75% of physical)" in head
    table = text.split("## Every configuration")[1].split("##")[0]
    assert "| inst | masked |" in table and "| RSS +MB | accuracy |" in table
    assert "| ssd-isb-single-shape | fp32 | 30 | 10/30 |" in table
    assert "| mobilenet-fcn8 | fp32 | 0 | - |" in table
    assert "| 53.19 mask AP@0.50 (measured) |" in table
    assert "| 41.00 mIoU (measured) |" in table and table.count("| - |\n") == 2
    assert "thesis" not in table.split("|---")[1]  # no thesis figure among our rows
    assert "| 25% | - |" in table  # overhead, and a missing peak share
    front = text.split("## Speed / accuracy Pareto front")[1].split("##")[0]
    assert "measured accuracy only" in front and "| mine | fp32 |" in front
    thesis = text.split("## The thesis's rows")[1].split("## Budget")[0]
    assert "accuracy (the thesis's) | data (the thesis's) |" in thesis
    assert "| 8.824 mask AP@0.50 | COCO, person class" in thesis and HARDWARE in thesis
    assert "| 43.46 mIoU | Cityscapes" in thesis and "never in the Pareto front" in thesis
    budget = text.split("## Budget")[1]
    assert "measured accuracy only" in budget
    assert "accuracy 53.19 mask AP@0.50 (measured) on val." in budget
    assert "accuracy 41.00 mIoU (measured) on cityscapes." in budget


def test_budget_compares_at_ten_instances_else_the_largest_count() -> None:
    from edge.bench.suite import budget_load

    rows = [_md_row("a", 30.0, "mask AP@0.50", "measured", 0),
            _md_row("b", 35.0, "mask AP@0.50", "measured", 30)]
    assert budget_load(rows) == 30
    assert choose_for_budget(rows, 50)["config"] == "b"
    assert choose_for_budget(rows, 50, instances=0)["config"] == "a"
    assert budget_load(rows + [_md_row("c", 1.0, "mask AP@0.50", "measured", 10)]) == 10
    assert budget_load([_md_row("f", 1.0, "mIoU", "measured", 0, True)]) is None


def test_maskrcnn_peer_on_a_tiny_input(monkeypatch) -> None:
    """torchvision's Mask R-CNN R50-FPN, random weights, on a 64x64 input: a row per
    instance count, with what it masked."""
    pytest.importorskip("torchvision")
    pytest.importorskip("cv2")
    import edge.bench.suite as suite

    monkeypatch.setattr(suite, "synthetic_frames", lambda size, n=8, seed=0: _frames(size))
    opts = suite.BenchOptions(configs=["ssd-isb-multi-shape"], instances=[0, 2], frames=1)
    rows = suite._maskrcnn(opts, (64, 64), 1, {"fp32_gmacs": 1.0}, lambda msg: None)
    assert [r["instances"] for r in rows] == [0, 2]
    for r in rows:
        assert r["peer"] == "maskrcnn-r50-fpn" and r["params"] > 1_000_000
        assert r["fps"] > 0 and r["stages_ms"]["network"]["p50"] > 0
        assert 0 <= r["masked"] <= r["instances"]


def _frames(size):
    import cv2

    return [cv2.imencode(".png", np.zeros((*size, 3), np.uint8))[1].tobytes()]


def test_demo_accuracy_is_measured_on_generated_held_out_scenes(tmp_path, monkeypatch,
                                                                capsys) -> None:
    """``--model demo`` without --data: each precision's accuracy is measured in the run,
    exactly as edge-build eval computes it, on generated scenes of seed 4242 at the demo's
    input size; the budget and the Pareto front use it."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("pycocotools")
    pytest.importorskip("cv2")
    import functools

    import edge.bench.suite as suite
    from edge.cli import bench
    from edge.evaluate import measure_accuracy
    from edge.runtime.model import DEMO_EXPORT

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from edge.bench.peak import cpu_peak
    from tests.test_bench_peak import ZEN5

    monkeypatch.setattr(suite, "machine_peaks", lambda threads: {
        "physical": cpu_peak(ZEN5, 2, machine="x86_64"),
        "achieved": {"fp32_gmacs": 50.0, "int8_gmacs": 100.0, "kernel": "k"}})
    monkeypatch.setattr(suite, "synthetic_frames", functools.partial(suite.synthetic_frames, n=1))
    out = tmp_path / "b.json"
    assert bench.main(["--model", "demo", "--holdout-images", "3", "--precision", "fp32",
                       "--instances", "0", "--frames", "1", "--no-peers", "--budget-ms", "1e6",
                       "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    (row,) = report["rows"]
    assert row["config"] == "demo" and row["accuracy_source"] == "measured"
    assert "seed 4242" in row["accuracy_data"] and "3 generated held-out scenes" in \
        row["accuracy_data"]
    size = row["input_size"]
    folder = (tmp_path / "cache" / "edge-seg" / "bench"
              / f"holdout-seed4242-{size[0]}x{size[1]}-n3")
    assert json.loads((folder / "annotations.json").read_text())["info"]["seed"] == 4242
    assert row["accuracy"] == measure_accuracy(DEMO_EXPORT, folder, "fp32")["accuracy"]
    assert report["budget"]["instance"]["config"] == "demo"
    assert "measured accuracy only" in report["budget"]["basis"]
    assert [x["config"] for x in report["pareto"]["instance"]] == ["demo"]
    assert "seed 4242" in capsys.readouterr().out


def test_only_expected_errors_become_notes(monkeypatch) -> None:
    """A precision an export lacks or a missing extra (EdgeError) is a note; a bug raises."""
    import edge.bench.suite as suite
    from edge.errors import MissingDependencyError, ModelFileError
    from edge.runtime.model import Pipeline

    monkeypatch.setattr(suite, "machine_peaks", lambda threads: {"physical": {},
                                                                 "achieved": {}})
    monkeypatch.setattr(suite, "machine_info", lambda threads: {})
    opts = suite.BenchOptions(models=["demo"], precisions=["fp32"], peers=False,
                              instances=[0], frames=1)
    for exc in (ModelFileError("no fp16 graphs in this export"),
                MissingDependencyError("needs tensorrt")):
        def refuse(*a, exc=exc, **k):
            raise exc

        monkeypatch.setattr(Pipeline, "from_dir", classmethod(lambda cls, *a, **k: refuse()))
        report = suite.run_suite(opts)
        assert report["rows"] == [] and report["notes"] == [f"demo fp32: {exc}"]

    def bug(cls, *a, **k):
        raise TypeError("a bug")

    monkeypatch.setattr(Pipeline, "from_dir", classmethod(bug))
    with pytest.raises(TypeError, match="a bug"):
        suite.run_suite(opts)


def test_the_held_out_seed_is_no_training_or_calibration_seed() -> None:
    """Seed 4242 appears in none of the recipes that made or calibrated the demo model."""
    import re
    from pathlib import Path

    from edge.bench.suite import HOLDOUT_SEED

    root = Path(__file__).resolve().parent.parent
    texts = [p.read_text(errors="replace") for pattern in
             ("README.md", "docs/*.md", "tools/*.sh", "tools/*.py", "calibration/*.json",
              "edge/demo/**/*.json") for p in root.glob(pattern) if p.is_file()]
    used = {int(s) for t in texts for s in re.findall(r"--seed[ =](\d+)", t)}
    used |= {int(s) for t in texts for s in re.findall(r'"seed":\s*(\d+)', t)}
    assert used and HOLDOUT_SEED not in used


def test_eager_peer_results_render_with_the_models_classes() -> None:
    """The PyTorch-eager adapter hands the renderer the model's class names: a semantic
    label map of 19 Cityscapes classes renders (it crashed with a one-class stand-in)."""
    from edge.bench.suite import _EagerPipe
    from edge.description import CITYSCAPES_CLASSES
    from edge.pipeline import Stopwatch
    from edge.runtime.render import Renderer

    labels = (np.arange(32 * 48).reshape(32, 48) % 19).astype(np.uint8)

    class Core:  # an edge.pipeline core returning a label map
        desc = type("Desc", (), {"class_names": CITYSCAPES_CLASSES})()

        def __call__(self, frame, sw):
            return labels

    res = _EagerPipe(Core())(np.zeros((32, 48, 3), np.uint8), Stopwatch())
    assert res.class_names == CITYSCAPES_CLASSES
    out = Renderer(legend=False)(np.zeros((32, 48, 3), np.uint8), res)
    assert out.shape == (32, 48, 3) and out.any()
