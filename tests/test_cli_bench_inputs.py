"""edge-bench's inputs through the real argument parser: the accuracy it reports is
``edge-build eval``'s, valid zeros reach the benchmark unchanged, and every invalid value
is refused with exit 2 and one line on stderr naming the option (no traceback, nothing
run). The benchmark functions are replaced at the module boundary, so these are fast."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

import edge
from edge.cli import bench, build

DEMO_EXPORT = Path(edge.__file__).parent / "demo" / "export"


def _refused(capsys, argv: list[str], option: str) -> str:
    """``bench.main(argv)`` exits 2 with one stderr line naming ``option``; stdout empty."""
    rc = bench.main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (argv, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("edge-bench: error: ") and option in lines[0], lines[0]
    assert "Traceback" not in err and out == ""
    return lines[0]


def _report(rows=()) -> dict:
    return {"machine": {"cpu": "test cpu", "cores": 2, "threads": 2, "date": "2026-01-01"},
            "rows": list(rows), "thesis": [], "thesis_hardware": "test", "notes": []}


@pytest.fixture
def suite_calls(monkeypatch) -> list:
    """Captures the BenchOptions edge-bench (no command) hands to run_suite."""
    import edge.bench.suite as suite

    calls: list = []

    def fake_run_suite(opts, progress=None):
        calls.append(opts)
        return _report()

    monkeypatch.setattr(suite, "run_suite", fake_run_suite)
    return calls


@pytest.fixture
def geometry_calls(monkeypatch) -> list:
    import edge.bench.geometry as geometry

    calls: list = []

    def fake(name, instances, repeats, seed=0):
        calls.append({"name": name, "instances": instances, "repeats": repeats, "seed": seed})
        ms = {"p50": 0.0, "p90": 0.0, "p99": 0.0, "mean": 0.0}
        return {"config": name, "instances": instances, "detections": instances,
                "masked": instances, "input_size": [640, 640],
                "stages_ms": {s: ms for s in ("postprocess", "assign", "crop", "paste")}}

    monkeypatch.setattr(geometry, "bench_config", fake)
    return calls


@pytest.fixture
def onnx_calls(monkeypatch) -> list:
    import edge.bench.onnx_models as onnx_models

    calls: list = []

    def fake(export_dir, precision, repeats, boxes=8, threads=None):
        calls.append({"model": export_dir, "precision": precision, "repeats": repeats,
                      "boxes": boxes, "threads": threads})
        return {"precision": precision, "boxes_per_branch": boxes,
                "stages_ms": {"detector": {"p50": 1.0, "p90": 1.0, "p99": 1.0, "mean": 1.0}}}

    monkeypatch.setattr(onnx_models, "bench_export", fake)
    return calls


# --------------------------------------------------------------------------- item 1: accuracy


def test_bench_accuracy_is_edge_build_eval_figure(tmp_path, monkeypatch, capsys) -> None:
    """On the shipped export and a tiny synthetic COCO set, edge-bench's accuracy column is
    exactly edge-build eval's mask AP50 x 100 (COCO's 0.05 score threshold), which here
    differs from the figure at the export's display threshold (the old bench's)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("pycocotools")
    pytest.importorskip("cv2")
    import edge.bench.suite as suite
    from edge.data.synth import write_dataset
    from edge.evaluate.runner import evaluate, headline, load_pipeline

    # not under test, and slow: the matmul peak and importing torch for its version
    monkeypatch.setattr(suite, "machine_peaks", lambda threads: {"physical": {},
                                                                 "achieved": {}})
    monkeypatch.setattr(suite, "machine_info", lambda threads: _report()["machine"])
    monkeypatch.setattr(suite, "synthetic_frames", functools.partial(suite.synthetic_frames, n=1))
    data = tmp_path / "data"
    write_dataset(str(data), 4, (96, 96), seed=3, progress=False)

    ev_json = tmp_path / "eval.json"
    assert build.main(["eval", "--model", str(DEMO_EXPORT), "--data", str(data),
                       "--json", str(ev_json)]) == 0
    expected = 100.0 * json.loads(ev_json.read_text())["segm"]["AP50"]
    display = headline(evaluate(load_pipeline(DEMO_EXPORT), data, progress=False), "instance")
    assert expected != display  # the data tells the two thresholds apart
    capsys.readouterr()

    out = tmp_path / "bench.json"
    assert bench.main(["--model", str(DEMO_EXPORT), "--data", str(data), "--precision", "fp32",
                       "--instances", "0", "--frames", "1", "--no-peers", "--budget-ms", "1e6",
                       "--json", str(out)]) == 0
    stdout = capsys.readouterr().out
    rows = json.loads(out.read_text())["rows"]
    assert [r["instances"] for r in rows] == [0]  # a valid zero: the row is there
    row = rows[0]
    assert row["accuracy"] == expected
    assert row["accuracy_metric"] == "mask AP@0.50" and row["accuracy_source"] == "measured"
    # the table's accuracy column and the budget line: rounded, with metric and source
    text = f"{expected:.2f} mask AP@0.50 (measured)"
    assert f"| {text} |" in stdout
    assert f"accuracy {text} on {data}." in stdout and repr(expected) not in stdout
    budget = json.loads(out.read_text())["budget"]["instance"]
    assert budget["accuracy"] == expected and budget["accuracy_metric"] == "mask AP@0.50"
    assert budget["accuracy_data"] == str(data)
    assert stdout.startswith("# edge-seg benchmarks")  # stdout carries only the report


