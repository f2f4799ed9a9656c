"""The machine's peak multiply-add rate: the PHYSICAL peak from the CPU's features and
clock (or a GPU's device properties), and the ACHIEVED peak of ONNX Runtime's own matrix
kernels on this machine.

Physical, per core and cycle: float32 MACs = FMA pipes x SIMD lanes (AVX-512: 16 float32
lanes, AVX2: 8, NEON: 4); int8 MACs with a dot-product instruction (x86 VNNI
``vpdpbusd``, Arm ``sdot``) = 4x the float32 rate (four int8 products per 32-bit lane);
with Intel AMX-INT8 tiles, Intel's 1024 int8 MACs (2048 ops) per cycle and core. Times
the cores this process may run on and the clock. ``/proc/cpuinfo`` names the instruction
sets but not how many FMA pipes a core has: :data:`X86_PIPES` / :data:`ARM_PIPES` hold
that per CPU family, each entry with its source, and a CPU not in them gets an assumption
that is labelled as such in the output.

Achieved: ONNX Runtime's MatMul (float32) and MatMulInteger (uint8 x int8) on large
square matrices with every core, best of a few runs. Never a NumPy matmul (NumPy's BLAS
may be pinned to an older kernel, e.g. by ``OPENBLAS_CORETYPE``, and then measures the
library, not the machine).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- tables

# x86: (vendor, family, models or None for any) -> (FMA pipes, float32 lanes per pipe, source).
# Lanes per pipe are the datapath width the FMA executes at, which is not always the ISA's
# (Zen 4 runs AVX-512 on 256-bit units).
X86_PIPES: tuple[tuple[str, int, frozenset[int] | None, int, int, str], ...] = (
    ("GenuineIntel", 6, frozenset({85}), 2, 16,
     "Skylake-SP / Cascade Lake Xeon: 2 x 512-bit FMA (ports 0+1 fused and port 5) on Gold "
     "6xxx / Platinum; Silver, Bronze and Gold 5xxx have 1 (half this)"),
    ("GenuineIntel", 6, frozenset({106, 108}), 2, 16,
     "Ice Lake-SP Xeon: 2 x 512-bit FMA"),
    ("GenuineIntel", 6, frozenset({143}), 2, 16,
     "Sapphire Rapids Xeon: 2 x 512-bit FMA"),
    ("GenuineIntel", 6, frozenset({207}), 2, 16,
     "Emerald Rapids Xeon: 2 x 512-bit FMA"),
    ("GenuineIntel", 6, frozenset({173, 174}), 2, 16,
     "Granite Rapids Xeon: 2 x 512-bit FMA"),
    ("GenuineIntel", 6, frozenset({102, 125, 126, 140, 141, 167}), 1, 16,
     "Intel client AVX-512 (Cannon/Ice/Tiger/Rocket Lake): 1 x 512-bit FMA (ports 0+1 "
     "fused), or 2 x 256-bit"),
    ("AuthenticAMD", 23, frozenset(range(0x00, 0x30)), 2, 4,
     "Zen / Zen+: 2 FMA pipes of 128 bits (AVX2 split in two)"),
    ("AuthenticAMD", 23, frozenset(range(0x30, 0x100)), 2, 8,
     "Zen 2: 2 x 256-bit FMA"),
    ("AuthenticAMD", 25, None, 2, 8,
     "Zen 3 / Zen 4: 2 x 256-bit FMA (Zen 4 runs AVX-512 on them in two halves)"),
    ("AuthenticAMD", 26, None, 2, 16,
     "Zen 5 desktop / server: 2 x 512-bit FMA (mobile Zen 5 runs 512-bit ops on 256-bit "
     "units: half this)"),
)

# Arm: (implementer, part) -> (FMA pipes, float32 lanes, name, source). Every listed core
# runs FMLA and SDOT on the same 128-bit ASIMD pipes.
ARM_PIPES: dict[tuple[int, int], tuple[int, int, str, str]] = {
    (0x41, 0xd0b): (2, 4, "Cortex-A76", "2 x 128-bit ASIMD (FMLA, SDOT)"),
    (0x41, 0xd0c): (2, 4, "Neoverse N1", "2 x 128-bit ASIMD (FMLA, SDOT)"),
    (0x41, 0xd0d): (2, 4, "Cortex-A77", "2 x 128-bit ASIMD (FMLA, SDOT)"),
    (0x41, 0xd41): (2, 4, "Cortex-A78", "2 x 128-bit ASIMD (FMLA, SDOT)"),
    (0x41, 0xd42): (2, 4, "Cortex-A78AE", "2 x 128-bit ASIMD (FMLA, SDOT), as Cortex-A78 "
                                          "(Jetson AGX Orin / Orin NX / Orin Nano)"),
    (0x41, 0xd4b): (2, 4, "Cortex-A78C", "2 x 128-bit ASIMD (FMLA, SDOT)"),
    (0x41, 0xd47): (2, 4, "Cortex-A710", "2 x 128-bit ASIMD/SVE2 (FMLA, SDOT)"),
    (0x41, 0xd49): (2, 4, "Neoverse N2", "2 x 128-bit ASIMD/SVE2 (FMLA, SDOT)"),
    (0x41, 0xd44): (4, 4, "Cortex-X1", "4 x 128-bit ASIMD (FMLA, SDOT)"),
    (0x41, 0xd40): (4, 4, "Neoverse V1", "4 x 128-bit ASIMD (or 2 x 256-bit SVE)"),
    (0x41, 0xd4f): (4, 4, "Neoverse V2", "4 x 128-bit ASIMD/SVE2"),
}

AMX_INT8_MACS = 1024  # per core and cycle: Intel's 2048 int8 ops/cycle for AMX-TMUL
DEFAULT_PIPES = 2  # an assumption, labelled in the output, for CPUs not in the tables


# --------------------------------------------------------------------------- /proc/cpuinfo


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The first processor's ``key: value`` lines of ``/proc/cpuinfo`` (keys lower case);
    aarch64's system-wide lines (``Hardware``, ``Model``) are kept too."""
    info: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            key, value = (s.strip() for s in line.split(":", 1))
            info.setdefault(key.lower(), value)  # the first processor's value wins
    return info


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        return None


