"""edge-run as users type it: every source option through the real parser and
``open_source``, with OpenCV's ``VideoCapture`` replaced only at its boundary by a recorder
that asserts what would have been opened; options at 0 / empty; the source named in the
outputs; the newcomer walk-through's edge-run items (mixed frame sizes, shared output
paths, overlay and labels, semantic palette and legend, start line, library noise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.cli import run
from edge.errors import ConfigError
from tests.conftest import video_frames

cv2 = pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")

GST_YES = "Video I/O:\n    GStreamer:                   YES (1.22.0)\n"
GST_NO = "Video I/O:\n    GStreamer:                   NO\n"


class Recorder:
    """Stands in for ``cv2.VideoCapture``: records (target, api, FFmpeg options in force)
    and, when ``opens``, delivers ``frames`` frames of ``hw`` (a live source: forever)."""

    calls: list[tuple[object, int, str | None]] = []
    params: list[list[int] | None] = []  # the VideoCapture parameters of each open
    opens = True
    hw = (96, 128)
    count: int | None = None  # frames of a file; None = a live source

    def __init__(self, target, api=None, params=None) -> None:
        Recorder.calls.append((target, api, os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS")))
        Recorder.params.append(params)
        self.opened = Recorder.opens
        self.sent = 0
        self.frame = np.random.default_rng(0).integers(0, 256, (*Recorder.hw, 3), np.uint8)

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self.opened

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return float(Recorder.count or 0)
        return 25.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        if not self.opened or (Recorder.count is not None and self.sent >= Recorder.count):
            return False, None
        self.sent += 1
        return True, self.frame.copy()

    def release(self) -> None:
        self.opened = False


@pytest.fixture
def recorder(monkeypatch):
    Recorder.calls, Recorder.params = [], []
    Recorder.opens, Recorder.count, Recorder.hw = True, None, (96, 128)
    monkeypatch.setattr(cv2, "VideoCapture", Recorder)
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: GST_NO)
    return Recorder


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def run_ok(argv: list[str], tmp_path: Path, capsys) -> tuple[list[dict], dict, str]:
    """Run edge-run headless with JSONL and summary; returns (lines, summary, stderr)."""
    js, summary = tmp_path / "run.jsonl", tmp_path / "summary.json"
    assert run.main(argv + ["--headless", "--json", str(js), "--summary", str(summary)]) == 0
    err = capsys.readouterr().err
    return ([json.loads(s) for s in js.read_text().splitlines()],
            json.loads(summary.read_text()), err)


# --------------------------------------------------------------------------- sources


def test_camera_0_opens_dev_video0_with_v4l2_and_names_it(recorder, tmp_path, capsys) -> None:
    lines, summary, err = run_ok(["--camera", "0", "--frames", "3"], tmp_path, capsys)
    assert recorder.calls[0][:2] == (0, cv2.CAP_V4L2)
    assert {(t, a) for t, a, _ in recorder.calls} == {(0, cv2.CAP_V4L2)}
    assert len(lines) == 3
    assert all(r["source"] == {"kind": "camera", "device": "/dev/video0"} for r in lines)
    assert summary["source_kind"] == "camera" and summary["source_device"] == "/dev/video0"
    assert "reading camera /dev/video0" in err and "demo" not in err


def test_camera_index_is_passed_through(recorder, tmp_path, capsys) -> None:
    run_ok(["--camera", "2", "--frames", "1"], tmp_path, capsys)
    assert recorder.calls[0][:2] == (2, cv2.CAP_V4L2)


def test_camera_that_does_not_open_is_refused_naming_the_device(recorder, capsys) -> None:
    recorder.opens = False
    assert run.main(["--camera", "0", "--headless", "--frames", "2"]) == 2
    line = one_line_error(capsys)
    assert "camera 0 (/dev/video0): cannot open it" in line and "demo scene" not in line
    assert recorder.calls[0][:2] == (0, cv2.CAP_V4L2)


@pytest.mark.skipif(os.path.exists("/dev/video0"), reason="this machine has a camera")
def test_camera_0_on_this_machine_without_a_camera(tmp_path, capsys) -> None:
    """The real OpenCV, the real (absent) device: exit 2, one line naming /dev/video0, and
    an existing JSONL of that name left as it was."""
    js = tmp_path / "old.jsonl"
    js.write_text('{"frame": 0}\n')
    assert run.main(["--camera", "0", "--headless", "--json", str(js)]) == 2
    line = one_line_error(capsys)
    assert "/dev/video0 does not exist" in line and "ls /dev/video*" in line
    assert js.read_text() == '{"frame": 0}\n'


@pytest.mark.skipif(os.path.exists("/dev/video0"), reason="this machine has a camera")
def test_no_library_noise_before_the_error(tmp_path) -> None:
    """OpenCV's and FFmpeg's own warnings stay off stderr: only edge-run's line."""
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes())
    for argv, needle in ((["--camera", "0"], "/dev/video0"), (["--video", str(garbage)],
                                                              "garbage.mp4: cannot open it")):
        proc = subprocess.run([sys.executable, "-m", "edge.cli.run", *argv, "--headless"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], proc.stderr
        assert proc.stdout == ""


def test_csi_0_opens_the_argus_pipeline_for_sensor_0(recorder, monkeypatch, tmp_path,
                                                     capsys) -> None:
    from edge.runtime.sources import csi_pipeline

    monkeypatch.setattr(cv2, "getBuildInformation", lambda: GST_YES)
    lines, summary, err = run_ok(["--csi", "0", "--frames", "2", "--csi-size", "480", "640"],
                                 tmp_path, capsys)
    target, api, _ = recorder.calls[0]
    assert api == cv2.CAP_GSTREAMER and target == csi_pipeline(0, 640, 480)
    assert target.startswith("nvarguscamerasrc sensor-id=0 ! ") and "width=640" in target
    assert "height=480" in target and target.endswith("appsink drop=true max-buffers=1 sync=false")
    assert lines[0]["source"] == {"kind": "csi", "device": "nvarguscamerasrc sensor-id=0"}
    assert summary["source_device"] == "nvarguscamerasrc sensor-id=0"


def test_csi_without_gstreamer_is_refused_naming_the_sensor(recorder, capsys) -> None:
    assert run.main(["--csi", "0", "--headless"]) == 2
    line = one_line_error(capsys)
    assert "nvarguscamerasrc sensor-id=0" in line and "this OpenCV has none" in line
    assert recorder.calls == []


def test_gst_pipeline_is_opened_verbatim(recorder, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: GST_YES)
    pipe = "videotestsrc ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true"
    lines, _, _ = run_ok(["--gst", pipe, "--frames", "1"], tmp_path, capsys)
    assert recorder.calls[0][:2] == (pipe, cv2.CAP_GSTREAMER)
    assert lines[0]["source"] == {"kind": "gst", "device": pipe}


def test_gst_with_an_opencv_without_gstreamer_says_so(recorder, capsys) -> None:
    assert run.main(["--gst", "videotestsrc ! appsink", "--headless"]) == 2
    line = one_line_error(capsys)
    assert "this OpenCV has none" in line and "gst-launch" not in line
    assert recorder.calls == []


@pytest.mark.parametrize("gstreamer", [False, True])
def test_rtsp_opens_the_url_and_never_shows_its_password(recorder, monkeypatch, tmp_path,
                                                         capsys, gstreamer) -> None:
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: GST_YES if gstreamer else GST_NO)
    url = "rtsp://admin:hunter2@10.0.0.5:554/stream1?token=s3cr3t"
    lines, summary, err = run_ok(["--rtsp", url, "--rtsp-latency", "0", "--frames", "2"],
                                 tmp_path, capsys)
    target, api, ffmpeg = recorder.calls[0]
    if gstreamer:
        assert api == cv2.CAP_GSTREAMER
        assert target.startswith(f'rtspsrc location="{url}" latency=0 ')
    else:
        assert (target, api) == (url, cv2.CAP_FFMPEG)
        assert ffmpeg == "rtsp_transport;tcp|fflags;nobuffer|max_delay;0"
        assert "OPENCV_FFMPEG_CAPTURE_OPTIONS" not in os.environ  # set only around the open
    shown = "rtsp://admin:***@10.0.0.5:554/stream1?token=***"
    assert lines[0]["source"] == {"kind": "rtsp", "device": shown}
    everything = (tmp_path / "run.jsonl").read_text() + (tmp_path / "summary.json").read_text()
    for text in (everything, err):
        assert "hunter2" not in text and "s3cr3t" not in text


