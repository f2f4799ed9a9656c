"""Segmentation losses of the seed systems (seed-systems.md 2.1, 2.3, 2.4, 2.6).

- :func:`class_weights`: 001's class weights W1 ("inverse frequency", really 1 - frequency)
  and W2 ("exponential", its ``B = 1/B`` typo read as ``B = 1/A``) from a pixel histogram.
- :func:`weighted_cross_entropy`: 001's two weighted softmax losses, "outer"
  (``-w_y log softmax(x)_y``) and "direct" (``-log softmax(x * w)_y``), or plain CE.
- :func:`multi_output_loss`: a weighted sum of per-output losses against labels
  nearest-resized to each output (ICNet's 0.16 / 0.4 / 1.0 branches; the hourglass's
  intermediate supervision, 1/stacks each), optionally against progressively coarser
  ground truth per output (:data:`PROGRESSIVE_LUTS`, :func:`coarse_log_probs`).
- :func:`joint_heatmaps` / :func:`joint_loss`: the hourglass's joint branch (Gaussian
  targets, sigma 2 px at output resolution, MSE).

Every loss averages over *labelled* pixels (label != ``ignore_index``), as
:func:`edge.train.losses.semantic_loss` does; a batch without labelled pixels gives a zero
loss that still carries the graph (plain ``F.cross_entropy`` would give NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Union

import numpy as np

from edge.optional import require

require("torch", "training")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from edge.data.samples import IGNORE_LABEL  # noqa: E402

Form = Literal["outer", "direct"]
WeightsLike = Union[np.ndarray, torch.Tensor, Sequence[float], None]

NUM_PARTS = 25  # SURREAL's ids 0..24 (edge.description.PARTS_CLASSES)


# --------------------------------------------------------------------------- class weights


def class_weights(histogram: Sequence[float] | np.ndarray, scheme: str) -> np.ndarray:
    """Class weights (K,) float32 from per-class pixel counts ``C`` (seed 001, 2.4).

    ``"w1"``: ``W_i = 1 - C_i / sum(C)``. Note it is 1 - frequency (the seed calls it
    "inverse frequency"): every rare class gets ~1, the dominant one less.

    ``"w2"``: ``A = C / max(C)``, ``B = 1 / A``, ``W = B * exp(-(B - mean(B)) / (4 std(B)))``
    (population std, ddof 0).

    Classes with ``C_i = 0``: W1 needs nothing (they get 1). For W2 ``B_i`` would be
    infinite, so absent classes are left out of ``max``, ``mean`` and ``std`` and then get
    the largest weight of the present classes (treated as rare as the rarest seen class;
    they never occur as a target, so the value only matters for the "direct" form, where
    it scales that class's logit). If all present classes have the same count,
    ``std(B) = 0`` and the exponent is taken as 0 (``W = B = 1``). An all-zero or negative
    histogram raises ``ValueError``.
    """
    c = np.asarray(histogram, np.float64).reshape(-1)
    if c.size == 0 or not np.all(np.isfinite(c)) or (c < 0).any():
        raise ValueError("histogram must be a non-empty vector of finite counts >= 0")
    total = c.sum()
    if total <= 0:
        raise ValueError("histogram has no pixels")
    scheme = scheme.lower()
    if scheme == "w1":
        w = 1.0 - c / total
    elif scheme == "w2":
        present = c > 0
        a = c[present] / c[present].max()
        b = 1.0 / a
        std = b.std()
        expo = np.zeros_like(b) if std == 0 else -(b - b.mean()) / (4.0 * std)
        wp = b * np.exp(expo)
        w = np.full(c.shape, wp.max())
        w[present] = wp
    else:
        raise ValueError(f"scheme must be 'w1' or 'w2', got {scheme!r}")
    return w.astype(np.float32)


def coarse_histogram(histogram: Sequence[float] | np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Per-group pixel counts (G,) of a fine histogram (K,) under a LUT, so coarse levels
    of :func:`multi_output_loss` can get their own :func:`class_weights`."""
    c = np.asarray(histogram, np.float64).reshape(-1)
    groups = _lut_groups(lut, c.size)
    out = np.zeros(int(groups.max()) + 1, np.float64)
    np.add.at(out, groups, c)
    return out


# --------------------------------------------------------------------------- cross-entropy


def _weight_tensor(weights: WeightsLike, k: int, like: torch.Tensor) -> torch.Tensor | None:
    if weights is None:
        return None
    w = torch.as_tensor(np.asarray(weights, np.float32) if not isinstance(weights, torch.Tensor)
                        else weights).to(device=like.device, dtype=like.dtype).reshape(-1)
    if w.numel() != k:
        raise ValueError(f"{w.numel()} class weights for {k} classes")
    return w


def _labelled_mean(per_pixel_sum: torch.Tensor, labels: torch.Tensor, ignore_index: int,
                   like: torch.Tensor) -> torch.Tensor:
    count = (labels != ignore_index).sum()
    if int(count) == 0:
        return like.sum() * 0.0  # zero, but keeps the graph (and no NaN)
    return per_pixel_sum / count


def nll_from_log_probs(log_probs: torch.Tensor, labels: torch.Tensor,
                       weights: WeightsLike = None,
                       ignore_index: int = IGNORE_LABEL) -> torch.Tensor:
    """``-w_y log p_y`` averaged over labelled pixels (not over the sum of weights).

    ``log_probs`` (B, K, ...) are log-probabilities; ``labels`` (B, ...) int64."""
    w = _weight_tensor(weights, log_probs.shape[1], log_probs)
    total = F.nll_loss(log_probs, labels, weight=w, ignore_index=ignore_index, reduction="sum")
    return _labelled_mean(total, labels, ignore_index, log_probs)


def weighted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                           weights: WeightsLike = None, form: Form = "outer",
                           ignore_index: int = IGNORE_LABEL) -> torch.Tensor:
    """(B, K, ...) logits, (B, ...) int64 labels -> softmax CE averaged over labelled pixels.

    ``weights`` None: plain CE (equals ``F.cross_entropy(..., ignore_index=...)``).

    ``form="outer"`` (seed: ``L = -sum_i w_i y_i log softmax(x)_i``): each labelled pixel
    costs ``-w_y log softmax(x)_y`` and the sum is divided by the **number of labelled
    pixels**, not by ``sum(w_y)`` as ``F.cross_entropy(weight=...)`` does; so all-ones
    weights give plain CE, and the weights also scale the loss (and the gradient) overall.

    ``form="direct"`` (seed: ``L = -sum_i y_i log softmax(x_i w_i)``): the weights multiply
    the logits per class channel before the softmax; the CE is then unweighted.
    """
    k = logits.shape[1]
    w = _weight_tensor(weights, k, logits)
    if form == "outer":
        return nll_from_log_probs(F.log_softmax(logits, dim=1), labels, w, ignore_index)
    if form == "direct":
        if w is not None:
            logits = logits * w.view(1, k, *([1] * (logits.dim() - 2)))
        return nll_from_log_probs(F.log_softmax(logits, dim=1), labels, None, ignore_index)
    raise ValueError(f"form must be 'outer' or 'direct', got {form!r}")


