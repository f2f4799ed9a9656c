"""The backend-agnostic pipeline with a scripted backend: geometry end to end."""

from __future__ import annotations

import numpy as np

from edge import catalog
from edge.geometry import BoxCoder, ssd_anchors
from edge.pipeline import InstancePipeline, SemanticPipeline
from edge.preprocess import preprocess, preprocessing_hash


class ScriptedBackend:
    """Detector outputs that decode to given boxes; branches answer +5 everywhere."""

    def __init__(self, desc, boxes, scores):
        self.desc = desc
        anchors = ssd_anchors(desc.anchors, desc.input_size)
        self.codes = np.zeros_like(anchors)
        self.logits = np.zeros((len(anchors), 2), np.float32)
        self.logits[:, 0] = 10
        idx = np.linspace(0, len(anchors) - 1, len(boxes)).astype(int)
        self.codes[idx] = BoxCoder().encode(boxes, anchors[idx])
        self.logits[idx, 0] = 0
        self.logits[idx, 1] = np.log(np.asarray(scores) / (1 - np.asarray(scores)))
        self.calls = []

    def detect(self, image):
        assert image.shape == (1, 3, *self.desc.input_size)
        h, w = self.desc.input_size
        taps = {s: np.zeros((8, h // s, w // s), np.float32) for s in (8, 16, 32)}
        return self.codes, self.logits, taps

    def segment(self, branch, crops):
        self.calls.append((branch, [c.shape for c in crops]))
        spec = self.desc.branches[branch]
        return np.full((crops[0].shape[0], 1, *self.desc.mask_shape(spec)), 5.0, np.float32)


def test_instance_pipeline_end_to_end() -> None:
    desc = catalog.describe("ssd-isb-single-shape", input_size=(320, 320))
    boxes = np.array([[40, 40, 90, 150], [200, 10, 310, 300]], np.float32)
    backend = ScriptedBackend(desc, boxes, [0.9, 0.8])
    frame = np.zeros((640, 960, 3), np.uint8)  # 2x taller, 3x wider than the input
    res = InstancePipeline(desc, backend)(frame)
    assert len(res) == 2
    np.testing.assert_allclose(res.boxes[0], [120, 80, 270, 300], atol=0.05)
    # box 0: cells x 1..3, y 1..5 -> 4x2, an exact single-shape branch; box 1 has no branch
    assert res.mask_logits[1] is None and res.mask(1) is None
    np.testing.assert_allclose(res.mask_boxes[0], [96, 64, 288, 320])
    m = res.mask(0)
    assert m.sum() == (288 - 96) * (320 - 64) and m[64:320, 96:288].all()
    assert [c for c in backend.calls] == [(6, [(1, 8, 4, 2), (1, 8, 8, 4), (1, 8, 16, 8)])]
    imap = res.instance_map()
    assert set(np.unique(imap)) == {0, 1}


def test_semantic_pipeline_upsamples_argmax_to_the_frame() -> None:
    desc = catalog.describe("mobilenet-fcn8", input_size=(32, 64), num_classes=3)

    class Backend:
        def segment_image(self, image):
            logits = np.zeros((3, 32, 64), np.float32)
            logits[2, :, 32:] = 1.0
            return logits

    labels = SemanticPipeline(desc, Backend())(np.zeros((64, 128, 3), np.uint8))
    assert labels.shape == (64, 128)
    assert (labels[:, :64] == 0).all() and (labels[:, 64:] == 2).all()


def test_preprocess_normalises_in_model_order() -> None:
    desc = catalog.describe("ssd-isb-single-branch", input_size=(64, 64))
    frame = np.zeros((32, 32, 3), np.uint8)
    frame[..., 2] = 255  # red in BGR
    x = preprocess(frame, desc)
    assert x.shape == (3, 64, 64) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], 1.0)  # R channel first, (255 - 127.5) / 127.5
    np.testing.assert_allclose(x[1:], -1.0)
    assert preprocessing_hash(desc) == preprocessing_hash(desc.replace(name="other"))
    assert preprocessing_hash(desc) != preprocessing_hash(desc.replace(input_size=(96, 96)))
