"""The real CLIs, each in its own process, on the fake device of ``tests/fake_site``
(PYTHONPATH=tests/fake_site:<repo>, configured by EDGE_FAKE_* variables): engines built for
the environment's identity, the self-test, edge-run over three frames, a failing build, an
engine folder of another device refused, and a CUDA context left pushed made visible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.fake_device import build_emulator

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "tests" / "fake_site"
DEMO_EXPORT = ROOT / "edge" / "demo" / "export"
LEAK_EXIT = 70

ORIN = {"EDGE_FAKE_TRT_VERSION": "10.3.0.30", "EDGE_FAKE_CC": "8.7",
        "EDGE_FAKE_GPU_NAME": "Orin", "EDGE_FAKE_SMS": "16"}
XAVIER = {"EDGE_FAKE_TRT_VERSION": "8.6.2.3", "EDGE_FAKE_CC": "7.2",
          "EDGE_FAKE_GPU_NAME": "Xavier", "EDGE_FAKE_SMS": "8"}
THOR = {"EDGE_FAKE_TRT_VERSION": "11.0.0.114", "EDGE_FAKE_CC": "11.0",
        "EDGE_FAKE_GPU_NAME": "Thor", "EDGE_FAKE_SMS": "20", "EDGE_FAKE_DRIVER": "13000"}
ENGINES_PER_PRECISION = 11  # the demo: a detector and ten branches



def identity(device: dict[str, str]) -> dict:
    return {"trt_version": device["EDGE_FAKE_TRT_VERSION"],
            "gpu_name": device["EDGE_FAKE_GPU_NAME"],
            "compute_capability": device["EDGE_FAKE_CC"],
            "sm_count": int(device["EDGE_FAKE_SMS"])}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    """One emulator for every process of this module (EDGE_FAKE_EMULATOR), a work folder
    and a few image files for edge-run."""
    work = tmp_path_factory.mktemp("fake_site")
    lib = build_emulator(work)  # skips without a g++ that has _Float16
    del lib
    images = work / "images"
    images.mkdir()
    import cv2

    rng = np.random.default_rng(0)
    for i in range(4):
        assert cv2.imwrite(str(images / f"{i:03d}.png"),
                           rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    return {"work": work, "emulator": work / "emu_device.so", "images": images}


def python(site: dict, device: dict[str, str], argv: list[str], **extra: str
           ) -> subprocess.CompletedProcess:
    """``python3 ARGV`` in a fresh process on the fake device ``device`` (plus ``extra``
    variables); no EDGE_FAKE_* of this process leaks in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("EDGE_FAKE_") and k != "PYTHONPATH"}
    env.update(device, **extra)
    env.update(PYTHONPATH=f"{SITE}{os.pathsep}{ROOT}", EDGE_FAKE_EMULATOR=str(site["emulator"]),
               EDGE_SEG_HOME=str(site["work"] / "home"),
               XDG_CACHE_HOME=str(site["work"] / "cache"))
    return subprocess.run([sys.executable, *argv], cwd=site["work"], env=env,
                          capture_output=True, text=True, timeout=300)


def cli(site: dict, device: dict[str, str], *args: str, **extra: str
        ) -> subprocess.CompletedProcess:
    """``python3 -m ARGS`` on the fake device."""
    return python(site, device, ["-m", *args], **extra)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "fake pycuda:" not in proc.stderr
    return proc


def build(site: dict, device: dict[str, str], precision: str, out: Path, *more: str,
          **extra: str) -> subprocess.CompletedProcess:
    return cli(site, device, "edge.cli.build", "engine", "--export", str(DEMO_EXPORT),
               "--precision", precision, "--out", str(out), *more, **extra)


@pytest.fixture(scope="module")
def orin(site) -> dict:
    """FP16 (--json) and INT8 engines of the demo, built on a fake Orin with TensorRT 10.3."""
    out = site["work"] / "orin"
    fp16 = ok(build(site, ORIN, "fp16", out, "--json"))
    int8 = ok(build(site, ORIN, "int8", out))
    return {"out": out, "fp16": json.loads(fp16.stdout), "int8": int8}


@pytest.fixture(scope="module")
def xavier(site) -> dict:
    """INT8 engines of the demo on a fake Xavier with TensorRT 8.6 (calibration caches)."""
    out = site["work"] / "xavier"
    return {"out": out, "int8": ok(build(site, XAVIER, "int8", out))}


