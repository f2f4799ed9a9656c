"""Load a model as a pipeline and evaluate it on a dataset: the one path behind
``edge-build eval``, the INT8 accuracy gate and the rendering tool."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, DatasetError
from edge.optional import require

DEMO_NAME = "demo"


@dataclass(frozen=True)
class ModelSource:
    """What runs for a model reference at a precision: ``backend`` ``onnxruntime`` (an
    export folder's graphs of ``precision``), ``tensorrt`` (an engine folder, on the
    device: the self-test's accuracy) or ``pytorch`` (a checkpoint, FP32). ``target``
    picks which INT8 graphs ONNX Runtime runs (``onnxruntime``, or ``tensorrt-qdq`` to
    measure TensorRT's Q/DQ graphs); ``allow_refused_int8`` loads INT8 the gate refused."""

    ref: str
    path: Path
    backend: str
    precision: str
    device: str
    target: str = "onnxruntime"
    allow_refused_int8: bool = False


def _export_commands(ref: str, precision: str) -> str:
    if precision == "fp16":
        return (f"export it (edge-build export --model {ref} --out EXPORT writes FP16 graphs) "
                f"and evaluate --model EXPORT --precision fp16")
    return (f"export and calibrate it (edge-build export --model {ref} --out EXPORT; "
            f"edge-build calibrate --export EXPORT --set IMAGES --out EXPORT-int8) and "
            f"evaluate --model EXPORT-int8 --precision int8")


def resolve_model(ref: str | Path, precision: str = "fp32",
                  device: str | None = None, *, backend: str = "auto",
                  allow_refused_int8: bool = False, target: str = "onnxruntime"
                  ) -> ModelSource:
    """Decide what evaluating ``ref`` at ``precision`` runs, refusing what cannot run.

    Export folders run through ONNX Runtime on the CPU at any precision they have.
    Checkpoints and weights files run in PyTorch at FP32 only. ``demo`` is the shipped
    weights at FP32 and the shipped export (ONNX Runtime) at other precisions it has.
    An engine folder (``engines.json``, no ``manifest.json``), or any folder with engines
    when ``backend="tensorrt"``, runs through TensorRT (the device self-test)."""
    from edge.engines.folder import ENGINE_MANIFEST
    from edge.train.checkpoint import resolve

    if precision not in ("fp32", "fp16", "int8"):
        raise ConfigError(f"--precision takes fp32, fp16 or int8, got {precision!r}")
    text = str(ref)
    if text == DEMO_NAME and precision != "fp32":
        from edge.export.onnx_export import read_manifest
        from edge.runtime.model import resolve_model_dir

        folder = resolve_model_dir(DEMO_NAME)
        have = sorted({f["precision"] for f in read_manifest(folder)["files"]
                       if f.get("target") in ("any", "onnxruntime")})
        if precision not in have:
            raise ConfigError(f"--model demo --precision {precision}: the shipped demo export "
                              f"has {', '.join(have)} graphs, no {precision}; run edge-build "
                              f"export --model demo --out exports/demo (it writes FP16 graphs) "
                              f"and evaluate --model exports/demo --precision {precision}")
        ref, text = folder, str(folder)
    if backend not in ("auto", "onnxruntime", "tensorrt"):
        raise ConfigError(f"backend {backend!r}: choose auto, onnxruntime or tensorrt")
    folder = Path(ref)
    if folder.is_dir() and (folder / ENGINE_MANIFEST).is_file() and (
            backend == "tensorrt" or not (folder / "manifest.json").is_file()):
        return ModelSource(text, folder, "tensorrt", precision, "cuda",
                           allow_refused_int8=allow_refused_int8)
    if backend == "tensorrt":
        raise ConfigError(f"{ref}: no {ENGINE_MANIFEST}, so nothing for TensorRT; build engines "
                          f"with edge-build engine --export {ref} --precision {precision} "
                          f"--out ENGINES")
    if folder.is_dir():
        if device not in (None, "cpu"):
            raise ConfigError(f"--device {device}: an export folder runs through ONNX Runtime "
                              f"on the CPU; drop --device (it applies to checkpoints)")
        return ModelSource(text, Path(ref), "onnxruntime", precision, "cpu", target,
                           allow_refused_int8)
    path = resolve(ref)  # missing files are refused here, naming the path
    if precision != "fp32":
        raise ConfigError(f"--precision {precision}: {path.name} is a PyTorch "
                          f"{'checkpoint' if path.suffix == '.pt' else 'weights file'}, and "
                          f"checkpoints run in FP32; for {precision} "
                          f"{_export_commands(text, precision)}")
    from edge.train.devices import parse_device

    return ModelSource(text, path, "pytorch", "fp32",
                       parse_device("cpu" if device is None else device))


def load_pipeline(ref: str | Path, device: str | None = None, precision: str = "fp32",
                  score_threshold: float | None = None, source: ModelSource | None = None,
                  *, backend: str = "auto", allow_refused_int8: bool = False,
                  target: str = "onnxruntime"):
    """Pipeline for an export folder (ONNX Runtime, ``precision`` graphs) or a checkpoint,
    weights file or ``demo`` (PyTorch, FP32; ``demo`` at INT8 is the shipped export). See
    :func:`resolve_model`. ``score_threshold`` overrides the description's (evaluation
    uses COCO's 0.05). ``backend="tensorrt"`` (or an engine folder) runs TensorRT engines;
    INT8 the accuracy gate refused loads only with ``allow_refused_int8``."""
    from edge.pipeline import InstancePipeline, SemanticPipeline

    src = source or resolve_model(ref, precision, device, backend=backend,
                                  allow_refused_int8=allow_refused_int8, target=target)
    be: Any
    if src.backend == "onnxruntime":
        from edge.backends.onnxruntime_backend import OnnxRuntimeBackend

        be = OnnxRuntimeBackend(src.path, src.precision, target=src.target,
                                allow_refused_int8=src.allow_refused_int8)
        desc = be.desc
    elif src.backend == "tensorrt":
        from edge.backends.tensorrt_backend import TensorRTBackend

        be = TensorRTBackend(src.path, src.precision)
        desc = be.desc
    else:
        require("torch", "evaluating PyTorch checkpoints")
        from edge.backends.torch_backend import TorchBackend
        from edge.train.checkpoint import load_model

        desc, model, _ = load_model(src.path)
        be = TorchBackend(model, src.device)
    if desc.task == "instance":
        if score_threshold is not None:
            desc = desc.replace(score_threshold=score_threshold)
        return InstancePipeline(desc, be)
    return SemanticPipeline(desc, be)


def open_dataset(desc, data: str | Path, split: str = "val", option: str = "--data"):
    """The reader for evaluating ``desc`` on ``data``: a COCO folder with the model's
    classes (instance models) or a label folder / Cityscapes root with the model's
    classes (semantic models). Errors name ``option``."""
    from edge.data.sources import open_instances, open_semantic

    p = Path(data)
    if desc.task == "instance":
        found = p.is_file() or (p / "annotations.json").is_file()
        kind = "a COCO folder (annotations.json beside images/) or a COCO JSON file"
        lacks = "it has no annotations.json"
    else:
        found = (p / "semantic.json").is_file() or (p / "leftImg8bit").is_dir()
        kind = "a label folder (semantic.json, images/, labels/) or a Cityscapes root"
        lacks = "it has neither semantic.json nor leftImg8bit/"
    if not found:
        what = "no such file or folder" if not p.exists() else lacks
        raise DatasetError(f"{option} {data}: {desc.name} is an {desc.task} model and needs "
                           f"{kind}; {what}")
    try:
        if desc.task == "instance":
            return open_instances(data, list(desc.class_names))
        reader = open_semantic(data, split)
    except DatasetError as exc:
        raise DatasetError(f"{option} {data}: {exc}") from exc
    if tuple(reader.class_names) != tuple(desc.class_names):
        raise DatasetError(f"{option} {data}: its classes {list(reader.class_names)} differ "
                           f"from {desc.name}'s {list(desc.class_names)}; evaluate on data "
                           f"labelled with the model's classes")
    return reader


def check_dataset(desc, data: str | Path, split: str = "val", option: str = "--data") -> int:
    """Open ``data`` for ``desc`` and read its first sample: fails early, with one line,
    on a missing, wrong-task or unreadable dataset. Returns its number of images."""
    reader = open_dataset(desc, data, split, option)
    if len(reader) == 0:
        raise DatasetError(f"{option} {data}: no images to evaluate on")
    reader[0]
    return len(reader)


def evaluate(pipeline, data: str | Path, split: str = "val", results: str | Path | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Metrics of ``pipeline`` on the dataset at ``data`` (COCO folder for instance models,
    label folder or Cityscapes root for semantic ones)."""
    desc = pipeline.desc
    if desc.task == "instance":
        from edge.evaluate.instances import evaluate_instances

        return evaluate_instances(pipeline, open_dataset(desc, data, split), results, progress)
    from edge.evaluate.semantic import evaluate_semantic

    if results:
        raise ConfigError("--results writes COCO instance results; semantic models have none")
    return evaluate_semantic(pipeline, open_dataset(desc, data, split), progress)


def headline(metrics: dict[str, Any], task: str) -> float:
    """The gate's figure in points: mask AP@0.50 (instance) or mIoU (semantic)."""
    return 100.0 * (metrics["segm"]["AP50"] if task == "instance" else metrics["mIoU"])
