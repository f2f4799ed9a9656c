"""Build engines on devices from the workstation: ``edge-build engine --device USER@HOST``.

For each device, in parallel (one failing device never stops the others):

1. probe it over SSH (:mod:`edge.fleet.agent`): edge-seg, TensorRT and the GPU there, each
   missing one reported with how to install it; the identity the engines are keyed by;
2. skip it when the store already holds current engines for that identity and export
   (``--force`` rebuilds);
3. upload the graphs this device's TensorRT builds from (:func:`edge.engines.versions.plan_build`
   for its release) plus the FP32 graphs the self-test compares against, under a manifest
   listing exactly those, skipping files already there with the same sha256;
4. run ``edge-build engine`` there per precision, its progress streamed back line by line;
5. run ``edge-bench selftest`` there on the engines just built (it reuses them);
6. bring back the engines, ``engines.json`` and the self-test report into ``STORE/<identity>``
   (:mod:`edge.fleet.store`), replaced atomically;
7. with ``--deploy NAME``, install the model folder there (:mod:`edge.fleet.install`) unless
   the self-test failed.

Every result is a row of the summary table (device, identity, per-precision status, build
seconds, self-test); ``--json`` prints the rows.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.description import ModelDescription
from edge.errors import EdgeError, ModelFileError
from edge.fleet import agent, store
from edge.fleet.ssh import Ssh, check_destination, ssh_failure

log = logging.getLogger(__name__)

_print_lock = threading.Lock()


@dataclass
class FleetOptions:
    precisions: list[str]
    store: Path
    ssh_config: Path | None = None
    remote_python: str = "python3"
    force: bool = False
    deploy: str | None = None
    selftest: bool = True
    selftest_repeats: int = 10
    holdout_images: int = 24
    build_args: list[str] = field(default_factory=list)  # passed to the device's edge-build
    timeout_s: float | None = 7200.0  # per remote command (a Nano's INT8 build takes long)


class DeviceFailed(EdgeError):
    """One device could not be probed, uploaded to, built on or fetched from; ``detail`` is
    the device's own last error line, when it gave one."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def say(dest: str, line: str) -> None:
    """A device's line on stderr, prefixed with the device (builds run in parallel); control
    characters (terminal escape sequences from a device) are dropped."""
    line = _CONTROL.sub("", line)
    if not line.strip():
        return
    with _print_lock:
        sys.stderr.write(f"[{dest}] {line}\n")
        sys.stderr.flush()


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "error" in ln.lower():
            return ln
    return lines[-1] if lines else "no message"


class Device:
    """One device's run; every remote command goes through :meth:`call`."""

    def __init__(self, dest: str, opts: FleetOptions) -> None:
        self.dest = dest
        self.opts = opts
        self.ssh = Ssh(dest, opts.ssh_config)
        self.home = ""  # EDGE_SEG_HOME there, from the probe

    def run(self, argv: list[str], what: str, stdin=None, stream: bool = False,
            stdout_to=None, watched: bool = False) -> tuple[int, bytes, str]:
        """(exit code, stdout, stderr) of ``python argv`` there; ``watched`` runs it through
        ``edge.fleet.agent run`` so that it stops when this side goes (Ctrl-C, timeout)."""
        if watched:
            argv = ["-m", "edge.fleet.agent", "run", *argv[1:]]  # argv = ["-m", module, ...]
        try:
            return self.ssh.run([self.opts.remote_python, *argv], stdin=stdin,
                                on_line=(lambda ln: say(self.dest, ln)) if stream else None,
                                timeout=self.opts.timeout_s, stdout_to=stdout_to,
                                hold_stdin=watched)
        except subprocess.TimeoutExpired as exc:
            raise DeviceFailed(f"{self.dest}: {what} ran past --command-timeout "
                               f"{self.opts.timeout_s:g} s; stopped it (raise the timeout for "
                               f"slow boards)") from exc

    def call(self, argv: list[str], what: str, stdin=None, stream: bool = False,
             stdout_to=None, watched: bool = False) -> tuple[bytes, str]:
        rc, out, err = self.run(argv, what, stdin, stream, stdout_to, watched)
        if rc == 255:
            raise DeviceFailed(ssh_failure(self.dest, rc, err))
        py = self.opts.remote_python
        if rc == 127:  # the shell's "command not found"
            raise DeviceFailed(f"{self.dest}: {py} not found there; install Python 3.10+ or pass "
                               f"--remote-python /path/to/venv/bin/python3")
        if rc != 0 and "No module named 'edge" in err:
            raise DeviceFailed(f"{self.dest}: edge-seg is not installed for {py} there; run "
                               f"pip install 'edge-seg[runtime]' on the device (in a venv made "
                               f"with --system-site-packages, to see JetPack's TensorRT), or "
                               f"pass --remote-python /path/to/venv/bin/python3")
        if rc != 0:
            detail = _last_error(err)
            raise DeviceFailed(f"{self.dest}: {what} failed (exit {rc}): {detail}", detail)
        return out, err

    def json_call(self, argv: list[str], what: str, stdin=None) -> Any:
        out, _ = self.call(argv, what, stdin=stdin)
        try:
            return json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError) as exc:
            raise DeviceFailed(f"{self.dest}: {what} answered no JSON ({exc}); is the same "
                               f"edge-seg version installed there?") from exc


