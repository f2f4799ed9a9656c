"""INT8 calibration of an export folder, and the accuracy gate.

For every FP32 graph it writes, from one set of activation ranges per graph:

- ``<graph>.int8.onnx`` (target ``onnxruntime``): Q/DQ placed for ONNX Runtime's CPU
  kernels (uint8 activations, int8 per-channel weights);
- ``<graph>.int8-trt.onnx`` (target ``tensorrt``): placed by NVIDIA ModelOpt's ONNX
  quantizer when it is installed (entropy or max), else by ONNX Runtime configured to
  match: symmetric int8 activations (zero point 0), int8 per-channel symmetric weights,
  FP32 biases, Q/DQ at Conv and ConvTranspose inputs, where TensorRT fuses them
  (TensorRT 10/11 explicit quantization);
- ``<graph>.calib.cache`` (target ``tensorrt``): the same ranges in the text format
  TensorRT's INT8 calibrators read, for the implicit path of TensorRT 8.6/10.x.

Ranges are computed with ONNX Runtime's calibrators (entropy, max or percentile) on the
calibration set passed through the runtime's preprocessing; branch graphs calibrate on
crops of the FP32 detector's own detections. Ranges are cached per graph, so an
interrupted run resumes; every file is written under a temporary name, then renamed.

The output folder is assembled in ``<out>.partial`` and moved into place only when it
is complete (:func:`edge.atomic.commit_folder`: over a previous folder its manifest goes
first and the new one last): a failed or interrupted run never leaves ``<out>`` listing a
file it does not hold complete. A
staging folder left by an interrupted run (Ctrl-C) is reused, so the next run resumes
from its cached ranges; a run that fails with an error removes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge import atomic
from edge.description import ModelDescription
from edge.errors import ConfigError, DatasetError
from edge.optional import require
from edge.preprocess import preprocess, preprocessing_hash

from .sets import CalibrationSet

log = logging.getLogger(__name__)

METHODS = ("entropy", "max", "percentile")
MAX_CROPS_PER_BRANCH = 256
# Layers whose outputs are decoded directly (box/class heads, ISB and FCN scorers): the
# first remedy keeps them in FP32.
SENSITIVE_PATTERNS = ("box_heads", "cls_heads", "score")
TRT_CACHE_VERSIONS = {"8.6": "8601", "10.3": "100300", "10.x": "100300"}


def _ort_method(method: str):
    q = require("onnxruntime.quantization", "INT8 calibration")
    if method not in METHODS:
        raise ConfigError(f"unknown calibration method {method!r}; use {', '.join(METHODS)}")
    return {"entropy": q.CalibrationMethod.Entropy, "max": q.CalibrationMethod.MinMax,
            "percentile": q.CalibrationMethod.Percentile}[method]


STRIDE = 16  # feeds per calibration pass: bounds memory (ORT keeps every activation of a pass)


class _Feeds:
    """An ONNX Runtime ``CalibrationDataReader`` over a list of input dicts, read in
    strides (``set_range``) so the calibrator never holds more than one stride's
    activations: 500 frames at once exhaust 24 GB on a 480x480 detector."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self.feeds = feeds
        self._it = iter(feeds)

    def __len__(self) -> int:
        return len(self.feeds)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._it = iter(self.feeds[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def _strided(feeds: list[dict[str, np.ndarray]]) -> tuple[list[dict[str, np.ndarray]], int]:
    """Feeds trimmed to a whole number of strides, and the stride (ORT requires it)."""
    n = len(feeds)
    stride = max(d for d in range(1, STRIDE + 1) if n % d == 0)
    if stride < STRIDE // 2 and n > STRIDE:
        stride = STRIDE
        n -= n % STRIDE
    return feeds[:n], stride


def calibration_feeds(export_dir: Path, desc: ModelDescription, frames: list[np.ndarray],
                      progress: bool = True) -> dict[str, list[dict[str, np.ndarray]]]:
    """Inputs per FP32 graph file: preprocessed frames for the detector / FCN, and for each
    branch the crops its rule assigns from the FP32 pipeline's detections (up to
    :data:`MAX_CROPS_PER_BRANCH` rows; random windows of its shape when detections never
    reach it)."""
    from tqdm import tqdm

    from edge.backends.onnxruntime_backend import OnnxRuntimeBackend
    from edge.export.onnx_export import graph_specs
    from edge.export.parity import sample_windows
    from edge.geometry import (
        assign_branches,
        branch_inputs,
        cell_shapes,
        encompassing_cells,
        select_per_branch,
    )
    from edge.pipeline import InstancePipeline

    images = [{"image": preprocess(f, desc)[None]} for f in frames]
    specs = graph_specs(desc)
    if desc.task == "semantic":
        return {specs[0].file: images}
    backend = OnnxRuntimeBackend(export_dir, "fp32")
    pipe = InstancePipeline(desc, backend)
    crops: list[list[list[np.ndarray]]] = [[] for _ in desc.branches]
    counts = [0] * len(desc.branches)
    for feed in tqdm(images, desc="calibration crops", unit="img",
                     disable=None if progress else True):
        codes, logits, taps = backend.detect(feed["image"])
        det = pipe.detections(codes, logits)
        cells = encompassing_cells(det.boxes, desc.input_size, desc.crop_stride)
        assignment = assign_branches(cell_shapes(cells), desc.branches, desc.assignment)
        for b, idx in enumerate(select_per_branch(assignment, det.scores, desc.branches)):
            if idx.size and counts[b] < MAX_CROPS_PER_BRANCH:
                crops[b].append(branch_inputs(taps, cells[idx], desc.branches[b], desc))
                counts[b] += idx.size
    out = {specs[0].file: images}
    rng = np.random.default_rng(0)
    for spec in specs[1:]:
        b = spec.branch
        if not crops[b]:  # no detection reached this branch: crop its shape at random
            log.warning("branch %s got no detections on the calibration set; calibrating it "
                        "on random windows", desc.branches[b].name)
            for feed in images[:8]:
                taps = backend.detect(feed["image"])[2]
                crops[b].append(branch_inputs(taps, sample_windows(desc, b, rng), desc.branches[b],
                                              desc))
        out[spec.file] = _fixed_batches(spec.inputs, crops[b])
    return out


def _fixed_batches(names: tuple[str, ...], crops: list[list[np.ndarray]],
                   rows: int = 8) -> list[dict[str, np.ndarray]]:
    """Re-batch variable-size crop batches into equal ones (the histogram calibrators
    need every feed of one tensor to have the same shape); a remainder is dropped unless
    it is all there is."""
    stacked = [np.concatenate([c[k] for c in crops]) for k in range(len(names))]
    n = stacked[0].shape[0]
    size = min(rows, n)
    return [{name: a[i : i + size] for name, a in zip(names, stacked)}
            for i in range(0, n - size + 1, size)]


class _LineBuffer(io.TextIOBase):
    """A text stream collecting complete, non-blank lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        parts = (self._pending + text).split("\n")
        self._pending = parts.pop()
        self.lines.extend(p.rstrip() for p in parts if p.strip())
        return len(text)

    def flush(self) -> None:
        if self._pending.strip():
            self.lines.append(self._pending.rstrip())
        self._pending = ""


@contextlib.contextmanager
def _library_output_to_debug_log():
    """Keep quantizer noise off stdout and the root logger for the duration of the block.

    ONNX Runtime's calibrators ``print()`` a progress line per tensor batch ("Collecting
    tensor data..."): those go to this module's DEBUG log (``-vv``), not to a command's
    stdout. The quantizer also warns per bias on the root logger: silenced below ERROR."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    sink = _LineBuffer()
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        root.setLevel(level)
        sink.flush()
        for line in sink.lines:
            log.debug("quantizer: %s", line)


def _quantize(src: Path, dst: Path, feeds: list[dict[str, np.ndarray]], method: str,
              target: str, ranges: Path, exclude: list[str]) -> None:
    q = require("onnxruntime.quantization", "INT8 calibration")
    tmp = dst.with_name(dst.name + ".tmp")
    with _library_output_to_debug_log():
        _quantize_static(q, src, tmp, feeds, method, target, ranges, exclude)
    atomic.replace(tmp, dst)


def _modelopt(src: Path, tmp: Path, feeds: list[dict[str, np.ndarray]], method: str,
              exclude: list[str]) -> bool:
    """TensorRT Q/DQ placement by NVIDIA ModelOpt's ONNX quantizer (CPU calibration), when
    it is installed and supports ``method``; False otherwise (ONNX Runtime's is used)."""
    if method not in ("entropy", "max"):
        return False
    try:
        from modelopt.onnx.quantization import quantize as modelopt_quantize
    except ImportError:
        return False
    data = {name: np.concatenate([f[name] for f in feeds]) for name in feeds[0]}
    modelopt_quantize(str(src), quantize_mode="int8", calibration_data=data,
                      calibration_method=method, calibration_eps=["cpu"],
                      nodes_to_exclude=exclude or None, output_path=str(tmp))
    log.info("%s: TensorRT Q/DQ placed by ModelOpt", src.name)
    return True


def _quantize_static(q, src: Path, tmp: Path, feeds: list[dict[str, np.ndarray]], method: str,
                     target: str, ranges: Path, exclude: list[str]) -> None:
    feeds, stride = _strided(feeds)
    common: dict[str, Any] = dict(
        quant_format=q.QuantFormat.QDQ, per_channel=True, weight_type=q.QuantType.QInt8,
        calibrate_method=_ort_method(method), calibration_cache_path=str(ranges),
        nodes_to_exclude=exclude or None)
    strided = {"CalibStridedMinMax": stride}
    if target == "tensorrt" and _modelopt(src, tmp, feeds, method, exclude):
        return
    if target == "tensorrt":
        q.quantize_static(str(src), str(tmp), _Feeds(feeds), activation_type=q.QuantType.QInt8,
                          op_types_to_quantize=["Conv", "ConvTranspose"],
                          extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                         "QuantizeBias": False, **strided}, **common)
    else:
        q.quantize_static(str(src), str(tmp), _Feeds(feeds), activation_type=q.QuantType.QUInt8,
                          extra_options={"WeightSymmetric": True, **strided}, **common)


def read_ranges(path: Path) -> dict[str, tuple[float, float]]:
    """Tensor -> (lowest, highest) from an ONNX Runtime calibration-range cache."""
    from edge.untrusted import load_json, one_line

    fix = f"delete {path} to calibrate again"
    data = load_json(path, fix, DatasetError)

    def scalar(x: Any) -> float:  # plain floats, or serialised 0-d numpy arrays
        return float(np.asarray(x["data"]).reshape(-1)[0]) if isinstance(x, dict) else float(x)

    try:
        return {str(k): (scalar(v["lowest"]), scalar(v["highest"]))
                for k, v in data["data"].items()}
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise DatasetError(f"{path}: not a calibration-range cache ({one_line(exc, 120)}); "
                           f"{fix}") from exc


def write_trt_cache(ranges: dict[str, tuple[float, float]], path: Path, trt: str = "10.3",
                    method: str = "entropy") -> None:
    """TensorRT calibration cache: a header line, then ``tensor: <big-endian float32 scale
    in hex>`` with scale = max(|lowest|, |highest|) / 127 (symmetric INT8)."""
    kind = "EntropyCalibration2" if method == "entropy" else "MinMaxCalibration"
    lines = [f"TRT-{TRT_CACHE_VERSIONS[trt]}-{kind}"]
    for name, (lo, hi) in sorted(ranges.items()):
        scale = max(abs(lo), abs(hi)) / 127.0
        lines.append(f"{name}: {struct.pack('>f', scale).hex()}")
    atomic.write_text(path, "\n".join(lines) + "\n")


def parse_trt_cache(path: str | Path) -> tuple[str, dict[str, float]]:
    """(header, tensor -> scale) of a TensorRT calibration cache."""
    try:
        text = Path(path).read_bytes().decode("ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable TensorRT calibration cache ({exc}); "
                           f"calibrate again") from exc
    if not text or not text[0].startswith("TRT-"):
        raise DatasetError(f"{path}: not a TensorRT calibration cache (no TRT- header)")
    scales = {}
    for number, line in enumerate(text[1:], 2):
        if line.strip():
            name, _, hexval = line.rpartition(": ")
            try:
                scales[name] = struct.unpack(">f", bytes.fromhex(hexval))[0]
            except (ValueError, struct.error) as exc:
                raise DatasetError(f"{path}: line {number} is not 'tensor: <8 hex digits>' "
                                   f"({exc}); calibrate again") from exc
    return text[0], scales


@dataclass
class Attempt:
    """One calibration attempt: the ONNX Runtime graphs' figure (``metric``,
    ``drop_points``) and every measured target's under ``targets``."""

    method: str
    excluded: int
    metric: float | None
    drop_points: float | None
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)


