"""ONNX export, split where the runtime needs control (issue: export).

FCN models export to one graph, ``model.onnx``: image (1, 3, H, W) -> logits
(1, K, H, W). SSD-ISB models export to ``detector.onnx``: image -> box codes (1, A, 4),
class logits (1, A, K+1) and the stride-32/16/8 feature maps the branches crop from
(NMS runs on the host with the shared geometry core), plus one
``branch_<name>.onnx`` per ISB with a dynamic batch of crops -> mask logits. Every graph
carries the model description in its ``metadata_props`` and ``manifest.json`` lists
each file with its sha256, so the runtime reads only the export folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge import __version__, atomic
from edge.description import ModelDescription
from edge.errors import ConfigError, ModelFileError
from edge.optional import require
from edge.untrusted import folder_file, folder_target, load_json, one_line, plain_name, short_repr

from .nms_graph import with_nms

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
META_DESCRIPTION = "edge.description"
META_ROLE = "edge.role"
DEFAULT_OPSET = 17
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class GraphSpec:
    """One exported graph: file name, role, and its I/O names."""

    file: str
    role: str  # "model" | "detector" | "branch"
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    branch: int | None = None


def graph_specs(desc: ModelDescription) -> list[GraphSpec]:
    """The graphs an export of ``desc`` consists of, in a fixed order."""
    if desc.task == "semantic":
        return [GraphSpec("model.onnx", "model", ("image",), ("logits",))]
    crops = tuple(f"crop{s}" for s in desc.mask_strides)
    specs = [GraphSpec("detector.onnx", "detector", ("image",),
                       ("box_codes", "class_logits", "feat32", "feat16", "feat8"))]
    for i, b in enumerate(desc.branches):
        specs.append(GraphSpec(f"branch_{b.name}.onnx", "branch", crops, ("mask_logits",), i))
    return specs


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _modules(desc: ModelDescription, model) -> list[tuple[GraphSpec, Any, tuple]]:
    """(spec, torch module, example inputs) per graph."""
    torch = require("torch", "ONNX export")
    from torch import nn

    h, w = desc.input_size
    image = torch.zeros(1, 3, h, w)
    specs = graph_specs(desc)
    if desc.task == "semantic":
        return [(specs[0], model, (image,))]

    class Detector(nn.Module):
        def __init__(self, det: nn.Module) -> None:
            super().__init__()
            self.det = det

        def forward(self, x):
            codes, logits, taps = self.det(x)
            return codes, logits, taps[32], taps[16], taps[8]

    out = [(specs[0], Detector(model.detector), (image,))]
    chans = {s: model.detector.backbone.channels(s) for s in (8, 16, 32)}
    for spec in specs[1:]:
        b = desc.branches[spec.branch]
        crops = tuple(torch.zeros(2, chans[s], b.shape[0] * 32 // s, b.shape[1] * 32 // s)
                      for s in desc.mask_strides)
        out.append((spec, model.branches[spec.branch], crops))
    return out


def to_fp16(proto):
    """FP16 copy of an FP32 graph with FP32 inputs and outputs (for strongly-typed
    TensorRT builds, which take precision from the graph), converted by
    onnxconverter-common; values beyond FP16's range are clamped by the converter."""
    import warnings

    onnx = require("onnx")
    float16 = require("onnxconverter_common.float16", "FP16 export (pip install "
                      "onnxconverter-common)")
    with warnings.catch_warnings():  # it warns for every weight it rounds to 0 or clamps
        warnings.simplefilter("ignore")
        half = float16.convert_float_to_float16(proto, keep_io_types=True)
    onnx.helper.set_model_props(half, {**{p.key: p.value for p in proto.metadata_props},
                                       "edge.precision": "fp16"})
    onnx.checker.check_model(half)
    return half