def check_probe(dest: str, facts: dict[str, Any]) -> dict[str, Any]:
    """The device dict from a probe, or a refusal saying what is missing and how to get it."""
    if facts.get("protocol") != agent.PROTOCOL:
        raise DeviceFailed(f"{dest}: edge-seg {facts.get('edge_version')} there speaks agent "
                           f"protocol {facts.get('protocol')}, this one {agent.PROTOCOL}; "
                           f"install the same edge-seg version on the device")
    if not facts.get("tensorrt"):
        raise DeviceFailed(f"{dest}: TensorRT is not importable there "
                           f"({facts.get('tensorrt_error')}); it comes with JetPack: sudo apt "
                           f"install nvidia-jetpack (python3-libnvinfer), and a venv needs "
                           f"--system-site-packages to see it")
    if not isinstance(facts.get("device"), dict):
        raise DeviceFailed(f"{dest}: TensorRT {facts['tensorrt']} is there but the GPU could not "
                           f"be queried ({facts.get('gpu_error')}); pip install pycuda there "
                           f"(with CUDA's nvcc on PATH: export PATH=/usr/local/cuda/bin:$PATH)")
    return facts["device"]


def needed_files(export_dir: Path, manifest: dict[str, Any], trt_version: str,
                 precisions: list[str]) -> list[dict[str, Any]]:
    """Manifest entries a TensorRT ``trt_version`` build of ``precisions`` reads, plus the FP32
    graphs (the self-test's reference); refuses, naming the graph, when one is missing."""
    from edge.engines.versions import api_for, plan_build
    from edge.export.onnx_export import graph_specs

    desc = ModelDescription.from_dict(manifest["description"])
    by_name = {f["file"]: f for f in manifest["files"]}
    api = api_for(trt_version)
    want: set[str] = set()
    for spec in graph_specs(desc):
        stem = spec.file[:-len(".onnx")]
        if spec.file in by_name:
            want.add(spec.file)
        for p in precisions:
            plan = plan_build(api, stem, p, set(by_name), export_dir)
            want.add(plan.graph)
            if plan.calibration_cache:
                want.add(plan.calibration_cache)
    return [by_name[n] for n in sorted(want)]


def _tar_stream(items: list[tuple[str, str, Path | bytes]]):
    """A pipe's read end streaming a tar of ``items`` in order (written by a thread, so a
    large graph is never held in memory)."""
    r, w = os.pipe()

    def writer() -> None:
        try:
            with os.fdopen(w, "wb") as fh, tarfile.open(fileobj=fh, mode="w|") as tar:
                for name, _, src in items:
                    if isinstance(src, bytes):
                        info = tarfile.TarInfo(name)
                        info.size, info.mtime = len(src), int(time.time())
                        tar.addfile(info, io.BytesIO(src))
                    else:
                        tar.add(str(src), arcname=name, recursive=False)
        except (BrokenPipeError, OSError):  # the device stopped reading: its exit code says why
            pass

    threading.Thread(target=writer, daemon=True).start()
    return os.fdopen(r, "rb")