def test_budget_line_rounds_the_accuracy(monkeypatch, capsys) -> None:
    import edge.bench.suite as suite

    def row(acc, source, instances=10):
        ms = {"p50": 20.0, "p90": 20.0, "p99": 20.0, "mean": 20.0}
        return {"config": "ssd-isb-multi-shape", "precision": "fp32", "instances": instances,
                "peer": None, "fps": 50.0, "frame_ms": ms, "stages_ms": {"detector": ms},
                "input_size": [640, 640], "accuracy": acc, "accuracy_metric": "mask AP@0.50",
                "accuracy_source": source, "overhead_share": 0.5, "peak_share": 0.0}

    monkeypatch.setattr(suite, "run_suite",
                        lambda opts, progress=None: _report([row(53.194736842, "measured")]))
    assert bench.main(["--budget-ms", "100"]) == 0
    out = capsys.readouterr().out
    assert "accuracy 53.19 mask AP@0.50 (measured) on " in out and "53.1947" not in out
    assert "| 50% | 0% |" in out  # a 0 peak share is 0%, not -
    assert "| 53.19 mask AP@0.50 (measured) |" in out

    # only --instances 0 measured: the budget compares at 0 instances, not nowhere
    monkeypatch.setattr(suite, "run_suite", lambda opts, progress=None: _report(
        [row(38.6, "measured", instances=0)]))
    assert bench.main(["--instances", "0", "--budget-ms", "100"]) == 0
    out = capsys.readouterr().out
    assert "SSD-ISB at 0 instances" in out
    assert "accuracy 38.60 mask AP@0.50 (measured)" in out

    # a figure that was not measured in the run (a thesis figure) is never chosen
    monkeypatch.setattr(suite, "run_suite", lambda opts, progress=None: _report(
        [row(38.6, "thesis, reported")]))
    assert bench.main(["--budget-ms", "100"]) == 2
    out, err = capsys.readouterr()
    assert "no configuration with measured accuracy meets it." in out
    assert len(err.strip().splitlines()) == 1 and "--model demo" in err