def clock_from(info: dict[str, str], max_freq_khz: int | None) -> tuple[float | None, str]:
    """(GHz, where it came from): the kernel's cpufreq maximum, else the model name's
    GHz (nominal), else /proc/cpuinfo's 'cpu MHz' (the current clock)."""
    if max_freq_khz:
        return max_freq_khz / 1e6, ("cpufreq cpuinfo_max_freq (the highest clock the kernel "
                                    "allows, turbo included)")
    m = re.search(r"@\s*([0-9.]+)\s*GHz", info.get("model name", ""))
    if m:
        return float(m.group(1)), ("the model name's GHz (the nominal clock: turbo runs "
                                   "higher, heavy AVX-512 may run lower)")
    mhz = info.get("cpu mhz")
    if mhz:
        try:
            return float(mhz) / 1e3, ("/proc/cpuinfo 'cpu MHz' (the clock reported now; under "
                                      "a hypervisor usually the nominal one; turbo not known)")
        except ValueError:
            pass
    return None, "no clock: no cpufreq maximum, no GHz in the model name, no 'cpu MHz'"


def cpu_peak(cpuinfo: str, cores: int, max_freq_khz: int | None = None,
             machine: str = "x86_64") -> dict[str, Any]:
    """The physical float32 and int8 multiply-add peaks (GMAC/s) of ``cores`` cores from
    ``/proc/cpuinfo`` text, the cpufreq maximum (kHz, if any) and the architecture.

    Returns a dict with ``fp32_gmacs`` / ``int8_gmacs`` (None when unknown, with
    ``fp32_reason`` / ``int8_reason``), how they were computed (``isa``, ``fma_pipes``,
    ``fp32_lanes``, ``int8_macs_per_cycle``, ``clock_ghz``, ``clock_source``) and
    ``assumptions``: what is assumed rather than read from the machine.
    """
    info = parse_cpuinfo(cpuinfo)
    flags = set((info.get("flags") or info.get("features") or "").split())
    out: dict[str, Any] = {
        "kind": "cpu", "cpu": info.get("model name") or info.get("hardware") or machine,
        "cores": cores, "isa": None, "fma_pipes": None, "fp32_lanes": None,
        "pipes_source": None, "int8_unit": None, "int8_macs_per_cycle": None,
        "clock_ghz": None, "clock_source": None, "fp32_gmacs": None, "int8_gmacs": None,
        "fp32_reason": None, "int8_reason": None, "int8_vnni_gmacs": None,
        "assumptions": []}
    ghz, out["clock_source"] = clock_from(info, max_freq_khz)
    out["clock_ghz"] = ghz
    dot = 0  # lanes of an int8 dot-product instruction (VNNI / SDOT): 4 int8 MACs each
    if machine in ("x86_64", "amd64", "i686", "x86") or "vendor_id" in info:
        vendor = info.get("vendor_id", "")
        family, model = _int(info.get("cpu family")), _int(info.get("model"))
        if "avx512f" in flags:
            out["isa"], isa_lanes = "AVX-512", 16
        elif "avx2" in flags and "fma" in flags:
            out["isa"], isa_lanes = "AVX2+FMA", 8
        else:
            out["fp32_reason"] = ("no FMA vector unit this code knows (neither AVX-512 nor "
                                  "AVX2+FMA in /proc/cpuinfo flags)")
            out["int8_reason"] = "no float32 peak to scale"
            return out
        entry = next((e for e in X86_PIPES if e[0] == vendor and e[1] == family
                      and (e[2] is None or model in e[2])), None)
        if entry is not None:
            pipes, lanes, src = entry[3], min(entry[4], isa_lanes), entry[5]
            out["pipes_source"] = f"table ({vendor} family {family} model {model}): {src}"
        else:
            pipes, lanes = DEFAULT_PIPES, isa_lanes
            out["pipes_source"] = "assumed"
            out["assumptions"].append(
                f"{pipes} FMA pipes of {lanes} float32 lanes per core ({out['isa']}): "
                f"{vendor or 'this vendor'} family {family} model {model} is not in the "
                f"table and /proc/cpuinfo does not say how many FMA units a core has")
        if "avx512_vnni" in flags:
            dot, out["int8_unit"] = lanes, "AVX-512 VNNI (vpdpbusd)"
        elif "avx_vnni" in flags:
            dot, out["int8_unit"] = min(lanes, 8), "AVX-VNNI (vpdpbusd, 256-bit)"
        else:
            out["int8_reason"] = ("no VNNI (int8 dot-product) instruction: int8 runs "
                                  "vpmaddubsw/vpmaddwd, at most 2x the float32 rate; no int8 "
                                  "peak is stated")
        amx = "amx_int8" in flags
    elif machine in ("aarch64", "arm64"):
        amx = False
        if "asimd" not in flags:
            out["fp32_reason"] = "no ASIMD (NEON) in /proc/cpuinfo Features"
            out["int8_reason"] = "no float32 peak to scale"
            return out
        out["isa"], lanes = "ASIMD (NEON, 128-bit)", 4
        impl, part = _int(info.get("cpu implementer")), _int(info.get("cpu part"))
        entry = ARM_PIPES.get((impl or -1, part or -1))
        if entry is not None:
            pipes, lanes, name, src = entry
            out["pipes_source"] = f"table (implementer {impl:#x} part {part:#x}, {name}): {src}"
            if out["cpu"] == machine:
                out["cpu"] = name
        else:
            pipes = DEFAULT_PIPES
            out["pipes_source"] = "assumed"
            out["assumptions"].append(
                f"{pipes} ASIMD FMA pipes of 4 float32 lanes per core: implementer "
                f"{impl if impl is None else hex(impl)} part "
                f"{part if part is None else hex(part)} is not in the table")
        if "asimddp" in flags:
            dot, out["int8_unit"] = lanes, "ASIMD dot product (sdot/udot)"
        else:
            out["int8_reason"] = "no int8 dot product (asimddp) in /proc/cpuinfo Features"
    else:
        out["fp32_reason"] = f"architecture {machine!r} is not one this code knows"
        out["int8_reason"] = "no float32 peak to scale"
        return out
    out["fma_pipes"], out["fp32_lanes"] = pipes, lanes
    if ghz is None:
        out["fp32_reason"] = out["int8_reason"] = out["clock_source"]
        return out
    fp32_per_cycle = pipes * lanes
    out["fp32_gmacs"] = cores * fp32_per_cycle * ghz
    if dot:
        out["int8_macs_per_cycle"] = 4 * pipes * dot
        out["int8_vnni_gmacs"] = out["int8_gmacs"] = cores * 4 * pipes * dot * ghz
    if amx:
        out["int8_unit"] = "AMX-INT8 tiles (TMUL)"
        out["int8_macs_per_cycle"] = AMX_INT8_MACS
        out["int8_gmacs"] = cores * AMX_INT8_MACS * ghz
        out["int8_reason"] = None
        out["assumptions"].append(
            f"AMX-INT8 at Intel's {AMX_INT8_MACS} int8 MACs per cycle and core (2048 ops, "
            f"Sapphire Rapids and later; /proc/cpuinfo names the unit, not its rate)")
    return out


