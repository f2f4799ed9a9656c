"""Every seed system (001, 004) end to end, as a user types it: ``edge-build dataset synth``
(parts / squares), ``edge-build train`` with the seed's losses, ``edge-build export``
(PyTorch parity and the TensorRT parser check inside), ``edge-build check``,
``edge-build calibrate`` (ICNet), ``edge-run --video`` and an ``edge-bench`` row. Small
inputs and a couple of steps: this checks the plumbing; docs/seeds.md has the trained
results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import bench as bench_cli
from edge.cli import build as build_cli
from edge.cli import run as run_cli

pytest.importorskip("torch")

MODELS = [  # zoo name, size, extra train options (the seed's loss paths)
    ("icnet", 128, ["--class-weights", "w2", "--loss-form", "direct"]),
    ("segnet-basic", 64, ["--class-weights", "w1"]),  # augmented: mirrors with L/R swap
    ("segnet-basic-deconv", 64, ["--no-augment"]),
    ("segnet", 64, ["--no-augment"]),
    ("segnet-toy", 64, ["--no-augment"]),
    ("hourglass-edge", 128, ["--stacks", "2", "--features", "16", "--progressive", "--joints",
                             "24"]),
    ("hourglass", 64, ["--stacks", "1", "--features", "16", "--no-augment"]),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("seeddata")
    out = {}
    for kind in ("parts", "squares"):
        out[kind] = root / kind
        assert build_cli.main(["dataset", "synth", "--kind", kind, "--images", "16", "--size",
                               "128", "128", "--seed", "3", "--out", str(out[kind]),
                               "--json"]) == 0
    out["video"] = root / "street.mp4"
    assert build_cli.main(["dataset", "synth", "--video", str(out["video"]), "--frames", "4",
                           "--size", "128", "128", "--out", str(root / "unused"),
                           "--json"]) == 0
    return out


@pytest.mark.parametrize("name, size, extra", MODELS, ids=[m[0] for m in MODELS])
def test_a_seed_model_trains_exports_checks_runs_and_benches(name, size, extra, data,
                                                              tmp_path, capsys) -> None:
    kind = "squares" if name == "segnet-toy" else "parts"
    run = tmp_path / "run"
    rc = build_cli.main(["train", "--model", name, "--data", str(data[kind]), "--out", str(run),
                         "--steps", "2", "--batch-size", "2", "--input-size", str(size),
                         str(size), "--val", str(data[kind]), "--eval-every", "2", "--json",
                         *extra])
    assert rc == 0, capsys.readouterr().err
    log = [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 2 and "val_mIoU" in log[-1]
    if name.startswith("icnet"):  # three supervised outputs, each logged
        assert {"ce0", "ce1", "ce2"} <= set(log[-1])
    if "--joints" in extra:
        assert log[-1]["joints"] >= 0
    capsys.readouterr()
    exp = tmp_path / "export"
    assert build_cli.main(["export", "--model", str(run / "weights.npz"), "--out", str(exp),
                           "--no-fp16", "--json"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert build_cli.main(["check", str(exp), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "MaxUnpool" not in json.dumps(report)
    jsonl = tmp_path / "run.jsonl"
    assert run_cli.main(["--model", str(exp), "--video", str(data["video"]), "--headless",
                         "--frames", "3", "--json", str(jsonl)]) == 0, capsys.readouterr().err
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert len(lines) == 3 and all("classes" in ln or "segments" in ln or ln for ln in lines)
    capsys.readouterr()
    bench = tmp_path / "bench.json"
    assert bench_cli.main(["--model", str(exp), "--configs", "none", "--precision", "fp32",
                           "--frames", "2", "--json", str(bench)]) == 0, capsys.readouterr().err
    rows = json.loads(bench.read_text())["rows"]
    assert rows and rows[0]["precision"] == "fp32"


def test_icnet_calibrates_to_int8_and_the_engine_plan_reads_its_graphs(data, tmp_path,
                                                                      capsys) -> None:
    exp, cal = tmp_path / "export", tmp_path / "int8"
    assert build_cli.main(["export", "--model", "icnet", "--input-size", "128", "128",
                           "--out", str(exp), "--no-fp16", "--json"]) == 0
    capsys.readouterr()
    rc = build_cli.main(["calibrate", "--export", str(exp), "--set",
                         str(data["parts"] / "images"), "--out", str(cal), "--count", "16",
                         "--json"])
    assert rc == 0, capsys.readouterr().err
    manifest = json.loads((cal / "manifest.json").read_text())
    files = {f["file"] for f in manifest["files"]}
    assert {"model.int8.onnx", "model.int8-trt.onnx"} <= files or any(
        f.endswith(".calib.cache") for f in files), sorted(files)
