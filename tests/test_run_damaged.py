"""edge-run on damaged video files, through the real CLI: undecodable frames are counted
apart from the end of the file, a file that stops decoding before the length it declares
ends with exit 2 naming the frame, and a file of unknown length says that its end cannot
be told from a cut. The files are MJPEG AVIs written here with OpenCV, their JPEG payloads
overwritten with seeded garbage (or the file cut short)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.cli import run
from tests.conftest import video_frames

cv2 = pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")

N = 60
HW = (240, 320)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[bytes, list[int]]:
    """A 60-frame MJPEG AVI of the demo scene and the offset of each frame's JPEG."""
    from edge.runtime.sources import DemoSource

    path = tmp_path_factory.mktemp("damaged") / "good.avi"
    src = DemoSource(HW, seed=3)
    src.open()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, HW[::-1])
    for _ in range(N):
        writer.write(src.read())
    writer.release()
    data = path.read_bytes()
    soi = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]
    assert len(soi) == N
    return data, soi


def damaged(clip, tmp_path: Path, frames: range, name: str = "bad.avi") -> Path:
    """The clip with the JPEGs of ``frames`` replaced by garbage of the same length (the
    container and its frame count stay intact, as on a bad sector)."""
    data, soi = clip
    out = bytearray(data)
    rng = np.random.default_rng(0)
    for k in frames:
        start = soi[k] + 2
        stop = (soi[k + 1] if k + 1 < N else len(data)) - 16
        out[start:stop] = rng.integers(0, 256, stop - start, np.uint8).tobytes()
    path = tmp_path / name
    path.write_bytes(bytes(out))
    return path


def run_cli(video: Path, tmp_path: Path, capsys) -> tuple[int, dict, list[dict], str]:
    js, summ, out = tmp_path / "o.jsonl", tmp_path / "s.json", tmp_path / "o.mp4"
    rc = run.main(["--video", str(video), "--headless", "--json", str(js), "--summary",
                   str(summ), "--output", str(out)])
    err = capsys.readouterr().err
    records = [json.loads(s) for s in js.read_text().splitlines()]
    summary = json.loads(summ.read_text())
    assert [r["frame"] for r in records] == list(range(summary["frames"]))
    assert video_frames(out)[0] == summary["frames"]  # outputs hold the decoded frames
    return rc, summary, records, err


def test_a_file_that_stops_decoding_half_way_exits_2_naming_the_frame(clip, tmp_path,
                                                                      capsys) -> None:
    """The second half undecodable: FFmpeg returns nothing more, which looked like the
    end of the file (exit 0) before."""
    rc, summary, records, err = run_cli(damaged(clip, tmp_path, range(30, N)), tmp_path,
                                        capsys)
    assert rc == 2
    last = err.strip().splitlines()[-1]
    assert "decoding stopped at frame 30 of 60" in last and "bad.avi" in last
    assert summary["frames"] == 30 and summary["decode_stopped_at"] == 30
    assert summary["frames_undecodable"] == 30 and summary["truncated"] is True
    assert summary["ended"] == "decoding stopped" and summary["failed"] == "source"
    assert len(records) == 30


def test_a_file_cut_short_exits_2_naming_the_frame(clip, tmp_path, capsys) -> None:
    data, soi = clip
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[:soi[40] + 100])  # the header still says 60 frames
    rc, summary, _, err = run_cli(cut, tmp_path, capsys)
    assert rc == 2 and "decoding stopped at frame 40 of 60" in err
    assert summary["frames"] == 40 and summary["frames_unread"] == 20


def test_a_few_undecodable_frames_are_skipped_counted_and_placed(clip, tmp_path,
                                                                 capsys) -> None:
    """Frames 20-22 undecodable: three reads fail, and the next frame's timestamp shows
    the gap, so they are counted (apart from the end) and media_time stays true."""
    rc, summary, records, err = run_cli(damaged(clip, tmp_path, range(20, 23)), tmp_path,
                                        capsys)
    assert rc == 0, err
    assert summary["frames"] == 57 and summary["corrupt"] == 3
    assert summary["frames_undecodable"] == 3 and summary["ended"] == "end of file"
    assert summary["decode_stopped_at"] is None and summary["truncated"] is False
    assert "frames 20-22 undecodable, skipped" in err
    assert err.count("skipped a corrupt frame") == 1  # one warning for the stretch
    assert records[20]["media_time"] == pytest.approx(23 / 25)  # the frame after the gap


