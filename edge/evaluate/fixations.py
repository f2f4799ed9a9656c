"""Segmentation fixations (seed 002, ch. 2; seed-systems.md 3.1): which image points drive
each predicted class, traced back along the strongest activation paths.

For every class predicted in the output, fixations start at the output positions whose
argmax is that class, in that class's channel, and move down one layer at a time:

* conv-to-conv (eqs. 2.3/2.4): a unit ``(z, y, x)`` keeps the top-K entries of
  ``W^(z) ⊙ X^(x, y)`` over its receptive field (input channel of its group, kernel tap)
  as fixations of the layer below. Stride, padding, dilation and groups (depthwise
  included) are honoured; a BatchNorm right after the conv is folded in (its per-channel
  scale multiplies every contribution of that unit, so a negative scale flips the order);
  padded taps never become fixations.
* pool (eq. 2.5): top-K of the window in the same channel (K = 1: the argmax); average
  pools take the top-K of the window too (the seed treats both alike).
* ReLU / ReLU6 / LeakyReLU / Dropout / Identity and a BatchNorm not after a conv pass
  fixations through unchanged.

Spatial shift (section 2.2.2): ``"none"`` restricts every conv to its centre tap (the
unit's own position; for strided convs the position it maps to), so only the channel is
chosen; ``"partial"`` (the seed's choice) lets non-atrous convs (dilation 1) pick any
tap and keeps atrous ones on their centre tap; ``"full"`` lets every conv shift.

K (section 2.3.3): an int K everywhere; a float ``f`` in (0, 1]: per unit, the fewest
top contributions whose sum reaches ``f`` of the unit's positive contributions, at most
:data:`FRACTION_MAX_K` (pools: 1; costly on wide layers, as the seed found);
``"resolution"`` (the seed's choice): K of a transition = its input area over its output
area, rounded (1 where the resolution stays, 4 across a stride-2 pool or conv), so the
fixation density keeps pace with the resolution.

Points are de-duplicated after each transition (keeping the strongest contribution per
unit) and capped at ``max_points`` (the strongest). An offline PyTorch-side tool: it is
not exported and does not affect inference.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal, Union

import numpy as np

from edge import atomic
from edge.optional import require

require("torch", "segmentation fixations")

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.modules.utils import _pair  # noqa: E402

Shift = Literal["none", "partial", "full"]
KSpec = Union[int, float, str]

_PASS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Dropout, nn.Dropout2d, nn.Identity,
         nn.BatchNorm2d)
# a fraction K never takes more than this many contributions per unit (the seed found
# even 50 % needing ~15 per unit at every layer, i.e. 15^m image points)
FRACTION_MAX_K = 32
_CHUNK = 1 << 22  # gathered contributions per chunk (16 MiB of float32)


def _conv_padding(conv: nn.Conv2d) -> tuple[int, int]:
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return 0, 0
        # "same" (stride 1): PyTorch puts the odd pixel of padding at the end
        return tuple(d * (k - 1) // 2 for d, k in zip(conv.dilation, conv.kernel_size))
    if conv.padding_mode != "zeros":
        raise ValueError(f"fixations support zero-padded convs only, got {conv.padding_mode!r}")
    return _pair(conv.padding)


def _bn_scale(bn: nn.BatchNorm2d) -> torch.Tensor:
    """Per-channel multiplier of an eval-mode BatchNorm (what it does to each
    contribution once folded into the conv before it)."""
    var = bn.running_var if bn.track_running_stats and bn.running_var is not None else None
    scale = torch.ones(bn.num_features) if var is None else 1.0 / torch.sqrt(var + bn.eps)
    if bn.affine:
        scale = scale * bn.weight.detach()
    return scale.detach().float()


def _k_for(k: KSpec, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> int | float:
    if k == "resolution":
        return max(1, round(in_hw[0] * in_hw[1] / (out_hw[0] * out_hw[1])))
    return k


def _select(contrib: torch.Tensor, k: int | float) -> tuple[torch.Tensor, torch.Tensor,
                                                                torch.Tensor]:
    """(N, R) contributions (-inf = not a candidate) -> (rows, columns, values) kept."""
    r = contrib.shape[1]
    if isinstance(k, float):
        top = min(FRACTION_MAX_K, r)
        vals, pos = contrib.topk(top, dim=1)
        total = contrib.clamp_min(0.0).sum(dim=1, keepdim=True)  # -inf taps add 0
        cum = vals.clamp_min(0.0).cumsum(dim=1)
        need = (cum < k * total).sum(dim=1) + 1
        keep = torch.arange(top)[None, :] < need.clamp(1, top)[:, None]
    else:
        vals, pos = contrib.topk(min(int(k), r), dim=1)
        keep = torch.ones_like(vals, dtype=torch.bool)
    keep &= torch.isfinite(vals)
    rows = torch.arange(contrib.shape[0])[:, None].expand_as(pos)
    return rows[keep], pos[keep], vals[keep]


def _split(idx: torch.Tensor, hw: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    h, w = hw
    return idx // (h * w), (idx // w) % h, idx % w


def _conv_back(conv: nn.Conv2d, scale: torch.Tensor | None, x: torch.Tensor,
               idx: torch.Tensor, out_hw: tuple[int, int], shift: bool,
               k: int | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixations (linear indices into x's (C, H, W), contributions) below ``idx``."""
    cin, h, w = x.shape
    z, y, xx = _split(idx, out_hw)
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    dh, dw = conv.dilation
    ph, pw = _conv_padding(conv)
    if shift:
        ky, kx = torch.meshgrid(torch.arange(kh), torch.arange(kw), indexing="ij")
        ky, kx = ky.reshape(-1), kx.reshape(-1)
    else:  # the centre tap: the unit's own position
        ky, kx = torch.tensor([kh // 2]), torch.tensor([kw // 2])
    taps = ky.numel()
    cin_g = conv.in_channels // conv.groups
    cout_g = conv.out_channels // conv.groups
    weight = conv.weight.detach().float()[:, :, ky, kx]  # (Cout, cin_g, T)
    if scale is not None:
        weight = weight * scale[:, None, None]
    out_idx, out_val = [], []
    chunk = max(1, _CHUNK // (cin_g * taps))
    for s in range(0, idx.numel(), chunk):
        zc, yc, xc = z[s:s + chunk], y[s:s + chunk], xx[s:s + chunk]
        rows = yc[:, None] * sh - ph + ky[None, :] * dh  # (N, T)
        cols = xc[:, None] * sw - pw + kx[None, :] * dw
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        chans = (zc // cout_g)[:, None] * cin_g + torch.arange(cin_g)[None, :]  # (N, cin_g)
        vals = x[chans[:, :, None], rows.clamp(0, h - 1)[:, None, :],
                 cols.clamp(0, w - 1)[:, None, :]]  # (N, cin_g, T)
        contrib = weight[zc] * vals
        contrib = contrib.masked_fill(~inside[:, None, :], -math.inf).reshape(len(zc), -1)
        n, pos, v = _select(contrib, k)
        ci, t = pos // taps, pos % taps
        out_idx.append(chans[n, ci] * (h * w) + rows[n, t] * w + cols[n, t])
        out_val.append(v)
    return torch.cat(out_idx), torch.cat(out_val)


def _pool_back(pool: nn.Module, x: torch.Tensor, idx: torch.Tensor,
               out_hw: tuple[int, int], k: int | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-K of each unit's window in its own channel (eq. 2.5)."""
    c, h, w = x.shape
    z, y, xx = _split(idx, out_hw)
    kh, kw = _pair(pool.kernel_size)
    sh, sw = _pair(pool.stride if pool.stride is not None else pool.kernel_size)
    ph, pw = _pair(pool.padding)
    dh, dw = _pair(getattr(pool, "dilation", 1))
    ky, kx = torch.meshgrid(torch.arange(kh), torch.arange(kw), indexing="ij")
    ky, kx = ky.reshape(-1), kx.reshape(-1)
    rows = y[:, None] * sh - ph + ky[None, :] * dh
    cols = xx[:, None] * sw - pw + kx[None, :] * dw
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    vals = x[z[:, None], rows.clamp(0, h - 1), cols.clamp(0, w - 1)]
    vals = vals.masked_fill(~inside, -math.inf)
    n, pos, v = _select(vals, 1 if isinstance(k, float) else k)
    return z[n] * (h * w) + rows[n, pos] * w + cols[n, pos], v


def _dedupe(idx: torch.Tensor, val: torch.Tensor,
            max_points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique units, each with its strongest contribution; the strongest ``max_points``."""
    uniq, inv = torch.unique(idx, return_inverse=True)
    best = torch.full((uniq.numel(),), -math.inf).scatter_reduce(0, inv, val, "amax")
    if uniq.numel() > max_points:
        keep = best.topk(max_points).indices
        uniq, best = uniq[keep], best[keep]
    return uniq, best


def segmentation_fixations(model_layers: Sequence[nn.Module], image: torch.Tensor,
                           classes: Iterable[int] | None = None, shift: Shift = "partial",
                           k: KSpec = "resolution",
                           max_points: int = 50_000) -> dict[int, np.ndarray]:
    """{class: (P, 2) int64 image-plane (x, y) fixation points}.

    ``model_layers``: the flat module list that reproduces the logits when applied in
    order (e.g. :meth:`edge.models.deeplab.DeepLabLargeFOV.fixation_layers`); it is run
    in eval mode (training flags are restored). ``image``: (1, C, H, W), preprocessed as
    the network expects. ``classes``: None = every class predicted somewhere; a class
    asked for but never predicted gets an empty (0, 2) array. See the module docstring
    for ``shift``, ``k`` and ``max_points`` (a per-layer cap)."""
    if shift not in ("none", "partial", "full"):
        raise ValueError(f"shift must be none, partial or full, got {shift!r}")
    if not (k == "resolution" or (isinstance(k, int) and not isinstance(k, bool) and k >= 1)
            or (isinstance(k, float) and 0.0 < k <= 1.0)):
        raise ValueError(f"k must be 'resolution', an int >= 1 or a fraction in (0, 1], "
                         f"got {k!r}")
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"image must be (1, C, H, W), got {tuple(image.shape)}")
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    layers = list(model_layers)
    for m in layers:
        if not isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d) + _PASS):
            raise ValueError(f"segmentation fixations cannot trace through {type(m).__name__}; "
                             f"give a flat list of Conv2d/BatchNorm2d/ReLU/pool/dropout layers")

    # forward pass, keeping the input of every conv and pool
    flags = [m.training for m in layers]
    inputs: dict[int, torch.Tensor] = {}
    shapes: list[tuple[int, int]] = []  # output (h, w) of each layer
    try:
        for m in layers:
            m.eval()
        x = image.detach().float().clone()
        with torch.no_grad():
            for i, m in enumerate(layers):
                if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                    inputs[i] = x[0]
                x = m(x)
                shapes.append(tuple(x.shape[-2:]))
    finally:
        for m, flag in zip(layers, flags):
            m.train(flag)
    logits = x[0]
    kc, oh, ow = logits.shape
    pred = logits.argmax(dim=0)
    wanted = sorted(set(pred.unique().tolist()) if classes is None else {int(c) for c in classes})
    scales = {i: _bn_scale(layers[i + 1]) for i, m in enumerate(layers)
              if isinstance(m, nn.Conv2d) and i + 1 < len(layers)
              and isinstance(layers[i + 1], nn.BatchNorm2d)}
    h_img, w_img = image.shape[-2:]

    out: dict[int, np.ndarray] = {}
    for c in wanted:
        if not 0 <= c < kc:
            raise ValueError(f"class {c} outside the output's 0..{kc - 1}")
        where = (pred == c).reshape(-1)
        idx = torch.nonzero(where).reshape(-1) + c * oh * ow
        val = logits[c].reshape(-1)[where]
        idx, val = _dedupe(idx, val, max_points)
        for i in range(len(layers) - 1, -1, -1):
            if idx.numel() == 0:
                break
            m = layers[i]
            if i not in inputs:
                continue
            x_in = inputs[i]
            kk = _k_for(k, tuple(x_in.shape[-2:]), shapes[i])
            if isinstance(m, nn.Conv2d):
                can_shift = shift == "full" or (shift == "partial" and
                                                tuple(m.dilation) == (1, 1))
                idx, val = _conv_back(m, scales.get(i), x_in, idx, shapes[i], can_shift, kk)
            else:
                idx, val = _pool_back(m, x_in, idx, shapes[i], kk)
            idx, val = _dedupe(idx, val, max_points)
        # image plane: drop the channel, keep unique positions
        pos = torch.unique(idx % (h_img * w_img))
        out[c] = np.stack([(pos % w_img).numpy(), (pos // w_img).numpy()], axis=1).astype(
            np.int64).reshape(-1, 2)
    return out


def fixation_heatmap(points: np.ndarray, hw: tuple[int, int], sigma: float = 8.0,
                     outlier_density: float = 0.05) -> np.ndarray:
    """(H, W) float32 fixation density in [0, 1] (max 1 unless there are no points).

    Outlier removal (the seed removes outliers without saying how): the Gaussian
    (``sigma`` px) density of all points is read at each point, and points below
    ``outlier_density`` of the densest point's value (isolated fixations away from every
    cluster) are dropped; the map is then the Gaussian density of the rest, scaled to
    max 1. Points outside the image are ignored."""
    cv2 = require("cv2", "fixation heat maps")
    h, w = int(hw[0]), int(hw[1])
    pts = np.asarray(points, np.int64).reshape(-1, 2)
    pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)]
    heat = np.zeros((h, w), np.float32)
    if len(pts) == 0:
        return heat

    def density(p: np.ndarray) -> np.ndarray:
        counts = np.zeros((h, w), np.float32)
        np.add.at(counts, (p[:, 1], p[:, 0]), 1.0)
        return cv2.GaussianBlur(counts, (0, 0), sigmaX=float(sigma), sigmaY=float(sigma),
                                borderType=cv2.BORDER_CONSTANT)

    dens = density(pts)
    at = dens[pts[:, 1], pts[:, 0]]
    pts = pts[at >= outlier_density * at.max()]
    heat = density(pts)
    peak = float(heat.max())
    return np.clip(heat / peak, 0.0, 1.0).astype(np.float32) if peak > 0 else heat


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "class"


def write_fixation_images(image_bgr: np.ndarray, fixations: Mapping[int, np.ndarray],
                          class_names: Sequence[str], out_dir: str | Path, stem: str,
                          sigma: float | None = None, input_hw: tuple[int, int] | None = None,
                          ext: str = ".jpg") -> list[Path]:
    """One image per class: the fixation heat map (JET) blended over ``image_bgr``, the
    fixation points in red and the class name; ``<stem>_<id>_<name><ext>`` in ``out_dir``.

    ``input_hw``: the network input size the points are in, when ``image_bgr`` has
    another size (points are scaled); ``sigma`` defaults to 2 % of the image diagonal."""
    cv2 = require("cv2", "writing fixation images")
    if ext.lower() not in (".jpg", ".jpeg", ".png"):
        raise ValueError(f"ext must be .jpg or .png, got {ext!r}")
    img = np.ascontiguousarray(image_bgr)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    h, w = img.shape[:2]
    sig = sigma if sigma is not None else max(1.0, 0.02 * math.hypot(h, w))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for c in sorted(fixations):
        pts = np.asarray(fixations[c], np.float64).reshape(-1, 2)
        if input_hw is not None:
            pts = (pts + 0.5) * np.array([w / input_hw[1], h / input_hw[0]]) - 0.5
        pts = np.rint(pts).astype(np.int64)
        heat = fixation_heatmap(pts, (h, w), sig)
        colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
        view = cv2.addWeighted(img, 0.5, colour, 0.5, 0.0)
        inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
        view[pts[inside, 1], pts[inside, 0]] = (0, 0, 255)
        name = class_names[c] if 0 <= c < len(class_names) else str(c)
        label = f"{name} ({len(pts)} fixations)"
        for colour_, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(view, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour_, thick,
                        cv2.LINE_AA)
        ok, buf = cv2.imencode(ext, view)
        if not ok:
            raise OSError(f"could not encode the fixation image of class {name}")
        path = out / f"{stem}_{c:02d}_{_safe(name)}{ext}"
        atomic.write_bytes(path, buf.tobytes())
        written.append(path)
    return written
