"""The device self-test and the kernel benchmark command on a machine without a GPU."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from edge.bench.selftest import compare
from edge.cli import bench
from edge.runtime.model import DEMO_EXPORT

pytest.importorskip("onnxruntime")


def test_compare_flags_outputs_beyond_their_tolerance() -> None:
    ref = {"a": np.array([1.0, -2.0]), "b": np.array([10.0, 0.0])}
    got = {"a": np.array([1.001, -2.0]), "b": np.array([10.0, 0.5])}
    rows = {r["output"]: r for r in compare(ref, got, "fp32")}
    assert rows["a"]["ok"] and not rows["b"]["ok"]  # 5e-4 vs 5e-2 relative to the scale
    assert {r["output"]: r["ok"] for r in compare(ref, got, "int8")} == {"a": True, "b": True}
    assert not compare({"a": np.zeros(3)}, {"a": np.zeros(4)}, "fp16")[0]["ok"]  # shapes


def test_selftest_without_gpu_reports_what_ran_and_what_was_skipped(tmp_path, capsys,
                                                                    monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    out = tmp_path / "report"
    assert bench.main(["selftest", "--export", str(DEMO_EXPORT), "--out", str(out),
                       "--precision", "fp32,int8", "--repeats", "2"]) == 0
    report = json.loads((out / "selftest.json").read_text())
    assert report["status"] == "incomplete" and report["ok"]
    assert set(report["onnxruntime"]) == {"fp32", "int8"}
    assert "detector" in report["onnxruntime"]["int8"]["stages_ms"]
    assert any(s.startswith("TensorRT:") for s in report["skipped"])
    assert any(s.startswith("CUDA kernels:") for s in report["skipped"])
    md = (out / "selftest.md").read_text()
    assert "Result: **INCOMPLETE**" in md and "| onnxruntime |" in md
    assert "INCOMPLETE" in capsys.readouterr().out


def test_kernel_benchmark_without_gpu_is_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    assert bench.main(["kernels"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CuPy or pycuda" in err[0]
