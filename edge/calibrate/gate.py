"""The INT8 accuracy gate as every consumer reads it: per artifact, passed / refused / ungated.

``edge-build calibrate --holdout`` measures each INT8 artifact that can run on this
machine against FP32 and records the result under ``calibration.gate.artifacts`` of the
export's manifest, keyed by target:

- ``onnxruntime``: the ``*.int8.onnx`` graphs (ONNX Runtime CPU Q/DQ);
- ``tensorrt-qdq``: the ``*.int8-trt.onnx`` graphs, run here through ONNX Runtime;
- ``tensorrt-cache``: the ``*.calib.cache`` files, which only TensorRT can use, so they are
  ``ungated`` until ``edge-bench selftest`` measures the engines built from them on the device.

Loading (:class:`edge.backends.onnxruntime_backend.OnnxRuntimeBackend`, hence
``Pipeline.from_dir``, ``edge-run`` and ``edge-build eval``) and building
(``edge-build engine``) call :func:`check_int8` before touching an INT8 artifact: a refused
one is an error unless the user passes ``--allow-refused-int8`` (then a WARNING with the
measured drop); an ungated one is a WARNING with the command that gates it. Without this
the gate would be advisory: a refused INT8 export would run and build silently.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edge.errors import ConfigError

log = logging.getLogger(__name__)

TARGETS = ("onnxruntime", "tensorrt-qdq", "tensorrt-cache")
OVERRIDE = "--allow-refused-int8"
PASSED, REFUSED, UNGATED = "passed", "refused", "ungated"
_SAID_UNGATED: set[tuple[str, str]] = set()  # (folder, target) already warned about


def artifact_target(entry: dict[str, Any]) -> str:
    """The gate target of a manifest file entry of precision ``int8``."""
    if entry.get("kind") == "calibration-cache" or str(entry.get("file", "")).endswith(
            ".calib.cache"):
        return "tensorrt-cache"
    return "onnxruntime" if entry.get("target") == "onnxruntime" else "tensorrt-qdq"


def artifact_gate(manifest: dict[str, Any], target: str) -> dict[str, Any] | None:
    """The gate record of ``target`` in an export manifest, or None when the folder was not
    made by ``edge-build calibrate`` (no ``calibration`` section: nothing to check).

    Manifests written before per-artifact gating recorded one status, measured on the
    ONNX Runtime graphs only: it is that target's; the TensorRT artifacts were never
    measured, so they read as ungated."""
    calib = manifest.get("calibration")
    if not isinstance(calib, dict):
        return None
    gate = calib.get("gate") or {}
    artifacts = gate.get("artifacts")
    if isinstance(artifacts, dict) and target in artifacts:
        return {"max_drop_points": gate.get("max_drop_points"), "holdout": gate.get("holdout"),
                "metric_name": gate.get("metric"), "fp32": gate.get("fp32"),
                **artifacts[target]}
    status = gate.get("status", "")
    legacy: dict[str, Any] = {"max_drop_points": gate.get("max_drop_points"),
                              "holdout": gate.get("holdout"), "metric_name": gate.get("metric"),
                              "fp32": gate.get("fp32"), "status": UNGATED,
                              "note": "not measured (calibrated before per-artifact gating)"}
    if status == "measuring":
        legacy["status"] = "measuring"
    elif target == "onnxruntime" and status in (PASSED, REFUSED):
        last = (gate.get("attempts") or [{}])[-1]
        legacy.update(status=status, metric=last.get("metric"),
                      drop_points=last.get("drop_points"), note="")
    elif target == "onnxruntime" and not gate.get("holdout"):
        legacy["note"] = "calibrated without --holdout"
    return legacy


def _describe(target: str) -> str:
    return {"onnxruntime": "ONNX Runtime INT8 graphs (*.int8.onnx)",
            "tensorrt-qdq": "TensorRT INT8 Q/DQ graphs (*.int8-trt.onnx)",
            "tensorrt-cache": "TensorRT INT8 calibration caches (*.calib.cache)"}[target]


def gate_command(folder: str | Path, target: str) -> str:
    """The command that measures ``target``'s accuracy (what makes it gated)."""
    if target == "tensorrt-cache":
        return (f"edge-bench selftest --export {folder} --precision int8 --holdout DATA "
                f"(on the device)")
    return (f"edge-build calibrate --export EXPORT --set IMAGES --out {folder} "
            f"--holdout DATA")


def check_int8(folder: str | Path, manifest: dict[str, Any], target: str,
               allow_refused: bool = False, action: str = "loading",
               export: str | Path | None = None) -> dict[str, Any] | None:
    """Enforce the gate before ``action`` uses ``target``'s INT8 artifacts of ``folder``.

    Refused: :class:`ConfigError` (one line: the measured drop, the limit, the override
    and the better fix), or a WARNING with the drop when ``allow_refused``. Ungated (no
    ``--holdout``, or not measurable on the calibrating machine): a WARNING naming the
    command that gates it (``export``: the export folder to name there, when ``folder`` is
    an engine folder). Returns the gate record (None without a calibration section)."""
    if target not in TARGETS:
        raise ValueError(f"unknown INT8 gate target {target!r}")
    rec = artifact_gate(manifest, target)
    if rec is None:
        return None
    status = rec.get("status")
    what = _describe(target)
    if status == "measuring":  # the gate itself is loading the graphs it measures
        log.debug("%s: %s %s while the gate measures them", folder, action, what)
    elif status == REFUSED:
        drop = rec.get("drop_points")
        limit = rec.get("max_drop_points")
        measured = (f"{rec.get('metric_name') or 'accuracy'} drop {drop:.2f} points > "
                    f"--max-drop {limit:g}" if isinstance(drop, (int, float))
                    and isinstance(limit, (int, float)) else "accuracy drop above --max-drop")
        if allow_refused:
            log.warning("%s: %s the %s although the INT8 gate refused them (%s on %s); "
                        "%s given", folder, action, what, measured, rec.get("holdout"), OVERRIDE)
        else:
            raise ConfigError(
                f"{folder}: the INT8 accuracy gate refused the {what} ({measured} on "
                f"{rec.get('holdout')}); recalibrate on frames closer to the deployment scene "
                f"or deploy FP16 (--precision fp16), or pass {OVERRIDE} to use them anyway")
    elif status == UNGATED and (str(folder), target) not in _SAID_UNGATED:
        # once per folder and artifact per process: a benchmark loads them row after row
        _SAID_UNGATED.add((str(folder), target))
        note = rec.get("note") or "not measured"
        log.warning("%s: %s the %s ungated (%s): their accuracy against FP32 is unknown; "
                    "gate them with: %s", folder, action, what, note,
                    gate_command(export or folder, target))
    return rec
