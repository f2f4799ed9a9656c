"""``edge-bench selftest``: one report to attach to a bug, from the user's own device.

Records the environment (TensorRT, CUDA, GPU, L4T/JetPack, ONNX Runtime), runs the CUDA
kernels against their NumPy references with throughput, builds the TensorRT engines of an
export and compares every output with ONNX Runtime on identical inputs (per-output
tolerances), and times every stage of both backends. Parts that cannot run here (no GPU,
no TensorRT) are reported as skipped with the reason. Writes ``selftest.md`` and
``selftest.json``.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from edge import __version__, atomic
from edge.errors import EdgeError

log = logging.getLogger(__name__)

# |TensorRT - ONNX Runtime| allowed per output, relative to the reference's max |value|
TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2, "int8": 1e-1}


def environment() -> dict[str, Any]:
    """Versions and devices, each 'missing' rather than an error."""
    from edge.engines.identity import read_l4t
    from edge.engines.versions import JETPACK_BY_L4T

    def version(mod: str) -> str:
        try:
            m = __import__(mod)
            return str(getattr(m, "__version__", getattr(m, "VERSION", "present")))
        except ImportError:
            return "missing"

    env: dict[str, Any] = {"edge_seg": __version__, "python": platform.python_version(),
                           "machine": platform.machine(), "numpy": np.__version__,
                           "onnxruntime": version("onnxruntime"), "tensorrt": version("tensorrt"),
                           "pycuda": version("pycuda"), "cupy": version("cupy"),
                           "cv2": version("cv2"), "nvcc": shutil.which("nvcc") or "missing"}
    l4t = read_l4t()
    env["l4t"] = l4t or "not a Jetson"
    if l4t:
        env["jetpack"] = JETPACK_BY_L4T.get(".".join(l4t.split(".")[:2]), ("unknown",))[0]
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
        env["gpu"] = out.stdout.strip() or "none"
    except (OSError, subprocess.SubprocessError):
        env["gpu"] = "nvidia-smi unavailable"
    return env


def compare(ref: dict[str, np.ndarray], got: dict[str, np.ndarray], precision: str
            ) -> list[dict[str, Any]]:
    """Per-output max |difference| relative to the reference's scale, against the tolerance."""
    rows = []
    for name, r in ref.items():
        g = np.asarray(got[name], np.float32)
        r = np.asarray(r, np.float32)
        scale = max(float(np.abs(r).max()), 1e-6)
        err = float(np.abs(g - r).max()) / scale if g.shape == r.shape else float("inf")
        rows.append({"output": name, "rel_err": err, "tolerance": TOLERANCE[precision],
                     "ok": err <= TOLERANCE[precision]})
    return rows


def graph_outputs(backend, desc, x: np.ndarray, taps, cells_by_branch) -> dict[str, np.ndarray]:
    """Every graph's outputs on input ``x``; branches are fed crops of the same reference
    ``taps`` for both backends, so a branch's difference is the branch's own."""
    from edge.geometry import branch_inputs

    if desc.task == "semantic":
        return {"model/logits": backend.segment_image(x)}
    codes, logits, feats = backend.detect(x)
    out = {"detector/box_codes": codes, "detector/class_logits": logits,
           **{f"detector/feat{s}": feats[s] for s in sorted(feats)}}
    for b, cells in cells_by_branch.items():
        spec = desc.branches[b]
        out[f"branch_{spec.name}/mask_logits"] = backend.segment(
            b, branch_inputs(taps, cells, spec, desc))
    return out


