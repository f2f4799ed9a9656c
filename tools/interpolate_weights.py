#!/usr/bin/env python3
"""Interpolate two edge-seg weights files of the same model: ``(1 - t) * A + t * B``.

Why: fine-tuning a model on a new domain (the demo's stage 2, real-camera scenes) trades
away some of what it knew (the classic scenes). Averaging the weights before and after
the fine-tune (WiSE-FT: Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR
2022) keeps much of both, because both sit in one basin of the loss. ``t`` is chosen on
*synthetic* held-out data only (never on the real footage the model is judged on).

BatchNorm running statistics are interpolated like the weights; integer tensors
(``num_batches_tracked``) are taken from B. The description of B is kept.

usage: tools/interpolate_weights.py A.npz B.npz --t 0.7 --out C.npz
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge import atomic  # noqa: E402
from edge.errors import ModelFileError  # noqa: E402
from edge.train.checkpoint import read_description  # noqa: E402


def interpolate(a: Path, b: Path, t: float) -> dict[str, np.ndarray]:
    """The arrays of weights file ``b`` with every float tensor ``(1-t)*a + t*b``."""
    da, db = read_description(a), read_description(b)
    if da.to_dict() | {"name": None} != db.to_dict() | {"name": None}:
        raise ModelFileError(f"{a} and {b} describe different models; interpolate only two "
                             f"weights files of one model (e.g. before and after a fine-tune)")
    with np.load(a) as za, np.load(b) as zb:
        if set(za.files) != set(zb.files):
            raise ModelFileError(f"{a} and {b} hold different tensors")
        out = {"__description__": zb["__description__"]}
        for k in zb.files:
            if k == "__description__":
                continue
            va, vb = za[k], zb[k]
            if va.shape != vb.shape:
                raise ModelFileError(f"{a} and {b}: {k} has shapes {va.shape} and {vb.shape}")
            if np.issubdtype(vb.dtype, np.floating):
                mix = (1.0 - t) * va.astype(np.float32) + t * vb.astype(np.float32)
                out[k] = mix.astype(vb.dtype)
            else:
                out[k] = vb
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path, help="weights before (t = 0)")
    p.add_argument("b", type=Path, help="weights after (t = 1)")
    p.add_argument("--t", type=float, required=True, help="weight of B, 0 to 1")
    p.add_argument("--out", type=Path, required=True, help="output .npz")
    args = p.parse_args(argv)
    if not 0.0 <= args.t <= 1.0:
        p.error(f"--t must be within 0 and 1, got {args.t}")
    if args.out.resolve() in (args.a.resolve(), args.b.resolve()):
        p.error("--out must not be one of the inputs")
    try:
        arrays = interpolate(args.a, args.b, args.t)
    except ModelFileError as exc:
        print(f"interpolate_weights: error: {exc}", file=sys.stderr)
        return 2
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic.write_bytes(args.out, buf.getvalue())
    print(f"{args.out}: (1 - {args.t}) * {args.a} + {args.t} * {args.b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