# --------------------------------------------------------------------------- progressive GT


def _lut_array(lut: np.ndarray) -> np.ndarray:
    a = np.asarray(lut)
    if a.shape != (256,):
        raise ValueError(f"a label LUT has 256 entries, got shape {a.shape}")
    return a.astype(np.uint8)


def _lut_groups(lut: np.ndarray, k: int) -> np.ndarray:
    """The group id of each of the K fine classes; every class must map to a group."""
    groups = _lut_array(lut)[:k].astype(np.int64)
    if (groups == IGNORE_LABEL).any():
        raise ValueError(f"LUT maps classes {np.flatnonzero(groups == IGNORE_LABEL).tolist()} "
                         f"to {IGNORE_LABEL}; every class 0..{k - 1} needs a group")
    g = int(groups.max()) + 1
    if set(groups.tolist()) != set(range(g)):
        raise ValueError("LUT group ids must be 0..G-1 without gaps")
    return groups


def lut_num_groups(lut: np.ndarray, num_classes: int = NUM_PARTS) -> int:
    return int(_lut_groups(lut, num_classes).max()) + 1


def apply_lut(labels: torch.Tensor, lut: np.ndarray) -> torch.Tensor:
    """Map an int64 label tensor through a 256-entry LUT (255 stays 255)."""
    table = torch.as_tensor(_lut_array(lut).astype(np.int64), device=labels.device)
    return table[labels.long().clamp(0, 255)]


def coarse_log_probs(logits: torch.Tensor, lut: np.ndarray) -> torch.Tensor:
    """(B, K, ...) fine logits -> (B, G, ...) log-probabilities of the LUT's groups.

    ``log P(group) = logsumexp(member logits) - logsumexp(all logits)``, i.e. the log of
    the summed softmax probabilities of the members: a shared K-way head supervised at a
    coarser level, with no extra parameters.
    """
    k = logits.shape[1]
    groups = _lut_groups(lut, k)
    log_p = F.log_softmax(logits, dim=1)
    out = []
    for g in range(int(groups.max()) + 1):
        idx = torch.as_tensor(np.flatnonzero(groups == g), device=logits.device)
        out.append(torch.logsumexp(log_p.index_select(1, idx), dim=1))
    return torch.stack(out, dim=1)


