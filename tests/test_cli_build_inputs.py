"""``edge-build`` input handling through the real parser: bad values are refused with one
line and exit 2 (no traceback), valid zeros reach the code that uses them, and what a
command reports is what it ran (issue 11)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edge.cli import build

# ----------------------------------------------------------------------------- helpers


def refused(capsys, argv: list[str], *needles: str) -> str:
    """Run ``edge-build argv``: exit 2, exactly one stderr line naming every needle (log
    warnings from before the failure aside)."""
    rc = build.main(argv)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.strip().splitlines()
             if not line.startswith(("WARNING ", "INFO ", "DEBUG "))]
    assert rc == 2, (rc, captured.err[-2000:])
    assert len(lines) == 1, lines
    assert lines[0].startswith("edge-build: error: ") and "Traceback" not in captured.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def no_cuda(monkeypatch) -> None:
    """Make any torch look like a CPU-only build (deterministic on GPU machines too)."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """Six 64x64 synthetic scenes: COCO instances plus semantic labels."""
    pytest.importorskip("cv2")
    pytest.importorskip("pycocotools")
    from edge.data.synth import write_dataset

    root = tmp_path_factory.mktemp("inputs") / "data"
    write_dataset(str(root), 6, (64, 64), seed=2, workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def calib_images(tmp_path_factory) -> Path:
    """Twenty 64x64 scenes: enough for a calibration set (16 is the minimum)."""
    pytest.importorskip("cv2")
    pytest.importorskip("pycocotools")
    from edge.data.synth import write_dataset

    root = tmp_path_factory.mktemp("calib") / "calib"
    write_dataset(str(root), 20, (64, 64), seed=4, workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from tests.conftest import export_tiny_instance_model

    return export_tiny_instance_model(tmp_path_factory.mktemp("export") / "exp", (64, 64))


def _checkpoint(path: Path, name: str = "ssd-isb-multi-shape", **options) -> Path:
    """A .pt checkpoint of a small zoo model (untrained: only its description matters)."""
    pytest.importorskip("torch")
    from edge import catalog
    from edge.models.zoo import build_model
    from edge.train.checkpoint import save_checkpoint

    desc = catalog.describe(name, **{"alpha": 0.25, "input_size": (64, 64), **options})
    save_checkpoint(path, build_model(desc), desc, 1)
    return path


class Capture:
    """Stands in for a downstream function and records what the parser passed on."""

    def __init__(self, result=None) -> None:
        self.calls: list[tuple[tuple, dict]] = []
        self.result = result

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.result(*args, **kwargs) if callable(self.result) else self.result

    @property
    def args(self) -> tuple:
        (args, _), = self.calls
        return args

    @property
    def kwargs(self) -> dict:
        (_, kwargs), = self.calls
        return kwargs


def _fake_train(monkeypatch) -> Capture:
    pytest.importorskip("torch")
    from edge.train import trainer

    fake = Capture({"steps": 1, "seconds": 0.0, "out": "x", "loss_first": 1.0, "loss_last": 0.5})
    monkeypatch.setattr(trainer, "train", fake)
    return fake


def _train_argv(data: Path, out: Path, *extra: str, model: str = "ssd-isb-multi-shape"):
    small = ["--alpha", "0.25", "--input-size", "64", "64"] if "--alpha" not in extra else []
    return ["train", "--model", model, "--data", str(data), "--out", str(out), *small, *extra]


# ------------------------------------------------ item 1: eval runs what it says it runs


@pytest.mark.parametrize(("suffix", "precision"), [(".npz", "fp16"), (".pt", "int8"),
                                                    (".pt", "fp32,int8")])
def test_checkpoints_at_other_precisions_are_refused(tmp_path, capsys, suffix, precision) -> None:
    model = tmp_path / f"model{suffix}"
    model.write_bytes(b"not read: refused before loading")
    wanted = precision.split(",")[-1]
    line = refused(capsys, ["eval", "--model", str(model), "--data", str(tmp_path),
                            "--precision", precision], f"--precision {wanted}", "FP32",
                   f"edge-build export --model {model}")
    if wanted == "int8":
        assert "edge-build calibrate" in line


def test_demo_has_no_fp16_graphs_so_fp16_is_refused(tmp_path, capsys) -> None:
    refused(capsys, ["eval", "--model", "demo", "--data", str(tmp_path), "--precision", "fp16"],
            "--model demo --precision fp16", "no fp16", "edge-build export --model demo")


def test_demo_at_int8_evaluates_the_shipped_int8_export(synth, tmp_path, capsys) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from edge.runtime.model import DEMO_EXPORT

    out = tmp_path / "eval.json"
    assert build.main(["eval", "--model", "demo", "--data", str(synth), "--precision",
                       "fp32,int8", "--json", str(out)]) == 0
    runs = json.loads(out.read_text())["by_precision"]
    assert runs["int8"]["model"]["precision"] == "int8"
    assert runs["int8"]["model"]["backend"] == "onnxruntime"
    assert Path(runs["int8"]["model"]["path"]) == DEMO_EXPORT
    assert runs["fp32"]["model"]["precision"] == "fp32"
    assert runs["fp32"]["model"]["backend"] == "pytorch"
    table = capsys.readouterr().out
    assert "int8       onnxruntime" in table and "fp32       pytorch" in table


def test_export_folders_refuse_a_pytorch_device(tiny_export, capsys) -> None:
    refused(capsys, ["eval", "--model", str(tiny_export), "--data", "x", "--device", "cuda"],
            "--device cuda", "ONNX Runtime")


# ------------------------------------------------------------ item 2: dataset synth


def test_synth_refuses_a_foreign_non_empty_folder_and_loses_nothing(tmp_path, capsys) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    refused(capsys, ["dataset", "synth", "--out", str(out), "--images", "2", "--size", "64",
                     "64", "--workers", "1"], f"--out {out}", "not an edge-seg synthetic")
    refused(capsys, ["dataset", "synth", "--out", str(out), "--images", "2", "--overwrite"],
            "not an edge-seg synthetic")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"


def test_synth_replaces_a_previous_dataset_only_with_overwrite(tmp_path, capsys) -> None:
    pytest.importorskip("cv2")
    pytest.importorskip("pycocotools")
    out = tmp_path / "ds"
    base = ["dataset", "synth", "--out", str(out), "--size", "64", "64", "--workers", "1"]
    assert build.main([*base, "--images", "5"]) == 0
    text = capsys.readouterr().out
    assert f"wrote 5 images (64x64, seed 0) to {out}" in text and "{" not in text
    refused(capsys, [*base, "--images", "2"], "already holds a synthetic dataset (5 images)",
            "--overwrite")
    assert len(list((out / "images").iterdir())) == 5  # refused: untouched
    (out / "images" / "holiday.jpg").write_bytes(b"user file")
    refused(capsys, [*base, "--images", "2", "--overwrite"], "holiday.jpg", "nothing was removed")
    assert len(list((out / "images").iterdir())) == 6
    (out / "images" / "holiday.jpg").unlink()
    assert build.main([*base, "--images", "2", "--overwrite"]) == 0
    assert "replaced" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000000.jpg", "000001.jpg"]
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["000000.png", "000001.png"]
    assert len(json.loads((out / "annotations.json").read_text())["images"]) == 2
    assert build.main([*base, "--images", "2", "--overwrite", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset"]["images"] == 2


@pytest.mark.parametrize(("extra", "needles"), [
    (["--images", "-1"], ["--images must be 0 or more", "-1"]),
    ([], ["nothing to do"]),
    (["--images", "0"], ["nothing to do"]),
    (["--images", "2", "--video", "v.mp4", "--frames", "0"], ["--frames must be at least 1"]),
    (["--video", "v.mp4", "--frames", "-3"], ["--frames", "-3"]),
    (["--images", "2", "--workers", "0"], ["--workers must be at least 1"]),
    (["--images", "2", "--workers", "-2"], ["--workers", "-2"]),
    (["--images", "2", "--seed", "-1"], ["--seed must be 0 or more"]),
    (["--images", "2", "--video", ""], ["--video is empty"]),
    (["--images", "2", "--out", ""], ["--out is empty"]),
    (["--images", "2", "--size", "0", "0"], ["--size must be at least 64x64"]),
])
def test_synth_refuses_bad_counts(tmp_path, capsys, extra, needles) -> None:
    argv = ["dataset", "synth", "--out", str(tmp_path / "new"), *extra]
    refused(capsys, argv, *needles)
    assert not (tmp_path / "new").exists() and not Path("v.mp4").exists()


def test_synth_zero_images_with_a_video_and_seed_zero_are_honoured(tmp_path, capsys,
                                                                   monkeypatch) -> None:
    from edge.data import synth as synth_mod

    dataset = Capture({"images": 3, "instances": 1, "crowd": 0, "out": "d", "size": [64, 64],
                       "seed": 0, "removed": 0})
    video = Capture({"frames": 4, "fps": 25.0, "size": [64, 64], "out": "v.mp4"})
    monkeypatch.setattr(synth_mod, "write_dataset", dataset)
    monkeypatch.setattr(synth_mod, "write_video", video)
    assert build.main(["dataset", "synth", "--images", "0", "--video", "v.mp4", "--frames",
                       "4", "--seed", "0"]) == 0
    assert not dataset.calls and video.args == ("v.mp4", 4, (640, 640), 0)
    assert "wrote video v.mp4: 4 frames" in capsys.readouterr().out
    assert build.main(["dataset", "synth", "--images", "3", "--seed", "0", "--workers", "1",
                       "--out", str(tmp_path / "d")]) == 0
    assert dataset.args[1:4] == (3, (640, 640), 0) and dataset.kwargs["workers"] == 1


# ----------------------------------------------------------------- item 3: batch size


@pytest.mark.parametrize("value", ["0", "-1"])
def test_batch_size_below_one_is_refused(synth, tmp_path, capsys, value) -> None:
    refused(capsys, _train_argv(synth, tmp_path / "r", "--batch-size", value),
            f"--batch-size must be at least 1, got {value}")


def test_batch_size_one_trains_an_ssd_isb_model(synth, tmp_path, capsys) -> None:
    """At 64x64 SSD's extra layers reach 1x1 maps: batch norm has one value per channel."""
    pytest.importorskip("torch")
    from edge.train.checkpoint import load_model

    out = tmp_path / "b1"
    assert build.main(_train_argv(synth, out, "--steps", "2", "--batch-size", "1", "--threads",
                                  "1", "--seed", "3")) == 0
    assert "trained ssd-isb-multi-shape to step 2" in capsys.readouterr().out
    assert load_model(out / "last.pt")[2] == 2


