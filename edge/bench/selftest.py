"""``edge-bench selftest``: one report to attach to a bug, from the user's own device.

Records the environment (TensorRT, CUDA, GPU, L4T/JetPack, ONNX Runtime), runs the CUDA
kernels against their NumPy references with throughput, builds the TensorRT engines of an
export and compares every output with ONNX Runtime on identical inputs (per-output
tolerances), and times every stage of both backends. Writes ``selftest.md`` and
``selftest.json`` on every path.

With engines built, it also measures their accuracy on a held-out set exactly as
``edge-build eval`` does (:mod:`edge.evaluate`: mask AP@0.50 or mIoU, through TensorRT),
against the export's FP32 graphs through ONNX Runtime (the calibration gate's reference):
``--holdout DIR``, or a small synthetic set generated here (seeded with
:data:`HOLDOUT_SEED`, never a calibration seed) for models whose classes the synthetic
scenes have. The TensorRT INT8 engines are the one INT8 artifact the calibrating machine
cannot measure (the calibration cache): past the ``--max-drop`` recorded in the export's
gate they FAIL.

Result: FAIL (exit 2) when anything ran and disagreed or broke - a parse, out-of-memory or
identity error, or any library exception (pycuda, TensorRT), recorded with its type and
message while the other precisions still run; INCOMPLETE when nothing failed but a part
could not run here (no GPU, no TensorRT: a missing dependency); PASS otherwise.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge import __version__, atomic
from edge.errors import MissingDependencyError

log = logging.getLogger(__name__)

# |TensorRT - ONNX Runtime| allowed per output, relative to the reference's max |value|
TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2, "int8": 1e-1}
# the generated held-out set: far from the seeds docs and tests calibrate with (0-999)
HOLDOUT_SEED = 424242
HOLDOUT_IMAGES = 24
DEFAULT_MAX_DROP = 1.0  # edge-build calibrate's default, for exports without a gate record


def environment(gpu: bool = True) -> dict[str, Any]:
    """Versions and devices, each 'missing' rather than an error (``gpu=False``: the
    caller adds the GPU from its own open :class:`edge.bench.kernels.Device`)."""
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
    if gpu:
        env.update(gpu_environment())
    return env


def gpu_environment() -> dict[str, Any]:
    """The GPU as the CUDA API names it (no ``nvidia-smi``: JetPack has none), the board
    model on a Jetson; a missing GPU or library is a value, not an error."""
    from edge.bench.kernels import Device, board_model

    try:
        with Device() as dev:
            info = dict(dev.info)
    except MissingDependencyError as exc:
        info = {"gpu": f"none ({exc})"}
    except Exception as exc:  # a driver error: say which, keep the report
        log.warning("reading the GPU failed: %s: %s", type(exc).__name__, exc)
        info = {"gpu": f"error ({type(exc).__name__}: {exc})"}
    info.setdefault("board", board_model())
    return info


class Outcome:
    """What happened to each part: skipped (cannot run here) or failed (ran and broke)."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report

    def run(self, part: str, fn: Callable[[], Any]) -> Any:
        """``fn()``; a missing dependency is skipped, any other exception is a failure
        recorded with its type and message (the report goes on). Returns None then."""
        try:
            return fn()
        except MissingDependencyError as exc:
            log.info("%s skipped: %s", part, exc)
            self.report["skipped"].append(f"{part}: {exc}")
        except Exception as exc:  # pycuda / TensorRT / ONNX Runtime raise their own types
            log.warning("%s failed: %s: %s", part, type(exc).__name__, exc, exc_info=True)
            self.report["failed"].append({"part": part, "type": type(exc).__name__,
                                          "message": str(exc).strip().splitlines()[0]
                                          if str(exc).strip() else ""})
        return None


def _onnxruntime_precisions(export_dir: str | Path) -> set[str] | None:
    """Precisions the export has ONNX Runtime graphs for (None: unreadable; the timing part
    then reports why)."""
    from edge.export.onnx_export import read_manifest

    from edge.errors import EdgeError

    try:
        files = read_manifest(Path(export_dir), verify=False)["files"]
    except (EdgeError, OSError, KeyError, TypeError):  # the parts that read it record it
        return None
    return {f.get("precision") for f in files if f.get("target") in ("any", "onnxruntime")}


