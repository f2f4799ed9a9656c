"""Seed 000's RoI-masked pixel-wise segmentation on MobileNet-v1 (seed-systems.md 1.1-1.5).

The seed merges a detector (Faster R-CNN) with a Co-CNN decoder: detected boxes become a
binary RoI mask that zeroes the shared features outside the RoIs, per-RoI class scores
become "CMap" context maps, and the background channel is raised by a constant outside
the RoIs. Here, as decided in 1.4.1, the detector is the package's MobileNet-v1 SSD, and
every Caffe "Python layer" is a static-shape graph op TensorRT parses (1.5).

**Shared backbone.** One MobileNet-v1 pass (the SSD's own backbone) gives the SSD's
stride-16/32 maps and the decoder's skips: the deepest map at each resolution, layer 1
(stride 2, 64a channels), layer 3 (stride 4, 128a) and the stride-8 tap (layer 5, 256a),
as the seed's skips are the last shared map before each pooling. The SSD extras and
heads then run on taps 16/32 exactly as :meth:`SSDDetector.forward` does.

**RoI proposer (in the graph).** Codes are decoded against the anchors (a buffer from
:func:`edge.geometry.ssd_anchors`), class probabilities are a softmax over
``D + 1`` logits (column 0 background), the RoI score is ``1 - p_background``; the top
4N anchors go through Fast NMS and TopK with the constant ``k = roi_boxes`` picks N RoIs,
clamped to the image (:func:`propose_rois`: without suppression one object's duplicates
would fill every slot). RoIs at or below ``score_threshold``, and suppressed ones, stay in
the fixed-size set but mark no cell.

**Decoder** (Table 4, the channel-consistent reading of 1.1, adapted to MobileNet):
masked 1/8 features -> three stages ``[ConvTranspose 4x4/2 (padding 1: exactly x2, so
no Crop layer for inputs that are multiples of 32) -> Conv (5x5, 3x3, 5x5) to the skip's
channels -> + skip -> concat CMap -> Conv 5x5]`` with skips at 1/4 (layer 3), 1/2
(layer 1) and 1/1. MobileNet has no full-resolution map (its first layer has stride 2),
so the 1/1 skip (AlexNet's conv1 in the seed) is a 5x5 conv of the image; the table's
separate "Convolution (image)" path is a second 5x5 image conv summed after stage 3,
then Conv 3x3 -> re-mask at 1/1 -> Conv 1x1 to K -> + CMap -> ReLU -> Conv 1x1 to K ->
mask -> background correction (channel 0 += ``background_score * (1 - M)``). The seed's
"+ CMap" is an element sum of C = D + 1 detector-class maps onto K segmentation scores;
it only type-checks when C == K (its VOC setting), so otherwise a bias-free 1x1 conv
projects C to K first. CMaps are rasterised directly at 1/4, 1/2 and 1/1, where the
stages concatenate them (none is needed at 1/8). Every conv and deconv except the two
K-channel score convs and the CMap projection is followed by BN + ReLU (decision 1.4.7:
BN instead of the seed's LRN).
Widths are the table's 256/256/96 (and 256 after the image path) times the depth
multiplier ``alpha``, at least 16, so the decoder scales with the backbone for edge use.

**RoI modes.** "mask": the seed's dense decoder on masked features (no FLOP saving: a
product with a mask does not skip convolutions, 1.4.10). "none": the ablation, no
feature masking, no re-mask, no background correction (CMaps still used). "crop": the
decoder runs only on N crops of ``roi_crop x roi_crop`` stride-8 cells (and the matching
1/4, 1/2 and 1/1 windows of the taps, the image and the CMaps), sampled nearest over each
RoI's box with Gather on computed indices (GridSample and RoiAlign are not in the
package's TRT table), batched as B*N crops, then pasted back at the input resolution: per
pixel and RoI the crop cell the pixel centre falls in, kept where the RoI's inside-box
mask is 1, max over RoIs, 0 where no RoI, then background correction. Every crop sample
lies inside its own RoI, so the seed's feature masking is the identity inside a crop and
is skipped. Static shapes mean every one of the N RoIs is decoded, also those at or below
the threshold (and, in training, the zero-score padding of ground-truth RoIs, whose crops
also enter the decoder's batch-norm statistics); only the paste drops them.

The masks are fixed inputs of the segmentation path (the seed's Fig. 25): predicted RoIs
are detached, so the segmentation loss reaches the shared backbone but never the SSD
heads through the mask or the CMaps.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edge.architecture import MOBILENET_TAPS, mobilenet_depth
from edge.description import ModelDescription
from edge.errors import ConfigError
from edge.geometry.anchors import ssd_anchors

from .backbones import BN_EPS
from .geometry_torch import box_iou, decode
from .ssd import SSDDetector

# MobileNet layer index -> stride of the taps the decoder and the SSD read: the deepest
# layer at each resolution (layer 0 is stride 2 too, layer 1 is its last).
DECODER_TAPS = {1: 2, 3: 4, MOBILENET_TAPS[8]: 8, MOBILENET_TAPS[16]: 16, MOBILENET_TAPS[32]: 32}
# Table 4's widths at alpha 1: stage post-concat convs, deconvs, the 3x3 after the image path.
STAGE_WIDTHS = (256, 256, 96)
DECONV_WIDTH = 256
REFINE_WIDTH = 256
# In "crop" pasting, the value a RoI not covering a pixel competes with in the max over RoIs
# (finite, within FP16's range, so FP16 engines stay exact); such pixels are zeroed after.
_OUTSIDE = 1.0e4


# ------------------------------------------------------------------ rasterisers (graph ops)


def _edges(n: int, stride: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Left (top) and right (bottom) pixel edges of ``n`` cells of size ``stride``."""
    lo = torch.arange(n, dtype=like.dtype, device=like.device) * float(stride)
    return lo, lo + float(stride)


