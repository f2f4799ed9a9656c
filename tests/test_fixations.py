"""Segmentation fixations (seed 002, ch. 2) on hand-built conv stacks whose answer is
known: a single bright pixel, pool argmax, depthwise convs, BN folding, the three shift
modes and the K strategies; then the heat map and the written images, and a smoke run
on the small DeepLab-LargeFOV models."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from edge.evaluate.fixations import (  # noqa: E402
    fixation_heatmap,
    segmentation_fixations,
    write_fixation_images,
)


def _conv(cin: int, cout: int, k: int, weight, bias=0.0, **kw) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, k, **kw)
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(weight, dtype=torch.float32).expand_as(conv.weight))
        conv.bias.fill_(0.0)
        conv.bias.copy_(torch.as_tensor(bias, dtype=torch.float32).expand_as(conv.bias))
    return conv


def _classifier(cin: int, threshold: float) -> nn.Conv2d:
    """1x1 conv: class 0 = constant ``threshold``, class 1 = the sum of the input."""
    conv = nn.Conv2d(cin, 2, 1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[1] = 1.0
        conv.bias.copy_(torch.tensor([threshold, 0.0]))
    return conv


def _points(arr: np.ndarray) -> set[tuple[int, int]]:
    return {(int(x), int(y)) for x, y in arr}


PIXEL = (5, 5)  # (x, y)


def bright_pixel_stack() -> tuple[list[nn.Module], torch.Tensor]:
    """11x11 image at 0.01 with one pixel at 1.01. conv1: 3x3 ones but the centre tap 2
    (a zero-background window prefers its own centre); conv2: 3x3 ones, dilation 2; class
    1 wins where conv2 > 1.5, i.e. on the 7x7 block whose dilated taps see the pixel."""
    w1 = torch.ones(3, 3)
    w1[1, 1] = 2.0
    layers = [_conv(1, 1, 3, w1, padding=1), nn.ReLU(),
              _conv(1, 1, 3, 1.0, padding=2, dilation=2), nn.ReLU(), nn.Dropout(0.5),
              _classifier(1, 1.5)]
    image = torch.full((1, 1, 11, 11), 0.01)
    image[0, 0, PIXEL[1], PIXEL[0]] = 1.01
    return layers, image


def test_class_region_of_the_bright_pixel_stack() -> None:
    layers, image = bright_pixel_stack()
    with torch.no_grad():
        y = image
        for m in layers:
            y = m.eval()(y)
    region = {(x, yy) for yy in range(11) for x in range(11) if y[0, 1, yy, x] > y[0, 0, yy, x]}
    assert region == {(x, yy) for x in range(2, 9) for yy in range(2, 9)}


def test_full_shift_lands_on_the_single_bright_pixel() -> None:
    layers, image = bright_pixel_stack()
    fx = segmentation_fixations(layers, image, classes=[1], shift="full", k=1)
    assert _points(fx[1]) == {PIXEL}
    assert fx[1].dtype == np.int64 and fx[1].shape == (1, 2)


def test_shift_modes_differ_as_specified() -> None:
    layers, image = bright_pixel_stack()
    block = {(x, y) for x in range(2, 9) for y in range(2, 9)}
    # no shift: every conv keeps the unit's position -> the class region itself
    none = segmentation_fixations(layers, image, classes=[1], shift="none", k=1)
    assert _points(none[1]) == block
    # partial: the atrous conv2 keeps the position, conv1 (dilation 1) may shift: units
    # next to the pixel move onto it, the others stay on their own (centre-heavy) tap
    partial = segmentation_fixations(layers, image, classes=[1], shift="partial", k=1)
    near = {(x, y) for x in range(4, 7) for y in range(4, 7)}
    assert _points(partial[1]) == (block - near) | {PIXEL}
    full = segmentation_fixations(layers, image, classes=[1], shift="full", k=1)
    assert _points(full[1]) == {PIXEL}
    # "resolution" K is 1 where the resolution stays: the same as k=1
    res = segmentation_fixations(layers, image, classes=[1], shift="partial")
    assert _points(res[1]) == _points(partial[1])


@pytest.mark.parametrize("kernel, stride, padding, ceil", [(2, 2, 0, False), (3, 2, 1, False),
                                                           (3, 2, 1, True), (3, 1, 1, False)])
def test_max_pool_takes_the_window_argmax(kernel, stride, padding, ceil) -> None:
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 1, 8, 8, generator=g)
    pool = nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil)
    layers = [pool, _classifier(1, -1.0)]  # class 1 everywhere
    fx = segmentation_fixations(layers, image, classes=[1], k=1)
    _, idx = F.max_pool2d(image, kernel, stride, padding, ceil_mode=ceil, return_indices=True)
    want = {(int(i) % 8, int(i) // 8) for i in idx.reshape(-1)}
    assert _points(fx[1]) == want


def test_resolution_k_and_int_k_at_a_pool() -> None:
    image = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    layers = [nn.MaxPool2d(2, 2), _classifier(1, -1.0)]
    # 8x8 -> 4x4: K = 4 = the whole 2x2 window, so every pixel
    res = segmentation_fixations(layers, image, classes=[1])
    assert len(res[1]) == 64
    two = segmentation_fixations(layers, image, classes=[1], k=2)
    windows = image[0, 0].reshape(4, 2, 4, 2).permute(0, 2, 1, 3).reshape(16, 4)
    top2 = windows.topk(2, dim=1).indices
    want = set()
    for w, (a, b) in enumerate(top2.tolist()):
        for t in (a, b):
            want.add(((w % 4) * 2 + t % 2, (w // 4) * 2 + t // 2))
    assert _points(two[1]) == want


def test_fraction_k_captures_that_share_of_the_activation() -> None:
    """A 1x4 kernel over a 1x4 image of ones: contributions 5, 3, 1.5, 0.5 (sum 10)."""
    conv = nn.Conv2d(1, 2, (1, 4))
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[1, 0, 0] = torch.tensor([5.0, 3.0, 1.5, 0.5])
        conv.bias.copy_(torch.tensor([1.0, 0.0]))
    image = torch.ones(1, 1, 1, 4)
    for k, xs in [(0.5, {0}), (0.6, {0, 1}), (0.9, {0, 1, 2}), (1.0, {0, 1, 2, 3}),
                  (1, {0}), (2, {0, 1})]:
        fx = segmentation_fixations([conv], image, classes=[1], shift="full", k=k)
        assert _points(fx[1]) == {(x, 0) for x in xs}, k


def test_depthwise_conv_stays_in_its_channel() -> None:
    """Channel 0 has a dim pixel at A, channel 1 a bright one at B, two apart: a unit of
    channel 0 between them must still trace to A (depthwise: its own channel only)."""
    a, b = (3, 4), (5, 4)
    image = torch.zeros(1, 2, 9, 9)
    image[0, 0, a[1], a[0]] = 1.0
    image[0, 1, b[1], b[0]] = 10.0
    dw = _conv(2, 2, 3, 1.0, padding=1, groups=2)
    cls = nn.Conv2d(2, 3, 1)
    with torch.no_grad():
        cls.weight.zero_()
        cls.weight[0, 0] = 1.0  # class 0 reads channel 0 only
        cls.weight[1, 1] = 0.05  # class 1 reads channel 1 only (x0.05: 0.5 vs 1)
        cls.bias.copy_(torch.tensor([0.0, 0.0, 0.01]))  # class 2: background elsewhere
    fx = segmentation_fixations([dw, nn.ReLU6(), cls], image, shift="full", k=1)
    assert set(fx) == {0, 1, 2}
    assert _points(fx[0]) == {a}
    assert _points(fx[1]) == {b}


def test_batchnorm_is_folded_into_the_conv_before_it() -> None:
    """A negative BN scale flips which input drives a unit: with A = +1 and B = -2 in the
    same window, the post-BN unit is driven by B."""
    a, b = (2, 2), (4, 2)
    image = torch.zeros(1, 1, 5, 7)
    image[0, 0, a[1], a[0]] = 1.0
    image[0, 0, b[1], b[0]] = -2.0
    bn = nn.BatchNorm2d(1)
    with torch.no_grad():
        bn.weight.fill_(-1.0)
    layers = [_conv(1, 1, 3, 1.0, padding=1), bn, nn.ReLU(), _classifier(1, 0.5)]
    fx = segmentation_fixations(layers, image, classes=[1], shift="full", k=1)
    assert _points(fx[1]) == {b}
    assert all(m.training for m in layers)  # run in eval mode, training flags restored


def test_classes_and_errors() -> None:
    layers, image = bright_pixel_stack()
    fx = segmentation_fixations(layers, image)
    assert set(fx) == {0, 1}
    none = segmentation_fixations([nn.MaxPool2d(2, 2), _classifier(1, 100.0)],
                                  torch.rand(1, 1, 4, 4), classes=[1])
    assert none[1].shape == (0, 2)  # asked for, never predicted
    with pytest.raises(ValueError, match="shift"):
        segmentation_fixations(layers, image, shift="some")
    with pytest.raises(ValueError, match="k must be"):
        segmentation_fixations(layers, image, k=0)
    with pytest.raises(ValueError, match="Upsample"):
        segmentation_fixations([nn.Upsample(scale_factor=2.0)] + layers, image)
    with pytest.raises(ValueError, match="outside"):
        segmentation_fixations(layers, image, classes=[5])


@pytest.mark.parametrize("backbone", ["vgg16", "mobilenet_v1"])
def test_small_deeplab_models(backbone: str) -> None:
    from edge.description import VOC_CLASSES, ModelDescription
    from edge.models.deeplab import DeepLabLargeFOV

    torch.manual_seed(0)
    desc = ModelDescription(name="deeplab-largefov", task="semantic", backbone=backbone,
                            architecture="deeplab-largefov", input_size=(48, 48),
                            class_names=VOC_CLASSES, output_stride=8, fc_width=32, alpha=0.25)
    model = DeepLabLargeFOV(desc).eval()
    image = torch.randn(1, 3, 48, 48, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        predicted = set(model(image).argmax(1).unique().tolist())
    counts = {}
    for shift in ("none", "partial", "full"):
        fx = segmentation_fixations(model.fixation_layers(), image, shift=shift)
        assert set(fx) == predicted
        for pts in fx.values():
            assert len(pts) > 0 and pts.min() >= 0 and pts.max() < 48
            assert len(np.unique(pts, axis=0)) == len(pts)
        counts[shift] = sum(len(p) for p in fx.values())
    assert len(set(counts.values())) > 1  # the modes trace different paths
    if backbone == "mobilenet_v1":
        capped = segmentation_fixations(model.fixation_layers(), image, max_points=10)
        assert all(len(p) <= 10 for p in capped.values())


def test_heatmap_is_normalised_and_drops_outliers() -> None:
    g = np.random.default_rng(4)
    cluster = np.clip(np.rint(g.normal((20, 30), 2.0, size=(200, 2))), 0, 99).astype(np.int64)
    points = np.concatenate([cluster, [[80, 5]]])  # one isolated fixation
    heat = fixation_heatmap(points, (60, 100), sigma=3.0)
    assert heat.shape == (60, 100) and heat.dtype == np.float32
    assert heat.max() == pytest.approx(1.0) and heat.min() >= 0.0
    assert abs(np.unravel_index(heat.argmax(), heat.shape)[1] - 20) <= 3
    assert heat[5, 80] == 0.0  # removed as an outlier
    kept = fixation_heatmap(points, (60, 100), sigma=3.0, outlier_density=0.0)
    assert kept[5, 80] > 0.0
    empty = fixation_heatmap(np.zeros((0, 2)), (10, 12))
    assert empty.shape == (10, 12) and not empty.any()
    outside = fixation_heatmap(np.array([[200, 200]]), (10, 12))
    assert not outside.any()


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_write_fixation_images(tmp_path, ext: str) -> None:
    image = np.full((40, 60, 3), 90, np.uint8)
    fixations = {0: np.array([[10, 10], [11, 12]]), 3: np.array([[50, 30]])}
    names = ("background", "cat", "dog", "sofa/chair")
    paths = write_fixation_images(image, fixations, names, tmp_path / "fx", "frame7", ext=ext)
    assert [p.name for p in paths] == [f"frame7_00_background{ext}", f"frame7_03_sofa-chair{ext}"]
    for p in paths:
        img = cv2.imread(str(p))
        assert img is not None and img.shape == (40, 60, 3)
        assert not np.array_equal(img, image)  # heat map and text drawn
    # points given at a network input size are scaled to the image
    big = write_fixation_images(np.zeros((80, 120, 3), np.uint8), {1: np.array([[59, 39]])},
                                names, tmp_path, "s", input_hw=(40, 60), ext=".png")
    red = cv2.imread(str(big[0]))  # centre (59.5, 39.5) x2 -> (119, 79) - 0.5, rounded
    assert tuple(red[78, 118]) == (0, 0, 255)