def export_onnx(desc: ModelDescription, model, out_dir: str | Path,
                opset: int = DEFAULT_OPSET, fp16: bool = True) -> dict[str, Any]:
    """Export ``model`` (eval mode, CPU) to ``out_dir`` and write the manifest; with
    ``fp16`` also an FP16 copy of every graph (``*.fp16.onnx``).

    Files are written under temporary names and renamed, so an interrupted export never
    leaves a half-written graph that looks complete. ``out_dir`` must be new, empty or an
    earlier export: graphs of the earlier export that this one does not write (another
    model's branches) are removed after the new manifest is in place, and nothing else in
    the folder is touched.
    """
    torch = require("torch", "ONNX export")
    onnx = require("onnx", "ONNX export")
    out = Path(out_dir)
    previous = check_export_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    files = []
    exporter = {"edge_seg": __version__, "torch": torch.__version__, "onnx": onnx.__version__,
                "opset": opset, "python": platform.python_version()}
    for spec, module, example in _modules(desc, model):
        dynamic = None
        if spec.role == "branch":
            dynamic = {name: {0: "boxes"} for name in spec.inputs + spec.outputs}
        buf = io.BytesIO()
        with torch.no_grad():
            torch.onnx.export(module, example, buf, input_names=list(spec.inputs),
                              output_names=list(spec.outputs), opset_version=opset,
                              dynamic_axes=dynamic, do_constant_folding=True, dynamo=False)
        proto = _separate_outputs(onnx.load_from_string(buf.getvalue()))
        meta = {META_DESCRIPTION: desc.to_json(), META_ROLE: spec.role,
                "edge.version": __version__, "edge.precision": "fp32",
                "edge.exporter": json.dumps(exporter)}
        if spec.branch is not None:
            meta["edge.branch"] = str(spec.branch)
        onnx.helper.set_model_props(proto, meta)
        onnx.checker.check_model(proto)
        atomic.write_bytes(out / spec.file, proto.SerializeToString())
        files.append(_file_entry(out / spec.file, spec, proto))
        if spec.role == "detector":
            nms = _with_nms_meta(with_nms(proto, desc, opset), meta)
            nms_spec = GraphSpec("detector_nms.onnx", "detector_nms", spec.inputs, NMS_OUTPUTS)
            atomic.write_bytes(out / nms_spec.file, nms.SerializeToString())
            files.append(_file_entry(out / nms_spec.file, nms_spec, nms))
        if fp16:
            half = to_fp16(proto)
            name = spec.file.replace(".onnx", ".fp16.onnx")
            atomic.write_bytes(out / name, half.SerializeToString())
            files.append(_file_entry(out / name, spec, half, precision="fp16"))
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "description": desc.to_dict(),
        "files": files,
        "exporter": exporter,
    }
    atomic.write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    for stale in sorted(previous - {f["file"] for f in files}):
        log.info("removing %s: a graph of the previous export in %s", stale, out)
        (out / stale).unlink(missing_ok=True)
    return manifest