def inside_boxes(boxes: torch.Tensor, scores: torch.Tensor, hw: tuple[int, int], stride: int,
                 threshold: float) -> torch.Tensor:
    """(B, N, h, w) float {0, 1}: cell in box n (outward rounding) and score > threshold.

    Mirror of ``edge.geometry.raster._inside``; boxes (B, N, 4), scores (B, N). Emits
    Less/Greater/And/Cast/Mul on constant edge vectors only.
    """
    h, w = hw
    left, right = _edges(w, stride, boxes)
    top, bottom = _edges(h, stride, boxes)
    in_x = (boxes[..., 0:1] < right) & (boxes[..., 2:3] > left)  # (B, N, w)
    in_y = (boxes[..., 1:2] < bottom) & (boxes[..., 3:4] > top)  # (B, N, h)
    valid = (scores > threshold)[..., None, None]
    inside = in_y[..., :, None] & in_x[..., None, :] & valid
    # Where, not a bool->float Cast: onnxconverter-common's FP16 pass retypes a Cast's
    # output to float16 but keeps to=FLOAT, and ONNX Runtime refuses the graph
    one = torch.ones((), dtype=boxes.dtype, device=boxes.device)
    return torch.where(inside, one, torch.zeros_like(one))


def box_mask(boxes: torch.Tensor, scores: torch.Tensor, hw: tuple[int, int], stride: int,
             threshold: float) -> torch.Tensor:
    """(B, 1, h, w) union mask: mirror of :func:`edge.geometry.raster.box_mask` (ReduceMax
    over RoIs)."""
    return inside_boxes(boxes, scores, hw, stride, threshold).amax(dim=1, keepdim=True)


def confidence_maps(boxes: torch.Tensor, scores: torch.Tensor, probs: torch.Tensor,
                    hw: tuple[int, int], stride: int, threshold: float) -> torch.Tensor:
    """(B, C, h, w) CMaps from probs (B, N, C) >= 0: mirror of
    :func:`edge.geometry.raster.confidence_maps` (Mul + ReduceMax over RoIs)."""
    inside = inside_boxes(boxes, scores, hw, stride, threshold)
    return (inside[:, :, None] * probs[..., None, None]).amax(dim=1)