def run_selftest(export_dir: str | Path, out_dir: str | Path, precisions: list[str],
                 engines_dir: str | Path | None = None, repeats: int = 30) -> dict[str, Any]:
    from edge.backends.onnxruntime_backend import OnnxRuntimeBackend
    from edge.bench.onnx_models import bench_export
    from edge.bench.timing import time_call
    from edge.export.onnx_export import example_inputs
    from edge.export.parity import sample_windows

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"environment": environment(), "export": str(export_dir),
                              "kernels": None, "tensorrt": {}, "onnxruntime": {}, "skipped": []}
    try:
        from edge.bench.kernels import run_kernels

        report["kernels"] = run_kernels(repeats)
    except EdgeError as exc:
        report["skipped"].append(f"CUDA kernels: {exc}")
    for p in precisions:
        try:
            report["onnxruntime"][p] = bench_export(export_dir, p, repeats)
        except EdgeError as exc:
            report["skipped"].append(f"ONNX Runtime {p}: {exc}")

    ort = OnnxRuntimeBackend(export_dir, "fp32")
    desc = ort.desc
    x = example_inputs(desc)
    taps, cells_by_branch = None, {}
    if desc.task == "instance":
        taps = ort.detect(x)[2]
        rng = np.random.default_rng(0)
        cells_by_branch = {b: np.concatenate([sample_windows(desc, b, rng)
                                              for _ in range(2)])[:4]
                           for b in range(len(desc.branches))}
    ref = graph_outputs(ort, desc, x, taps, cells_by_branch)
    try:
        from edge.backends.tensorrt_backend import TensorRTBackend
        from edge.engines.builder import BuildOptions, build_engines

        engines = Path(out / "engines" if engines_dir is None else engines_dir)
        for p in precisions:
            build_engines(export_dir, engines, BuildOptions(precision=p))
            be = TensorRTBackend(engines, p)
            try:
                got = graph_outputs(be, desc, x, taps, cells_by_branch)
                stage = "detector" if desc.task == "instance" else "network"
                run = be.detect if desc.task == "instance" else be.segment_image
                report["tensorrt"][p] = {"parity": compare(ref, got, p),
                                         "stages_ms": {stage: time_call(lambda: run(x), repeats)}}
            finally:
                be.close()
    except EdgeError as exc:
        report["skipped"].append(f"TensorRT: {exc}")
    kernel_rows = (report["kernels"] or {}).get("rows", [])
    report["ok"] = all(r["ok"] for r in kernel_rows) and all(
        row["ok"] for v in report["tensorrt"].values() for row in v["parity"])
    # "incomplete": nothing failed, but the kernels or TensorRT could not run here
    report["status"] = ("fail" if not report["ok"] else
                        "incomplete" if report["skipped"] else "pass")
    atomic.write_text(out / "selftest.json", json.dumps(report, indent=2, default=str) + "\n")
    atomic.write_text(out / "selftest.md", markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = ["# edge-seg self-test", "", f"Result: **{report['status'].upper()}**", "",
             "## Environment", "", "| item | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in env.items()]
    k = report["kernels"]
    lines += ["", "## CUDA kernels vs NumPy references", ""]
    if k:
        lines += [f"{k['device']} via {k['api']}, theoretical bandwidth {k['peak_gb_s']:.0f} GB/s",
                  "", "| kernel | size | check | ms | GB/s | % of peak |", "|---|---|---|---|---|---|"]
        for r in k["rows"]:
            lines.append(f"| {r['kernel']} | {r['size']} | {'ok' if r['ok'] else 'FAIL'} | "
                         f"{r['ms']:.3f} | {r['gb_s']:.1f} | "
                         f"{100 * r['gb_s'] / max(k['peak_gb_s'], 1e-9):.0f}% |")
    else:
        lines.append("Not run (see Skipped).")
    for title, key in (("TensorRT against ONNX Runtime", "tensorrt"),):
        lines += ["", f"## {title}", ""]
        if not report[key]:
            lines.append("Not run (see Skipped).")
        for p, v in report[key].items():
            lines += [f"### {p}", "", "| output | rel. error | tolerance | |", "|---|---|---|---|"]
            lines += [f"| {r['output']} | {r['rel_err']:.2e} | {r['tolerance']:.0e} | "
                      f"{'ok' if r['ok'] else 'FAIL'} |" for r in v["parity"]]
            lines += ["", "| stage | p50 ms | p90 ms |", "|---|---|---|"]
            lines += [f"| {s} | {t['p50']:.2f} | {t['p90']:.2f} |" for s, t in v["stages_ms"].items()]
    lines += ["", "## ONNX Runtime latency", ""]
    for p, v in report["onnxruntime"].items():
        lines += [f"### {p}", "", "| graph | p50 ms | p90 ms |", "|---|---|---|"]
        lines += [f"| {s} | {t['p50']:.2f} | {t['p90']:.2f} |" for s, t in v["stages_ms"].items()]
    if report["skipped"]:
        lines += ["", "## Skipped", ""] + [f"- {s}" for s in report["skipped"]]
    return "\n".join(lines) + "\n"
