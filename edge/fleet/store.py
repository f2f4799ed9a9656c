"""The engine store: one folder holding engine folders for many device identities.

A TensorRT engine runs only on the TensorRT release and GPU it was built for, so a fleet
(Orin Nanos on JetPack 6.0, AGX Orins on 6.2, a Thor on 7) needs one engine folder per
identity. The store keeps them side by side, each an ordinary engine folder
(``engines.json`` + engines, runnable with ``edge-run --model STORE/KEY``) plus
``fleet.json``: which export (its manifest's sha256) and precisions it holds, when it was
built and the device self-test's verdict. ``store.json`` at the top marks the folder as a
store, so ``edge-run --model STORE`` on a device picks the entry whose recorded device
matches its own (:func:`pick_entry`), and ``edge-build engine --device`` skips a device whose
identity already has current engines for the export (:func:`current_entry`).

Layout::

    STORE/store.json
    STORE/<key>/engines.json, *.engine, *.json, fleet.json, selftest/selftest.{json,md}

``<key>`` is readable (``agx-orin-r36.4.3-trt10.3.0-cc8.7``) and built only from the identity
facts by :func:`identity_key`, never from anything a device or a file could inject.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from edge import atomic
from edge.engines.folder import ENGINE_MANIFEST, load_engine_folder
from edge.engines.identity import DeviceInfo, mismatches
from edge.errors import ModelFileError
from edge.untrusted import folder_file

log = logging.getLogger(__name__)

STORE_MARKER = "store.json"
ENTRY_RECORD = "fleet.json"
STORE_VERSION = 1
_SAFE = re.compile(r"[^a-z0-9.]+")
FAILED = ".failed"  # builds that failed a precision or the self-test, kept for inspection


def _slug(text: str) -> str:
    return _SAFE.sub("-", text.lower()).strip("-.") or "unknown"


def identity_key(device: DeviceInfo | dict[str, Any]) -> str:
    """Folder name of an identity: board family (or GPU), SM count (AGX Orin 64 GB has 16,
    the 32 GB 14; an Orin Nano 8 GB 8, the 4 GB 4: engines do not carry between them), L4T
    release, TensorRT major.minor.patch, compute capability: every fact
    :func:`edge.engines.identity.mismatches` compares. Only ``[a-z0-9.-]``."""
    d = device if isinstance(device, DeviceInfo) else DeviceInfo(**{
        k: device.get(k) for k in ("trt_version", "gpu_name", "compute_capability", "l4t",
                                   "board", "sm_count")})
    parts = [d.board_family or _slug(d.gpu_name)]
    if d.sm_count:
        parts.append(f"{d.sm_count}sms")
    if d.l4t:  # exact (R36.4.0 is JetPack 6.1, R36.4.3 is 6.2)
        parts.append(d.l4t)
    parts.append("trt" + ".".join(str(d.trt_version).split(".")[:3]))
    parts.append(f"cc{d.compute_capability}")
    return _slug("-".join(parts))


def is_store(path: str | Path) -> bool:
    return (Path(path) / STORE_MARKER).is_file()


def init_store(path: str | Path) -> Path:
    """Create (or accept) a store at ``path``; refuse a folder that is something else (an
    export or an engine folder), which a store would clutter."""
    root = Path(path)
    if root.is_dir() and not is_store(root) and any(
            (root / f).is_file() for f in (ENGINE_MANIFEST, "manifest.json")):
        raise ModelFileError(f"{root}: an engine or export folder, not an engine store; pass "
                             f"--out a new or empty folder (e.g. engines/store)")
    root.mkdir(parents=True, exist_ok=True)
    if not is_store(root):
        atomic.write_text(root / STORE_MARKER, json.dumps({"store_version": STORE_VERSION},
                                                          indent=2) + "\n")
    return root


def read_record(entry: Path) -> dict[str, Any] | None:
    try:
        rec = json.loads((entry / ENTRY_RECORD).read_bytes())
    except (OSError, ValueError, RecursionError):  # missing or malformed: not an entry
        return None
    return rec if isinstance(rec, dict) else None


def entries(store: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, fleet.json) of every entry of the store, by key."""
    root = Path(store)
    out = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        rec = read_record(sub)
        if rec is not None and isinstance(rec.get("device"), dict):
            out.append((sub, rec))
    return out


