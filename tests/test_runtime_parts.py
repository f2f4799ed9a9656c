"""Runtime building blocks without a model: RLE, stream preprocessing, the capture thread,
statistics and rendering."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge import catalog, rle
from edge.errors import SourceError
from edge.preprocess import Preprocessor, preprocess
from edge.runtime.loop import StageStats
from edge.runtime.model import thread_plan
from edge.runtime.sources import CorruptFrame, FrameSource, LatestFrameReader


@pytest.mark.parametrize("seed", range(4))
def test_rle_matches_pycocotools_byte_for_byte(seed: int) -> None:
    mu = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(seed)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        m = rng.random((h, w)) < rng.random()
        m[rng.integers(0, h):, :] &= bool(rng.integers(0, 2))  # long runs as well
        ours = rle.encode(m)
        ref = mu.encode(np.asfortranarray(m.astype(np.uint8)))
        assert ours["counts"] == ref["counts"].decode("ascii")
        assert ours["size"] == [h, w]
        assert np.array_equal(rle.decode(ours), m)


def test_rle_edge_cases_round_trip() -> None:
    for m in (np.zeros((5, 7), bool), np.ones((5, 7), bool), np.eye(9, dtype=bool),
              np.zeros((1, 1), bool), np.ones((1, 1), bool)):
        assert np.array_equal(rle.decode(rle.encode(m)), m)
    big = np.zeros((400, 300), bool)
    big[10:390, 20:280] = True  # counts above 2^15 need several characters
    assert np.array_equal(rle.decode(rle.encode(big)), big)


@pytest.mark.parametrize("use_cv2", [True, False])
@pytest.mark.parametrize("frame_hw", [(480, 640), (97, 131), (1080, 1920), (480, 480)])
def test_stream_preprocessing_equals_the_reference(use_cv2: bool, frame_hw) -> None:
    if use_cv2:
        pytest.importorskip("cv2")
    desc = catalog.describe("ssd-isb-multi-shape", input_size=(256, 320))
    frame = np.random.default_rng(0).integers(0, 256, (*frame_hw, 3), dtype=np.uint8)
    p = Preprocessor(desc, use_cv2=use_cv2)
    out = p(frame)
    # float32 rounding only: within 1e-6 as docs/runtime.md says (measured: <= 3.6e-7)
    np.testing.assert_allclose(out[0], preprocess(frame, desc), rtol=0, atol=1e-6)
    assert p(frame) is out  # the buffer is reused


def test_thread_plan_never_oversubscribes() -> None:
    for cores in (1, 2, 4, 6, 8, 16):
        for branches in (1, 3, 10):
            det, workers, per = thread_plan(cores, branches)
            assert det == cores and workers <= min(cores, branches) and workers * per <= cores


def test_stage_stats_ring_buffer_keeps_memory_fixed() -> None:
    s = StageStats(capacity=100)
    for i in range(1000):
        s.add({"detector": float(i % 10), "crop": 1.0})
    out = s.summary()
    assert out["detector"]["count"] == 1000 and out["detector"]["p50"] == pytest.approx(4.5)
    assert list(out) == ["detector", "crop"]  # pipeline order, not insertion order
    assert s._buf["detector"].shape == (100,)


class FlakyCamera(FrameSource):
    """A live source scripted by a list: 'f' frame, 'x' no frame (stopped), 'c' corrupt;
    reopening fails while ``down`` is true."""

    live = True
    name = "flaky camera"

    def __init__(self, script: str) -> None:
        self.script = list(script)
        self.opens = 0
        self.down = False
        self.n = 0

    def open(self) -> None:
        self.opens += 1
        if self.down:
            raise SourceError("flaky camera: cannot open it")

    def read(self):
        time.sleep(0.002)
        step = self.script.pop(0) if self.script else "x"
        if step == "c":
            raise CorruptFrame("bad frame")
        if step == "x":
            return None
        self.n += 1
        return np.full((4, 4, 3), self.n % 256, np.uint8)


def test_reader_keeps_only_the_newest_frame() -> None:
    cam = FlakyCamera("f" * 50)
    reader = LatestFrameReader(cam, reconnect_timeout=0.05, backoff=0.01).start()
    try:
        time.sleep(0.3)  # the consumer is "slow": 50 frames arrive meanwhile
        frame = reader.get(timeout=1.0)
        assert frame is not None and int(frame[0, 0, 0]) == 50
        assert reader.stats.dropped == 49
    finally:
        reader.stop()


def test_reader_reopens_a_dead_source_with_backoff_and_survives() -> None:
    cam = FlakyCamera("ffc" + "x" + "fff")
    got = []
    reader = LatestFrameReader(cam, reconnect_timeout=5.0, backoff=0.01, max_backoff=0.05)
    reader.start()
    try:
        cam.down = True  # the first reopen attempts fail ...
        threading.Timer(0.08, lambda: setattr(cam, "down", False)).start()  # ... then it returns
        deadline = time.monotonic() + 3.0
        while len(got) < 3 and time.monotonic() < deadline:
            f = reader.get(timeout=0.1)
            if f is not None:
                got.append(int(f[0, 0, 0]))
        assert got and got[-1] >= 3  # frames after the outage arrived
        assert reader.stats.reconnects >= 2 and reader.stats.corrupt == 1
    finally:
        reader.stop()


def test_reader_backoff_doubles_from_a_quarter_second_to_four_seconds() -> None:
    """The exact delays between reopen attempts, on a fake clock: 0.25, 0.5, 1, 2, 4, 4,
    ... until the reconnect timeout (20 s here) has passed."""
    now = [0.0]
    delays: list[float] = []

    def wait(seconds: float) -> bool:
        delays.append(seconds)
        now[0] += seconds
        return False

    cam = FlakyCamera("")
    cam.down = True  # never comes back
    reader = LatestFrameReader(cam, reconnect_timeout=20.0, clock=lambda: now[0], wait=wait)
    assert reader._reconnect() is False
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert reader.stats.reconnects == len(delays)


def test_reader_gives_up_after_the_reconnect_timeout() -> None:
    cam = FlakyCamera("f")
    reader = LatestFrameReader(cam, reconnect_timeout=0.1, backoff=0.02, max_backoff=0.04)
    reader.start()
    cam.down = True
    try:
        assert reader.get(timeout=1.0) is not None
        with pytest.raises(SourceError, match="reconnect-timeout"):
            for _ in range(50):
                reader.get(timeout=0.1)
    finally:
        reader.stop()


# ------------------------------------------------------------ damaged or truncated files


class ScriptedCapture:
    """cv2.VideoCapture stand-in: 'f' a frame, 'x' a failed read; failed reads forever after."""

    def __init__(self, script: str) -> None:
        self.script = list(script)

    def read(self):
        step = self.script.pop(0) if self.script else "x"
        return (True, np.zeros((4, 4, 3), np.uint8)) if step == "f" else (False, None)

    def release(self) -> None:
        pass


class ScriptedFile:
    """A video file source over a ScriptedCapture, through CaptureSource.read."""

    def __new__(cls, script: str, frames_total: int):
        from edge.runtime.sources import CaptureSource

        src = CaptureSource("clip.mp4", "clip.mp4", live=False, hint="", kind="video")
        src.open = lambda: None  # already "open"
        src.cap, src.frames_total, src.fps = ScriptedCapture(script), frames_total, None
        return src


class CountingPipeline:
    class desc:  # noqa: N801
        name = "fake"

    backend_name, precision = "fake", "fp32"

    def __call__(self, frame, sw):
        return None


def run_file(script: str, frames_total: int):
    from edge.runtime.loop import Outputs, run_stream

    return run_stream(CountingPipeline(), ScriptedFile(script, frames_total), Outputs())


def test_a_complete_file_ends_cleanly() -> None:
    s = run_file("f" * 40, 40)
    assert (s.frames, s.corrupt, s.frames_expected, s.frames_unread, s.truncated, s.error) == \
        (40, 0, 40, 0, False, None)


def test_a_few_bad_frames_are_skipped_counted_and_warned(caplog) -> None:
    s = run_file("f" * 10 + "x" * 5 + "f" * 25, 40)
    assert (s.frames, s.corrupt, s.truncated, s.error) == (35, 5, False, None)
    assert (s.frames_expected, s.frames_unread, s.frames_undecodable) == (40, 5, 5)
    assert any("5 of its 40 frames undecodable" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)
    # one WARNING for the damaged stretch, naming its frames, not one per frame
    assert sum("frames 10-14 undecodable" in r.getMessage() for r in caplog.records) == 1


def test_a_file_that_stops_before_its_declared_length_is_an_error_naming_the_frame() -> None:
    """Decoding stops at frame 90 of 100: not the end of the file (edge-run exits 2)."""
    s = run_file("f" * 90, 100)
    assert (s.frames, s.frames_expected, s.frames_unread) == (90, 100, 10)
    assert s.truncated and s.error is not None and "\n" not in s.error
    assert "clip.mp4: decoding stopped at frame 90 of 100" in s.error
    # one frame short is within what a container's estimated count can be off by
    s = run_file("f" * 99, 100)
    assert (s.frames, s.error, s.truncated) == (99, None, False)


def test_a_damaged_file_is_not_taken_for_its_end() -> None:
    """40 undecodable frames in a row in the middle, more than MAX_BAD_RUN (25) in one
    stretch: the frames after them are still read and kept, and the run ends with an
    error (edge-run exits 2) naming the stretch."""
    s = run_file("f" * 10 + "x" * 40 + "f" * 50, 100)
    assert s.frames == 60 and s.corrupt == 40  # read on past the damage to the last frame
    assert (s.frames_expected, s.frames_unread, s.frames_undecodable) == (100, 40, 40)
    assert s.undecodable_longest_run == 40 and s.ended == "end of file"
    assert s.error is not None and "frames 10-49 undecodable, 40 in a row" in s.error
    assert "40 of its 100 frames undecodable" in s.error
    assert "\n" not in s.error and "clip.mp4" in s.error


def test_sporadic_undecodable_frames_over_a_long_file_are_reported_not_fatal(caplog) -> None:
    """A long recording with packet loss here and there: 30 single undecodable frames in
    1,200 (2.5%, never more than one in a row) decode to the end: a WARNING and the total
    in the summary, exit 0 (more than 25 in all failed the run before)."""
    s = run_file(("f" * 20 + "x" + "f" * 19) * 30, 1200)
    assert (s.frames, s.corrupt, s.frames_undecodable, s.undecodable_longest_run) == \
        (1170, 30, 30, 1)
    assert s.error is None and s.ended == "end of file" and not s.truncated
    assert any("30 of its 1200 frames undecodable" in r.getMessage()
               and r.levelname == "WARNING" for r in caplog.records)


def test_undecodable_share_above_ten_percent_fails_the_run() -> None:
    """Short stretches only (3 in a row), but 30% of the file: a damaged file, exit 2.
    (A few bad frames in a short clip, 25 or fewer, are reported whatever their share.)"""
    s = run_file(("xxx" + "f" * 7) * 30, 300)
    assert (s.frames, s.frames_undecodable, s.undecodable_longest_run) == (210, 90, 3)
    assert s.error is not None and "90 of its 300 frames undecodable (30%" in s.error
    assert s.failed == "source" and "\n" not in s.error
    s = run_file(("x" + "f" * 19) * 15, 300)  # 5%: reported, not fatal
    assert (s.frames_undecodable, s.error) == (15, None)


class StampedCapture:
    """cv2.VideoCapture stand-in with timestamps: each step is a frame's POS_MSEC, or None
    for a failed read; failed reads forever after. ``backend`` is what getBackendName
    says (timestamps are trusted from FFmpeg only)."""

    def __init__(self, stamps: list[float | None], backend: str = "FFMPEG") -> None:
        self.stamps, self.backend, self.pos, self.reads = list(stamps), backend, 0.0, 0

    def read(self):
        self.reads += 1
        step = self.stamps.pop(0) if self.stamps else None
        if step is None:
            return False, None
        self.pos = step
        return True, np.zeros((4, 4, 3), np.uint8)

    def get(self, prop: int) -> float:
        return self.pos

    def getBackendName(self) -> str:  # noqa: N802 (OpenCV's name)
        return self.backend

    def release(self) -> None:
        pass


def run_stamped(stamps: list[float | None], frames_total: int, fps: float,
                backend: str = "FFMPEG"):
    from edge.runtime.loop import Outputs, run_stream

    src = ScriptedFile("", frames_total)
    src.cap, src.fps = StampedCapture(stamps, backend), fps
    cap = src.cap
    return run_stream(CountingPipeline(), src, Outputs()), src, cap


def steps(*stretches: tuple[int, float]) -> list[float]:
    """Timestamps (ms) of consecutive stretches of (frames, fps)."""
    out, t = [], 0.0
    for n, fps in stretches:
        for _ in range(n):
            out.append(t)
            t += 1000.0 / fps
    return out


@pytest.mark.parametrize("name, stamps, fps", [
    # a phone's variable frame rate: 30 FPS with a 20 FPS stretch; the average rate
    ("vfr", steps((200, 30), (200, 20), (200, 30)), 600 / 24.0),
    ("vfr, r_frame_rate", steps((200, 30), (200, 20), (200, 30)), 30.0),
    ("alternating", steps(*[(1, 30), (1, 15)] * 150), 20.0),
    # timestamps that start 2 s in
    ("offset", [2000 + 40.0 * i for i in range(600)], 25.0),
    # B-frames: presentation order differs from decode order
    ("b-frames", [40.0 * (i + (2 if i % 3 == 1 else -1 if i % 3 == 2 else 0))
                  for i in range(600)], 25.0),
])
def test_healthy_files_have_no_undecodable_frames_whatever_their_timestamps(
        name, stamps, fps) -> None:
    """Frames were inferred lost from the timestamps against the average rate: a VFR
    file's slow stretch counted as damage and exited 2. With every read succeeding,
    nothing is lost."""
    s, _, _ = run_stamped(stamps, 600 if name != "alternating" else 300, fps)
    assert (s.corrupt, s.frames_undecodable, s.error, s.truncated) == (0, 0, None, False)
    assert s.frames == len(stamps)


def test_a_gap_after_failed_reads_is_measured_in_the_local_frame_interval() -> None:
    """Two failed reads in a 20 FPS stretch of a file averaging 25 FPS: the timestamp gap
    is three local intervals (150 ms), two frames lost, not the 3 the average gives."""
    stamps: list[float | None] = steps((100, 30), (100, 20))
    stamps[150:152] = [None, None]
    s, src, _ = run_stamped(stamps, 200, 25.0)
    assert (s.frames, s.corrupt, s.frames_undecodable, s.error) == (198, 2, 2, None)
    assert src.media_index == 199 and src.media_time == pytest.approx(stamps[-1] / 1000)


def test_timestamps_of_other_backends_are_not_trusted() -> None:
    """GStreamer's positions are not the file's timestamps: each failed read counts one."""
    stamps: list[float | None] = [5000.0 * i for i in range(100)]  # nonsense jumps
    stamps[40:43] = [None] * 3
    s, _, _ = run_stamped(stamps, 100, 25.0, backend="GSTREAMER")
    assert (s.frames, s.frames_undecodable, s.error) == (97, 3, None)


def test_an_estimated_frame_count_past_the_last_timestamp_is_not_a_cut() -> None:
    """A VFR Matroska file: its count is duration x the nominal rate (212 for 180
    frames); its timestamps reach the declared duration, so it ended, not stopped."""
    stamps = steps((60, 30), (60, 20), (60, 30))  # 7 s
    s, _, _ = run_stamped(stamps, 212, 212 / 7.0)
    assert (s.frames, s.error, s.truncated, s.ended) == (180, None, False, "end of file")
    # the same file cut at 4 s: its timestamps stop short of the declared 7 s
    s, _, _ = run_stamped(stamps[:90], 212, 212 / 7.0)
    assert s.truncated and "decoding stopped at frame 90 of 212" in (s.error or "")


def test_the_end_of_file_reads_are_bounded_when_the_count_is_garbage() -> None:
    """A declared count of a million for a 100-frame file: at most MAX_BAD_RUN x 40 reads
    past the end, not a million (2**31 took minutes)."""
    from edge.runtime.sources import MAX_BAD_RUN

    s, _, cap = run_stamped([40.0 * i for i in range(100)], 1_000_000, 0.0)
    assert cap.reads <= 100 + 1 + MAX_BAD_RUN * 40
    assert s.frames == 100 and s.truncated  # taken at its word: it stopped early


def test_an_implausible_frame_count_is_taken_as_unknown(monkeypatch, caplog) -> None:
    cv2 = pytest.importorskip("cv2")
    from edge.runtime.sources import CaptureSource

    class Garbage:
        def __init__(self, *a) -> None:
            pass

        def isOpened(self) -> bool:  # noqa: N802
            return True

        def get(self, prop: int) -> float:
            return 2.0 ** 31 if prop == cv2.CAP_PROP_FRAME_COUNT else 25.0

        def release(self) -> None:
            pass

    monkeypatch.setattr(cv2, "VideoCapture", Garbage)
    src = CaptureSource("x.ts", "x.ts", live=False, hint="", kind="video")
    src.open()
    assert src.frames_total == 0
    assert any("x.ts" in r.getMessage() and "2147483648" in r.getMessage()
               and r.levelname == "WARNING" for r in caplog.records)


def test_unknown_length_looks_past_bad_frames_before_calling_it_the_end() -> None:
    s = run_file("f" * 10 + "x" * 7 + "f" * 5, 0)  # damage in the middle: not the end
    assert (s.frames, s.corrupt, s.frames_expected, s.error) == (15, 7, None, None)
    s = run_file("f" * 10, 0)  # the real end: nothing after 25 more reads
    assert (s.frames, s.corrupt, s.error) == (10, 0, None)


def test_edge_run_exits_2_with_one_line_on_a_damaged_file(monkeypatch, tmp_path,
                                                          capsys) -> None:
    import json

    pytest.importorskip("onnxruntime")
    from edge.cli import run
    from edge.runtime import loop

    damaged = run_file("f" * 3 + "x" * 60, 63)
    monkeypatch.setattr(loop, "run_stream", lambda *a, **k: damaged)
    summary = tmp_path / "s.json"
    assert run.main(["--demo", "--headless", "--frames", "3", "--summary", str(summary)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines()
           if line.startswith("edge-run: error:")]
    assert len(err) == 1 and "clip.mp4: decoding stopped at frame 3 of 63" in err[0]
    s = json.loads(summary.read_text())
    assert s["truncated"] is True and (s["frames_expected"], s["frames_unread"]) == (63, 60)


# ------------------------------------------------------------ manifests and engine folders


def _demo_manifest() -> dict:
    import json

    from edge.runtime.model import DEMO_EXPORT

    return json.loads((Path(DEMO_EXPORT) / "manifest.json").read_text())


@pytest.mark.parametrize("bad", ["../x.onnx", "/etc/passwd", "sub/x.onnx", "..", "", "a\\b"])
def test_manifest_file_entries_must_be_plain_names(tmp_path, bad) -> None:
    import json

    from edge.errors import ModelFileError
    from edge.export.onnx_export import copy_export, read_manifest

    m = _demo_manifest()
    m["files"] = [{**m["files"][0], "file": bad}]
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    for call in (lambda: read_manifest(tmp_path, verify=False), lambda: read_manifest(tmp_path),
                 lambda: copy_export(tmp_path, tmp_path / "out", lambda e: True)):
        with pytest.raises(ModelFileError) as err:
            call()
        msg = str(err.value)
        assert str(tmp_path / "manifest.json") in msg and repr(bad) in msg and "\n" not in msg
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "x.onnx").exists()


def test_a_corrupt_engines_json_is_refused_not_dropped(tmp_path) -> None:
    from edge.description import ModelDescription
    from edge.engines.folder import write_engine_folder
    from edge.errors import ModelFileError

    desc = ModelDescription.from_dict(_demo_manifest()["description"])
    (tmp_path / "engines.json").write_text('{"engines": [{"precision": "fp16", ')  # cut off
    with pytest.raises(ModelFileError, match="engines.json: unreadable .*move it away"):
        write_engine_folder(tmp_path, desc, {}, None, [])
    assert (tmp_path / "engines.json").read_text().endswith(", ")  # left as it was