def test_rtsp_refusals_do_not_leak_the_password(recorder, capsys) -> None:
    recorder.opens = False
    assert run.main(["--rtsp", "rtsp://u:pw123@cam/x", "--headless"]) == 2
    line = one_line_error(capsys)
    assert "cannot open it" in line and "pw123" not in line and "u:***@cam" in line
    assert run.main(["--rtsp", "http://u:pw123@cam/x", "--headless"]) == 2
    line = one_line_error(capsys)
    assert "not an RTSP URL" in line and "pw123" not in line


def test_rtsp_over_ffmpeg_opens_with_timeouts(recorder, tmp_path, capsys) -> None:
    """A killed server is seen at once; a silent one within the read timeout, not after
    FFmpeg's default 30 s."""
    from edge.runtime.sources import RTSP_OPEN_TIMEOUT_MS, RTSP_READ_TIMEOUT_MS

    run_ok(["--rtsp", "rtsp://cam/x", "--frames", "1"], tmp_path, capsys)
    assert recorder.params[0] == [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, RTSP_OPEN_TIMEOUT_MS,
                                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, RTSP_READ_TIMEOUT_MS]
    assert RTSP_READ_TIMEOUT_MS <= 5000


SECRET = "hunter2-Zq9"


@pytest.mark.parametrize("argv, shown", [
    (["--video", f"http://cam:{SECRET}@10.0.0.7/rec/clip.mp4?token={SECRET}"],
     "http://cam:***@10.0.0.7/rec/clip.mp4?token=***"),
    (["--gst", f'rtspsrc location="rtsp://admin:{SECRET}@10.0.0.5/s" ! decodebin ! '
               f"videoconvert ! appsink"],
     'rtspsrc location="rtsp://admin:***@10.0.0.5/s" ! decodebin ! videoconvert ! appsink'),
    (["--gst", f"rtspsrc location=rtsp://10.0.0.5/s user-id=admin user-pw={SECRET} ! "
               f"decodebin ! appsink"],
     "rtspsrc location=rtsp://10.0.0.5/s user-id=admin user-pw=*** ! decodebin ! appsink"),
    # a "!", a space or a quote in the password
    (["--gst", f"rtspsrc location=rtsp://admin:p!{SECRET}@10.0.0.5/s ! decodebin ! appsink"],
     "rtspsrc location=rtsp://admin:***@10.0.0.5/s ! decodebin ! appsink"),
    (["--gst", f'rtspsrc location="rtsp://admin:p {SECRET}@10.0.0.5/s" ! decodebin ! appsink'],
     'rtspsrc location="rtsp://admin:***@10.0.0.5/s" ! decodebin ! appsink'),
    (["--gst", f'rtspsrc location="rtsp://admin:p\\"{SECRET}@10.0.0.5/s" ! appsink'],
     'rtspsrc location="rtsp://admin:***@10.0.0.5/s" ! appsink'),
    (["--video", f"http://cam:p!{SECRET}@10.0.0.7/rec/clip.mp4"],
     "http://cam:***@10.0.0.7/rec/clip.mp4"),
])
def test_credentials_in_video_urls_and_pipelines_never_reach_an_output(
        recorder, monkeypatch, tmp_path, capsys, caplog, argv, shown) -> None:
    """Opened with the credentials, shown without them: in the JSONL, the summary, the
    start line, the logs at DEBUG, the table, and the one-line error when it fails."""
    import logging

    monkeypatch.setattr(cv2, "getBuildInformation", lambda: GST_YES)
    recorder.count = None if argv[0] == "--gst" else 3
    caplog.set_level(logging.DEBUG)
    lines, summary, err = run_ok(argv + ["--frames", "2", "-vv"], tmp_path, capsys)
    assert recorder.calls[0][0] == argv[1]  # the real target was opened
    assert lines[0]["source"]["device"] == shown and summary["source_device"] == shown
    everything = ((tmp_path / "run.jsonl").read_text() + (tmp_path / "summary.json").read_text()
                  + err + caplog.text)
    assert SECRET not in everything and shown in err
    recorder.opens = False
    caplog.clear()
    assert run.main(argv + ["--headless", "-vv"]) == 2
    err = capsys.readouterr().err
    assert "cannot open it" in err and SECRET not in err + caplog.text


