"""Seed 001's segmentation losses: class weights, weighted CE, multi-output, progressive GT,
joint heatmaps (edge.train.seg_losses)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from edge.train.seg_losses import (  # noqa: E402
    PROGRESSIVE_LUTS, apply_lut, class_weights, coarse_histogram, coarse_log_probs,
    joint_heatmaps, joint_loss, multi_output_loss, progressive_luts, resize_labels,
    weighted_cross_entropy,
)


def _batch(seed=0, b=2, k=5, h=6, w=7, ignore_frac=0.2):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, k, h, w, generator=g)
    labels = torch.randint(0, k, (b, h, w), generator=g)
    labels[torch.rand(b, h, w, generator=g) < ignore_frac] = 255
    return logits, labels


# ----------------------------------------------------------------- class weights


def test_w1_by_hand() -> None:
    w = class_weights([10, 30, 60], "w1")
    assert w.dtype == np.float32 and w.shape == (3,)
    np.testing.assert_allclose(w, [0.9, 0.7, 0.4], rtol=1e-6)


def test_w2_by_hand() -> None:
    # A = [1/6, 1/2, 1]; B = [6, 2, 1]; mean 3, std sqrt(14/3)
    w = class_weights([10, 30, 60], "w2")
    b = np.array([6.0, 2.0, 1.0])
    std = math.sqrt(((6 - 3) ** 2 + (2 - 3) ** 2 + (1 - 3) ** 2) / 3)
    expected = b * np.exp(-(b - 3.0) / (4 * std))
    np.testing.assert_allclose(w, expected, rtol=1e-6)
    assert w[0] == pytest.approx(6 * math.exp(-3 / (4 * std)), rel=1e-6)


def test_zero_count_classes_are_finite() -> None:
    w1 = class_weights([0, 10, 30, 60, 0], "w1")
    np.testing.assert_allclose(w1, [1.0, 0.9, 0.7, 0.4, 1.0], rtol=1e-6)
    w2 = class_weights([0, 10, 30, 60, 0], "w2")
    assert np.isfinite(w2).all()
    np.testing.assert_allclose(w2[1:4], class_weights([10, 30, 60], "w2"), rtol=1e-6)
    assert w2[0] == w2[4] == w2[1:4].max()  # absent: the largest present weight
    np.testing.assert_allclose(class_weights([5, 0, 5], "w2"), [1, 1, 1])  # std 0
    with pytest.raises(ValueError):
        class_weights([0, 0], "w1")
    with pytest.raises(ValueError):
        class_weights([1, 2], "w3")


def test_coarse_histogram() -> None:
    hist = np.arange(25, dtype=np.float64)
    np.testing.assert_allclose(coarse_histogram(hist, PROGRESSIVE_LUTS[0]), [0, hist.sum()])


# ----------------------------------------------------------------- weighted CE


def test_plain_outer_direct_relations() -> None:
    logits, labels = _batch()
    plain = F.cross_entropy(logits, labels, ignore_index=255)
    ones = np.ones(5, np.float32)
    assert torch.allclose(weighted_cross_entropy(logits, labels), plain, atol=1e-6)
    assert torch.allclose(weighted_cross_entropy(logits, labels, ones, "outer"), plain, atol=1e-6)
    assert torch.allclose(weighted_cross_entropy(logits, labels, ones, "direct"), plain,
                          atol=1e-6)
    # uniform weight c: outer scales the loss by c (per-pixel mean, not normalised by sum w)
    assert torch.allclose(weighted_cross_entropy(logits, labels, 3 * ones, "outer"), 3 * plain,
                          atol=1e-5)
    # direct with uniform c is CE of c * logits (a temperature)
    assert torch.allclose(weighted_cross_entropy(logits, labels, 3 * ones, "direct"),
                          F.cross_entropy(3 * logits, labels, ignore_index=255), atol=1e-5)


def test_outer_and_direct_by_definition() -> None:
    logits, labels = _batch(seed=1)
    w = torch.tensor([0.5, 1.0, 2.0, 0.1, 3.0])
    valid = labels != 255
    logp = F.log_softmax(logits, 1)
    y = labels.clamp(max=4)
    per_pixel = -logp.gather(1, y[:, None])[:, 0]
    outer = (w[y] * per_pixel)[valid].mean()
    assert torch.allclose(weighted_cross_entropy(logits, labels, w, "outer"), outer, atol=1e-6)
    # differs from PyTorch's weighted mean (normalised by sum of w_y)
    torch_weighted = F.cross_entropy(logits, labels, weight=w, ignore_index=255)
    assert torch.allclose(torch_weighted * w[y][valid].sum() / valid.sum(), outer, atol=1e-6)
    direct = F.cross_entropy(logits * w.view(1, 5, 1, 1), labels, ignore_index=255)
    assert torch.allclose(weighted_cross_entropy(logits, labels, w.numpy(), "direct"), direct,
                          atol=1e-6)


def test_ignore_label_and_empty_batch() -> None:
    logits, labels = _batch(seed=2)
    mask = labels == 255  # changing the logits of ignored pixels changes nothing
    changed2 = logits.clone()
    changed2.permute(0, 2, 3, 1)[mask] = torch.randn(int(mask.sum()), 5)
    assert torch.allclose(weighted_cross_entropy(changed2, labels, [1, 2, 3, 4, 5]),
                          weighted_cross_entropy(logits, labels, [1, 2, 3, 4, 5]), atol=1e-6)
    logits.requires_grad_(True)
    empty = weighted_cross_entropy(logits, torch.full_like(labels, 255))
    assert empty.item() == 0.0 and torch.isfinite(empty)
    empty.backward()
    with pytest.raises(ValueError):
        weighted_cross_entropy(logits, labels, [1, 2], "outer")
    with pytest.raises(ValueError):
        weighted_cross_entropy(logits, labels, None, "inner")


# ----------------------------------------------------------------- multi-output


def test_multi_output_resizes_labels_nearest_and_sums_weights() -> None:
    g = torch.Generator().manual_seed(3)
    labels = torch.randint(0, 4, (2, 24, 40), generator=g)
    labels[:, :3] = 255
    outs = [(torch.randn(2, 4, 3, 5, generator=g), 0.16),
            (torch.randn(2, 4, 6, 10, generator=g), 0.4),
            (torch.randn(2, 4, 7, 13, generator=g), 1.0),  # not an integer factor
            (torch.randn(2, 4, 24, 40, generator=g), 0.5)]
    total, losses = multi_output_loss(outs, labels)
    expected = []
    for logits, _ in outs:
        size = logits.shape[-2:]
        ref = F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()
        assert torch.equal(resize_labels(labels, tuple(size)), ref)
        expected.append(F.cross_entropy(logits, ref, ignore_index=255))
    for got, exp in zip(losses, expected):
        assert torch.allclose(got, exp, atol=1e-6)
    assert torch.allclose(total, sum(lam * e for (_, lam), e in zip(outs, expected)), atol=1e-6)
    w = np.array([1.0, 2.0, 0.5, 4.0], np.float32)
    total_w, losses_w = multi_output_loss(outs, labels, w, "outer")
    assert torch.allclose(losses_w[1], weighted_cross_entropy(
        outs[1][0], resize_labels(labels, (6, 10)), w, "outer"), atol=1e-6)


def test_hourglass_stacks_with_progressive_levels() -> None:
    g = torch.Generator().manual_seed(4)
    labels = torch.randint(0, 25, (2, 16, 16), generator=g)
    labels[0, 0] = 255
    stacks = [(torch.randn(2, 25, 16, 16, generator=g, requires_grad=True), 0.25)
              for _ in range(4)]
    luts = progressive_luts(4)
    total, losses = multi_output_loss(stacks, labels, levels=luts)
    total.backward()
    for (logits, _), lut, loss in zip(stacks, luts, losses):
        target = apply_lut(labels, lut)
        exp = F.nll_loss(coarse_log_probs(logits, lut), target, ignore_index=255)
        assert torch.allclose(loss, exp, atol=1e-6)
    # the last level is the plain 25-class CE
    assert torch.allclose(losses[-1], F.cross_entropy(stacks[-1][0], labels, ignore_index=255),
                          atol=1e-5)
    # a per-stack head with G channels is used as is
    head2 = torch.randn(2, 2, 8, 8, generator=g)
    _, (l2,) = multi_output_loss([(head2, 1.0)], labels, levels=[PROGRESSIVE_LUTS[0]])
    ref = apply_lut(resize_labels(labels, (8, 8)), PROGRESSIVE_LUTS[0])
    assert torch.allclose(l2, F.cross_entropy(head2, ref, ignore_index=255), atol=1e-6)
    # weights: a 25-vector fits the fine levels (outer) or every shared head (direct)
    w = np.linspace(0.5, 2.0, 25).astype(np.float32)
    _, lw = multi_output_loss(stacks, labels, w, "outer", levels=luts)
    assert torch.allclose(lw[0], losses[0]) and not torch.allclose(lw[-1], losses[-1])
    assert torch.allclose(lw[-1], weighted_cross_entropy(stacks[-1][0], labels, w), atol=1e-6)
    _, ld = multi_output_loss(stacks, labels, w, "direct", levels=luts)
    scaled = stacks[0][0] * torch.from_numpy(w).view(1, 25, 1, 1)
    assert torch.allclose(ld[0], F.nll_loss(coarse_log_probs(scaled, luts[0]),
                                            apply_lut(labels, luts[0]), ignore_index=255),
                          atol=1e-6)
    gw = class_weights(coarse_histogram(np.arange(1, 26), luts[1]), "w1")
    _, lg = multi_output_loss(stacks[1:2], labels, [gw], "outer", levels=luts[1:2])
    assert not torch.allclose(lg[0], losses[1])
    bad = labels.clone()
    bad[0, 1, 1] = 30
    with pytest.raises(ValueError):
        multi_output_loss(stacks[:1], bad, levels=luts[:1])


def test_coarse_log_sum_exp_is_log_of_summed_probabilities() -> None:
    logits = torch.randn(2, 25, 3, 4, generator=torch.Generator().manual_seed(5),
                         dtype=torch.float64)
    p = F.softmax(logits, 1)
    for lut in PROGRESSIVE_LUTS:
        groups = lut[:25]
        got = coarse_log_probs(logits, lut)
        assert got.shape[1] == groups.max() + 1
        for gi in range(groups.max() + 1):
            members = np.flatnonzero(groups == gi).tolist()
            ref = torch.log(p[:, members].sum(1))
            assert torch.allclose(got[:, gi], ref, atol=1e-10)
        assert torch.allclose(got.exp().sum(1), torch.ones(2, 3, 4, dtype=torch.float64))


def test_progressive_luts_cover_all_ids() -> None:
    sizes = []
    for lut in PROGRESSIVE_LUTS:
        assert lut.shape == (256,) and lut.dtype == np.uint8
        assert lut[255] == 255
        assert (lut[:25] != 255).all()
        assert set(lut[:25].tolist()) == set(range(lut[:25].max() + 1))
        assert lut[0] == 0  # background is its own group at every level
        sizes.append(int(lut[:25].max()) + 1)
    assert sizes == [2, 5, 7, 25]
    np.testing.assert_array_equal(PROGRESSIVE_LUTS[-1][:25], np.arange(25))
    l2, l3 = PROGRESSIVE_LUTS[1], PROGRESSIVE_LUTS[2]
    assert l2[13] == l2[16] and l2[14] == l2[1] and l2[17] == l2[24] and l2[2] == l2[12]
    assert l3[17] != l3[19] and l3[19] == l3[21] == l3[23] and l3[2] != l3[5]
    assert l3[5] == l3[8] == l3[11]
    # every finer level refines the coarser one
    for coarse, fine in zip(PROGRESSIVE_LUTS, PROGRESSIVE_LUTS[1:]):
        for gi in range(fine[:25].max() + 1):
            assert len(set(coarse[:25][fine[:25] == gi].tolist())) == 1
    assert [len(progressive_luts(s)) for s in (1, 2, 4, 8)] == [1, 2, 4, 8]
    for s in (1, 2, 3, 4, 6, 8):
        assert progressive_luts(s)[-1] is PROGRESSIVE_LUTS[-1]
    assert progressive_luts(2)[0] is PROGRESSIVE_LUTS[2]
    assert progressive_luts(8)[0] is PROGRESSIVE_LUTS[0]


# ----------------------------------------------------------------- joint branch


def test_joint_heatmaps_peak_at_joint_and_invisible_zero() -> None:
    joints = torch.tensor([[[5.0, 3.0, 1.0], [10.0, 7.0, 0.0]],
                           [[0.0, 0.0, 2.0], [19.0, 11.0, 1.0]]])
    hm = joint_heatmaps(joints, (12, 20), sigma=2.0)
    assert hm.shape == (2, 2, 12, 20) and hm.dtype == torch.float32
    assert hm[0, 0, 3, 5] == 1.0 and hm[0, 0].argmax() == 3 * 20 + 5
    assert hm[0, 0, 3, 7] == pytest.approx(math.exp(-4 / 8))
    assert hm[0, 1].abs().sum() == 0
    assert hm[1, 1].argmax() == 11 * 20 + 19
    assert joint_loss(hm, hm) == 0.0
    assert joint_loss(torch.zeros_like(hm), hm) == pytest.approx(float((hm ** 2).mean()))


def test_luts_agree_with_the_data_module() -> None:
    parts = pytest.importorskip("edge.data.parts")
    levels = getattr(parts, "PROGRESSIVE_LEVELS", None)
    if levels is None:
        pytest.skip("edge.data.parts has no PROGRESSIVE_LEVELS")
    for i, lut in enumerate(PROGRESSIVE_LUTS, start=1):
        np.testing.assert_array_equal(np.asarray(levels[i].lut), lut)