# --------------------------------------------------------------------------- GPU

# CUDA cores (float32 FMA lanes) per SM by compute capability major.minor
CUDA_CORES_PER_SM = {"5.0": 128, "5.2": 128, "5.3": 128, "6.0": 64, "6.1": 128, "6.2": 128,
                     "7.0": 64, "7.2": 64, "7.5": 64, "8.0": 64, "8.6": 128, "8.7": 128,
                     "8.9": 128, "9.0": 128, "10.0": 128, "10.1": 128, "10.3": 128,
                     "11.0": 128, "12.0": 128, "12.1": 128}


def gpu_peak(name: str, cc: str, sms: int | None, clock_khz: int | None) -> dict[str, Any]:
    """A GPU's float32 peak from its device properties: SMs x CUDA cores per SM x SM
    clock (one FMA per core and cycle); int8 from dp4a (4x, compute capability 6.1+).
    Tensor cores are not counted (their rate depends on the kernel and precision)."""
    out: dict[str, Any] = {"kind": "gpu", "gpu": name, "compute_capability": cc,
                           "multiprocessors": sms, "clock_ghz": None,
                           "clock_source": "device attribute ClockRate (SM clock)",
                           "fp32_gmacs": None, "int8_gmacs": None, "fp32_reason": None,
                           "int8_reason": None, "int8_unit": None,
                           "assumptions": ["CUDA cores only: tensor cores not counted"]}
    per_sm = CUDA_CORES_PER_SM.get(cc)
    if per_sm is None or not sms or not clock_khz:
        why = (f"compute capability {cc} is not in the table" if per_sm is None else
               f"the driver reports {sms!r} SMs and SM clock {clock_khz!r} kHz")
        out["fp32_reason"] = out["int8_reason"] = why
        return out
    out["clock_ghz"] = clock_khz / 1e6
    out["fp32_gmacs"] = sms * per_sm * clock_khz / 1e6
    major, minor = (int(v) for v in cc.split("."))
    if (major, minor) >= (6, 1):
        out["int8_unit"], out["int8_gmacs"] = "dp4a on CUDA cores", 4 * out["fp32_gmacs"]
    else:
        out["int8_reason"] = f"compute capability {cc} has no dp4a"
    return out


