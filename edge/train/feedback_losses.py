"""Per-pixel template-similarity ("feedback") losses of seed 002 (seed-systems.md 3.1, 3.4).

Algorithm 3 in closed form, with ``f_p`` the fc7 vector of pixel ``p``, ``y_p`` its label,
``C_b`` the labels present and ``t_c`` the class template:

    L_aux = (1/|C_b|) sum_{c in C_b} [ sum_{p: y_p != c} S(f_p, t_c)
                                       - sum_{p: y_p = c} S(f_p, t_c) ]

so similarity to another class's template costs and similarity to one's own class's
template pays. ``t_c = f_{p*}`` with ``p* = argmax_{p: y_p = c} logits_c(p)``: the pixel of
the class (inside its ground-truth mask) where the fc8 logit of the class is highest.

The four variants of the seed (:data:`FEEDBACK_LOSSES`): ``S`` is Pearson correlation over
channels (eq. 3.1, with the 1/n the printed formula lacks) or cosine (eq. 3.2); the
"selective" ones count only misclassified pixels (argmax of fc8 != label).

Decisions where the seed is silent (seed-systems.md 3.4): ignore pixels never count; the
background (label 0) is a class unless ``include_background`` is False; the template is a target
(stop-gradient) unless ``template_grad``; ``reduction="sum"`` is the seed's (magnitude
~ pixels in the batch, which explains its collapse at large weights), ``"mean"`` divides
each of the two sums by its pixel count; ``template="image"`` runs Algorithm 3 on each
image alone (templates and sums within the image) and averages over the images that have
a counted class, so a batch of one gives the same value either way.

The loss is training only; nothing here reaches the exported graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from edge.errors import ConfigError
from edge.optional import require

require("torch", "training")

import torch  # noqa: E402

from edge.data.samples import IGNORE_LABEL  # noqa: E402

Similarity = Literal["cosine", "correlation"]
Reduction = Literal["sum", "mean"]
TemplateScope = Literal["batch", "image"]

# the seed's four names -> (similarity, selective)
FEEDBACK_LOSSES: dict[str, tuple[Similarity, bool]] = {
    "correlation": ("correlation", False),
    "cosine": ("cosine", False),
    "selective-correlation": ("correlation", True),
    "selective-cosine": ("cosine", True),
}

EPS = 1e-8  # norms below it count as zero vectors: similarity 0, not NaN


def similarity_matrix(features: torch.Tensor, templates: torch.Tensor,
                      similarity: Similarity) -> torch.Tensor:
    """(P, C) pixel vectors x (M, C) templates -> (M, P) similarities in [-1, 1].

    Pearson correlation is the cosine of the mean-centred vectors: the 1/n of the
    covariance and of both standard deviations cancel. A vector of zero norm (after
    centring, for correlation) has similarity 0 with everything."""
    if similarity == "correlation":
        features = features - features.mean(dim=1, keepdim=True)
        templates = templates - templates.mean(dim=1, keepdim=True)
    elif similarity != "cosine":
        raise ValueError(f"similarity must be 'cosine' or 'correlation', got {similarity!r}")
    f = features / features.norm(dim=1, keepdim=True).clamp_min(EPS)
    t = templates / templates.norm(dim=1, keepdim=True).clamp_min(EPS)
    return t @ f.t()


def class_templates(features: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                    classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Templates (M, C) and their pixel indices (M,) for ``classes`` (M,).

    ``features`` (P, C), ``scores`` (P, K) fc8 logits, ``labels`` (P,): for class c the
    pixel with the highest ``scores[:, c]`` among pixels labelled c (ties: the first)."""
    inside = labels[None, :] == classes[:, None]  # (M, P)
    s = scores.detach().t()[classes]  # (M, P)
    s = torch.where(inside, s, torch.full_like(s, -math.inf))
    idx = s.argmax(dim=1)
    return features[idx], idx


def _algorithm3(features: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                similarity: Similarity, selective: bool, reduction: Reduction,
                include_background: bool, template_grad: bool,
                ignore_index: int) -> torch.Tensor | None:
    """Algorithm 3 over one set of pixels (P, C), (P, K), (P,); None when no class counts."""
    valid = labels != ignore_index
    classes = torch.unique(labels[valid])
    if not include_background:
        classes = classes[classes != 0]
    if classes.numel() == 0:
        return None
    templates, _ = class_templates(features, scores, labels, classes)
    if not template_grad:
        templates = templates.detach()
    sim = similarity_matrix(features, templates, similarity)  # (M, P)
    counted = valid
    if selective:
        counted = counted & (scores.detach().argmax(dim=1) != labels)
    same = labels[None, :] == classes[:, None]
    pos = same & counted[None, :]
    neg = ~same & counted[None, :]
    zero = torch.zeros((), dtype=sim.dtype, device=sim.device)
    pos_sum = torch.where(pos, sim, zero).sum(dim=1)
    neg_sum = torch.where(neg, sim, zero).sum(dim=1)
    if reduction == "mean":
        pos_sum = pos_sum / pos.sum(dim=1).clamp_min(1)
        neg_sum = neg_sum / neg.sum(dim=1).clamp_min(1)
    elif reduction != "sum":
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    return (neg_sum - pos_sum).mean()


