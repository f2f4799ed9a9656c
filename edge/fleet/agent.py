"""The device side of ``edge-build engine --device``: ``python3 -m edge.fleet.agent CMD``.

The workstation runs these over SSH; each prints JSON (or a tar stream) on stdout and logs
on stderr, which the workstation streams back line by line. Every path is under
:func:`edge.fleet.install.edge_home` and every name from the workstation is checked against
one pattern, so nothing it sends lands outside that folder; received archives hold only
regular files with plain names (no links, no ``..``, no absolute paths, at most one folder
deep), each written beside its target and renamed into place.

Commands::

    probe                  edge-seg, Python, TensorRT, GPU and board facts, identity key
    have ID [--builds]     sha256 of each file already in uploads/ID (builds/ID)
    receive ID [--builds]  tar on stdin -> uploads/ID (builds/ID: engines built by another
                           device of the same identity); prints the received files' sha256
    send ID                builds/ID as a tar on stdout (engines, engines.json, self-test)
    install NAME ID        uploads/ID + builds/ID -> models/NAME (atomic, keeps previous)
    rollback NAME          models/NAME <-> models/NAME.previous
    clear-selftest ID      remove builds/ID/selftest (a new self-test's report is its own)
    run MODULE ARGS...     python -m MODULE ARGS (edge.cli.build, edge.cli.bench), stopped
                           when stdin closes: the workstation went away or gave up
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import sys
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

from edge import __version__
from edge.errors import EdgeError, ModelFileError
from edge.fleet import install as inst

log = logging.getLogger("edge.fleet.agent")

PROTOCOL = 1  # bumped when a command's arguments or output change
ID = re.compile(r"^[0-9a-f]{16}$")
MAX_FILE = 4 << 30  # a TensorRT engine of these models is tens of MB; refuse nonsense sizes
MAX_TOTAL = 32 << 30  # one archive
MAX_MEMBERS = 4096
RUNNABLE = ("edge.cli.build", "edge.cli.bench")


def uploads(export_id: str) -> Path:
    return inst.edge_home() / "uploads" / _id(export_id)


def builds(export_id: str) -> Path:
    return inst.edge_home() / "builds" / _id(export_id)


def _id(export_id: str) -> str:
    if not ID.fullmatch(export_id):  # match() would let "...\n" through
        raise ModelFileError(f"export id {export_id!r}: expected 16 hex digits (the manifest's "
                             f"sha256 prefix)")
    return export_id


def probe() -> dict[str, Any]:
    """What the workstation needs before it uploads anything: versions, the GPU and the
    identity the engines will be keyed by; each missing part with its import error."""
    from edge.engines.identity import read_board, read_l4t

    out: dict[str, Any] = {"protocol": PROTOCOL, "edge_version": __version__,
                           "python": platform.python_version(), "executable": sys.executable,
                           "machine": platform.machine(), "home": str(inst.edge_home()),
                           "l4t": read_l4t(), "board": read_board()}
    try:
        import tensorrt as trt

        out["tensorrt"] = str(trt.__version__)
    except Exception as exc:  # noqa: BLE001 - reported, the workstation says how to fix it
        out["tensorrt"] = None
        out["tensorrt_error"] = f"{type(exc).__name__}: {exc}"
        return out
    try:
        from dataclasses import asdict

        from edge.engines.builder import current_device
        from edge.fleet.store import identity_key

        dev = current_device(trt)
        out["device"] = asdict(dev)
        out["identity_key"] = identity_key(dev)
    except Exception as exc:  # noqa: BLE001 - no pycuda, no GPU, driver mismatch
        out["device"] = None
        out["gpu_error"] = f"{type(exc).__name__}: {exc}"
    return out


def have(export_id: str, into_builds: bool = False) -> dict[str, str]:
    from edge.export.onnx_export import sha256_file

    folder = builds(export_id) if into_builds else uploads(export_id)
    if not folder.is_dir():
        return {}
    return {f.name: sha256_file(f) for f in sorted(folder.iterdir())
            if f.is_file() and not f.is_symlink() and not f.name.endswith(".tmp")}


def safe_member(m: tarfile.TarInfo, where: str) -> PurePosixPath:
    """The member's relative path, or a refusal: regular files only, plain names."""
    from edge.untrusted import is_plain_name  # the one file-name rule

    rel = PurePosixPath(m.name)
    if (not m.isreg() or rel.is_absolute() or not 1 <= len(rel.parts) <= 2
            or not all(is_plain_name(p) for p in rel.parts) or m.size > MAX_FILE):
        raise ModelFileError(f"{where}: refusing archive member {m.name!r} (only regular files "
                             f"with plain names, at most one folder deep, under 4 GiB)")
    return rel


