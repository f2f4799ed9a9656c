"""Real OpenSSH servers on 127.0.0.1 that stand in for remote "devices" in tests.

``LoopbackSsh(root)`` generates one client key and, per :meth:`LoopbackSsh.add_device`,
a host key, an ``sshd_config`` and a foreground ``sshd`` listening on its own free port of
127.0.0.1. :attr:`LoopbackSsh.ssh_config` is an ``ssh -F`` file with one ``Host`` block per
device alias (strict host-key checking against a generated known_hosts, batch mode, the
generated client key only), so code under test can run plain ``ssh -F CONFIG ALIAS CMD``.
Each device differs only by the environment its sessions get (``SetEnv``), e.g. a fake
TensorRT version, and by its own home folder.

Session environment, as verified against OpenSSH 9.2 on Debian 12:

* ``SetEnv`` is applied after sshd's own defaults, so it does override ``PATH``. Only the
  first ``SetEnv`` line counts, so every variable goes on one line, each token quoted
  (``\\`` and ``"`` escaped). Values containing a newline, CR or NUL are refused.
* But sshd runs every command through the user's login shell, and Debian's bash sources
  ``~/.bashrc`` for ssh commands (SSH_SOURCE_BASHRC), where a user's pyenv/cargo set-up
  can prepend to PATH again. So each device also gets ``HOME=<device home>`` by default:
  the shell then finds no rc files, the PATH given here is the one commands see, and
  ``~`` on a device is that device's own folder. Give ``HOME`` in ``env`` to undo this.
* Defaults, each overridden by the same name in ``env``: ``EDGE_SEG_HOME`` and ``HOME``
  (``root/<alias>-home``), ``PATH`` (the test interpreter's folder, then /usr/local/bin,
  /usr/bin, /bin, so ``python3`` is ``sys.executable``'s), and ``PYTHONPATH`` (this
  checkout's root, so a device imports the same ``edge`` package as the tests do, even when
  the installed editable copy points elsewhere).

Limits: all devices are the same machine, user and file system; a session's working
directory is still the user's real home (sshd always changes there), so use ``$HOME`` or
``$EDGE_SEG_HOME``. No PAM, no password or keyboard-interactive logins, no forwarding.
Works as root (creates /run/sshd, sshd's privilege-separation folder, if missing) or as
an ordinary user (who can then only log in as themselves, which is all this does). Linux
only (stopping a device also ends its open sessions, found through /proc).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

INSTALL_HINT = "apt-get install openssh-server; tools/setup.sh installs it as root"
REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 10.0
PORT_TRIES = 5
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def sshd_path() -> str | None:
    """Absolute path of the OpenSSH server, or None when it is not installed."""
    if os.access("/usr/sbin/sshd", os.X_OK):
        return "/usr/sbin/sshd"
    found = shutil.which("sshd")
    return os.path.abspath(found) if found else None


def skip_without_sshd() -> None:
    """Skip the calling test when sshd (or the ssh client tools) are missing."""
    if sshd_path() is None:
        pytest.skip(f"needs OpenSSH's sshd: {INSTALL_HINT}")
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs OpenSSH's {tool}: {INSTALL_HINT}")


@dataclass
class Device:
    """One loopback sshd: its ssh_config alias, port, session environment and home."""

    alias: str
    port: int
    env: dict[str, str]
    home: Path


def _quote(text: str) -> str:
    """One double-quoted token for sshd_config/ssh_config (OpenSSH's argv_split rules)."""
    if any(c in text for c in "\n\r\0"):
        raise ValueError(f"newline, CR or NUL cannot go in an OpenSSH config: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid``: connections, their privsep children, sessions."""
    parents = _parents()
    found: list[int] = []
    todo = [pid]
    while todo:
        cur = todo.pop()
        kids = [c for c, p in parents.items() if p == cur]
        found += kids
        todo += kids
    return found


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process (empty where /proc is absent)."""
    out: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1:
            out[int(entry.parent.name)] = int(fields[1])
    return out


class LoopbackSsh:
    """Starts and stops loopback sshd "devices"; every file lives under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.devices: dict[str, Device] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._host_keys: dict[str, str] = {}
        self._sshd = sshd_path()
        self.client_key = self.root / "client_ed25519"
        self.authorized_keys = self.root / "authorized_keys"
        self.known_hosts = self.root / "known_hosts"
        self._config = self.root / "ssh_config"
        self._keygen(self.client_key, "edge-seg-loopback-client")
        self.authorized_keys.write_text(self.client_key.with_suffix(".pub").read_text())
        self.authorized_keys.chmod(0o600)
        self._write_client_files()

    # -- context manager -------------------------------------------------------------
    def __enter__(self) -> LoopbackSsh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API --------------------------------------------------------------------
    @property
    def ssh_config(self) -> Path:
        """The ``ssh -F`` file: one Host block per device, rewritten on every add."""
        return self._config

    def add_device(self, alias: str, env: dict[str, str] | None = None) -> Device:
        """Start one sshd on a free 127.0.0.1 port whose sessions get ``env`` (plus the
        defaults in the module docstring); return once it accepts logins."""
        if self._sshd is None:
            raise RuntimeError(f"sshd is not installed: {INSTALL_HINT}")
        if not _ALIAS.match(alias) or alias in self.devices:
            raise ValueError(f"bad or duplicate device alias: {alias!r}")
        home = self.root / f"{alias}-home"
        home.mkdir(parents=True, exist_ok=True)
        full = {
            "EDGE_SEG_HOME": str(home),
            "HOME": str(home),
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(REPO_ROOT),
        }
        for name, value in (env or {}).items():
            if not _NAME.match(name):
                raise ValueError(f"bad environment variable name: {name!r}")
            full[name] = str(value)
        setenv = " ".join(_quote(f"{k}={v}") for k, v in full.items())

        host_key = self.root / f"{alias}_host_ed25519"
        self._keygen(host_key, f"edge-seg-loopback-{alias}")
        kind, blob = host_key.with_suffix(".pub").read_text().split()[:2]
        if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            os.chmod("/run/sshd", 0o755)

        device = Device(alias=alias, port=0, env=full, home=home)
        log = self.root / f"{alias}-sshd.log"
        for _ in range(PORT_TRIES):
            device.port = _free_port()
            cfg = self.root / f"{alias}-sshd_config"
            cfg.write_text(self._sshd_config(device, host_key, setenv))
            with open(log, "wb") as fh:
                proc = subprocess.Popen(
                    [self._sshd, "-D", "-e", "-f", str(cfg)],
                    stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self._procs[alias] = proc
            self.devices[alias] = device
            self._host_keys[alias] = f"{kind} {blob}"
            self._write_client_files()
            state = self._wait_ready(alias, proc, log)
            if state == "ready":
                return device
            self._forget(alias)
            if state != "port-taken":
                raise RuntimeError(f"sshd for {alias!r} did not come up ({state}); "
                                   f"log tail:\n{self._tail(log)}")
        raise RuntimeError(f"sshd for {alias!r}: no free port after {PORT_TRIES} tries; "
                           f"log tail:\n{self._tail(log)}")

    def ssh(self, alias: str, command: str, **subprocess_kw: Any) -> subprocess.CompletedProcess:
        """``ssh -F ssh_config ALIAS COMMAND``; text and captured output unless given,
        stdin from /dev/null unless ``stdin`` or ``input`` is given."""
        subprocess_kw.setdefault("text", True)
        if not {"stdout", "stderr"} & subprocess_kw.keys():
            subprocess_kw.setdefault("capture_output", True)
        if "stdin" not in subprocess_kw and "input" not in subprocess_kw:
            subprocess_kw["stdin"] = subprocess.DEVNULL
        return subprocess.run(["ssh", "-F", str(self.ssh_config), alias, command],
                              **subprocess_kw)

    def pid(self, alias: str) -> int | None:
        """The listening sshd's pid while the device runs, else None."""
        proc = self._procs.get(alias)
        return proc.pid if proc is not None and proc.poll() is None else None

    def stop_device(self, alias: str) -> None:
        """Kill that device's sshd and its open sessions (a device that goes away).
        Its Host block stays in ssh_config, so ssh to it now fails to connect."""
        proc = self._procs.pop(alias, None)
        if proc is None:
            return
        if proc.poll() is None:
            kids = _descendants(proc.pid)
            proc.kill()
            for kid in kids:
                try:
                    os.kill(kid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        proc.wait(timeout=10)

    def close(self) -> None:
        """Stop every sshd; safe to call more than once."""
        for alias in list(self._procs):
            self.stop_device(alias)

    # -- internals ---------------------------------------------------------------------
    def _keygen(self, path: Path, comment: str) -> None:
        if path.exists():
            return
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                        "-f", str(path)], check=True, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=30)

    def _sshd_config(self, device: Device, host_key: Path, setenv: str) -> str:
        lines = [
            "ListenAddress 127.0.0.1",
            f"Port {device.port}",
            f"HostKey {_quote(str(host_key))}",
            f"PidFile {_quote(str(self.root / (device.alias + '-sshd.pid')))}",
            f"AuthorizedKeysFile {_quote(str(self.authorized_keys))}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "PermitTunnel no",
            "PermitUserEnvironment no",
            "PrintMotd no",
            "PrintLastLog no",
            "Subsystem sftp internal-sftp",
            "LogLevel ERROR",
            # Only the first SetEnv line counts: every variable on this one.
            f"SetEnv {setenv}",
        ]
        return "\n".join(lines) + "\n"

    def _write_client_files(self) -> None:
        """Rewrite known_hosts and ssh_config from the running devices."""
        self.known_hosts.write_text("".join(
            f"[127.0.0.1]:{d.port} {self._host_keys[a]}\n" for a, d in self.devices.items()))
        blocks = []
        for alias, d in self.devices.items():
            blocks.append("\n".join([
                f"Host {alias}",
                "    HostName 127.0.0.1",
                f"    Port {d.port}",
                f"    User {self.user}",
                f"    IdentityFile {_quote(str(self.client_key))}",
                "    IdentitiesOnly yes",
                "    IdentityAgent none",
                f"    UserKnownHostsFile {_quote(str(self.known_hosts))}",
                "    GlobalKnownHostsFile /dev/null",
                "    StrictHostKeyChecking yes",
                "    CheckHostIP no",
                "    UpdateHostKeys no",
                "    BatchMode yes",
                "    PreferredAuthentications publickey",
                "    ConnectTimeout 5",
                "    LogLevel ERROR",
                "    ControlMaster no",
                "    ControlPath none",
            ]))
        # Any other host name given with this file also lands on 127.0.0.1 (port 9,
        # normally closed): nothing here connects off the machine.
        blocks.append("Host *\n    HostName 127.0.0.1\n    Port 9\n    BatchMode yes")
        self._config.write_text("\n\n".join(blocks) + "\n")

    def _wait_ready(self, alias: str, proc: subprocess.Popen[bytes], log: Path) -> str:
        """'ready', 'port-taken' (retry elsewhere), or why it failed."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        port = self.devices[alias].port
        last = ""
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                text = self._tail(log)
                if "Address already in use" in text or "Cannot bind" in text:
                    return "port-taken"
                return f"sshd exited with {proc.returncode}"
            if not self._banner(port, proc):
                time.sleep(0.02)
                continue
            if proc.poll() is not None:
                continue  # the banner came from whoever holds the port
            left = min(5.0, max(1.0, deadline - time.monotonic()))
            try:
                r = self.ssh(alias, "true", timeout=left)
            except subprocess.TimeoutExpired:
                last = "ssh true timed out"
                continue
            if r.returncode == 0:
                return "ready"
            last = f"ssh true failed: {r.stderr.strip()[-500:]}"
            time.sleep(0.1)
        return f"not ready after {READY_TIMEOUT_S:.0f} s; {last or 'port never opened'}"

    @staticmethod
    def _banner(port: int, proc: subprocess.Popen[bytes]) -> bool:
        """Whether the port answers with an SSH banner (within 2 s) while ``proc`` lives."""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.settimeout(0.05)
                for _ in range(40):
                    try:
                        return s.recv(64).startswith(b"SSH-")
                    except socket.timeout:
                        if proc.poll() is not None:
                            return False
        except OSError:
            pass
        return False

    def _forget(self, alias: str) -> None:
        self.stop_device(alias)
        self.devices.pop(alias, None)
        self._host_keys.pop(alias, None)
        self._write_client_files()

    @staticmethod
    def _tail(log: Path, lines: int = 20) -> str:
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