def test_a_capture_failure_quoting_the_url_is_redacted(caplog) -> None:
    """A backend's exception text may quote what it opened; the reader's failure message
    and its DEBUG log carry it redacted."""
    import logging

    from edge.errors import SourceError
    from edge.runtime.sources import FrameSource, LatestFrameReader

    class Failing(FrameSource):
        name, live = "rtsp://admin:***@cam/x", True

        def read(self):
            raise RuntimeError(f"cv2.error: could not read rtsp://admin:{SECRET}@cam/x")

    caplog.set_level(logging.DEBUG)
    reader = LatestFrameReader(Failing()).start()
    with pytest.raises(SourceError) as err:
        while reader.get(timeout=1.0) is None:
            pass
    reader.stop()
    assert "capture failed" in str(err.value) and "admin:***@cam" in str(err.value)
    assert SECRET not in str(err.value) + caplog.text
    # the traceback at DEBUG tells a programming error from a device failure, redacted
    debug = [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"
             and "Traceback" in r.getMessage()]
    assert debug and "in read" in debug[0] and "admin:***@cam/x" in debug[0]


def test_overlay_text_never_holds_the_source() -> None:
    """The overlay shows the model and the rate only: no URL can reach the video."""
    from edge.runtime.loop import RunSummary, StageStats, _overlay

    s = RunSummary(f"rtsp://u:{SECRET}@cam/x", "m", "onnxruntime", "fp32", "rtsp",
                   f"rtsp://u:{SECRET}@cam/x", frames=3)
    text = " ".join(_overlay(s, StageStats(), 0.0))
    assert "rtsp" not in text and SECRET not in text and "FPS" in text


X = "S3CRETX"  # every case below hides it; the expected text, where given, is exact


