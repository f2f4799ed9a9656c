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
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge import atomic
from edge.description import ModelDescription
from edge.engines.identity import DeviceInfo, check_engine
from edge.errors import ModelFileError

log = logging.getLogger(__name__)

ENGINE_MANIFEST = "engines.json"
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,200}$")
FOLDER_VERSION = 1


def check_plain_name(name: Any, where: Path) -> str:
    """An engine file named in ``engines.json`` must be a plain name in its folder: a device
    or a crafted manifest never makes the workstation read or load files elsewhere."""
    if not isinstance(name, str) or not _PLAIN.match(name):
        raise ModelFileError(f"{where}: engine file {name!r} is not a plain file name in its "
                             f"folder; refusing it (rebuild the engines)")
    return name


def rebuild_command(folder: dict[str, Any], out: str | Path, precision: str) -> str:
    src = folder.get("export", {}).get("path", "EXPORT")
    return f"edge-build engine --export {src} --precision {precision} --out {out}"


def _as_json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def write_engine_folder(out: str | Path, desc: ModelDescription, export: dict[str, Any],
                        device: DeviceInfo, engines: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``engines.json`` (atomically) listing ``engines`` of any precisions built so far:
    entries of other precisions already in the folder are kept, with their own device, when
    the model description is the same (compared as JSON: the stored one has lists)."""
    from edge.export.onnx_export import sha256_file

    out = Path(out)
    old: list[dict[str, Any]] = []
    path = out / ENGINE_MANIFEST
    if path.is_file():
        try:
            prev = json.loads(path.read_text())
            new_keys = {(e["precision"], e["role"], e.get("branch")) for e in engines}
            kept = [e for e in prev.get("engines", [])
                    if (e["precision"], e["role"], e.get("branch")) not in new_keys]
            if prev.get("description") == _as_json(desc.to_dict()):
                # entries written before devices were recorded per entry: the folder's device
                old = [{**e, "device": e.get("device", prev.get("device"))} for e in kept]
            elif kept:
                log.warning("%s: the model description changed; dropping its %d engines of "
                            "other precisions (rebuild them from this export)", path, len(kept))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            # never drop silently what it lists (engines of other precisions built here)
            raise ModelFileError(f"{path}: unreadable ({exc}); not overwriting it: move it "
                                 f"away (or empty {out}) and rebuild the engines") from exc
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
    from edge.export.onnx_export import sha256_file

    root = Path(folder_dir)
    path = root / ENGINE_MANIFEST
    if not path.is_file():
        raise ModelFileError(f"{path}: missing; build engines with edge-build engine --export "
                             f"EXPORT --precision {precision} --out {root}")
    try:
        folder = json.loads(path.read_text())
        desc = ModelDescription.from_dict(folder["description"], source=str(path))
        entries = [e for e in folder["engines"] if e["precision"] == precision]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: not a valid engine manifest ({exc}); rebuild the "
                             f"engines") from exc
    rebuild = rebuild_command(folder, root, precision)
    if not entries:
        have = sorted({e.get("precision") for e in folder["engines"]})
        raise ModelFileError(f"{root}: no {precision} engines (has {have}); build them with: "
                             f"{rebuild}")
    roles = {e["role"] for e in entries}
    want = {"model"} if desc.task == "semantic" else {"detector", "branch"}
    if not want <= roles or (desc.task == "instance" and
                             len([e for e in entries if e["role"] == "branch"])
                             != len(desc.branches)):
        raise ModelFileError(f"{root}: the {precision} engines are incomplete; rebuild with: "
                             f"{rebuild}")
    for e in entries:
        f = root / check_plain_name(e["file"], path)
        if not f.is_file():
            raise ModelFileError(f"{f}: listed in {path} but missing; rebuild with: {rebuild}")
        if sha256_file(f) != e["sha256"]:
            raise ModelFileError(f"{f}: sha256 differs from {path} (truncated or replaced); "
                                 f"rebuild with: {rebuild}")
        check_engine(e if isinstance(e.get("device"), dict) else folder, device, f, rebuild)
    return desc, entries
