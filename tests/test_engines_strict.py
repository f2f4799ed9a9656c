"""Review findings on the engine side (issue 12), each against the strict fake tensorrt of
``tests/test_engines.py``: calibration-cache header (4), timing cache (5), TF32 (9), engine
folder with several precisions (10), one logger (12, 20), DLA (21), board identity (26),
containers (27), JetPack 7 (28), the fake's own strictness (31, 32) and the jetson extra
(6, 7)."""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path

import pytest

from edge import catalog
from edge.engines import builder, logger as trt_log
from edge.engines.folder import read_engine_folder, write_engine_folder
from edge.engines.identity import (DeviceInfo, EngineKey, board_family, check_engine,
                                   read_board)
from edge.engines.versions import (JETPACK_BY_L4T, api_for, calibration_header, dla_problem,
                                   version_number)
from edge.errors import ConfigError, EngineError
from tests.test_engines import ALL_FILES, CALIB_CACHE, FakeTrt, build_with

AGX = "NVIDIA Jetson AGX Orin Developer Kit"
NANO = "NVIDIA Jetson Orin Nano Developer Kit"
AGX_ORIN = DeviceInfo("10.3.0.30", "Orin", "8.7", "R36.4.3", AGX, 16)
DESC = catalog.describe("ssd-isb-multi-shape", alpha=0.25, input_size=(96, 96))


def one(trt: FakeTrt, version: str, precision: str, tmp_path: Path, files=None, role="detector",
        branch=None, timing: bytes | None = None, **kw):
    """build_one of ``detector`` (or a branch) against ``trt``; the export written first."""
    export = tmp_path / "export"
    export.mkdir(exist_ok=True)
    files = files or ALL_FILES
    for f in files:
        (export / f).write_bytes(CALIB_CACHE if f.endswith(".calib.cache") else b"g")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    opts = builder.BuildOptions(precision=precision, progress=False, **kw)
    return builder.build_one(trt, api_for(version), export, "detector", role, branch, DESC,
                             set(files), opts, out, AGX_ORIN, timing)


# ------------------------------------------------------------------ 4: calibration cache


def test_cache_headers_use_tensorrts_own_version_number() -> None:
    # NV_TENSORRT_VERSION: 8.x major*1000+minor*100+patch, >= 10 major*10000+minor*100+patch
    assert version_number("8.6.2.3") == 8602 and version_number("8.6.1") == 8601
    assert version_number("10.3.0.30") == 100300 and version_number("10.13.3") == 101303
    assert calibration_header("8.6.2") == "TRT-8602-EntropyCalibration2"


@pytest.mark.parametrize("version, header", [("8.6.2.3", b"TRT-8602-EntropyCalibration2"),
                                             ("10.3.0.30", b"TRT-100300-EntropyCalibration2")])
def test_int8_cache_is_served_with_the_running_tensorrts_header(tmp_path, version,
                                                                header) -> None:
    trt = FakeTrt(version)
    one(trt, version, "int8", tmp_path, files={"detector.onnx", "detector.calib.cache"})
    calib = dict(c for c in trt.calls if c[0] == "config.int8_calibrator")[
        "config.int8_calibrator"]
    served = calib.read_calibration_cache()
    assert served.split(b"\n")[0] == header  # JetPack 6.0's 8.6.2 rejects TRT-100300
    assert served.split(b"\n", 1)[1] == CALIB_CACHE.split(b"\n", 1)[1]  # scales untouched


def test_a_file_that_is_no_calibration_cache_is_refused_by_name(tmp_path) -> None:
    with pytest.raises(EngineError, match=r"x.cache: not a TensorRT calibration cache"):
        builder.cache_for_this_tensorrt(FakeTrt("8.6.2"), b"garbage\n", "x.cache")


# ------------------------------------------------------------------ 5: timing cache


