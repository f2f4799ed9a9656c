"""TensorRT engines without TensorRT: version plans, identity, the engine folder, and the
builder's calls against a fake ``tensorrt`` module that records them (shaped like the
documented 8.6 / 10.x / 11.x Python API, with the removed calls absent)."""

from __future__ import annotations

import enum as enum_lib
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

ORIN = DeviceInfo("10.3.0.30", "Orin", "8.7", "R36.4.3")
# as edge-build calibrate writes it (header of TensorRT 10.3, whatever the device runs)
CALIB_CACHE = b"TRT-100300-EntropyCalibration2\nimage: 3c010a14\n"
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


# Per-release API of the tensorrt module, as the bindings define it (names from
# python/src/infer/pyCore.cpp, values from include/NvInfer.h, NVIDIA/TensorRT release/8.6,
# release/10.3 and release/11.1; 11.0's values are 11.1's). A name missing here is missing
# in that release and raises AttributeError, as pybind does.
RELEASES = {
    8: {
        "BuilderFlag": {"FP16": 0, "INT8": 1, "DEBUG": 2, "GPU_FALLBACK": 3, "STRICT_TYPES": 4,
                        "REFIT": 5, "DISABLE_TIMING_CACHE": 6, "TF32": 7, "SPARSE_WEIGHTS": 8,
                        "SAFETY_SCOPE": 9, "OBEY_PRECISION_CONSTRAINTS": 10,
                        "PREFER_PRECISION_CONSTRAINTS": 11, "DIRECT_IO": 12,
                        "REJECT_EMPTY_ALGORITHMS": 13, "ENABLE_TACTIC_HEURISTIC": 14,
                        "VERSION_COMPATIBLE": 15, "EXCLUDE_LEAN_RUNTIME": 16, "FP8": 17},
        "NetworkDefinitionCreationFlag": {"EXPLICIT_BATCH": 0, "EXPLICIT_PRECISION": 1},
        "MemoryPoolType": {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1, "DLA_LOCAL_DRAM": 2,
                           "DLA_GLOBAL_DRAM": 3, "TACTIC_DRAM": 4},
        "config_props": {"min_timing_iterations", "avg_timing_iterations", "int8_calibrator",
                         "engine_capability", "max_workspace_size", "flags",
                         "default_device_type", "DLA_core", "quantization_flags",
                         "profile_stream", "profiling_verbosity", "algorithm_selector",
                         "builder_optimization_level", "hardware_compatibility_level",
                         "plugins_to_serialize", "max_aux_streams"},
        "config_methods": {"set_calibration_profile"},
        "calibrators": True, "progress_monitor": False,
    },
    10: {
        "BuilderFlag": {"FP16": 0, "INT8": 1, "DEBUG": 2, "GPU_FALLBACK": 3, "REFIT": 4,
                        "DISABLE_TIMING_CACHE": 5, "TF32": 6, "SPARSE_WEIGHTS": 7,
                        "SAFETY_SCOPE": 8, "OBEY_PRECISION_CONSTRAINTS": 9,
                        "PREFER_PRECISION_CONSTRAINTS": 10, "DIRECT_IO": 11,
                        "REJECT_EMPTY_ALGORITHMS": 12, "VERSION_COMPATIBLE": 13,
                        "EXCLUDE_LEAN_RUNTIME": 14, "FP8": 15, "ERROR_ON_TIMING_CACHE_MISS": 16,
                        "BF16": 17, "DISABLE_COMPILATION_CACHE": 18, "STRIP_PLAN": 19,
                        "WEIGHTLESS": 19, "REFIT_IDENTICAL": 20, "WEIGHT_STREAMING": 21,
                        "INT4": 22, "REFIT_INDIVIDUAL": 23},
        "NetworkDefinitionCreationFlag": {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1},
        "MemoryPoolType": {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1, "DLA_LOCAL_DRAM": 2,
                           "DLA_GLOBAL_DRAM": 3, "TACTIC_DRAM": 4, "TACTIC_SHARED_MEMORY": 5},
        "config_props": {"avg_timing_iterations", "int8_calibrator", "engine_capability",
                         "flags", "default_device_type", "DLA_core", "quantization_flags",
                         "profile_stream", "profiling_verbosity", "algorithm_selector",
                         "builder_optimization_level", "hardware_compatibility_level",
                         "runtime_platform", "plugins_to_serialize", "max_aux_streams",
                         "progress_monitor"},
        "config_methods": {"set_calibration_profile"},
        "calibrators": True, "progress_monitor": True,
    },
    11: {
        "BuilderFlag": {"DEBUG": 2, "GPU_FALLBACK": 3, "REFIT": 4, "DISABLE_TIMING_CACHE": 5,
                        "TF32": 6, "SPARSE_WEIGHTS": 7, "SAFETY_SCOPE": 8, "DIRECT_IO": 11,
                        "VERSION_COMPATIBLE": 12, "EXCLUDE_LEAN_RUNTIME": 13,
                        "ERROR_ON_TIMING_CACHE_MISS": 15, "DISABLE_COMPILATION_CACHE": 17,
                        "STRIP_PLAN": 18, "REFIT_IDENTICAL": 19, "WEIGHT_STREAMING": 20,
                        "REFIT_INDIVIDUAL": 22, "STRICT_NANS": 23, "MONITOR_MEMORY": 24,
                        "EDITABLE_TIMING_CACHE": 26, "DISTRIBUTIVE_INDEPENDENCE": 27},
        "NetworkDefinitionCreationFlag": {"STRONGLY_TYPED": 0, "PREFER_JIT_PYTHON_PLUGINS": 1,
                                          "PREFER_AOT_PYTHON_PLUGINS": 2},
        "MemoryPoolType": {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1, "DLA_LOCAL_DRAM": 2,
                           "DLA_GLOBAL_DRAM": 3, "TACTIC_DRAM": 4, "TACTIC_SHARED_MEMORY": 5},
        "config_props": {"avg_timing_iterations", "engine_capability", "flags",
                         "default_device_type", "DLA_core", "profile_stream",
                         "profiling_verbosity", "builder_optimization_level", "max_num_tactics",
                         "hardware_compatibility_level", "runtime_platform",
                         "plugins_to_serialize", "max_aux_streams", "progress_monitor",
                         "tiling_optimization_level", "l2_limit_for_tiling",
                         "remote_auto_tuning_config", "build_route"},
        "config_methods": set(),
        "calibrators": False, "progress_monitor": True,
    },
}
# include/NvInferRuntimeBase.h (ILogger::Severity) and NvInferRuntime.h (DeviceType), all three
SEVERITY = {"INTERNAL_ERROR": 0, "ERROR": 1, "WARNING": 2, "INFO": 3, "VERBOSE": 4}
DEVICE_TYPE = {"GPU": 0, "DLA": 1}


