"""Fuzz targets for every loader of a file a user (or a device) hands edge-seg.

Each :class:`Target` writes a VALID file with the project's own writers (an export, an
engine folder, a weights file, a checkpoint, a calibration-set manifest, a COCO file, a
graph's embedded description), then mutates it: structure-aware (delete keys, other JSON
types, huge/negative/NaN/inf numbers, empty/long/path-like/NUL/unicode strings, deep
nesting, duplicated entries; for ``.npz`` wrong dtypes, shapes, missing and object arrays,
and ``.npy`` headers declaring what their data does not hold (shape, dtype, Fortran order,
format version, header length); for ``.pt`` foreign pickles and wrong tensors) and
byte-level (truncate, flip, append junk, empty, non-UTF-8). :func:`run_case` feeds one
mutated file to the loader(s) and accepts only a valid load or a one-line
:class:`edge.errors.EdgeError` naming the file; any other exception, a multi-line message,
a case that runs past its time limit, a file written outside the case's folder or a pickle
that ran code is a failure.

Used by ``tests/test_fuzz_loaders.py`` (a bounded, derandomized CI run) and by
``tools/fuzz_loaders.py`` (longer runs, failures saved to a folder): one set of targets.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import pathlib
import shutil
import signal
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from edge.errors import EdgeError

# --------------------------------------------------------------------------- values

PATH_STRINGS = ["../x", "/etc/passwd", "a/../../b", "x\x00y", "C:\\x", "C:x", "..", ".",
                "a\\b", "sub/model.onnx", "model.onnx\n", ".hidden", "-rf", "~/x", "model.onnx"]
NASTY_STRINGS = PATH_STRINGS + ["", " ", "a\nb", "\u202e\u0000", "é\u4e2d\U0001f600", "NaN",
                                "x" * 5000, "\ud800", "fp16", "detector", "branch", "int8"]
NASTY_NUMBERS = [0, -1, 1, 2, 3, 7, 64, 2**31, 2**63, 10**30, -10**30, 1e308, -1e308,
                 float("nan"), float("inf"), float("-inf"), 0.5, -0.0, 1e-320]


# built once: a strategy made per draw costs hypothesis more than the loaders take
SCALARS = st.one_of(st.none(), st.booleans(), st.sampled_from(NASTY_NUMBERS),
                    st.integers(-5, 300), st.floats(), st.sampled_from(NASTY_STRINGS),
                    st.text(max_size=12))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=6)
_OPS = st.sampled_from(("delete", "replace", "replace", "replace", "path", "duplicate",
                        "nest", "extra"))
_PATHS = st.sampled_from(PATH_STRINGS)
_DEPTHS = st.sampled_from((1, 2, 50, 400))
_KEYS = st.text(max_size=8)
_DEEP = st.sampled_from((b"[" * 100_000, b'{"a":' * 50_000, b"[" * 5000 + b"]" * 5000))


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value, biased to the ones loaders trip on (see ``NASTY_*``)."""
    return JSON_VALUES


