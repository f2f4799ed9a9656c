"""Losses (thesis 3.1.1, 3.1.2, 3.2.1, 4.2.2).

SSD: smooth-L1 on positive anchors' codes plus softmax cross-entropy with hard negative
mining (the highest-loss negatives, ``neg_ratio`` per positive), both normalised by the
number of positives. ISB: sigmoid cross-entropy of the ground-truth class's mask
channel against the resized mask, averaged over pixels and boxes. FCN: per-pixel
softmax cross-entropy ignoring label 255.
"""

from __future__ import annotations

from edge.optional import require

require("torch", "training")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from edge.data.samples import IGNORE_LABEL

MIN_NEGATIVES = 8  # per image, so images without objects still teach "background"


def ssd_loss(codes: torch.Tensor, logits: torch.Tensor, target_codes: torch.Tensor,
             labels: torch.Tensor, neg_ratio: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, A, 4), (B, A, K+1), (B, A, 4), (B, A) -> (localisation, classification) losses."""
    pos = labels > 0
    num_pos = pos.sum().clamp(min=1).float()
    loc = F.smooth_l1_loss(codes[pos], target_codes[pos], beta=1.0, reduction="sum") / num_pos
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.clamp(min=0).reshape(-1),
                         reduction="none").view(labels.shape)
    neg_ce = ce.detach().clone()
    neg_ce[labels != 0] = -1.0  # positives and ignored (crowd) anchors are never negatives
    order = neg_ce.argsort(dim=1, descending=True)
    rank = order.argsort(dim=1)
    per_image = (pos.sum(1, keepdim=True) * neg_ratio).clamp(min=MIN_NEGATIVES)
    neg = (rank < per_image) & (labels == 0)
    cls = (ce[pos].sum() + ce[neg].sum()) / num_pos
    return loc, cls


def mask_loss(mask_logits: torch.Tensor, classes: torch.Tensor,
              targets: torch.Tensor) -> torch.Tensor:
    """(N, K, h, w) logits, (N,) class index, (N, h, w) targets -> mean sigmoid CE."""
    picked = mask_logits[torch.arange(mask_logits.shape[0]), classes]
    return F.binary_cross_entropy_with_logits(picked, targets, reduction="mean")


def semantic_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) logits, (B, H, W) int64 labels -> mean CE over labelled pixels."""
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_LABEL)