def device_gpu_peak() -> dict[str, Any] | None:
    """The first CUDA GPU's peak (CuPy, else pycuda), or None without one (a driver that
    refuses is logged; anything else raises)."""
    from edge.optional import available

    if available("cupy"):
        import cupy as cp

        try:
            if cp.cuda.runtime.getDeviceCount() > 0:
                a = cp.cuda.Device(0).attributes
                name = cp.cuda.runtime.getDeviceProperties(0)["name"]
                name = name.decode() if isinstance(name, bytes) else str(name)
                return gpu_peak(name, f"{a.get('ComputeCapabilityMajor')}."
                                      f"{a.get('ComputeCapabilityMinor')}",
                                a.get("MultiProcessorCount"), a.get("ClockRate"))
        except cp.cuda.runtime.CUDARuntimeError as exc:
            log.info("CuPy sees no usable GPU: %s", exc)
    if available("pycuda.driver"):
        import pycuda.driver as cuda

        try:
            cuda.init()
            if cuda.Device.count() > 0:
                dev = cuda.Device(0)
                attr = cuda.device_attribute
                major, minor = dev.compute_capability()
                return gpu_peak(dev.name(), f"{major}.{minor}",
                                dev.get_attribute(attr.MULTIPROCESSOR_COUNT),
                                dev.get_attribute(attr.CLOCK_RATE))
        except cuda.Error as exc:
            log.info("pycuda sees no usable GPU: %s", exc)
    return None