def _slots(doc: Any, depth: int = 0) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every value inside ``doc`` (dict keys and list indices)."""
    if depth > 12:
        return
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(
        doc, list) else ()
    for k, v in list(items):
        yield doc, k
        yield from _slots(v, depth + 1)


def _deep(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


@st.composite
def mutated_doc(draw, seed: Any) -> Any:
    """``seed`` (a JSON document) with one to three structural mutations."""
    doc = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 3))):
        slots = list(_slots(doc))
        if not slots or draw(st.integers(0, 30)) == 0:
            doc = draw(JSON_VALUES)  # the whole document another type
            continue
        box, key = slots[draw(st.integers(0, len(slots) - 1))]
        op = draw(_OPS)
        if op == "delete":
            del box[key]
        elif op == "replace":
            box[key] = draw(JSON_VALUES)
        elif op == "path":
            box[key] = draw(_PATHS)
        elif op == "duplicate" and isinstance(box, list):
            box.append(copy.deepcopy(box[key]))
        elif op == "nest":
            box[key] = _deep(box[key], draw(_DEPTHS))
        elif isinstance(box, dict):
            box[draw(_KEYS)] = draw(JSON_VALUES)
    return doc


@st.composite
def byte_mutation(draw, data: bytes) -> bytes:
    """``data`` truncated, with flipped bytes, junk appended, emptied, made non-UTF-8, or
    replaced by nesting deep enough to exhaust a recursive parser."""
    op = draw(st.sampled_from(("truncate", "flip", "append", "empty", "nonutf8", "deep",
                               "insert")))
    if op == "truncate":
        return data[:draw(st.integers(0, max(0, len(data) - 1)))]
    if op == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            if out:
                i = draw(st.integers(0, len(out) - 1))
                out[i] ^= draw(st.integers(1, 255))
        return bytes(out)
    if op == "append":
        return data + draw(st.binary(min_size=1, max_size=64))
    if op == "empty":
        return b""
    if op == "nonutf8":
        i = draw(st.integers(0, len(data)))
        return data[:i] + draw(st.sampled_from((b"\xff", b"\xc3\x28", b"\xed\xa0\x80",
                                                b"\x00"))) + data[i:]
    if op == "deep":
        return draw(_DEEP)
    i = draw(st.integers(0, len(data)))
    return data[:i] + draw(st.binary(min_size=1, max_size=16)) + data[i:]


def json_cases(seed: Any) -> st.SearchStrategy[bytes]:
    """Mutated JSON files from a valid document ``seed``: mostly structural, some bytes,
    a few untouched (the valid load is checked too)."""
    seed = json.loads(json.dumps(seed))  # tuples as lists, as a reader sees them
    raw = json.dumps(seed, indent=1).encode()
    return st.one_of(
        mutated_doc(seed).map(lambda d: json.dumps(d).encode("utf-8", "surrogatepass")),
        mutated_doc(seed).map(lambda d: json.dumps(d).encode("utf-8", "surrogatepass")),
        mutated_doc(seed).map(lambda d: json.dumps(d).encode("utf-8", "surrogatepass")),
        byte_mutation(raw), st.just(raw))


# --------------------------------------------------------------------------- harness


class CaseTimeout(Exception):
    """A loader ran past its time limit (a hang, or work out of proportion to the file)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the case after ``seconds`` (SIGALRM: main thread, POSIX)."""
    def fire(signum, frame):
        raise CaseTimeout(f"ran past {seconds:g} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Tally:
    """What one target's cases ended in."""

    examples: int = 0
    ok: int = 0
    refused: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        refused = ", ".join(f"{k} {v}" for k, v in sorted(self.refused.items())) or "none"
        return (f"{self.examples} examples: {self.ok} loaded, {sum(self.refused.values())} "
                f"refused ({refused}), {len(self.failures)} failures")


@dataclass
class Context:
    """A prepared target: ``folder`` holds the file the case replaces (``path``);
    ``outside`` is the folder around it, where nothing may appear or change."""

    root: Path
    folder: Path
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def outside(self) -> Path:
        return self.root


def _snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(dirpath, d) not in skip]
        for f in files:
            p = Path(dirpath, f)
            st_ = p.lstat()
            out[str(p)] = (st_.st_size, st_.st_mtime_ns)
    return out