def test_budget_nobody_meets_says_why(monkeypatch, capsys) -> None:
    import edge.bench.suite as suite

    def row(acc):
        ms = {"p50": 200.0, "p90": 200.0, "p99": 200.0, "mean": 200.0}
        return {"config": "ssd-isb-multi-shape", "precision": "fp32", "instances": 10,
                "peer": None, "fps": 5.0, "frame_ms": ms, "stages_ms": {"detector": ms},
                "input_size": [640, 640], "accuracy": acc, "accuracy_metric": "mask AP@0.50",
                "accuracy_source": "measured"}

    for acc, words in ((38.6, ["raise it"]),
                       (None, ["measured accuracy", "--model DIR --data D", "--model demo"])):
        monkeypatch.setattr(suite, "run_suite", lambda opts, progress=None: _report([row(acc)]))
        assert bench.main(["--budget-ms", "100"]) == 2
        out, err = capsys.readouterr()
        assert out.startswith("# edge-seg benchmarks")  # the report is still printed
        assert len(err.strip().splitlines()) == 1 and "--budget-ms" in err
        assert all(w in err for w in words), err


# --------------------------------------------------------------------------- the suite


def test_suite_valid_zeros_reach_the_benchmark(suite_calls, tmp_path, capsys) -> None:
    assert bench.main(["--instances", "0"]) == 0
    assert suite_calls[-1].instances == [0]
    assert bench.main(["--instances", "0,10"]) == 0
    assert suite_calls[-1].instances == [0, 10]
    assert bench.main(["--instances", "0,0,10"]) == 0
    assert suite_calls[-1].instances == [0, 10]
    assert bench.main(["--size-curve", ""]) == 0  # empty: no curve, no crash
    assert suite_calls[-1].sizes == []
    assert bench.main(["--size-curve", "320,480"]) == 0
    assert suite_calls[-1].sizes == [320, 480]
    assert bench.main([]) == 0
    o = suite_calls[-1]
    assert o.configs == ["ssd-isb-multi-shape"] and o.models == [] and o.threads is None
    assert o.frames == 30 and o.instances == [0, 10, 30] and o.sizes == []
    assert bench.main(["--threads", "1", "--frames", "1", "--alpha", "0.25",
                       "--semantic-size", "256", "512", "--configs", "mobilenet-fcn8"]) == 0
    o = suite_calls[-1]
    assert (o.threads, o.frames, o.alpha, o.semantic_size) == (1, 1, 0.25, (256, 512))
    # --configs none / '' / omitted with --model: the model's rows only
    model = tmp_path / "export"
    model.mkdir()
    for configs in (["--configs", "none"], ["--configs", ""], []):
        assert bench.main([*configs, "--model", str(model)]) == 0
        assert suite_calls[-1].configs == [] and suite_calls[-1].models == [str(model)]
    assert bench.main(["--configs", "all", "--model", str(model)]) == 0
    assert len(suite_calls[-1].configs) > 10
    # the shipped model by name, its held-out scenes tunable
    assert bench.main(["--model", "demo", "--holdout-images", "7"]) == 0
    assert suite_calls[-1].models == ["demo"] and suite_calls[-1].holdout_images == 7
    assert suite_calls[-1].configs == []
    assert bench.main(["--model", "demo", "--data", str(model)]) == 0
    assert suite_calls[-1].data == str(model)
    assert len(suite_calls) == 13
    capsys.readouterr()


