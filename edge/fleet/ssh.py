"""Commands on a device over OpenSSH: the user's own ``ssh``, config, keys and known_hosts.

Why the OpenSSH client and not a Python SSH library: it already knows the user's
``~/.ssh/config`` (host aliases, jump hosts, ports), agent and known hosts, and it is on
every workstation. It always runs with ``BatchMode=yes``: a device whose key is not
authorised, or whose host key is unknown or changed, fails at once with ssh's own reason
instead of prompting for a password in a parallel build. Nothing here accepts a password.

A device is ``[USER@]HOST``, an alias from the ssh config, or ``ssh://[USER@]HOST[:PORT]``.
Remote commands are built from argument lists and quoted with :func:`shlex.quote` (ssh
hands the remote shell one string), so paths and names cannot inject shell syntax.
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from edge.errors import ConfigError, MissingDependencyError

log = logging.getLogger(__name__)

_HOST = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])$")
_URI = re.compile(r"^ssh://(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])"
                  r"(?::\d{1,5})?$")


def check_destination(dest: str) -> str:
    """``dest`` if it is a plain SSH destination; refuses anything ssh would read as an option
    (``-oProxyCommand=...``) or that carries a password (``user:pw@host``)."""
    if not dest or dest.startswith("-") or not (_HOST.match(dest) or _URI.match(dest)):
        raise ConfigError(f"--device {dest!r}: not an SSH destination; give USER@HOST, a Host "
                          f"alias from your ssh config or ssh://USER@HOST:PORT (keys and "
                          f"known_hosts as for ssh; passwords are never taken)")
    return dest


@dataclass
class Ssh:
    """One device. ``config`` is an ssh_config file (``ssh -F``); None = the user's."""

    dest: str
    config: Path | None = None
    connect_timeout: int = 15

    def __post_init__(self) -> None:
        check_destination(self.dest)
        if shutil.which("ssh") is None:
            raise MissingDependencyError("ssh: the OpenSSH client is not on PATH; install it "
                                         "(apt-get install openssh-client) to build on devices")
        if self.config is not None and not Path(self.config).is_file():
            raise ConfigError(f"--ssh-config {self.config}: no such file")

    def argv(self, remote: Sequence[str]) -> list[str]:
        cmd = ["ssh"]
        if self.config is not None:
            cmd += ["-F", str(self.config)]
        cmd += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
                "--", self.dest, " ".join(shlex.quote(str(a)) for a in remote)]
        return cmd

    def run(self, remote: Sequence[str], stdin: bytes | IO[bytes] | None = None,
            on_line: Callable[[str], None] | None = None, timeout: float | None = None
            ) -> tuple[int, bytes, str]:
        """Run ``remote`` (an argument list) on the device: (exit code, stdout bytes, stderr
        text). Each stderr line goes to ``on_line`` as it arrives (the device's progress);
        stdout is collected (a tar stream or JSON). Exit 255 is ssh's own failure."""
        proc = subprocess.Popen(self.argv(remote), stdin=subprocess.PIPE if stdin is not None
                                else subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        err_lines: list[str] = []

        def pump_err() -> None:
            assert proc.stderr is not None
            for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip("\r\n")
                err_lines.append(line)
                if on_line is not None:
                    on_line(line)

        def feed() -> None:
            assert proc.stdin is not None
            try:
                if isinstance(stdin, bytes):
                    proc.stdin.write(stdin)
                else:
                    shutil.copyfileobj(stdin, proc.stdin, 1 << 20)
            except BrokenPipeError:  # the remote side exited: its exit code says why
                pass
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass

        threads = [threading.Thread(target=pump_err, daemon=True)]
        if stdin is not None:
            threads.append(threading.Thread(target=feed, daemon=True))
        for t in threads:
            t.start()
        assert proc.stdout is not None
        try:
            out = proc.stdout.read()
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        for t in threads:
            t.join()
        return rc, out, "\n".join(err_lines)


def ssh_failure(dest: str, rc: int, stderr: str) -> str:
    """One line saying why ssh itself failed (exit 255) and what to do."""
    last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")
    hint = "check that ssh BatchMode=yes " + dest + " true works from this workstation"
    low = stderr.lower()
    if "permission denied" in low:
        hint = f"authorise your key there: ssh-copy-id {dest}"
    elif "host key verification failed" in low or "identification has changed" in low:
        hint = (f"the device's host key is unknown or changed; verify it, then ssh {dest} once "
                f"(or ssh-keygen -R HOST) to record it")
    elif "could not resolve" in low or "connection refused" in low or "timed out" in low \
            or "no route" in low:
        hint = "is the device on and reachable, and sshd running there?"
    return f"ssh {dest} failed (exit {rc}: {last or 'no message'}); {hint}"
