"""edge-run when its outputs stop fitting (a full disk, simulated with a file-size limit
on the child process: ``RLIMIT_FSIZE``, ``ulimit -f``): it stops cleanly with one line
naming the file, exit 2, the mp4 finalised and playable, the JSONL in whole lines equal
in number to the video's frames, and the summary written saying what failed.

Python ignores SIGXFSZ, so a write past the limit raises OSError(EFBIG) where Python
writes (the JSONL); OpenCV's video writer reports nothing at all, which is why the sinks
check the room left before each frame."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import video_frames

cv2 = pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")


def limited(limit: int):
    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return set_limit


def run_limited(argv: list[str], limit: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli.run", *argv], capture_output=True,
                          text=True, timeout=300, preexec_fn=limited(limit))


def whole_lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data.endswith(b"\n"), data[-200:]  # no part-written last line
    return [json.loads(s) for s in data.decode().splitlines()]


@pytest.mark.slow
def test_file_size_limit_stops_the_run_with_every_output_finalised(tmp_path) -> None:
    out, js, summ = tmp_path / "o.mp4", tmp_path / "o.jsonl", tmp_path / "s.json"
    limit = 1_600_000
    proc = run_limited(["--demo", "--demo-size", "240", "320", "--headless", "--output",
                        str(out), "--json", str(js), "--summary", str(summ)], limit)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("edge-run: error: ") and str(out) in lines[-1]
    assert "file-size limit" in lines[-1] and "Traceback" not in proc.stderr
    summary = json.loads(summ.read_text())
    n = summary["frames"]
    assert n > 5 and summary["failed"] == "output" and summary["ended"] == "output failed"
    assert str(out) in summary["error"]
    records = whole_lines(js)
    assert [r["frame"] for r in records] == list(range(n))
    assert video_frames(out) == (n, (240, 320))  # finalised: it plays to the last frame
    assert all(p.stat().st_size <= limit for p in (out, js, summ))


@pytest.mark.slow
def test_jsonl_alone_stops_at_the_limit_in_whole_lines(tmp_path) -> None:
    js, summ = tmp_path / "o.jsonl", tmp_path / "s.json"
    proc = run_limited(["--demo", "--demo-size", "240", "320", "--headless", "--json",
                        str(js), "--summary", str(summ)], 400_000)
    assert proc.returncode == 2, proc.stderr
    assert str(js) in proc.stderr.strip().splitlines()[-1]
    summary = json.loads(summ.read_text())
    assert len(whole_lines(js)) == summary["frames"] > 5


def test_a_write_that_fails_part_way_is_cut_back_to_whole_lines(tmp_path) -> None:
    """The room check bypassed: the limit is hit in the middle of a line; the file keeps
    only whole lines and the error names it."""
    js = tmp_path / "x.jsonl"
    code = textwrap.dedent(f"""
        import sys
        from edge.runtime import sinks
        sinks.room = lambda *a: (10**12, "test")  # as if the check saw plenty of room
        sink = sinks.JsonlSink({str(js)!r})
        try:
            for i in range(10_000):
                sink.write({{"frame": i, "pad": "x" * 333}})
        except sinks.OutputError as exc:
            print(exc)
            sys.exit(3)
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, preexec_fn=limited(10_000))
    assert proc.returncode == 3, proc.stderr
    assert str(js) in proc.stdout and "kept the" in proc.stdout
    records = whole_lines(js)
    assert [r["frame"] for r in records] == list(range(len(records))) and len(records) > 5
    assert os.path.getsize(js) <= 10_000


def test_jsonl_to_a_pipe_is_not_measured_as_a_full_disk(tmp_path) -> None:
    """``--json /dev/fd/1`` (``--json >(jq .)``): a pipe has no disk to fill; the room
    check measured /dev/fd's filesystem (procfs, 0 bytes free) and stopped at frame 0."""
    from edge.runtime.sinks import JsonlSink, room

    r, w = os.pipe()
    try:
        sink = JsonlSink(f"/dev/fd/{w}")
        sink.check_room()
        sink.write({"frame": 0})
        assert os.read(r, 100) == b'{"frame":0}\n'
        assert room(Path(f"/dev/fd/{w}"), sink.fh.fileno())[0] is None  # no limit known
        sink.close()
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.slow
def test_edge_run_writes_its_jsonl_to_stdout(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "edge.cli.run", "--demo", "--demo-size", "96",
                           "128", "--headless", "--frames", "3", "--json", "/dev/fd/1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(s) for s in proc.stdout.splitlines() if s.startswith("{")]
    assert [r["frame"] for r in records] == [0, 1, 2]


def test_room_is_measured_on_the_file_own_filesystem_through_a_symlink(tmp_path) -> None:
    """A symlink in one filesystem to a file in another: the target's free space counts."""
    from edge.runtime.sinks import room

    other = Path("/dev/shm")
    if not other.is_dir() or os.statvfs(other).f_fsid == os.statvfs(tmp_path).f_fsid:
        pytest.skip("no second filesystem (/dev/shm) here")
    target = other / f"edge-room-{os.getpid()}.jsonl"
    target.write_bytes(b"")
    try:
        link = tmp_path / "out.jsonl"
        link.symlink_to(target)
        st = os.statvfs(other)
        left, _ = room(link)
        assert left is not None
        assert abs(left - st.f_bavail * st.f_frsize) < 64 << 20  # /dev/shm's, not tmp's
        with open(link, "ab") as fh:
            assert abs(room(link, fh.fileno())[0] - st.f_bavail * st.f_frsize) < 64 << 20
    finally:
        target.unlink()


def test_room_without_statvfs_or_resource_is_unknown_not_a_crash(tmp_path,
                                                                monkeypatch) -> None:
    """Windows has neither os.statvfs nor the resource module: no limit known."""
    from edge.runtime import sinks

    monkeypatch.setitem(sys.modules, "resource", None)  # import resource -> ImportError
    for name in ("statvfs", "fstatvfs"):
        monkeypatch.delattr(os, name, raising=False)
    js = tmp_path / "o.jsonl"
    sink = sinks.JsonlSink(js)
    sink.check_room()
    sink.write({"frame": 0})
    sink.close()
    assert sinks.room(js) == (None, "no free-space query on this system")


def test_an_unplayable_video_names_only_outputs_that_exist(tmp_path, monkeypatch) -> None:
    """The mp4 that could not be finalised: its message names the JSONL only when there
    is one (it said "the JSONL holds the N frames" without any JSONL)."""
    import numpy as np

    from edge.runtime.loop import Outputs
    from edge.runtime.sinks import JsonlSink, VideoSink

    monkeypatch.setattr(VideoSink, "_unreadable", lambda self: True)
    frame = np.zeros((64, 64, 3), np.uint8)
    video = VideoSink(tmp_path / "a.mp4")
    video.write(frame)
    (problem,) = Outputs(video=video).close()
    assert "does not play" in problem and "JSONL" not in problem and "1 frame" in problem
    video, js = VideoSink(tmp_path / "b.mp4"), JsonlSink(tmp_path / "b.jsonl")
    video.write(frame)
    js.write({"frame": 0})
    (problem,) = Outputs(video=video, jsonl=js).close()
    assert f"{tmp_path / 'b.jsonl'} holds their 1 record" in problem