def finish(report: dict[str, Any]) -> dict[str, Any]:
    """``ok`` and ``status`` from the rows, failures and skipped parts."""
    kernel_rows = (report.get("kernels") or {}).get("rows", [])
    accuracy = (report.get("accuracy") or {}).get("by_precision", {})
    rows_ok = all(r["ok"] for r in kernel_rows) and all(
        row["ok"] for v in report.get("tensorrt", {}).values() for row in v["parity"]) and all(
        a["ok"] for a in accuracy.values())
    report["ok"] = rows_ok and not report["failed"]
    report["status"] = ("fail" if not report["ok"] else
                        "incomplete" if report["skipped"] else "pass")
    return report


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
                 engines_dir: str | Path | None = None, repeats: int = 30,
                 holdout: str | Path | None = None, holdout_images: int = HOLDOUT_IMAGES
                 ) -> dict[str, Any]:
    """Run every part that can run here and write the report (see the module's doc)."""
    from edge.bench.onnx_models import bench_export

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"environment": {}, "export": str(export_dir), "kernels": None,
                              "tensorrt": {}, "onnxruntime": {}, "skipped": [], "failed": [],
                              "not_applicable": []}
    part = Outcome(report)
    try:
        report["environment"] = part.run("environment", environment) or {}
        from edge.bench.kernels import run_kernels

        report["kernels"] = part.run("CUDA kernels", lambda: run_kernels(repeats))
        have = _onnxruntime_precisions(export_dir)
        for p in precisions:
            if have is not None and p not in have:  # not a gap: TensorRT builds it from FP32
                report["not_applicable"].append(
                    f"ONNX Runtime {p}: the export has no {p} graphs for ONNX Runtime (TensorRT "
                    f"builds {p} from the graphs it has)")
                continue
            res = part.run(f"ONNX Runtime {p}", lambda p=p: bench_export(export_dir, p, repeats))
            if res is not None:
                report["onnxruntime"][p] = res
        ref = part.run("ONNX Runtime reference", lambda: _reference(export_dir))
        if ref is None:
            report["skipped"].append("TensorRT: no ONNX Runtime reference to compare with")
        else:
            _tensorrt(report, part, export_dir, out, engines_dir, precisions, ref, repeats)
        if report["tensorrt"]:  # engines ran: how accurate are they?
            engines = Path(out / "engines" if engines_dir is None else engines_dir)
            part.run("TensorRT accuracy", lambda: _accuracy(
                report, export_dir, engines, out, list(report["tensorrt"]), holdout,
                holdout_images))
    finally:  # the report is written on every path, a Ctrl-C included
        finish(report)
        atomic.write_text(out / "selftest.json", json.dumps(report, indent=2, default=str) + "\n")
        atomic.write_text(out / "selftest.md", markdown(report))
    return report


def _reference(export_dir: str | Path) -> tuple[Any, ...]:
    """ONNX Runtime FP32 outputs of every graph on fixed inputs (the comparison's truth)."""
    from edge.backends.onnxruntime_backend import OnnxRuntimeBackend
    from edge.export.onnx_export import example_inputs
    from edge.export.parity import sample_windows

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
    return desc, x, taps, cells_by_branch, graph_outputs(ort, desc, x, taps, cells_by_branch)


def _tensorrt(report: dict[str, Any], part: Outcome, export_dir: str | Path, out: Path,
              engines_dir: str | Path | None, precisions: list[str], ref: tuple[Any, ...],
              repeats: int) -> None:
    """Build, load and compare each precision on its own: one that breaks is recorded and
    the next still runs; without TensorRT (or pycuda) the rest is skipped."""
    from edge.bench.timing import time_call

    desc, x, taps, cells_by_branch, want = ref
    engines = Path(out / "engines" if engines_dir is None else engines_dir)

    def one(p: str) -> dict[str, Any]:
        from edge.backends.tensorrt_backend import TensorRTBackend
        from edge.engines.builder import BuildOptions, build_engines

        build_engines(export_dir, engines, BuildOptions(precision=p, reuse=True))
        be = TensorRTBackend(engines, p)
        try:
            got = graph_outputs(be, desc, x, taps, cells_by_branch)
            stage = "detector" if desc.task == "instance" else "network"
            run = be.detect if desc.task == "instance" else be.segment_image
            return {"parity": compare(want, got, p),
                    "stages_ms": {stage: time_call(lambda: run(x), repeats)}}
        finally:
            be.close()

    for p in precisions:
        skipped = len(report["skipped"])
        res = part.run(f"TensorRT {p}", lambda p=p: one(p))
        if res is not None:
            report["tensorrt"][p] = res
        elif len(report["skipped"]) > skipped:  # no TensorRT here: the same for every precision
            report["skipped"][-1] = "TensorRT: " + report["skipped"][-1].split(": ", 1)[1]
            break


