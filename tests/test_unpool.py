"""Index-free max unpooling (edge.models.unpool): bit-exact parity with PyTorch's
max_pool2d(return_indices) + max_unpool2d, ONNX export without indices, and the
TensorRT check refusing MaxUnpool / MaxPool-with-Indices graphs."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import torch.nn.functional as F  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from edge.export.trt_support import check_model  # noqa: E402
from edge.models.unpool import (  # noqa: E402
    MaxPool2x2,
    Unpool2x2,
    export_mode,
    is_export_mode,
    set_export_mode,
    switch_code_2x2,
)

SHAPES = [(1, 1, 2, 2), (2, 3, 8, 6), (1, 4, 16, 16), (3, 2, 4, 10), (2, 5, 12, 8)]


def _input(kind: str, shape, gen: torch.Generator) -> torch.Tensor:
    if kind == "integer":  # many ties
        return torch.randint(-2, 3, shape, generator=gen).float()
    if kind == "relu":  # post-ReLU zeros: ties at 0, whole windows of zeros
        return F.relu(torch.randn(shape, generator=gen))
    if kind == "binary":
        return torch.randint(0, 2, shape, generator=gen).float()
    if kind == "constant":
        return torch.full(shape, 0.5)
    return torch.randn(shape, generator=gen)


def _both_paths(x: torch.Tensor, y: torch.Tensor, g_pool, g_out):
    """Pooled map, unpooled map and the gradients wrt x and y, native vs export path."""
    results = []
    for export in (False, True):
        xi = x.clone().requires_grad_(True)
        yi = y.clone().requires_grad_(True)
        pool, unpool = MaxPool2x2(), Unpool2x2()
        pool.export = unpool.export = export
        pooled, switches = pool(xi)
        out = unpool(yi, switches)
        gx, gy = torch.autograd.grad((pooled * g_pool).sum() + (out * g_out).sum(), (xi, yi))
        results.append((pooled.detach(), out.detach(), gx, gy, switches))
    return results


@pytest.mark.parametrize("kind", ["random", "integer", "relu", "binary", "constant"])
def test_parity_values_and_gradients_bit_exact(kind) -> None:
    gen = torch.Generator().manual_seed(1234)
    for trial in range(40):
        shape = SHAPES[trial % len(SHAPES)]
        x = _input(kind, shape, gen)
        pooled_shape = shape[:2] + (shape[2] // 2, shape[3] // 2)
        y = torch.randn(pooled_shape, generator=gen)
        g_pool = torch.randn(pooled_shape, generator=gen)
        g_out = torch.randn(shape, generator=gen)
        (p0, u0, gx0, gy0, idx), (p1, u1, gx1, gy1, code) = _both_paths(x, y, g_pool, g_out)
        assert idx.dtype == torch.int64 and code.dtype == x.dtype
        for a, b in ((p0, p1), (u0, u1), (gx0, gx1), (gy0, gy1)):
            assert torch.equal(a, b), (kind, trial, (a - b).abs().max())
        # the code is the row-major position of the index inside its window
        w = shape[3]
        rows, cols = idx // w, idx % w
        assert torch.equal((2 * (rows % 2) + cols % 2).to(code.dtype), code)


def test_unpool_of_the_pooled_map_reproduces_max_unpool_with_ties() -> None:
    x = torch.tensor([[[[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0],
                        [2.0, 3.0, -1.0, -1.0], [3.0, 3.0, -1.0, -2.0]]]])
    pool, unpool = MaxPool2x2(), Unpool2x2()
    pooled, idx = pool(x)
    expected = unpool(pooled, idx)
    with export_mode(pool), export_mode(unpool):
        pooled2, code = pool(x)
        assert torch.equal(code, torch.tensor([[[[0.0, 0.0], [1.0, 0.0]]]]))
        assert torch.equal(unpool(pooled2, code), expected)


def test_switch_code_tie_rule() -> None:
    # first maximum in row-major order wins: a over b, c, d; b over c, d; c over d
    cases = {(1, 1, 1, 1): 0, (0, 1, 1, 1): 1, (0, 0, 1, 1): 2, (0, 0, 0, 1): 3,
             (0, 1, 0, 1): 1, (0, 0, 1, 0): 2, (-0.0, 0.0, 0.0, 0.0): 0}
    for (a, b, c, d), code in cases.items():
        x = torch.tensor([[[[a, b], [c, d]]]])
        assert switch_code_2x2(x).item() == code
        _, idx = F.max_pool2d(x, 2, 2, return_indices=True)
        assert idx.item() == code


def test_odd_sizes_raise_a_clear_error() -> None:
    with pytest.raises(ValueError, match="even height and width"):
        MaxPool2x2()(torch.zeros(1, 1, 5, 4))
    with pytest.raises(ValueError, match="even height and width"):
        MaxPool2x2()(torch.zeros(1, 1, 4, 7))


class _PoolNet(torch.nn.Module):
    """Two pools, two unpools, no learned ops (ONNX Runtime must match exactly)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool1, self.pool2 = MaxPool2x2(), MaxPool2x2()
        self.unpool1, self.unpool2 = Unpool2x2(), Unpool2x2()

    def forward(self, x):
        y, s1 = self.pool1(torch.relu(x))
        z, s2 = self.pool2(y)
        return self.unpool1(self.unpool2(z * 2.0, s2), s1)