def _sensitive_nodes(path: Path) -> list[str]:
    onnx = require("onnx")
    proto = onnx.load(str(path))
    return [n.name for n in proto.graph.node if n.op_type in ("Conv", "ConvTranspose")
            and any(p in n.name for p in SENSITIVE_PATTERNS)]


def _metric(export_dir: Path, precision: str, holdout: str, target: str = "onnxruntime"
            ) -> float:
    """Mask AP@0.50 (instance) or mIoU (semantic), in points, through ONNX Runtime, as
    :func:`edge.evaluate.measure_accuracy` measures it; INT8 with the ``target``'s graphs
    (``onnxruntime`` or ``tensorrt-qdq``)."""
    from edge.evaluate import measure_accuracy

    options = {"target": target} if precision == "int8" else {}
    return measure_accuracy(export_dir, holdout, precision, **options)["accuracy"]


def set_fingerprint(frames: list[np.ndarray], cset: CalibrationSet, method: str) -> str:
    """sha256 of what the activation ranges depend on besides the graph: the frames' pixels
    (in order), the preprocessing they feed and the calibration method. Cached ranges are
    keyed by it, so a different set (or the same folder recalibrated) never reuses them."""
    h = hashlib.sha256()
    h.update(f"{cset.preprocessing_hash}|{method}|{len(frames)}".encode())
    for f in frames:
        h.update(str(f.shape).encode())
        h.update(np.ascontiguousarray(f).tobytes())
    return h.hexdigest()