def _gate_of(export_dir: str | Path) -> tuple[float, dict[str, Any]]:
    """(--max-drop, gate record) of the export's calibration (defaults without one)."""
    from edge.export.onnx_export import read_manifest

    gate = (read_manifest(Path(export_dir), verify=False).get("calibration") or {}).get(
        "gate") or {}
    limit = gate.get("max_drop_points")
    return (float(limit) if isinstance(limit, (int, float)) else DEFAULT_MAX_DROP), gate


def holdout_for(desc, out: Path, images: int
                ) -> tuple[Path | None, str]:
    """A synthetic held-out set for ``desc`` written under ``out`` (input size, seed
    :data:`HOLDOUT_SEED`), or (None, why) when the synthetic scenes lack its classes."""
    from edge.data.synth import SEMANTIC_CLASSES, write_dataset

    if desc.task == "instance":
        fits = tuple(desc.class_names) == ("person",)
    else:
        fits = tuple(desc.class_names) == tuple(SEMANTIC_CLASSES)
    if not fits:
        return None, (f"{desc.name}'s classes {list(desc.class_names)} are not the synthetic "
                      f"scenes'; pass --holdout DATA (held-out frames of its own classes)")
    root = out / "holdout"
    write_dataset(str(root), images, tuple(desc.input_size), seed=HOLDOUT_SEED, progress=False,
                  overwrite=True)
    log.info("generated %d held-out synthetic scenes in %s (seed %d)", images, root,
             HOLDOUT_SEED)
    return root, ""