def background_correction(logits: torch.Tensor, mask: torch.Tensor, value: float) -> torch.Tensor:
    """(B, K, h, w) logits with channel 0 += ``value * (1 - mask)``, mask (B, 1, h, w):
    mirror of :func:`edge.geometry.raster.background_correction` (Slice/Mul/Add/Concat)."""
    return torch.cat([logits[:, :1] + value * (1.0 - mask), logits[:, 1:]], dim=1)


# ------------------------------------------------------------------ RoI proposer


def clamp_boxes(boxes: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """(..., 4) boxes clamped to the ``hw`` image (one Clip per coordinate)."""
    h, w = hw
    limits = (w, h, w, h)
    return torch.stack([boxes[..., i].clamp(0.0, float(limits[i])) for i in range(4)], dim=-1)


def _gather_rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(B, A, F) rows ``idx`` (B, M) -> (B, M, F)."""
    return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))


def propose_rois(codes: torch.Tensor, class_logits: torch.Tensor, anchors: torch.Tensor,
                 weights: tuple[float, float, float, float], k: int, hw: tuple[int, int],
                 iou_threshold: float = 0.6, candidates: int | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-``k`` RoIs of the SSD outputs after Fast NMS: (B, k, 4) boxes clamped to the
    image, (B, k) scores ``1 - p_background``, (B, k, D + 1) softmax probabilities.

    The union and the max over RoIs ignore duplicates, but the k slots do not: without
    suppression one confident object's overlapping anchors fill every slot and a second
    object is never masked in. So the top ``candidates`` (default 4k, at most the anchor
    count) by score go through Fast NMS (YOLACT's: a box is dropped when a higher-scored
    one overlaps it by more than ``iou_threshold``, in one parallel step with a constant
    upper-triangular mask, static shapes) and TopK k picks among the survivors;
    suppressed slots keep their box with score 0, which marks nothing. Anchors rank by
    the logit margin ``logsumexp(foreground) - background``, which orders as
    ``1 - p_background`` does but does not saturate to ties in FP16.
    """
    boxes = decode(codes, anchors, weights)
    probs = torch.softmax(class_logits, dim=-1)
    fg = class_logits[..., 1:]
    top_fg = fg.amax(dim=-1, keepdim=True)  # logsumexp by hand: ReduceLogSumExp is not in
    lse = top_fg[..., 0] + torch.log(torch.exp(fg - top_fg).sum(dim=-1))  # the TRT table
    margin = lse - class_logits[..., 0]
    m = min(candidates or 4 * k, margin.shape[1])
    cand_margin, idx = torch.topk(margin, m, dim=1)
    cand_boxes = clamp_boxes(_gather_rows(boxes, idx), hw)
    cand_probs = _gather_rows(probs, idx)
    iou = box_iou(cand_boxes, cand_boxes)
    upper = torch.ones(m, m, dtype=iou.dtype, device=iou.device).triu(1)  # constant
    worst = (iou * upper).amax(dim=1)  # each box's largest IoU with a higher-ranked one
    keep = worst <= iou_threshold
    ranked = torch.where(keep, cand_margin, cand_margin - 1.0e4)
    _, pick = torch.topk(ranked, k, dim=1)
    rois = _gather_rows(cand_boxes, pick)
    p = _gather_rows(cand_probs, pick)
    kept = torch.gather(keep, 1, pick)
    score = torch.where(kept, 1.0 - p[..., 0], torch.zeros_like(p[..., 0]))
    return rois, score, p


# ------------------------------------------------------------------ crop and paste


def _cell_index(lo: torch.Tensor, hi: torch.Tensor, size: int, stride: int, cells: int
                ) -> torch.Tensor:
    """(B, N, size) int64: the stride-``stride`` cell holding each of ``size`` evenly
    spaced sample centres over [lo, hi) (per RoI), clamped to the ``cells`` of the map."""
    u = (torch.arange(size, dtype=lo.dtype, device=lo.device) + 0.5) / float(size)
    pos = lo[..., None] + u * (hi - lo)[..., None]
    return torch.floor(pos / float(stride)).clamp(0, cells - 1).to(torch.int64)


def sample_crops(fmap: torch.Tensor, rois: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """Nearest samples of ``fmap`` (B, C, h, w), a stride-``stride`` map, over each RoI
    (B, N, 4): (B*N, C, size, size), RoI-major (crop b*N + n).

    Sample (v, u) sits at the box point ``(x1 + (u + .5) w / size, y1 + (v + .5) h /
    size)``; the cell is found with Floor and read with one Gather on the flattened map
    (indices computed in the graph; no GridSample/RoiAlign). A box of ``size * stride``
    pixels aligned to the grid is copied exactly.
    """
    b, c, h, w = fmap.shape
    n = rois.shape[1]
    ix = _cell_index(rois[..., 0], rois[..., 2], size, stride, w)  # (B, N, size)
    iy = _cell_index(rois[..., 1], rois[..., 3], size, stride, h)
    base = (torch.arange(b, device=fmap.device) * (h * w))[:, None, None, None]
    idx = base + iy[..., :, None] * w + ix[..., None, :]  # (B, N, size, size)
    table = fmap.permute(0, 2, 3, 1).reshape(b * h * w, c)
    out = table.index_select(0, idx.reshape(-1)).reshape(b * n, size, size, c)
    return out.permute(0, 3, 1, 2)


def paste_crops(crops: torch.Tensor, rois: torch.Tensor, inside: torch.Tensor,
                hw: tuple[int, int]) -> torch.Tensor:
    """Crops (B*N, K, r, r) pasted into a (B, K, H, W) map at stride 1: per pixel and RoI
    the crop cell its centre falls in (the inverse of :func:`sample_crops`), kept where
    ``inside`` (B, N, H, W) is 1, max over RoIs; pixels no RoI covers get ``-1e4`` (the
    caller multiplies by the union mask)."""
    bn, k, r, _ = crops.shape
    b, n = rois.shape[:2]
    h, w = hw
    x1, y1 = rois[..., 0:1], rois[..., 1:2]
    bw = (rois[..., 2:3] - x1).clamp(min=1e-6)
    bh = (rois[..., 3:4] - y1).clamp(min=1e-6)
    xs = torch.arange(w, dtype=rois.dtype, device=rois.device) + 0.5
    ys = torch.arange(h, dtype=rois.dtype, device=rois.device) + 0.5
    u = torch.floor((xs - x1) * (r / bw)).clamp(0, r - 1).to(torch.int64)  # (B, N, W)
    v = torch.floor((ys - y1) * (r / bh)).clamp(0, r - 1).to(torch.int64)  # (B, N, H)
    base = (torch.arange(bn, device=crops.device) * (r * r)).reshape(b, n)[..., None, None]
    idx = base + v[..., :, None] * r + u[..., None, :]  # (B, N, H, W)
    table = crops.permute(0, 2, 3, 1).reshape(bn * r * r, k)
    vals = table.index_select(0, idx.reshape(-1)).reshape(b, n, h, w, k)
    ins = inside[..., None]
    best = (vals * ins + (ins - 1.0) * _OUTSIDE).amax(dim=1)  # (B, H, W, K)
    return best.permute(0, 3, 1, 2)


# ------------------------------------------------------------------ decoder


def conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    """'Same' conv (no bias) + BN + ReLU: the decoder's unit (BN per decision 1.4.7)."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, 1, k // 2, bias=False),
                         nn.BatchNorm2d(cout, eps=BN_EPS), nn.ReLU(inplace=True))


class _Stage(nn.Module):
    """One Cross-Layer Context stage of Table 4: deconv x2 -> conv to the skip's width ->
    + skip -> concat CMap -> conv 5x5."""

    def __init__(self, cin: int, deconv: int, k: int, skip: int, cmap: int, out: int) -> None:
        super().__init__()
        self.up = nn.Sequential(nn.ConvTranspose2d(cin, deconv, 4, 2, 1, bias=False),
                                nn.BatchNorm2d(deconv, eps=BN_EPS), nn.ReLU(inplace=True))
        self.pre = conv_bn_relu(deconv, skip, k)
        self.post = conv_bn_relu(skip + cmap, out, 5)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, cmap: torch.Tensor) -> torch.Tensor:
        y = self.pre(self.up(x)) + skip
        return self.post(torch.cat([y, cmap], dim=1))


class RoIMaskedSegmenter(nn.Module):
    """Seed 000 on MobileNet-v1 SSD. ``forward(x)``: (B, K, H, W) logits (export path);
    ``forward_train``: logits, SSD outputs and the RoI mask used (see the module doc)."""

    def __init__(self, desc: ModelDescription) -> None:
        super().__init__()
        if desc.architecture != "roimask" or desc.backbone != "mobilenet_v1":
            raise ConfigError(f"{desc.name}: RoIMaskedSegmenter needs architecture roimask on "
                              f"mobilenet_v1, got {desc.architecture} on {desc.backbone}")
        if desc.output_stride != 1:
            raise ConfigError(f"{desc.name}: the RoI-masked decoder outputs logits at the input "
                              f"size; set output_stride 1, got {desc.output_stride}")
        self.desc = desc
        self.input_size = (int(desc.input_size[0]), int(desc.input_size[1]))
        self.detector = SSDDetector(desc.replace(class_names=desc.detector_classes))
        # torch.tensor (not from_numpy) so a model built on the meta device (MAC counts)
        # gets a meta buffer too
        anchors = ssd_anchors(desc.anchors, self.input_size)
        if desc.roi_boxes > len(anchors):
            raise ConfigError(f"{desc.name}: --roi-boxes {desc.roi_boxes} is more than the "
                              f"{len(anchors)} anchors a {self.input_size[0]}x"
                              f"{self.input_size[1]} input has; lower it")
        self.register_buffer("anchors", torch.tensor(anchors), persistent=False)
        depths = self.detector.backbone.depths
        a = desc.alpha
        k = desc.num_classes
        c = len(desc.detector_classes) + 1
        w1, w2, w3 = (mobilenet_depth(d, a, min_depth=16) for d in STAGE_WIDTHS)
        up = mobilenet_depth(DECONV_WIDTH, a, min_depth=16)
        self.stage1 = _Stage(depths[MOBILENET_TAPS[8]], up, 5, depths[3], c, w1)
        self.stage2 = _Stage(w1, up, 3, depths[1], c, w2)
        self.full_skip = conv_bn_relu(3, w3, 5)  # stand-in for the seed's 1/1 conv1 skip
        self.stage3 = _Stage(w2, up, 5, w3, c, w3)
        self.image_conv = conv_bn_relu(3, w3, 5)  # Table 4's "Convolution (image)"
        self.refine = conv_bn_relu(w3, mobilenet_depth(REFINE_WIDTH, a, min_depth=16), 3)
        self.score1 = nn.Conv2d(self.refine[0].out_channels, k, 1)
        # the seed's plain "+ CMap" sum needs detector class i to be segmentation class i
        # (its VOC setting: background first, then the same names); otherwise project
        same = tuple(desc.class_names[1:]) == tuple(desc.detector_classes)
        self.cmap_proj = None if same else nn.Conv2d(c, k, 1, bias=False)
        self.score2 = nn.Conv2d(k, k, 1)

    # ----------------------------------------------------------------- pieces
    def _check(self, x: torch.Tensor) -> None:
        if not torch.jit.is_tracing() and tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(f"RoI-masked model built for {self.input_size[0]}x"
                             f"{self.input_size[1]} (static anchors and grids), got "
                             f"{tuple(x.shape[-2:])}")

    def _encode(self, x: torch.Tensor) -> tuple[dict[int, torch.Tensor], torch.Tensor,
                                                torch.Tensor]:
        """One backbone pass: taps {2, 4, 8, 16, 32}, then the SSD extras and heads on
        taps 16/32 exactly as :meth:`SSDDetector.forward` -> (taps, codes, class logits)."""
        det = self.detector
        taps: dict[int, torch.Tensor] = {}
        y = x
        for i, layer in enumerate(det.backbone.layers):
            y = layer(y)
            if i in DECODER_TAPS:
                taps[DECODER_TAPS[i]] = y
        codes, logits = det.predict(taps)
        return taps, codes, logits

    def _hw(self, stride: int) -> tuple[int, int]:
        return self.input_size[0] // stride, self.input_size[1] // stride

    def _decode(self, f8: torch.Tensor, f4: torch.Tensor, f2: torch.Tensor, image: torch.Tensor,
                cmaps: dict[int, torch.Tensor], remask: torch.Tensor | None) -> torch.Tensor:
        """Table 4 from the (masked) 1/8 features to the K scores before the final mask."""
        y = self.stage1(f8, f4, cmaps[4])
        y = self.stage2(y, f2, cmaps[2])
        y = self.stage3(y, self.full_skip(image), cmaps[1])
        y = self.refine(y + self.image_conv(image))
        if remask is not None:
            y = y * remask
        ctx = cmaps[1] if self.cmap_proj is None else self.cmap_proj(cmaps[1])
        return self.score2(F.relu(self.score1(y) + ctx))

    def _run(self, x: torch.Tensor, rois: torch.Tensor | None, scores: torch.Tensor | None,
             probs: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """(logits, codes, class logits, RoI mask at 1/1)."""
        self._check(x)
        d = self.desc
        taps, codes, class_logits = self._encode(x)
        if rois is None or scores is None or probs is None:
            rois, scores, probs = propose_rois(codes, class_logits, self.anchors,
                                               d.box_coder_weights, d.roi_boxes, self.input_size,
                                               d.nms_iou_threshold)
            # fixed inputs of the segmentation path: no gradient into the SSD heads
            rois, scores, probs = rois.detach(), scores.detach(), probs.detach()
        else:
            rois = clamp_boxes(rois.to(x.dtype), self.input_size)
            scores, probs = scores.to(x.dtype), probs.to(x.dtype)
        tau = float(d.score_threshold)
        cmaps = {s: confidence_maps(rois, scores, probs, self._hw(s), s, tau) for s in (4, 2, 1)}
        if d.roi_mode == "none":
            logits = self._decode(taps[8], taps[4], taps[2], x, cmaps, None)
            mask = torch.ones_like(logits[:, :1])
        elif d.roi_mode == "mask":
            m8 = box_mask(rois, scores, self._hw(8), 8, tau)
            mask = box_mask(rois, scores, self.input_size, 1, tau)
            logits = self._decode(taps[8] * m8, taps[4], taps[2], x, cmaps, mask)
            logits = background_correction(logits * mask, mask, d.background_score)
        else:
            r = d.roi_crop
            crop_maps = {s: sample_crops(cmaps[s], rois, r * 8 // s, s) for s in (4, 2, 1)}
            crop_logits = self._decode(
                sample_crops(taps[8], rois, r, 8), sample_crops(taps[4], rois, 2 * r, 4),
                sample_crops(taps[2], rois, 4 * r, 2), sample_crops(x, rois, 8 * r, 1),
                crop_maps, None)
            inside = inside_boxes(rois, scores, self.input_size, 1, tau)
            mask = inside.amax(dim=1, keepdim=True)
            pasted = paste_crops(crop_logits, rois, inside, self.input_size)
            logits = background_correction(pasted * mask, mask, d.background_score)
        return logits, codes, class_logits, mask

    # ----------------------------------------------------------------- API
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K, H, W) logits from the predicted RoIs (the exported graph)."""
        return self._run(x, None, None, None)[0]

    def forward_train(self, x: torch.Tensor, rois: torch.Tensor | None = None,
                      scores: torch.Tensor | None = None, probs: torch.Tensor | None = None
                      ) -> dict[str, Any]:
        """Training outputs. Given ``rois`` (B, N, 4), ``scores`` (B, N) and ``probs``
        (B, N, D + 1) (ground-truth boxes padded to N with score 0, one-hot classes) they
        build the mask and CMaps; otherwise the predicted RoIs do, detached.

        Returns ``{"outputs": [(logits, 1.0)], "joints": None, "codes": (B, A, 4),
        "class_logits": (B, A, D + 1), "roi_mask": (B, 1, H, W)}``; ``roi_mask`` is the
        1/1 mask used (all ones in "none" mode), for ground-truth masking.
        """
        logits, codes, class_logits, mask = self._run(x, rois, scores, probs)
        return {"outputs": [(logits, 1.0)], "joints": None, "codes": codes,
                "class_logits": class_logits, "roi_mask": mask}