def run_case(target: Target, ctx: Context, data: bytes, tally: Tally,
             save_to: Path | None = None) -> str:
    """Write ``data`` as the target's file, run its loader(s), judge the outcome (see the
    module docstring); returns ``ok``, ``refused:<Class>`` or ``FAIL: ...`` (recorded in
    ``tally``; with ``save_to`` the failing input is saved there)."""
    tally.examples += 1
    skip = (ctx.folder, *ctx.extra.get("scratch", ()))
    before = _snapshot(ctx.outside, skip)
    ctx.path.write_bytes(data)
    problem = None
    outcome = "ok"
    try:
        with time_limit(target.time_limit_s):
            target.load(ctx)
    except EdgeError as exc:
        msg = str(exc)
        if "\n" in msg or "\r" in msg:
            problem = f"{type(exc).__name__} message is not one line: {msg[:300]!r}"
        elif str(ctx.folder) not in msg and ctx.path.name not in msg:
            problem = f"{type(exc).__name__} does not name the file: {msg[:300]!r}"
        else:
            outcome = f"refused:{type(exc).__name__}"
    except CaseTimeout as exc:
        problem = f"hang: {exc}"
    except Exception as exc:  # noqa: BLE001  the point: anything but EdgeError is a failure
        tb = traceback.format_exc(limit=-4)
        problem = f"{type(exc).__name__}: {str(exc)[:200]}\n{tb}"
    if problem is None:
        after = _snapshot(ctx.outside, skip)
        if after != before:
            changed = sorted(set(after.items()) ^ set(before.items()))
            problem = f"wrote outside its folder: {changed[:3]}"
        elif ctx.extra.get("sentinel") is not None and ctx.extra["sentinel"].exists():
            problem = "a pickle ran code (the sentinel file was created)"
            ctx.extra["sentinel"].unlink()
    if problem is not None:
        saved = ""
        if save_to is not None:
            save_to.mkdir(parents=True, exist_ok=True)
            dest = save_to / f"{target.name}-{len(tally.failures):04d}-{ctx.path.name}"
            dest.write_bytes(data)
            saved = f" (input saved to {dest})"
        tally.failures.append(f"{target.name}: {problem}{saved}")
        return f"FAIL: {problem}"
    if outcome == "ok":
        tally.ok += 1
    else:
        tally.refused[outcome.split(":", 1)[1]] += 1
    return outcome


@dataclass
class Target:
    """One loader under fuzz: ``prepare(work)`` writes the valid seed files once and
    returns the context; ``cases(ctx)`` mutates them into file contents; ``load(ctx)`` runs
    the loader(s) on ``ctx.path``. ``ci_examples`` is its share of the CI run."""

    name: str
    prepare: Callable[[Path], Context]
    cases: Callable[[Context], st.SearchStrategy[bytes]]
    load: Callable[[Context], None]
    ci_examples: int
    time_limit_s: float = 10.0
    needs: tuple[str, ...] = ()


# --------------------------------------------------------------------------- seeds


def _toy_model():
    import torch

    from edge.models.zoo import create

    torch.manual_seed(0)
    return create("segnet-toy", input_size=(32, 32))


def _instance_desc():
    from edge import catalog

    return catalog.describe("ssd-isb-single-shape-plus", alpha=0.25, input_size=(128, 128))


# ---- export manifest.json: read_manifest (verified), copy_export, check_export_folder

def _prepare_manifest(work: Path) -> Context:
    from edge.export.onnx_export import export_onnx

    desc, model = _toy_model()
    folder = work / "export"
    export_onnx(desc, model.eval(), folder, fp16=False)
    (work / "x").write_text("outside the export: never read, hashed or written\n")
    return Context(work, folder, folder / "manifest.json",
                   {"seed": json.loads((folder / "manifest.json").read_text()),
                    "scratch": (work / "dst",)})


def _load_manifest(ctx: Context) -> None:
    from edge.export.onnx_export import check_export_folder, copy_export, read_manifest

    read_manifest(ctx.folder, verify=False)
    read_manifest(ctx.folder)
    check_export_folder(ctx.folder)
    dst = ctx.root / "dst"
    shutil.rmtree(dst, ignore_errors=True)
    copy_export(ctx.folder, dst, lambda e: True)


# ---- engines.json: read_engine_folder, the runtime's INT8 gate, the builder's reuse check,
#      the store's current-entry check and the fetch's reader

ORIN = None  # the device the fake engines were built for (set in _prepare_engines)