def test_more_than_25_undecodable_frames_in_a_row_mid_file_exit_2(clip, tmp_path,
                                                                  capsys) -> None:
    rc, summary, _, err = run_cli(damaged(clip, tmp_path, range(20, 50)), tmp_path, capsys)
    assert rc == 2
    last = err.strip().splitlines()[-1]
    assert "frames 20-49 undecodable, 30 in a row" in last
    assert "30 of its 60 frames undecodable" in last
    assert summary["frames"] == 30 and summary["corrupt"] == 30
    assert summary["undecodable_longest_run"] == 30
    assert summary["decode_stopped_at"] is None  # it decoded to the end


def test_scattered_undecodable_frames_are_reported_with_exit_0(clip, tmp_path,
                                                               capsys) -> None:
    """One bad frame in ten, over the clip: 6 of 60 (10%, never two in a row) decode to
    the end and are reported; no damaged stretch, not more than 25."""
    rc, summary, _, err = run_cli(damaged(clip, tmp_path, range(5, N, 10)), tmp_path, capsys)
    assert rc == 0, err
    assert summary["frames_undecodable"] == 6 and summary["undecodable_longest_run"] == 1
    assert "6 of its 60 frames undecodable (skipped" in err


_VFR_WRITER = """
import sys, gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
out, mux = sys.argv[1], sys.argv[2]
pipe = Gst.parse_launch("appsrc name=src format=time caps=video/x-raw,format=BGR,width=320,"
                        "height=240,framerate=0/1 ! videoconvert ! jpegenc ! " + mux
                        + " ! filesink location=" + out)
src = pipe.get_by_name("src")
pipe.set_state(Gst.State.PLAYING)
frames = open(sys.argv[3], "rb").read()
size = 320 * 240 * 3
t = 0
for i in range(len(frames) // size):
    d = Gst.SECOND // 20 if 60 <= i < 120 else Gst.SECOND // 30  # a slower middle
    buf = Gst.Buffer.new_wrapped(frames[i * size:(i + 1) * size])
    buf.pts, buf.duration = t, d
    t += d
    src.emit("push-buffer", buf)
src.emit("end-of-stream")
msg = pipe.get_bus().timed_pop_filtered(30 * Gst.SECOND,
                                        Gst.MessageType.EOS | Gst.MessageType.ERROR)
pipe.set_state(Gst.State.NULL)
sys.exit(0 if msg is not None and msg.type == Gst.MessageType.EOS else 1)
"""


@pytest.mark.parametrize("mux, suffix", [("qtmux", ".mov"), ("matroskamux", ".mkv")])
def test_a_variable_frame_rate_file_is_read_whole_without_damage(tmp_path, capsys, mux,
                                                                  suffix) -> None:
    """A phone-like VFR recording (30 FPS with a 20 FPS middle, 180 frames), written by
    GStreamer with real per-frame timestamps: no frame undecodable, exit 0, media_time
    the frames' own times. Its slow stretch counted as damage before (the .mov: frames
    placed by the average rate), and the .mkv, whose count FFmpeg estimates as 212 from
    its duration, ended as 'decoding stopped at frame 180 of 212'."""
    import subprocess

    from edge.runtime.sources import DemoSource
    from tests.rtsp_server import require_server, server_python

    require_server()  # the system Python with GStreamer (tools/setup.sh installs it)
    src = DemoSource(HW, seed=5)
    src.open()
    raw = tmp_path / "frames.bgr"
    raw.write_bytes(b"".join(src.read().tobytes() for _ in range(180)))
    video = tmp_path / f"vfr{suffix}"
    proc = subprocess.run([server_python(), "-c", _VFR_WRITER, str(video), mux, str(raw)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rc, summary, records, err = run_cli(video, tmp_path, capsys)
    assert rc == 0, err
    assert summary["frames"] == 180 and summary["frames_undecodable"] == 0
    assert summary["corrupt"] == 0 and summary["truncated"] is False and "undecodable" not in err
    times = [r["media_time"] for r in records]
    assert times[60] == pytest.approx(2.0, abs=0.002)  # 60 frames at 30 FPS
    assert times[120] == pytest.approx(5.0, abs=0.002)  # then 60 at 20 FPS


def test_a_file_of_unknown_length_says_its_end_cannot_be_told_from_a_cut(tmp_path,
                                                                         capsys) -> None:
    """A raw MJPEG stream declares no length: the run ends at its last frame with exit 0,
    a WARNING and ``ended`` saying the length was unknown, not a silent end of file."""
    from edge.runtime.sources import DemoSource

    src = DemoSource(HW, seed=3)
    src.open()
    raw = tmp_path / "cam.mjpeg"
    raw.write_bytes(b"".join(cv2.imencode(".jpg", src.read())[1].tobytes() for _ in range(20)))
    rc, summary, records, err = run_cli(raw, tmp_path, capsys)
    assert rc == 0 and len(records) == 20
    assert summary["ended"] == "end of stream (length unknown)"
    assert summary["frames_expected"] is None
    assert "cannot be told from its end" in err