def check_export_folder(out: Path) -> set[str]:
    """Names the export in ``out`` lists (empty for a new or empty folder); refuses a file,
    or a non-empty folder that is not an export, so an export never mixes into other data."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a folder for the export")
    if not out.is_dir() or not any(out.iterdir()):
        return set()
    if not (out / MANIFEST).is_file():
        raise ConfigError(f"--out {out}: not empty and not an export folder (no {MANIFEST}); "
                          f"choose a new or empty folder")
    fix = "choose a new or empty folder for the export"
    listed = load_json(out / MANIFEST, fix, ConfigError)
    if not isinstance(listed, dict) or not isinstance(listed.get("files"), list):
        raise ConfigError(f"{out / MANIFEST}: unreadable (no 'files' list); {fix}")
    # only plain names inside the folder: a manifest never makes us delete elsewhere
    names = {check_file_entry(f, out / MANIFEST) for f in listed["files"]}
    return {n for n in names if n.endswith(".onnx")}


NMS_OUTPUTS = ("det_boxes", "det_scores", "det_classes", "det_count", "feat32", "feat16", "feat8")


def _with_nms_meta(proto, meta: dict[str, str]):
    onnx = require("onnx")
    onnx.helper.set_model_props(proto, {**meta, META_ROLE: "detector_nms"})
    return proto


def _separate_outputs(proto):
    """Give every graph output that later nodes also read its own Identity node.

    The detector returns feature maps the next layers consume; FP16 conversion that keeps
    FP32 I/O casts graph outputs, and without this the cast would feed the next layer.
    """
    onnx = require("onnx")
    outputs = {o.name for o in proto.graph.output}
    consumed = {i for n in proto.graph.node for i in n.input} & outputs
    if not consumed:
        return proto
    for node in proto.graph.node:
        node.output[:] = [f"{o}__internal" if o in consumed else o for o in node.output]
        node.input[:] = [f"{i}__internal" if i in consumed else i for i in node.input]
    for name in sorted(consumed):
        proto.graph.node.append(onnx.helper.make_node("Identity", [f"{name}__internal"], [name],
                                                      name=f"output_{name}"))
    return proto


def _io(values) -> list[dict[str, Any]]:
    onnx = require("onnx")
    out = []
    for v in values:
        t = v.type.tensor_type
        dims = [d.dim_param or d.dim_value for d in t.shape.dim]
        out.append({"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(
            t.elem_type).name, "shape": dims})
    return out


def _file_entry(path: Path, spec: GraphSpec, proto, precision: str = "fp32") -> dict[str, Any]:
    return {"file": path.name, "role": spec.role, "branch": spec.branch, "precision": precision,
            "target": "any", "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "inputs": _io(proto.graph.input), "outputs": _io(proto.graph.output)}


def check_file_entry(entry: Any, manifest_path: str | Path) -> str:
    """A manifest's ``file`` entry: a plain file name inside its folder (:func:`plain_name`)."""
    name = entry.get("file") if isinstance(entry, dict) else None
    return plain_name(name, manifest_path, "re-export the model")


# what every manifest entry must hold, and of which type, before anything reads it
_ENTRY_FIELDS: dict[str, tuple[type, ...]] = {
    "file": (str,), "role": (str,), "precision": (str,), "target": (str,), "sha256": (str,)}
_ENTRY_OPTIONAL: dict[str, tuple[type, ...]] = {
    "branch": (int, type(None)), "bytes": (int,), "kind": (str,)}


def _check_entry(entry: Any, path: Path) -> None:
    if not isinstance(entry, dict):
        raise ModelFileError(f"{path}: a files entry is {type(entry).__name__}, not an object; "
                             f"re-export the model")
    check_file_entry(entry, path)
    for key, types in _ENTRY_FIELDS.items():
        if not isinstance(entry.get(key), types) or isinstance(entry.get(key), bool):
            raise ModelFileError(f"{path}: entry {entry['file']!r} has no valid {key!r} "
                                 f"(got {short_repr(entry.get(key), 40)}); re-export the model")
    for key, types in _ENTRY_OPTIONAL.items():
        if key in entry and (not isinstance(entry[key], types) or isinstance(entry[key], bool)):
            raise ModelFileError(f"{path}: entry {entry['file']!r} has an invalid {key!r} "
                                 f"({short_repr(entry[key], 40)}); re-export the model")


def _check_calibration(calib: Any, path: Path) -> None:
    """The ``calibration`` section (written by ``edge-build calibrate``), when present, has
    the shape the INT8 gate reads: objects where it expects objects."""
    if calib is None:
        return
    gate = calib.get("gate", {}) if isinstance(calib, dict) else None
    artifacts = gate.get("artifacts", {}) if isinstance(gate, dict) else None
    attempts = gate.get("attempts", []) if isinstance(gate, dict) else None
    if not (isinstance(artifacts, dict) and all(isinstance(a, dict) for a in artifacts.values())
            and isinstance(attempts, list) and all(isinstance(a, dict) for a in attempts)):
        raise ModelFileError(f"{path}: its 'calibration' section is malformed (the INT8 gate "
                             f"cannot be read); calibrate again with edge-build calibrate")


