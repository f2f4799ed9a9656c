"""TensorRT engines without TensorRT: version plans, identity, the engine folder, and the
builder's calls against a fake ``tensorrt`` module that records them (shaped like the
documented 8.6 / 10.x / 11.x Python API, with the removed calls absent)."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from edge import catalog
from edge.engines.folder import read_engine_folder, write_engine_folder
from edge.engines.identity import DeviceInfo, EngineKey, check_engine, read_l4t
from edge.engines.versions import api_for, parse_version, plan_build
from edge.errors import EngineError, ModelFileError
from tests.fake_device import fake_ilogger

ORIN = DeviceInfo("10.3.0.30", "Orin", "8.7", "R36.4.3")
ALL_FILES = {"detector.onnx", "detector.fp16.onnx", "detector.int8-trt.onnx",
             "detector.calib.cache"}


# --------------------------------------------------------------------------- versions


def test_versions_parse_and_old_releases_are_refused() -> None:
    assert parse_version("10.3.0.30") == (10, 3, 0) and parse_version("11.4") == (11, 4, 0)
    with pytest.raises(EngineError, match="needs 8.6 or newer"):
        api_for("8.5.2")
    a86, a10, a11 = api_for("8.6.2"), api_for("10.3.0"), api_for("11.4.0")
    assert a86.needs_explicit_batch_flag and not a10.needs_explicit_batch_flag
    assert a10.has_calibrators and not a11.has_calibrators and not a11.has_precision_flags
    assert not a86.has_progress_monitor and a10.has_progress_monitor
    assert a11.always_strongly_typed


@pytest.mark.parametrize("version, precision, files, graph, flags, typed, cache", [
    ("8.6.2", "fp16", ALL_FILES, "detector.onnx", ("FP16",), False, None),
    ("10.3.0", "fp16", ALL_FILES, "detector.onnx", ("FP16",), False, None),
    ("11.4.0", "fp16", ALL_FILES, "detector.fp16.onnx", (), True, None),
    ("10.3.0", "int8", ALL_FILES, "detector.int8-trt.onnx", ("INT8", "FP16"), False, None),
    ("11.4.0", "int8", ALL_FILES, "detector.int8-trt.onnx", (), True, None),
    ("8.6.2", "int8", {"detector.onnx", "detector.calib.cache"}, "detector.onnx",
     ("INT8", "FP16"), False, "detector.calib.cache"),
    ("11.4.0", "fp32", ALL_FILES, "detector.onnx", (), True, None),
])
def test_build_plans_per_release(version, precision, files, graph, flags, typed, cache) -> None:
    plan = plan_build(api_for(version), "detector", precision, files)
    assert (plan.graph, plan.flags, plan.strongly_typed, plan.calibration_cache) == (
        graph, flags, typed, cache)


def test_tensorrt_11_refuses_what_it_cannot_build_and_says_how() -> None:
    with pytest.raises(EngineError, match="fp16.onnx: missing.*edge-build export"):
        plan_build(api_for("11.4"), "detector", "fp16", {"detector.onnx"}, "ex")
    # the calibration cache cannot help on 11 (no calibrators): the Q/DQ graph is needed
    with pytest.raises(EngineError, match="int8-trt.onnx: missing.*edge-build calibrate"):
        plan_build(api_for("11.4"), "detector", "int8", {"detector.onnx", "detector.calib.cache"})


# --------------------------------------------------------------------------- identity


def test_l4t_release_is_read_from_the_tegra_file(tmp_path) -> None:
    f = tmp_path / "nv_tegra_release"
    f.write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64")
    assert read_l4t(f) == "R36.4.3"
    assert read_l4t(tmp_path / "missing") is None
    assert DeviceInfo("10.3", "Orin", "8.7", "R36.4.3").jetpack == "6.1 / 6.2"


def test_engine_names_change_with_anything_that_breaks_compatibility() -> None:
    base = EngineKey("ab" * 32, "fp16", {"image": [[1, 3, 64, 64]] * 3}, {}, ORIN)
    names = {base.file_name("detector")}
    for other in (EngineKey("cd" * 32, "fp16", base.profile, {}, ORIN),
                  EngineKey(base.graph_sha256, "int8", base.profile, {}, ORIN),
                  EngineKey(base.graph_sha256, "fp16", {"image": [[1, 3, 96, 96]] * 3}, {}, ORIN),
                  EngineKey(base.graph_sha256, "fp16", base.profile, {},
                            DeviceInfo("11.4.0", "Orin", "8.7", "R36.4.3"))):
        names.add(other.file_name("detector"))
    assert len(names) == 5
    assert re.fullmatch(r"detector\.fp16\.[0-9a-f]{12}\.engine", base.file_name("detector"))


def test_an_engine_for_another_device_is_refused_with_the_reason_and_the_fix() -> None:
    sidecar = {"device": ORIN.__dict__}
    check_engine(sidecar, DeviceInfo("10.3.0.26", "Orin", "8.7", "R36.4.3"), "e", "cmd")  # build no.
    with pytest.raises(EngineError) as exc:
        check_engine(sidecar, DeviceInfo("11.4.0", "Thor", "11.0", "R38.4.0"), "x.engine",
                     "edge-build engine --export E --precision fp16 --out D")
    msg = str(exc.value)
    assert "TensorRT 10.3.0.30 -> 11.4.0" in msg and "GPU Orin -> Thor" in msg
    assert "rebuild with: edge-build engine --export E" in msg


# --------------------------------------------------------------------------- folder


def make_folder(tmp_path: Path, desc, device=ORIN) -> Path:
    out = tmp_path / "engines"
    out.mkdir()
    entries = [{"file": "detector.fp16.x.engine", "role": "detector", "branch": None,
                "precision": "fp16"}]
    for b in range(len(desc.branches)):
        entries.append({"file": f"b{b}.fp16.x.engine", "role": "branch", "branch": b,
                        "precision": "fp16"})
    for e in entries:
        (out / e["file"]).write_bytes(b"engine bytes " + e["file"].encode())
    write_engine_folder(out, desc, {"path": "/ex/demo"}, device, entries)
    return out


def test_engine_folder_round_trip_and_refusals(tmp_path) -> None:
    desc = catalog.describe("ssd-isb-single-shape-plus", alpha=0.25, input_size=(128, 128))
    out = make_folder(tmp_path, desc)
    got, entries = read_engine_folder(out, "fp16", ORIN)
    assert got == desc and len(entries) == 1 + len(desc.branches)
    with pytest.raises(ModelFileError, match="no int8 engines.*edge-build engine --export "
                                             "/ex/demo --precision int8"):
        read_engine_folder(out, "int8", ORIN)
    with pytest.raises(EngineError, match="TensorRT 10.3.0.30 -> 10.4.0"):
        read_engine_folder(out, "fp16", DeviceInfo("10.4.0", "Orin", "8.7", "R36.4.3"))
    (out / "b0.fp16.x.engine").write_bytes(b"truncated")
    with pytest.raises(ModelFileError, match="b0.fp16.x.engine: sha256 differs"):
        read_engine_folder(out, "fp16", ORIN)
    (out / "b0.fp16.x.engine").unlink()
    with pytest.raises(ModelFileError, match="b0.fp16.x.engine: listed in"):
        read_engine_folder(out, "fp16", ORIN)


# --------------------------------------------------------------------------- builder


class FakeTrt(types.ModuleType):
    """The parts of the tensorrt module the builder uses, per release; records calls."""

    def __init__(self, version: str) -> None:
        super().__init__("tensorrt")
        self.__version__ = version
        major = int(version.split(".")[0])
        calls: list = []
        self.calls = calls
        flags = {"STRONGLY_TYPED": 1} if major >= 10 else {}
        if major < 11:
            flags["EXPLICIT_BATCH"] = 0
        self.NetworkDefinitionCreationFlag = types.SimpleNamespace(**flags)
        bflags = {"GPU_FALLBACK": "GPU_FALLBACK"}
        if major < 11:
            bflags.update(FP16="FP16", INT8="INT8")
        self.BuilderFlag = types.SimpleNamespace(**bflags)
        self.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
        self.DeviceType = types.SimpleNamespace(DLA="DLA", GPU="GPU")
        self.ILogger = fake_ilogger()
        sev = self.ILogger.Severity
        if major >= 10:
            class IProgressMonitor:
                def __init__(self) -> None:
                    pass

            self.IProgressMonitor = IProgressMonitor
        if major < 11:
            class IInt8EntropyCalibrator2:
                def __init__(self) -> None:
                    pass

            self.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
        fake = self

        class Input:
            def __init__(self, name):
                self.name = name

        class Network:
            num_inputs = 1

            def get_input(self, i):
                return Input("image")

        class Parser:
            num_errors = 0

            def __init__(self, network, logger):
                self.logger = logger

            def parse_from_file(self, path):
                calls.append(("parse", Path(path).name))
                if "broken" in path:
                    self.num_errors = 1
                    return False
                return True

            def get_error(self, i):
                return types.SimpleNamespace(node=lambda: 7, node_name=lambda: "/head/Resize",
                                             node_operator=lambda: "Resize",
                                             desc=lambda: "unsupported mode cubic")

        class Cache:
            def serialize(self):
                return b"timing"

        class Config:
            def __setattr__(self, key, value):
                calls.append(("config." + key, value))
                object.__setattr__(self, key, value)

            def set_memory_pool_limit(self, pool, size):
                calls.append(("set_memory_pool_limit", pool, size))

            def set_flag(self, flag):
                calls.append(("set_flag", flag))

            def create_timing_cache(self, data):
                calls.append(("create_timing_cache", data))
                return Cache()

            def set_timing_cache(self, cache, ignore_mismatch):
                pass

            def get_timing_cache(self):
                return Cache()

            def add_optimization_profile(self, p):
                calls.append(("profile", p.shapes))

            def set_calibration_profile(self, p):
                calls.append(("calibration_profile",))

        class Profile:
            def __init__(self):
                self.shapes = {}

            def set_shape(self, name, lo, opt, hi):
                self.shapes[name] = (list(lo), list(opt), list(hi))

        class Builder:
            def __init__(self, logger):
                self.logger = logger

            def create_network(self, flags):
                calls.append(("create_network", flags))
                return Network()

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                calls.append(("build_serialized_network",))
                if fake.fail_with:
                    self.logger.log(sev.ERROR, fake.fail_with)
                    return None
                return b"SERIALIZED"

        self.Builder = Builder
        self.OnnxParser = Parser
        self.fail_with = None


def build_with(monkeypatch, tmp_path, version, precision, graph_name="detector.onnx", **kw):
    from edge.engines import builder

    trt = FakeTrt(version)
    desc = catalog.describe("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96))
    export = tmp_path / "export"
    export.mkdir(exist_ok=True)
    for f in ALL_FILES | {graph_name}:
        (export / f).write_bytes(b"graph " + f.encode())
    opts = builder.BuildOptions(precision=precision, progress=True, **kw)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    stem = graph_name[:-len(".onnx")]
    entry, timing = builder.build_one(trt, api_for(version), export, stem, "detector", None, desc,
                                      {f for f in ALL_FILES | {graph_name}}, opts, out, ORIN,
                                      None)
    return trt, entry, out


@pytest.mark.parametrize("version", ["8.6.2", "10.3.0", "11.4.0"])
def test_builder_uses_only_the_documented_calls_of_each_release(monkeypatch, tmp_path,
                                                                version) -> None:
    trt, entry, out = build_with(monkeypatch, tmp_path, version, "fp16", workspace_mb=256,
                                 opt_level=2)
    calls = trt.calls
    assert ("set_memory_pool_limit", "WORKSPACE", 256 << 20) in calls
    assert ("config.builder_optimization_level", 2) in calls
    flags = dict(c for c in calls if c[0] == "create_network")["create_network"]
    if version.startswith("11"):
        assert ("parse", "detector.fp16.onnx") in calls and flags == 1 << 1
        assert not [c for c in calls if c[0] == "set_flag"]
    else:
        assert ("parse", "detector.onnx") in calls and ("set_flag", "FP16") in calls
        assert flags == (1 << 0 if version.startswith("8") else 0)
    assert any(c[0] == "config.progress_monitor" for c in calls) == (not version.startswith("8"))
    assert (out / entry["file"]).read_bytes() == b"SERIALIZED"
    side = json.loads((out / (entry["file"] + ".json")).read_text())
    assert side["device"]["trt_version"] == "10.3.0.30" and side["precision"] == "fp16"


def test_int8_from_the_qdq_graph_or_the_calibration_cache_on_8_6(monkeypatch, tmp_path) -> None:
    from edge.engines import builder

    trt, entry, _ = build_with(monkeypatch, tmp_path, "8.6.2", "int8")
    names = [c[0] for c in trt.calls]
    # with the Q/DQ graph present it wins over the cache (explicit quantization)
    assert ("parse", "detector.int8-trt.onnx") in trt.calls and "config.int8_calibrator" not in names
    trt = FakeTrt("8.6.2")
    export = tmp_path / "export"
    builder.build_one(trt, api_for("8.6.2"), export, "detector", "detector", None,
                      catalog.describe("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96)),
                      {"detector.onnx", "detector.calib.cache"},
                      builder.BuildOptions(precision="int8", progress=False), tmp_path / "out",
                      ORIN, None)
    names = [c[0] for c in trt.calls]
    assert ("parse", "detector.onnx") in trt.calls and ("set_flag", "INT8") in trt.calls
    assert "config.int8_calibrator" in names and "calibration_profile" in names
    calib = builder._cache_calibrator(trt, b"TRT-8600-EntropyCalibration2\n")
    assert calib.get_batch(["image"]) is None
    assert calib.read_calibration_cache().startswith(b"TRT-8600")


def test_parse_failures_name_the_node_and_oom_suggests_a_smaller_workspace(
        monkeypatch, tmp_path) -> None:
    with pytest.raises(EngineError, match=r"/head/Resize \(Resize\): unsupported mode cubic"):
        build_with(monkeypatch, tmp_path, "10.3.0", "fp32", graph_name="broken.onnx")
    from edge.engines import builder

    trt = FakeTrt("10.3.0")
    trt.fail_with = "Requested amount of GPU memory (1073741824 bytes) could not be allocated"
    desc = catalog.describe("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96))
    export = tmp_path / "e2"
    export.mkdir()
    (export / "detector.onnx").write_bytes(b"g")
    with pytest.raises(EngineError, match="ran out of memory; try --workspace 512.*swap"):
        builder.build_one(trt, api_for("10.3.0"), export, "detector", "detector", None, desc,
                          {"detector.onnx"}, builder.BuildOptions(precision="fp32"), export,
                          ORIN, None)


def test_branch_profiles_span_one_to_the_branch_cap() -> None:
    from edge.engines.builder import profile_for

    desc = catalog.describe("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96))
    prof = profile_for(desc, "branch", 0, ["crop32", "crop16", "crop8"], None)
    lo, opt, hi = prof["crop32"]
    assert lo[0] == 1 and 1 <= opt[0] <= hi[0] and lo[1:] == hi[1:]
    assert prof["crop8"][0][2:] == [lo[2] * 4, lo[3] * 4]
    assert profile_for(desc, "detector", None, ["image"], None) == {"image": [[1, 3, 96, 96]] * 3}


def test_no_call_removed_in_tensorrt_10_appears_in_the_package() -> None:
    import edge

    # spelled in pieces so this file does not itself contain the names
    removed = tuple(a + b for a, b in (("execute_async", "_v2"), ("build_", "engine("),
                                       ("max_workspace", "_size"), ("get_", "binding_"),
                                       ("set_binding", "_shape"), ("num_", "bindings"),
                                       ("binding_", "is_input"), ("build_cuda", "_engine")))
    root = Path(edge.__file__).parent
    for f in root.rglob("*.py"):
        text = f.read_text()
        for name in removed:
            assert name not in text, f"{f.relative_to(root)} uses {name}"


def test_engine_command_without_tensorrt_is_one_line(capsys, monkeypatch) -> None:
    from edge.cli import build

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert build.main(["engine", "--export", "x", "--out", "y"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tensorrt" in err[0] and "JetPack" in err[0]


def test_tensorrt_backend_without_tensorrt_says_how_to_get_it(monkeypatch) -> None:
    from edge.errors import MissingDependencyError
    from edge.runtime.model import Pipeline

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(MissingDependencyError, match="tensorrt"):
        Pipeline.from_dir("demo", backend="tensorrt")
    with Pipeline.from_dir("demo", backend="auto") as p:  # no engines: ONNX Runtime
        assert p.backend_name == "onnxruntime"
    assert np.__name__  # numpy stays importable alongside
