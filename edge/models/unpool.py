"""2x2 max pooling with switches and max unpooling that TensorRT can parse.

SegNet's decoders upsample with the encoder's max-pooling "switches" (the position of
each 2x2 window's maximum). PyTorch does this with ``max_pool2d(return_indices=True)`` +
``max_unpool2d``, but TensorRT cannot parse ``MaxUnpool`` nor a ``MaxPool`` with its
``Indices`` output (onnx-tensorrt ``docs/operators.md``, 8.4 to 10.15), and under torch
2.13 the legacy exporter cannot export ``max_unpool2d`` at all
(``shared/reference/seed-systems.md`` 0.1, 4.5, 5).

:class:`MaxPool2x2` / :class:`Unpool2x2` therefore have two paths with identical
results, values and gradients, ties included:

* **native** (default, fast, for training): ``F.max_pool2d(..., return_indices=True)``
  returns int64 indices; ``F.max_unpool2d`` scatters through them.
* **index-free** (export mode, seed-systems.md 5 variant B): the pool returns, next to
  the pooled map, a *code* per window in {0, 1, 2, 3} (row-major position of the first
  maximum: top-left, top-right, bottom-left, bottom-right), computed from comparisons
  between the four window elements of the same tensor. The unpool is
  ``where(up2(code) == tile, up2(y), 0)`` with ``up2`` a nearest x2 resize and ``tile``
  the constant ``[[0, 1], [2, 3]]`` repeated over the map. It exports to MaxPool (one
  output), Slice, Greater/GreaterOrEqual/And, Where, Resize (nearest), Equal and a
  constant (the Tile folds at a static input size): every op is in the TRT table, and
  there is no Cast, so the FP16 copy of the graph stays valid.

Tie rule: PyTorch keeps the *first* maximum in row-major order (it replaces the running
maximum only on ``>``), so ``a`` (top-left) wins every tie it is part of, ``b`` wins
over ``c`` and ``d``, ``c`` over ``d``. The codes below encode exactly that, which is
why the parity is bit-exact even with post-ReLU zeros or integer-valued inputs. The
comparisons are made *within* the input tensor, never against the pooled value, so
they do not depend on how a backend computes the pooled maximum.

Switching paths: every module has an ``export`` attribute (default ``False``);
:func:`export_mode` (a context manager) or :func:`set_export_mode` flips it on every
pool/unpool module of a model. The index-free path is also taken automatically while
``torch.onnx.export`` runs (``torch.onnx.is_in_onnx_export()``), so an exporter that
knows nothing about this module still gets a parseable graph. :class:`Unpool2x2`
dispatches on what it receives (int64 indices -> native, floating codes -> index-free),
so a pool and an unpool can never disagree about the representation.

Requirements: non-overlapping 2x2 stride-2 windows and even H, W at every pooling stage
(a network with P pools needs inputs divisible by 2**P); odd sizes raise a ValueError.
Known difference: NaN inputs (PyTorch treats NaN as the maximum; comparisons do not).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MaxPool2x2", "Unpool2x2", "export_mode", "set_export_mode", "is_export_mode",
           "switch_code_2x2", "unpool_by_code_2x2"]


def _check_even(x: torch.Tensor, who: str) -> None:
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h % 2 or w % 2:
        raise ValueError(
            f"{who}: 2x2 stride-2 pooling with switches needs even height and width at every "
            f"pooling stage, got {h}x{w}; use an input size divisible by 2**(number of pools) "
            f"(16 for SegNet-Basic, 32 for SegNet, 4 for the toy SegNet)")


def switch_code_2x2(x: torch.Tensor) -> torch.Tensor:
    """Per 2x2 window of ``x`` (N, C, H, W; H, W even) the row-major position of its first
    maximum, as a tensor of ``x``'s dtype and the pooled shape with values in {0,1,2,3}."""
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    # a wins all its ties (code 0 needs no mask); b beats c and d on ties; c beats d
    mb = (b > a) & (b >= c) & (b >= d)
    mc = (c > a) & (c > b) & (c >= d)
    md = (d > a) & (d > b) & (d > c)
    # Where, not bool->float Casts: the FP16 copy of the graph (onnxconverter-common)
    # mistypes Cast outputs, while Where's constants are converted cleanly
    code = torch.where(md, 3.0, torch.where(mc, 2.0, torch.where(mb, 1.0, 0.0)))
    return code if code.dtype == x.dtype else code.to(x.dtype)


