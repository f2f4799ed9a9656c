"""ONNX Runtime backend: the CPU reference backend, reading only an export folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge.description import ModelDescription
from edge.errors import ModelFileError
from edge.optional import require


class OnnxRuntimeBackend:
    """Sessions for every graph of one precision in an export folder.

    The manifest is read and every file's sha256 verified before any session is made,
    so a truncated or foreign file is refused with its name. ``threads`` sizes the
    detector's (or FCN's) intra-op pool; ``branch_threads`` each branch session's, so
    branches run side by side from a thread pool without oversubscribing the cores.
    ``spin`` lets idle ORT threads busy-wait (lowest latency for back-to-back network
    calls, as in a pure network benchmark; it starves everything else on a small CPU).
    ``target`` picks the INT8 graphs: ``onnxruntime`` (deployment here) or ``tensorrt-qdq``
    (TensorRT's Q/DQ graphs, run on the CPU only to measure them). INT8 graphs the
    accuracy gate refused are not loaded unless ``allow_refused_int8`` (see
    :mod:`edge.calibrate.gate`).
    """

    def __init__(self, export_dir: str | Path, precision: str = "fp32",
                 threads: int | None = None, branch_threads: int | None = None,
                 spin: bool = False, target: str = "onnxruntime",
                 allow_refused_int8: bool = False) -> None:
        from edge.calibrate.gate import check_int8
        from edge.export.onnx_export import read_manifest

        ort = require("onnxruntime", "the ONNX Runtime backend")
        ort.set_default_logger_severity(3)  # errors only: graph-cleanup notes are not news
        self.root = Path(export_dir)
        manifest = read_manifest(self.root)
        self.desc = ModelDescription.from_dict(manifest["description"],
                                               source=str(self.root / "manifest.json"))
        if target not in ("onnxruntime", "tensorrt-qdq"):
            raise ValueError(f"target {target!r}: ONNX Runtime runs the onnxruntime or the "
                             f"tensorrt-qdq graphs")
        if target == "onnxruntime":
            entries = [f for f in manifest["files"] if f["precision"] == precision
                       and f["target"] in ("any", "onnxruntime")]
        else:  # TensorRT's Q/DQ graphs, run here to measure them (the gate)
            entries = [f for f in manifest["files"] if f["precision"] == precision
                       and f["target"] == "tensorrt" and str(f["file"]).endswith(".onnx")]
        if not entries:
            have = sorted({f["precision"] for f in manifest["files"]})
            raise ModelFileError(f"{self.root}: no {precision} graphs for ONNX Runtime (has "
                                 f"{have}); export or calibrate that precision first")
        if precision == "int8":  # before any session: a refused gate stops here
            check_int8(self.root, manifest, target, allow_refused_int8)
        threads = threads or (os.cpu_count() or 1)

        def options(n: int):
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = n
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if not spin:  # idle pool threads would spin and steal the cores from the
                # pipeline's own stages (decode, crops, paste) between network runs
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return opts

        self.sessions: dict[str, object] = {}
        self.branch_sessions: dict[int, object] = {}
        for e in entries:
            try:
                n = branch_threads or threads if e["role"] == "branch" else threads
                sess = ort.InferenceSession(str(self.root / e["file"]), options(n),
                                            providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ModelFileError(f"{self.root / e['file']}: ONNX Runtime cannot load it "
                                     f"({exc})") from exc
            meta = sess.get_modelmeta().custom_metadata_map.get("edge.description")
            if meta is not None and ModelDescription.from_json(meta) != self.desc:
                raise ModelFileError(f"{self.root / e['file']}: its embedded model description "
                                     f"differs from {self.root / 'manifest.json'} (a graph of "
                                     f"another model); re-export the folder")
            if e["role"] == "branch":
                self.branch_sessions[int(e["branch"])] = sess
            else:
                self.sessions[e["role"]] = sess
        self.precision = precision

    def detect(self, image: np.ndarray):
        codes, logits, f32, f16, f8 = self.sessions["detector"].run(
            None, {"image": image.astype(np.float32, copy=False)})
        return codes[0], logits[0], {32: f32[0], 16: f16[0], 8: f8[0]}

    def detect_nms(self, image: np.ndarray):
        """The in-graph-NMS detector: (boxes (n, 4), scores (n,), classes (n,), taps), with
        the description's thresholds baked in; n <= max_detections."""
        names = [o.name for o in self.sessions["detector_nms"].get_outputs()]
        out = dict(zip(names, self.sessions["detector_nms"].run(
            None, {"image": image.astype(np.float32, copy=False)})))
        n = int(out["det_count"][0])
        return (out["det_boxes"][0, :n], out["det_scores"][0, :n], out["det_classes"][0, :n],
                {32: out["feat32"][0], 16: out["feat16"][0], 8: out["feat8"][0]})

    def segment(self, branch: int, crops: list[np.ndarray]) -> np.ndarray:
        names = [f"crop{s}" for s in self.desc.mask_strides]
        return self.branch_sessions[branch].run(None, dict(zip(names, crops)))[0]

    def segment_image(self, image: np.ndarray) -> np.ndarray:
        return self.sessions["model"].run(None, {"image": image.astype(np.float32,
                                                                       copy=False)})[0][0]
