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

# a host name or a bare IPv6 address (ssh takes user@fe80::1; brackets only in ssh:// URIs)
_HOST = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9._-]+|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+)$")
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
                "--", self.dest, remote_command(remote)]
        return cmd

    def run(self, remote: Sequence[str], stdin: bytes | IO[bytes] | None = None,
            on_line: Callable[[str], None] | None = None, timeout: float | None = None,
            stdout_to: IO[bytes] | None = None, hold_stdin: bool = False
            ) -> tuple[int, bytes, str]:
        """Run ``remote`` (an argument list) on the device: (exit code, stdout bytes, stderr
        text). Each stderr line goes to ``on_line`` as it arrives (the device's progress);
        stdout is collected, or written to ``stdout_to`` (a tar stream of engines). With
        ``hold_stdin`` the remote stdin stays open until the command ends, so a command run
        through ``edge.fleet.agent run`` is stopped when this side goes away. Past
        ``timeout`` seconds ssh is killed and :class:`subprocess.TimeoutExpired` raised.
        Exit 255 is ssh's own failure."""
        proc = subprocess.Popen(self.argv(remote), stdin=subprocess.PIPE
                                if stdin is not None or hold_stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err_lines: list[str] = []
        out_chunks: list[bytes] = []

        def pump_err() -> None:
            assert proc.stderr is not None
            for raw in proc.stderr:
                # a progress bar redraws with \r: its latest state is the line
                line = raw.decode(errors="replace").rstrip("\r\n").rsplit("\r", 1)[-1]
                err_lines.append(line)
                if on_line is not None:
                    on_line(line)

        def pump_out() -> None:
            assert proc.stdout is not None
            for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
                if stdout_to is not None:
                    stdout_to.write(chunk)
                else:
                    out_chunks.append(chunk)

        def feed() -> None:
            assert proc.stdin is not None
            try:
                if isinstance(stdin, bytes):
                    proc.stdin.write(stdin)
                elif stdin is not None:
                    shutil.copyfileobj(stdin, proc.stdin, 1 << 20)
                if not hold_stdin:
                    proc.stdin.close()
            except (BrokenPipeError, ValueError):  # the remote side exited: its code says why
                pass
            finally:
                if stdin is not None and not isinstance(stdin, bytes):
                    stdin.close()

        threads = [threading.Thread(target=pump_err, daemon=True),
                   threading.Thread(target=pump_out, daemon=True)]
        if stdin is not None or hold_stdin:
            threads.append(threading.Thread(target=feed, daemon=True))
        for t in threads:
            t.start()
        try:
            rc = proc.wait(timeout=timeout)
        except BaseException:  # a timeout or Ctrl-C: the connection goes, the device stops
            proc.kill()
            proc.wait()
            raise
        finally:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except (BrokenPipeError, ValueError):
                    pass
            for t in threads:
                t.join(timeout=10)
        return rc, b"".join(out_chunks), "\n".join(err_lines)


def remote_command(remote: Sequence[str]) -> str:
    """One shell string from an argument list, each argument quoted; a leading ``~/`` of
    the program stays unquoted so that the device's shell expands it to the device user's
    home (``--remote-python ~/edge-venv/bin/python3``)."""
    parts = [shlex.quote(str(a)) for a in remote]
    if remote and str(remote[0]).startswith("~/"):
        parts[0] = "~/" + shlex.quote(str(remote[0])[2:])
    return " ".join(parts)


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
