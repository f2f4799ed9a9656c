"""edge-bench's benchmark: statistics and frame timing on a fake clock, the Pareto front
and the budget choice on fake rows, controlled instance counts, and the JSON schema of a
tiny real run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.bench.suite import (ScriptedDetections, choose_for_budget, pareto_front,
                              person_boxes, summarize, time_frames)
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

    def row(cfg, ms, acc, peer=None, inst=10, semantic=False):
        return {"config": cfg, "precision": "fp32", "instances": inst, "frame_ms": {"p50": ms},
                "accuracy": acc, "accuracy_source": "test", "peer": peer,
                "stages_ms": {"network" if semantic else "detector": {}}}

    rows = [row("fast", 20, 30.0), row("best", 45, 38.6), row("mid", 30, 35.0),
            row("peer", 5, 99.0, peer="maskrcnn-r50-fpn"), row("unknown", 10, None),
            row("light-load", 12, 50.0, inst=0), row("fcn", 8, 44.0, inst=0, semantic=True)]
    assert choose_for_budget(rows, 50)["config"] == "best"
    assert choose_for_budget(rows, 40)["config"] == "mid"
    assert choose_for_budget(rows, 25)["config"] == "fast"
    # the peer, the row without accuracy and rows at another load never count
    assert choose_for_budget(rows, 15) is None
    assert choose_for_budget(rows, 15, instances=0)["config"] == "light-load"
    assert choose_for_budget(rows, 10, task="semantic")["config"] == "fcn"  # mIoU vs mIoU only


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


def test_a_tiny_run_writes_the_documented_schema(tmp_path, monkeypatch, capsys) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from edge.cli import bench

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "b.json"
    md = tmp_path / "b.md"
    rc = bench.main(["--configs", "ssd-isb-multi-shape", "--alpha", "0.25", "--input-size",
                     "96", "--instances", "0,2", "--frames", "2", "--precision", "fp32,int8",
                     "--json", str(out), "--markdown", str(md)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert {"cpu", "cores", "threads", "peak_gmacs_fp32"} <= set(report["machine"])
    ours = [r for r in report["rows"] if r["peer"] is None]
    peers = [r for r in report["rows"] if r["peer"]]
    assert {(r["precision"], r["instances"]) for r in ours} == {
        ("fp32", 0), ("fp32", 2), ("int8", 0), ("int8", 2)}
    for r in report["rows"]:
        assert {"config", "backend", "precision", "alpha", "input_size", "instances", "fps",
                "stages_ms", "peak_rss_mb", "params", "peer"} <= set(r)
        for stats in r["stages_ms"].values():
            assert {"p50", "p90", "p99"} <= set(stats)
    two = next(r for r in ours if r["instances"] == 2 and r["precision"] == "fp32")
    assert {"preprocess", "detector", "postprocess", "crop", "branches", "paste", "render",
            "decode"} <= set(two["stages_ms"])
    assert two["params"] > 0 and two["file_mb"] > 0 and two["activation_mb"] > 0
    assert 0 < two["overhead_share"] < 1 and "branches_sequential_ms" in two
    assert [p["peer"] for p in peers] == ["pytorch-eager"] * 2
    assert "## Every configuration" in md.read_text()
    # depth 0.25 is no thesis row: no accuracy, and none borrowed from another depth
    assert all(r["accuracy"] is None and r["accuracy_source"] is None for r in ours)
    # stdout is the report alone: the INT8 quantiser's prints went to logging
    stdout = capsys.readouterr().out
    assert stdout.startswith("# edge-seg benchmarks") and "Collecting tensor data" not in stdout


def test_accuracy_fields_say_whose_figure_it_is() -> None:
    from edge import catalog
    from edge.bench.suite import reported_accuracy

    ms = reported_accuracy(catalog.describe("ssd-isb-multi-shape"))
    assert ms["accuracy"] == 38.60 and ms["accuracy_metric"] == "mask AP@0.50"
    assert ms["accuracy_source"] == "thesis, reported"
    assert "Table 5.5" in ms["accuracy_detail"] and "not measured here" in ms["accuracy_detail"]
    fcn = reported_accuracy(catalog.describe("mobilenet-fcn8"))
    assert (fcn["accuracy"], fcn["accuracy_metric"]) == (43.46, "mIoU")
    none = reported_accuracy(catalog.describe("ssd-isb-multi-shape", alpha=0.25))
    assert set(none.values()) == {None}


def _md_row(config, acc, metric, source, instances=10, semantic=False):
    ms = {"p50": 20.0, "p90": 21.0, "p99": 22.0, "mean": 20.0}
    return {"config": config, "precision": "fp32", "instances": instances, "peer": None,
            "fps": 50.0, "frame_ms": ms, "stages_ms": {"network" if semantic else "detector": ms},
            "input_size": [640, 640], "accuracy": acc, "accuracy_metric": metric,
            "accuracy_source": source, "overhead_share": 0.25, "peak_share": None}


def test_markdown_has_an_accuracy_column_with_metric_and_source() -> None:
    from edge.bench.report import markdown
    from edge.bench.thesis import HARDWARE, ROWS

    report = {"machine": {"cpu": "cpu", "cores": 2, "threads": 2, "date": "d",
                          "peak_gmacs_fp32": 1.0},
              "rows": [_md_row("mine", 53.194736, "mask AP@0.50", "measured"),
                       _md_row("ssd-isb-multi-shape", 38.6, "mask AP@0.50", "thesis, reported"),
                       _md_row("mobilenet-fcn8", 43.46, "mIoU", "thesis, reported", 0, True),
                       _md_row("untrained", None, None, None)],
              "thesis": [r.__dict__ for r in ROWS], "thesis_hardware": HARDWARE, "notes": []}
    text = markdown(report, budget_ms=30)
    table = text.split("## Every configuration")[1].split("##")[0]
    assert "| RSS +MB | accuracy |" in table
    assert "| 53.19 mask AP@0.50 (measured) |" in table
    assert "| 38.60 mask AP@0.50 (thesis, reported) |" in table
    assert "| 43.46 mIoU (thesis, reported) |" in table and table.count("| - |\n") == 1
    assert "| 25% | - |" in table  # overhead, and a missing peak share
    thesis = text.split("## The thesis's rows")[1]
    assert "accuracy (thesis, reported) |" in thesis and "| 8.824 mask AP@0.50 |" in thesis
    assert "accuracy 53.19 mask AP@0.50 (measured)." in text
    assert "accuracy 43.46 mIoU (thesis, reported)." in text


def test_budget_compares_at_ten_instances_else_the_largest_count() -> None:
    from edge.bench.suite import budget_load

    rows = [_md_row("a", 30.0, "mask AP@0.50", "measured", 0),
            _md_row("b", 35.0, "mask AP@0.50", "measured", 30)]
    assert budget_load(rows) == 30
    assert choose_for_budget(rows, 50)["config"] == "b"
    assert choose_for_budget(rows, 50, instances=0)["config"] == "a"
    assert budget_load(rows + [_md_row("c", 1.0, "mask AP@0.50", "measured", 10)]) == 10
    assert budget_load([_md_row("f", 1.0, "mIoU", "measured", 0, True)]) is None
