"""Evaluation: one metric code path per task, fed by :mod:`edge.pipeline` with any backend.

The accuracy figure of a model is defined here once, for every command that reports one
(``edge-build eval``'s headline, ``edge-bench``'s accuracy column, the INT8 gate): the
pipeline of :func:`edge.evaluate.runner.load_pipeline` at COCO's detection score
threshold (:data:`EVAL_SCORE_THRESHOLD`, not the model's display threshold), scored by
:func:`edge.evaluate.runner.evaluate`, reported in points as mask AP@0.50 (instance) or
mIoU (semantic).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# COCO's protocol keeps detections down to 0.05; a model's own ``score_threshold`` is
# what the runtime displays, and evaluating at it under-reports AP.
EVAL_SCORE_THRESHOLD = 0.05

ACCURACY_METRICS = {"instance": "mask AP@0.50", "semantic": "mIoU"}


def accuracy_metric(task: str) -> str:
    """The name of the headline accuracy of ``task`` (in points, 0-100)."""
    return ACCURACY_METRICS[task]


def measure_accuracy(model: str | Path, data: str | Path, precision: str = "fp32", *,
                     split: str = "val", device: str | None = None,
                     score_threshold: float = EVAL_SCORE_THRESHOLD,
                     **load_options: Any) -> dict[str, Any]:
    """The headline accuracy of ``model`` (export folder, checkpoint or ``demo``) on
    ``data``, computed exactly as ``edge-build eval`` computes it (same defaults; ``device``
    None keeps :func:`~edge.evaluate.runner.load_pipeline`'s).

    Returns ``{"accuracy": points, "metric": name, "task", "score_threshold",
    "metrics": the full metrics}``. ``load_options`` go to :func:`~edge.evaluate.runner.load_pipeline` (``backend``,
    ``target``, ``allow_refused_int8``); the pipeline's backend is closed afterwards (a
    TensorRT backend holds a CUDA context).
    """
    from edge.evaluate.runner import evaluate, headline, load_pipeline

    kw = {} if device is None else {"device": device}
    pipeline = load_pipeline(model, precision=precision, score_threshold=score_threshold,
                             **kw, **load_options)
    try:
        metrics = evaluate(pipeline, data, split, progress=False)
    finally:
        close = getattr(pipeline.backend, "close", None)
        if close is not None:
            close()
    task = pipeline.desc.task
    return {"accuracy": headline(metrics, task), "metric": accuracy_metric(task), "task": task,
            "score_threshold": score_threshold if task == "instance" else None,
            "metrics": metrics}
