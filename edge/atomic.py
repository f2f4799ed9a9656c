"""Atomic file writes: a crash or Ctrl-C never leaves a half-written artifact that looks
complete. Data goes to ``<name>.tmp`` beside the target, then is renamed over it.

A symbolic link is followed (the file it points to is replaced, the link stays), and an
existing non-regular file (``/dev/null``, ``/dev/stdout``, a pipe) is written straight
through: renaming over it would replace the device node or the link itself (as root,
``--json /dev/null`` would otherwise turn /dev/null into a regular file)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def _target(path: str | Path) -> tuple[Path, bool]:
    """(the path to replace, whether it must be written in place instead)."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    return path, path.exists() and not path.is_file()


def write_bytes(path: str | Path, data: bytes) -> None:
    path, in_place = _target(path)
    if in_place:
        with open(path, "wb") as f:
            f.write(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def copy_file(src: str | Path, dst: str | Path) -> None:
    dst, in_place = _target(dst)
    if in_place:
        shutil.copyfile(src, dst)
        return
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def replace(tmp: str | Path, path: str | Path) -> None:
    """Move a finished temporary file (written by a library) into place."""
    os.replace(tmp, path)
