"""What the TensorRT ONNX parser accepts, per TensorRT release, as data; and the check.

Source: onnx/onnx-tensorrt ``docs/operators.md`` on each release branch (8.6: opsets up
to 17; 10.x: opsets 9 to 20; 11.x treated like 10.x plus strong typing, see
``shared/reference/tensorrt-facts.md``), and the parser limits collected there: Q/DQ
with zero point 0 only, Conv/ConvTranspose weights constant, no MaxPool ``Indices``
output, Resize with modes nearest/linear and the listed coordinate modes. The operator
list covers every op our exporter emits plus the common ones; an op missing from it is
reported as unknown rather than passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.optional import require

SOURCE = "onnx/onnx-tensorrt docs/operators.md (release/8.6, release/10.x branches)"

_COMMON_OPS = frozenset({
    "Abs", "Add", "And", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization", "Cast",
    "Ceil", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "Cos",
    "CumSum", "DepthToSpace", "DequantizeLinear", "Div", "Elu", "Equal", "Erf", "Exp",
    "Expand", "Flatten", "Floor", "Gather", "GatherElements", "GatherND", "Gemm",
    "GlobalAveragePool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "HardSigmoid",
    "HardSwish", "Identity", "InstanceNormalization", "LeakyRelu", "Less", "LessOrEqual",
    "Log", "LogSoftmax", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mul", "Neg",
    "NonMaxSuppression", "Not", "Or", "Pad", "Pow", "PRelu", "QuantizeLinear", "Range",
    "Reciprocal", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum", "Relu", "Reshape",
    "Resize", "ScatterElements", "ScatterND", "Shape", "Sigmoid", "Sign", "Sin", "Slice",
    "Softmax", "Softplus", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh",
    "Tile", "TopK", "Transpose", "Unsqueeze", "Where", "Xor",
})  # fmt: skip


# Pooling switches (SegNet): onnx-tensorrt's tables (8.4, 8.5, 10.x) list MaxUnpool as
# unsupported and MaxPool's Indices output as unsupported. The index-free rewrite in
# edge.models.unpool emits only MaxPool (1 output), Slice, Greater/GreaterOrEqual/And,
# Where, Resize (nearest), Equal and Constant (plus Tile/Expand/ConstantOfShape when not
# constant-folded), all already in the table.
_UNPOOL_HINT = ("export with the index-free unpooling (edge.models.unpool: MaxPool2x2/"
                "Unpool2x2 inside export_mode(model)), which TensorRT can parse")


@dataclass(frozen=True)
class TrtRelease:
    name: str
    min_opset: int
    max_opset: int
    ops: frozenset[str]
    resize_coordinate_modes: frozenset[str] = frozenset(
        {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric",
         "align_corners"})
    notes: tuple[str, ...] = field(default_factory=tuple)


RELEASES: tuple[TrtRelease, ...] = (
    TrtRelease("8.6", 7, 17, _COMMON_OPS,
               notes=("JetPack 6.0", "INT64 cast down to INT32")),
    TrtRelease("10.x", 9, 20, _COMMON_OPS, notes=("JetPack 6.1/6.2 ship 10.3",)),
    TrtRelease("11.x", 9, 20, _COMMON_OPS,
               notes=("networks always strongly typed: precision comes from the graph",)),
)


@dataclass
class CheckReport:
    file: str
    opset: int
    problems: dict[str, list[str]]  # release -> problems
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "opset": self.opset, "ok": self.ok,
                "problems": self.problems, "warnings": self.warnings}


def check_model(path: str) -> CheckReport:
    """Check one ONNX file against every release in :data:`RELEASES`."""
    onnx = require("onnx", "the TensorRT compatibility check")
    from edge.errors import ModelFileError

    try:
        proto = onnx.load(path)
    except Exception as exc:  # protobuf DecodeError and friends on corrupt files
        raise ModelFileError(f"{path}: not a readable ONNX file ({exc}); re-export it") from exc
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    constants = {i.name for i in proto.graph.initializer}
    constants |= {o for n in proto.graph.node if n.op_type == "Constant" for o in n.output}
    for n in proto.graph.node:  # equal weights deduped through Identity; Q/DQ weights
        if n.op_type in ("Identity", "DequantizeLinear") and n.input[0] in constants:
            constants.add(n.output[0])
    warnings: list[str] = []
    found: list[tuple[str, str]] = []  # (node name, problem) independent of release
    ops_used = set()
    for node in proto.graph.node:
        ops_used.add(node.op_type)
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        where = f"node {node.name or node.op_type} ({node.op_type})"
        if node.domain not in ("", "ai.onnx"):
            found.append((where, f"custom domain {node.domain!r} needs a plugin"))
        if node.op_type in ("Conv", "ConvTranspose") and node.input[1] not in constants:
            found.append((where, "weights are not constant"))
        if node.op_type == "MaxPool" and len([o for o in node.output if o]) > 1:
            found.append((where, f"MaxPool Indices output is unsupported; {_UNPOOL_HINT}"))
        if node.op_type == "MaxUnpool":
            found.append((where, f"MaxUnpool is unsupported; {_UNPOOL_HINT}"))
        if node.op_type == "Resize":
            mode = attrs.get("mode", b"nearest")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            if mode not in ("nearest", "linear"):
                found.append((where, f"Resize mode {mode!r} is unsupported"))
            ctm = attrs.get("coordinate_transformation_mode", b"half_pixel")
            ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
            found.append((where, f"@ctm:{ctm}"))
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
            zp = next((i for i in proto.graph.initializer if i.name == node.input[2]), None)
            if zp is not None and onnx.numpy_helper.to_array(zp).any():
                found.append((where, "Q/DQ zero point must be 0 (symmetric INT8)"))
    for t in list(proto.graph.input) + list(proto.graph.output):
        dims = t.type.tensor_type.shape.dim
        dynamic = [i for i, d in enumerate(dims) if d.dim_param or not d.dim_value]
        if any(i != 0 for i in dynamic):
            warnings.append(f"{t.name}: dynamic dimension other than the batch "
                            f"{[d.dim_param or d.dim_value for d in dims]}")
        if t.type.tensor_type.elem_type == onnx.TensorProto.INT64:
            warnings.append(f"{t.name}: INT64 I/O (TensorRT 8.6 casts it to INT32)")
    problems: dict[str, list[str]] = {}
    for rel in RELEASES:
        p = []
        if not rel.min_opset <= opset <= rel.max_opset:
            p.append(f"opset {opset} outside {rel.min_opset}..{rel.max_opset}")
        p += [f"op {op} is not in the TensorRT {rel.name} table" for op in sorted(ops_used -
                                                                               rel.ops)]
        for where, msg in found:
            if msg.startswith("@ctm:"):
                if msg[5:] not in rel.resize_coordinate_modes:
                    p.append(f"{where}: Resize coordinate mode {msg[5:]!r} is unsupported")
            else:
                p.append(f"{where}: {msg}")
        problems[rel.name] = p
    return CheckReport(file=path, opset=opset, problems=problems, warnings=warnings)
