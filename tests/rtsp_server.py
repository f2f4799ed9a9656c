"""A real RTSP server on 127.0.0.1 for the tests: GStreamer's ``gst-rtsp-server``
(Debian's ``gir1.2-gst-rtsp-server-1.0``) serving a folder of JPEG frames the test
wrote, looped and paced in real time, as RTP/JPEG, optionally behind HTTP basic auth
that the server really checks.

The server runs under the *system* Python (``/usr/bin/python3``, where Debian's
``python3-gi`` lives; the test interpreter usually has no ``gi``) as a subprocess, so a
test can ``kill -9`` it and start it again on the same port, as a camera that loses
power does. ``python3 tests/rtsp_server.py --port 8554 --frames DIR`` runs it by hand.

The half of this file above ``serve`` runs in the test's interpreter and imports nothing
beyond the standard library (and pytest where a test asks to skip); ``serve`` imports gi.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
APT_PACKAGES = ("python3-gi", "gir1.2-gst-rtsp-server-1.0", "gstreamer1.0-plugins-good",
                "gstreamer1.0-plugins-base")
INSTALL_HINT = ("as root: apt-get install -y --no-install-recommends " + " ".join(APT_PACKAGES)
                + " (tools/setup.sh does it on Debian/Ubuntu)")
_PROBE = ("import gi; gi.require_version('Gst', '1.0'); "
          "gi.require_version('GstRtspServer', '1.0'); "
          "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
          "missing = [e for e in ('multifilesrc', 'jpegparse', 'rtpjpegpay') "
          "if Gst.ElementFactory.find(e) is None]; "
          "print('missing elements: ' + ', '.join(missing) if missing else 'ok')")


def server_python() -> str:
    """The interpreter that has ``gi``: $EDGE_RTSP_PYTHON, else the system Python."""
    return os.environ.get("EDGE_RTSP_PYTHON", SYSTEM_PYTHON)


def unavailable_reason() -> str | None:
    """None when the server can run here, else what is missing and how to install it."""
    py = server_python()
    if not (Path(py).is_file() or shutil.which(py)):
        return f"no {py} (the system Python with gi); {INSTALL_HINT}"
    try:
        proc = subprocess.run([py, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{py} cannot run the probe ({exc}); {INSTALL_HINT}"
    out = (proc.stdout.strip().splitlines() or [""])[-1]
    if proc.returncode != 0 or out != "ok":
        why = out or (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"{py} has no usable GStreamer RTSP server ({why}); {INSTALL_HINT}"
    return None


def require_server() -> None:
    """Skip the calling test where the server cannot run, saying what to install; fail
    instead when $CI is set, since CI installs it (tools/setup.sh) and must run the test."""
    import pytest

    why = unavailable_reason()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but the loopback RTSP server cannot run: {why}")
    pytest.skip(f"loopback RTSP server unavailable: {why}")


def require_module(name: str):
    """``pytest.importorskip`` that fails instead where $CI is set: CI installs every test
    dependency (tools/setup.sh), so a missing one there is a broken setup, not a skip."""
    import importlib

    import pytest

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {name} does not import ({exc}); tools/setup.sh "
                        f"installs it", pytrace=False)
        pytest.skip(f"{name} is not installed ({exc})")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspServer:
    """One server process at a time on a fixed loopback port; ``kill`` (SIGKILL) and
    ``start`` again as often as needed. ``url`` carries the credentials when set."""

    def __init__(self, frames: str | Path, fps: int = 25, user: str | None = None,
                 password: str | None = None, port: int | None = None,
                 mount: str = "/cam", log_dir: str | Path | None = None) -> None:
        self.frames = Path(frames)
        # each start's server logs time.time() of every frame it pushes to its own file
        # here (see ``pushed``), so a test compares what arrived with what was sent
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.fps = fps
        self.user, self.password = user, password
        self.port = port or free_port()
        self.mount = mount
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []  # the server's stderr, for failure messages
        self.starts = 0

    @property
    def url(self) -> str:
        cred = f"{self.user}:{self.password}@" if self.user else ""
        return f"rtsp://{cred}127.0.0.1:{self.port}{self.mount}"

    def start(self, timeout: float = 30.0) -> float:
        """Start the server and wait for it to listen; returns time.time() when ready."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        cmd = [server_python(), str(Path(__file__).resolve()), "--port", str(self.port),
               "--frames", str(self.frames), "--fps", str(self.fps), "--mount", self.mount]
        if self.log_dir is not None:
            cmd += ["--push-log", str(self.log_dir / f"pushed-{self.starts}.log")]
        env = dict(os.environ)
        if self.user:
            # credentials by environment, not argv: ps shows argv to every user
            env["RTSP_TEST_USER"], env["RTSP_TEST_PASSWORD"] = self.user, self.password or ""
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, env=env)
            line = self._wait_ready(deadline)
            if line is not None:
                self.starts += 1
                return time.time()
            # the port may still be held by the killed process's socket for a moment
            self.proc.kill()
            self.proc.wait()
            if time.monotonic() > deadline:
                raise RuntimeError(f"RTSP server did not start on port {self.port}: "
                                   + " | ".join(self.log[-5:]))
            time.sleep(0.2)

    def _wait_ready(self, deadline: float) -> str | None:
        assert self.proc is not None and self.proc.stdout is not None
        result: list[str] = []

        def read() -> None:
            result.append(self.proc.stdout.readline())

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(max(0.1, deadline - time.monotonic()))
        if result and result[0].startswith("ready"):
            err = self.proc.stderr
            threading.Thread(target=lambda: self.log.extend(err), daemon=True).start()
            return result[0]
        if self.proc.poll() is not None:
            self.log.extend(self.proc.stderr.read().splitlines()[-5:])
        return None

    def pushed(self, start: int) -> list[float]:
        """time.time() of each frame the ``start``-th server (0 = the first) pushed."""
        assert self.log_dir is not None, "give RtspServer a log_dir"
        path = self.log_dir / f"pushed-{start}.log"
        if not path.exists():
            return []
        return [float(s) for s in path.read_text().split()]

    def kill(self) -> float:
        """SIGKILL, as a power cut; returns time.time() of the kill."""
        assert self.proc is not None
        t = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        return t

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()

    def __enter__(self) -> RtspServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- the server


