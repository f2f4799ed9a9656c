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
    assert (s.frames_expected, s.frames_unread) == (40, 5)
    assert any("5 of its 40 frames unreadable" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)


def test_a_file_short_of_its_declared_length_is_warned_with_the_count(caplog) -> None:
    s = run_file("f" * 90, 100)  # the last 10 frames unreadable
    assert (s.frames, s.frames_expected, s.frames_unread, s.error) == (90, 100, 10, None)
    assert any("10 of its 100 frames unreadable" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)


def test_a_damaged_file_is_not_taken_for_its_end() -> None:
    """More than 25 unreadable frames in a row before the known last frame: the run ends
    with an error (edge-run exits 2 with it) and the summary says truncated."""
    s = run_file("f" * 10 + "x" * 40 + "f" * 50, 100)
    assert s.frames == 10 and s.corrupt == 25
    assert s.truncated and (s.frames_expected, s.frames_unread) == (100, 90)
    assert s.error is not None and "90 of its 100 frames unreadable" in s.error
    assert "\n" not in s.error and "clip.mp4" in s.error


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
    assert len(err) == 1 and "clip.mp4: 60 of its 63 frames unreadable" in err[0]
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