def _make_lut(groups: Sequence[Sequence[int]]) -> np.ndarray:
    lut = np.full(256, IGNORE_LABEL, np.uint8)  # ids 25..254 are not labels: ignored
    for g, members in enumerate(groups):
        for c in members:
            lut[c] = g
    assert (lut[:NUM_PARTS] != IGNORE_LABEL).all()
    lut.setflags(write=False)
    return lut


_BODY = tuple(range(1, NUM_PARTS))
_HEAD = (13, 16)  # neck, head
_TORSO = (1, 4, 7, 10, 14, 15)  # hips, spine, spine1, spine2, shoulders
_UPPER_ARMS = (17, 18)
_LOWER_ARMS = (19, 20, 21, 22, 23, 24)  # forearms, hands, fingers
_THIGHS = (2, 3)
_SHINS = (5, 6, 8, 9, 11, 12)  # legs, feet, toes

# seed-systems.md 2.6 item 7, coarse to fine; entries 25..254 map to 255 (ignored)
PROGRESSIVE_LUTS: tuple[np.ndarray, ...] = (
    _make_lut([(0,), _BODY]),  # 1: {bg, body}
    _make_lut([(0,), _HEAD, _TORSO, _UPPER_ARMS + _LOWER_ARMS, _THIGHS + _SHINS]),  # 2
    _make_lut([(0,), _HEAD, _TORSO, _UPPER_ARMS, _LOWER_ARMS, _THIGHS, _SHINS]),  # 3
    _make_lut([(c,) for c in range(NUM_PARTS)]),  # 4: all 25 (identity)
)


