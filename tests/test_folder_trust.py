"""An untrusted folder cannot reach outside itself.

Every file an export's ``manifest.json`` or an engine folder's ``engines.json`` names must be
a plain file inside that folder (:func:`edge.untrusted.plain_name` and
:func:`~edge.untrusted.folder_file`, the one rule every reader uses): a name with
``..``, an absolute path, a link to a file outside, a folder or a pipe is refused in one line
naming the manifest or the file, and nothing outside the folder is read, hashed or written.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from edge.engines.identity import DeviceInfo
from edge.errors import DatasetError, EdgeError, ModelFileError
from edge.export.onnx_export import check_export_folder, copy_export, read_manifest
from edge.untrusted import folder_target
from edge.runtime.model import DEMO_EXPORT

ORIN = DeviceInfo("10.3.0.30", "Orin", "8.7", "R36.4.3")
SECRET = b"outside the folder: never read, hashed or written\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _one_line_naming(err: EdgeError, *names: str) -> str:
    msg = str(err)
    assert "\n" not in msg and any(n in msg for n in names), msg
    return msg


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file beside the folder under test, and a pipe: reading the pipe would block."""
    secret = tmp_path / "x"
    secret.write_bytes(SECRET)
    os.mkfifo(tmp_path / "pipe")
    return secret


# the ways a listed name can point away from a plain file in its folder; each makes the
# entry (name, what to create in the folder under that name, if anything)
def _cases(outside: Path) -> dict[str, tuple[str, object]]:
    return {
        "dotdot": ("../x", None),
        "absolute": (str(outside), None),
        "nested-dotdot": ("a/../../x", None),
        "backslash": ("..\\x", None),
        "drive": ("C:\\x", None),
        "nul": ("x\x00y", None),
        "not-a-string": (7, None),
        "link-out": ("graph.onnx", ("link", outside)),
        "link-to-pipe": ("graph.onnx", ("link", outside.parent / "pipe")),
        "folder": ("graph.onnx", ("dir", None)),
        "pipe": ("graph.onnx", ("fifo", None)),
    }


CASES = ["dotdot", "absolute", "nested-dotdot", "backslash", "drive", "nul", "not-a-string",
         "link-out", "link-to-pipe", "folder", "pipe"]


def _make(folder: Path, name, what) -> None:
    if what is None:
        return
    kind, target = what
    if kind == "link":
        (folder / name).symlink_to(target)
    elif kind == "dir":
        (folder / name).mkdir()
    else:
        os.mkfifo(folder / name)


def _export(folder: Path, name, what) -> Path:
    """An export folder whose manifest lists ``name`` (plus one honest graph)."""
    folder.mkdir()
    manifest = json.loads((DEMO_EXPORT / "manifest.json").read_text())
    honest = b"an honest graph"
    (folder / "detector.onnx").write_bytes(honest)
    entry = {**manifest["files"][0], "file": "detector.onnx", "sha256": _sha(honest)}
    manifest["files"] = [entry, {**entry, "file": name, "sha256": _sha(SECRET)}]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _make(folder, name, what)
    return folder


@pytest.mark.parametrize("case", CASES)
def test_an_export_manifest_cannot_name_a_file_outside(tmp_path, outside, case) -> None:
    name, what = _cases(outside)[case]
    folder = _export(tmp_path / "export", name, what)
    manifest = str(folder / "manifest.json")
    dst = tmp_path / "dst"
    calls = [lambda: read_manifest(folder), lambda: copy_export(folder, dst, lambda e: True)]
    if what is None:  # a bad name is refused before any file is looked at
        calls += [lambda: read_manifest(folder, verify=False),
                  lambda: check_export_folder(folder)]
    for call in calls:
        with pytest.raises(EdgeError) as err:
            call()
        _one_line_naming(err.value, manifest, str(folder / "graph.onnx"))
    assert outside.read_bytes() == SECRET
    assert not dst.exists()  # copy_export refused before writing anything
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "pipe", "x"]


def test_copy_export_never_writes_through_a_link_in_its_destination(tmp_path, outside) -> None:
    folder = _export(tmp_path / "export", "branch.onnx", None)
    (folder / "branch.onnx").write_bytes(SECRET)  # an honest second graph this time
    read_manifest(folder)
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "branch.onnx").symlink_to(outside)
    with pytest.raises(ModelFileError) as err:
        copy_export(folder, dst, lambda e: True)
    _one_line_naming(err.value, str(dst / "branch.onnx"))
    assert outside.read_bytes() == SECRET and not (dst / "detector.onnx").exists()
    (dst / "branch.onnx").unlink()
    copy_export(folder, dst, lambda e: True)  # and without the link it copies
    assert read_manifest(dst)["files"][1]["file"] == "branch.onnx"
    with pytest.raises(ModelFileError):
        folder_target(dst, "../x", dst / "manifest.json", "fix")