def ship(dest: str, export_dir: Path, manifest: dict[str, Any], manifest_sha: str,
         opts: FleetOptions) -> dict[str, Any]:
    """Probe, upload, build, self-test, fetch (and deploy) one device; returns its row."""
    t0 = time.monotonic()
    row: dict[str, Any] = {"device": dest, "identity": None, "status": "failed",
                           "precisions": {p: "not run" for p in opts.precisions},
                           "build_s": 0.0, "selftest": None, "uploaded_files": 0,
                           "uploaded_bytes": 0, "skipped_files": 0, "entry": None,
                           "deployed": None, "error": None}
    try:
        dev = Device(dest, opts)
        facts = dev.json_call(["-m", "edge.fleet.agent", "probe"], "probe")
        device = check_probe(dest, facts)
        dev.home = str(facts["home"])
        key = store.identity_key(device)  # from the facts, never a name the device sends
        row["identity"] = key
        row["edge_version"] = facts.get("edge_version")
        say(dest, f"{key}: TensorRT {device['trt_version']} on {device['gpu_name']} (cc "
                  f"{device['compute_capability']}), edge-seg {facts.get('edge_version')}")
        export_id = manifest_sha[:16]
        entry = opts.store / key
        with store.StoreLock(opts.store, key):  # one build per identity at a time
            _build_unless_current(dev, dest, export_dir, manifest, manifest_sha, export_id,
                                  device, entry, opts, row)
        if opts.deploy and row["status"] in ("ok", "current"):
            if row["status"] == "current":  # perhaps built by another device of its kind
                _upload(dev, export_dir, manifest, export_id, device["trt_version"], opts, row)
                _push_engines(dev, export_id, entry)
            row["deployed"] = dev.json_call(["-m", "edge.fleet.agent", "install", opts.deploy,
                                             export_id], "deploy")
            say(dest, f"deployed {opts.deploy} -> {row['deployed']['current']} (previous: "
                      f"{row['deployed']['previous']})")
        elif opts.deploy:
            say(dest, f"not deploying {opts.deploy}: {row['error']}")
    except DeviceFailed as exc:
        row["error"] = str(exc)
    except EdgeError as exc:
        row["error"] = f"{dest}: {exc}"
    except Exception as exc:  # noqa: BLE001 - one device's bug must not stop the others
        log.warning("device %s: unexpected %s (a bug: please report it)", dest,
                    type(exc).__name__, exc_info=True)
        row["error"] = f"{dest}: {type(exc).__name__}: {exc}"
    row.pop("build_errors", None)
    if row["error"]:
        row["status"] = "failed"
        say(dest, f"FAILED: {row['error'].removeprefix(dest + ': ')}")
    row["total_s"] = round(time.monotonic() - t0, 1)
    return row


def _build_unless_current(dev: Device, dest: str, export_dir: Path, manifest: dict[str, Any],
                          manifest_sha: str, export_id: str, device: dict[str, Any],
                          entry: Path, opts: FleetOptions, row: dict[str, Any]) -> None:
    """Skip (status ``current``) when the store has this identity's engines for the export;
    else upload, build, self-test and fetch."""
    from edge.engines.identity import DeviceInfo

    rec = None if opts.force else store.current_entry(
        opts.store, entry.name, manifest_sha, opts.precisions, DeviceInfo(**device),
        opts.build_args, opts.selftest)
    if rec is not None:
        say(dest, f"{entry}: current engines for this export ({', '.join(opts.precisions)});"
                  f" skipping the build (--force rebuilds)")
        row.update(status="current", entry=str(entry), selftest=rec.get("selftest"),
                   precisions={p: "current" for p in opts.precisions})
    else:
        _upload(dev, export_dir, manifest, export_id, device["trt_version"], opts, row)
        _build(dev, export_id, opts, row)
        if not any(v == "built" for v in row["precisions"].values()):
            raise DeviceFailed(build_failures(dest, row.pop("build_errors")))
        if opts.selftest and any(v == "built" for v in row["precisions"].values()):
            _selftest(dev, export_id, opts, row)
        _fetch(dev, export_id, entry, device, manifest_sha, export_dir, opts, row)
        if row["status"] != "ok":
            failed = [p for p, v in row["precisions"].items() if v != "built"]
            if failed:
                row["error"] = build_failures(dest, row.pop("build_errors"))
            else:
                kept = "its previous entry" if entry.is_dir() else "no entry"
                row["error"] = (f"{dest}: the device self-test {row['selftest']}"
                                f"{row.pop('selftest_error', '')}: see {row['entry']}/selftest/"
                                f"selftest.md (the store keeps {kept} for {entry.name})")