# --------------------------------------------------------------------------- this machine


def physical_cores(cpus: set[int], sys_root: Path = Path("/sys/devices/system/cpu")
                   ) -> tuple[int, str]:
    """(cores, how counted): the distinct physical cores among the logical ``cpus``
    (SMT siblings share one core's FMA units), from sysfs topology, else the logical
    count."""
    seen = set()
    for c in cpus:
        topo = sys_root / f"cpu{c}" / "topology"
        try:
            seen.add(((topo / "physical_package_id").read_text().strip(),
                      (topo / "core_id").read_text().strip()))
        except OSError:
            return len(cpus), "os.sched_getaffinity (logical CPUs; SMT not known)"
    return len(seen), "os.sched_getaffinity, SMT siblings counted once (sysfs topology)"


def machine_peak(threads: int | None = None) -> dict[str, Any]:
    """This machine's physical peak on the cores this process may use (at most
    ``threads``): the CPU's, plus ``gpu`` when CuPy or pycuda sees a CUDA device."""
    import platform

    try:
        cpus = set(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = set(range(os.cpu_count() or 1))
    cores, how = physical_cores(cpus)
    if threads is not None and threads < cores:
        cores, how = threads, f"{threads} threads asked for ({how}: {cores} available)"
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    try:
        khz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
                  .read_text().strip())
    except (OSError, ValueError):
        khz = None
    peak = cpu_peak(text, cores, khz, platform.machine())
    peak["cores_source"] = how
    if not text:
        peak["fp32_reason"] = peak["int8_reason"] = "no /proc/cpuinfo"
    gpu = device_gpu_peak()
    if gpu is not None:
        peak["gpu"] = gpu
    return peak


