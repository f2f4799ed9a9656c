"""TensorRT version handling, in one place: what each release can do and how to build.

- 8.6 (JetPack 6.0) and 10.x (JetPack 6.1/6.2 ship 10.3): named-tensor API, precision
  builder flags (FP16, INT8) and INT8 calibrators; 8.6 still needs the EXPLICIT_BATCH
  network flag, 10.x adds the progress monitor and strongly-typed networks.
- 11.x (JetPack >= 7.2.2 on Orin and Thor): the FP16/INT8 builder flags and every
  calibrator are gone; networks are strongly typed, so precision comes from the graph: the
  FP16 graph (``*.fp16.onnx``) and the Q/DQ graph (``*.int8-trt.onnx``).

Nothing here imports tensorrt: a :class:`BuildPlan` says which graph to parse and which
flags to set, and :mod:`edge.engines.builder` turns it into API calls. Tested for every
version on machines without TensorRT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edge.errors import EngineError

MIN_VERSION = (8, 6, 0)
# L4T release -> (JetPack, the TensorRT it ships), for messages and the self-test report;
# releases not listed are reported by their L4T string alone. JetPack 7.0 is Jetson Linux
# 38.2 and 7.1 is 38.4 (NVIDIA's JetPack 7.0/7.1 download pages), both with CUDA 13 and
# TensorRT 10.13 (Thor). TensorRT 11.x supports no JetPack before 11.4.1, and 11.4.1 only
# JetPack >= 7.2.2 on Jetson AGX Orin and Thor (TensorRT 11.4.1 docs, "Migrating TensorRT
# from 10.x to 11.x on Jetson/JetPack"); JetPack 7.2's L4T is not listed because the
# TensorRT it carries depends on the 7.2 update.
JETPACK_BY_L4T = {
    "R35.4": ("5.1.2", "8.5"),
    "R35.5": ("5.1.3", "8.5"),
    "R36.2": ("6.0 DP", "8.6"),
    "R36.3": ("6.0", "8.6"),
    "R36.4": ("6.1 / 6.2", "10.3"),
    "R38.2": ("7.0", "10.13"),
    "R38.4": ("7.1", "10.13"),
}
# The first TensorRT 11 release that supports JetPack (and DLA on Jetson AGX Orin).
FIRST_JETPACK_TRT11 = (11, 4, 1)


def parse_version(text: str) -> tuple[int, int, int]:
    """'10.3.0.30' -> (10, 3, 0)."""
    m = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", str(text))
    if not m:
        raise EngineError(f"cannot read the TensorRT version {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


@dataclass(frozen=True)
class TrtApi:
    """What one TensorRT release offers the builder and the runtime."""

    version: tuple[int, int, int]

    @property
    def label(self) -> str:
        return ".".join(str(v) for v in self.version)

    @property
    def needs_explicit_batch_flag(self) -> bool:
        return self.version[0] < 10  # implicit batch removed in 10; flag removed in 11

    @property
    def has_precision_flags(self) -> bool:
        return self.version[0] < 11

    @property
    def has_calibrators(self) -> bool:
        return self.version[0] < 11

    @property
    def has_progress_monitor(self) -> bool:
        return self.version[0] >= 10

    @property
    def has_strongly_typed(self) -> bool:
        return self.version[0] >= 10

    @property
    def always_strongly_typed(self) -> bool:
        return self.version[0] >= 11


def version_number(text: str) -> int:
    """TensorRT's NV_TENSORRT_VERSION for ``text``, as calibration-cache headers spell it:
    major*1000 + minor*100 + patch up to 8.x (8.6.2 -> 8602), major*10000 + minor*100 +
    patch from 10.0 on (10.3.0 -> 100300) (include/NvInferRuntimeBase.h, release/8.6 and
    release/10.3)."""
    major, minor, patch = parse_version(text)
    if major < 10:
        return major * 1000 + minor * 100 + patch
    return major * 10000 + minor * 100 + patch


def calibration_header(text: str, calibrator: str = "EntropyCalibration2") -> str:
    """First line of a calibration cache that TensorRT ``text`` accepts for ``calibrator``
    (``TRT-8602-EntropyCalibration2``); the scales below it do not depend on the version."""
    return f"TRT-{version_number(text)}-{calibrator}"


def dla_problem(version: str, precision: str, board_family: str | None,
                compute_capability: str | None = None) -> str | None:
    """Why ``--dla`` cannot work here (None when it can). DLA runs FP16/INT8 only; Thor and
    Orin Nano have no DLA; TensorRT 11.0-11.4.0 has no DLA on JetPack and 11.4.1 has it on
    Jetson AGX Orin only (TensorRT 11.4.1 docs, "Working with DLA")."""
    v = parse_version(version)
    if precision == "fp32":
        return "DLA runs FP16 and INT8 only; use --precision fp16 or int8, or drop --dla"
    if board_family == "thor" or (compute_capability or "").split(".")[0] in ("10", "11"):
        return "Jetson Thor has no DLA; drop --dla"
    if board_family == "orin-nano":
        return "Jetson Orin Nano has no DLA; drop --dla"
    if (11, 0, 0) <= v < FIRST_JETPACK_TRT11:
        return (f"TensorRT {version} has no DLA on JetPack (TensorRT 11.4.1 restores it on "
                f"Jetson AGX Orin with JetPack >= 7.2.2); drop --dla or use that release")
    if v >= FIRST_JETPACK_TRT11 and board_family not in (None, "agx-orin"):
        return (f"TensorRT {version} supports DLA on Jetson AGX Orin only; drop --dla")
    return None


def api_for(version: str) -> TrtApi:
    v = parse_version(version)
    if v < MIN_VERSION:
        raise EngineError(f"TensorRT {version} is too old: edge-seg needs 8.6 or newer (JetPack "
                          f"6.0+); upgrade JetPack or build with the ONNX Runtime backend")
    return TrtApi(v)


@dataclass(frozen=True)
class BuildPlan:
    """How to build one graph at one precision on one TensorRT release."""

    graph: str  # file name in the export folder
    flags: tuple[str, ...]  # BuilderFlag names to set
    strongly_typed: bool
    calibration_cache: str | None  # implicit INT8 from our cache (8.6/10.x only)
    note: str


def plan_build(api: TrtApi, stem: str, precision: str, files: set[str],
               export_dir: str | Path = "EXPORT") -> BuildPlan:
    """The graph and flags for ``stem`` (``detector``, ``branch_2x2r``, ``model``) at
    ``precision`` given the export's ``files``; refuses with the command that makes a
    missing graph."""
    fp32, fp16 = f"{stem}.onnx", f"{stem}.fp16.onnx"
    qdq, cache = f"{stem}.int8-trt.onnx", f"{stem}.calib.cache"

    def need(name: str, how: str) -> None:
        if name not in files:
            raise EngineError(f"{Path(export_dir) / name}: missing; TensorRT {api.label} needs "
                              f"it for {precision}: {how}")

    if precision == "fp32":
        need(fp32, f"edge-build export --model M --out {export_dir}")
        return BuildPlan(fp32, (), api.always_strongly_typed, None, "FP32 graph")
    if precision == "fp16":
        if api.has_precision_flags:
            need(fp32, f"edge-build export --model M --out {export_dir}")
            return BuildPlan(fp32, ("FP16",), False, None, "FP32 graph + FP16 builder flag")
        need(fp16, f"edge-build export --model M --out {export_dir} (without --no-fp16)")
        return BuildPlan(fp16, (), True, None, "FP16 graph, strongly typed")
    if precision == "int8":
        if qdq in files:
            if api.has_precision_flags:
                return BuildPlan(qdq, ("INT8", "FP16"), False, None,
                                 "Q/DQ graph + INT8/FP16 flags (explicit quantization)")
            return BuildPlan(qdq, (), True, None, "Q/DQ graph, strongly typed")
        if api.has_calibrators and fp32 in files and cache in files:
            return BuildPlan(fp32, ("INT8", "FP16"), False, cache,
                             "FP32 graph + calibration cache (implicit INT8)")
        how = f"edge-build calibrate --export {export_dir} --set IMAGES --out DIR"
        need(qdq, how)
    raise EngineError(f"unknown precision {precision!r}; choose fp32, fp16 or int8")