def check_engines(folder: Path, precision: str) -> None:
    """Every listed engine is a fake engine the runtime can deserialise: the graph TensorRT
    parsed, its profile's max batch."""
    listed = json.loads((folder / "engines.json").read_text())["engines"]
    mine = [e for e in listed if e["precision"] == precision]
    assert len(mine) == ENGINES_PER_PRECISION
    for e in mine:
        spec = json.loads((folder / e["file"]).read_text())
        side = json.loads((folder / (e["file"] + ".json")).read_text())
        assert Path(spec["onnx"]).is_absolute() and Path(spec["onnx"]).name == side["graph"]
        assert Path(spec["onnx"]).is_file() and spec["static"] is False
        first = next(iter(side["profile"].values()))
        assert spec["max_batch"] == first[2][0] == (1 if e["role"] == "detector" else 30)
        assert set(spec["dtypes"].values()) == {"FLOAT"}  # the demo's graphs: FP32 I/O


def test_engines_are_built_for_the_identity_the_environment_gives(orin, xavier) -> None:
    folder = json.loads((orin["out"] / "engines.json").read_text())
    assert folder["device"] == {**identity(ORIN), "l4t": folder["device"]["l4t"],
                                "board": folder["device"]["board"]}
    assert orin["fp16"]["device"] == json.loads(json.dumps(folder["device"]))
    check_engines(orin["out"], "fp16")
    check_engines(orin["out"], "int8")
    assert f"built {ENGINES_PER_PRECISION} int8 engines" in orin["int8"].stdout
    assert "for Orin (TensorRT 10.3.0.30)" in orin["int8"].stdout

    device = json.loads((xavier["out"] / "engines.json").read_text())["device"]
    assert {k: device[k] for k in identity(XAVIER)} == identity(XAVIER)
    check_engines(xavier["out"], "int8")
    sides = [json.loads(p.read_text()) for p in xavier["out"].glob("*.engine.json")]
    # TensorRT 8.6 builds the demo's INT8 from the FP32 graphs and the calibration caches
    assert sides and all(s["graph"].endswith(".onnx") and ".int8" not in s["graph"]
                         and "calibration cache" in s["build"] for s in sides)


@pytest.mark.parametrize("device, name, precision", [(ORIN, "orin", "fp16"),
                                                      (XAVIER, "xavier", "int8")])
def test_edge_run_runs_the_built_engines_for_three_frames(site, orin, xavier, device, name,
                                                          precision) -> None:
    folder = {"orin": orin, "xavier": xavier}[name]["out"]
    summary = site["work"] / f"run-{name}.json"
    proc = ok(cli(site, device, "edge.cli.run", "--model", str(folder), "--backend", "tensorrt",
                  "--precision", precision, "--images", str(site["images"]), "--headless",
                  "--frames", "3", "--summary", str(summary)))
    got = json.loads(summary.read_text())
    assert (got["frames"], got["backend"], got["precision"], got["error"]) == (
        3, "tensorrt", precision, None)
    assert "3 frames" in proc.stdout


@pytest.mark.parametrize("built, device, diff", [
    ("xavier", ORIN, "TensorRT 8.6.2.3 -> 10.3.0.30; GPU Xavier -> Orin; compute capability "
                     "7.2 -> 8.7; SM count 8 -> 16"),
    ("orin", XAVIER, "TensorRT 10.3.0.30 -> 8.6.2.3; GPU Orin -> Xavier"),
])
def test_engines_of_another_device_are_refused_in_one_line(site, orin, xavier, built, device,
                                                           diff) -> None:
    folder = {"orin": orin, "xavier": xavier}[built]["out"]
    proc = cli(site, device, "edge.cli.run", "--model", str(folder), "--backend", "tensorrt",
               "--precision", "int8", "--images", str(site["images"]), "--headless",
               "--frames", "3")
    assert proc.returncode == 2, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and errors[0].startswith("edge-run: error: "), proc.stderr
    assert "built for another device or TensorRT" in errors[0] and diff in errors[0]
    assert f"rebuild with: edge-build engine --export {DEMO_EXPORT}" in errors[0]
    assert "Traceback" not in proc.stderr and "fake pycuda:" not in proc.stderr


@pytest.mark.parametrize("message, says", [
    ("Requested amount of GPU memory (1073741824 bytes) could not be allocated",
     "ran out of memory; try --workspace 512"),
    ("Assertion failed: no tactic for /head/Conv", "TensorRT failed to build an engine "
                                                   "(Assertion failed: no tactic for /head/Conv)"),
])
def test_a_failing_build_exits_non_zero_with_tensorrts_message(site, message, says) -> None:
    out = site["work"] / f"failed-{len(message)}"
    proc = build(site, ORIN, "fp16", out, EDGE_FAKE_BUILD_FAIL=message)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"TensorRT: {message}" in proc.stderr and says in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "engines.json").exists() and not list(out.glob("*.engine"))