def _engine_folder(root: Path, name, what) -> Path:
    """An engine folder (with a store record) whose engines.json lists ``name``."""
    from dataclasses import asdict

    from edge import catalog
    from edge.engines.folder import write_engine_folder
    from edge.fleet import store

    desc = catalog.describe("mobilenet-fcn8", alpha=0.25, input_size=(64, 128))
    folder = root / "entry"
    folder.mkdir(parents=True)
    (folder / "model.fp16.engine").write_bytes(b"engine")
    write_engine_folder(folder, desc, {"path": "/ex"}, ORIN,
                        [{"file": "model.fp16.engine", "role": "model", "branch": None,
                          "precision": "fp16"}])
    data = json.loads((folder / "engines.json").read_text())
    data["engines"][0] = {**data["engines"][0], "file": name, "sha256": _sha(SECRET)}
    (folder / "engines.json").write_text(json.dumps(data))
    _make(folder, name, what)
    store.write_record(folder, {"device": asdict(ORIN), "precisions": ["fp16"],
                                "export_manifest_sha256": "a" * 64, "build_args": [],
                                "selftest": "PASS"})
    return folder


@pytest.mark.parametrize("case", CASES)
def test_an_engine_folder_cannot_name_a_file_outside(tmp_path, outside, case) -> None:
    from edge.engines.builder import current_folder
    from edge.engines.folder import load_engine_folder, read_engine_folder
    from edge.untrusted import folder_file
    from edge.fleet import store
    from edge.runtime.model import _check_engine_gate

    name, what = _cases(outside)[case]
    folder = _engine_folder(tmp_path / "store", name, what)
    listed = str(folder / "engines.json")
    with pytest.raises(EdgeError) as err:  # what the TensorRT backend and edge-run read
        read_engine_folder(folder, "fp16", ORIN)
    _one_line_naming(err.value, listed, str(folder / "graph.onnx"))
    # the builder's and the store's reuse checks: not current (rebuilt), never read
    assert current_folder(tmp_path, folder, "fp16", ORIN) is None
    assert store.current_entry(tmp_path / "store", "entry", "a" * 64, ["fp16"], ORIN, [],
                               False) is None
    if what is None:  # the fleet's fetch and the runtime's INT8 gate read engines.json whole
        for call in (lambda: load_engine_folder(folder / "engines.json"),
                     lambda: _check_engine_gate(folder, False)):
            with pytest.raises(ModelFileError) as err:
                call()
            _one_line_naming(err.value, listed)
    else:  # the fetch then checks each file it hashes
        with pytest.raises(ModelFileError) as err:
            folder_file(folder, name, folder / "engines.json", "run again")
        _one_line_naming(err.value, str(folder / name))
    assert outside.read_bytes() == SECRET


def test_a_link_inside_the_folder_is_fine(tmp_path) -> None:
    folder = _export(tmp_path / "export", "graph.onnx", None)
    (folder / "real.bin").write_bytes(SECRET)
    (folder / "graph.onnx").symlink_to("real.bin")
    assert len(read_manifest(folder)["files"]) == 2


def test_a_manifest_listing_a_file_twice_is_refused(tmp_path) -> None:
    folder = _export(tmp_path / "export", "detector.onnx", None)
    with pytest.raises(ModelFileError, match="lists 'detector.onnx' twice"):
        read_manifest(folder)


@pytest.mark.parametrize("name", ["../x.png", "/etc/passwd", "a/../../x.png", "C:x.png",
                                  "a\\b.png", "", 3])