def ranges_path(out: Path, stem: str, method: str, graph_sha256: str, set_sha256: str) -> Path:
    """``out/ranges/<stem>.<method>.<key>.json``, key = sha256(graph sha256, set fingerprint)
    (first 16 hex digits): ranges of another graph or another set never match."""
    key = hashlib.sha256(f"{graph_sha256}|{set_sha256}".encode()).hexdigest()[:16]
    return out / "ranges" / f"{stem}.{method}.{key}.json"


def calibrate_export(export_dir: str | Path, cset: CalibrationSet, out_dir: str | Path,
                     method: str = "entropy", holdout: str | None = None,
                     max_drop: float = 1.0, trt: str = "10.3",
                     progress: bool = True, remedies: bool = True) -> dict[str, Any]:
    """Calibrate every FP32 graph of ``export_dir`` into ``out_dir`` (a complete export
    folder: the FP32/FP16 graphs are copied beside the INT8 ones) and run the gate.

    Everything that can be refused (the export, the set's preprocessing, ``out_dir``,
    the holdout dataset) is checked before any calibration. The folder is assembled in
    ``<out_dir>.partial`` and moved into place complete (see the module notes).

    With ``holdout`` every INT8 artifact that runs here is measured against FP32 on it:
    the ONNX Runtime graphs and the TensorRT Q/DQ graphs (through ONNX Runtime); the
    TensorRT cache stays ungated (only the device self-test can measure it). While a
    measured target loses more than ``max_drop`` points the remedies are tried in turn
    (heads in FP32, then the other methods; ``remedies=False`` stops after the first
    attempt). Returns the gate, as recorded under ``calibration.gate`` of the manifest."""
    from edge.export.onnx_export import MANIFEST, read_manifest, sha256_file

    src, out = Path(export_dir), Path(out_dir)
    manifest = read_manifest(src)
    desc = ModelDescription.from_dict(manifest["description"], source=str(src / MANIFEST))
    _ort_method(method)
    if trt not in TRT_CACHE_VERSIONS:
        raise ConfigError(f"unknown TensorRT cache version {trt!r}; use "
                          f"{', '.join(TRT_CACHE_VERSIONS)}")
    expected = preprocessing_hash(desc)
    if cset.preprocessing_hash and cset.preprocessing_hash != expected:
        raise ConfigError(f"calibration set {cset.name} was drawn for preprocessing "
                          f"{cset.preprocessing_hash}, this model uses {expected}; re-create "
                          f"the set for this model")
    if src.resolve() == out.resolve():
        raise ConfigError("--out must differ from --export: calibrate writes a new folder")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a folder")
    # a folder whose replacement was cut short has no manifest but atomic.REPLACING: ours
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file() \
            and atomic.being_replaced(out) is None:
        raise ConfigError(f"--out {out}: not empty and not an export folder (no {MANIFEST}); "
                          f"choose a new or empty folder")
    if holdout is not None:
        from edge.evaluate.runner import check_dataset

        check_dataset(desc, holdout, option="--holdout")
    cset.preprocessing_hash = expected

    stage = out.with_name(out.name + ".partial")
    resumed = stage.is_dir()
    if resumed:
        log.info("resuming from %s (left by an interrupted run)", stage)
    try:
        gate = _calibrate_into(src, manifest, desc, cset, stage, method, holdout, max_drop, trt,
                               progress, sha256_file, MANIFEST, remedies)
    except KeyboardInterrupt:
        raise  # keep the staging folder: the next run resumes from its ranges
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    # a rename when out is new; over a previous folder the old manifest goes first and the
    # new one last, so out never lists a file whose sha256 it does not match; a move cut
    # short leaves atomic.REPLACING in out and this stage, and the next run resumes
    atomic.commit_folder(stage, out, MANIFEST)
    return gate


