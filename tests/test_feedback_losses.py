"""Seed 002's per-pixel template-similarity losses: a hand-computed example, a literal
loop implementation of Algorithm 3 as the reference, template choice, the selective
mask, reductions, ignore pixels, batch vs per-image templates, gradients, and the
config's validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge.errors import ConfigError  # noqa: E402
from edge.train.feedback_losses import (  # noqa: E402
    FEEDBACK_LOSSES,
    FeedbackLoss,
    class_templates,
    template_similarity_loss,
)

R2 = 1 / math.sqrt(2)


def tiny() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """1x4 image, 2 classes. Labels [0, 0, 1, 1]; features (1,0), (1,1), (0,1), (0,2).
    Class-0 logits [2, 1, 5, 0]: its template is pixel 0 (pixel 2 scores higher but is
    not class 0); class-1 logits [0, 9, 3, 4]: template pixel 3. Predictions [0, 1, 0, 1],
    so pixels 1 and 2 are the misclassified ones."""
    f = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 2.0]]).t().reshape(1, 2, 1, 4)
    logits = torch.tensor([[2.0, 1.0, 5.0, 0.0], [0.0, 9.0, 3.0, 4.0]]).reshape(1, 2, 1, 4)
    labels = torch.tensor([[[0, 0, 1, 1]]])
    return f, logits, labels


def test_hand_computed_example() -> None:
    f, logits, labels = tiny()
    # class 0, t=(1,0): others {2,3} cos 0, 0; own {0,1} cos 1, 1/sqrt2 -> -(1 + 1/sqrt2)
    # class 1, t=(0,2): others {0,1} cos 0, 1/sqrt2; own {2,3} cos 1, 1 -> 1/sqrt2 - 2
    loss = template_similarity_loss(f, logits, labels, "cosine")
    assert loss.item() == pytest.approx((-(1 + R2) + (R2 - 2)) / 2, abs=1e-6)  # -1.5
    mean = template_similarity_loss(f, logits, labels, "cosine", reduction="mean")
    assert mean.item() == pytest.approx(-0.75, abs=1e-6)  # every count is 2: sum / 2
    # selective: only pixels 1 (class 0, predicted 1) and 2 (class 1, predicted 0) count
    # class 0: -(cos(f1, t0)) + cos(f2, t0) = -1/sqrt2 + 0; class 1: cos(f1, t1) - cos(f2, t1)
    sel = template_similarity_loss(f, logits, labels, "cosine", selective=True)
    assert sel.item() == pytest.approx((-R2 + (R2 - 1)) / 2, abs=1e-6)  # -0.5
    # without background only class 1's bracket is left
    fg = template_similarity_loss(f, logits, labels, "cosine", include_background=False)
    assert fg.item() == pytest.approx(R2 - 2, abs=1e-6)


def test_template_is_the_class_logit_argmax_inside_the_mask() -> None:
    f, logits, labels = tiny()
    feats = f[0].reshape(2, -1).t()
    scores = logits[0].reshape(2, -1).t()
    templates, idx = class_templates(feats, scores, labels.reshape(-1), torch.tensor([0, 1]))
    assert idx.tolist() == [0, 3]  # not pixels 2 and 1, whose logits are higher outside
    assert torch.equal(templates, feats[[0, 3]])
    # raising the logit outside the mask changes nothing; inside it moves the template
    outside = logits.clone()
    outside[0, 0, 0, 3] = 100.0
    assert template_similarity_loss(f, outside, labels) == template_similarity_loss(f, logits,
                                                                                    labels)
    inside = logits.clone()
    inside[0, 0, 0, 1] = 100.0  # class 0 template -> pixel 1, (1, 1)
    assert template_similarity_loss(f, inside, labels) != template_similarity_loss(f, logits,
                                                                                   labels)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return 0.0 if na < 1e-8 or nb < 1e-8 else float(a @ b / (na * nb))


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return 0.0 if na < 1e-8 or nb < 1e-8 else float(a @ b / (na * nb))


def reference(f, logits, labels, similarity, selective, reduction, template,
              include_background, ignore=255) -> float:
    """Algorithm 3, written as the seed writes it (loops over labels and pixels)."""
    f, logits, labels = f.numpy(), logits.numpy(), labels.numpy()
    sim = _corr if similarity == "correlation" else _cos
    groups = [range(f.shape[0])] if template == "batch" else [[i] for i in range(f.shape[0])]
    results = []
    for images in groups:
        pix = [(b, y, x) for b in images for y in range(f.shape[2]) for x in range(f.shape[3])]
        present = sorted({int(labels[p]) for p in pix if labels[p] != ignore})
        if not include_background:
            present = [c for c in present if c != 0]
        if not present:
            continue
        loss = 0.0
        for c in present:
            mine = [p for p in pix if labels[p] == c]
            best = max(mine, key=lambda p: logits[p[0], c, p[1], p[2]])  # first on ties
            t = f[best[0], :, best[1], best[2]]
            pos = neg = 0.0
            npos = nneg = 0
            for p in pix:
                if labels[p] == ignore:
                    continue
                if selective and int(np.argmax(logits[p[0], :, p[1], p[2]])) == labels[p]:
                    continue
                s = sim(f[p[0], :, p[1], p[2]], t)
                if labels[p] == c:
                    pos, npos = pos + s, npos + 1
                else:
                    neg, nneg = neg + s, nneg + 1
            if reduction == "mean":
                pos, neg = pos / max(npos, 1), neg / max(nneg, 1)
            loss += neg - pos
        results.append(loss / len(present))
    return float(np.mean(results)) if results else 0.0


@pytest.mark.parametrize("similarity", ["cosine", "correlation"])
@pytest.mark.parametrize("selective", [False, True])
@pytest.mark.parametrize("reduction, template, background", [
    ("sum", "batch", True), ("mean", "batch", False), ("sum", "image", True),
    ("mean", "image", False)])
def test_matches_the_literal_algorithm(similarity, selective, reduction, template,
                                       background) -> None:
    g = torch.Generator().manual_seed(7)
    f = torch.relu(torch.randn(2, 6, 3, 4, generator=g))
    logits = torch.randn(2, 4, 3, 4, generator=g)
    labels = torch.randint(0, 4, (2, 3, 4), generator=g)
    labels[0, 0, :2] = 255
    labels[1, 2, 3] = 255
    got = template_similarity_loss(f, logits, labels, similarity, selective, reduction,
                                   template, include_background=background)
    want = reference(f, logits, labels, similarity, selective, reduction, template, background)
    assert got.item() == pytest.approx(want, abs=1e-5)


def test_features_aligned_with_their_class_template_lower_the_loss() -> None:
    g = torch.Generator().manual_seed(8)
    labels = torch.randint(0, 3, (2, 6, 6), generator=g)
    protos = torch.randn(3, 16, generator=g)
    aligned = protos[labels].permute(0, 3, 1, 2) + 0.05 * torch.randn(2, 16, 6, 6, generator=g)
    scrambled = aligned[:, :, torch.randperm(6, generator=g)][..., torch.randperm(6, generator=g)]
    logits = torch.randn(2, 3, 6, 6, generator=g)
    for sim in ("cosine", "correlation"):
        good = template_similarity_loss(aligned, logits, labels, sim)
        bad = template_similarity_loss(scrambled, logits, labels, sim)
        assert good < bad
        assert good < 0  # own-class similarity (~1) outweighs others'
    # and gradient descent on the features lowers it
    f = torch.randn(2, 16, 6, 6, generator=g, requires_grad=True)
    before = template_similarity_loss(f, logits, labels, "cosine").item()
    opt = torch.optim.SGD([f], lr=0.5)
    for _ in range(20):
        opt.zero_grad()
        template_similarity_loss(f, logits, labels, "cosine").backward()
        opt.step()
    assert template_similarity_loss(f, logits, labels, "cosine").item() < before


def test_selective_ignores_correctly_classified_pixels() -> None:
    g = torch.Generator().manual_seed(9)
    f = torch.randn(1, 8, 4, 4, generator=g, requires_grad=True)
    logits = torch.randn(1, 3, 4, 4, generator=g)
    labels = torch.randint(0, 3, (1, 4, 4), generator=g)
    correct = (logits.argmax(1) == labels)[0]
    assert correct.any() and (~correct).any()
    loss = template_similarity_loss(f, logits, labels, "correlation", selective=True)
    loss.backward()
    grad = f.grad[0].abs().sum(0)
    assert bool((grad[correct] == 0).all())  # not counted; templates carry no gradient
    assert bool((grad[~correct] > 0).all())
    # changing a correctly classified pixel that is no template leaves the loss unchanged
    feats, scores = f.detach()[0].reshape(8, -1).t(), logits[0].reshape(3, -1).t()
    _, tidx = class_templates(feats, scores, labels.reshape(-1), torch.unique(labels))
    free = [i for i in torch.nonzero(correct.reshape(-1)).reshape(-1).tolist()
            if i not in tidx.tolist()]
    assert free
    moved = f.detach().clone()
    moved[0, :, free[0] // 4, free[0] % 4] += 10.0
    again = template_similarity_loss(moved, logits, labels, "correlation", selective=True)
    assert again.item() == pytest.approx(loss.item(), abs=1e-6)


def test_sum_and_mean_reductions() -> None:
    g = torch.Generator().manual_seed(10)
    f = torch.randn(1, 4, 2, 4, generator=g)
    logits = torch.randn(1, 2, 2, 4, generator=g)
    labels = torch.tensor([[[0, 0, 0, 0], [1, 1, 1, 1]]])  # 4 own and 4 other pixels each
    for sim in ("cosine", "correlation"):
        s = template_similarity_loss(f, logits, labels, sim, reduction="sum")
        m = template_similarity_loss(f, logits, labels, sim, reduction="mean")
        assert m.item() == pytest.approx(s.item() / 4, abs=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        template_similarity_loss(f, logits, labels, reduction="max")


def test_ignore_pixels_never_count() -> None:
    g = torch.Generator().manual_seed(11)
    f = torch.randn(1, 5, 1, 6, generator=g)
    logits = torch.randn(1, 3, 1, 6, generator=g)
    labels = torch.tensor([[[0, 1, 2, 255, 1, 0]]])
    logits[0, :, 0, 3] = 50.0  # the highest logit of every class is at the ignore pixel
    base = template_similarity_loss(f, logits, labels, "correlation")
    keep = [0, 1, 2, 4, 5]
    sub = template_similarity_loss(f[..., keep], logits[..., keep], labels[..., keep],
                                   "correlation")
    assert base.item() == pytest.approx(sub.item(), abs=1e-6)
    moved = f.clone()
    moved[0, :, 0, 3] = torch.randn(5, generator=g) * 10
    assert template_similarity_loss(moved, logits, labels, "correlation").item() == \
        pytest.approx(base.item(), abs=1e-6)
    # nothing labelled: zero that still carries the graph
    fr = f.clone().requires_grad_(True)
    empty = template_similarity_loss(fr, logits, torch.full_like(labels, 255))
    assert empty.item() == 0.0 and empty.requires_grad
    only_bg = template_similarity_loss(fr, logits, torch.zeros_like(labels),
                                       include_background=False)
    assert only_bg.item() == 0.0


def test_per_image_and_batch_templates() -> None:
    g = torch.Generator().manual_seed(12)
    f = torch.randn(2, 6, 3, 3, generator=g)
    logits = torch.randn(2, 3, 3, 3, generator=g)
    labels = torch.randint(0, 3, (2, 3, 3), generator=g)
    for i in range(2):  # a batch of one: identical
        one = (f[i:i + 1], logits[i:i + 1], labels[i:i + 1])
        assert template_similarity_loss(*one, template="image").item() == pytest.approx(
            template_similarity_loss(*one, template="batch").item(), abs=1e-6)
    per_image = template_similarity_loss(f, logits, labels, template="image")
    separately = np.mean([template_similarity_loss(f[i:i + 1], logits[i:i + 1],
                                                   labels[i:i + 1]).item() for i in range(2)])
    assert per_image.item() == pytest.approx(separately, abs=1e-6)
    assert template_similarity_loss(f, logits, labels, template="batch").item() != \
        pytest.approx(per_image.item(), abs=1e-3)


def test_gradient_reaches_features_not_templates_or_logits() -> None:
    g = torch.Generator().manual_seed(13)
    f0 = torch.randn(1, 6, 3, 3, generator=g)
    logits = torch.randn(1, 3, 3, 3, generator=g, requires_grad=True)
    labels = torch.randint(0, 3, (1, 3, 3), generator=g)
    grads = {}
    for tg in (False, True):
        f = f0.clone().requires_grad_(True)
        template_similarity_loss(f, logits, labels, "cosine", template_grad=tg).backward()
        grads[tg] = f.grad.clone()
    assert logits.grad is None  # logits only choose templates and the selective mask
    feats, scores = f0[0].reshape(6, -1).t(), logits.detach()[0].reshape(3, -1).t()
    _, tidx = class_templates(feats, scores, labels.reshape(-1), torch.unique(labels))
    is_t = torch.zeros(9, dtype=torch.bool)
    is_t[tidx] = True
    flat = {k: v[0].reshape(6, -1).t() for k, v in grads.items()}
    assert bool((flat[False].abs().sum(1) > 0).all())  # every counted pixel gets gradient
    torch.testing.assert_close(flat[False][~is_t], flat[True][~is_t])
    assert not torch.allclose(flat[False][is_t], flat[True][is_t])
    # with template_grad False the template pixel's gradient is its own pixel term only
    f = f0.clone().requires_grad_(True)
    t = f0[0].reshape(6, -1).t()[tidx]  # constant templates
    own = f[0].reshape(6, -1).t()
    cos = torch.nn.functional.cosine_similarity(own[None], t[:, None], dim=2)  # (M, P)
    classes = torch.unique(labels).reshape(-1, 1)
    same = labels.reshape(1, -1) == classes
    ((cos * (~same)).sum(1) - (cos * same).sum(1)).mean().backward()
    torch.testing.assert_close(f.grad, grads[False])


def test_correlation_is_invariant_to_per_pixel_affine_maps() -> None:
    g = torch.Generator().manual_seed(14)
    f = torch.randn(2, 12, 4, 4, generator=g)
    logits = torch.randn(2, 3, 4, 4, generator=g)
    labels = torch.randint(0, 3, (2, 4, 4), generator=g)
    a = torch.rand(2, 1, 4, 4, generator=g) * 5 + 0.1
    b = torch.randn(2, 1, 4, 4, generator=g) * 3
    for sel in (False, True):
        base = template_similarity_loss(f, logits, labels, "correlation", selective=sel)
        moved = template_similarity_loss(a * f + b, logits, labels, "correlation",
                                         selective=sel)
        assert moved.item() == pytest.approx(base.item(), abs=1e-4)
    # cosine is only scale invariant
    cos = template_similarity_loss(f, logits, labels, "cosine")
    assert template_similarity_loss(a * f, logits, labels, "cosine").item() == \
        pytest.approx(cos.item(), abs=1e-4)
    assert abs(template_similarity_loss(a * f + b, logits, labels, "cosine").item()
               - cos.item()) > 1e-2


def test_bad_inputs_are_refused() -> None:
    f, logits, labels = tiny()
    with pytest.raises(ValueError, match="outside 0..1"):
        template_similarity_loss(f, logits, torch.tensor([[[0, 0, 1, 7]]]))
    with pytest.raises(ValueError, match="resize"):
        template_similarity_loss(f, logits, torch.zeros(1, 2, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="similarity"):
        template_similarity_loss(f, logits, labels, "dot")
    with pytest.raises(ValueError, match="template"):
        template_similarity_loss(f, logits, labels, template="class")


def test_feedback_loss_config() -> None:
    assert FEEDBACK_LOSSES == {
        "correlation": ("correlation", False), "cosine": ("cosine", False),
        "selective-correlation": ("correlation", True),
        "selective-cosine": ("cosine", True)}
    cfg = FeedbackLoss("selective-correlation", 0.01, reduction="mean", template="image",
                       include_background=False)
    assert cfg.similarity == "correlation" and cfg.selective
    f, logits, labels = tiny()
    assert cfg(f, logits, labels).item() == pytest.approx(template_similarity_loss(
        f, logits, labels, "correlation", True, "mean", "image", False).item())
    for kwargs, option in [({"name": "dice"}, "--feedback-loss"),
                           ({"weight": -1.0}, "--feedback-weight"),
                           ({"weight": float("nan")}, "--feedback-weight"),
                           ({"reduction": "max"}, "--feedback-reduction"),
                           ({"template": "class"}, "--feedback-template")]:
        with pytest.raises(ConfigError, match=option):
            FeedbackLoss(**kwargs)