class Strict:
    """An object that, like a pybind class, has only the attributes it declares: reading or
    setting any other raises AttributeError."""

    _props: frozenset = frozenset()

    def __setattr__(self, key: str, value) -> None:
        if key.startswith("_") or key in self._props:
            object.__setattr__(self, key, value)
            return
        raise AttributeError(f"'tensorrt.{type(self).__name__}' object has no attribute {key!r}")


class FakeTrt(types.ModuleType):
    """The parts of the tensorrt module the builder uses, per release, at least as strict as
    the real one; records calls. ``timing_cache_none`` / ``get_timing_cache_none`` make
    create_timing_cache / get_timing_cache return None, as the real ones may."""

    def __init__(self, version: str) -> None:
        super().__init__("tensorrt")
        self.__version__ = version
        major = int(version.split(".")[0])
        api = RELEASES[major]
        calls: list = []
        self.calls = calls
        self.fail_with = None
        self.timing_cache_none = False
        self.get_timing_cache_none = False
        for enum in ("BuilderFlag", "NetworkDefinitionCreationFlag", "MemoryPoolType"):
            setattr(self, enum, enum_lib.IntEnum(enum, api[enum]))
        self.DeviceType = enum_lib.IntEnum("DeviceType", DEVICE_TYPE)
        Severity = enum_lib.IntEnum("Severity", SEVERITY)

        class ILogger:
            def __init__(self) -> None:
                pass

        ILogger.Severity = Severity
        self.ILogger = ILogger
        if api["progress_monitor"]:
            class IProgressMonitor:
                def __init__(self) -> None:
                    pass

            self.IProgressMonitor = IProgressMonitor
        if api["calibrators"]:
            class IInt8EntropyCalibrator2:
                def __init__(self) -> None:
                    pass

            self.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
        fake = self
        tag = f"TC:{version}:".encode()  # a timing cache is valid for one TensorRT only

        def need(value, kind) -> None:
            if not isinstance(value, kind):  # pybind: "incompatible function arguments"
                raise TypeError(f"incompatible argument {value!r}, expected {kind.__name__}")

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
                need(logger, ILogger)
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

        class TimingCache:
            def __init__(self, blob: bytes) -> None:
                self.blob = blob

            def serialize(self):
                return memoryview(tag + b"timings")

        methods = {"set_memory_pool_limit", "set_flag", "clear_flag", "get_flag",
                   "create_timing_cache", "set_timing_cache", "get_timing_cache",
                   "add_optimization_profile"} | api["config_methods"]

        class Config(Strict):
            _props = frozenset(api["config_props"])

            def __getattribute__(self, name):
                if (not name.startswith("_") and name not in methods
                        and name not in object.__getattribute__(self, "_props")):
                    raise AttributeError(f"'tensorrt.IBuilderConfig' object has no attribute "
                                         f"{name!r}")
                return object.__getattribute__(self, name)

            def __setattr__(self, key, value):
                if key == "default_device_type":
                    need(value, fake.DeviceType)
                if key == "int8_calibrator":
                    need(value, fake.IInt8EntropyCalibrator2)
                super().__setattr__(key, value)
                calls.append(("config." + key, value))

            def set_memory_pool_limit(self, pool, size):
                need(pool, fake.MemoryPoolType)
                calls.append(("set_memory_pool_limit", pool.name, size))

            def set_flag(self, flag):
                need(flag, fake.BuilderFlag)
                calls.append(("set_flag", flag.name))

            def clear_flag(self, flag):
                need(flag, fake.BuilderFlag)
                calls.append(("clear_flag", flag.name))

            def get_flag(self, flag):
                need(flag, fake.BuilderFlag)
                return False

            def create_timing_cache(self, data):
                data = bytes(data)
                calls.append(("create_timing_cache", data))
                if fake.timing_cache_none or (data and not data.startswith(b"TC:")):
                    return None  # unreadable bytes: TensorRT logs and returns nullptr
                return TimingCache(data)

            def set_timing_cache(self, cache, ignore_mismatch):
                need(cache, TimingCache)  # None is refused: the binding takes a reference
                ok = ignore_mismatch or not cache.blob or cache.blob.startswith(tag)
                calls.append(("set_timing_cache", ok))
                if ok:
                    self._timing = cache
                return ok

            def get_timing_cache(self):
                if fake.get_timing_cache_none:
                    return None
                return getattr(self, "_timing", None)

            def add_optimization_profile(self, p):
                calls.append(("profile", p.shapes))

            def set_calibration_profile(self, p):
                calls.append(("calibration_profile",))

        class Profile(Strict):
            def __init__(self):
                self._shapes = {}

            @property
            def shapes(self):
                return self._shapes

            def set_shape(self, name, lo, opt, hi):
                self._shapes[name] = (list(lo), list(opt), list(hi))

        class Builder(Strict):
            def __init__(self, logger):
                need(logger, ILogger)
                self._logger = logger

            def create_network(self, flags):
                need(flags, int)
                calls.append(("create_network", flags))
                return Network()

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                calls.append(("build_serialized_network",))
                if fake.fail_with:
                    self._logger.log(Severity.VERBOSE, "verbose chatter")
                    self._logger.log(Severity.ERROR, fake.fail_with)
                    return None
                return memoryview(b"SERIALIZED")

        self.Builder = Builder
        self.OnnxParser = Parser


def build_with(monkeypatch, tmp_path, version, precision, graph_name="detector.onnx", **kw):
    from edge.engines import builder

    trt = FakeTrt(version)
    desc = catalog.describe("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96))
    export = tmp_path / "export"
    export.mkdir(exist_ok=True)
    for f in ALL_FILES | {graph_name}:
        (export / f).write_bytes(CALIB_CACHE if f.endswith(".calib.cache") else
                                 b"graph " + f.encode())
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
        # always strongly typed in 11: no flag (bit 1 would be PREFER_JIT_PYTHON_PLUGINS)
        assert ("parse", "detector.fp16.onnx") in calls and flags == 0
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
        res = p(np.zeros((96, 128, 3), np.uint8))  # and it runs a frame without TensorRT
        assert res.stages_ms["detector"] > 0