@pytest.mark.parametrize("url, shown", [
    # an "@" in the query is not the end of a userinfo
    (f"http://h/x?email=a@b.com&token={X}", "http://h/x?email=a@b.com&token=***"),
    (f"rtsp://u:{X}@h/x?next=a@b&sig={X}", "rtsp://u:***@h/x?next=a@b&sig=***"),
    (f"rtsp://h/x?token={X}@d", "rtsp://h/x?token=***"),
    (f"http://h/x?token={X}@d/e", "http://h/x?token=***"),
    # unencoded "@ / ? #" in the password
    (f"rtsp://u:p@{X}@h/x", "rtsp://u:***@h/x"),
    (f"rtsp://u:p/{X}@h/x", "rtsp://u:***@h/x"),
    (f"rtsp://u:p?{X}@h/x", "rtsp://u:***@h/x"),
    (f"rtsp://u:p#{X}@h/x", "rtsp://u:***@h/x"),
    (f"rtsp://u:p@s/{X}@h/x", "rtsp://u:***@h/x"),
    (f"rtsp://u:1/{X}@h:554/x", "rtsp://u:***@h:554/x"),
    (f"rtsp://u:p {X}@h/x", "rtsp://u:***@h/x"),
    (f"rtsp://u:{X}", None),  # cut at a space before its "@"
    # secret keys in the query, the fragment, after ";", whole names only
    (f"http://h/x#token={X}", "http://h/x#token=***"),
    (f"http://h/x?a=1;token={X}", "http://h/x?a=1;token=***"),
    (f"http://h/x?X-Amz-Signature={X}&X-Amz-Credential={X}&X-Amz-Security-Token={X}&"
     f"X-Amz-Date=20260101", "http://h/x?X-Amz-Signature=***&X-Amz-Credential=***&"
     "X-Amz-Security-Token=***&X-Amz-Date=20260101"),
    (f"http://h/x?sessionid={X}&session={X}&passphrase={X}",
     "http://h/x?sessionid=***&session=***&passphrase=***"),
    (f"srt://h:1?passphrase={X}", "srt://h:1?passphrase=***"),
    ("http://h/x?monkey=5&keyframes=3&turnkey=1", "http://h/x?monkey=5&keyframes=3&turnkey=1"),
    # not a well-formed URL: the userinfo is hidden all the same
    (f"rtsp:/u:{X}@h/x", "rtsp:/***@h/x"),
    (f"rtsp:u:{X}@h/x", "rtsp:***@h/x"),
    (f"u:{X}@h/x", "***@h/x"),
])
def test_redact_url_never_shows_a_secret(url, shown) -> None:
    from edge.runtime.sources import redact_url

    out = redact_url(url)
    assert X not in out and X[:4] not in out, out
    if shown is not None:
        assert out == shown


@pytest.mark.parametrize("text, shown", [
    (f"rtsp://u:p!{X}@h/x", "rtsp://u:***@h/x"),
    (f'rtspsrc location="rtsp://u:p {X}@h/x" ! appsink', 'rtspsrc location="rtsp://u:***@h/x" '
     "! appsink"),
    (f"rtspsrc location='rtsp://u:p\"{X}@h/x' ! appsink", "rtspsrc location='rtsp://u:***@h/x' "
     "! appsink"),
    (f'rtspsrc location="rtsp://u:p\\"{X}@h/x" ! appsink', 'rtspsrc location="rtsp://u:***@h/x"'
     ' ! appsink'),
    (f'rtspsrc location=rtsp://u:p"{X}@h/x ! appsink', "rtspsrc location=rtsp://u:***@h/x ! "
     "appsink"),
    (f"could not open rtsp://u:p {X}@h/x (timeout)", "could not open rtsp://u:***@h/x (timeout)"),
    (f"error opening 'rtsp://u:{X}@h/x': refused", "error opening 'rtsp://u:***@h/x': refused"),
    (f"location=rtsp://u:{X}@h/x?x=y&token={X}", "location=rtsp://u:***@h/x?x=y&token=***"),
    (f"uri=http://h/x?key={X}&channel=1 ! appsink", "uri=http://h/x?key=***&channel=1 ! appsink"),
    (f'location="rtsp://h/x user-pw={X} ! appsink', 'location="rtsp://h/x user-pw=*** ! appsink'),
    (f"rtspsrc location=rtsp://h/x user-pw=a\\ {X} ! appsink",
     "rtspsrc location=rtsp://h/x user-pw=*** ! appsink"),
    (f"souphttpsrc location=http://h/x user-pw=zz!{X} ! appsink",
     "souphttpsrc location=http://h/x user-pw=*** ! appsink"),
    (f'souphttpsrc extra-headers="Authorization: Basic {X}" ! appsink',
     "souphttpsrc extra-headers=*** ! appsink"),
    (f"sent Authorization: Bearer {X}", "sent Authorization: Bearer ***"),
    (f"awss3src secret-access-key={X} session-token={X} ! appsink",
     "awss3src secret-access-key=*** session-token=*** ! appsink"),
    (f"srtsrc uri=srt://h:1?passphrase={X} ! appsink", "srtsrc uri=srt://h:1?passphrase=*** ! "
     "appsink"),
    (f"a rtsp:/u:{X}@h/x", "a rtsp:/***@h/x"),
    (f"--rtsp rtsp:u:{X}@h/x", "--rtsp rtsp:***@h/x"),
    ("x264enc key-int-max=30 ! monkey=5 keyframes=3 location=/tmp/a.mp4",
     "x264enc key-int-max=30 ! monkey=5 keyframes=3 location=/tmp/a.mp4"),
])
def test_redact_text_never_shows_a_secret(text, shown) -> None:
    from edge.runtime.sources import redact_text

    out = redact_text(text)
    assert X not in out and X[:4] not in out, out
    assert out == shown