def extract(stream, dest: Path, where: str) -> dict[str, str]:
    """Unpack a tar stream into ``dest`` safely (at most MAX_MEMBERS files, MAX_TOTAL
    bytes); returns {relative path: sha256}."""
    import hashlib

    dest.mkdir(parents=True, exist_ok=True)
    got: dict[str, str] = {}
    total = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for m in tar:
            rel = safe_member(m, where)
            total += m.size
            if len(got) >= MAX_MEMBERS or total > MAX_TOTAL:
                raise ModelFileError(f"{where}: archive over {MAX_MEMBERS} files or "
                                     f"{MAX_TOTAL >> 30} GiB; refusing the rest")
            target = dest.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            src = tar.extractfile(m)
            assert src is not None  # a regular file
            h = hashlib.sha256()
            with tmp.open("wb") as fh:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    h.update(chunk)
                    fh.write(chunk)
            os.replace(tmp, target)
            got[str(rel)] = h.hexdigest()
    return got


def receive(export_id: str, into_builds: bool = False) -> dict[str, str]:
    folder = builds(export_id) if into_builds else uploads(export_id)
    return extract(sys.stdin.buffer, folder, str(folder))


def pack(folder: Path, stream, files: list[str] | None = None) -> None:
    """Regular files of ``folder`` (and of its subfolders one deep) as a tar on ``stream``;
    ``files`` limits it to those names."""
    with tarfile.open(fileobj=stream, mode="w|") as tar:
        for f in sorted(folder.rglob("*")):
            rel = f.relative_to(folder)
            if (not f.is_file() or f.is_symlink() or len(rel.parts) > 2 or f.name.endswith(".tmp")
                    or (files is not None and str(rel) not in files)):
                continue
            tar.add(str(f), arcname=str(rel), recursive=False)


def send(export_id: str) -> None:
    folder = builds(export_id)
    if not (folder / "engines.json").is_file():
        raise ModelFileError(f"{folder}: no engines.json; the build did not finish")
    pack(folder, sys.stdout.buffer)
    sys.stdout.buffer.flush()


def read_stdin(n: int) -> bytes:
    """Unbuffered: a daemon thread blocked in ``sys.stdin.buffer.read`` holds its lock and
    makes interpreter shutdown abort ("could not acquire lock ... at interpreter shutdown")."""
    return os.read(0, n)


def run_module(module: str, args: list[str]) -> int:
    """``python -m module args`` with this Python; its output passes through. When stdin
    reaches end of file (the ssh connection closed: Ctrl-C, a timeout or a dropped link on
    the workstation) the command is stopped (SIGTERM, then SIGKILL after 10 s), so no
    orphaned build keeps the GPU's memory."""
    import signal
    import subprocess
    import threading

    if module not in RUNNABLE:
        raise ModelFileError(f"run: {module!r} is not one of {', '.join(RUNNABLE)}")
    child = subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.DEVNULL,
                             start_new_session=True)

    def watch() -> None:
        try:
            while read_stdin(1 << 16):
                pass
        except OSError:
            pass
        if child.poll() is None:
            log.warning("the workstation went away: stopping %s", module)
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()
    rc = child.wait()
    return 128 - rc if rc < 0 else rc  # killed by signal N: 128 + N, as a shell says


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m edge.fleet.agent",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("probe")
    for name in ("have", "receive", "send"):
        sp = sub.add_parser(name)
        sp.add_argument("export_id")
        if name != "send":
            sp.add_argument("--builds", action="store_true")
    p = sub.add_parser("install")
    p.add_argument("name")
    p.add_argument("export_id")
    sub.add_parser("rollback").add_argument("name")
    sub.add_parser("clear-selftest").add_argument("export_id")
    p = sub.add_parser("run")
    p.add_argument("module")
    p.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        if args.cmd == "probe":
            result: Any = probe()
        elif args.cmd == "have":
            result = have(args.export_id, args.builds)
        elif args.cmd == "receive":
            result = receive(args.export_id, args.builds)
        elif args.cmd == "send":
            send(args.export_id)
            return 0
        elif args.cmd == "run":
            return run_module(args.module, args.args)
        elif args.cmd == "clear-selftest":
            import shutil

            shutil.rmtree(builds(args.export_id) / "selftest", ignore_errors=True)
            result = {"cleared": True}
        elif args.cmd == "install":
            result = inst.install(args.name, [uploads(args.export_id), builds(args.export_id)],
                                  args.export_id)
        else:
            result = inst.rollback(args.name)
    except (EdgeError, OSError, tarfile.TarError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
