"""Review finding 11: ``edge-bench --backend tensorrt`` rows of k instances must run k
instances. The TensorRT GPU pipeline runs its detector engine itself (not
``backend.detect``), so wrapping the backend alone left it measuring whatever the
detector found. Checked on the fake device (tests/fake_device.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.fake_device import build_emulator, install, write_fake_engines

pytest.importorskip("onnxruntime")
if shutil.which("g++") is None:
    pytest.skip("no g++ to emulate the CUDA kernels", allow_module_level=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("torch")
    from tests.conftest import export_tiny_instance_model

    root = tmp_path_factory.mktemp("scripted")
    export_tiny_instance_model(root / "export", (96, 128), max_detections=10)
    write_fake_engines(root / "export", root / "engines")
    return root, build_emulator(root)


@pytest.fixture
def fake_gpu(tiny, monkeypatch):
    root, lib = tiny
    drv = install(monkeypatch, lib)
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))
    yield root
    drv.gpu.check_clean()


@pytest.mark.parametrize("k", [0, 3])
def test_scripted_detections_reach_the_gpu_pipeline(fake_gpu, k) -> None:
    from edge.bench.suite import person_boxes, scripted_detections
    from edge.runtime.model import Pipeline

    with Pipeline.from_dir(fake_gpu / "engines", backend="tensorrt", precision="fp32") as gpu, \
            Pipeline.from_dir(fake_gpu / "export", backend="onnxruntime", threads=1) as cpu:
        assert gpu.core.__class__.__name__ == "GpuInstancePipeline"
        desc = gpu.desc
        boxes = person_boxes(k, desc.input_size)
        frame = np.full((*desc.input_size, 3), 90, np.uint8)
        core, backend = gpu.core, gpu.core.backend
        with scripted_detections(gpu.core, desc, boxes), \
                scripted_detections(cpu.core, desc, boxes):
            a, b = gpu(frame), cpu(frame)
            assert len(a) == len(b) == k  # exactly the scripted instances, on both backends
            np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
            np.testing.assert_allclose(np.sort(a.boxes, 0), np.sort(boxes, 0), atol=0.5)
            for la, lb in zip(a.instances.mask_logits, b.instances.mask_logits):
                assert (la is None) == (lb is None)
                if la is not None:  # crops of the real feature maps at the scripted cells
                    np.testing.assert_allclose(la, lb, atol=1e-4)
        assert gpu.core is core and gpu.core.backend is backend and "plan" not in vars(core)