def serve(port: int, frames: Path, fps: int, mount: str,
          push_log: Path | None = None) -> None:
    """Serve the ``*.jpg`` of ``frames`` in name order, looped, at ``fps`` as RTP/JPEG on
    ``mount``; with ``push_log``, append time.time() of every frame pushed to it, one a
    line, written at once (the process is killed with SIGKILL)."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    log_fd = (os.open(push_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
              if push_log is not None else None)
    if not any(frames.glob("*.jpg")):
        sys.exit(f"rtsp_server: no .jpg frames in {frames}")
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    data = [p.read_bytes() for p in sorted(frames.glob("*.jpg"))]
    # An appsrc fed by a GLib timer, one JPEG every 1/fps s with its timestamp: the frames
    # go out in real time, as from a camera (multifilesrc stamps nothing and the server's
    # TCP sink would send the whole loop as fast as it can).
    factory.set_launch(f"( appsrc name=src is-live=true format=time do-timestamp=true "
                       f"caps=image/jpeg,framerate={fps}/1 ! jpegparse ! "
                       f"rtpjpegpay name=pay0 pt=26 )")

    def configure(_factory, media) -> None:
        src = media.get_element().get_child_by_name("src")
        state = {"i": 0}

        def push() -> bool:
            buf = Gst.Buffer.new_wrapped(data[state["i"] % len(data)])
            buf.duration = Gst.SECOND // fps
            state["i"] += 1
            ok = src.emit("push-buffer", buf) == Gst.FlowReturn.OK
            if ok and log_fd is not None:
                os.write(log_fd, f"{time.time():.6f}\n".encode())
            return ok

        GLib.timeout_add(max(1, round(1000 / fps)), push)

    factory.connect("media-configure", configure)
    factory.set_shared(True)
    user = os.environ.get("RTSP_TEST_USER")
    if user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(
            user, os.environ.get("RTSP_TEST_PASSWORD", "")), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS,
                                      True)
        perms.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
                                      True)
        factory.set_permissions(perms)
    server.get_mount_points().add_factory(mount, factory)
    if server.attach(None) == 0:
        sys.exit(f"rtsp_server: cannot listen on 127.0.0.1:{port}")
    print("ready", server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--frames", type=Path, required=True, help="folder of 00000.jpg ...")
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--mount", default="/cam")
    p.add_argument("--push-log", type=Path, help="append time.time() of each frame pushed")
    a = p.parse_args()
    serve(a.port, a.frames, a.fps, a.mount, a.push_log)