def test_random_passwords_with_delimiters_are_never_shown() -> None:
    """3,000 seeded passwords holding up to three of ``@ / ? # : ! space " ' & ; = % \``,
    in URLs and in the texts that quote them (escaped where a pipeline would be): no
    reading of a URL shows any part of the password, nor the query's token."""
    import random

    from edge.runtime.sources import redact_text, redact_url

    rng = random.Random(0)
    urls = ["rtsp://admin:{p}@10.0.0.5:554/s", "rtsp://admin:{p}@cam/x?token=T0KEN",
            "http://u:{p}@h/a.mp4?x=1", "rtsps://u:{p}@[fe80::1]:322/x"]
    texts = ['rtspsrc location="{u}" latency=0 ! appsink', "error opening '{u}'",
             "could not open {u}: refused", "rtspsrc location={u} ! decodebin ! appsink"]
    for _ in range(3000):
        core = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        chars = list(core)
        for _ in range(rng.randint(0, 3)):
            chars.insert(rng.randint(0, len(chars)), rng.choice("@/?#:! \"'&;=%\\"))
        password = "".join(chars)
        url, text = rng.choice(urls).format(p=password), rng.choice(texts)
        quote = text[text.index("{u}") - 1]
        if quote in "\"'":  # written as the pipeline's parser reads it
            url_in_text = url.replace("\\", "\\\\").replace(quote, "\\" + quote)
        elif any(c in password for c in " \"'"):
            continue  # unquoted, a space or quote would not survive the pipeline's parser
        else:
            url_in_text = url
        for out in (redact_url(url), redact_text(text.format(u=url_in_text))):
            assert core[:4] not in out and core[4:] not in out and "T0KEN" not in out, \
                (password, out)


@pytest.mark.parametrize("argv", [
    ["--gst", "rtspsrc location=rtsp://u:p!w@h/x ! appsink"],
    ["--gst", 'rtspsrc location="rtsp://u:p w@h/x" ! appsink'],
    ["--video", "http://user@h/a.mp4"],  # nothing to redact, but a userinfo all the same
    ["--rtsp", "rtsp://u:pw@h/x"],
])
def test_credentials_keep_the_video_libraries_quiet_even_with_v(recorder, monkeypatch, argv,
                                                                capsys) -> None:
    """-v lets OpenCV and FFmpeg talk, except for a source that carries credentials: they
    print the URL or pipeline they open."""
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL", raising=False)
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: GST_YES)
    recorder.opens = False
    assert run.main(argv + ["-v", "--headless"]) == 2
    assert os.environ.get("OPENCV_FFMPEG_LOGLEVEL") == "-8"
    assert "the source carries credentials" in capsys.readouterr().err
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL")
    assert run.main(["--video", "clip-without-secrets.mp4", "-v", "--headless"]) == 2
    assert "OPENCV_FFMPEG_LOGLEVEL" not in os.environ  # -v alone lets them talk
    assert "credentials" not in capsys.readouterr().err


@pytest.mark.parametrize("url", [f"rtsp:/u:{X}@h/x", f"u:{X}@h/x", f"rtsp:u:{X}@h/x"])
def test_a_malformed_rtsp_url_is_refused_without_its_password(recorder, url, capsys) -> None:
    assert run.main(["--rtsp", url, "--headless"]) == 2
    line = one_line_error(capsys)
    assert "not an RTSP URL" in line and X not in line and "***@h/x" in line