def test_a_coco_file_cannot_name_an_image_outside_its_folder(tmp_path, name) -> None:
    pytest.importorskip("pycocotools")
    from edge.data.coco import CocoInstances

    coco = {"images": [{"id": 1, "file_name": name, "height": 4, "width": 4}],
            "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(coco))
    with pytest.raises(DatasetError) as err:
        CocoInstances(path)
    _one_line_naming(err.value, str(path))


# --------------------------------------------------------------------------- the CLIs


def test_edge_run_refuses_a_model_folder_reaching_outside(tmp_path, outside, capsys) -> None:
    from edge.cli.run import main

    folder = _export(tmp_path / "export", "../x", None)
    assert main(["--model", str(folder), "--demo", "--frames", "1", "--headless"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(folder / "manifest.json") in err[0] and "'../x'" in err[0]


@pytest.mark.parametrize("content", [b"garbage", b"", b"PK\x03\x04 truncated zip"])
def test_edge_build_export_refuses_a_bad_weights_file(tmp_path, content, capsys) -> None:
    from edge.cli.build import main

    bad = tmp_path / "model.npz"
    bad.write_bytes(content)
    assert main(["export", "--model", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]
    assert not (tmp_path / "out").exists()


def test_edge_build_export_never_unpickles_a_foreign_checkpoint(tmp_path, capsys) -> None:
    pytest.importorskip("torch")
    import pickle

    from edge.cli.build import main
    from tests.fuzz_targets import Touch

    bad = tmp_path / "model.pt"
    bad.write_bytes(pickle.dumps({"model": Touch(tmp_path / "PWNED")}))
    assert main(["export", "--model", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]
    assert not (tmp_path / "PWNED").exists()


# edge-seg's own working names: a manifest that lists one would have a reader hash, copy or
# delete a file edge-seg itself writes there (copy_file writes X.tmp as its temporary and
# remove_temporaries deletes X.tmp; the manifests and the staging folder are ours)
OWN_NAMES = ["manifest.json", "engines.json", "detector.onnx.tmp", "model.fp16.engine.tmp",
             "Detector.ONNX.TMP", "out.partial", "MANIFEST.JSON", ".edge-replacing"]


@pytest.mark.parametrize("name", OWN_NAMES)
def test_a_manifest_cannot_list_one_of_edge_segs_own_working_names(tmp_path, name) -> None:
    folder = _export(tmp_path / "export", name, None)
    if name not in (".edge-replacing", "manifest.json"):
        (folder / name).write_bytes(SECRET)  # there, and matching its sha256
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    manifest = str(folder / "manifest.json")
    for call in (lambda: read_manifest(folder, verify=False), lambda: read_manifest(folder),
                 lambda: check_export_folder(folder),
                 lambda: copy_export(folder, tmp_path / "dst", lambda e: True)):
        with pytest.raises(ModelFileError) as err:
            call()
        msg = _one_line_naming(err.value, manifest)
        assert repr(name) in msg and "refusing it" in msg, msg
    if name != ".edge-replacing":  # the reason is said, not just "not plain"
        assert "edge-seg's own" in str(err.value), err.value
    assert not (tmp_path / "dst").exists()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_an_engine_folder_cannot_list_a_temporary_name(tmp_path) -> None:
    from edge.engines.folder import read_engine_folder
    from edge.fleet import store

    folder = _engine_folder(tmp_path / "store", "model.fp16.engine.tmp", None)
    (folder / "model.fp16.engine.tmp").write_bytes(SECRET)
    with pytest.raises(ModelFileError, match=r"'model.fp16.engine.tmp'.*edge-seg's own"):
        read_engine_folder(folder, "fp16", ORIN)
    assert store.current_entry(tmp_path / "store", "entry", "a" * 64, ["fp16"], ORIN, [],
                               False) is None


def test_the_one_name_rule_still_passes_what_edge_seg_lists_and_archives() -> None:
    from edge.untrusted import is_plain_name, own_name, plain_name

    for name in ("detector.onnx", "branch0.int8.onnx", "model.fp16.engine",
                 "model.fp16.engine.json", "timing.cache", "detector.onnx.tmp.onnx"):
        assert plain_name(name, "m.json", "fix") == name and own_name(name) is None
    # an archive of a folder carries its manifest: the character rule alone passes it
    assert is_plain_name("engines.json") and is_plain_name("manifest.json")
    assert not is_plain_name("..") and not is_plain_name(".edge-replacing")


def test_an_unreadable_engine_file_makes_the_store_entry_stale_not_a_crash(
        tmp_path, monkeypatch, caplog) -> None:
    """EACCES on an engine while it is hashed (a file another user's build left; tests run
    as root, so the read itself is made to fail): the entry is rebuilt, said at WARNING."""
    from edge.export import onnx_export
    from edge.fleet import store

    folder = _engine_folder(tmp_path / "store", "model.fp16.engine", None)
    (folder / "model.fp16.engine").write_bytes(SECRET)

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    args = (tmp_path / "store", "entry", "a" * 64, ["fp16"], ORIN, [], False)
    assert store.current_entry(*args) is not None  # readable: current
    monkeypatch.setattr(onnx_export, "sha256_file", denied)
    with caplog.at_level("WARNING", logger="edge.fleet.store"):
        assert store.current_entry(*args) is None
    assert any("model.fp16.engine" in r.getMessage() and "Permission denied" in r.getMessage()
               for r in caplog.records if r.levelname == "WARNING"), caplog.text
