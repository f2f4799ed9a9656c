"""The engine folder: ``engines.json`` + one ``.engine`` and sidecar ``.json`` per graph.

``engines.json`` carries the model description (so the runtime needs nothing else), the
export it came from, the device of the latest build and every engine's file, role, sha256,
key, ``device`` (the device and TensorRT it was built for: precisions built at different
times keep their own) and ``dla_core`` (None, or the DLA core the runtime must select with
``Runtime.DLA_core`` before deserialising it). Reading it verifies each engine's hash and its
own identity against this device before anything is deserialised.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge import atomic
from edge.description import ModelDescription
from edge.engines.identity import DeviceInfo, check_engine
from edge.errors import ModelFileError
from edge.export.onnx_export import sha256_file
from edge.untrusted import folder_file, load_json, plain_name, short_repr

log = logging.getLogger(__name__)

ENGINE_MANIFEST = "engines.json"
FOLDER_VERSION = 1
REBUILD = "rebuild the engines"


def check_plain_name(name: Any, where: Path) -> str:
    """An engine file named in ``engines.json`` must be a plain name in its folder: a device
    or a crafted manifest never makes the workstation read or load files elsewhere (the one
    rule, :func:`edge.untrusted.plain_name`)."""
    return plain_name(name, where, REBUILD, what="engine file")


def _printable(value: Any) -> bool:
    return not isinstance(value, str) or value.isprintable()


def check_engine_folder(folder: Any, path: Path, fix: str = REBUILD) -> dict[str, Any]:
    """``folder`` (engines.json as parsed) once its shape and every entry's names and types
    are what :func:`write_engine_folder` writes; else a one-line refusal naming ``path``.
    Every reader of engines.json goes through it before using a field."""
    if not isinstance(folder, dict) or not isinstance(folder.get("engines"), list):
        raise ModelFileError(f"{path}: not a valid engine manifest (needs an 'engines' list); "
                             f"{fix}")
    for key in ("export", "device", "description"):
        if not isinstance(folder.get(key, {}), dict):
            raise ModelFileError(f"{path}: {key!r} is not an object; {fix}")
    seen: set[str] = set()
    for e in folder["engines"]:
        if not isinstance(e, dict):
            raise ModelFileError(f"{path}: an engines entry is {type(e).__name__}, not an "
                                 f"object; {fix}")
        name = plain_name(e.get("file"), path, fix, what="engine file")
        if name in seen:
            raise ModelFileError(f"{path}: lists {name!r} twice; {fix}")
        seen.add(name)
        bad = [k for k in ("precision", "role", "sha256") if not isinstance(e.get(k), str)]
        bad += [k for k in ("branch", "dla_core", "static_batch")
                if e.get(k) is not None and (type(e[k]) is not int or e[k] < 0)]
        device = e.get("device", {})
        if not isinstance(device, dict) or not all(
                isinstance(v, (str, int, type(None))) and _printable(v) for v in device.values()):
            bad.append("device")
        if bad:
            raise ModelFileError(f"{path}: entry {name!r} has invalid {', '.join(bad)}; "
                                 f"{fix}")
    if not all(isinstance(v, (str, int, type(None))) and _printable(v)
               for v in folder.get("device", {}).values()):
        raise ModelFileError(f"{path}: 'device' holds other than names and numbers; {fix}")
    return folder


def load_engine_folder(path: Path, fix: str = REBUILD) -> dict[str, Any]:
    """engines.json at ``path``, parsed and checked (:func:`check_engine_folder`)."""
    return check_engine_folder(load_json(path, fix), path, fix)


def rebuild_command(folder: dict[str, Any], out: str | Path, precision: str) -> str:
    export = folder.get("export")
    src = export.get("path", "EXPORT") if isinstance(export, dict) else "EXPORT"
    if not isinstance(src, str) or not src.isprintable():
        src = "EXPORT"
    return f"edge-build engine --export {src} --precision {precision} --out {out}"


def _as_json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def write_engine_folder(out: str | Path, desc: ModelDescription, export: dict[str, Any],
                        device: DeviceInfo, engines: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``engines.json`` (atomically) listing ``engines`` of any precisions built so far:
    entries of other precisions already in the folder are kept, with their own device, when
    the model description is the same (compared as JSON: the stored one has lists)."""
    out = Path(out)
    old: list[dict[str, Any]] = []
    path = out / ENGINE_MANIFEST
    if path.is_file():
        # never drop silently what it lists (engines of other precisions built here)
        prev = load_engine_folder(path, f"not overwriting it: move it away (or empty {out}) "
                                        f"and rebuild the engines")
        new_keys = {(e["precision"], e["role"], e.get("branch")) for e in engines}
        kept = [e for e in prev["engines"]
                if (e["precision"], e["role"], e.get("branch")) not in new_keys]
        if prev.get("description") == _as_json(desc.to_dict()):
            # entries written before devices were recorded per entry: the folder's device
            old = [{**e, "device": e.get("device", prev.get("device"))} for e in kept]
        elif kept:
            log.warning("%s: the model description changed; dropping its %d engines of "
                        "other precisions (rebuild them from this export)", path, len(kept))
    for e in engines:
        e["sha256"] = sha256_file(out / e["file"])
        e.setdefault("device", asdict(device))
        e.setdefault("dla_core", None)
    folder = {"engines_version": FOLDER_VERSION, "description": desc.to_dict(), "export": export,
              "device": asdict(device), "engines": old + engines}
    atomic.write_text(out / ENGINE_MANIFEST, json.dumps(folder, indent=2) + "\n")
    return folder


def read_engine_folder(folder_dir: str | Path, precision: str, device: DeviceInfo
                       ) -> tuple[ModelDescription, list[dict[str, Any]]]:
    """Description and the ``precision`` engines of a folder, every one verified: present,
    hash as recorded, built (per its own entry) for this device and TensorRT."""
    root = Path(folder_dir)
    path = root / ENGINE_MANIFEST
    if not path.is_file():
        raise ModelFileError(f"{path}: missing; build engines with edge-build engine --export "
                             f"EXPORT --precision {precision} --out {root}")
    folder = load_engine_folder(path)
    if "description" not in folder:
        raise ModelFileError(f"{path}: has no model description; rebuild the engines")
    desc = ModelDescription.from_dict(folder["description"], source=str(path))
    entries = [e for e in folder["engines"] if e["precision"] == precision]
    rebuild = rebuild_command(folder, root, precision)
    if not entries:
        have = sorted({e["precision"] for e in folder["engines"]})
        raise ModelFileError(f"{root}: no {precision} engines (has {short_repr(have)}); build them "
                             f"with: {rebuild}")
    roles = {e["role"] for e in entries}
    want = {"model"} if desc.task == "semantic" else {"detector", "branch"}
    branches = [e.get("branch") for e in entries if e["role"] == "branch"]
    if not want <= roles or (desc.task == "instance" and (
            not all(isinstance(b, int) for b in branches)
            or sorted(branches) != list(range(len(desc.branches))))):
        raise ModelFileError(f"{root}: the {precision} engines are incomplete; rebuild with: "
                             f"{rebuild}")
    for e in entries:
        f = folder_file(root, e["file"], path, f"rebuild with: {rebuild}", what="engine file")
        if sha256_file(f) != e["sha256"]:
            raise ModelFileError(f"{f}: sha256 differs from {path} (truncated or replaced); "
                                 f"rebuild with: {rebuild}")
        check_engine(e if isinstance(e.get("device"), dict) else folder, device, f, rebuild)
    return desc, entries