@pytest.mark.parametrize("password", ["p!w x", 'p"w\\q', "p'w"])
def test_rtsp_location_is_quoted_in_the_gstreamer_pipeline(monkeypatch, password) -> None:
    """A "!" or a space in the password cannot split the pipeline: GStreamer's own parser
    reads the location back whole (run where the system Python has gi)."""
    from edge.runtime import sources
    from tests.rtsp_server import server_python, unavailable_reason

    monkeypatch.setattr(sources, "_has_gstreamer", lambda: True)
    url = f"rtsp://u:{password}@h/x"
    pipe = sources.rtsp_source(url, 0).target
    assert isinstance(pipe, str) and pipe.startswith('rtspsrc location="')
    if unavailable_reason() is not None:
        pytest.skip("no system Python with GStreamer's gi to parse the pipeline")
    code = ("import sys, gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; "
            "Gst.init(None); p = Gst.parse_launch(sys.argv[1].replace('rtspsrc ', "
            "'rtspsrc name=s ', 1)); sys.stdout.write(p.get_by_name('s').get_property("
            "'location'))")
    proc = subprocess.run([server_python(), "-c", code, pipe], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == url


def test_redact_url_and_text() -> None:
    from edge.runtime.sources import redact_text, redact_url

    assert redact_url("rtsp://a:b@h:554/p?x=1&key=k") == "rtsp://a:***@h:554/p?x=1&key=***"
    assert redact_url("rtsp://a:p/w#d@h/p") == "rtsp://a:***@h/p"  # unencoded "/" and "#"
    assert redact_url("rtsp://h/p") == "rtsp://h/p" and redact_url("rtsp://a@h/p") == \
        "rtsp://a@h/p"
    assert redact_text("x location='rtsp://u:p@h/s' proxy-pw=\"a b\" ! appsink") == \
        "x location='rtsp://u:***@h/s' proxy-pw=*** ! appsink"


def test_video_file_is_opened_by_path(recorder, tmp_path, capsys) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"stand-in: the recorder decodes it")
    recorder.count = 4
    lines, summary, _ = run_ok(["--video", str(clip)], tmp_path, capsys)
    assert recorder.calls[0][:2] == (str(clip), cv2.CAP_ANY)
    assert len(lines) == 4 and summary["frames"] == 4
    assert lines[0]["source"] == {"kind": "video", "device": str(clip)}
    assert "media_time" in lines[1]


def test_image_folder_and_demo_never_touch_a_capture(recorder, tmp_path, capsys) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((64, 80, 3), 90, np.uint8))
    lines, _, _ = run_ok(["--images", str(folder)], tmp_path, capsys)
    assert lines[0]["source"] == {"kind": "images", "device": str(folder)}
    lines, summary, err = run_ok(["--frames", "2"], tmp_path, capsys)  # no source option
    assert "no source option given: running the built-in demo scene" in err
    assert lines[0]["source"]["kind"] == "demo" and summary["source_kind"] == "demo"
    assert recorder.calls == []


def test_demo_size_is_reported_height_by_width(recorder, tmp_path, capsys) -> None:
    _, summary, _ = run_ok(["--demo", "--demo-size", "96", "160", "--frames", "1"], tmp_path,
                           capsys)
    assert summary["source_device"].startswith("scene 96x160 (HxW")


# --------------------------------------------------------------------------- 0 and empty


@pytest.mark.parametrize("argv, needle", [
    (["--camera", "-1"], "--camera -1: a device index is 0 or more"),
    (["--csi", "-1"], "--csi -1: a device index is 0 or more"),
    (["--video", ""], "--video: empty value"),
    (["--images", ""], "--images: empty value"),
    (["--rtsp", ""], "--rtsp: empty value"),
    (["--gst", ""], "--gst: empty value"),
    (["--frames", "0"], "--frames 0: give at least 1"),
    (["--frames", "-3"], "--frames -3: give at least 1"),
    (["--threads", "0"], "--threads 0: give at least 1 core"),
    (["--threads", "-1"], "--threads -1: give at least 1 core"),
    (["--score-threshold", "2"], "--score-threshold 2: a detection score is between 0 and 1"),
    (["--score-threshold", "-1"], "--score-threshold -1"),
    (["--reconnect-timeout", "-1"], "--reconnect-timeout -1"),
    (["--demo-size", "0", "0"], "--demo-size 0 0: the demo scene needs at least 64x64"),
    (["--demo-size", "-5", "10"], "--demo-size -5 10"),
    (["--camera", "0", "--demo-size", "480", "640"], "--demo-size applies to --demo only"),
    (["--demo", "--csi-size", "480", "640"], "--csi-size applies to --csi only"),
    (["--demo", "--rtsp-latency", "0"], "--rtsp-latency applies to --rtsp only"),
    (["--rtsp", "rtsp://cam/x", "--rtsp-latency", "-1"], "--rtsp-latency -1"),
    (["--model", ""], "--model: empty value"),
    (["--output", ""], "--output: empty value"),
    (["--json", ""], "--json: empty value"),
    (["--summary", ""], "--summary: empty value"),
])
def test_invalid_zero_negative_and_empty_values_are_refused(recorder, argv, needle,
                                                            capsys) -> None:
    assert run.main(argv + ["--headless"]) == 2
    assert needle in one_line_error(capsys)
    assert recorder.calls == []  # refused before any device is opened


def test_csi_size_zero_is_refused(recorder, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: GST_YES)
    assert run.main(["--csi", "0", "--csi-size", "0", "0", "--headless"]) == 2
    assert "--csi-size 0 0" in one_line_error(capsys)
    assert recorder.calls == []


