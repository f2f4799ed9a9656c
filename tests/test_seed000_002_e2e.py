"""Seeds 000 and 002 end to end, as a user types them: ``edge-build dataset synth --kind
fashion / voc``, ``edge-build train`` (joint detector + RoI-masked segmentation with and
without ground-truth masking; DeepLab-LargeFOV with a feedback loss, then the seed's
head-only fine-tune), ``edge-build export`` (parity inside), ``edge-build check``,
``edge-build calibrate``, ``edge-build eval``, ``edge-build fixations``, ``edge-run`` and
an ``edge-bench`` row. Small inputs and a couple of steps: plumbing, not accuracy
(docs/seeds-000-002.md has the trained results)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.cli import bench as bench_cli
from edge.cli import build as build_cli
from edge.cli import run as run_cli

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("seed2data")
    out = {}
    for kind in ("fashion", "voc"):
        out[kind] = root / kind
        assert build_cli.main(["dataset", "synth", "--kind", kind, "--images", "16", "--size",
                               "96", "96", "--seed", "5", "--out", str(out[kind]),
                               "--workers", "1", "--json"]) == 0
    return out


def _train(model: str, data: Path, run: Path, size: int, extra: list[str], capsys) -> list[dict]:
    rc = build_cli.main(["train", "--model", model, "--data", str(data), "--out", str(run),
                         "--steps", "2", "--batch-size", "2", "--input-size", str(size),
                         str(size), "--json", *extra])
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()
    return [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines()]


def _export_check_run_bench(weights: Path, data: Path, tmp_path: Path, capsys) -> Path:
    exp = tmp_path / "export"
    assert build_cli.main(["export", "--model", str(weights), "--out", str(exp), "--no-fp16",
                           "--json"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert build_cli.main(["check", str(exp), "--json"]) == 0, capsys.readouterr().out
    capsys.readouterr()
    jsonl = tmp_path / "run.jsonl"
    assert run_cli.main(["--model", str(exp), "--images", str(data / "images"), "--headless",
                         "--frames", "2", "--json", str(jsonl)]) == 0, capsys.readouterr().err
    assert len(jsonl.read_text().splitlines()) == 2
    capsys.readouterr()
    bench = tmp_path / "bench.json"
    assert bench_cli.main(["--model", str(exp), "--configs", "none", "--precision", "fp32",
                           "--frames", "2", "--json", str(bench)]) == 0, capsys.readouterr().err
    assert json.loads(bench.read_text())["rows"][0]["precision"] == "fp32"
    return exp


@pytest.mark.parametrize("model, extra", [
    ("roimask", []),
    ("roimask", ["--no-gt-masking", "--roi-source", "pred"]),
    ("roimask-crop", ["--no-augment"]),
    ("roimask-unmasked", ["--no-augment"]),
], ids=["mask", "mask-pred-rois-no-gt-masking", "crop", "unmasked"])
def test_roimask_trains_jointly_exports_and_runs(model, extra, data, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    log = _train(model, data["fashion"], run, 64, ["--alpha", "0.25", *extra], capsys)
    assert {"ce", "loc", "cls"} <= set(log[-1]) and np.isfinite(log[-1]["loss"])
    from edge.train.checkpoint import read_description

    desc = read_description(run / "weights.npz")
    assert desc.detector_classes == ("person",) and desc.num_classes == 18
    if model == "roimask":
        _export_check_run_bench(run / "weights.npz", data["fashion"], tmp_path, capsys)


def test_roimask_needs_boxes(data, tmp_path, capsys) -> None:
    parts = tmp_path / "parts"
    assert build_cli.main(["dataset", "synth", "--kind", "parts", "--images", "2", "--size",
                           "64", "64", "--out", str(parts), "--json"]) == 0
    capsys.readouterr()
    rc = build_cli.main(["train", "--model", "roimask", "--data", str(parts), "--out",
                         str(tmp_path / "r"), "--steps", "1", "--input-size", "64", "64"])
    assert rc != 0
    err = capsys.readouterr().err
    assert "boxes" in err and "--kind fashion" in err and "Traceback" not in err


def test_roimask_exports_at_another_size_and_calibrates(data, tmp_path, capsys) -> None:
    """A checkpoint trained at 64 exports at 96 (anchors and grids rebuilt) and calibrates
    to INT8 through ONNX Runtime's quantiser."""
    run = tmp_path / "run"
    _train("roimask", data["fashion"], run, 64, ["--alpha", "0.25", "--no-augment"], capsys)
    exp, cal = tmp_path / "export", tmp_path / "int8"
    assert build_cli.main(["export", "--model", str(run / "weights.npz"), "--input-size", "96",
                           "96", "--out", str(exp), "--no-fp16", "--json"]) == 0, \
        capsys.readouterr().err
    capsys.readouterr()
    rc = build_cli.main(["calibrate", "--export", str(exp), "--set",
                         str(data["fashion"] / "images"), "--out", str(cal), "--count", "16",
                         "--json"])
    assert rc == 0, capsys.readouterr().err
    manifest = json.loads((cal / "manifest.json").read_text())
    assert any("int8" in f["file"] for f in manifest["files"])