def _prepare_engines(work: Path) -> Context:
    from edge.engines.folder import write_engine_folder
    from edge.engines.identity import DeviceInfo
    from edge.fleet import store

    global ORIN
    ORIN = DeviceInfo("10.3.0.30", "Orin", "8.7", "R36.4.3")
    desc = _instance_desc()
    root = work / "store"
    folder = root / "entry"
    folder.mkdir(parents=True)
    entries = [{"file": "detector.fp16.engine", "role": "detector", "branch": None,
                "precision": "fp16"}]
    entries += [{"file": f"branch{b}.fp16.engine", "role": "branch", "branch": b,
                 "precision": "fp16"} for b in range(len(desc.branches))]
    for e in entries:
        (folder / e["file"]).write_bytes(b"engine " + e["file"].encode())
    export = work / "export"
    export.mkdir()
    (export / "manifest.json").write_text("{}\n")
    from edge.export.onnx_export import sha256_file

    gate = {"tensorrt-qdq": {"status": "passed", "metric": 50.0, "drop_points": 0.2,
                             "max_drop_points": 1.0, "holdout": "people"}}
    write_engine_folder(folder, desc, {"path": str(export), "int8_gate": gate,
                                       "manifest_sha256": sha256_file(export / "manifest.json")},
                        ORIN, entries)
    store.write_record(folder, {"device": asdict(ORIN), "precisions": ["fp16"],
                                "export_manifest_sha256": "a" * 64, "build_args": [],
                                "selftest": "PASS"})
    (root / "x").write_text("outside the engine folder\n")
    return Context(root, folder, folder / "engines.json",
                   {"seed": json.loads((folder / "engines.json").read_text()),
                    "export": export})


def _load_engines(ctx: Context) -> None:
    from edge.engines.builder import current_folder
    from edge.engines.folder import load_engine_folder, read_engine_folder
    from edge.fleet import store
    from edge.runtime.model import _check_engine_gate

    read_engine_folder(ctx.folder, "fp16", ORIN)
    current_folder(ctx.extra["export"], ctx.folder, "fp16", ORIN)
    store.current_entry(ctx.root, ctx.folder.name, "a" * 64, ["fp16"], ORIN, [], False)
    load_engine_folder(ctx.path, "run again")  # what the fleet's fetch reads
    _check_engine_gate(ctx.folder, allow_refused_int8=False)


# ---- the description embedded in an exported graph (description_from_onnx)

def _prepare_onnx(work: Path) -> Context:
    import onnx

    from edge.export.onnx_export import export_onnx
    from edge.models.zoo import build_model

    import torch

    torch.manual_seed(0)
    desc = _instance_desc().replace(input_size=(64, 64))
    folder = work / "graph"
    export_onnx(desc, build_model(desc).eval(), work / "export", fp16=False)
    folder.mkdir()
    name = f"branch_{desc.branches[-1].name}.onnx"
    proto = onnx.load(str(work / "export" / name))
    shutil.rmtree(work / "export")
    meta = {p.key: p.value for p in proto.metadata_props}
    return Context(work, folder, folder / name,
                   {"proto": proto, "seed": json.loads(meta["edge.description"]),
                    "raw": proto.SerializeToString()})


def _onnx_cases(ctx: Context) -> st.SearchStrategy[bytes]:
    import onnx

    proto = ctx.extra["proto"]

    def with_description(text: bytes) -> bytes:
        p = copy.copy(proto)
        p.CopyFrom(proto)
        onnx.helper.set_model_props(p, {"edge.description": text.decode("utf-8", "replace"),
                                        "edge.role": "branch"})
        return p.SerializeToString()

    return st.one_of(json_cases(ctx.extra["seed"]).map(with_description),
                     json_cases(ctx.extra["seed"]).map(with_description),
                     json_cases(ctx.extra["seed"]).map(with_description),
                     byte_mutation(ctx.extra["raw"]))


def _load_onnx(ctx: Context) -> None:
    from edge.export.onnx_export import description_from_onnx

    description_from_onnx(ctx.path)


# ---- the description alone (ModelDescription.from_json / from_dict): fast, many cases

def _prepare_description(work: Path) -> Context:
    folder = work / "description"
    folder.mkdir()
    return Context(work, folder, folder / "description.json",
                   {"seed": _instance_desc().to_dict()})


def _load_description(ctx: Context) -> None:
    from edge.description import ModelDescription

    text = ctx.path.read_bytes().decode("utf-8", "surrogateescape")
    ModelDescription.from_json(text, source=str(ctx.path))


# ---- .npz weights (load_model: torch-free read, then the state dict)