def test_valid_zeros_reach_the_run(recorder, monkeypatch, tmp_path, capsys) -> None:
    """--score-threshold 0 keeps every detection; --reconnect-timeout 0 ends a live run at
    the first stall; both must reach the pipeline and the loop as 0, not as defaults."""
    from edge.runtime import loop, model

    seen: dict[str, object] = {}
    real_from_dir, real_run = model.Pipeline.from_dir.__func__, loop.run_stream

    def from_dir(cls, *a, **kw):
        seen.update(kw)
        return real_from_dir(cls, *a, **kw)

    def run_stream(*a, **kw):
        seen["reconnect_timeout"] = kw["reconnect_timeout"]
        return real_run(*a, **kw)

    monkeypatch.setattr(model.Pipeline, "from_dir", classmethod(from_dir))
    monkeypatch.setattr(loop, "run_stream", run_stream)
    lines, _, _ = run_ok(["--camera", "0", "--frames", "2", "--score-threshold", "0",
                          "--reconnect-timeout", "0"], tmp_path, capsys)
    assert seen["score_threshold"] == 0.0 and seen["reconnect_timeout"] == 0.0
    assert seen["threads"] is None
    assert len(lines) == 2


# --------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("same", [("--json", "--summary"), ("--output", "--json"),
                                  ("--output", "--summary")])
def test_two_outputs_on_one_path_are_refused(same, tmp_path, capsys) -> None:
    path = tmp_path / ("x.mp4" if "--output" in same else "x.jsonl")
    path.write_text("keep me")
    argv = ["--demo", "--headless", "--frames", "1"]
    for option in same:
        argv += [option, str(path)]
    assert run.main(argv) == 2
    line = one_line_error(capsys)
    assert f"given to both {same[0]} and {same[1]}" in line
    assert path.read_text() == "keep me"


def test_output_over_its_own_input_video_is_refused(tmp_path, capsys) -> None:
    clip = tmp_path / "in.mp4"
    clip.write_bytes(b"precious footage")
    assert run.main(["--video", str(clip), "--output", str(tmp_path / "." / "in.mp4"),
                     "--headless"]) == 2
    assert "given to both --video and --output" in one_line_error(capsys)
    assert clip.read_bytes() == b"precious footage"


def test_images_of_every_size_and_kind_all_reach_the_video(tmp_path, capsys) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    rng = np.random.default_rng(3)
    cv2.imwrite(str(folder / "0_first.png"), rng.integers(0, 256, (240, 320, 3), np.uint8))
    cv2.imwrite(str(folder / "1_odd.png"), rng.integers(0, 256, (481, 481, 3), np.uint8))
    cv2.imwrite(str(folder / "2_grey.png"), rng.integers(0, 256, (200, 300), np.uint8))
    cv2.imwrite(str(folder / "3_rgba.png"), rng.integers(0, 256, (120, 160, 4), np.uint8))
    cv2.imwrite(str(folder / "4_16bit.png"), rng.integers(0, 65535, (100, 90, 3), np.uint16))
    cv2.imwrite(str(folder / "5_strip.png"), rng.integers(0, 256, (100, 2000, 3), np.uint8))
    cv2.imwrite(str(folder / "6_hd.jpg"), rng.integers(0, 256, (720, 1280, 3), np.uint8))
    out, js = tmp_path / "mixed.mp4", tmp_path / "mixed.jsonl"
    assert run.main(["--images", str(folder), "--headless", "--output", str(out),
                     "--json", str(js)]) == 0
    assert video_frames(out) == (7, (240, 320))
    sizes = [json.loads(s)["stages_ms"] for s in js.read_text().splitlines()]
    assert len(sizes) == 7
    assert "7 frames from images" in capsys.readouterr().out


def test_letterbox_keeps_the_aspect_ratio() -> None:
    from edge.runtime.sinks import letterbox

    frame = np.full((100, 400, 3), 200, np.uint8)
    out = letterbox(frame, (240, 320), cv2)
    assert out.shape == (240, 320, 3)
    assert (out[:80] == 0).all() and (out[160:] == 0).all() and (out[81:159] == 200).all()


# --------------------------------------------------------------------------- rendering


def test_first_frame_overlay_says_measuring_not_zero_fps() -> None:
    from edge.runtime.loop import RunSummary, StageStats, _overlay

    s = RunSummary("demo", "m", "onnxruntime", "fp32")
    lines = _overlay(s, StageStats(8), 0.0)
    assert lines == ["m | onnxruntime fp32 | measuring..."]


def _instance_result(boxes: list[list[float]], hw: tuple[int, int]):
    from edge.runtime.model import FrameResult

    n = len(boxes)
    return FrameResult("instance", ("person",), hw, boxes=np.array(boxes, np.float32),
                       scores=np.full(n, 0.9, np.float32), classes=np.zeros(n, np.int64),
                       instance_map=np.zeros(hw, np.int32))


def test_overlay_text_stays_inside_its_panel_and_labels_clear_it() -> None:
    from edge.runtime.render import Renderer

    hw = (240, 320)
    frame = np.full((*hw, 3), 128, np.uint8)
    lines = ["ssd-isb-multi-shape | onnxruntime fp32 | 37.2 FPS", "ms: detector 5.1 paste 1.9"]
    r = Renderer()
    out = r(frame, _instance_result([], hw), lines).copy()
    x1, y1, x2, y2 = r._panel_rect(lines, out.shape)
    outside = np.ones(hw, bool)
    outside[y1:y2, x1:x2] = False
    # no stroke outside the panel (a thick shadow left ghost letters like "FPS PS" there)
    assert (out[outside] == 128).all() and (out[y1:y2, x1:x2] > 128).any()
    # a box touching the top edge under the panel: its label tag goes below the panel
    res = _instance_result([[4, 0, 120, 200]], hw)
    out = r(frame, res, lines)
    colour = tuple(int(c) for c in r._lut[1])
    tag_rows = np.flatnonzero((out[:, 10:60] == colour).all(axis=2).sum(axis=1) > 30)
    assert tag_rows.size and tag_rows.min() >= y2


