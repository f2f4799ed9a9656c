"""Reading files nobody vouches for: model folders, manifests, engine folders, datasets.

A folder a user downloads or a device sends back is untrusted: every file name its manifest
lists must stay inside it (no ``..``, no absolute path, no link out, no pipe that would
block the reader), and every JSON file in it may be malformed or nested beyond reason. The
rules live here once, so the export, engine, calibration, fleet and data readers cannot
drift apart, and their refusals stay one line naming the file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import zipfile
from pathlib import Path
from typing import Any

from edge.errors import EdgeError, ModelFileError

# The one rule for every file name an untrusted folder's manifest (manifest.json,
# engines.json, a device's archive) names: a plain name, letters, digits and "._-", not
# starting with "." or "-" (so no "..", no hidden files such as .edge-replacing, no
# options), no separators, drive letters, NUL or newlines. Everything edge-seg writes
# matches it.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,200}")

# Names edge-seg itself writes in such a folder, which a manifest never lists (lower case:
# a case-insensitive file system makes X.TMP the same file as X.tmp): listed, they would
# have a copy clobber a listed file (edge.atomic writes X as X.tmp, then renames) or a
# cleanup delete one (edge.atomic.remove_temporaries removes X.tmp).
_OWN_NAMES = {"manifest.json": "an export folder's manifest",
              "engines.json": "an engine folder's manifest"}
_OWN_SUFFIXES = {".tmp": "the temporary name edge-seg writes a file under before renaming it",
                 ".partial": "the name of the folder edge-seg assembles an export in"}


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: one line, whatever the file holds."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(exc: BaseException, limit: int = 200) -> str:
    """A library's exception text as one short line (torch and protobuf write paragraphs)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_plain_name(name: Any) -> bool:
    """Whether ``name`` is a plain file name (the character rule of :func:`plain_name`,
    without its working-name rule: an archive of a folder carries the folder's manifest)."""
    return isinstance(name, str) and _PLAIN_NAME.fullmatch(name) is not None


def own_name(name: str) -> str | None:
    """What ``name`` is when it is one of edge-seg's own working names (a manifest, a
    temporary file, a staging folder), which no manifest lists; else None."""
    lower = name.lower()
    if lower in _OWN_NAMES:
        return _OWN_NAMES[lower]
    return next((what for suffix, what in _OWN_SUFFIXES.items() if lower.endswith(suffix)),
                None)


def plain_name(name: Any, listed_in: str | Path, fix: str, what: str = "file entry",
               listed: bool = True) -> str:
    """``name`` if it is a plain file name inside its folder, else a one-line refusal naming
    ``listed_in`` and the entry: a crafted manifest never makes edge-seg read, hash, copy,
    load or delete a file elsewhere. A ``listed`` name (a manifest's entry) must not be one
    of edge-seg's own working names either (:func:`own_name`), or a copy or a cleanup
    would overwrite or delete the file it lists."""
    if not is_plain_name(name):
        raise ModelFileError(f"{listed_in}: {what} {short_repr(name)} is not a plain file name "
                             f"inside the folder (letters, digits and '._-'; no '..', '/', "
                             f"'\\', drive or NUL); refusing it ({fix})")
    own = own_name(name) if listed else None
    if own is not None:
        raise ModelFileError(f"{listed_in}: {what} {short_repr(name)} is edge-seg's own "
                             f"working name ({own}), never a listed file; refusing it ({fix})")
    return name


def folder_file(root: str | Path, name: Any, listed_in: str | Path, fix: str,
                what: str = "file entry") -> Path:
    """``root / name`` once ``name`` is plain (:func:`plain_name`) and the file is there as a
    regular file: a link must stay inside ``root`` (a link out is refused), and a folder,
    pipe or device is refused (a pipe would block the reader forever)."""
    path = Path(root) / plain_name(name, listed_in, fix, what)
    if path.is_symlink():
        real, inside = os.path.realpath(path), os.path.realpath(root)
        if os.path.commonpath([real, inside]) != inside:
            raise ModelFileError(f"{path}: listed in {listed_in}, but a link to {real}, outside "
                                 f"{root}; refusing it (copy the file into the folder)")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ModelFileError(f"{path}: listed in {listed_in} but missing; {fix}") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: listed in {listed_in} but cannot be read "
                             f"({exc.strerror}); {fix}") from exc
    if not stat.S_ISREG(mode):
        raise ModelFileError(f"{path}: listed in {listed_in} but not a regular file (a folder, "
                             f"pipe or device); refusing it ({fix})")
    return path