def _send(dev: Device, export_id: str, into: str, items: list[tuple[str, str, Path | bytes]]
          ) -> tuple[int, int, int]:
    """Send ``(name, sha256, file or bytes)`` items the device does not already have with that
    sha256 into its ``uploads/ID`` or ``builds/ID`` (``into``); the last item goes last (the
    manifest: a folder with one is complete). Returns (sent, skipped, bytes sent)."""
    flag = ["--builds"] if into == "builds" else []
    there = dev.json_call(["-m", "edge.fleet.agent", "have", export_id, *flag],
                          f"listing {into}")
    send = [it for it in items if there.get(it[0]) != it[1]]
    size = sum(len(src) if isinstance(src, bytes) else src.stat().st_size
               for _, _, src in send)
    if send:
        got = dev.json_call(["-m", "edge.fleet.agent", "receive", export_id, *flag],
                            f"sending {into}", stdin=_tar_stream(send))
        bad = [name for name, sha, _ in send if got.get(name) != sha]
        if bad:
            raise DeviceFailed(f"{dev.dest}: {', '.join(bad)} arrived corrupted or incomplete; "
                               f"run again")
    return len(send), len(items) - len(send), size


def _upload(dev: Device, export_dir: Path, manifest: dict[str, Any], export_id: str,
            trt_version: str, opts: FleetOptions, row: dict[str, Any]) -> None:
    """The graphs this device's TensorRT builds from, under a manifest listing just them."""
    import hashlib

    files = needed_files(export_dir, manifest, trt_version, opts.precisions)
    sub_bytes = (json.dumps({**manifest, "files": files}, indent=2) + "\n").encode()
    items: list[tuple[str, str, Path | bytes]] = [
        (f["file"], f["sha256"], export_dir / f["file"]) for f in files]
    items.append(("manifest.json", hashlib.sha256(sub_bytes).hexdigest(), sub_bytes))
    sent, skipped, size = _send(dev, export_id, "uploads", items)
    row["uploaded_files"], row["skipped_files"] = sent, skipped
    row["uploaded_bytes"] = size
    say(dev.dest, f"uploaded {sent} of {len(items)} files ({size / 2**20:.1f} MiB; "
                  f"{skipped} already there with the same sha256)")


def _push_engines(dev: Device, export_id: str, entry: Path) -> None:
    """The store entry's engines onto a device of the same identity that did not build them
    (three Orin Nanos: one builds, all three get them), for ``--deploy``."""
    from edge.export.onnx_export import sha256_file

    items: list[tuple[str, str, Path | bytes]] = []
    for f in sorted(entry.iterdir()):
        if f.is_file() and f.name not in (store.ENTRY_RECORD, "engines.json") \
                and not f.name.startswith("timing.cache") and not f.name.endswith(".tmp"):
            items.append((f.name, sha256_file(f), f))
    items.append(("engines.json", sha256_file(entry / "engines.json"), entry / "engines.json"))
    sent, _, size = _send(dev, export_id, "builds", items)
    if sent:
        say(dev.dest, f"sent {sent} engine files from {entry} ({size / 2**20:.1f} MiB)")


