"""The TensorRT backend and the GPU pipeline, run on a fake device (tests/fake_device.py):
real backend code, the real CUDA kernels (CPU-emulated), TensorRT's named-tensor calls
served by ONNX Runtime. Compared with the ONNX Runtime pipeline on the same frames."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from tests.fake_device import build_emulator, make_pycuda, make_tensorrt, write_fake_engines

pytest.importorskip("onnxruntime")
if shutil.which("g++") is None:
    pytest.skip("no g++ to emulate the CUDA kernels", allow_module_level=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("torch")
    from tests.conftest import export_tiny_instance_model

    root = tmp_path_factory.mktemp("trt")
    export_tiny_instance_model(root / "export", (96, 128), max_detections=10)
    write_fake_engines(root / "export", root / "engines")
    return root, build_emulator(root)


@pytest.fixture(params=[True, False], ids=["integrated", "discrete"])
def fake_gpu(request, tiny, monkeypatch):
    root, lib = tiny
    mods = make_pycuda(lib, integrated=request.param)
    for name, mod in {**mods, "tensorrt": make_tensorrt()}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    return root, mods["pycuda.driver"], request.param


def frames():
    from edge.data.synth import random_scene

    return [random_scene(s, (120, 160)).render()[0] for s in (3, 4, 5)]


def test_gpu_pipeline_matches_onnxruntime(fake_gpu) -> None:
    from edge.runtime.model import Pipeline

    root, drv, integrated = fake_gpu
    with Pipeline.from_dir(root / "engines", backend="auto", precision="fp32") as gpu, \
            Pipeline.from_dir(root / "export", backend="onnxruntime", threads=1) as cpu:
        assert gpu.backend_name == "tensorrt" and gpu.core.__class__.__name__ == \
            "GpuInstancePipeline"
        assert gpu.backend.integrated is integrated
        seen = 0
        for frame in frames():
            a, b = gpu(frame), cpu(frame)
            assert len(a) == len(b)
            np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
            for i in range(len(a)):
                la, lb = a.instances.mask_logits[i], b.instances.mask_logits[i]
                assert (la is None) == (lb is None)
                if la is not None:
                    np.testing.assert_allclose(la, lb, atol=1e-4)  # kernel crops == NumPy crops
                    seen += 1
            # the paste kernel agrees with NumPy but for logits within rounding of 0
            assert (a.instance_map != b.instance_map).mean() < 1e-3
            assert {"preprocess", "detector", "postprocess", "branches", "paste"} <= set(
                a.stages_ms)
        assert seen > 0
    # the mapped path uploads no frame; the discrete path copies each frame once
    frame_uploads = drv.copies["htod"].count(120 * 160 * 3)
    assert frame_uploads == (0 if integrated else len(frames()))


def test_host_protocol_matches_onnxruntime(fake_gpu) -> None:
    from edge.backends.onnxruntime_backend import OnnxRuntimeBackend
    from edge.backends.tensorrt_backend import TensorRTBackend
    from edge.export.onnx_export import example_inputs
    from edge.export.parity import sample_windows
    from edge.geometry import branch_inputs

    root, _, _ = fake_gpu
    trt_be = TensorRTBackend(root / "engines", "fp32")
    ort_be = OnnxRuntimeBackend(root / "export", threads=1)
    try:
        x = example_inputs(trt_be.desc)
        (c1, l1, t1), (c2, l2, t2) = trt_be.detect(x), ort_be.detect(x)
        np.testing.assert_allclose(c1, c2, atol=1e-5)
        np.testing.assert_allclose(t1[8], t2[8], atol=1e-5)
        cells = sample_windows(trt_be.desc, 0, np.random.default_rng(0))
        crops = branch_inputs(t2, cells, trt_be.desc.branches[0], trt_be.desc)
        np.testing.assert_allclose(trt_be.segment(0, crops), ort_be.segment(0, crops), atol=1e-5)
    finally:
        trt_be.close()


def test_engines_for_another_tensorrt_are_refused_before_running(fake_gpu, monkeypatch) -> None:
    from edge.errors import EngineError
    from edge.runtime.model import Pipeline

    root, _, _ = fake_gpu
    sys.modules["tensorrt"].__version__ = "11.4.0"
    with pytest.raises(EngineError, match=r"TensorRT 10.3.0.30 -> 11.4.0.*edge-build engine "
                                          r"--export .*export --precision fp32"):
        Pipeline.from_dir(root / "engines", backend="tensorrt", precision="fp32")