# --------------------------------------------------------------------- item 4: devices


@pytest.mark.parametrize(("device", "shown"), [("0", "--device 0 (= cuda:0)"),
                                                ("cuda", "--device cuda"),
                                                ("cuda:1", "--device cuda:1")])
def test_cuda_devices_on_a_cpu_torch_are_one_line(tmp_path, capsys, monkeypatch, device,
                                                  shown) -> None:
    no_cuda(monkeypatch)
    for argv in (_train_argv(tmp_path / "none", tmp_path / "r", "--device", device),
                 ["eval", "--model", "demo", "--data", str(tmp_path), "--device", device]):
        refused(capsys, argv, shown, "this torch has no CUDA", "CPU build", "--device cpu")


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "meta"])
def test_unknown_devices_name_the_accepted_forms(tmp_path, capsys, device) -> None:
    pytest.importorskip("torch")
    refused(capsys, _train_argv(tmp_path, tmp_path / "r", "--device", device),
            "--device", device, "auto, cpu, cuda, cuda:N or N (= cuda:N)")


def test_a_device_index_means_that_cuda_device(synth, tmp_path, monkeypatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    fake = _fake_train(monkeypatch)
    assert build.main(_train_argv(synth, tmp_path / "r", "--device", "1")) == 0
    assert fake.args[3].device == "cuda:1"


def test_cpu_device_trains_on_cpu(synth, tmp_path, monkeypatch) -> None:
    fake = _fake_train(monkeypatch)
    assert build.main(_train_argv(synth, tmp_path / "r", "--device", "cpu")) == 0
    assert fake.args[3].device == "cpu"


# ------------------------------------------------------------------- item 5: calibrate


def test_holdout_is_checked_before_calibrating(tiny_export, calib_images, tmp_path, capsys,
                                               monkeypatch) -> None:
    from edge.calibrate import quantize

    def must_not_run(*_a, **_k):
        raise AssertionError("calibration started before the holdout was checked")

    monkeypatch.setattr(quantize, "calibration_feeds", must_not_run)
    semantic_only = tmp_path / "semantic-only"
    semantic_only.mkdir()
    (semantic_only / "semantic.json").write_text((calib_images / "semantic.json").read_text())
    out = tmp_path / "int8"
    base = ["calibrate", "--export", str(tiny_export), "--set", str(calib_images / "images"),
            "--out", str(out)]
    refused(capsys, [*base, "--holdout", str(semantic_only)], f"--holdout {semantic_only}",
            "instance model", "annotations.json")
    refused(capsys, [*base, "--holdout", str(tmp_path / "missing")], "no such file or folder")
    assert not out.exists() and not out.with_name("int8.partial").exists()


def test_a_failed_calibration_leaves_no_output_folder(tiny_export, calib_images, tmp_path,
                                                      capsys, monkeypatch) -> None:
    from edge.calibrate import quantize
    from edge.errors import DatasetError

    def broken(*_a, **_k):
        raise DatasetError("frame 3: unreadable")

    monkeypatch.setattr(quantize, "calibration_feeds", broken)
    out = tmp_path / "int8"
    refused(capsys, ["calibrate", "--export", str(tiny_export), "--set",
                     str(calib_images / "images"), "--out", str(out)], "frame 3: unreadable")
    assert not out.exists() and not out.with_name("int8.partial").exists()


def test_calibrate_end_to_end_records_the_set_and_keeps_stdout_clean(
        tiny_export, calib_images, tmp_path, capsys, monkeypatch) -> None:
    from edge.calibrate.sets import CalibrationSet
    from edge.export.onnx_export import read_manifest

    monkeypatch.chdir(tmp_path)
    assert build.main(["calibrate", "--export", str(tiny_export), "--set",
                       str(calib_images / "images"), "--out", "int8", "--count", "16",
                       "--save-set", "street", "--method", "max"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert not any("Collecting" in line or "Finding" in line for line in out), out
    assert out[-2].startswith("INT8 graphs in int8 from 16 frames")
    assert out[-1] == f"calibration set recorded as {Path('calibration') / 'street.json'}"
    manifest = read_manifest(tmp_path / "int8")  # complete: every file and its sha256
    assert manifest["calibration"]["set"]["name"] == "street"
    assert manifest["calibration"]["set"]["count"] == 16
    assert not (tmp_path / "int8.partial").exists()
    saved = json.loads((tmp_path / "calibration" / "street.json").read_text())
    assert saved["name"] == "street" and saved["count"] == 16 and saved["kind"] == "images"
    # the recorded path works from anywhere: relative to the manifest's folder
    os.chdir(tmp_path.parent)
    again = CalibrationSet.load(tmp_path / "calibration" / "street.json")
    assert Path(again.path).resolve() == (calib_images / "images").resolve()
    assert len(again.frames_bgr()) == 16


def _fake_gate(fp32: float | None = 50.0):
    return {"holdout": "hold" if fp32 is not None else None, "max_drop_points": 1.0,
            "fp32": fp32, "metric": "mask AP50", "deployable": True, "status": "passed",
            "attempts": [{"method": "entropy", "excluded": 0, "metric": 49.5,
                          "drop_points": 0.5}]}


def test_calibrate_reports_fp32_first_and_records_the_frames_used(calib_images, tmp_path,
                                                                  capsys, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("cv2")
    from edge.calibrate import quantize

    def fake(export, cset, out, **kwargs):
        cset.frames_bgr()  # what the real one does: samples the set
        return _fake_gate()

    monkeypatch.setattr(quantize, "calibrate_export", Capture(fake))
    monkeypatch.chdir(tmp_path)
    assert build.main(["calibrate", "--export", "e", "--set", str(calib_images / "images"),
                       "--out", "o", "--save-set", "twenty"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("FP32 mask AP50 50.00") and lines[1].startswith("INT8 entropy")
    saved = json.loads(Path("calibration/twenty.json").read_text())
    assert (saved["name"], saved["count"]) == ("twenty", 20)  # not "images", not 500
    assert (Path("calibration") / saved["path"]).resolve() == (calib_images / "images").resolve()


@pytest.mark.parametrize(("extra", "needles"), [
    (["--count", "0"], ["--count must be at least 16 frames, got 0"]),
    (["--count", "8"], ["--count must be at least 16 frames, got 8"]),
    (["--count", "-5"], ["--count", "-5"]),
    (["--seed", "-1"], ["--seed must be 0 or more"]),
    (["--save-set", ""], ["--save-set is empty"]),
    (["--save-set", "a/b"], ["--save-set takes a name"]),
    (["--holdout", ""], ["--holdout is empty"]),
    (["--out", ""], ["--out is empty"]),
])
def test_calibrate_refuses_bad_values(capsys, extra, needles) -> None:
    argv = ["calibrate", "--export", "e", "--set", "s", "--out", "o"]
    refused(capsys, [*argv, *extra], *needles)


def test_calibrate_zero_seed_and_zero_drop_are_honoured(calib_images, tmp_path, capsys,
                                                        monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    from edge.calibrate import quantize
    from edge.calibrate.sets import CalibrationSet

    CalibrationSet(name="s", kind="images", path=str(calib_images / "images"), count=20,
                   seed=5).save(tmp_path / "s.json")
    fake = Capture(_fake_gate(None))
    monkeypatch.setattr(quantize, "calibrate_export", fake)
    assert build.main(["calibrate", "--export", "e", "--set", str(tmp_path / "s.json"),
                       "--out", "o", "--seed", "0", "--max-drop", "0", "--count", "17"]) == 0
    cset = fake.args[1]
    assert cset.seed == 0 and cset.count == 17 and fake.kwargs["max_drop"] == 0.0


# ---------------------------------------------------- item 6: options that do not apply


def test_isb_skip_is_refused_for_fcn_models(synth, tmp_path, capsys) -> None:
    pytest.importorskip("torch")
    refused(capsys, ["models", "mobilenet-fcn8", "--isb-skip", "fcn16"], "--isb-skip",
            "mobilenet-fcn8 is a semantic model")
    # even the default value, given explicitly, is refused for a semantic model
    refused(capsys, _train_argv(synth, tmp_path / "r", "--isb-skip", "fcn8",
                                model="mobilenet-fcn8"), "--isb-skip", "drop --isb-skip")


def test_isb_skip_defaults_to_fcn8_for_ssd_isb(synth, tmp_path, monkeypatch) -> None:
    fake = _fake_train(monkeypatch)
    assert build.main(_train_argv(synth, tmp_path / "r")) == 0
    assert fake.args[0].isb_skip == "fcn8"
    assert build.main(_train_argv(synth, tmp_path / "r2", "--isb-skip", "fcn16")) == 0
    assert fake.calls[1][0][0].isb_skip == "fcn16"


def test_alpha_is_refused_for_squeezenet(synth, tmp_path, capsys) -> None:
    pytest.importorskip("torch")
    refused(capsys, ["models", "squeezenet-fcn8s", "--alpha", "1.0"], "--alpha",
            "squeezenet-fcn8s is SqueezeNet")
    refused(capsys, ["train", "--model", "squeezenet-fcn8s", "--alpha", "0.5", "--data",
                     str(synth), "--out", str(tmp_path / "r")], "--alpha", "drop --alpha")


@pytest.mark.parametrize(("extra", "needles"), [
    (["--alpha", "0.5"], ["--alpha 0.5", "--alpha 0.25, which it keeps"]),
    (["--input-size", "96", "96"], ["--input-size 96 96", "--input-size 64 64"]),
    (["--isb-skip", "fcn16"], ["--isb-skip fcn16", "--isb-skip fcn8"]),
])
def test_resuming_refuses_options_that_differ_from_the_checkpoint(synth, tmp_path, capsys,
                                                                  extra, needles) -> None:
    ckpt = _checkpoint(tmp_path / "a.pt")
    refused(capsys, ["train", "--model", str(ckpt), "--data", str(synth), "--out",
                     str(tmp_path / "r"), *extra], *needles)


def test_resuming_accepts_the_checkpoints_own_options(synth, tmp_path, monkeypatch) -> None:
    ckpt = _checkpoint(tmp_path / "a.pt")
    fake = _fake_train(monkeypatch)
    assert build.main(["train", "--model", str(ckpt), "--data", str(synth), "--out",
                       str(tmp_path / "r"), "--alpha", "0.25", "--isb-skip", "fcn8"]) == 0
    assert fake.args[0].alpha == 0.25 and fake.kwargs["resume"] == str(ckpt)


def test_out_holding_another_run_is_refused(synth, tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "run"
    out.mkdir()
    _checkpoint(out / "last.pt", "ssd-isb-single-branch")
    before = (out / "last.pt").read_bytes()
    refused(capsys, _train_argv(synth, out), f"--out {out}", "another model",
            "ssd-isb-single-branch")
    refused(capsys, _train_argv(synth, out, model="ssd-isb-single-branch"), "already holds",
            f"--model {out / 'last.pt'}")
    assert (out / "last.pt").read_bytes() == before
    fake = _fake_train(monkeypatch)  # resuming that very run is what --out is for
    assert build.main(["train", "--model", str(out / "last.pt"), "--data", str(synth),
                       "--out", str(out)]) == 0
    assert fake.kwargs["resume"] == str(out / "last.pt")


@pytest.mark.parametrize("steps", ["0", "-4"])
def test_steps_below_one_are_refused(synth, tmp_path, capsys, steps) -> None:
    pytest.importorskip("torch")
    refused(capsys, _train_argv(synth, tmp_path / "r", "--steps", steps),
            f"--steps must be at least 1, got {steps}")


# -------------------------------------------------------------- item 7: zero-value audit


@pytest.mark.parametrize(("argv", "needles"), [
    (["models", "ssd-isb-single-branch", "--num-classes", "0"], ["--num-classes", "got 0"]),
    (["models", "mobilenet-fcn8", "--input-size", "0", "0"], ["--input-size", "0 0"]),
    (["export", "--model", "demo", "--out", "x", "--opset", "0"], ["--opset takes 13 to 20"]),
    (["export", "--model", "demo", "--out", "x", "--input-size", "0", "0"], ["--input-size"]),
    (["export", "--model", "demo", "--out", ""], ["--out is empty"]),
    (["engine", "--export", "e", "--out", "o", "--workspace", "0"], ["--workspace", "got 0"]),
    (["engine", "--export", "e", "--out", "o", "--max-boxes", "0"], ["--max-boxes", "got 0"]),
    (["engine", "--export", "e", "--out", "o", "--dla", "-1"], ["--dla must be 0 or more"]),
    (["engine", "--export", "e", "--out", "o", "--timing-cache", ""], ["--timing-cache"]),
    (["engine", "--export", "e", "--out", "o", "--opt-level", "6"], ["--opt-level takes 0"]),
    (["eval", "--model", "demo", "--data", "d", "--precision", ""], ["--precision"]),
    (["eval", "--model", "demo", "--data", "d", "--split", ""], ["--split is empty"]),
    (["eval", "--model", "demo", "--data", ""], ["--data is empty"]),
    (["eval", "--model", "", "--data", "d"], ["--model is empty"]),
    (["export", "--model", "", "--out", "x"], ["--model is empty"]),
    (["engine", "--export", "", "--out", "o"], ["--export is empty"]),
    (["calibrate", "--export", "", "--set", "s", "--out", "o"], ["--export is empty"]),
    (["calibrate", "--export", "e", "--set", "", "--out", "o"], ["--set is empty"]),
    (["eval", "--model", "demo", "--data", "d", "--json", ""], ["--json is empty"]),
    (["eval", "--model", "demo", "--data", "d", "--results", ""], ["--results is empty"]),
    (["eval", "--model", "demo", "--data", "d", "--score-threshold", "-0.1"],
     ["--score-threshold must be between 0"]),
    (["eval", "--model", "demo", "--data", "d", "--precision", "int8,int8"], ["twice"]),
    (["check", ""], ["EXPORT is empty"]),
])
def test_invalid_zero_and_empty_values_are_refused(capsys, argv, needles) -> None:
    refused(capsys, argv, *needles)


@pytest.mark.parametrize(("extra", "needles"), [
    (["--threads", "0"], ["--threads must be at least 1"]),
    (["--accumulate", "0"], ["--accumulate must be at least 1"]),
    (["--lr", "0"], ["--lr must be positive"]),
    (["--lr=-1e-3"], ["--lr must be positive"]),
    (["--checkpoint-every", "0"], ["--checkpoint-every must be at least 1"]),
    (["--workers", "-1"], ["--workers must be 0 or more"]),
    (["--seed", "-1"], ["--seed must be 0 or more"]),
    (["--mask-weight", "-1"], ["--mask-weight must be 0 or more"]),
    (["--input-size", "0", "0"], ["--input-size"]),
    (["--split", ""], ["--split is empty"]),
    (["--categories", ""], ["--categories is empty"]),
    (["--init", ""], ["--init is empty"]),
    (["--resume", ""], ["--resume is empty"]),
])
def test_train_refuses_invalid_values(synth, tmp_path, capsys, extra, needles) -> None:
    pytest.importorskip("torch")
    refused(capsys, _train_argv(synth, tmp_path / "r", *extra), *needles)


@pytest.mark.parametrize("option", ["--model", "--data", "--out"])
def test_train_refuses_empty_required_values(synth, tmp_path, capsys, option) -> None:
    pytest.importorskip("torch")
    values = {"--model": "ssd-isb-multi-shape", "--data": str(synth), "--out": str(tmp_path)}
    values[option] = ""
    refused(capsys, ["train", *[x for kv in values.items() for x in kv]], f"{option} is empty")


def test_train_refuses_instance_only_options_for_semantic_models(synth, tmp_path,
                                                                 capsys) -> None:
    pytest.importorskip("torch")
    for extra in (["--mask-weight", "0"], ["--categories", "person"]):
        refused(capsys, _train_argv(synth, tmp_path / "r", *extra, model="mobilenet-fcn8"),
                extra[0], "semantic")


def test_train_valid_zeros_reach_the_config(synth, tmp_path, monkeypatch) -> None:
    from edge.train.trainer import _InstanceStep

    fake = _fake_train(monkeypatch)
    assert build.main(_train_argv(synth, tmp_path / "r", "--seed", "0", "--workers", "0",
                                  "--mask-weight", "0", "--categories", "person",
                                  "--steps", "7", "--batch-size", "1")) == 0
    desc, reader, out, cfg = fake.args
    assert (cfg.seed, cfg.workers, cfg.mask_weight, cfg.steps, cfg.batch_size) == (0, 0, 0.0, 7, 1)
    assert reader.class_names == ("person",)
    assert _InstanceStep(desc, cfg).mask_weight == 0.0  # not replaced by the default 150
    # a preset's own values do not override an explicit zero either
    assert build.main(_train_argv(synth, tmp_path / "r2", "--preset", "thesis-instance",
                                  "--mask-weight", "0")) == 0
    assert fake.calls[1][0][3].mask_weight == 0.0


def test_eval_zero_score_threshold_keeps_every_detection(tmp_path, capsys, monkeypatch) -> None:
    pytest.importorskip("torch")
    from edge.evaluate import runner
    from edge.train.checkpoint import read_description

    class FakePipeline:
        desc = read_description("demo")

    row = dict.fromkeys(("AP50", "AP", "AP75", "APs_50", "APm_50", "APl_50", "AR1_50",
                         "AR10_50", "AR100_50"), 0.5)
    loads = Capture(FakePipeline())
    monkeypatch.setattr(runner, "load_pipeline", loads)
    monkeypatch.setattr(runner, "evaluate", lambda *a, **k: {"images": 1, "detections": 0,
                                                             "segm": row, "bbox": row})
    out = tmp_path / "m.json"
    assert build.main(["eval", "--model", "demo", "--data", "d", "--score-threshold", "0",
                       "--json", str(out)]) == 0
    assert loads.kwargs["score_threshold"] == 0.0
    assert json.loads(out.read_text())["model"]["precision"] == "fp32"


def test_engine_zero_dla_core_and_opt_level_reach_the_builder(capsys, monkeypatch) -> None:
    from edge.engines import builder

    fake = Capture({"engines": [], "device": {"gpu_name": "x", "trt_version": "10"}})
    monkeypatch.setattr(builder, "build_engines", fake)
    assert build.main(["engine", "--export", "e", "--out", "o", "--dla", "0", "--opt-level",
                       "0", "--max-boxes", "1", "--workspace", "16", "--json"]) == 0
    opts = fake.args[2]
    assert (opts.dla_core, opts.opt_level, opts.max_boxes, opts.workspace_mb) == (0, 0, 1, 16)


def test_models_zero_free_options_reach_the_description(capsys) -> None:
    pytest.importorskip("torch")
    assert build.main(["models", "ssd-isb-single-branch", "--num-classes", "1",
                       "--input-size", "64", "64", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["num_classes"] == 1 and row["input_size"] == [64, 64]


# ----------------------------------------------------------- item 8: one report per run


@pytest.mark.parametrize(("rank", "prints"), [("0", True), ("1", False)])
def test_only_rank_zero_reports_the_training_run(synth, tmp_path, capsys, monkeypatch, rank,
                                                 prints) -> None:
    _fake_train(monkeypatch)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    assert build.main(_train_argv(synth, tmp_path / "r")) == 0
    assert ("trained ssd-isb-multi-shape" in capsys.readouterr().out) == prints


def test_export_refuses_a_folder_of_other_data_and_replaces_only_its_own_graphs(
        tmp_path, capsys) -> None:
    """An export never mixes into a data folder; re-exporting another model over an
    export removes the graphs the new one does not have, and nothing else."""
    torch = pytest.importorskip("torch")
    from edge.export.onnx_export import export_onnx
    from edge.models.zoo import create

    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("mine")
    assert build.main(["export", "--model", "mobilenet-fcn32", "--input-size", "64", "64",
                       "--out", str(data), "--no-fp16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not empty and not an export folder" in err[0]
    assert sorted(p.name for p in data.iterdir()) == ["notes.txt"]

    out = tmp_path / "export"
    torch.manual_seed(0)
    desc, model = create("ssd-isb-single-shape", alpha=0.25, input_size=(64, 64))
    export_onnx(desc, model.eval(), out, fp16=False)
    (out / "README.txt").write_text("keep")
    assert any(p.name.startswith("branch_") for p in out.iterdir())
    desc, model = create("mobilenet-fcn32", alpha=0.25, input_size=(64, 64))
    export_onnx(desc, model.eval(), out, fp16=False)
    assert sorted(p.name for p in out.iterdir()) == ["README.txt", "manifest.json",
                                                      "model.onnx"]