def _matmul_model(kind: str, n: int) -> bytes:
    from edge.optional import require

    onnx = require("onnx", "the achieved matmul peak")
    from onnx import TensorProto, helper

    if kind == "fp32":
        a_t, b_t, y_t, op = TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT, "MatMul"
    else:
        a_t, b_t, y_t, op = TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32, \
            "MatMulInteger"
    graph = helper.make_graph(
        [helper.make_node(op, ["A", "B"], ["Y"])], f"peak-{kind}",
        [helper.make_tensor_value_info("A", a_t, [n, n]),
         helper.make_tensor_value_info("B", b_t, [n, n])],
        [helper.make_tensor_value_info("Y", y_t, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def achieved_peak(threads: int, n: int = 2048, repeats: int = 3,
                  clock: Callable[[], float] = time.perf_counter) -> dict[str, Any]:
    """GMAC/s of ONNX Runtime's CPU MatMul (float32) and MatMulInteger (uint8 x int8) on
    ``n`` x ``n`` matrices with ``threads`` intra-op threads, best of ``repeats`` runs
    after one warm-up."""
    import numpy as np

    from edge.optional import require

    ort = require("onnxruntime", "the achieved matmul peak")
    rng = np.random.default_rng(0)
    inputs = {"fp32": (rng.standard_normal((n, n), np.float32),
                       rng.standard_normal((n, n), np.float32)),
              "int8": (rng.integers(0, 256, (n, n), dtype=np.uint8),
                       rng.integers(-128, 128, (n, n), dtype=np.int8))}
    out: dict[str, Any] = {"kernel": f"ONNX Runtime {ort.__version__} MatMul (float32) / "
                                     f"MatMulInteger (uint8 x int8), {n}x{n}x{n}, "
                                     f"{threads} threads, best of {repeats}",
                           "threads": threads, "n": n}
    for kind, (a, b) in inputs.items():
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(_matmul_model(kind, n), so,
                                    providers=["CPUExecutionProvider"])
        feed = {"A": a, "B": b}
        sess.run(None, feed)
        best = float("inf")
        for _ in range(repeats):
            t0 = clock()
            sess.run(None, feed)
            best = min(best, clock() - t0)
        out[f"{kind}_gmacs"] = n ** 3 / best / 1e9 if best > 0 else None
    return out


def share(gmacs_per_s: float | None, precision: str, peak: dict[str, Any] | None
          ) -> float | None:
    """``gmacs_per_s`` as a share of the physical peak of ``precision`` (INT8 rows against
    the int8 peak, FP32 and FP16 rows against the float32 one), or None when unknown."""
    if gmacs_per_s is None or not peak:
        return None
    ref = peak.get("int8_gmacs") if precision == "int8" else peak.get("fp32_gmacs")
    return gmacs_per_s / ref if ref else None


def describe(physical: dict[str, Any], achieved: dict[str, Any] | None) -> list[str]:
    """Lines for a report: the physical peaks with how they were computed, the achieved
    ones, and every assumption."""
    p = physical
    lines = []
    if p.get("fp32_gmacs") is not None:
        lines.append(
            f"Physical peak ({p['cpu']}, {p['cores']} cores, {p['isa']}): float32 "
            f"{p['fp32_gmacs']:.0f} GMAC/s = {p['cores']} cores x {p['fma_pipes']} FMA pipes x "
            f"{p['fp32_lanes']} lanes x {p['clock_ghz']:.2f} GHz (clock: {p['clock_source']}; "
            f"pipes: {p['pipes_source']}).")
    else:
        lines.append(f"Physical float32 peak unknown ({p.get('cpu')}): {p.get('fp32_reason')}.")
    if p.get("int8_gmacs") is not None:
        vnni = (f"; VNNI alone {p['int8_vnni_gmacs']:.0f} GMAC/s"
                if p.get("int8_vnni_gmacs") and p["int8_vnni_gmacs"] != p["int8_gmacs"] else "")
        lines.append(f"Physical peak int8: {p['int8_gmacs']:.0f} GMAC/s with "
                     f"{p['int8_unit']} ({p['int8_macs_per_cycle']} int8 MACs per cycle and "
                     f"core){vnni}.")
    else:
        lines.append(f"Physical int8 peak not stated: {p.get('int8_reason')}.")
    for a in p.get("assumptions", []):
        lines.append(f"Assumed: {a}.")
    g = p.get("gpu")
    if g:
        lines.append(f"GPU {g['gpu']} (compute capability {g['compute_capability']}): float32 "
                     + (f"{g['fp32_gmacs']:.0f} GMAC/s = {g['multiprocessors']} SMs x "
                        f"{CUDA_CORES_PER_SM[g['compute_capability']]} CUDA cores x "
                        f"{g['clock_ghz']:.2f} GHz" if g["fp32_gmacs"] else
                        f"unknown ({g['fp32_reason']})")
                     + (f", int8 {g['int8_gmacs']:.0f} GMAC/s ({g['int8_unit']})"
                        if g.get("int8_gmacs") else "") + "; tensor cores not counted.")
    if achieved:
        def pct(kind: str) -> str:
            ref = p.get(f"{kind}_gmacs")
            got = achieved.get(f"{kind}_gmacs")
            return f" ({100 * got / ref:.0f}% of physical)" if ref and got else ""

        fp32 = achieved.get("fp32_gmacs")
        int8 = achieved.get("int8_gmacs")
        lines.append(
            f"Achieved: float32 {fp32:.0f} GMAC/s{pct('fp32')}, int8 {int8:.0f} GMAC/s"
            f"{pct('int8')}, {achieved['kernel']}." if fp32 and int8 else
            f"Achieved peak not measured: {achieved.get('reason', 'unknown')}.")
    return lines


def main() -> None:  # python -m edge.bench.peak
    import json
    import sys

    threads = int(sys.argv[1]) if len(sys.argv) > 1 else None
    phys = machine_peak(threads)
    ach = achieved_peak(threads or phys["cores"])
    print("\n".join(describe(phys, ach)))
    print(json.dumps({"physical": phys, "achieved": ach}, indent=2))


if __name__ == "__main__":
    main()