def _prepare_npz(work: Path) -> Context:
    from edge.train.checkpoint import save_weights

    desc, model = _toy_model()
    folder = work / "weights"
    folder.mkdir()
    save_weights(folder / "model.npz", model, desc)
    with np.load(folder / "model.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return Context(work, folder, folder / "model.npz",
                   {"arrays": arrays, "raw": (folder / "model.npz").read_bytes(),
                    "desc": desc.to_dict()})


_DTYPES = ["float64", "int8", "bool", "complex64", "U5", "S5", "object", "float16", "uint64"]


@st.composite
def _mutated_arrays(draw, arrays: dict[str, np.ndarray], desc: dict[str, Any]) -> bytes:
    out = dict(arrays)
    for _ in range(draw(st.integers(1, 3))):
        keys = sorted(out) or ["__description__"]
        key = keys[draw(st.integers(0, len(keys) - 1))]
        op = draw(st.sampled_from(("delete", "dtype", "shape", "scalar", "description",
                                   "extra")))
        a = out.get(key, np.zeros(2, np.float32))
        if op == "delete":
            out.pop(key, None)
        elif op == "dtype":
            dtype = draw(st.sampled_from(tuple(_DTYPES)))
            out[key] = (np.array([{"x": 1}, None], dtype=object) if dtype == "object"
                        else np.zeros(a.shape, dtype))
        elif op == "shape":
            shapes = [a.reshape(-1), a[None], a.reshape(-1)[:1], np.zeros((0,), a.dtype)]
            out[key] = shapes[draw(st.integers(0, len(shapes) - 1))]
        elif op == "scalar":
            out[key] = np.array(draw(st.sampled_from((0, 1.5, "x"))))
        elif op == "description":
            doc = draw(st.one_of(mutated_doc(desc), json_values()))
            texts = [np.array(json.dumps(doc)), np.array(3), np.array([json.dumps(desc)]),
                     np.array(json.dumps(desc).encode()), np.array("{not json")]
            out["__description__"] = texts[draw(st.integers(0, len(texts) - 1))]
        else:
            out[draw(st.text(min_size=1, max_size=8))] = np.zeros(3, np.float32)
    buf = io.BytesIO()
    np.savez(buf, **out)  # object arrays are pickled: the loader must refuse them
    return buf.getvalue()


# what a crafted .npy header may declare: np.load allocates it before reading the data
_HEADER_SHAPES = [(10**12,), (10**9,), (2**40, 2**40), (2**63 - 1,), (-1,), (0,), (),
                  (1,) * 40, (3, -2), (2**31, 2)]
_HEADER_DESCRS = ["<f8", "|V1000000000", "|O", ">f4", "<U100000", "|S0", "<M8[s]", "|b1",
                  "<c16", "|V0", "xyz"]


def _npy_member(a: np.ndarray, header: dict[str, Any], version: int = 1) -> bytes:
    from numpy.lib import format as npy

    buf = io.BytesIO()
    (npy.write_array_header_1_0 if version == 1 else npy.write_array_header_2_0)(buf, header)
    return buf.getvalue() + a.tobytes()