def _build(dev: Device, export_id: str, opts: FleetOptions, row: dict[str, Any]) -> None:
    up, bd = dev_paths(dev, export_id)
    for p in opts.precisions:
        say(dev.dest, f"building {p} engines")
        t = time.monotonic()
        try:
            dev.call(["-m", "edge.cli.build", "engine", "--export", up, "--precision", p,
                      "--out", bd, *opts.build_args], f"edge-build engine --precision {p}",
                     stream=True, watched=True)
        except DeviceFailed as exc:
            row["precisions"][p] = "failed"
            row.setdefault("build_errors", {})[p] = (exc.detail or str(exc)).removeprefix(
                "edge-build: error: ")
            continue
        finally:
            row["build_s"] = round(row["build_s"] + time.monotonic() - t, 1)
        row["precisions"][p] = "built"


def build_failures(dest: str, errors: dict[str, str]) -> str:
    """``dest: fp16, int8 build failed: <the device's error>``, one clause per distinct
    error."""
    by_msg: dict[str, list[str]] = {}
    for p, msg in errors.items():
        by_msg.setdefault(msg, []).append(p)
    return f"{dest}: " + "; ".join(f"{', '.join(ps)} build failed: {msg}"
                                   for msg, ps in by_msg.items())


def dev_paths(dev: Device, export_id: str) -> tuple[str, str]:
    """(upload folder, engine folder) on the device, from the home its probe reported."""
    return f"{dev.home}/uploads/{export_id}", f"{dev.home}/builds/{export_id}"


def _selftest(dev: Device, export_id: str, opts: FleetOptions, row: dict[str, Any]) -> None:
    """The device self-test on the engines just built. Its verdict comes from a report it
    wrote in this run (an old one is removed first) and agrees with its exit code: 0 is PASS
    or INCOMPLETE, 2 is FAIL; any other exit (killed for memory, an older edge-seg refusing
    an option) is ERROR."""
    up, bd = dev_paths(dev, export_id)
    built = [p for p, v in row["precisions"].items() if v == "built"]
    say(dev.dest, f"self-test of the {', '.join(built)} engines")
    dev.call(["-m", "edge.fleet.agent", "clear-selftest", export_id], "clearing the self-test")
    rc, _, err = dev.run(["-m", "edge.cli.bench", "selftest", "--export", up, "--engines", bd,
                          "--precision", ",".join(built), "--out", f"{bd}/selftest",
                          "--repeats", str(opts.selftest_repeats), "--holdout-images",
                          str(opts.holdout_images)], "the self-test", stream=True,
                         watched=True)
    if rc == 255:
        raise DeviceFailed(ssh_failure(dev.dest, rc, err))
    row["selftest_exit"] = rc
    if rc not in (0, 2):
        row["selftest_error"] = f" (exit {rc}: {_last_error(err)})"


