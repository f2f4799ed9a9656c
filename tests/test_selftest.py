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


def test_a_breaking_precision_is_a_failure_and_the_others_still_run(tmp_path, capsys,
                                                                    monkeypatch) -> None:
    """Review finding 22: a library exception (pycuda/TensorRT) in one precision, a parse
    or out-of-memory error in another: each is FAIL with its type and message, the other
    precisions still run and the report is written; exit 2."""
    import edge.backends.tensorrt_backend as trt_backend
    import edge.engines.builder as builder
    from edge.backends.onnxruntime_backend import OnnxRuntimeBackend
    from edge.errors import EngineError

    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setitem(sys.modules, "pycuda", None)

    class LogicError(Exception):  # what pycuda raises: not an EdgeError
        pass

    def build(export_dir, out, opts) -> dict:
        if opts.precision == "fp16":
            raise LogicError("cuMemAlloc failed: out of memory")
        if opts.precision == "int8":
            raise EngineError("detector.onnx: TensorRT cannot parse node Resize_12 (Resize)")
        return {}

    class OrtAsTensorRT(OnnxRuntimeBackend):  # the engines' stand-in: ONNX Runtime itself
        def __init__(self, folder, precision) -> None:
            super().__init__(DEMO_EXPORT, "fp32", threads=1)

        def close(self) -> None:
            pass

    monkeypatch.setattr(builder, "build_engines", build)
    monkeypatch.setattr(trt_backend, "TensorRTBackend", OrtAsTensorRT)
    out = tmp_path / "report"
    assert bench.main(["selftest", "--export", str(DEMO_EXPORT), "--out", str(out),
                       "--precision", "fp16,fp32,int8", "--repeats", "1"]) == 2
    report = json.loads((out / "selftest.json").read_text())
    assert report["status"] == "fail" and not report["ok"]
    assert set(report["tensorrt"]) == {"fp32"}  # ran after fp16 broke
    assert all(r["ok"] for r in report["tensorrt"]["fp32"]["parity"])
    failed = {f["part"]: f for f in report["failed"]}
    assert failed["TensorRT fp16"]["type"] == "LogicError"
    assert "out of memory" in failed["TensorRT fp16"]["message"]
    assert failed["TensorRT int8"]["type"] == "EngineError"
    assert not any(s.startswith("TensorRT") for s in report["skipped"])
    md = (out / "selftest.md").read_text()
    assert "Result: **FAIL**" in md and "- TensorRT int8: EngineError: detector.onnx" in md
    captured = capsys.readouterr()
    assert "failed: TensorRT fp16: LogicError" in captured.out
    assert "FAILED" in captured.err.strip().splitlines()[-1]


def test_the_report_is_written_when_the_run_is_interrupted(tmp_path, monkeypatch) -> None:
    import edge.bench.onnx_models as onnx_models

    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setitem(sys.modules, "pycuda", None)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_models, "bench_export", interrupted)
    out = tmp_path / "report"
    assert bench.main(["selftest", "--export", str(DEMO_EXPORT), "--out", str(out),
                       "--precision", "fp32", "--repeats", "1"]) == 130
    assert json.loads((out / "selftest.json").read_text())["status"] == "incomplete"


# ----------------------------------------------------------- accuracy on the fake device


@pytest.fixture(scope="module")
def fake_device_engines(tmp_path_factory):
    """Fake INT8 engine folders of the shipped demo for tests/fake_device.py: ``good``
    runs the export's FP32 graphs; ``broken`` a detector whose class logits are negated
    (an INT8 engine that lost its scores), so its accuracy truly collapses."""
    import shutil as _shutil

    onnx = pytest.importorskip("onnx")
    if _shutil.which("g++") is None:
        pytest.skip("no g++ to emulate the CUDA kernels")
    from tests.fake_device import build_emulator, write_fake_engines

    root = tmp_path_factory.mktemp("selftest-acc")
    good = write_fake_engines(DEMO_EXPORT, root / "good", precision="int8")
    broken = write_fake_engines(DEMO_EXPORT, root / "broken", precision="int8")
    model = onnx.load(str(DEMO_EXPORT / "detector.onnx"))
    for node in model.graph.node:
        node.output[:] = ["class_logits_raw" if o == "class_logits" else o for o in node.output]
    model.graph.node.append(onnx.helper.make_node("Neg", ["class_logits_raw"],
                                                  ["class_logits"]))
    negated = root / "detector-negated.onnx"
    onnx.save(model, str(negated))
    folder = json.loads((broken / "engines.json").read_text())
    for e in folder["engines"]:
        if e["role"] == "detector":
            spec = json.loads((broken / e["file"]).read_text())
            (broken / e["file"]).write_text(json.dumps({**spec, "onnx": str(negated)}))
            from edge.export.onnx_export import sha256_file

            e["sha256"] = sha256_file(broken / e["file"])
    (broken / "engines.json").write_text(json.dumps(folder))
    return root, build_emulator(root)


@pytest.mark.parametrize("which, status", [("good", "pass"), ("broken", "fail")])
def test_selftest_measures_the_int8_engines_on_a_generated_holdout(fake_device_engines,
                                                                   monkeypatch, which,
                                                                   status) -> None:
    """On the fake device: the INT8 engines' mask AP@0.50 on generated held-out scenes
    against the export's FP32 through ONNX Runtime; past the gate's --max-drop (1.0, from
    the demo export's manifest) it is FAIL."""
    import edge.bench.selftest as st
    from tests.fake_device import make_pycuda, make_tensorrt

    root, lib = fake_device_engines
    mods = make_pycuda(lib, integrated=True)
    for name, mod in {**mods, "tensorrt": make_tensorrt(mods["pycuda.driver"])}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(st, "environment", lambda: {})
    import edge.bench.kernels as kernels
    import edge.bench.onnx_models as onnx_models

    monkeypatch.setattr(kernels, "run_kernels", lambda repeats: None)
    monkeypatch.setattr(onnx_models, "bench_export", lambda *a: {"stages_ms": {}})

    def engines_ran(report, part, export_dir, out, engines_dir, precisions, ref, repeats):
        report["tensorrt"] = {p: {"parity": [], "stages_ms": {}} for p in precisions}

    monkeypatch.setattr(st, "_tensorrt", engines_ran)
    out = root / f"report-{which}"
    report = st.run_selftest(DEMO_EXPORT, out, ["int8"], engines_dir=root / which, repeats=1,
                             holdout_images=4)
    mods["pycuda.driver"].gpu.check_clean()
    acc = report["accuracy"]
    assert acc["generated"] and acc["seed"] == st.HOLDOUT_SEED
    assert len(list((out / "holdout" / "images").iterdir())) == 4
    assert acc["max_drop_points"] == 1.0 and acc["fp32_onnxruntime"] > 20
    row = acc["by_precision"]["int8"]
    assert report["status"] == status, report["failed"]
    if which == "good":  # the engines are the FP32 graphs: nothing lost
        assert row["ok"] and abs(row["drop_points"]) < 1e-6
    else:
        assert not row["ok"] and row["drop_points"] > 10
    md = (out / "selftest.md").read_text()
    assert "TensorRT accuracy on the held-out set" in md
    assert ("| int8 |" in md) and (("FAIL" in md) == (status == "fail"))


def test_selftest_accuracy_needs_a_holdout_for_classes_synthetic_scenes_lack(tmp_path) -> None:
    from edge import catalog
    from edge.bench.selftest import holdout_for

    desc = catalog.describe("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96))
    desc = desc.replace(class_names=("car",))
    root, why = holdout_for(desc, tmp_path, 2)
    assert root is None and "--holdout" in why and "car" in why