def _up2(y: torch.Tensor) -> torch.Tensor:
    return F.interpolate(y, scale_factor=2.0, mode="nearest")


def unpool_by_code_2x2(y: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """Max-unpool ``y`` (N, C, h, w) with :func:`switch_code_2x2` codes to (N, C, 2h, 2w):
    each value goes to its window's recorded position, zeros elsewhere."""
    if code.shape != y.shape:
        raise ValueError(f"Unpool2x2: switch codes {tuple(code.shape)} do not match the "
                         f"input {tuple(y.shape)}; pair each unpool with its encoder's pool")
    h, w = int(y.shape[-2]), int(y.shape[-1])
    tile = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=code.dtype, device=code.device)
    tile = tile.repeat(h, w)  # (2h, 2w) constant position pattern
    # exactly max_unpool2d: the value at its window's recorded position, +0.0 elsewhere
    # (Where rather than a multiply by a 0/1 mask: no -0.0, no Cast, and an inf value
    # does not turn the other positions into NaN); the nearest x2 Resize's gradient
    # then sums one value and three zeros per window, which is exact
    return torch.where(_up2(code) == tile, _up2(y), 0.0)


@contextlib.contextmanager
def _static_shapes() -> Iterator[None]:
    """The shape checks and the position pattern use Python ints on purpose: engines are
    built for one static input size, so the tracer's constant warnings are expected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


class _Switchable(nn.Module):
    """Base of the modules :func:`export_mode` flips."""

    export: bool = False

    def _index_free(self) -> bool:
        return bool(self.export) or torch.onnx.is_in_onnx_export()


class MaxPool2x2(_Switchable):
    """``forward(x) -> (pooled, switches)``: 2x2 stride-2 max pooling that also returns
    the switches for :class:`Unpool2x2` (int64 indices natively, float codes in export
    mode). The pooled map is ``F.max_pool2d(x, 2, 2)`` on both paths."""

    def __init__(self) -> None:
        super().__init__()
        self.export = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with _static_shapes():
            _check_even(x, "MaxPool2x2")
        if self._index_free():
            return F.max_pool2d(x, 2, 2), switch_code_2x2(x)
        return F.max_pool2d(x, 2, 2, return_indices=True)


class Unpool2x2(_Switchable):
    """``forward(y, switches) -> (N, C, 2h, 2w)``: max unpooling through the switches of
    the paired :class:`MaxPool2x2`; native ``F.max_unpool2d`` for int64 indices, the
    index-free rewrite for float codes (what the pool returns in export mode)."""

    def __init__(self) -> None:
        super().__init__()
        self.export = False

    def forward(self, y: torch.Tensor, switches: torch.Tensor) -> torch.Tensor:
        if switches.dtype in (torch.int64, torch.int32):
            if self._index_free():
                raise RuntimeError(
                    "Unpool2x2: got native pooling indices in export mode; the paired "
                    "MaxPool2x2 was not switched (use edge.models.unpool.export_mode(model) "
                    "on the whole model)")
            return F.max_unpool2d(y, switches, 2, 2)
        with _static_shapes():
            return unpool_by_code_2x2(y, switches)


def set_export_mode(model: nn.Module, on: bool = True) -> dict[nn.Module, bool]:
    """Set ``export`` on every :class:`MaxPool2x2` / :class:`Unpool2x2` in ``model``
    (itself included); returns the previous values."""
    previous = {}
    for m in model.modules():
        if isinstance(m, _Switchable):
            previous[m] = m.export
            m.export = bool(on)
    return previous


def is_export_mode(model: nn.Module) -> bool:
    """True if ``model`` has pool/unpool modules and all are in export mode."""
    flags = [m.export for m in model.modules() if isinstance(m, _Switchable)]
    return bool(flags) and all(flags)


@contextlib.contextmanager
def export_mode(model: nn.Module, on: bool = True) -> Iterator[nn.Module]:
    """``with export_mode(model): torch.onnx.export(model, ...)``: the index-free path on
    every pool/unpool module inside the block, previous settings restored after it."""
    previous = set_export_mode(model, on)
    try:
        yield model
    finally:
        for m, flag in previous.items():
            m.export = flag
