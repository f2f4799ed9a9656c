"""The engine folder: ``engines.json`` + one ``.engine`` and sidecar ``.json`` per graph.

``engines.json`` carries the model description (so the runtime needs nothing else), the
export it came from, the device and every engine's file, role, sha256 and key. Reading it
verifies each engine's hash and its identity against this device before anything is
deserialised.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge import atomic
from edge.description import ModelDescription
from edge.engines.identity import DeviceInfo, check_engine
from edge.errors import ModelFileError

ENGINE_MANIFEST = "engines.json"
FOLDER_VERSION = 1


def rebuild_command(folder: dict[str, Any], out: str | Path, precision: str) -> str:
    src = folder.get("export", {}).get("path", "EXPORT")
    return f"edge-build engine --export {src} --precision {precision} --out {out}"


def write_engine_folder(out: str | Path, desc: ModelDescription, export: dict[str, Any],
                        device: DeviceInfo, engines: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``engines.json`` (atomically) listing ``engines`` of any precisions built so far
    (entries of other precisions already in the folder are kept)."""
    from edge.export.onnx_export import sha256_file

    out = Path(out)
    old: list[dict[str, Any]] = []
    if (out / ENGINE_MANIFEST).is_file():
        try:
            prev = json.loads((out / ENGINE_MANIFEST).read_text())
            if prev.get("description") == desc.to_dict():
                new_keys = {(e["precision"], e["role"], e.get("branch")) for e in engines}
                old = [e for e in prev.get("engines", [])
                       if (e["precision"], e["role"], e.get("branch")) not in new_keys]
        except (json.JSONDecodeError, KeyError, TypeError):
            old = []
    for e in engines:
        e["sha256"] = sha256_file(out / e["file"])
    folder = {"engines_version": FOLDER_VERSION, "description": desc.to_dict(), "export": export,
              "device": device.__dict__, "engines": old + engines}
    atomic.write_text(out / ENGINE_MANIFEST, json.dumps(folder, indent=2) + "\n")
    return folder


def read_engine_folder(folder_dir: str | Path, precision: str, device: DeviceInfo
                       ) -> tuple[ModelDescription, list[dict[str, Any]]]:
    """Description and the ``precision`` engines of a folder, every one verified: present,
    hash as recorded, built for this device and TensorRT."""
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
        f = root / e["file"]
        if not f.is_file():
            raise ModelFileError(f"{f}: listed in {path} but missing; rebuild with: {rebuild}")
        if sha256_file(f) != e["sha256"]:
            raise ModelFileError(f"{f}: sha256 differs from {path} (truncated or replaced); "
                                 f"rebuild with: {rebuild}")
        check_engine(folder, device, f, rebuild)
    return desc, entries
