"""The TensorRT backend and the GPU pipeline on a strict fake device (tests/fake_device.py):
real backend code, the real CUDA kernels (CPU-emulated, FMA-contracted as nvcc does),
TensorRT's named-tensor calls served by ONNX Runtime on queued streams. The SHIPPED DEMO
model (trained weights: its masks depend on the crops) runs on synthetic scenes chosen so
that every branch gets boxes; every branch's crops at every stride are compared with NumPy's
gather on the same feature maps, and masks per instance with the ONNX Runtime pipeline."""

from __future__ import annotations

import logging
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.fake_device import (DISABLE_TIMING, NON_BLOCKING, _view, build_emulator, install,
                               write_fake_engines)

pytest.importorskip("onnxruntime")
if shutil.which("g++") is None:
    pytest.skip("no g++ to emulate the CUDA kernels", allow_module_level=True)

HALF = {n: "HALF" for n in ("image", "box_codes", "class_logits", "feat32", "feat16", "feat8",
                            "crop32", "crop16", "crop8", "mask_logits")}
# (frame size, seed): together every one of the demo's 10 branches gets boxes
SCENES = [((240, 96), 7), ((480, 480), 38), ((480, 480), 1), ((480, 480), 39)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from edge.runtime.model import DEMO_EXPORT

    root = tmp_path_factory.mktemp("trt")
    write_fake_engines(DEMO_EXPORT, root / "engines")
    write_fake_engines(DEMO_EXPORT, root / "fp16", dtypes=HALF, precision="fp16")
    write_fake_engines(DEMO_EXPORT, root / "cap1", max_batch=1)  # edge-build --max-boxes 1
    write_fake_engines(DEMO_EXPORT, root / "dla", max_batch=4, dla_core=1)  # --dla 1
    return root, build_emulator(root)


@pytest.fixture(params=[True, False], ids=["integrated", "discrete"])
def fake_gpu(request, demo, monkeypatch):
    root, lib = demo
    drv = install(monkeypatch, lib, request.param, seed=request.param_index)
    yield root, drv, request.param
    drv.gpu.check_clean()  # pycuda aborts at exit with a context left pushed


def scenes():
    from edge.data.synth import random_scene

    people = {(240, 96): dict(people=(1, 2), min_height=200), (480, 480): dict(people=(4, 12))}
    return [random_scene(seed, size, **people[size]).render()[0] for size, seed in SCENES]


def check_crops(core, tol: float) -> set[int]:
    """The crops the GPU fed each branch (its engine's input buffers) == NumPy's gather of
    the GPU's own feature maps with the GPU's own plan; returns the branches checked."""
    from edge.geometry import branch_inputs

    d, det = core.desc, core.det
    plan = core.clamp_jobs(core.plan(det.host["box_codes"][0].astype(np.float32),
                                     det.host["class_logits"][0].astype(np.float32)))
    feats = {s: _view(int(det.device[f"feat{s}"]), det.max_shape[f"feat{s}"][1:],
                      det.dtype[f"feat{s}"]).astype(np.float32) for s in d.mask_strides}
    for b, idx in plan.jobs:
        eng = core.be.branch_engines[b]
        ref = branch_inputs(feats, plan.cells[idx], d.branches[b], d)
        for s, want in zip(d.mask_strides, ref):
            got = _view(int(eng.device[f"crop{s}"]), want.shape, eng.dtype[f"crop{s}"])
            np.testing.assert_allclose(got.astype(np.float32), want, atol=tol, rtol=tol,
                                       err_msg=f"branch {b} stride {s}")
    return {b for b, _ in plan.jobs}


def test_gpu_pipeline_crops_and_masks_match_numpy_on_demo(fake_gpu) -> None:
    from edge.runtime.model import DEMO_EXPORT, Pipeline

    root, drv, integrated = fake_gpu
    branches: set[int] = set()
    with Pipeline.from_dir(root / "engines", backend="auto", precision="fp32") as gpu, \
            Pipeline.from_dir(DEMO_EXPORT, backend="onnxruntime", threads=1) as cpu:
        assert gpu.core.__class__.__name__ == "GpuInstancePipeline"
        assert gpu.backend.integrated is integrated
        assert gpu.core.kernels.image.endswith(".cubin")  # prebuilt: no nvcc
        frames = scenes()
        for frame in frames:
            a, b = gpu(frame), cpu(frame)
            branches |= check_crops(gpu.core, 1e-5)
            assert len(a) == len(b) > 0
            np.testing.assert_allclose(a.boxes, b.boxes, atol=2e-2)
            for i in range(len(a)):
                la, lb = a.instances.mask_logits[i], b.instances.mask_logits[i]
                assert (la is None) == (lb is None)
                if la is not None:  # GPU vs NumPy preprocessing: float rounding only
                    np.testing.assert_allclose(la, lb, atol=2e-3, err_msg=f"instance {i}")
            assert (a.instance_map != b.instance_map).mean() < 1e-3
            assert {"preprocess", "detector", "postprocess", "branches", "paste"} <= set(
                a.stages_ms)
    assert branches == set(range(10))
    frame_uploads = sum(drv.copies["htod"].count(n) for n in {f.nbytes for f in frames})
    assert frame_uploads == (0 if integrated else len(frames))


def test_fp16_io_engines_run_half_crops(demo, monkeypatch) -> None:
    """FP16 I/O (TensorRT 11's strongly typed FP16 graphs): half crops from half maps."""
    from edge.runtime.model import Pipeline

    root, lib = demo
    drv = install(monkeypatch, lib, integrated=True)
    with Pipeline.from_dir(root / "fp16", backend="tensorrt", precision="fp16") as gpu:
        core = gpu.core
        assert core.det.dtype["image"] == np.float16
        assert all(e.dtype["crop8"] == np.float16 for e in gpu.backend.branch_engines.values())
        res = gpu(scenes()[0])
        assert len(res) and check_crops(core, 2e-3)
    drv.gpu.check_clean()


def test_branch_cap_below_max_boxes_keeps_best_and_warns_once(demo, monkeypatch,
                                                              caplog) -> None:
    from edge.runtime.model import Pipeline

    root, lib = demo
    drv = install(monkeypatch, lib, integrated=False)
    frame = scenes()[1]  # two boxes on several branches
    with Pipeline.from_dir(root / "cap1", backend="tensorrt", precision="fp32") as gpu:
        core = gpu.core
        with caplog.at_level(logging.WARNING, "edge.backends.tensorrt_backend"):
            a = gpu(frame)
            gpu(frame)
        full = core.plan(core.det.host["box_codes"][0], core.det.host["class_logits"][0])
        for _, idx in full.jobs:  # the best box of each branch keeps its mask
            assert a.instances.mask_logits[idx[0]] is not None
            assert all(a.instances.mask_logits[i] is None for i in idx[1:])
        crowded = sum(len(idx) > 1 for _, idx in full.jobs)
        assert crowded and len([r for r in caplog.records if "built for at most" in r.message]
                               ) == crowded
    drv.gpu.check_clean()


def test_context_popped_on_refusal_and_constructor_failure(demo, monkeypatch) -> None:
    from edge.backends.tensorrt_backend import TensorRTBackend
    from edge.errors import EngineError

    root, lib = demo
    drv = install(monkeypatch, lib, integrated=True)
    sys.modules["tensorrt"].__version__ = "11.4.0"  # read_engine_folder's identity refusal
    with pytest.raises(EngineError, match=r"TensorRT 10.3.0.30 -> 11.4.0.*edge-build engine"):
        TensorRTBackend(root / "engines", "fp32")
    drv.gpu.check_clean()
    assert drv.gpu.retained == 0
    sys.modules["tensorrt"].__version__ = "10.3.0.30"
    runtime = sys.modules["tensorrt"].Runtime
    real, calls = runtime.deserialize_cuda_engine, iter(range(100))
    monkeypatch.setattr(runtime, "deserialize_cuda_engine",  # the 4th engine is refused
                        lambda self, data: None if next(calls) == 3 else real(self, data))
    with pytest.raises(EngineError, match="could not deserialise it"):
        TensorRTBackend(root / "engines", "fp32")
    drv.gpu.check_clean()
    assert drv.gpu.retained == 0 and not drv.gpu.leaked and not drv.gpu.ranges
    monkeypatch.setattr(runtime, "deserialize_cuda_engine", real)
    # the GPU pipeline failing after the backend loaded: Pipeline closes the backend
    from edge.backends import tensorrt_backend
    from edge.runtime.model import Pipeline

    def broken(*_a, **_k):
        raise EngineError("kernel image refused")

    monkeypatch.setattr(tensorrt_backend, "GpuInstancePipeline", broken)
    with pytest.raises(EngineError, match="kernel image refused"):
        Pipeline.from_dir(root / "engines", backend="tensorrt", precision="fp32")
    drv.gpu.check_clean()
    assert drv.gpu.retained == 0 and not drv.gpu.leaked and not drv.gpu.ranges


def test_close_frees_buffers_first_and_is_idempotent(fake_gpu) -> None:
    from edge.runtime.model import Pipeline

    root, drv, _ = fake_gpu
    gpu = Pipeline.from_dir(root / "engines", backend="tensorrt", precision="fp32")
    gpu(scenes()[0])
    assert len(drv.gpu.ranges) > 10
    gpu.close()
    gpu.close()
    assert not drv.gpu.leaked and drv.gpu.retained == 0
    assert not drv.gpu.ranges  # every device allocation (and mapped buffer) freed


def test_backend_calls_from_other_threads(fake_gpu) -> None:
    """pycuda contexts are per thread: calls from an executor push the context themselves."""
    from edge.backends.tensorrt_backend import TensorRTBackend
    from edge.export.onnx_export import example_inputs

    root, drv, _ = fake_gpu
    be = TensorRTBackend(root / "engines", "fp32")
    try:
        x = example_inputs(be.desc)
        with ThreadPoolExecutor(2) as pool:
            outs = list(pool.map(lambda _: be.detect(x)[0], range(2)))
        np.testing.assert_array_equal(outs[0], outs[1])
        # branch 7 (2x2): 31 crops for an engine built for 30 run as two batches
        crops = [np.zeros((31, c, h, w), np.float32)
                 for c, h, w in ((256, 2, 2), (128, 4, 4), (64, 8, 8))]
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(be.segment, 7, crops).result().shape == (31, 1, 8, 8)
    finally:
        be.close()
    assert all(f == NON_BLOCKING for f in drv.gpu.streams_made)
    assert drv.gpu.events_made and all(f & DISABLE_TIMING for f in drv.gpu.events_made)


def test_host_protocol_refuses_wrong_input_names(fake_gpu) -> None:
    from edge.backends.tensorrt_backend import TensorRTBackend
    from edge.errors import EngineError

    root, _, _ = fake_gpu
    be = TensorRTBackend(root / "engines", "fp32")
    try:
        eng = be.branch_engines[9]
        with pytest.raises(EngineError, match=r"inputs \['crop16', 'crop32', 'crop8'\]"):
            be._run_host(eng, {"crop32": np.zeros((1, 256, 1, 1), np.float32)}, 1,
                         be.branch_streams[9])
        with pytest.raises(EngineError, match="refused input crop32 of shape"):
            eng._set_shape("crop32", (1, 256, 5, 5))
    finally:
        be.close()


@pytest.mark.parametrize("dtypes, match", [
    ({"crop8": "HALF"}, r"crop8 is float16 but the detector's feat8 is float32"),
    ({"crop16": "INT8", "feat16": "INT8"}, r"feat16: int8.*float32 or float16"),
])
def test_gpu_pipeline_checks_crop_dtypes_by_name(demo, monkeypatch, tmp_path, dtypes,
                                                  match) -> None:
    from edge.errors import EngineError
    from edge.runtime.model import DEMO_EXPORT, Pipeline

    _, lib = demo
    drv = install(monkeypatch, lib, integrated=True)
    write_fake_engines(DEMO_EXPORT, tmp_path / "e", dtypes=dtypes)
    with pytest.raises(EngineError, match=match):
        Pipeline.from_dir(tmp_path / "e", backend="tensorrt", precision="fp32")
    assert not any(drv.gpu.stacks.values())  # nothing left pushed on the way out


def test_dla_engines_deserialise_on_their_core_and_run_fewer_crops_at_the_static_batch(
        demo, monkeypatch) -> None:
    """DLA branch engines take one batch (min = opt = max): the runtime sets
    ``Runtime.DLA_core`` before deserialising, never asks for another shape (the fake, like
    TensorRT, refuses it), and a frame with fewer boxes gives the same masks as the GPU."""
    from edge.runtime.model import Pipeline

    root, lib = demo
    drv = install(monkeypatch, lib, integrated=True)
    frame = scenes()[1]
    with Pipeline.from_dir(root / "dla", backend="tensorrt", precision="fp32") as dla:
        engines = dla.core.be.branch_engines.values()
        assert all(e.engine.dla_core == 1 and e.static_batch == 4 for e in engines)
        a = dla(frame)
        plan = dla.core.clamp_jobs(dla.core.plan(dla.core.det.host["box_codes"][0],
                                                 dla.core.det.host["class_logits"][0]))
        assert any(len(idx) < 4 for _, idx in plan.jobs)  # some branch ran padded
    with Pipeline.from_dir(root / "engines", backend="tensorrt", precision="fp32") as gpu:
        b = gpu(frame)
    assert len(a) == len(b) > 0
    for i in range(len(a)):
        la, lb = a.instances.mask_logits[i], b.instances.mask_logits[i]
        if la is not None and lb is not None:
            np.testing.assert_allclose(la, lb, atol=1e-4)
    drv.gpu.check_clean()