def _accuracy(report: dict[str, Any], export_dir: str | Path, engines: Path, out: Path,
              precisions: list[str], holdout: str | Path | None, images: int) -> None:
    """Accuracy of each precision's engines on the held-out set against the export's FP32
    through ONNX Runtime, as :func:`edge.evaluate.measure_accuracy` measures it; INT8 past
    the gate's --max-drop is not ok (FAIL). Recorded in ``report["accuracy"]``."""
    from edge.description import ModelDescription
    from edge.evaluate import accuracy_metric, measure_accuracy
    from edge.export.onnx_export import read_manifest

    desc = ModelDescription.from_dict(read_manifest(Path(export_dir), verify=False)
                                      ["description"])
    from edge.engines.folder import ENGINE_MANIFEST
    from edge.errors import ModelFileError

    if not (engines / ENGINE_MANIFEST).is_file():  # before generating a held-out set
        raise ModelFileError(f"{engines / ENGINE_MANIFEST}: missing, no engines to measure")
    generated = holdout is None
    if holdout is None:
        holdout, why = holdout_for(desc, out, images)
        if holdout is None:
            report["skipped"].append(f"TensorRT accuracy: {why}")
            return
    limit, _ = _gate_of(export_dir)
    fp32 = measure_accuracy(export_dir, holdout, "fp32")["accuracy"]
    acc: dict[str, Any] = {"holdout": str(holdout), "generated": generated,
                           "seed": HOLDOUT_SEED if generated else None,
                           "metric": accuracy_metric(desc.task),
                           "fp32_onnxruntime": fp32, "max_drop_points": limit,
                           "by_precision": {}}
    report["accuracy"] = acc
    for p in precisions:
        value = measure_accuracy(engines, holdout, p, backend="tensorrt")["accuracy"]
        drop = fp32 - value
        gated = p == "int8"
        acc["by_precision"][p] = {"metric": value, "drop_points": drop, "gated": gated,
                                  "ok": not gated or drop <= limit}
        log.info("TensorRT %s: %s %.2f vs FP32 %.2f (drop %.2f points%s)", p,
                 acc["metric"], value, fp32, drop,
                 f", gate {limit:g}" if gated else "")
        if gated and drop > limit:
            log.warning("TensorRT INT8 loses %.2f points of %s on %s (gate: --max-drop %g): "
                        "recalibrate on frames closer to the scene or deploy FP16", drop,
                        acc["metric"], holdout, limit)


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = ["# edge-seg self-test", "", f"Result: **{report['status'].upper()}**", "",
             "## Environment", "", "| item | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in env.items()]
    lines += ["", "## CUDA kernels vs NumPy references", ""]
    lines += kernel_table(report["kernels"])
    for title, key in (("TensorRT against ONNX Runtime", "tensorrt"),):
        lines += ["", f"## {title}", ""]
        if not report[key]:
            lines.append("Not run (see Skipped).")
        for p, v in report[key].items():
            lines += [f"### {p}", "", "| output | rel. error | tolerance | |", "|---|---|---|---|"]
            lines += [f"| {r['output']} | {r['rel_err']:.2e} | {r['tolerance']:.0e} | "
                      f"{'ok' if r['ok'] else 'FAIL'} |" for r in v["parity"]]
            lines += ["", "| stage | p50 ms | p90 ms |", "|---|---|---|"]
            lines += [f"| {s} | {t['p50']:.2f} | {t['p90']:.2f} |"
                      for s, t in v["stages_ms"].items()]
    acc = report.get("accuracy")
    if acc:
        lines += ["", "## TensorRT accuracy on the held-out set", "",
                  f"{acc['metric']} on {acc['holdout']}"
                  f"{' (generated, seed ' + str(acc['seed']) + ')' if acc['generated'] else ''}"
                  f"; FP32 through ONNX Runtime {acc['fp32_onnxruntime']:.2f}; INT8 gate: drop "
                  f"<= {acc['max_drop_points']:g} points", "",
                  "| precision | metric | drop | |", "|---|---|---|---|"]
        lines += [f"| {p} | {a['metric']:.2f} | {a['drop_points']:+.2f} | "
                  f"{('ok' if a['ok'] else 'FAIL') if a['gated'] else 'not gated'} |"
                  for p, a in acc["by_precision"].items()]
    lines += ["", "## ONNX Runtime latency", ""]
    for p, v in report["onnxruntime"].items():
        lines += [f"### {p}", "", "| graph | p50 ms | p90 ms |", "|---|---|---|"]
        lines += [f"| {s} | {t['p50']:.2f} | {t['p90']:.2f} |" for s, t in v["stages_ms"].items()]
    lines += failed_and_skipped(report)
    return "\n".join(lines) + "\n"


def kernel_table(k: dict[str, Any] | None) -> list[str]:
    """Markdown rows of :func:`edge.bench.kernels.run_kernels`' result."""
    if not k:
        return ["Not run (see Skipped or Failed)."]
    peak = k.get("peak_gb_s")
    head = (f"theoretical bandwidth {peak:.0f} GB/s" if peak else
            f"theoretical bandwidth unknown ({k.get('peak_note', 'not reported')})")
    lines = [f"{k['device']} via {k['api']}, {head}", "",
             "| kernel | size | check | ms | GB/s | % of peak |", "|---|---|---|---|---|---|"]
    for r in k["rows"]:
        pct = "n/a" if not peak else f"{100 * r['gb_s'] / peak:.0f}%"
        lines.append(f"| {r['kernel']} | {r['size']} | {'ok' if r['ok'] else 'FAIL'} | "
                     f"{r['ms']:.3f} | {r['gb_s']:.1f} | {pct} |")
    return lines


def failed_and_skipped(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if report.get("failed"):
        lines += ["", "## Failed", ""] + [f"- {f['part']}: {f['type']}: {f['message']}"
                                          for f in report["failed"]]
    if report.get("skipped"):
        lines += ["", "## Skipped", ""] + [f"- {s}" for s in report["skipped"]]
    if report.get("not_applicable"):
        lines += ["", "## Not applicable to this export", ""] + [
            f"- {s}" for s in report["not_applicable"]]
    return lines