def test_deeplab_feedback_loss_then_head_finetune_eval_and_fixations(data, tmp_path,
                                                                     capsys) -> None:
    base = tmp_path / "base"
    common = ["--fc-width", "32", "--alpha", "0.25"]
    log = _train("deeplab-largefov-mobilenet", data["voc"], base, 64,
                 [*common, "--feedback-loss", "selective-cosine", "--feedback-weight", "0.05",
                  "--feedback-reduction", "mean"], capsys)
    assert "feedback" in log[-1]
    ft = tmp_path / "ft"
    log = _train("deeplab-largefov-mobilenet", data["voc"], ft, 64,
                 [*common, "--preset", "seed002-finetune", "--init",
                  str(base / "weights.npz"), "--feedback-loss", "correlation",
                  "--feedback-weight", "0.5"], capsys)
    assert log[-1]["lr"] < 1e-4  # poly from 1e-4
    from edge.train.checkpoint import load_model

    _, a, _ = load_model(base / "weights.npz")
    _, b, _ = load_model(ft / "weights.npz")
    sa, sb = a.state_dict(), b.state_dict()
    head = {k for k in sa if k.startswith(("fc6", "fc7", "fc8"))}
    assert head and all(torch.equal(sa[k], sb[k]) for k in sa if k not in head)  # frozen
    assert any(not torch.equal(sa[k], sb[k]) for k in head)  # the head learnt
    ev = tmp_path / "eval.json"
    assert build_cli.main(["eval", "--model", str(ft / "weights.npz"), "--data",
                           str(data["voc"]), "--json", str(ev)]) == 0, capsys.readouterr().err
    assert 0 <= json.loads(ev.read_text())["mIoU"] <= 1
    capsys.readouterr()
    fx = tmp_path / "fix"
    assert build_cli.main(["fixations", "--model", str(ft / "weights.npz"), "--data",
                           str(data["voc"]), "--images", "2", "--out", str(fx), "--json"]) == 0
    report = json.loads((fx / "fixations.json").read_text())
    assert len(report["images"]) == 2
    files = [f for r in report["images"] for f in r["files"]]
    assert files and all(Path(f).is_file() for f in files)
    exp = _export_check_run_bench(ft / "weights.npz", data["voc"], tmp_path, capsys)
    cal = tmp_path / "int8"
    assert build_cli.main(["calibrate", "--export", str(exp), "--set",
                           str(data["voc"] / "images"), "--out", str(cal), "--count", "16",
                           "--json"]) == 0, capsys.readouterr().err
    assert any("int8" in f["file"] for f in json.loads((cal / "manifest.json").read_text())[
        "files"])


def test_a_roimask_checkpoint_refuses_boxes_of_other_classes(data, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    _train("roimask", data["fashion"], run, 64, ["--alpha", "0.25", "--no-augment"], capsys)
    rc = build_cli.main(["train", "--model", str(run / "weights.npz"), "--data",
                         str(data["voc"]), "--out", str(tmp_path / "again"), "--steps", "1"])
    assert rc != 0
    err = capsys.readouterr().err
    assert "person" in err and "Traceback" not in err


def test_fixations_refuse_a_folder_of_other_classes(data, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    _train("deeplab-largefov-mobilenet", data["voc"], run, 64,
           ["--alpha", "0.25", "--fc-width", "16", "--no-augment"], capsys)
    rc = build_cli.main(["fixations", "--model", str(run / "weights.npz"), "--data",
                         str(data["fashion"]), "--out", str(tmp_path / "fx")])
    assert rc != 0 and "classes" in capsys.readouterr().err


def test_vgg16_largefov_trains_a_step_and_exports(data, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    _train("deeplab-largefov", data["voc"], run, 64, ["--fc-width", "16", "--no-augment"],
           capsys)
    exp = tmp_path / "export"
    assert build_cli.main(["export", "--model", str(run / "weights.npz"), "--out", str(exp),
                           "--no-fp16", "--json"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert build_cli.main(["check", str(exp), "--json"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--model", "icnet", "--feedback-loss", "cosine"], "fc7"),
    (["--model", "icnet", "--finetune", "head"], "head"),
    (["--model", "icnet", "--fc-width", "64"], "--fc-width"),
    (["--model", "deeplab-largefov", "--roi-boxes", "4"], "--roi-boxes"),
    (["--model", "deeplab-largefov", "--alpha", "0.5"], "--alpha"),
    (["--model", "deeplab-largefov-mobilenet", "--feedback-loss", "cosine",
      "--feedback-weight", "-1"], "--feedback-weight"),
    (["--model", "roimask", "--feedback-loss", "cosine"], "--feedback-loss"),
    (["--model", "deeplab-largefov-mobilenet", "--roi-source", "pred"], "--roi-source"),
    (["--model", "deeplab-largefov-mobilenet", "--no-gt-masking"], "--no-gt-masking"),
])
def test_misplaced_seed_options_are_refused(argv, message, data, tmp_path, capsys) -> None:
    rc = build_cli.main(["train", "--data", str(data["voc"]), "--out", str(tmp_path / "o"),
                         "--steps", "1", "--input-size", "64", "64", *argv])
    assert rc != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