def read_manifest(export_dir: str | Path, verify: bool = True) -> dict[str, Any]:
    """Load ``manifest.json``, check its shape and every entry's name and types, and (by
    default) every listed file and its sha256.

    Raises :class:`ModelFileError` naming the missing, truncated, altered or outside file.
    """
    root = Path(export_dir)
    path = root / MANIFEST
    if not path.is_file():
        raise ModelFileError(f"{path}: missing; is {root} an export folder? Create one with "
                             f"edge-build export --model M --out {root}")
    manifest = load_json(path, "re-export the model")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list) \
            or not isinstance(manifest.get("description"), dict):
        raise ModelFileError(f"{path}: not a valid edge-seg manifest (needs a 'files' list and "
                             f"a 'description' object); re-export")
    ModelDescription.from_dict(manifest["description"], source=str(path))
    files = manifest["files"]
    for entry in files:
        _check_entry(entry, path)
    _check_calibration(manifest.get("calibration"), path)
    names = [e["file"] for e in files]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ModelFileError(f"{path}: lists {twice[0]!r} twice; re-export the model")
    if verify:
        for entry in files:
            f = folder_file(root, entry["file"], path, "re-export the model")
            if sha256_file(f) != entry["sha256"]:
                raise ModelFileError(f"{f}: sha256 differs from {path} (truncated, corrupted or "
                                     f"replaced); re-export the model")
    return manifest


def copy_export(src: str | Path, dst: str | Path, keep) -> dict[str, Any]:
    """Copy the manifest entries of ``src`` for which ``keep(entry)`` is true to ``dst``,
    with a manifest listing exactly those (every source file verified first).

    Used to ship a lean subset of an export (e.g. the demo's FP32 and INT8 graphs) without
    hand-editing a manifest. Nothing is written outside ``dst``: every target is checked
    (:func:`folder_target`) before the first copy.
    """
    src, dst = Path(src), Path(dst)
    manifest = read_manifest(src)  # names, types and files checked
    files = [f for f in manifest["files"] if keep(f)]
    if not files:
        raise ModelFileError(f"{src}: no files selected to copy")
    fix = f"choose another --out than {dst}"
    targets = [folder_target(dst, f["file"], src / MANIFEST, fix) for f in files]
    folder_target(dst, MANIFEST, src / MANIFEST, fix)
    dst.mkdir(parents=True, exist_ok=True)
    for f, target in zip(files, targets):
        atomic.copy_file(src / f["file"], target)
    new = {**manifest, "files": files}
    atomic.write_text(dst / MANIFEST, json.dumps(new, indent=2) + "\n")
    return new


def description_from_onnx(path: str | Path) -> ModelDescription:
    """The description embedded in an exported graph's metadata."""
    onnx = require("onnx", "reading ONNX files")
    if not Path(path).is_file():  # a folder, or a pipe that would block the reader
        raise ModelFileError(f"{path}: no such ONNX file (or not a regular file); pass a graph "
                             f"from an edge-build export folder")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others on corrupt files
        raise ModelFileError(f"{path}: not a readable ONNX file ({one_line(exc)}); re-export "
                             f"it") from exc
    meta = {p.key: p.value for p in proto.metadata_props}
    if META_DESCRIPTION not in meta:
        raise ModelFileError(f"{path}: has no edge-seg description in its metadata; export it "
                             f"with edge-build export")
    return ModelDescription.from_json(meta[META_DESCRIPTION], source=str(path))


def example_inputs(desc: ModelDescription, seed: int = 0) -> np.ndarray:
    """A realistic network input: a synthetic scene through the runtime's preprocessing."""
    from edge.data.synth import random_scene
    from edge.preprocess import preprocess

    image = random_scene(seed, desc.input_size).render()[0]
    return preprocess(image, desc)[None]
