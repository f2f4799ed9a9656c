"""SSD post-processing as ONNX, for a detector variant with NMS in the graph.

``detector_nms.onnx`` = the exported detector + decode (anchors as constants) + softmax +
ONNX ``NonMaxSuppression`` (which TensorRT maps to its NMS layer) + a top-K over classes,
padded to a fixed ``max_detections``: outputs ``det_boxes`` (1, K, 4) ``(x1, y1, x2, y2)``
input pixels, ``det_scores`` (1, K) (-1 in padding), ``det_classes`` (1, K) and
``det_count`` (1,), beside the feature maps the branches crop. Every size is a constant,
so TensorRT sees no data-dependent shape after the NMS layer's own output.

It computes what :func:`edge.geometry.select_detections` computes on the host, without
the host's pre-NMS top-1000 cut; ``tests/test_export.py`` checks the two agree.
"""

from __future__ import annotations

import numpy as np

from edge.description import ModelDescription
from edge.geometry import ssd_anchors
from edge.geometry.coder import DEFAULT_SCALE_CLAMP
from edge.optional import require


def postprocess_graph(desc: ModelDescription, opset: int):
    """A graph from (box_codes, class_logits) to the padded top-K detections."""
    onnx = require("onnx", "ONNX export")
    h = onnx.helper
    tp = onnx.TensorProto
    anchors = ssd_anchors(desc.anchors, desc.input_size).astype(np.float32)
    a = anchors.shape[0]
    c1 = desc.num_classes + 1
    k = desc.max_detections
    wx, wy, ww, wh = desc.box_coder_weights
    centres = ((anchors[:, :2] + anchors[:, 2:]) / 2)[None]
    sizes = (anchors[:, 2:] - anchors[:, :2])[None]
    hh, wd = desc.input_size

    def const(name: str, value, dtype=np.float32):
        return onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name)

    inits = [
        const("anchor_centres", centres), const("anchor_sizes", sizes),
        const("inv_weights_xy", [1 / wx, 1 / wy]), const("inv_weights_wh", [1 / ww, 1 / wh]),
        const("scale_clamp", DEFAULT_SCALE_CLAMP), const("half", 0.5),
        const("lo", [0, 0, 0, 0]), const("hi", [wd, hh, wd, hh]),
        const("k", [k], np.int64), const("iou", [desc.nms_iou_threshold]),
        const("score_threshold", [desc.score_threshold]),
        const("s0", [0], np.int64), const("s2", [2], np.int64), const("s4", [4], np.int64),
        const("s1", [1], np.int64), const("c1", [c1], np.int64),
        const("axis2", [2], np.int64), const("axis1", [1], np.int64), const("axis0", [0], np.int64),
        const("pad_boxes", np.zeros((k, 4))), const("pad_scores", -np.ones(k)),
        const("pad_classes", np.zeros(k), np.int64), const("minus_half", -0.5),
    ]
    n = h.make_node
    nodes = [
        n("Slice", ["box_codes", "s0", "s2", "axis2"], ["d_xy"]),
        n("Slice", ["box_codes", "s2", "s4", "axis2"], ["d_wh"]),
        n("Mul", ["d_xy", "inv_weights_xy"], ["d_xy_w"]),
        n("Mul", ["d_xy_w", "anchor_sizes"], ["off"]),
        n("Add", ["off", "anchor_centres"], ["centre"]),
        n("Mul", ["d_wh", "inv_weights_wh"], ["d_wh_w"]),
        n("Min", ["d_wh_w", "scale_clamp"], ["d_wh_c"]),
        n("Exp", ["d_wh_c"], ["ratio"]),
        n("Mul", ["ratio", "anchor_sizes"], ["size"]),
        n("Mul", ["size", "half"], ["half_size"]),
        n("Sub", ["centre", "half_size"], ["p1"]),
        n("Add", ["centre", "half_size"], ["p2"]),
        n("Concat", ["p1", "p2"], ["raw_boxes"], axis=2),
        n("Max", ["raw_boxes", "lo"], ["boxes_lo"]),
        n("Min", ["boxes_lo", "hi"], ["boxes"]),
        n("Softmax", ["class_logits"], ["probs"], axis=2),
        n("Slice", ["probs", "s1", "c1", "axis2"], ["fg"]),
        n("Transpose", ["fg"], ["scores_t"], perm=[0, 2, 1]),
        n("NonMaxSuppression", ["boxes", "scores_t", "k", "iou", "score_threshold"], ["sel"]),
        n("Gather", ["sel", "s1"], ["sel_cls"], axis=1),
        n("Gather", ["sel", "s2"], ["sel_idx"], axis=1),
        n("GatherND", ["scores_t", "sel"], ["sel_scores"]),
        n("Gather", ["sel", "s0"], ["sel_batch"], axis=1),
        n("Concat", ["sel_batch", "sel_idx"], ["sel_bi"], axis=1),
        n("GatherND", ["boxes", "sel_bi"], ["sel_boxes"]),
        n("Squeeze", ["sel_cls", "axis1"], ["sel_cls1"]),
        # pad with K empty entries so a constant top-K always has K candidates
        n("Concat", ["sel_scores", "pad_scores"], ["cand_scores"], axis=0),
        n("Concat", ["sel_boxes", "pad_boxes"], ["cand_boxes"], axis=0),
        n("Concat", ["sel_cls1", "pad_classes"], ["cand_cls"], axis=0),
        n("TopK", ["cand_scores", "k"], ["top_scores", "top_idx"], axis=0),
        n("Gather", ["cand_boxes", "top_idx"], ["top_boxes"], axis=0),
        n("Gather", ["cand_cls", "top_idx"], ["top_cls"], axis=0),
        n("Unsqueeze", ["top_boxes", "axis0"], ["det_boxes"]),
        n("Unsqueeze", ["top_scores", "axis0"], ["det_scores"]),
        n("Unsqueeze", ["top_cls", "axis0"], ["det_classes"]),
        n("Greater", ["top_scores", "minus_half"], ["valid"]),
        n("Cast", ["valid"], ["valid_i"], to=tp.INT64),
        n("ReduceSum", ["valid_i", "axis0"], ["det_count"], keepdims=1),
    ]
    graph = h.make_graph(
        nodes, "ssd_postprocess",
        [h.make_tensor_value_info("box_codes", tp.FLOAT, [1, a, 4]),
         h.make_tensor_value_info("class_logits", tp.FLOAT, [1, a, c1])],
        [h.make_tensor_value_info("det_boxes", tp.FLOAT, [1, k, 4]),
         h.make_tensor_value_info("det_scores", tp.FLOAT, [1, k]),
         h.make_tensor_value_info("det_classes", tp.INT64, [1, k]),
         h.make_tensor_value_info("det_count", tp.INT64, [1])],
        initializer=inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])


def with_nms(detector, desc: ModelDescription, opset: int):
    """The detector graph with the post-processing appended (feature maps kept)."""
    onnx = require("onnx", "ONNX export")
    post = postprocess_graph(desc, opset)
    post.ir_version = detector.ir_version
    merged = onnx.compose.merge_models(
        detector, post, io_map=[("box_codes", "box_codes"), ("class_logits", "class_logits")],
        outputs=["det_boxes", "det_scores", "det_classes", "det_count", "feat32", "feat16",
                 "feat8"])
    onnx.checker.check_model(merged)
    return merged