def current_entry(store: str | Path, key: str, manifest_sha256: str, precisions: list[str],
                  device: DeviceInfo, build_args: list[str], selftest: bool
                  ) -> dict[str, Any] | None:
    """The record of ``STORE/key`` when it holds engines of every one of ``precisions``
    built from the export whose manifest has ``manifest_sha256`` for ``device`` (no
    identity mismatch) with the same builder options, each file present with the sha256
    ``engines.json`` records, and (when ``selftest`` is asked for) a self-test that ran and
    did not FAIL; else None (it is rebuilt)."""
    from edge.export.onnx_export import sha256_file

    entry = Path(store) / key
    rec = read_record(entry)
    if rec is None or rec.get("export_manifest_sha256") != manifest_sha256:
        return None
    if not isinstance(rec.get("device"), dict) or mismatches(rec["device"], device):
        return None
    if rec.get("build_args") != list(build_args):  # --dla, --workspace, ... changed
        return None
    if selftest and rec.get("selftest") not in ("PASS", "INCOMPLETE"):
        return None
    listed_in = entry / ENGINE_MANIFEST
    try:
        folder = load_engine_folder(listed_in)  # names and types checked before use
        built = {e["precision"] for e in folder["engines"]}
        recorded = rec.get("precisions", [])
        if not set(precisions) <= built or not isinstance(recorded, list) \
                or not set(precisions) <= {p for p in recorded if isinstance(p, str)}:
            return None
        for e in folder["engines"]:
            if e["precision"] in precisions and sha256_file(
                    folder_file(entry, e["file"], listed_in, "it is rebuilt")) != e["sha256"]:
                log.warning("%s: %s differs from its recorded sha256; rebuilding", entry,
                            e["file"])
                return None
    except ModelFileError as exc:  # missing, malformed, a name outside: rebuilt
        log.info("%s", exc)
        return None
    except OSError as exc:  # an engine that cannot be read while hashed (EACCES, EIO)
        log.warning("%s: cannot read %s (%s); rebuilding it", entry,
                    exc.filename or "an engine", exc.strerror or exc)
        return None
    return rec


class StoreLock:
    """An exclusive lock on one identity of a store (``STORE/.locks/KEY``, ``flock``), held
    while that identity is built and its entry replaced: boards of one identity in one run
    build once, and two runs on one store never swap the same entry at once."""

    def __init__(self, store: str | Path, key: str) -> None:
        self.path = Path(store) / ".locks" / key
        self._fh: Any = None

    def __enter__(self) -> StoreLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a")
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        import fcntl

        fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()


def write_record(entry: Path, record: dict[str, Any]) -> None:
    atomic.write_text(entry / ENTRY_RECORD, json.dumps(record, indent=2) + "\n")


def pick_entry(store: str | Path, device: DeviceInfo) -> Path:
    """The entry of ``store`` built for ``device`` (no identity mismatch, see
    :func:`edge.engines.identity.mismatches`); one naming the same key wins over one that
    matches only because a fact is unknown on one side. Refuses, listing what the store has
    and the command that builds for this device, when none matches."""
    root = Path(store)
    found = [(p, rec) for p, rec in entries(root) if not mismatches(rec["device"], device)]
    if not found:
        have = ", ".join(p.name for p, _ in entries(root)) or "nothing"
        raise ModelFileError(
            f"{root}: no engines for this device ({device.describe()}, identity "
            f"{identity_key(device)}); the store has {have}. Build them from the workstation "
            f"with: edge-build engine --export EXPORT --device USER@THIS-DEVICE --out {root}")
    key = identity_key(device)
    found.sort(key=lambda pr: pr[0].name != key)
    if found[0][1].get("selftest") == "FAIL":
        log.warning("%s: the device self-test FAILED for these engines when they were built "
                    "(see %s); rebuild them or run the export with --backend onnxruntime",
                    found[0][0], found[0][0] / "selftest" / "selftest.md")
    log.info("engine store %s: using %s (built %s for %s)", root, found[0][0].name,
             found[0][1].get("built_at", "?"), found[0][1].get("device", {}).get("gpu_name"))
    return found[0][0]