def test_a_timing_cache_of_another_tensorrt_is_replaced_by_a_fresh_one(tmp_path,
                                                                       caplog) -> None:
    trt = FakeTrt("8.6.2")
    with caplog.at_level(logging.WARNING):
        _, timing = one(trt, "8.6.2", "fp16", tmp_path, timing=b"TC:10.3.0:old")
    assert ("set_timing_cache", False) in trt.calls and ("set_timing_cache", True) in trt.calls
    assert "rejected the saved timing cache" in caplog.text and "times every layer" in caplog.text
    assert timing.startswith(b"TC:8.6.2:")  # the new cache is what gets saved


def test_timing_cache_apis_returning_none_do_not_break_the_build(tmp_path, caplog) -> None:
    trt = FakeTrt("10.3.0")
    trt.timing_cache_none = True  # create_timing_cache may return None
    with caplog.at_level(logging.WARNING):
        entry, timing = one(trt, "10.3.0", "fp16", tmp_path, timing=b"TC:10.3.0:x")
    assert timing is None and "building without one" in caplog.text
    trt = FakeTrt("10.3.0")
    trt.get_timing_cache_none = True  # get_timing_cache may return None
    assert one(trt, "10.3.0", "fp16", tmp_path)[1] is None


def test_the_saved_timing_cache_is_keyed_to_tensorrt_and_device(tmp_path, caplog) -> None:
    path = tmp_path / "timing.cache"
    builder.save_timing_cache(path, b"TC:10.3.0.30:t", AGX_ORIN)
    assert builder.load_timing_cache(path, AGX_ORIN) == b"TC:10.3.0.30:t"
    for other in (DeviceInfo("10.4.0", "Orin", "8.7", None, AGX, 16),
                  DeviceInfo("10.3.0.30", "Orin", "8.7", None, NANO, 8)):
        with caplog.at_level(logging.WARNING):
            assert builder.load_timing_cache(path, other) is None
    assert "starting a fresh timing cache" in caplog.text
    (tmp_path / "timing.cache.json").unlink()  # a cache of unknown origin is not trusted
    assert builder.load_timing_cache(path, AGX_ORIN) is None


# ------------------------------------------------------------------ 9: TF32


@pytest.mark.parametrize("version", ["8.6.2", "10.3.0", "11.4.1"])
def test_fp32_engines_clear_tf32_and_others_keep_it(tmp_path, version) -> None:
    trt, _, _ = build_with(None, tmp_path, version, "fp32")
    assert ("clear_flag", "TF32") in trt.calls
    trt, _, _ = build_with(None, tmp_path, version, "fp16")
    assert ("clear_flag", "TF32") not in trt.calls


# ------------------------------------------------------------------ 10: engine folder


def folder_entries(out: Path, precision: str, desc) -> list[dict]:
    entries = [{"file": f"detector.{precision}.engine", "role": "detector", "branch": None,
                "precision": precision}]
    entries += [{"file": f"b{b}.{precision}.engine", "role": "branch", "branch": b,
                 "precision": precision} for b in range(len(desc.branches))]
    for e in entries:
        (out / e["file"]).write_bytes(e["file"].encode())
    return entries


def test_a_second_precision_keeps_the_first_and_each_keeps_its_own_device(tmp_path) -> None:
    desc = catalog.describe("ssd-isb-single-shape-plus", alpha=0.25, input_size=(128, 128))
    out = tmp_path / "engines"
    out.mkdir()
    write_engine_folder(out, desc, {"path": "/ex"}, AGX_ORIN, folder_entries(out, "fp16", desc))
    write_engine_folder(out, desc, {"path": "/ex"}, AGX_ORIN, folder_entries(out, "int8", desc))
    for p in ("fp16", "int8"):
        assert len(read_engine_folder(out, p, AGX_ORIN)[1]) == 1 + len(desc.branches)
    # JetPack upgrade, then only int8 is rebuilt: the fp16 entries are stale and refused
    new = DeviceInfo("10.4.0", "Orin", "8.7", "R36.4.3", AGX, 16)
    write_engine_folder(out, desc, {"path": "/ex"}, new, folder_entries(out, "int8", desc))
    assert read_engine_folder(out, "int8", new)
    with pytest.raises(EngineError, match=r"TensorRT 10.3.0.30 -> 10.4.0.*--precision fp16"):
        read_engine_folder(out, "fp16", new)