@st.composite
def _mutated_headers(draw, arrays: dict[str, np.ndarray]) -> bytes:
    """The valid arrays, with one or two members' ``.npy`` headers rewritten: a shape or
    item size its data does not hold (terabytes from a few bytes, an overflowing element
    count), another dtype, Fortran order, a format version numpy never wrote, a header
    length that points past or into the header; stored or deflated."""
    import zipfile

    from numpy.lib import format as npy

    members = {k + ".npy": _npy_member(a, npy.header_data_from_array_1_0(a))
               for k, a in arrays.items()}
    names = sorted(members)
    for _ in range(draw(st.integers(1, 2))):
        name = names[draw(st.integers(0, len(names) - 1))]
        a = arrays[name[:-4]]
        header = npy.header_data_from_array_1_0(a)
        op = draw(st.sampled_from(("shape", "shape", "dtype", "fortran", "version", "length",
                                   "v2", "truncate")))
        version = 1
        if op == "shape":
            header["shape"] = draw(st.sampled_from(
                _HEADER_SHAPES + [a.shape[::-1], (a.size + 1,), (a.size * 1000,)]))
        elif op == "dtype":
            header["descr"] = draw(st.sampled_from(_HEADER_DESCRS))
        elif op == "fortran":
            header["fortran_order"] = draw(st.sampled_from((True, 1, "yes", None)))
        elif op == "v2":
            version = 2
            header["shape"] = draw(st.sampled_from(((10**12,), a.shape)))
        try:
            data = _npy_member(a, header, version)
        except (ValueError, TypeError):  # numpy refuses to write it: write it by hand
            text = repr(header).encode("latin1", "replace")
            data = npy.MAGIC_PREFIX + b"\x01\x00" + len(text).to_bytes(2, "little") + text
        data = bytearray(data)
        if op == "version":
            data[6] = draw(st.sampled_from((0, 3, 9, 255)))
        elif op == "length":  # the little-endian HEADER_LEN after the magic
            n = draw(st.sampled_from((0, 1, 10, 0xFFFF, int.from_bytes(data[8:10], "little") - 5,
                                      int.from_bytes(data[8:10], "little") + 7)))
            data[8:10] = max(0, min(n, 0xFFFF)).to_bytes(2, "little")
        elif op == "truncate":
            data = data[:draw(st.integers(0, min(len(data), 200)))]
        members[name] = bytes(data)
    buf = io.BytesIO()
    compression = draw(st.sampled_from((zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)))
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name in names:
            z.writestr(name, members[name])
    return buf.getvalue()


def _npz_cases(ctx: Context) -> st.SearchStrategy[bytes]:
    return st.one_of(_mutated_arrays(ctx.extra["arrays"], ctx.extra["desc"]),
                     _mutated_arrays(ctx.extra["arrays"], ctx.extra["desc"]),
                     _mutated_headers(ctx.extra["arrays"]),
                     _mutated_headers(ctx.extra["arrays"]),
                     byte_mutation(ctx.extra["raw"]), st.just(ctx.extra["raw"]))


def _load_weights(ctx: Context) -> None:
    from edge.train.checkpoint import load_model, read_description

    read_description(ctx.path)
    load_model(ctx.path)


# ---- .pt checkpoints (torch.load(weights_only=True): foreign pickles never run)


