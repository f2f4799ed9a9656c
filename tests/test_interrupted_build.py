"""An interrupted ``edge-build export`` / ``calibrate`` / ``engine`` leaves no half-written
artifact listed: each command runs as users type it, in its own process, and is stopped by
SIGKILL, SIGINT or SIGTERM at several points (a file appears in the staging or output
folder; the previous manifest is gone mid-replacement). After every stop:

- the folder's manifest.json / engines.json is absent or lists only complete files whose
  sha256 match (never a ``*.tmp`` or ``.partial`` name);
- SIGINT exits 130 and SIGTERM 143, the last stderr line ``edge-build: interrupted``, no
  traceback;
- ``edge-run --model OUT --demo --frames 1 --headless`` runs, or refuses in one line
  (exit 2);
- the same command run again succeeds (export rebuilds, calibrate resumes from its staging
  folder, engines rebuild), after which no temporary file, staging folder or
  replacement mark is left.

Temporary files (``<name>.tmp``) are allowed while unlisted: export and calibrate write
them only in ``OUT.partial`` (removed or reused by the next run), engines beside their
target (removed by the next build). A ``sitecustomize`` on PYTHONPATH makes every rename
pause (a slow disk), so a signal lands between a finished temporary file and its rename,
the moment that matters."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge import atomic

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "tests" / "fake_site"
SHIM = '''
import os
import time

_delay = float(os.environ.get("EDGE_TEST_SLOW_RENAME", "0") or 0)
if _delay > 0:
    _replace, _rename = os.replace, os.rename

    def _slow_replace(src, dst, *a, **k):
        time.sleep(_delay)
        return _replace(src, dst, *a, **k)

    def _slow_rename(src, dst, *a, **k):
        time.sleep(_delay)
        return _rename(src, dst, *a, **k)

    os.replace, os.rename = _slow_replace, _slow_rename
'''
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}


# ------------------------------------------------------------------ commit_folder itself


def _folder(path: Path, files: dict[str, str], manifest: str = "manifest.json") -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    (path / manifest).write_text(json.dumps(sorted(files)))


def test_commit_folder_renames_into_a_new_place(tmp_path) -> None:
    stage, out = tmp_path / "out.partial", tmp_path / "out"
    assert atomic.staging_folder(out) == stage
    _folder(stage, {"a.onnx": "A"})
    atomic.commit_folder(stage, out, "manifest.json")
    assert sorted(p.name for p in out.iterdir()) == ["a.onnx", "manifest.json"]
    assert not stage.exists()


def test_commit_folder_over_a_previous_one_removes_its_stale_files_and_keeps_others(
        tmp_path) -> None:
    stage, out = tmp_path / "out.partial", tmp_path / "out"
    _folder(out, {"a.onnx": "old A", "b.onnx": "old B"})
    (out / "notes.txt").write_text("mine")
    _folder(stage, {"a.onnx": "new A"})
    atomic.commit_folder(stage, out, "manifest.json", previous={"a.onnx", "b.onnx"})
    assert sorted(p.name for p in out.iterdir()) == ["a.onnx", "manifest.json", "notes.txt"]
    assert (out / "a.onnx").read_text() == "new A" and not stage.exists()
    assert atomic.being_replaced(out) is None


def test_a_commit_cut_short_has_no_manifest_and_the_next_one_finishes(tmp_path,
                                                                      monkeypatch) -> None:
    stage, out = tmp_path / "out.partial", tmp_path / "out"
    _folder(out, {"a.onnx": "old A", "b.onnx": "old B"})
    _folder(stage, {"a.onnx": "new A", "c.onnx": "new C"})
    real, calls = os.replace, []

    def dies_on_the_second_file(src, dst):
        calls.append(Path(dst).name)
        if len(calls) == 3:  # the mark, the first file, then the kill
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", dies_on_the_second_file)
    with pytest.raises(KeyboardInterrupt):
        atomic.commit_folder(stage, out, "manifest.json", previous={"a.onnx", "b.onnx"})
    monkeypatch.setattr(atomic.os, "replace", real)
    assert not (out / "manifest.json").exists()  # never the old one over new files
    assert atomic.being_replaced(out) == {"a.onnx", "b.onnx"}
    _folder(stage, {"a.onnx": "newer A"})
    atomic.commit_folder(stage, out, "manifest.json")  # the next run: b.onnx still stale
    assert sorted(p.name for p in out.iterdir()) == ["a.onnx", "c.onnx", "manifest.json"]
    assert atomic.being_replaced(out) is None


def test_a_crafted_replacing_mark_deletes_only_plain_files_of_the_folder(tmp_path,
                                                                       caplog) -> None:
    """The mark is read back from the folder: a name in it that is not a plain file name
    (``..``, a path), names a subfolder, or is one of edge-seg's own working names is
    skipped with a WARNING, and the commit still completes (before, ``..`` or a subfolder
    raised IsADirectoryError mid-commit and left the mark, so every rerun failed too)."""
    stage, out = tmp_path / "out.partial", tmp_path / "out"
    _folder(out, {"a.onnx": "old A", "b.onnx": "old B", "engines.json": "{}"})
    (out / "sub").mkdir()
    (out / "sub" / "keep.txt").write_text("kept")
    (tmp_path / "x").write_text("outside")
    bad = ["..", ".", "sub", "../x", "/etc/passwd", "engines.json", "b.onnx.tmp", 7]
    (out / atomic.REPLACING).write_text(json.dumps(bad + ["b.onnx"]))
    (out / "b.onnx.tmp").write_text("not ours to delete from a mark")
    _folder(stage, {"a.onnx": "new A"})
    with caplog.at_level("WARNING", logger="edge.atomic"):
        atomic.commit_folder(stage, out, "manifest.json", previous=atomic.being_replaced(out))
    assert sorted(p.name for p in out.iterdir()) == [
        "a.onnx", "b.onnx.tmp", "engines.json", "manifest.json", "sub"]
    assert (out / "sub" / "keep.txt").read_text() == "kept"
    assert (tmp_path / "x").read_text() == "outside" and not stage.exists()
    assert atomic.being_replaced(out) is None
    skipped = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    for name in ("'..'", "'sub'", "'../x'", "'engines.json'", "'b.onnx.tmp'"):
        assert any(name in m and str(out) in m for m in skipped), (name, skipped)


def test_remove_temporaries_touches_only_the_named_kinds(tmp_path) -> None:
    for name in ("x.engine.tmp", "engines.json.tmp", "x.engine", "notes.tmp"):
        (tmp_path / name).write_text("t")
    assert atomic.remove_temporaries(tmp_path, ("*.engine", "engines.json")) == [
        "engines.json.tmp", "x.engine.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.tmp", "x.engine"]


# ------------------------------------------------------------------ the commands


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shim")
    (folder / "sitecustomize.py").write_text(SHIM)
    return folder


def _env(shim: Path, extra: dict[str, str] | None = None, fake_site: bool = False
         ) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("EDGE_FAKE_") and k not in ("PYTHONPATH", "EDGE_TEST_SLOW_RENAME")}
    path = [str(shim), *([str(SITE)] if fake_site else []), str(ROOT)]
    env.update(PYTHONPATH=os.pathsep.join(path), **(extra or {}))
    return env


def _listed_ok(out: Path, manifest: str, key: str) -> list[str]:
    """The names ``manifest`` lists (none without one): each there complete, sha256 equal."""
    path = out / manifest
    if not path.exists():
        return []
    entries = json.loads(path.read_text())[key]
    for e in entries:
        name = e["file"]
        assert not name.endswith((".tmp", ".partial")) and Path(name).name == name, name
        f = out / name
        assert f.is_file(), f"{path} lists {name}, which is missing"
        assert hashlib.sha256(f.read_bytes()).hexdigest() == e["sha256"], \
            f"{path} lists {name} with another sha256"
    return [e["file"] for e in entries]


def _stop(argv: list[str], env: dict[str, str], cwd: Path, when: Callable[[], bool],
          sig: signal.Signals, delay: float) -> subprocess.CompletedProcess:
    """Run ``python3 -m ARGV`` with renames slowed by ``delay`` s; send ``sig`` once
    ``when()`` holds (polled every 5 ms), which must happen before the command ends."""
    proc = subprocess.Popen([sys.executable, "-m", *argv], cwd=cwd, text=True,
                            env={**env, "EDGE_TEST_SLOW_RENAME": str(delay)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not when():
        assert proc.poll() is None, f"ended before the stop point:\n{proc.communicate()}"
        assert time.monotonic() < deadline, "the stop point never came"
        time.sleep(0.005)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT[sig], f"exit {proc.returncode}\n{out}\n{err}"
    if sig != signal.SIGKILL:
        assert err.strip().splitlines()[-1] == "edge-build: interrupted", err
        assert "Traceback" not in err, err
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", *argv], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _edge_run(out: Path, env: dict[str, str], cwd: Path, *more: str) -> int:
    """``edge-run --model OUT --demo --frames 1 --headless``: runs (0) or one line (2)."""
    proc = subprocess.run([sys.executable, "-m", "edge.cli.run", "--model", str(out),
                           "--demo", "--frames", "1", "--headless", *more], cwd=cwd, env=env,
                          text=True, capture_output=True, timeout=120)
    if proc.returncode == 2:
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("edge-run: error: "), proc.stderr
    else:
        assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.returncode


def _clean(out: Path) -> None:
    """After a successful run: nothing temporary left in or beside ``out``."""
    assert not list(out.glob("*.tmp")) and not list(out.glob(".edge-*")), sorted(
        p.name for p in out.iterdir())
    assert not atomic.staging_folder(out).exists()


def _files(folder: Path, pattern: str = "*") -> int:
    return len(list(folder.glob(pattern))) if folder.is_dir() else 0


def _replacing(out: Path) -> Callable[[], bool]:
    """True once a file written after now has landed in ``out``: the move of a finished
    staging folder over the previous contents has begun."""
    start = time.time()

    def begun() -> bool:
        try:
            return any(p.stat().st_mtime > start for p in out.iterdir())
        except FileNotFoundError:  # a file renamed away between listing and stat
            return False

    return begun


@pytest.mark.slow
def test_an_interrupted_export_lists_nothing_half_written_and_the_next_run_succeeds(
        shim, tmp_path) -> None:
    pytest.importorskip("torch")
    env, out = _env(shim), tmp_path / "export"
    stage = atomic.staging_folder(out)
    argv = ["edge.cli.build", "export", "--model", "demo", "--out", str(out), "--no-fp16",
            "--input-size", "96", "96"]

    _stop(argv, env, tmp_path, lambda: _files(stage) >= 1, signal.SIGKILL, 0.3)
    assert not out.exists() and _listed_ok(out, "manifest.json", "files") == []
    assert _edge_run(out, env, tmp_path) == 2

    _stop(argv, env, tmp_path, lambda: _files(stage, "*.onnx") >= 3, signal.SIGINT, 0.3)
    assert not out.exists() and not stage.exists()  # Ctrl-C: the staging folder is removed

    _run(argv, env, tmp_path)  # the killed run's staging folder is removed, not in the way
    first = _listed_ok(out, "manifest.json", "files")
    assert len(first) == 12
    _clean(out)
    assert _edge_run(out, env, tmp_path) == 0

    # a re-export (another opset: other bytes) over the first, stopped mid-replacement
    again = [*argv, "--opset", "16"]
    _stop(again, env, tmp_path, _replacing(out), signal.SIGTERM, 0.3)
    if not _listed_ok(out, "manifest.json", "files"):
        assert atomic.being_replaced(out) == set(first)
    assert _edge_run(out, env, tmp_path) in (0, 2)
    _stop(again, env, tmp_path, lambda: not (out / "manifest.json").exists(), signal.SIGINT,
          0.3)  # ...and again, with the previous manifest surely gone
    assert _listed_ok(out, "manifest.json", "files") == []
    assert atomic.being_replaced(out) == set(first)
    assert _edge_run(out, env, tmp_path) == 2

    _run(again, env, tmp_path)
    assert sorted(_listed_ok(out, "manifest.json", "files")) == sorted(first)
    _clean(out)
    assert _edge_run(out, env, tmp_path) == 0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("torch")
    pytest.importorskip("cv2")
    pytest.importorskip("pycocotools")
    from edge.data.synth import write_dataset
    from tests.conftest import export_tiny_instance_model

    root = tmp_path_factory.mktemp("tiny")
    write_dataset(str(root / "calib"), 20, (64, 64), seed=4, workers=1, progress=False)
    return {"export": export_tiny_instance_model(root / "export"),
            "images": root / "calib" / "images"}


@pytest.mark.slow
def test_an_interrupted_calibration_lists_nothing_half_written_and_resumes(
        shim, tiny, tmp_path) -> None:
    env, out = _env(shim), tmp_path / "int8"
    stage = atomic.staging_folder(out)
    argv = ["edge.cli.build", "calibrate", "--export", str(tiny["export"]), "--set",
            str(tiny["images"]), "--out", str(out), "--count", "16", "--no-remedies"]

    _stop(argv, env, tmp_path, lambda: _files(stage) >= 2, signal.SIGKILL, 0.2)
    assert not out.exists()
    assert _edge_run(out, env, tmp_path) == 2

    _stop(argv, env, tmp_path, lambda: _files(stage, "*.int8.onnx") >= 2, signal.SIGINT, 0.2)
    assert not out.exists() and stage.is_dir()  # kept: its ranges resume the next run

    _run(argv, env, tmp_path)
    listed = _listed_ok(out, "manifest.json", "files")
    assert any(n.endswith(".int8.onnx") for n in listed)
    _clean(out)
    assert _edge_run(out, env, tmp_path, "--precision", "int8") == 0

    # calibrated again (another seed: other ranges) over the first, stopped mid-replacement
    again = [*argv, "--seed", "1"]
    _stop(again, env, tmp_path, _replacing(out), signal.SIGTERM, 0.2)
    _listed_ok(out, "manifest.json", "files")
    assert _edge_run(out, env, tmp_path, "--precision", "int8") in (0, 2)

    _run(again, env, tmp_path)
    assert sorted(_listed_ok(out, "manifest.json", "files")) == sorted(listed)
    _clean(out)
    assert _edge_run(out, env, tmp_path, "--precision", "int8") == 0


@pytest.mark.slow
def test_an_interrupted_engine_build_lists_nothing_half_written_and_rebuilds(
        shim, tmp_path) -> None:
    from tests.fake_device import build_emulator

    build_emulator(tmp_path)  # skips without a g++ that has _Float16
    env = _env(shim, {"EDGE_FAKE_EMULATOR": str(tmp_path / "emu_device.so"),
                      "EDGE_SEG_HOME": str(tmp_path / "home"),
                      "XDG_CACHE_HOME": str(tmp_path / "cache")}, fake_site=True)
    out = tmp_path / "engines"
    demo = ROOT / "edge" / "demo" / "export"

    def build(precision: str) -> list[str]:
        return ["edge.cli.build", "engine", "--export", str(demo), "--precision", precision,
                "--out", str(out)]

    def listed() -> list[str]:
        return _listed_ok(out, "engines.json", "engines")

    _stop(build("fp16"), env, tmp_path, lambda: _files(out, "*.engine*") >= 1,
          signal.SIGKILL, 0.1)
    assert listed() == []
    assert _edge_run(out, env, tmp_path, "--precision", "fp16") == 2

    _stop(build("fp16"), env, tmp_path, lambda: _files(out, "*.engine") >= 4, signal.SIGINT,
          0.1)
    assert listed() == []

    _run(build("fp16"), env, tmp_path)
    fp16 = listed()
    assert len(fp16) == 11
    assert not list(out.glob("*.tmp"))
    assert _edge_run(out, env, tmp_path, "--precision", "fp16") == 0

    # INT8 beside the FP16 engines, stopped half-way: FP16 stays listed and runs
    _stop(build("int8"), env, tmp_path, lambda: _files(out, "*int8*.engine") >= 3,
          signal.SIGTERM, 0.1)
    assert sorted(listed()) == sorted(fp16)
    assert _edge_run(out, env, tmp_path, "--precision", "fp16") == 0

    # the FP16 engines rebuilt under their own names, killed while one waits to be renamed
    _stop(build("fp16"), env, tmp_path, lambda: _files(out, "*.engine.tmp") >= 1,
          signal.SIGKILL, 0.1)
    assert set(listed()) <= set(fp16)
    assert _edge_run(out, env, tmp_path, "--precision", "fp16") in (0, 2)

    _run(build("int8"), env, tmp_path)
    _run(build("fp16"), env, tmp_path)
    assert len(listed()) == 22 and not list(out.glob("*.tmp"))
    assert _edge_run(out, env, tmp_path, "--precision", "int8") == 0