def progressive_luts(stacks: int) -> list[np.ndarray]:
    """One LUT per stack, the last the identity (full 25-class ground truth).

    Up to 4 stacks take the finest levels (2 stacks: level 3, identity). More than 4
    spread the 4 levels over the stacks in order, stack ``s`` getting level
    ``min(3, s * 4 // stacks)`` (8 stacks: 1,1,2,2,3,3,4,4)."""
    if stacks < 1:
        raise ValueError(f"stacks must be >= 1, got {stacks}")
    n = len(PROGRESSIVE_LUTS)
    if stacks <= n:
        return list(PROGRESSIVE_LUTS[n - stacks:])
    return [PROGRESSIVE_LUTS[min(n - 1, s * n // stacks)] for s in range(stacks)]


# --------------------------------------------------------------------------- multi-output


def resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, H, W) int labels -> (B, h, w) int64, exactly ``F.interpolate(mode="nearest")``."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels.long()
    # float32 holds 0..255 exactly
    return F.interpolate(labels[:, None].float(), size=tuple(size), mode="nearest")[:, 0].long()


def multi_output_loss(outputs: Sequence[tuple[torch.Tensor, float]], labels: torch.Tensor,
                      weights: WeightsLike | Sequence[WeightsLike] = None,
                      form: Form = "outer",
                      levels: Sequence[np.ndarray | None] | None = None,
                      ignore_index: int = IGNORE_LABEL,
                      ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Weighted sum of per-output CE losses -> (total, [loss of each output]).

    ``outputs``: ``(logits (B, K_i, h_i, w_i), weight)`` at any resolution; ``labels``
    (B, H, W) int64 are nearest-resized to each output (:func:`resize_labels`).
    ``total = sum(weight_i * loss_i)``; the per-output losses are unweighted.
    ICNet: ``[(sub4, 0.16), (sub24, 0.4), (sub124, 1.0)]``; hourglass: each stack with
    ``1 / stacks``.

    ``levels``: per output, a LUT (:data:`PROGRESSIVE_LUTS`) or None. With a LUT the
    labels go through it; if the output has more channels than the LUT has groups (a
    shared 25-way head) its logits are merged by :func:`coarse_log_probs`, otherwise
    (a head with exactly G channels) they are used as they are.

    ``weights``: None, one class-weight vector, or one per output (each None or a vector).
    A single vector applies where it fits: "outer" weights index the *target* classes,
    so outputs whose target has another class count (coarse levels) get unweighted CE;
    "direct" weights scale the head's logit channels, before any merging. To weight a
    coarse level, pass per-output vectors, e.g.
    ``class_weights(coarse_histogram(hist, lut), "w1")``. A per-output vector that fits
    neither raises ``ValueError``.
    """
    if levels is not None and len(levels) != len(outputs):
        raise ValueError(f"{len(levels)} levels for {len(outputs)} outputs")
    if levels is not None and ignore_index != IGNORE_LABEL:
        raise ValueError(f"LUT levels keep {IGNORE_LABEL} as the ignore label")
    per_output_weights = isinstance(weights, (list, tuple)) and len(weights) > 0 and (
        weights[0] is None or np.ndim(weights[0]) == 1)
    if per_output_weights and len(weights) != len(outputs):
        raise ValueError(f"{len(weights)} weight vectors for {len(outputs)} outputs")
    total: torch.Tensor | None = None
    losses: list[torch.Tensor] = []
    for i, (logits, lam) in enumerate(outputs):
        k = logits.shape[1]
        target = resize_labels(labels, tuple(logits.shape[-2:]))
        lut = None if levels is None else levels[i]
        w = weights[i] if per_output_weights else weights
        if lut is None:
            loss = weighted_cross_entropy(logits, target, w, form, ignore_index)
        else:
            mapped = apply_lut(target, lut)
            if bool(((target != ignore_index) & (mapped == IGNORE_LABEL)).any()):
                raise ValueError("labels that the LUT does not map (not a class id)")
            target = mapped
            g = int(np.unique(_lut_array(lut)[_lut_array(lut) != IGNORE_LABEL]).size)
            if k == g:  # a head that already predicts the groups
                if not per_output_weights and w is not None and np.size(
                        w.detach().cpu() if isinstance(w, torch.Tensor) else w) != k:
                    w = None  # a fine-class vector does not fit a coarse head
                loss = weighted_cross_entropy(logits, target, w, form, ignore_index)
            elif k > g:  # a shared fine head: merge its classes into the groups
                g = lut_num_groups(lut, k)
                n = None if w is None else int(np.asarray(
                    w.detach().cpu() if isinstance(w, torch.Tensor) else w).size)
                if form == "direct":
                    if w is not None and n != k:
                        if per_output_weights:
                            raise ValueError(f"direct weights must have {k} entries, got {n}")
                        w = None
                    wt = _weight_tensor(w, k, logits)
                    scaled = logits if wt is None else logits * wt.view(
                        1, k, *([1] * (logits.dim() - 2)))
                    loss = nll_from_log_probs(coarse_log_probs(scaled, lut), target, None,
                                              ignore_index)
                elif form == "outer":
                    if w is not None and n != g:
                        if per_output_weights:
                            raise ValueError(f"outer weights must have {g} entries, got {n}")
                        w = None
                    loss = nll_from_log_probs(coarse_log_probs(logits, lut), target, w,
                                              ignore_index)
                else:
                    raise ValueError(f"form must be 'outer' or 'direct', got {form!r}")
            else:
                raise ValueError(f"output {i} has {k} channels, fewer than the LUT's {g} groups")
        losses.append(loss)
        total = lam * loss if total is None else total + lam * loss
    if total is None:
        raise ValueError("no outputs")
    return total, losses


# --------------------------------------------------------------------------- joint branch


def joint_heatmaps(joints: torch.Tensor | np.ndarray, size: tuple[int, int],
                   sigma: float = 2.0) -> torch.Tensor:
    """(B, J, 3) joints ``(x, y, visible)`` in output pixels -> (B, J, h, w) float32 targets.

    Pixel ``(row i, col j)`` has centre ``(x=j, y=i)``; the target is
    ``exp(-((x - jx)^2 + (y - jy)^2) / (2 sigma^2))`` (peak 1 at the joint); joints with
    ``visible <= 0`` (or non-finite coordinates) get an all-zero map.
    """
    j = torch.as_tensor(joints, dtype=torch.float32)
    if j.dim() != 3 or j.shape[-1] != 3:
        raise ValueError(f"joints must be (B, J, 3), got {tuple(j.shape)}")
    h, w = int(size[0]), int(size[1])
    ys = torch.arange(h, dtype=torch.float32, device=j.device).view(1, 1, h, 1)
    xs = torch.arange(w, dtype=torch.float32, device=j.device).view(1, 1, 1, w)
    jx = j[..., 0, None, None]
    jy = j[..., 1, None, None]
    ok = (j[..., 2] > 0) & torch.isfinite(j[..., 0]) & torch.isfinite(j[..., 1])
    d2 = (xs - torch.nan_to_num(jx)) ** 2 + (ys - torch.nan_to_num(jy)) ** 2
    maps = torch.exp(-d2 / (2.0 * sigma * sigma))
    return maps * ok[..., None, None].float()


def joint_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between predicted and target heatmaps (B, J, h, w)."""
    return F.mse_loss(pred, target.to(pred.dtype), reduction="mean")