def _export(model, x) -> bytes:
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, (x,), buf, input_names=["image"], output_names=["out"],
                          opset_version=17, dynamo=False, do_constant_folding=True)
    return buf.getvalue()


def test_export_mode_context_manager_flips_and_restores() -> None:
    net = _PoolNet()
    assert not is_export_mode(net)
    with export_mode(net) as m:
        assert m is net and is_export_mode(net)
    assert not is_export_mode(net)
    previous = set_export_mode(net, True)
    assert is_export_mode(net) and not any(previous.values())
    set_export_mode(net, False)
    # a pool in native mode feeding an unpool in export mode: native indices refused
    net.unpool2.export = True
    with pytest.raises(RuntimeError, match="export_mode"):
        net(torch.zeros(1, 1, 8, 8))


@pytest.mark.parametrize("use_context", [True, False], ids=["export_mode", "auto"])
def test_onnx_export_has_no_indices_and_matches_onnxruntime_exactly(tmp_path,
                                                                    use_context) -> None:
    torch.manual_seed(0)
    net = _PoolNet().eval()
    x = torch.randint(-3, 4, (2, 3, 16, 12)).float()  # ties everywhere
    if use_context:
        with export_mode(net):
            data = _export(net, x)
    else:  # torch.onnx.export alone switches to the index-free path
        data = _export(net, x)
    proto = onnx.load_from_string(data)
    ops = {n.op_type for n in proto.graph.node}
    assert "MaxUnpool" not in ops and "ScatterND" not in ops
    assert all(len([o for o in n.output if o]) == 1 for n in proto.graph.node
               if n.op_type == "MaxPool")
    path = tmp_path / "pool.onnx"
    path.write_bytes(data)
    report = check_model(str(path))
    assert report.ok, report.problems
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        xi = x if seed == 0 else torch.randn(x.shape, generator=gen)
        got = session.run(None, {"image": xi.numpy()})[0]
        with torch.no_grad():
            expected = net(xi).numpy()  # native path (export mode off)
        assert np.array_equal(got, expected)


def _save(tmp_path, nodes, name: str, inputs, outputs) -> str:
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return str(path)


def _vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def test_check_refuses_max_unpool_and_maxpool_indices(tmp_path) -> None:
    pool = helper.make_node("MaxPool", ["x"], ["y", "idx"], name="pool_with_idx",
                            kernel_shape=[2, 2], strides=[2, 2])
    unpool = helper.make_node("MaxUnpool", ["y", "idx"], ["z"], name="the_unpool",
                              kernel_shape=[2, 2], strides=[2, 2])
    path = _save(tmp_path, [pool, unpool], "unpool", [_vi("x", [1, 1, 4, 4])],
                 [_vi("z", [1, 1, 4, 4])])
    report = check_model(path)
    assert not report.ok
    for release, problems in report.problems.items():
        text = "\n".join(problems)
        assert "node pool_with_idx (MaxPool): MaxPool Indices output is unsupported" in text
        assert "node the_unpool (MaxUnpool): MaxUnpool is unsupported" in text
        assert text.count("index-free unpooling (edge.models.unpool") >= 2, release

    # a MaxPool with indices alone (the dynamo exporter's form) is refused too
    path = _save(tmp_path, [pool], "pool_only", [_vi("x", [1, 1, 4, 4])],
                 [_vi("y", [1, 1, 2, 2]), _vi("idx", [1, 1, 2, 2], TensorProto.INT64)])
    report = check_model(path)
    assert not report.ok
    assert all(any("pool_with_idx" in p and "edge.models.unpool" in p for p in problems)
               for problems in report.problems.values())

    # a plain MaxPool (one output) stays accepted
    plain = helper.make_node("MaxPool", ["x"], ["y"], name="plain", kernel_shape=[2, 2],
                             strides=[2, 2])
    path = _save(tmp_path, [plain], "plain", [_vi("x", [1, 1, 4, 4])], [_vi("y", [1, 1, 2, 2])])
    assert check_model(path).ok


def test_check_accepts_every_op_the_rewrite_can_emit() -> None:
    from edge.export.trt_support import RELEASES

    ops = {"MaxPool", "Slice", "Greater", "GreaterOrEqual", "And", "Cast", "Add", "Mul",
           "Resize", "Equal", "Tile", "Expand", "ConstantOfShape", "Constant", "Concat",
           "Reshape", "Transpose", "Unsqueeze", "Shape", "Gather"}
    for rel in RELEASES:
        assert ops <= rel.ops, (rel.name, ops - rel.ops)
