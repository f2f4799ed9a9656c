"""Model folders installed on a device, where ``edge-run --model NAME`` finds them.

``$EDGE_SEG_HOME`` (default ``$XDG_DATA_HOME/edge-seg``, i.e. ``~/.local/share/edge-seg``)
holds ``models/NAME``, a symbolic link to ``models/.versions/NAME/<stamp>-<export>``: the
export's graphs and this device's engines in one folder (TensorRT when it imports, else the
ONNX Runtime graphs, as for any folder). Installing writes the new version completely, then
swaps the link with one ``rename`` (atomic: a running ``edge-run`` keeps its open version,
the next one starts on the new), and points ``models/NAME.previous`` at the version it
replaced; :func:`rollback` swaps the two. Older versions are removed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, ModelFileError

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PREVIOUS = ".previous"


def edge_home() -> Path:
    """Where this device keeps uploads, builds and installed models."""
    env = os.environ.get("EDGE_SEG_HOME")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "edge-seg"


def models_root() -> Path:
    return edge_home() / "models"


def check_name(name: str, what: str = "model name") -> str:
    if not NAME.match(name or "") or name.endswith(PREVIOUS):
        raise ConfigError(f"{what} {name!r}: use letters, digits, '.', '_' or '-' (at most 64, "
                          f"starting with a letter or digit)")
    return name


def installed(name: str) -> Path | None:
    """The folder ``edge-run --model NAME`` runs, or None when NAME is not installed."""
    if not NAME.match(name):
        return None
    link = models_root() / name
    return link.resolve() if link.is_dir() else None


def installed_names() -> list[str]:
    root = models_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if not p.name.startswith(".") and not p.name.endswith(PREVIOUS) and p.is_dir())


def _link(target: Path, link: Path) -> None:
    """Point ``link`` at ``target`` atomically (a new link renamed over the old one)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(target, link.parent))
    os.replace(tmp, link)


def _place(src: Path, dst: Path) -> None:
    """Hard link (same file system: no copy of large engines), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def install(name: str, sources: list[Path], export_id: str) -> dict[str, Any]:
    """Install the regular files of ``sources`` (the uploaded export, this device's engine
    folder; later ones win on a clash) as a new version of ``name`` and switch to it."""
    check_name(name)
    root = models_root()
    link = root / name
    if link.exists() and not link.is_symlink():
        raise ModelFileError(f"{link}: a folder not installed by edge-build deploy; move it "
                             f"away (it is never overwritten) and deploy again")
    versions = root / ".versions" / name
    versions.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    final = versions / f"{stamp}-{export_id[:12]}"
    n = 1
    while final.exists():
        n += 1
        final = versions / f"{stamp}-{export_id[:12]}-{n}"
    tmp = versions / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for src in sources:
        for f in sorted(src.iterdir()):
            if f.is_file() and not f.is_symlink() and not f.name.endswith(".tmp") \
                    and not f.name.startswith("timing.cache"):
                dst = tmp / f.name
                if dst.exists():
                    dst.unlink()
                _place(f, dst)
    if not (tmp / "manifest.json").is_file() and not (tmp / "engines.json").is_file():
        shutil.rmtree(tmp)
        raise ModelFileError(f"{', '.join(map(str, sources))}: nothing to install (no "
                             f"manifest.json or engines.json); upload and build first")
    os.replace(tmp, final)
    old = link.resolve() if link.is_symlink() and link.exists() else None
    if old is not None:
        _link(old, root / f"{name}{PREVIOUS}")
    _link(final, link)
    _prune(versions, {final, old})
    log.info("installed %s -> %s (previous: %s)", link, final, old)
    return {"name": name, "path": str(link), "current": str(final),
            "previous": str(old) if old else None}


def rollback(name: str) -> dict[str, Any]:
    """Swap ``name`` and ``name.previous``; refuses when there is no previous version."""
    check_name(name)
    root = models_root()
    link, prev = root / name, root / f"{name}{PREVIOUS}"
    if not prev.is_symlink() or not prev.exists():
        raise ModelFileError(f"{prev}: no previous version of {name} to roll back to (one is "
                             f"kept after the second deploy)")
    if not link.is_symlink():
        raise ModelFileError(f"{link}: {name} is not installed by edge-build deploy here")
    cur, old = link.resolve(), prev.resolve()
    _link(old, link)
    _link(cur, prev)
    log.info("rolled back %s: %s -> %s", name, cur, old)
    return {"name": name, "path": str(link), "current": str(old), "previous": str(cur)}


def _prune(versions: Path, keep: set[Path | None]) -> None:
    keep_names = {p.name for p in keep if p is not None}
    for v in versions.iterdir():
        if v.is_dir() and v.name not in keep_names and not v.name.startswith("."):
            shutil.rmtree(v, ignore_errors=True)