def folder_target(root: str | Path, name: Any, listed_in: str | Path, fix: str) -> Path:
    """Where to write ``name`` into ``root``: a plain name, and never through an existing link
    or onto a folder, pipe or device there (atomic writes follow links), so a copy never
    writes outside ``root``. The manifest itself (``listed_in``'s own name, written last by
    a copy) is the one working name allowed here."""
    path = Path(root) / plain_name(name, listed_in, fix, listed=name != Path(listed_in).name)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ModelFileError(f"{path}: already there as a link, folder, pipe or device; not "
                             f"writing {name!r} (listed in {listed_in}) through it (remove it)")
    return path


# What one .npz member, and all of them together, may declare: np.load allocates an array's
# declared size before it reads a byte of it, so a header is judged before anything loads.
# edge-seg's weights are megabytes; a tensor of a gigabyte is already 268M parameters.
MAX_NPZ_ARRAY_BYTES = 1 << 30
MAX_NPZ_TOTAL_BYTES = 2 << 30


def _gib(n: int) -> str:
    return f"{n:,} bytes" if n < 1 << 30 else f"{n / (1 << 30):.3g} GiB"


def check_npz_members(path: Path, archive: zipfile.ZipFile, fix: str,
                      only: str | None = None) -> None:
    """Refuse, before numpy allocates anything, an ``.npz`` whose member is not an ``.npy``
    array or whose ``.npy`` header declares more bytes than the member holds (its size in
    the zip) or than :data:`MAX_NPZ_ARRAY_BYTES` (all members: :data:`MAX_NPZ_TOTAL_BYTES`):
    np.load would allocate the declared size first (a 300-byte file declaring 10**12 floats
    asks for 3.6 TiB). Only each header is read (a few hundred bytes a member); with
    ``only``, only that array's (the one about to be loaded)."""
    from numpy.lib import format as npy

    total = 0
    for info in archive.infolist():
        if only is not None and info.filename.removesuffix(".npy") != only:
            continue
        what = f"{path}: array {short_repr(info.filename.removesuffix('.npy'), 60)}"
        try:
            with archive.open(info) as f:
                version = npy.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = npy.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = npy.read_array_header_2_0(f)
                else:  # 3.0: utf-8 field names of structured arrays; weights are numbers
                    raise ModelFileError(f"{what}: .npy format version {version[0]}.{version[1]}"
                                         f", not one numpy writes for numeric arrays; {fix}")
                offset = f.tell()
        except ModelFileError:
            raise
        except Exception as exc:  # noqa: BLE001  a crafted header makes numpy's parser (ast,
            # tokenize) and zipfile raise many types: ValueError, TokenError, BadZipFile,
            # zlib.error, EOFError, RuntimeError (an encrypted member), NotImplementedError
            raise ModelFileError(f"{what}: not a readable .npy member ({one_line(exc, 120)}); "
                                 f"{fix}") from exc
        count = 1
        for n in shape:  # Python ints: numpy's int64 product of a crafted shape overflows
            count *= n
        declared = count * max(dtype.itemsize, 1)
        held = info.file_size - offset
        if any(n < 0 for n in shape) or declared > held:
            raise ModelFileError(f"{what}: its header declares shape {short_repr(shape, 60)} "
                                 f"of {dtype.str} ({_gib(declared)}) but the member holds "
                                 f"{_gib(max(held, 0))}: damaged or crafted, refused before "
                                 f"loading; {fix}")
        total += declared
        if declared > MAX_NPZ_ARRAY_BYTES or total > MAX_NPZ_TOTAL_BYTES:
            which, cap = ((f"its {_gib(declared)}", MAX_NPZ_ARRAY_BYTES)
                          if declared > MAX_NPZ_ARRAY_BYTES
                          else (f"with the arrays before it {_gib(total)}",
                                MAX_NPZ_TOTAL_BYTES))
            raise ModelFileError(f"{what}: {which} are above the {_gib(cap)} edge-seg loads "
                                 f"from a weights file (not a model it ships or trains); {fix}")


def load_json(path: Path, fix: str, error: type[EdgeError] = ModelFileError) -> Any:
    """Parse a JSON file edge-seg wrote; an unreadable, non-UTF-8, malformed or absurdly
    nested one is ``error`` naming the file and ``fix``."""
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or one_line(exc)}); {fix}") from exc
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise error(f"{path}: unreadable (not valid JSON: {one_line(exc, 120)}); {fix}") \
            from exc
