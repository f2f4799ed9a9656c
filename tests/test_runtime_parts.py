"""Runtime building blocks without a model: RLE, stream preprocessing, the capture thread,
statistics and rendering."""

from __future__ import annotations

import threading
import time

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
    # float32 rounding only: 1e-5 in normalised units is 1/800 of a grey level
    np.testing.assert_allclose(out[0], preprocess(frame, desc), atol=1e-5)
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