def template_similarity_loss(features: torch.Tensor, logits: torch.Tensor,
                             labels: torch.Tensor, similarity: Similarity = "cosine",
                             selective: bool = False, reduction: Reduction = "sum",
                             template: TemplateScope = "batch",
                             include_background: bool = True, template_grad: bool = False,
                             ignore_index: int = IGNORE_LABEL) -> torch.Tensor:
    """Scalar auxiliary loss (see the module docstring for the formula and its choices).

    ``features`` (B, C, h, w): fc7 activations; ``logits`` (B, K, h, w): fc8 (used only
    for template choice and, if ``selective``, for the misclassified mask; no gradient
    flows through them); ``labels`` (B, h, w) int64 at the same h, w (nearest-downsampled
    by the caller), ``ignore_index`` never counts. A batch without a counted class gives
    0 that still carries the graph."""
    if features.dim() != 4 or logits.dim() != 4 or labels.dim() != 3:
        raise ValueError(f"features (B, C, h, w), logits (B, K, h, w) and labels (B, h, w) "
                         f"expected, got {tuple(features.shape)}, {tuple(logits.shape)}, "
                         f"{tuple(labels.shape)}")
    b, c, h, w = features.shape
    if logits.shape[0] != b or tuple(logits.shape[-2:]) != (h, w) or \
            tuple(labels.shape) != (b, h, w):
        raise ValueError(f"features {tuple(features.shape)}, logits {tuple(logits.shape)} and "
                         f"labels {tuple(labels.shape)} must share batch and (h, w); resize "
                         f"the labels (nearest) to the logits first")
    if template not in ("batch", "image"):
        raise ValueError(f"template must be 'batch' or 'image', got {template!r}")
    k = logits.shape[1]
    labels = labels.long()
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= k))
    if bool(bad.any()):
        raise ValueError(f"labels outside 0..{k - 1} (and not {ignore_index}): "
                         f"{torch.unique(labels[bad]).tolist()}")
    f = features.permute(0, 2, 3, 1).reshape(b, h * w, c)
    s = logits.permute(0, 2, 3, 1).reshape(b, h * w, k)
    y = labels.reshape(b, h * w)
    opts = (similarity, selective, reduction, include_background, template_grad, ignore_index)
    if template == "batch":
        parts = [_algorithm3(f.reshape(-1, c), s.reshape(-1, k), y.reshape(-1), *opts)]
    else:
        parts = [_algorithm3(f[i], s[i], y[i], *opts) for i in range(b)]
    parts = [p for p in parts if p is not None]
    if not parts:
        return features.sum() * 0.0
    return torch.stack(parts).mean()


@dataclass(frozen=True)
class FeedbackLoss:
    """The auxiliary loss a training run adds: ``L = CE + weight * L_aux`` (the seed's
    "correlation weighting factor" is ``weight``; it swept 0.01 .. 5). The defaults are
    Table 3.1's best cell: selective cosine at 0.05 (mIoU 0.6377 vs 0.6225)."""

    name: str = "selective-cosine"
    weight: float = 0.05
    reduction: Reduction = "sum"
    template: TemplateScope = "batch"
    include_background: bool = True

    def __post_init__(self) -> None:
        if self.name not in FEEDBACK_LOSSES:
            raise ConfigError(f"--feedback-loss must be one of {', '.join(FEEDBACK_LOSSES)}, "
                              f"got {self.name!r}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or \
                not math.isfinite(self.weight) or self.weight < 0:
            raise ConfigError(f"--feedback-weight must be a finite number >= 0 (the seed "
                              f"used 0.01 .. 5), got {self.weight!r}")
        if self.reduction not in ("sum", "mean"):
            raise ConfigError(f"--feedback-reduction must be sum (the seed's) or mean, got "
                              f"{self.reduction!r}")
        if self.template not in ("batch", "image"):
            raise ConfigError(f"--feedback-template must be batch (the seed's) or image, got "
                              f"{self.template!r}")

    @property
    def similarity(self) -> Similarity:
        return FEEDBACK_LOSSES[self.name][0]

    @property
    def selective(self) -> bool:
        return FEEDBACK_LOSSES[self.name][1]

    def __call__(self, features: torch.Tensor, logits: torch.Tensor,
                 labels: torch.Tensor, ignore_index: int = IGNORE_LABEL) -> torch.Tensor:
        """The *unweighted* L_aux; the trainer adds ``weight *`` it to the CE."""
        return template_similarity_loss(
            features, logits, labels, similarity=self.similarity, selective=self.selective,
            reduction=self.reduction, template=self.template,
            include_background=self.include_background, ignore_index=ignore_index)
