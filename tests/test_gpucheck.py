"""``edge-bench gpucheck`` end to end on the fake device (tests/fake_device.py): the real
launchers of edge/cuda/kernels.py with the kernels CPU-emulated (g++), the demo model's
networks in ONNX Runtime, compared with the ONNX Runtime pipeline. Tiny frames."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from edge.cli import bench

pytest.importorskip("onnxruntime")
if shutil.which("g++") is None:
    pytest.skip("no g++ to emulate the CUDA kernels", allow_module_level=True)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    from tests.fake_device import build_emulator

    root = tmp_path_factory.mktemp("gpucheck")
    return root, build_emulator(root)


@pytest.fixture
def fake_gpu(emulator, monkeypatch):
    from tests.fake_device import install

    root, lib = emulator
    drv = install(monkeypatch, lib, tensorrt=False)  # a CUDA machine without TensorRT
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    yield root
    drv.gpu.check_clean()


def run(out, *extra: str) -> int:
    return bench.main(["gpucheck", "--out", str(out), "--quick", "--frames", "1",
                       "--size", "120", "160", "--repeats", "1", *extra])


def test_gpucheck_passes_on_the_fake_device(fake_gpu, tmp_path, capsys) -> None:
    assert run(tmp_path / "r", "--json", str(tmp_path / "r.json")) == 0
    report = json.loads((tmp_path / "r" / "gpucheck.json").read_text())
    assert report == json.loads((tmp_path / "r.json").read_text())
    assert report["status"] == "pass", report["failed"] + report["skipped"]
    env = report["environment"]
    assert env["gpu"] == "Fake Orin" and env["compute_capability"] == "8.7"
    assert env["peak_gb_s"] > 0 and env["api"].startswith("pycuda")
    assert {r["kernel"] for r in report["kernels"]["rows"]} >= {
        "preprocess_f32", "preprocess_f16", "crop_gather (resize)", "paste_masks",
        "blend_overlay"}
    p = report["pipeline"]
    assert p["instances"] > 0 and p["masks"] > 0 and all(p["checks"].values())
    assert p["crops_max_abs_err"] <= 1e-4 and p["preprocess_max_abs_err"] <= 1e-4
    assert {"gpu:preprocess", "gpu:crop", "gpu:paste", "cpu:detector"} <= set(p["stages_ms"])
    md = (tmp_path / "r" / "gpucheck.md").read_text()
    assert "Result: **PASS**" in md and "| crop gather kernel |" in md
    assert "GPU check PASS" in capsys.readouterr().out


def test_a_wrong_crop_kernel_is_a_failure_with_exit_2(fake_gpu, tmp_path, monkeypatch,
                                                      capsys) -> None:
    from edge.cuda.kernels import CudaKernels

    real = CudaKernels.crop_gather

    def shifted(self, fmap, c, h, w, windows, n, out, *a, **k):  # reads one element late
        return real(self, fmap + 4, c, h, w - 1, windows, n, out, *a, **k)

    monkeypatch.setattr(CudaKernels, "crop_gather", shifted)
    assert run(tmp_path / "r") == 2
    report = json.loads((tmp_path / "r" / "gpucheck.json").read_text())
    assert report["status"] == "fail" and not report["pipeline"]["checks"]["crop gather kernel"]
    err = capsys.readouterr().err.strip().splitlines()  # log warnings, then the one line
    assert "FAILED" in err[-1] and "gpucheck.md" in err[-1]


def test_a_library_exception_is_recorded_and_the_report_written(fake_gpu, tmp_path,
                                                                monkeypatch) -> None:
    from edge.cuda.kernels import CudaKernels

    def broken(self, *a, **k):
        raise RuntimeError("cuLaunchKernel failed: too many resources requested for launch")

    monkeypatch.setattr(CudaKernels, "paste", broken)
    assert run(tmp_path / "r") == 2
    report = json.loads((tmp_path / "r" / "gpucheck.json").read_text())
    assert report["status"] == "fail"
    assert {f["part"] for f in report["failed"]} == {"CUDA kernels", "kernel pipeline"}
    assert all(f["type"] == "RuntimeError" for f in report["failed"])
    assert "## Failed" in (tmp_path / "r" / "gpucheck.md").read_text()


def test_without_a_gpu_library_the_check_is_incomplete(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    assert run(tmp_path / "r") == 0
    report = json.loads((tmp_path / "r" / "gpucheck.json").read_text())
    assert report["status"] == "incomplete" and report["kernels"] is None
    assert any(s.startswith("GPU:") and "CuPy or pycuda" in s for s in report["skipped"])
    assert "GPU check INCOMPLETE" in capsys.readouterr().out