def test_build_entries_record_device_and_dla_core(tmp_path) -> None:
    entry, _ = one(FakeTrt("10.3.0"), "10.3.0", "fp16", tmp_path)
    assert entry["dla_core"] is None
    out = tmp_path / "out"
    folder = write_engine_folder(out, DESC, {"path": "/ex"}, AGX_ORIN, [entry])
    assert folder["engines"][0]["device"]["board"] == AGX
    assert json.loads((out / "engines.json").read_text())["engines"][0]["device"]["sm_count"] == 16


# ------------------------------------------------------------------ 12, 20: one logger


def test_one_logger_per_process_shared_by_builder_and_runtime(tmp_path) -> None:
    trt = FakeTrt("10.3.0")
    assert trt_log.trt_logger(trt) is trt_log.trt_logger(trt)
    assert builder.trt_logger is trt_log.trt_logger  # what tensorrt_backend imports today
    seen = []
    real = trt.Builder

    class Recording(real):
        def __init__(self, logger):
            super().__init__(logger)
            seen.append(logger)

    trt.Builder = Recording
    one(trt, "10.3.0", "fp16", tmp_path)
    one(trt, "10.3.0", "fp32", tmp_path)
    assert seen[0] is seen[1] is trt_log.trt_logger(trt)


def test_the_logger_drops_verbose_messages_before_any_logging_call(monkeypatch) -> None:
    trt = FakeTrt("10.3.0")
    calls = []

    class Spy:
        def __getattr__(self, name):
            if name == "isEnabledFor":
                return lambda level: level >= logging.WARNING
            return lambda *a, **k: calls.append(name)

    monkeypatch.setattr(trt_log, "log", Spy())
    lg = trt_log.trt_logger(trt)
    assert lg.min_severity == trt_log.WARNING
    lg.log(trt.ILogger.Severity.VERBOSE, "tactic timing")
    lg.log(trt.ILogger.Severity.INFO, "info")
    assert calls == []
    with lg.collect() as errors:
        lg.log(trt.ILogger.Severity.ERROR, "out of memory")
    assert errors == ["out of memory"] and calls == ["error"]
    monkeypatch.setattr(trt_log, "log", logging.getLogger("edge.engines.tensorrt"))
    logging.getLogger("edge.engines.tensorrt").setLevel(logging.INFO)
    try:
        assert trt_log.trt_logger(trt).min_severity == trt_log.INFO  # -v
    finally:
        logging.getLogger("edge.engines.tensorrt").setLevel(logging.NOTSET)


def test_build_failure_reports_the_errors_of_this_build_only(tmp_path) -> None:
    trt = FakeTrt("10.3.0")
    trt.fail_with = "Requested amount of GPU memory could not be allocated"
    with pytest.raises(EngineError, match="ran out of memory"):
        one(trt, "10.3.0", "fp16", tmp_path)
    trt.fail_with = "some other failure"
    with pytest.raises(EngineError, match=r"\(some other failure\)"):
        one(trt, "10.3.0", "fp16", tmp_path)


# ------------------------------------------------------------------ 21: DLA


@pytest.mark.parametrize("version, precision, family, cc, why", [
    ("10.3.0", "fp32", "agx-orin", "8.7", "FP16 and INT8 only"),
    ("10.13.0", "fp16", "thor", "11.0", "Thor has no DLA"),
    ("10.13.0", "fp16", None, "11.0", "Thor has no DLA"),
    ("10.3.0", "int8", "orin-nano", "8.7", "Orin Nano has no DLA"),
    ("11.0.0", "fp16", "agx-orin", "8.7", "no DLA on JetPack"),
    ("11.4.0", "fp16", "agx-orin", "8.7", "no DLA on JetPack"),
    ("11.4.1", "fp16", "orin-nx", "8.7", "AGX Orin only"),
])
def test_dla_is_refused_where_it_cannot_work(version, precision, family, cc, why) -> None:
    assert why in dla_problem(version, precision, family, cc)
    dev = DeviceInfo(version, "Orin", cc, None, {"thor": "NVIDIA Jetson AGX Thor",
                                                 "orin-nano": NANO}.get(family, AGX), 8)
    if family in ("thor", "orin-nano", "agx-orin", None):
        with pytest.raises(ConfigError, match=r"--dla 0: not possible.*" + why):
            builder.check_dla(api_for(version), builder.BuildOptions(precision=precision,
                                                                     dla_core=0), dev)


