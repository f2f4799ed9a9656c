"""Load a model as a pipeline and evaluate it on a dataset: the one path behind
``edge-build eval``, the INT8 accuracy gate and the rendering tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from edge.optional import require


def load_pipeline(ref: str | Path, device: str = "cpu", precision: str = "fp32",
                  score_threshold: float | None = None):
    """Pipeline for an export folder (ONNX Runtime, ``precision`` graphs) or a checkpoint,
    weights file or ``demo`` (PyTorch). ``score_threshold`` overrides the description's
    (evaluation uses COCO's 0.05)."""
    from edge.pipeline import InstancePipeline, SemanticPipeline

    backend: Any
    if Path(ref).is_dir():
        from edge.backends.onnxruntime_backend import OnnxRuntimeBackend

        backend = OnnxRuntimeBackend(ref, precision)
        desc = backend.desc
    else:
        require("torch", "evaluating PyTorch checkpoints")
        from edge.backends.torch_backend import TorchBackend
        from edge.train.checkpoint import load_model

        desc, model, _ = load_model(ref)
        backend = TorchBackend(model, device)
    if desc.task == "instance":
        if score_threshold is not None:
            desc = desc.replace(score_threshold=score_threshold)
        return InstancePipeline(desc, backend)
    return SemanticPipeline(desc, backend)


def evaluate(pipeline, data: str | Path, split: str = "val", results: str | Path | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Metrics of ``pipeline`` on the dataset at ``data`` (COCO folder for instance models,
    label folder or Cityscapes root for semantic ones)."""
    from edge.data.sources import open_instances, open_semantic

    desc = pipeline.desc
    if desc.task == "instance":
        from edge.evaluate.instances import evaluate_instances

        reader = open_instances(data, list(desc.class_names))
        return evaluate_instances(pipeline, reader, results, progress)
    from edge.evaluate.semantic import evaluate_semantic

    if results:
        raise ConfigError("--results writes COCO instance results; semantic models have none")
    return evaluate_semantic(pipeline, open_semantic(data, split), progress)


def headline(metrics: dict[str, Any], task: str) -> float:
    """The gate's figure in points: mask AP@0.50 (instance) or mIoU (semantic)."""
    return 100.0 * (metrics["segm"]["AP50"] if task == "instance" else metrics["mIoU"])
