"""The loopback sshd helper: real OpenSSH servers on 127.0.0.1 standing in for devices."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import loopback_ssh
from tests.loopback_ssh import Device, LoopbackSsh, skip_without_sshd

TRT_A, TRT_B = "10.3.0.30", "8.6.1.6"


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[LoopbackSsh]:
    skip_without_sshd()
    with LoopbackSsh(tmp_path) as lb:
        yield lb


@pytest.fixture
def two_devices(loopback: LoopbackSsh) -> tuple[Device, Device]:
    a = loopback.add_device("orin-a", {"EDGE_FAKE_TRT_VERSION": TRT_A})
    b = loopback.add_device("orin-b", {"EDGE_FAKE_TRT_VERSION": TRT_B})
    return a, b


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for PID 1 to reap it does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] not in ("Z", "X")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_each_device_sees_its_own_environment(loopback, two_devices):
    a, b = two_devices
    assert a.port != b.port
    assert a.home != b.home and a.env["EDGE_SEG_HOME"] == str(a.home) and a.home.is_dir()
    for dev, trt in ((a, TRT_A), (b, TRT_B)):
        r = loopback.ssh(dev.alias, "echo $EDGE_FAKE_TRT_VERSION $EDGE_SEG_HOME", timeout=20)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [trt, str(dev.home)]


def test_session_python_is_the_test_interpreter(loopback, two_devices):
    a, _ = two_devices
    r = loopback.ssh(a.alias, "command -v python3", timeout=20)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).parent == Path(sys.executable).parent
    r = loopback.ssh(a.alias, 'python3 -c "import edge, sys; print(sys.executable)"',
                     timeout=30)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).parent == Path(sys.executable).parent


def test_plain_ssh_with_the_config_file(loopback, two_devices):
    """What code under test does: its own ``ssh -F CONFIG ALIAS CMD``."""
    r = subprocess.run(["ssh", "-F", str(loopback.ssh_config), "orin-b",
                        "echo $EDGE_FAKE_TRT_VERSION"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=20)
    assert (r.returncode, r.stdout.strip()) == (0, TRT_B), r.stderr
    text = loopback.ssh_config.read_text()
    assert text.count("HostName 127.0.0.1") == 3  # two devices and the catch-all
    assert "StrictHostKeyChecking yes" in text and "BatchMode yes" in text


def test_awkward_values_survive_quoting(loopback):
    odd = "two words \"quoted\" 'single' back\\slash #hash $DOLLAR %u"
    dev = loopback.add_device("odd", {"EDGE_ODD": odd, "PATH": "/usr/bin:/bin"})
    r = loopback.ssh(dev.alias, "printf '%s\\n' \"$EDGE_ODD\" \"$PATH\"", timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [odd, "/usr/bin:/bin"]
    with pytest.raises(ValueError):
        loopback.add_device("bad", {"EDGE_X": "a\nb"})
    with pytest.raises(ValueError):
        loopback.add_device("bad", {"NOT-A-NAME": "x"})


def test_unknown_client_key_is_refused(loopback, two_devices, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True, capture_output=True)
    cfg = tmp_path / "other_ssh_config"
    cfg.write_text(loopback.ssh_config.read_text().replace(
        str(loopback.client_key), str(other)))
    t0 = time.monotonic()
    r = subprocess.run(["ssh", "-F", str(cfg), "orin-a", "true"], capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=15)
    assert r.returncode == 255
    assert "Permission denied" in r.stderr
    assert "password" not in r.stderr.lower().replace("permission denied", "")
    assert time.monotonic() - t0 < 10


def test_host_key_mismatch_is_refused(loopback, two_devices, tmp_path):
    a, b = two_devices
    wrong = tmp_path / "wrong_host"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)],
                   check=True, capture_output=True)
    kind, blob = wrong.with_suffix(".pub").read_text().split()[:2]
    lines = loopback.known_hosts.read_text().splitlines()
    lines = [f"[127.0.0.1]:{a.port} {kind} {blob}" if ln.startswith(f"[127.0.0.1]:{a.port} ")
             else ln for ln in lines]
    loopback.known_hosts.write_text("\n".join(lines) + "\n")
    r = loopback.ssh(a.alias, "true", timeout=15)
    assert r.returncode == 255
    assert ("REMOTE HOST IDENTIFICATION HAS CHANGED" in r.stderr
            or "Host key verification failed" in r.stderr), r.stderr
    assert loopback.ssh(b.alias, "true", timeout=15).returncode == 0


def test_stopped_device_fails_fast(loopback, two_devices):
    a, b = two_devices
    loopback.stop_device(a.alias)
    assert loopback.pid(a.alias) is None
    t0 = time.monotonic()
    r = loopback.ssh(a.alias, "true", timeout=15)
    assert r.returncode == 255 and "refused" in r.stderr.lower(), r.stderr
    assert time.monotonic() - t0 < 5
    assert loopback.ssh(b.alias, "true", timeout=15).returncode == 0
    loopback.stop_device(a.alias)  # again: nothing to do


def test_close_leaves_no_sshd_running(tmp_path):
    skip_without_sshd()
    lb = LoopbackSsh(tmp_path)
    for alias in ("orin-a", "orin-b"):
        lb.add_device(alias)
    pids = [lb.pid("orin-a"), lb.pid("orin-b")]
    assert all(pids) and all(_alive(p) for p in pids)
    pidfile = tmp_path / "orin-a-sshd.pid"
    assert int(pidfile.read_text()) == pids[0]
    # An open session: its per-connection sshd must go too.
    sess = subprocess.Popen(["ssh", "-F", str(lb.ssh_config), "orin-a", "sleep 30"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        kids: list[int] = []
        while time.monotonic() < deadline:  # until the remote "sleep 30" runs
            kids = loopback_ssh._descendants(pids[0])
            if any(_cmdline(k).startswith(b"sleep") for k in kids):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the remote sleep never started: {kids}")
        lb.close()
        lb.close()  # idempotent
        assert not any(_alive(p) for p in pids)
        deadline = time.monotonic() + 5
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(k) for k in kids)
        assert sess.wait(timeout=10) != 0
    finally:
        sess.kill()
        sess.wait()
        lb.close()


def test_port_race_is_retried(loopback, monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    real = loopback_ssh._free_port
    ports = iter([busy, busy])
    monkeypatch.setattr(loopback_ssh, "_free_port", lambda: next(ports, None) or real())
    try:
        dev = loopback.add_device("raced")
    finally:
        taken.close()
    assert dev.port != busy
    assert loopback.ssh("raced", "true", timeout=15).returncode == 0


def test_sshd_that_dies_raises_with_its_log(loopback, monkeypatch):
    real = LoopbackSsh._sshd_config
    monkeypatch.setattr(LoopbackSsh, "_sshd_config",
                        lambda self, *a: real(self, *a) + "NoSuchOption yes\n")
    with pytest.raises(RuntimeError, match="NoSuchOption"):
        loopback.add_device("broken")
    assert "broken" not in loopback.devices
    assert "Host broken" not in loopback.ssh_config.read_text()


def test_skip_names_the_fix(monkeypatch):
    monkeypatch.setattr(loopback_ssh, "sshd_path", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="apt-get install openssh-server"):
        skip_without_sshd()