@pytest.mark.parametrize("version, precision, family", [
    ("8.6.2", "fp16", "agx-orin"), ("10.3.0", "int8", "orin-nx"), ("11.4.1", "int8", "agx-orin")])
def test_dla_is_allowed_where_nvidia_supports_it(version, precision, family) -> None:
    assert dla_problem(version, precision, family, "8.7") is None


def test_dla_branch_engines_get_a_static_profile_and_record_the_core(tmp_path) -> None:
    trt = FakeTrt("10.3.0")
    export = tmp_path / "export"
    export.mkdir()
    files = {"branch_2x2r.onnx"}
    (export / "branch_2x2r.onnx").write_bytes(b"g")
    (tmp_path / "out").mkdir()
    opts = builder.BuildOptions(precision="fp16", progress=False, dla_core=1, max_boxes=6)
    inputs = ["image"]  # the fake network names its one input "image"
    entry, _ = builder.build_one(trt, api_for("10.3.0"), export, "branch_2x2r", "branch", 2,
                                 DESC, files, opts, tmp_path / "out", AGX_ORIN, None)
    prof = dict(c for c in trt.calls if c[0] == "profile")["profile"][inputs[0]]
    assert prof[0][0] == prof[1][0] == prof[2][0] == 6  # min = opt = max: DLA can run it
    assert entry["dla_core"] == 1 and entry["static_batch"] == 6
    assert ("config.DLA_core", 1) in trt.calls and ("set_flag", "GPU_FALLBACK") in trt.calls


# ------------------------------------------------------------------ 26, 27, 28: identity


def test_the_board_is_read_and_named(tmp_path) -> None:
    f = tmp_path / "model"
    f.write_bytes(AGX.encode() + b"\x00")
    assert read_board(f) == AGX and read_board(tmp_path / "missing") is None
    assert [board_family(b) for b in (AGX, NANO, "NVIDIA Jetson Orin NX Engineering Reference "
                                      "Developer Kit", "NVIDIA Jetson AGX Thor Developer Kit",
                                      None)] == ["agx-orin", "orin-nano", "orin-nx", "thor", None]


def test_an_agx_orin_engine_is_refused_on_an_orin_nano_naming_both() -> None:
    nano = DeviceInfo("10.3.0.30", "Orin", "8.7", "R36.4.3", NANO, 8)
    with pytest.raises(EngineError) as exc:
        check_engine({"device": AGX_ORIN.__dict__}, nano, "d.engine", "cmd")
    assert f"board {AGX} -> {NANO}" in str(exc.value) and "SM count 16 -> 8" in str(exc.value)
    assert (EngineKey("ab" * 32, "fp16", {}, {}, AGX_ORIN).file_name("d")
            != EngineKey("ab" * 32, "fp16", {}, {}, nano).file_name("d"))


def test_a_container_without_the_l4t_file_runs_valid_engines(caplog) -> None:
    in_container = DeviceInfo("10.3.0.30", "Orin", "8.7", None, AGX, 16)
    with caplog.at_level(logging.INFO):
        check_engine({"device": AGX_ORIN.__dict__}, in_container, "d.engine", "cmd")
    assert "L4T release unknown" in caplog.text
    with pytest.raises(EngineError, match="GPU Orin -> Thor"):  # a real mismatch still counts
        check_engine({"device": AGX_ORIN.__dict__},
                     DeviceInfo("10.3.0.30", "Thor", "8.7", None, AGX, 16), "d.engine", "cmd")


