"""Atomic file writes: a crash or Ctrl-C never leaves a half-written artifact that looks
complete. Data goes to ``<name>.tmp`` beside the target, then is renamed over it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def copy_file(src: str | Path, dst: str | Path) -> None:
    dst = Path(dst)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def replace(tmp: str | Path, path: str | Path) -> None:
    """Move a finished temporary file (written by a library) into place."""
    os.replace(tmp, path)