MEASURED_TARGETS = ("onnxruntime", "tensorrt-qdq")  # runnable here, through ONNX Runtime


def _measure_target(out: Path, holdout: str, target: str, fp32: float
                    ) -> dict[str, Any]:
    """``{"metric", "drop_points"}`` of ``target``'s INT8 graphs, or ``{"error"}`` when ONNX
    Runtime cannot run them on this CPU (then the target is ungated, never passed)."""
    from edge.errors import ModelFileError

    try:
        value = _metric(out, "int8", holdout, target)
    except ModelFileError as exc:
        log.warning("%s INT8 graphs: not measurable here (%s); they stay ungated", target, exc)
        return {"metric": None, "drop_points": None, "error": str(exc).splitlines()[0]}
    return {"metric": value, "drop_points": fp32 - value}


def _artifacts(attempt: Attempt | None, holdout: str | None, max_drop: float,
               files: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Per target: files, metric, drop and status (passed / refused / ungated, with why)."""
    out: dict[str, dict[str, Any]] = {}
    for target in ("onnxruntime", "tensorrt-qdq", "tensorrt-cache"):
        rec: dict[str, Any] = {"files": files.get(target, []), "metric": None,
                               "drop_points": None, "status": "ungated"}
        if target == "tensorrt-cache":
            rec["note"] = ("not measurable here (TensorRT only); measured on the device by "
                           "edge-bench selftest --precision int8")
        elif holdout is None:
            rec["note"] = "calibrated without --holdout"
        elif attempt is not None and target in attempt.targets:
            m = attempt.targets[target]
            if m.get("error"):
                rec["note"] = f"not measurable here: {m['error']}"
            else:
                rec.update(metric=m["metric"], drop_points=m["drop_points"],
                           status="passed" if m["drop_points"] <= max_drop else "refused")
        out[target] = rec
    return out


def _calibrate_into(src: Path, manifest: dict[str, Any], desc: ModelDescription,
                    cset: CalibrationSet, out: Path, method: str, holdout: str | None,
                    max_drop: float, trt: str, progress: bool, sha256_file,
                    manifest_name: str, remedies: bool = True) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "ranges").mkdir(exist_ok=True)
    from edge.untrusted import folder_target

    kept = [f for f in manifest["files"] if f["precision"] in ("fp32", "fp16")]
    for f in kept:  # names checked by read_manifest; never written through a link in out
        target = folder_target(out, f["file"], src / manifest_name, f"empty {out}")
        if not target.is_file() or sha256_file(target) != f["sha256"]:
            atomic.copy_file(src / f["file"], target)
    frames = cset.frames_bgr()
    feeds = calibration_feeds(src, desc, frames, progress)
    fingerprints = {m: set_fingerprint(frames, cset, m) for m in METHODS}

    def build(method: str, exclude_sensitive: bool) -> list[dict[str, Any]]:
        entries = []
        for f in (f for f in kept if f["precision"] == "fp32" and f["file"] in feeds):
            stem = f["file"][: -len(".onnx")]
            ranges = ranges_path(out, stem, method, sha256_file(out / f["file"]),
                                 fingerprints[method])
            if ranges.is_file():
                log.info("%s: reusing activation ranges %s (same graph, set and method)",
                         f["file"], ranges.name)
            exclude = _sensitive_nodes(out / f["file"]) if exclude_sensitive else []
            for target, name in (("onnxruntime", f"{stem}.int8.onnx"),
                                 ("tensorrt", f"{stem}.int8-trt.onnx")):
                _quantize(out / f["file"], out / name, feeds[f["file"]], method, target, ranges,
                          exclude)
                entries.append({**f, "file": name, "precision": "int8", "target": target,
                                "sha256": sha256_file(out / name),
                                "bytes": (out / name).stat().st_size,
                                "fp32_nodes": exclude})
            cache = out / f"{stem}.calib.cache"
            write_trt_cache(read_ranges(ranges), cache, trt, method)
            entries.append({**f, "file": cache.name, "precision": "int8", "target": "tensorrt",
                            "kind": "calibration-cache", "sha256": sha256_file(cache),
                            "bytes": cache.stat().st_size})
        return entries

    def write_manifest(int8: list[dict[str, Any]], gate: dict[str, Any], m: str) -> None:
        new = {**manifest, "files": kept + int8, "calibration": {
            "set": cset.describe(), "set_sha256": fingerprints[m], "method": m, "gate": gate}}
        atomic.write_text(out / manifest_name, json.dumps(new, indent=2) + "\n")

    attempts: list[Attempt] = []
    plan = [(method, False), (method, True)] + [(m, True) for m in METHODS if m != method]
    if not remedies:
        plan = plan[:1]
    fp32 = _metric(src, "fp32", holdout) if holdout else None
    int8: list[dict[str, Any]] = []
    used = method
    for m, exclude_sensitive in plan:
        used = m
        int8 = build(m, exclude_sensitive)
        write_manifest(int8, {"status": "measuring"}, m)
        excluded = sum(len(e.get("fp32_nodes", [])) for e in int8)
        if holdout is None:
            attempts.append(Attempt(m, excluded, None, None))
            break
        assert fp32 is not None
        targets = {t: _measure_target(out, holdout, t, fp32) for t in MEASURED_TARGETS}
        ort = targets["onnxruntime"]
        attempts.append(Attempt(m, excluded, ort["metric"], ort["drop_points"], targets))
        for t, r in targets.items():
            if r["metric"] is not None:
                log.info("INT8 %s (%s, %s): %.2f vs FP32 %.2f (drop %.2f points)", t, m,
                         "heads in FP32" if exclude_sensitive else "all layers", r["metric"],
                         fp32, r["drop_points"])
        if all(r["drop_points"] is None or r["drop_points"] <= max_drop
               for r in targets.values()):
            break
    files: dict[str, list[str]] = {}
    for e in int8:
        from .gate import artifact_target

        files.setdefault(artifact_target(e), []).append(e["file"])
    artifacts = _artifacts(attempts[-1] if attempts else None, holdout, max_drop, files)
    measured = [a for a in artifacts.values() if a["status"] != "ungated"]
    refused = [t for t, a in artifacts.items() if a["status"] == "refused"]
    status = ("not gated: no --holdout set" if holdout is None else
              "refused" if refused else "passed" if measured else "ungated")
    last = attempts[-1]
    gate = {"holdout": holdout, "max_drop_points": max_drop, "fp32": fp32,
            "metric": "mask AP50" if desc.task == "instance" else "mIoU",
            "attempts": [a.__dict__ for a in attempts],
            "deployable": last.drop_points is not None and last.drop_points <= max_drop,
            "status": status, "refused": refused, "artifacts": artifacts}
    write_manifest(int8, gate, used)
    return gate
