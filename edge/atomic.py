"""Atomic file writes: a crash or Ctrl-C never leaves a half-written artifact that looks
complete. Data goes to ``<name>.tmp`` beside the target, then is renamed over it; a folder
of files described by a manifest is assembled beside its target and moved into place by
:func:`commit_folder`, so the manifest never lists a file it does not hold complete.

A symbolic link is followed (the file it points to is replaced, the link stays), and an
existing non-regular file (``/dev/null``, ``/dev/stdout``, a pipe) is written straight
through: renaming over it would replace the device node or the link itself (as root,
``--json /dev/null`` would otherwise turn /dev/null into a regular file)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from edge.untrusted import is_plain_name, own_name

log = logging.getLogger(__name__)


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


# In a folder while commit_folder swaps its files: the names its previous manifest listed
# (JSON). Its presence says the folder is ours, half-replaced, and that the next run may
# finish the job; it is never listed in a manifest.
REPLACING = ".edge-replacing"


def staging_folder(out: str | Path) -> Path:
    """``<out>.partial``, beside ``out``: where a folder is assembled before
    :func:`commit_folder` moves it into place (same file system, so moves are renames)."""
    out = Path(out).absolute()
    return out.with_name(out.name + ".partial")


def being_replaced(out: str | Path) -> set[str] | None:
    """The names the previous manifest of ``out`` listed when a :func:`commit_folder` into
    it was cut short (a signal, a crash), else None."""
    mark = Path(out) / REPLACING
    if not mark.is_file():
        return None
    try:
        names = json.loads(mark.read_text())
    except (OSError, ValueError):
        return set()
    return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()


def commit_folder(stage: str | Path, out: str | Path, manifest: str,
                  previous: Iterable[str] = ()) -> None:
    """Move the finished folder ``stage`` (its ``manifest`` written last) to ``out``.

    A rename when ``out`` is missing. Over an existing folder, file by file: the
    names it listed (``previous``, plus those of a commit cut short before) are recorded in
    :data:`REPLACING`, its manifest is removed first and the new one moved in last, so at
    every instant ``out`` either has no manifest or one whose files are all complete and
    match it; then ``previous`` names the new manifest does not list are removed, then the
    mark. Other files in ``out`` are left alone. A run interrupted in the middle leaves
    the mark; :func:`being_replaced` tells the next run, which commits again over it."""
    stage, out = Path(stage), Path(out)
    if not out.exists():
        os.rename(stage, out)
        return
    old = set(previous) | (being_replaced(out) or set())
    write_text(out / REPLACING, json.dumps(sorted(old)) + "\n")
    (out / manifest).unlink(missing_ok=True)
    files = sorted((p for p in stage.rglob("*") if p.is_file()),
                   key=lambda p: (p.name == manifest, str(p)))
    for f in files:
        dst = out / f.relative_to(stage)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(f, dst)
    new = {f.relative_to(stage).as_posix() for f in files}
    for name in sorted(old - new):
        if _stale_file(out, name):
            (out / name).unlink(missing_ok=True)
    (out / REPLACING).unlink(missing_ok=True)
    shutil.rmtree(stage, ignore_errors=True)


def _stale_file(out: Path, name: str) -> bool:
    """Whether ``name``, listed before (the mark is read back from the folder: it may have
    been edited), is a file of ``out`` that a commit may remove: a plain name
    (:func:`edge.untrusted.is_plain_name`: no ``..``, no path), not one of edge-seg's own
    working names, and not a folder. Anything else is left alone with a WARNING, and the
    commit completes (unlinking ``..`` or a folder would stop it midway on every run)."""
    why = None
    if not is_plain_name(name):
        why = "not a plain file name of the folder"
    elif own_name(name) is not None:
        why = f"edge-seg's own working name ({own_name(name)}), never a listed file"
    else:
        try:
            mode = (out / name).lstat().st_mode
        except FileNotFoundError:
            return False  # already gone
        except OSError as exc:
            why = f"cannot be inspected ({exc.strerror})"
        else:
            if stat.S_ISDIR(mode):
                why = "a folder, not a file"
    if why is not None:
        log.warning("%s: not removing %r, named as a previous file in %s: %s", out, name,
                    REPLACING, why)
        return False
    return True


def remove_temporaries(folder: str | Path, patterns: Iterable[str]) -> list[str]:
    """Remove the ``<name>.tmp`` files a killed writer left in ``folder`` for names matching
    ``patterns`` (globs of the names a command writes there); nothing else is touched.
    Never listed by a manifest, they would otherwise stay when their name is not written
    again (an engine of an export that has since changed). Returns the names removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for pattern in patterns:
        for tmp in folder.glob(pattern + ".tmp"):
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink(missing_ok=True)
                removed.append(tmp.name)
    return sorted(removed)