@pytest.mark.parametrize("argv, option", [
    (["--instances", ""], "--instances"),
    (["--instances", ","], "--instances"),
    (["--instances", "-1"], "--instances"),
    (["--instances", "0,-1"], "--instances"),
    (["--instances", "1.5"], "--instances"),
    (["--threads", "0"], "--threads"),
    (["--threads", "-1"], "--threads"),
    (["--frames", "0"], "--frames"),
    (["--frames", "-1"], "--frames"),
    (["--input-size", "0"], "--input-size"),
    (["--input-size", "100"], "--input-size"),
    (["--semantic-size", "0", "0"], "--semantic-size"),
    (["--configs", "mobilenet-fcn8", "--semantic-size", "256", "500"], "--semantic-size"),
    (["--alpha", "0"], "--alpha"),
    (["--alpha", "0.3"], "--alpha"),
    (["--precision", ""], "--precision"),
    (["--precision", "fp64"], "--precision"),
    (["--budget-ms", "0"], "--budget-ms"),
    (["--budget-ms", "-5"], "--budget-ms"),
    (["--budget-ms", "nan"], "--budget-ms"),
    (["--size-curve", "0"], "--size-curve"),
    (["--size-curve", "320,100"], "--size-curve"),
    (["--configs", ""], "--configs"),
    (["--configs", "none"], "--configs"),
    (["--configs", ","], "--configs"),
    (["--configs", "nope"], "--configs"),
    (["--data", "somewhere"], "--data"),
    (["--holdout-images", "0"], "--holdout-images"),
    (["--model", "demo", "--holdout-images", "-1"], "--holdout-images"),
    (["--model", ""], "--model"),
    (["--model", "/no/such/export"], "--model"),
    (["--json", ""], "--json"),
    (["--markdown", ""], "--markdown"),
    (["--plot", ""], "--plot"),
])
def test_suite_refuses_with_one_line(suite_calls, capsys, argv, option) -> None:
    _refused(capsys, argv, option)
    assert suite_calls == []  # refused before anything ran


def test_suite_data_must_exist(suite_calls, tmp_path, capsys) -> None:
    model = tmp_path / "export"
    model.mkdir()
    _refused(capsys, ["--model", str(model), "--data", str(tmp_path / "none")], "--data")
    _refused(capsys, ["--model", str(model), "--data", ""], "--data")
    assert suite_calls == []


def test_bench_options_check_refuses_library_zeros() -> None:
    from edge.bench.suite import BenchOptions
    from edge.errors import ConfigError

    BenchOptions(configs=["ssd-isb-multi-shape"], instances=[0]).check()  # valid
    for bad in ({"threads": 0}, {"frames": 0}, {"instances": []}, {"instances": [-1]},
                {"holdout_images": 0},
                {"input_size": 0}, {"sizes": [0]}, {"alpha": 0.0}, {"semantic_size": (0, 0)},
                {"precisions": []}, {"configs": []}):
        opts = BenchOptions(**{"configs": ["ssd-isb-multi-shape"], **bad})
        with pytest.raises(ConfigError):
            opts.check()


# --------------------------------------------------------------------------- geometry


def test_geometry_zero_instances_and_seed_reach_the_benchmark(geometry_calls, capsys) -> None:
    assert bench.main(["geometry", "--configs", "ssd-isb-multi-shape", "--instances", "0",
                       "--seed", "0", "--repeats", "1"]) == 0
    assert geometry_calls == [{"name": "ssd-isb-multi-shape", "instances": 0, "repeats": 1,
                               "seed": 0}]
    assert bench.main(["geometry", "--configs", "ssd-isb-multi-shape", "--instances", "0,10",
                       "--seed", "5"]) == 0
    assert [(c["instances"], c["seed"]) for c in geometry_calls[1:]] == [(0, 5), (10, 5)]
    out = capsys.readouterr().out
    assert "ssd-isb-multi-shape" in out