def _fetch(dev: Device, export_id: str, entry: Path, device: dict[str, Any],
           manifest_sha: str, export_dir: Path, opts: FleetOptions, row: dict[str, Any]
           ) -> None:
    """The device's engine folder into ``entry``: streamed to a file beside it, unpacked
    (plain names only, size-limited), checked (every engine a plain name with the sha256
    engines.json records), then swapped in; a failed swap puts the old entry back."""
    import tempfile

    from edge.engines.folder import ENGINE_MANIFEST, load_engine_folder
    from edge.export.onnx_export import sha256_file
    from edge.untrusted import folder_file

    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tempfile.TemporaryFile(dir=entry.parent) as tar:
            dev.call(["-m", "edge.fleet.agent", "send", export_id], "fetching the engines",
                     stdout_to=tar)
            tar.seek(0)
            agent.extract(tar, tmp, f"engines from {dev.dest}")
        listed_in = tmp / ENGINE_MANIFEST
        again = f"its build on {dev.dest} is unusable; run again"
        folder = load_engine_folder(listed_in, again)  # names, types: checked before use
        for e in folder["engines"]:
            if sha256_file(folder_file(tmp, e["file"], listed_in, again, "engine file")) \
                    != e["sha256"]:
                raise DeviceFailed(f"{dev.dest}: {e['file']} arrived with another sha256 than "
                                   f"engines.json records; run again")
        _selftest_verdict(tmp, opts, row)
        # only a complete build whose self-test did not fail replaces the store's entry; any
        # other goes to STORE/.failed/KEY for inspection and the good entry stays
        good = all(v == "built" for v in row["precisions"].values()) and \
            row["selftest"] not in ("FAIL", "ERROR")
        row["status"] = "ok" if good else "failed"
        where = entry if good else entry.parent / store.FAILED / entry.name
        row["entry"] = str(where)
        store.write_record(tmp, {
            "device": device, "identity_key": entry.name, "destination": dev.dest,
            "export_manifest_sha256": manifest_sha, "export_path": str(export_dir.resolve()),
            "precisions": sorted({e["precision"] for e in folder["engines"]}),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_s": row["build_s"], "build_args": list(opts.build_args),
            "selftest": row["selftest"]})
        where.parent.mkdir(parents=True, exist_ok=True)
        _swap_in(tmp, where)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _selftest_verdict(folder: Path, opts: FleetOptions, row: dict[str, Any]) -> None:
    """``row["selftest"]`` from this run's report and exit code (see :func:`_selftest`)."""
    report = folder / "selftest" / "selftest.json"
    rc = row.get("selftest_exit")
    if rc is None:  # not run in this run: a report there speaks of other engines
        shutil.rmtree(folder / "selftest", ignore_errors=True)
        row["selftest"] = "off" if not opts.selftest else "not run"
        return
    status = None
    if report.is_file():
        try:
            status = str(json.loads(report.read_text()).get("status", "")).upper()
        except (OSError, ValueError):
            status = None
    if rc == 2:
        row["selftest"] = "FAIL"
    elif rc == 0 and status in ("PASS", "INCOMPLETE"):
        row["selftest"] = status
    else:
        row["selftest"] = "ERROR"
        row.setdefault("selftest_error", f" (exit {rc}, report status {status or 'missing'})")


def _swap_in(new: Path, entry: Path) -> None:
    """Replace ``entry`` by the complete folder ``new``: the old one is renamed aside first
    and put back if the second rename fails, then removed."""
    old = entry.with_name(f".{entry.name}.{os.getpid()}.{threading.get_ident()}.old")
    had = entry.exists()
    if had:
        os.replace(entry, old)
    try:
        os.replace(new, entry)
    except BaseException:
        if had:
            os.replace(old, entry)
        raise
    shutil.rmtree(old, ignore_errors=True)


def build_on_devices(export_dir: str | Path, devices: list[str], opts: FleetOptions
                     ) -> list[dict[str, Any]]:
    """Every device in parallel; one row per device, in the order given."""
    from edge.export.onnx_export import MANIFEST, read_manifest, sha256_file

    for d in devices:
        check_destination(d)
    if len(set(devices)) != len(devices):
        raise ModelFileError(f"--device given twice: {', '.join(devices)}")
    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir)  # every file verified before anything is sent
    manifest_sha = sha256_file(export_dir / MANIFEST)
    store.init_store(opts.store)
    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        rows = list(pool.map(lambda d: ship(d, export_dir, manifest, manifest_sha, opts),
                             devices))
    return rows


def summary_table(rows: list[dict[str, Any]], precisions: list[str]) -> str:
    """A plain-text table: device, identity, one column per precision, build s, self-test."""
    head = ["device", "identity", *precisions, "build s", "self-test", "result"]
    body = [[r["device"], r["identity"] or "-", *[r["precisions"].get(p, "-") for p in precisions],
             f"{r['build_s']:.1f}", r["selftest"] or "-", r["status"]] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip()
             for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        if r["error"]:
            lines.append(r["error"])  # each starts with its device
    return "\n".join(lines)


def rollback_on_devices(name: str, devices: list[str], opts: FleetOptions
                        ) -> list[dict[str, Any]]:
    """``models/NAME`` back to its previous version on each device."""
    def one(dest: str) -> dict[str, Any]:
        try:
            res = Device(dest, opts).json_call(["-m", "edge.fleet.agent", "rollback", name],
                                               "rollback")
            return {"device": dest, "status": "ok", **res, "error": None}
        except EdgeError as exc:
            return {"device": dest, "status": "failed", "error": str(exc)}

    for d in devices:
        check_destination(d)
    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        return list(pool.map(one, devices))