def test_jetpack_7_releases_are_named() -> None:
    assert JETPACK_BY_L4T["R38.2"] == ("7.0", "10.13")
    assert DeviceInfo("10.13.0", "Thor", "11.0", "R38.4.0").jetpack == "7.1"


# ------------------------------------------------------------------ 31, 32: the fake itself


def test_the_fake_has_each_releases_exact_enums() -> None:
    t8, t10, t11 = FakeTrt("8.6.2"), FakeTrt("10.3.0"), FakeTrt("11.4.1")
    assert (t8.BuilderFlag.TF32, t10.BuilderFlag.TF32, t11.BuilderFlag.TF32) == (7, 6, 6)
    assert t8.NetworkDefinitionCreationFlag.EXPLICIT_BATCH == 0
    assert t10.NetworkDefinitionCreationFlag.STRONGLY_TYPED == 1
    assert t11.NetworkDefinitionCreationFlag.STRONGLY_TYPED == 0  # deprecated, ignored
    assert t11.NetworkDefinitionCreationFlag.PREFER_JIT_PYTHON_PLUGINS == 1
    assert t10.MemoryPoolType.WORKSPACE == 0 and t10.DeviceType.DLA == 1
    for missing in ("FP16", "INT8", "BF16"):
        with pytest.raises(AttributeError):
            getattr(t11.BuilderFlag, missing)
    with pytest.raises(AttributeError):
        t11.NetworkDefinitionCreationFlag.EXPLICIT_BATCH
    assert not hasattr(t11, "IInt8EntropyCalibrator2") and not hasattr(t8, "IProgressMonitor")


def test_the_fake_config_refuses_what_the_release_lacks() -> None:
    logger = trt_log.trt_logger(t11 := FakeTrt("11.4.1"))
    cfg = t11.Builder(logger).create_builder_config()
    with pytest.raises(AttributeError):
        cfg.int8_calibrator = object()  # removed in 11
    with pytest.raises(AttributeError):
        cfg.set_calibration_profile(None)
    t10 = FakeTrt("10.3.0")
    cfg = t10.Builder(trt_log.trt_logger(t10)).create_builder_config()
    with pytest.raises(AttributeError):
        cfg.max_workspace_size = 1 << 30  # removed in 10
    with pytest.raises(AttributeError):
        cfg.no_such_attribute = 1
    with pytest.raises(TypeError):
        cfg.set_flag("FP16")  # a string is not a BuilderFlag
    with pytest.raises(TypeError):
        cfg.set_timing_cache(None, ignore_mismatch=False)
    foreign = cfg.create_timing_cache(b"TC:8.6.2:t")
    assert cfg.set_timing_cache(foreign, ignore_mismatch=False) is False
    assert cfg.create_timing_cache(b"not a cache") is None
    t10.get_timing_cache_none = True
    assert cfg.get_timing_cache() is None


# ------------------------------------------------------------------ 6, 7: the jetson extra


def test_the_jetson_extra_pins_pycuda_for_cuda_13_and_numpy_1_on_jetpack_6() -> None:
    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[1]
    extra = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["jetson"]
    reqs = {Requirement(r).name: Requirement(r) for r in extra}
    assert "2025.1.2" in reqs["pycuda"].specifier and "2025.1.1" not in reqs["pycuda"].specifier
    numpy = reqs["numpy"]
    assert "2.0" not in numpy.specifier and "1.26.4" in numpy.specifier
    jp6 = {"platform_machine": "aarch64", "python_version": "3.10"}
    assert numpy.marker.evaluate(jp6)
    assert not numpy.marker.evaluate({**jp6, "python_version": "3.12"})  # JetPack 7
    assert not numpy.marker.evaluate({"platform_machine": "x86_64", "python_version": "3.10"})
    assert "tensorrt" not in reqs and not any(n.startswith("opencv") for n in reqs)