def test_tensorrt_11_on_thor_refuses_the_demo_for_want_of_fp16_graphs(site) -> None:
    proc = build(site, THOR, "fp16", site["work"] / "thor")
    assert proc.returncode == 2
    assert "detector.fp16.onnx: missing; TensorRT 11" in proc.stderr, proc.stderr


@pytest.mark.slow
def test_selftest_runs_the_whole_stack_and_passes(site, orin) -> None:
    out = site["work"] / "selftest"
    proc = cli(site, ORIN, "edge.cli.bench", "selftest", "--export", str(DEMO_EXPORT),
               "--engines", str(orin["out"]), "--precision", "fp16", "--out", str(out),
               "--repeats", "1", "--holdout-images", "4")
    report = json.loads((out / "selftest.json").read_text())
    # the whole stack passes: kernels at 1080p within their tolerances, TensorRT equal to
    # ONNX Runtime and as accurate; the demo's missing ONNX Runtime FP16 graphs are not a gap
    assert report["status"] == "pass", (report["failed"], report["skipped"])
    assert proc.returncode == 0 and "self-test PASS" in proc.stdout, proc.stderr
    assert "fake pycuda:" not in proc.stderr
    env = report["environment"]
    assert (env["tensorrt"], env["gpu"], env["compute_capability"], env["multiprocessors"]) == (
        "10.3.0.30", "Orin", "8.7", 16)
    assert report["skipped"] == [] and report["failed"] == []
    assert report["not_applicable"] and "ONNX Runtime fp16" in report["not_applicable"][0]
    assert report["tensorrt"]["fp16"]["parity"] and all(
        r["ok"] for r in report["tensorrt"]["fp16"]["parity"])
    assert report["accuracy"]["by_precision"]["fp16"]["ok"]
    assert all(r["ok"] for r in report["kernels"]["rows"]), report["kernels"]["rows"]


def test_a_context_left_pushed_at_exit_is_an_error_as_in_pycuda(site) -> None:
    code = ("import pycuda.driver as cuda, tensorrt\n"
            "cuda.init()\n"
            "ctx = cuda.Device(0).retain_primary_context()\n"
            "ctx.push()\n"
            "{}\n"
            "print('done', tensorrt.__version__, cuda.Device(0).name())\n")
    leak = python(site, XAVIER, ["-c", code.format("pass")])
    assert leak.returncode == LEAK_EXIT and "done 8.6.2.3 Xavier" in leak.stdout
    assert "fake pycuda: context(s) left pushed at exit" in leak.stderr
    clean = python(site, XAVIER, ["-c", code.format("cuda.Context.pop(); ctx.detach()")])
    assert clean.returncode == 0 and clean.stderr == "", clean.stderr



@pytest.mark.parametrize("model, size", [("segnet-basic", 64), ("icnet", 128),
                                         ("hourglass-edge", 128)])
def test_seed_models_build_as_engines_and_run_on_the_fake_device(site, model, size) -> None:
    """The seed systems' exports (the index-free unpooling, ICNet's static pyramid) build as
    FP16 and INT8-from-cache engines on TensorRT 10.3 and run through edge-run's TensorRT
    backend."""
    export = site["work"] / f"{model}-export"
    extra = ["--stacks", "1", "--features", "16"] if model.startswith("hourglass") else []
    if not (export / "manifest.json").is_file():
        ok(cli(site, ORIN, "edge.cli.build", "export", "--model", model, "--input-size",
               str(size), str(size), "--out", str(export), "--no-fp16", *extra))
    engines = site["work"] / f"{model}-engines"
    ok(cli(site, ORIN, "edge.cli.build", "engine", "--export", str(export), "--precision",
           "fp16", "--out", str(engines)))
    folder = json.loads((engines / "engines.json").read_text())
    assert [e["role"] for e in folder["engines"]] == ["model"]
    run = ok(cli(site, ORIN, "edge.cli.run", "--model", str(engines), "--backend", "tensorrt",
                 "--precision", "fp16", "--images", str(site["images"]), "--headless",
                 "--frames", "2", "--json", str(site["work"] / f"{model}.jsonl")))
    assert "fake pycuda:" not in run.stderr
    lines = (site["work"] / f"{model}.jsonl").read_text().splitlines()
    assert len(lines) == 2