class Touch:
    """Unpickling this creates ``path``: the sentinel of a pickle that ran code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def _prepare_pt(work: Path) -> Context:
    from edge.train.checkpoint import save_checkpoint

    desc, model = _toy_model()
    folder = work / "checkpoint"
    folder.mkdir()
    save_checkpoint(folder / "model.pt", model, desc, step=7)
    return Context(work, folder, folder / "model.pt",
                   {"desc": desc.to_dict(), "state": dict(model.state_dict()),
                    "raw": (folder / "model.pt").read_bytes(), "sentinel": work / "PWNED",
                    "scratch": ()})


@st.composite
def _mutated_checkpoint(draw, desc: dict[str, Any], state: dict[str, Any],
                        sentinel: Path) -> bytes:
    import pickle

    import torch

    ckpt: Any = {"description": copy.deepcopy(desc), "model": dict(state), "step": 7}
    op = draw(st.sampled_from(("delete", "description", "model", "tensor", "step", "foreign",
                               "root")))
    if op == "delete":
        del ckpt[sorted(ckpt)[draw(st.integers(0, len(ckpt) - 1))]]
    elif op == "description":
        ckpt["description"] = draw(st.one_of(mutated_doc(desc), json_values()))
    elif op == "model":
        ckpt["model"] = draw(st.one_of(json_values(), st.just([torch.zeros(2)])))
    elif op == "tensor":
        key = sorted(state)[draw(st.integers(0, len(state) - 1))]
        t = state[key]
        bad = [t.reshape(-1), t[None], torch.zeros(0), t.to(torch.int8), t.to(torch.complex64),
               "not a tensor", 3]
        ckpt["model"][key] = bad[draw(st.integers(0, len(bad) - 1))]
    elif op == "step":
        ckpt["step"] = draw(st.one_of(json_values(), st.just(torch.tensor(3))))
    elif op == "foreign":
        foreign = [Touch(sentinel), {"model": Touch(sentinel)}, [1, 2, 3]]
        return pickle.dumps(foreign[draw(st.integers(0, len(foreign) - 1))])
    else:
        roots = [[], torch.zeros(3), "x", None]
        ckpt = roots[draw(st.integers(0, len(roots) - 1))]
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    return buf.getvalue()


def _pt_cases(ctx: Context) -> st.SearchStrategy[bytes]:
    m = _mutated_checkpoint(ctx.extra["desc"], ctx.extra["state"], ctx.extra["sentinel"])
    return st.one_of(m, m, byte_mutation(ctx.extra["raw"]), st.just(ctx.extra["raw"]))


# ---- calibration-set manifests (CalibrationSet.load, then sampling)

def _prepare_calibset(work: Path) -> Context:
    from edge.calibrate.sets import CalibrationSet

    folder = work / "calibration"
    (folder / "images").mkdir(parents=True)
    cset = CalibrationSet(name="people", kind="images", path=str(folder / "images"),
                          count=20, seed=3, frames=[1, 5])
    cset.save(folder / "people.json")
    return Context(work, folder, folder / "people.json",
                   {"seed": json.loads((folder / "people.json").read_text())})


def _load_calibset(ctx: Context) -> None:
    from edge.calibrate.sets import CalibrationSet

    cset = CalibrationSet.load(ctx.path)
    cset.describe()
    cset._sample(64, str(ctx.path))  # never the frames: a path may point at any folder


# ---- COCO instances files (CocoInstances and every annotation decoded)

def _coco_seed() -> dict[str, Any]:
    from edge.data.coco import encode_rle

    m = np.zeros((30, 40), bool)
    m[5:20, 10:30] = True
    rle = encode_rle(m)
    flat = m.flatten(order="F")
    runs, cur, n = [], False, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    return {
        "images": [{"id": 1, "file_name": "a.png", "height": 30, "width": 40},
                   {"id": 2, "file_name": "sub/b.png", "height": 30, "width": 40}],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
             "segmentation": [[10, 5, 30, 5, 30, 20, 10, 20]], "bbox": [10, 5, 20, 15]},
            {"id": 2, "image_id": 1, "category_id": 2, "iscrowd": 0, "segmentation": rle},
            {"id": 3, "image_id": 2, "category_id": 1, "iscrowd": 1,
             "segmentation": {"size": [30, 40], "counts": runs}},
            {"id": 4, "image_id": 2, "category_id": 2, "bbox": [0, 0, 4, 4]}]}


def _prepare_coco(work: Path) -> Context:
    folder = work / "coco"
    folder.mkdir()
    seed = _coco_seed()
    (folder / "annotations.json").write_text(json.dumps(seed))
    return Context(work, folder, folder / "annotations.json", {"seed": seed})


def _load_coco(ctx: Context) -> None:
    from edge.data.coco import CocoInstances

    ds = CocoInstances(ctx.path)
    for i in range(len(ds)):
        ds.annotations(i)
        ds.image_path(i)


def _json_target_cases(ctx: Context) -> st.SearchStrategy[bytes]:
    return json_cases(ctx.extra["seed"])


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("manifest", _prepare_manifest, _json_target_cases, _load_manifest, 700,
           needs=("torch", "onnx")),
    Target("engines", _prepare_engines, _json_target_cases, _load_engines, 700),
    Target("description", _prepare_description, _json_target_cases, _load_description, 1300),
    Target("onnx", _prepare_onnx, _onnx_cases, _load_onnx, 300, needs=("torch", "onnx")),
    Target("npz", _prepare_npz, _npz_cases, _load_weights, 400, needs=("torch",)),
    Target("pt", _prepare_pt, _pt_cases, _load_weights, 350, needs=("torch",)),
    Target("calibset", _prepare_calibset, _json_target_cases, _load_calibset, 700),
    Target("coco", _prepare_coco, _json_target_cases, _load_coco, 700,
           needs=("pycocotools",)),
]}