def test_semantic_output_uses_the_dataset_palette_and_a_legend() -> None:
    from edge.data.synth import PALETTE, SEMANTIC_CLASSES
    from edge.runtime.model import FrameResult
    from edge.runtime.render import Renderer

    hw = (120, 160)
    labels = np.zeros(hw, np.uint8)  # sky
    labels[60:, :] = SEMANTIC_CLASSES.index("road")
    res = FrameResult("semantic", SEMANTIC_CLASSES, hw, labels=labels)
    frame = np.zeros((*hw, 3), np.uint8)
    r = Renderer(alpha=1.0)
    out = r(frame, res)
    sky, road = PALETTE[SEMANTIC_CLASSES.index("sky")], PALETTE[SEMANTIC_CLASSES.index("road")]
    assert tuple(sky) == (180, 130, 70) and tuple(road) == (128, 64, 128)  # Cityscapes, BGR
    assert (out[5, 150] == sky).all() and (out[62, 150] == road).all()  # away from the legend
    legend = out[hw[0] - 40:, :60]
    assert not (legend == road).all(axis=2).all()  # the legend panel is drawn there
    plain = Renderer(alpha=1.0, legend=False)(frame, res)
    assert (plain[hw[0] - 40:, :60] == road).all()


def test_semantic_run_writes_classes_and_refuses_a_score_threshold(tmp_path, capsys) -> None:
    torch = pytest.importorskip("torch")
    from edge.data.synth import SEMANTIC_CLASSES
    from edge.export.onnx_export import export_onnx
    from edge.models.zoo import create

    torch.manual_seed(0)
    desc, model = create("mobilenet-fcn32", alpha=0.25, input_size=(64, 64),
                         class_names=SEMANTIC_CLASSES)
    export_onnx(desc, model.eval(), tmp_path / "fcn", fp16=False)
    assert run.main(["--model", str(tmp_path / "fcn"), "--demo", "--demo-size", "64", "64",
                     "--score-threshold", "0.5", "--headless"]) == 2
    assert "semantic model" in one_line_error(capsys)
    lines, _, _ = run_ok(["--model", str(tmp_path / "fcn"), "--demo", "--demo-size", "64", "96",
                          "--frames", "2", "--output", str(tmp_path / "sem.mp4")], tmp_path,
                         capsys)
    assert set(lines[0]["classes"]) <= set(SEMANTIC_CLASSES) and lines[0]["classes"]
    assert video_frames(tmp_path / "sem.mp4") == (2, (64, 96))


# --------------------------------------------------------------------------- the Python API


def test_pipeline_refuses_an_empty_or_wrong_frame_in_one_line() -> None:
    from edge.runtime.model import Pipeline

    with Pipeline.from_dir("demo") as p:
        for bad in (np.zeros((0, 0, 3), np.uint8), np.zeros((8, 8), np.uint8),
                    np.zeros((8, 8, 3), np.float32), "frame.jpg"):
            with pytest.raises(ConfigError, match="expected a uint8 BGR image"):
                p(bad)
        with pytest.raises(ConfigError, match="threads=0"):
            Pipeline.from_dir("demo", threads=0)


def test_missing_tensorrt_hint_reads_as_one_instruction() -> None:
    from edge.errors import MissingDependencyError
    from edge.optional import available, require

    if available("tensorrt"):
        pytest.skip("TensorRT is installed here")
    with pytest.raises(MissingDependencyError) as err:
        require("tensorrt")
    text = str(err.value)
    assert "install it with: install" not in text and "JetPack" in text


def test_a_closed_pipe_on_stdout_is_not_an_internal_error() -> None:
    """``edge-build models --json | head -1``: the reader goes away after one line."""
    pytest.importorskip("torch")
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli.build", "models", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"["
    proc.stdout.close()  # what head does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and err == "", err


def test_a_source_that_does_not_open_still_closes_the_pipeline(recorder, monkeypatch,
                                                               capsys) -> None:
    """The pipeline holds a device context on the GPU path: a missing camera must close
    it (pycuda aborts at exit with a context left pushed)."""
    from edge.runtime.model import Pipeline

    closed = []
    real = Pipeline.close
    monkeypatch.setattr(Pipeline, "close", lambda self: (closed.append(1), real(self)))
    recorder.opens = False
    assert run.main(["--camera", "0", "--headless"]) == 2
    assert "cannot open it" in one_line_error(capsys) and closed
