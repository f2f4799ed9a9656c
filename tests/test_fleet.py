"""The fleet's parts without SSH: identity keys, the engine store, installs and rollback on a
device, the agent's archive checks, destinations and the CLI's refusals. The same flows over
a real SSH server are in tests/test_fleet_loopback.py."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from edge.cli import build as build_cli
from edge.engines.identity import DeviceInfo
from edge.errors import ConfigError, ModelFileError
from edge.fleet import agent, install, store
from edge.fleet.ssh import Ssh, check_destination, remote_command, ssh_failure

AGX = DeviceInfo("10.3.0.30", "Orin", "8.7", "R36.4.3", "NVIDIA Jetson AGX Orin Developer Kit", 16)
NANO = DeviceInfo("10.3.0.30", "Orin", "8.7", "R36.4.3",
                  "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", 8)
CONTAINER = DeviceInfo("10.3.0.30", "Orin", "8.7", None, None, 16)


def test_identity_keys_are_readable_distinct_and_safe() -> None:
    assert store.identity_key(AGX) == "agx-orin-16sms-r36.4.3-trt10.3.0-cc8.7"
    assert store.identity_key(NANO) == "orin-nano-8sms-r36.4.3-trt10.3.0-cc8.7"
    # no board: the SM count tells AGX (16) from Nano (8)
    assert store.identity_key(CONTAINER) == "orin-16sms-trt10.3.0-cc8.7"
    # AGX Orin 32 GB has 14 SMs: engines do not carry over from the 64 GB, nor does the key
    agx32 = DeviceInfo(**{**AGX.__dict__, "sm_count": 14})
    assert store.identity_key(agx32) != store.identity_key(AGX)
    evil = DeviceInfo("10.3/../../x", "../../etc GPU", "8.7")
    key = store.identity_key(evil)
    assert "/" not in key and not key.startswith(".")
    assert store.identity_key(AGX.__dict__) == store.identity_key(AGX)


def make_entry(root: Path, device: DeviceInfo, manifest_sha: str = "a" * 64,
               precisions=("fp16",), build_args=(), selftest="PASS") -> Path:
    from dataclasses import asdict

    from edge.export.onnx_export import sha256_file

    entry = root / store.identity_key(device)
    entry.mkdir(parents=True)
    engines = []
    for p in precisions:
        f = entry / f"detector.{p}.engine"
        f.write_bytes(p.encode() * 10)
        engines.append({"file": f.name, "precision": p, "role": "detector",
                        "sha256": sha256_file(f)})
    (entry / "engines.json").write_text(json.dumps({"engines": engines}))
    store.write_record(entry, {"device": asdict(device), "export_manifest_sha256": manifest_sha,
                               "precisions": list(precisions), "build_args": list(build_args),
                               "selftest": selftest})
    return entry


def test_the_store_knows_what_is_current(tmp_path) -> None:
    root = store.init_store(tmp_path / "store")
    entry = make_entry(root, AGX, precisions=("fp16", "int8"), build_args=["--workspace", "1024"])
    key = entry.name

    def current(sha="a" * 64, precisions=("fp16", "int8"), device=AGX,
                args=("--workspace", "1024"), selftest=True):
        return store.current_entry(root, key, sha, list(precisions), device, list(args),
                                   selftest) is not None

    assert current()
    assert not current(sha="b" * 64)  # another export
    assert not current(precisions=["fp32"])  # not built
    assert not current(args=["--workspace", "1024", "--dla", "0"])  # other builder options
    assert not current(device=DeviceInfo(**{**AGX.__dict__, "sm_count": 14}))
    assert not store.current_entry(root, "orin-nano-8sms-r36.4.3-trt10.3.0-cc8.7", "a" * 64,
                                   ["fp16"], NANO, [], True)
    (entry / "detector.int8.engine").write_bytes(b"truncated")
    assert not current()
    assert current(precisions=["fp16"])
    # built without a self-test: current only for runs that do not ask for one
    store.write_record(entry, {**store.read_record(entry), "selftest": "off"})
    assert not current(precisions=["fp16"]) and current(precisions=["fp16"], selftest=False)
    # an engines.json naming a file outside its folder is never current (nor read)
    folder = json.loads((entry / "engines.json").read_text())
    folder["engines"][0]["file"] = "../../etc/passwd"
    (entry / "engines.json").write_text(json.dumps(folder))
    assert not current(precisions=["fp16"], selftest=False)


def test_a_device_picks_its_own_entry_and_is_told_when_there_is_none(tmp_path) -> None:
    root = store.init_store(tmp_path / "store")
    agx, nano = make_entry(root, AGX), make_entry(root, NANO)
    assert store.pick_entry(root, AGX) == agx
    assert store.pick_entry(root, NANO) == nano
    # in a container (no board, no L4T) the SM count still separates them
    assert store.pick_entry(root, CONTAINER) == agx
    thor = DeviceInfo("10.13.3", "NVIDIA Thor", "11.0", "R38.2.0", "NVIDIA Jetson AGX Thor", 20)
    with pytest.raises(ModelFileError, match="no engines for this device .*identity "
                                             "thor-20sms-r38.2.0-trt10.13.3-cc11.0.*the store has "
                                             "agx-orin.*edge-build engine --export EXPORT "
                                             "--device"):
        store.pick_entry(root, thor)
    upgraded = DeviceInfo("10.7.0", "Orin", "8.7", "R36.4.3", AGX.board, 16)
    with pytest.raises(ModelFileError, match="no engines for this device"):
        store.pick_entry(root, upgraded)


def test_a_store_is_not_made_inside_an_export_or_engine_folder(tmp_path) -> None:
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "manifest.json").write_text("{}")
    with pytest.raises(ModelFileError, match="exp: an engine or export folder, not an engine "
                                             "store"):
        store.init_store(tmp_path / "exp")
    assert store.is_store(store.init_store(tmp_path / "new"))


def test_install_switches_atomically_keeps_the_previous_and_rolls_back(tmp_path,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv("EDGE_SEG_HOME", str(tmp_path / "home"))
    srcs = []
    for v in ("v1", "v2", "v3"):
        up = tmp_path / v
        up.mkdir()
        (up / "manifest.json").write_text(v)
        (up / "timing.cache").write_text("device-local")
        srcs.append(up)
    r1 = install.install("people", [srcs[0]], "1" * 16)
    assert r1["previous"] is None and install.installed("people") == Path(r1["current"])
    assert (install.installed("people") / "manifest.json").read_text() == "v1"
    assert not (install.installed("people") / "timing.cache").exists()
    r2 = install.install("people", [srcs[1]], "2" * 16)
    assert r2["previous"] == r1["current"]
    assert (install.installed("people") / "manifest.json").read_text() == "v2"
    r3 = install.install("people", [srcs[2]], "3" * 16)
    assert not Path(r1["current"]).exists()  # only the current and the previous are kept
    back = install.rollback("people")
    assert back["current"] == r2["current"] and back["previous"] == r3["current"]
    assert (install.installed("people") / "manifest.json").read_text() == "v2"
    assert install.installed_names() == ["people"]
    # a folder the user made there is never overwritten
    (install.models_root() / "mine").mkdir()
    with pytest.raises(ModelFileError, match="mine: a folder not installed by edge-build"):
        install.install("mine", [srcs[0]], "4" * 16)
    with pytest.raises(ModelFileError, match="no previous version of solo"):
        install.install("solo", [srcs[0]], "5" * 16)
        install.rollback("solo")
    for bad in ("../x", "a/b", ".hidden", "", "x.previous"):
        with pytest.raises(ConfigError):
            install.check_name(bad)


def test_edge_run_finds_an_installed_model_by_name(tmp_path, monkeypatch) -> None:
    from edge.runtime.model import DEMO_EXPORT, resolve_model_dir

    monkeypatch.setenv("EDGE_SEG_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    res = install.install("demo-people", [DEMO_EXPORT], "6" * 16)
    assert resolve_model_dir("demo-people") == Path(res["current"])
    with pytest.raises(ModelFileError, match=r"no model 'other' installed in .*installed: "
                                             r"demo-people"):
        resolve_model_dir("other")


def tar_of(members: list[tarfile.TarInfo], data: bytes = b"x") -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for m in members:
            if m.isreg():
                m.size = len(data)
                tar.addfile(m, io.BytesIO(data))
            else:
                tar.addfile(m)
    buf.seek(0)
    return buf


@pytest.mark.parametrize("name, kind", [
    ("../escape.onnx", tarfile.REGTYPE), ("/etc/passwd", tarfile.REGTYPE),
    ("a/b/c.onnx", tarfile.REGTYPE), (".hidden", tarfile.REGTYPE),
    ("link.onnx", tarfile.SYMTYPE), ("hard.onnx", tarfile.LNKTYPE), ("dir", tarfile.DIRTYPE),
    ("dev", tarfile.CHRTYPE)])
def test_the_agent_refuses_archive_members_that_could_reach_outside(tmp_path, name,
                                                                    kind) -> None:
    m = tarfile.TarInfo(name)
    m.type = kind
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        m.linkname = "/etc/passwd"
    with pytest.raises(ModelFileError, match="refusing archive member"):
        agent.extract(tar_of([m]), tmp_path / "dest", "test")
    assert not (tmp_path / "escape.onnx").exists()


def test_the_agent_round_trips_a_folder(tmp_path) -> None:
    src = tmp_path / "src"
    (src / "selftest").mkdir(parents=True)
    (src / "engines.json").write_text("{}")
    (src / "selftest" / "selftest.json").write_text('{"status": "pass"}')
    (src / "half.tmp").write_text("partial")
    buf = io.BytesIO()
    agent.pack(src, buf)
    buf.seek(0)
    got = agent.extract(buf, tmp_path / "dst", "test")
    assert sorted(got) == ["engines.json", "selftest/selftest.json"]
    assert (tmp_path / "dst" / "selftest" / "selftest.json").read_text() == '{"status": "pass"}'


def test_export_ids_are_checked(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EDGE_SEG_HOME", str(tmp_path))
    assert agent.uploads("0123456789abcdef") == tmp_path / "uploads" / "0123456789abcdef"
    for bad in ("../../etc", "0123456789ABCDEF", "short"):
        with pytest.raises(ModelFileError, match="export id"):
            agent.uploads(bad)


@pytest.mark.parametrize("dest", ["-oProxyCommand=touch /tmp/pwned", "user:secret@host",
                                  "host;rm -rf /", "", "a b", "ssh://u:pw@host"])
def test_destinations_that_ssh_would_misread_are_refused(dest) -> None:
    with pytest.raises(ConfigError, match="not an SSH destination"):
        check_destination(dest)


def test_destinations_people_use_are_accepted_and_commands_quoted() -> None:
    for dest in ("orin-a", "ubuntu@192.168.55.1", "nvidia@agx.local", "ssh://ubuntu@10.0.0.7:2222",
                 "root@fe80::1", "ssh://root@[fe80::1]:22"):
        assert check_destination(dest) == dest
    with pytest.raises(ConfigError):  # ssh cannot resolve a bracketed address outside a URI
        check_destination("root@[fe80::1]")
    argv = Ssh("orin-a").argv(["python3", "-m", "x", "a b; rm -rf ~"])
    assert argv[-2:] == ["orin-a", "python3 -m x 'a b; rm -rf ~'"]
    assert "BatchMode=yes" in argv and "--" in argv
    # ~/ of the program is the device user's home: left for the device's shell to expand
    assert remote_command(["~/edge venv/bin/python3", "-c", "~"]) == \
        "~/'edge venv/bin/python3' -c '~'"


def test_a_command_past_its_timeout_is_stopped(monkeypatch) -> None:
    import subprocess
    import time

    monkeypatch.setattr(Ssh, "argv", lambda self, remote: ["sleep", "30"])
    t = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        Ssh("orin-a").run(["python3"], timeout=0.5, hold_stdin=True)
    assert time.monotonic() - t < 5


def test_ssh_failures_say_what_to_do() -> None:
    assert "ssh-copy-id u@h" in ssh_failure("u@h", 255, "u@h: Permission denied (publickey).")
    assert "host key" in ssh_failure("h", 255, "Host key verification failed.")
    assert "reachable" in ssh_failure("h", 255, "ssh: connect to host h port 22: Connection "
                                                "refused")


@pytest.mark.parametrize("extra, message", [
    (["--deploy", "people"], "--deploy is for building on devices: add --device"),
    (["--force"], "--force is for building on devices"),
    (["--device", "orin-a", "--timing-cache", "t.cache"], "--timing-cache names a file on this"),
    (["--device", "orin-a", "--deploy", "../x"], "--deploy '../x'"),
    (["--device=-oProxyCommand=x"], "not an SSH destination"),
    (["--device", "orin-a", "--precision", "fp16,int4"], "--precision takes"),
    (["--device", "orin-a", "--selftest-repeats", "0"], "--selftest-repeats must be at least 1"),
])
def test_edge_build_engine_refuses_device_options_in_one_line(tmp_path, capsys, extra,
                                                             message) -> None:
    rc = build_cli.main(["engine", "--export", str(tmp_path), "--out", str(tmp_path / "s"),
                         *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_a_remote_command_stops_when_the_workstation_goes_away(monkeypatch) -> None:
    """``agent run``: stdin reaching its end (the ssh connection closed) stops the command
    (SIGTERM: exit 143) instead of leaving a build holding the GPU."""
    import threading
    import time

    def closes_soon(n: int) -> bytes:
        time.sleep(0.5)
        return b""

    monkeypatch.setattr(agent, "RUNNABLE", ("timeit",))
    monkeypatch.setattr(agent, "read_stdin", closes_soon)
    t = time.monotonic()
    done: list[int] = []
    th = threading.Thread(target=lambda: done.append(agent.run_module(
        "timeit", ["-n", "1", "-r", "1", "import time; time.sleep(30)"])))
    th.start()
    th.join(timeout=20)
    assert done == [143] and time.monotonic() - t < 15
    with pytest.raises(ModelFileError, match="not one of"):
        agent.run_module("os", [])