def test_geometry_zero_instances_for_real(capsys) -> None:
    assert bench.main(["geometry", "--configs", "ssd-isb-multi-shape", "--instances", "0",
                       "--repeats", "1"]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert row[:3] == ["ssd-isb-multi-shape", "0", "0"]  # config, instances, masks


@pytest.mark.parametrize("argv, option", [
    (["--instances", ""], "--instances"),
    (["--instances", "-1"], "--instances"),
    (["--repeats", "0"], "--repeats"),
    (["--repeats", "-1"], "--repeats"),
    (["--seed", "-1"], "--seed"),
    (["--configs", ""], "--configs"),
    (["--configs", ","], "--configs"),
    (["--configs", "mobilenet-fcn8"], "--configs"),
    (["--json", ""], "--json"),
])
def test_geometry_refuses_with_one_line(geometry_calls, capsys, argv, option) -> None:
    _refused(capsys, ["geometry", *argv], option)
    assert geometry_calls == []


# --------------------------------------------------------------------------- onnx


def test_onnx_zero_boxes_reaches_the_benchmark(onnx_calls, capsys) -> None:
    assert bench.main(["onnx", "--model", "m", "--boxes", "0", "--threads", "1",
                       "--repeats", "1"]) == 0
    assert onnx_calls == [{"model": "m", "precision": "fp32", "repeats": 1, "boxes": 0,
                           "threads": 1}]
    capsys.readouterr()


def test_onnx_zero_boxes_times_the_detector_alone(capsys) -> None:
    pytest.importorskip("onnxruntime")
    from edge.bench.onnx_models import bench_export

    row = bench_export(DEMO_EXPORT, "fp32", repeats=1, boxes=0, threads=1)
    assert list(row["stages_ms"]) == ["detector"] and row["boxes_per_branch"] == 0


@pytest.mark.parametrize("argv, option", [
    (["--boxes", "-1"], "--boxes"),
    (["--repeats", "0"], "--repeats"),
    (["--threads", "0"], "--threads"),
    (["--threads", "-1"], "--threads"),
    (["--precision", ""], "--precision"),
    (["--json", ""], "--json"),
])
def test_onnx_refuses_with_one_line(onnx_calls, capsys, argv, option) -> None:
    _refused(capsys, ["onnx", "--model", "m", *argv], option)
    assert onnx_calls == []


def test_onnx_refuses_an_empty_model(onnx_calls, capsys) -> None:
    _refused(capsys, ["onnx", "--model", ""], "--model")
    assert onnx_calls == []


# --------------------------------------------------------------------------- kernels, selftest


@pytest.mark.parametrize("argv, option", [
    (["kernels", "--repeats", "0"], "--repeats"),
    (["kernels", "--json", ""], "--json"),
    (["selftest", "--export", "e", "--repeats", "0"], "--repeats"),
    (["selftest", "--export", "e", "--precision", ""], "--precision"),
    (["selftest", "--export", "e", "--out", ""], "--out"),
    (["selftest", "--export", "e", "--engines", ""], "--engines"),
    (["selftest", "--export", ""], "--export"),
])
def test_kernels_and_selftest_refuse_with_one_line(monkeypatch, capsys, argv, option) -> None:
    import edge.bench.kernels as kernels
    import edge.bench.selftest as selftest

    def ran(*a, **k):
        raise AssertionError("ran despite a bad option")

    monkeypatch.setattr(kernels, "run_kernels", ran)
    monkeypatch.setattr(selftest, "run_selftest", ran)
    _refused(capsys, argv, option)


# --------------------------------------------------------------------------- stdout


def test_library_prints_go_to_logging_not_stdout(tmp_path, monkeypatch, capsys, caplog) -> None:
    """What the exporter or ONNX Runtime's quantiser print() while edge-bench prepares a
    zoo model is logged; stdout keeps only the report."""
    import logging

    import edge.bench.suite as suite
    from edge import catalog

    def noisy(desc, precisions, root, out, seed):
        print("Collecting tensor data and making histogram ...")
        print("Number of tensors : 15", end="")

    monkeypatch.setattr(suite, "_prepare", noisy)
    desc = catalog.describe("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96))
    with caplog.at_level(logging.INFO, logger="edge.bench.suite"):
        suite.prepare_export(desc, ["int8"], root=tmp_path)
    assert capsys.readouterr().out == ""
    assert [r.getMessage() for r in caplog.records] == [
        "Collecting tensor data and making histogram ...", "Number of tensors : 15"]
