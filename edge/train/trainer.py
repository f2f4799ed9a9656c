"""The training loop for every zoo model: seeded, resumable, single process or DDP.

Run under ``torchrun --nproc-per-node N`` and it trains with DistributedDataParallel
(NCCL on GPUs, Gloo on CPUs); only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.optional import require

require("torch", "training")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from edge.description import ModelDescription
from edge.errors import ConfigError
from edge.geometry import BoxCoder, ssd_anchors
from edge.models.zoo import build_model

from .checkpoint import save_checkpoint, save_weights
from .data import InstanceBatches, SemanticBatches, collate
from .losses import mask_loss, ssd_loss
from .targets import mask_jobs, ssd_targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters. The defaults converge from scratch on small data; the
    ``thesis-*`` presets are the thesis's fine-tuning schedules (they assume
    pretrained weights)."""

    steps: int = 3000
    batch_size: int = 8
    accumulate: int = 1
    optimizer: str = "adamw"  # adamw | rmsprop
    lr: float = 2e-3
    schedule: str = "cosine"  # cosine | step | constant
    warmup: int = 100
    decay_steps: int = 10_000
    decay_rate: float = 0.75
    weight_decay: float = 1e-4
    mask_weight: float | None = None  # default: 150 multi-branch, 30 single-branch
    neg_ratio: float = 3.0
    augment: bool = True
    seed: int = 0
    workers: int = 0
    device: str = "auto"
    checkpoint_every: int = 500
    log_every: int = 20
    threads: int = 0  # torch CPU threads; 0 = torch's default
    # semantic models (seed 001): class weighting, its form, mirroring, hourglass options
    class_weights: str = "none"  # none | w1 (1 - frequency) | w2 (exponential)
    loss_form: str = "outer"  # outer: w_y * CE; direct: CE of the logits scaled by w
    swap_lr: bool = True  # mirroring swaps left/right part ids (False: seed 001's bug)
    progressive: bool = False  # hourglass: coarse-to-fine ground truth per stack
    joint_weight: float = 1.0  # hourglass joint-heatmap loss weight (models with joints)
    eval_every: int = 0  # validation mIoU every N steps (needs a validation reader)
    # RoI-masked segmentation (seed 000): RoIs from ground-truth or predicted boxes, the
    # labels outside the RoIs set to background (ground-truth masking), detector loss weight
    roi_source: str = "gt"  # gt | pred
    gt_masking: bool = True
    det_weight: float = 1.0
    # DeepLab-LargeFOV (seed 002): a per-pixel feedback loss and fine-tuning the head only
    feedback: str = "none"  # none | correlation | cosine | selective-correlation | ...
    feedback_weight: float = 0.1
    feedback_reduction: str = "sum"  # sum (the seed's) | mean
    feedback_template: str = "batch"  # batch (the seed's) | image
    finetune: str = "all"  # all | head (seed 002: only fc6, fc7, fc8 learn)
    poly_power: float = 0.9  # schedule "poly": (1 - step/steps) ** power


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # Section 3.2.1: RMSProp, 4e-5, x0.75 every 10k steps, batch 6 x 4 accumulated.
    "thesis-instance": {"optimizer": "rmsprop", "lr": 4e-5, "schedule": "step",
                        "decay_steps": 10_000, "decay_rate": 0.75, "warmup": 0,
                        "batch_size": 6, "accumulate": 4},
    # Section 4.2.2: RMSProp at a constant 1e-5, batch 1.
    "thesis-semantic": {"optimizer": "rmsprop", "lr": 1e-5, "schedule": "constant",
                        "warmup": 0, "batch_size": 1},
    # Seed 002 (section 3.4): only the last three layers learn, SGD-like poly LR from 1e-4
    # (power 0.9, DeepLab's); momentum SGD with DeepLab's weight decay 5e-4
    "seed002-finetune": {"optimizer": "sgd", "lr": 1e-4, "schedule": "poly", "warmup": 0,
                         "finetune": "head", "weight_decay": 5e-4},
    # Seed 000 (section 6.2.1): SGD 1e-3, momentum 0.9, weight decay 5e-4
    "seed000": {"optimizer": "sgd", "lr": 1e-3, "schedule": "poly", "warmup": 0,
                "weight_decay": 5e-4},
}


def make_config(preset: str = "default", **overrides: Any) -> TrainConfig:
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    return replace(TrainConfig(), **{**PRESETS[preset], **{k: v for k, v in overrides.items()
                                                             if v is not None}})


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """Learning-rate multiplier at ``step`` (equation 3.2 for ``step``)."""
    warm = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup > 0 else 1.0
    if cfg.schedule == "constant":
        return warm
    if cfg.schedule == "step":
        return warm * cfg.decay_rate ** (step // cfg.decay_steps)
    if cfg.schedule == "cosine":
        progress = min(1.0, step / max(1, cfg.steps))
        return warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))
    if cfg.schedule == "poly":
        return warm * max(0.0, 1.0 - step / max(1, cfg.steps)) ** cfg.poly_power
    raise ConfigError(f"unknown schedule {cfg.schedule!r}; use cosine, step, poly or constant")


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    """True outside ``torchrun`` and on its rank 0 (the process that writes and reports)."""
    return _distributed()[1] == 0


def _device(cfg: TrainConfig, local_rank: int) -> torch.device:
    from .devices import parse_device

    name = parse_device(cfg.device)
    if name == "cuda":  # one process per GPU under torchrun
        name = f"cuda:{local_rank}"
    return torch.device(name)


def check_config(cfg: TrainConfig) -> None:
    """Refuse values the loop cannot run with, naming the CLI option."""
    for option, value, lowest in (("--steps", cfg.steps, 1), ("--batch-size", cfg.batch_size, 1),
                                  ("--accumulate", cfg.accumulate, 1),
                                  ("--checkpoint-every", cfg.checkpoint_every, 1),
                                  ("--workers", cfg.workers, 0), ("--seed", cfg.seed, 0),
                                  ("--threads", cfg.threads, 0)):
        if value < lowest:
            bound = "0 or more" if lowest == 0 else f"at least {lowest}"
            raise ConfigError(f"{option} must be {bound}, got {value}")
    if not cfg.lr > 0:
        raise ConfigError(f"--lr must be positive, got {cfg.lr}")
    if cfg.mask_weight is not None and not cfg.mask_weight >= 0:
        raise ConfigError(f"--mask-weight must be 0 or more (0 trains no masks), got "
                          f"{cfg.mask_weight}")
    if cfg.log_every < 1:
        raise ConfigError(f"log_every must be at least 1, got {cfg.log_every}")
    if cfg.class_weights not in ("none", "w1", "w2"):
        raise ConfigError(f"--class-weights takes none, w1 or w2, got {cfg.class_weights!r}")
    if cfg.loss_form not in ("outer", "direct"):
        raise ConfigError(f"--loss-form takes outer or direct, got {cfg.loss_form!r}")
    if cfg.eval_every < 0:
        raise ConfigError(f"--eval-every must be 0 or more, got {cfg.eval_every}")
    if not cfg.joint_weight >= 0:
        raise ConfigError(f"--joint-weight must be 0 or more, got {cfg.joint_weight}")
    if cfg.roi_source not in ("gt", "pred"):
        raise ConfigError(f"--roi-source takes gt or pred, got {cfg.roi_source!r}")
    if not cfg.det_weight >= 0:
        raise ConfigError(f"--det-weight must be 0 or more, got {cfg.det_weight}")
    if cfg.finetune not in ("all", "head"):
        raise ConfigError(f"--finetune takes all or head, got {cfg.finetune!r}")
    if cfg.feedback != "none":
        from .feedback_losses import FeedbackLoss

        FeedbackLoss(cfg.feedback, cfg.feedback_weight, cfg.feedback_reduction,
                     cfg.feedback_template)  # validates, naming the options


def _guard_single_value_batchnorm(model: nn.Module) -> int:
    """Let batch-norm layers train on inputs with one value per channel.

    With batch size 1, a layer on a 1x1 map (SSD's last extra layer at inputs of 512x512
    and below, e.g. the demo's 480x480) has no batch statistics; PyTorch raises "Expected
    more than 1 value per channel". For those calls only, the layer normalises with its running statistics
    (as at inference) instead; every other call trains as usual. Returns the number of
    layers guarded."""

    def before(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0]
        if module.training and x.dim() > 1 and x.numel() == x.shape[1]:
            module._edge_single_value = True  # type: ignore[assignment]
            module.training = False

    def after(module: nn.Module, inputs: Any, output: Any) -> None:
        if getattr(module, "_edge_single_value", False):
            module._edge_single_value = False  # type: ignore[assignment]
            module.training = True

    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in layers:
        m.register_forward_pre_hook(before)
        m.register_forward_hook(after)
    return len(layers)


def _images(batch: list[dict[str, Any]], device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(np.stack([b["image"] for b in batch])).to(device)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cpu" else x


class _InstanceStep:
    """Targets and losses of one SSD-ISB batch."""

    def __init__(self, desc: ModelDescription, cfg: TrainConfig) -> None:
        self.desc = desc
        self.anchors = ssd_anchors(desc.anchors, desc.input_size)
        self.coder = BoxCoder(desc.box_coder_weights)
        single = len(desc.branches) == 1
        self.mask_weight = cfg.mask_weight if cfg.mask_weight is not None else (
            30.0 if single else 150.0)
        self.neg_ratio = cfg.neg_ratio

    def __call__(self, model: nn.Module, batch: list[dict[str, Any]], device: torch.device,
                 rng: np.random.Generator) -> dict[str, torch.Tensor]:
        desc = self.desc
        images = _images(batch, device)
        tcodes, tlabels = [], []
        jobs: list[list[tuple[int, np.ndarray]]] = [[] for _ in desc.branches]
        targets: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in desc.branches]
        for i, b in enumerate(batch):
            keep = ~b["iscrowd"]
            c, lab = ssd_targets(self.anchors, b["boxes"][keep], b["classes"][keep],
                                 b["boxes"][~keep], self.coder)
            tcodes.append(c)
            tlabels.append(lab)
            for k, job in enumerate(mask_jobs(desc, i, b["boxes"][keep], b["classes"][keep],
                                              b["masks"][keep], rng)):
                if job is not None:
                    jobs[k].append((i, job.cells))
                    targets[k].append((job.classes, job.targets))
        codes, logits, _, mask_out = model(images, jobs)
        loc, cls = ssd_loss(codes, logits, torch.from_numpy(np.stack(tcodes)).to(device),
                            torch.from_numpy(np.stack(tlabels)).to(device), self.neg_ratio)
        total_boxes, mask_sum = 0, codes.new_zeros(())
        for out, tg in zip(mask_out, targets):
            if out is None:
                continue
            classes = torch.from_numpy(np.concatenate([t[0] for t in tg])).to(device)
            target = torch.from_numpy(np.concatenate([t[1] for t in tg])).to(device)
            mask_sum = mask_sum + mask_loss(out, classes, target) * len(classes)
            total_boxes += len(classes)
        mask = mask_sum / max(1, total_boxes)
        return {"loss": loc + cls + self.mask_weight * mask, "loc": loc, "cls": cls,
                "mask": mask}


class _TrainForward(nn.Module):
    """Runs ``forward_train`` through ``forward`` so DistributedDataParallel (which hooks
    ``forward``) synchronises the seed models' multi-output training."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, *args: Any) -> Any:
        return self.model.forward_train(x, *args)


class _SemanticStep:
    """Per-pixel cross-entropy: plain (the FCNs), or per supervised output of the seed
    models (ICNet's three branches 0.16/0.4/1.0, one per hourglass stack, with the
    progressive coarse-to-fine ground truth if asked), with the class weighting W1/W2 in
    its outer or direct form, plus the hourglass's joint-heatmap MSE."""

    def __init__(self, desc: ModelDescription, cfg: TrainConfig,
                 weights: np.ndarray | None) -> None:
        from .seg_losses import progressive_luts

        self.weights = None if weights is None else torch.from_numpy(
            np.asarray(weights, np.float32))
        self.form = cfg.loss_form
        if cfg.progressive and desc.architecture != "hourglass":
            raise ConfigError(f"{desc.name}: --progressive gives each hourglass stack its own "
                              f"ground-truth level; {desc.architecture} has no stacks")
        self.levels = progressive_luts(desc.stacks) if cfg.progressive else None
        self.joint_weight = cfg.joint_weight
        self.feedback = None
        if cfg.feedback != "none":
            from .feedback_losses import FeedbackLoss

            if desc.architecture != "deeplab-largefov":
                raise ConfigError(f"{desc.name}: --feedback-loss compares DeepLab-LargeFOV's fc7 "
                                  f"features with class templates; {desc.architecture} has no "
                                  f"fc7")
            self.feedback = FeedbackLoss(cfg.feedback, cfg.feedback_weight,
                                         cfg.feedback_reduction, cfg.feedback_template)

    def __call__(self, model: nn.Module, batch: list[dict[str, Any]], device: torch.device,
                 rng: np.random.Generator) -> dict[str, torch.Tensor]:
        from .seg_losses import joint_heatmaps, joint_loss, multi_output_loss

        images = _images(batch, device)
        labels = torch.from_numpy(np.stack([b["labels"] for b in batch])).to(device)
        weights = None if self.weights is None else self.weights.to(device)
        out = model(images)
        if isinstance(out, torch.Tensor):
            out = {"outputs": [(out, 1.0)], "joints": None}
        total, per = multi_output_loss(out["outputs"], labels, weights, self.form, self.levels)
        parts = {"ce": total.detach()}
        if len(per) > 1:
            parts.update({f"ce{i}": v.detach() for i, v in enumerate(per)})
        if self.feedback is not None:
            from .seg_losses import resize_labels

            logits = out["outputs"][-1][0]
            small = resize_labels(labels, tuple(logits.shape[-2:]))
            fb = self.feedback(out["features"], logits, small)
            total = total + self.feedback.weight * fb
            parts["feedback"] = fb.detach()
        pred = out.get("joints")
        if pred is not None and all("joints" in b for b in batch):
            h, w = images.shape[-2:]
            scale = torch.tensor([pred.shape[-1] / w, pred.shape[-2] / h, 1.0])
            joints = torch.from_numpy(np.stack([b["joints"] for b in batch])) * scale
            target = joint_heatmaps(joints.to(device), tuple(pred.shape[-2:]))
            jl = joint_loss(pred, target)
            total = total + self.joint_weight * jl
            parts["joints"] = jl.detach()
        return {"loss": total, **parts}


class _RoIStep:
    """Seed 000's joint loss L = det_weight * L_ssd + L_seg: SSD targets from the boxes,
    RoIs from the ground-truth boxes (top ``roi_boxes`` by area, padded with score 0,
    one-hot class probabilities) or from the detector (``roi_source`` pred, detached in
    the model), and ground-truth masking: labels outside the RoIs become background, so
    the segmentation loss never charges the net for the detector's misses."""

    def __init__(self, desc: ModelDescription, cfg: TrainConfig,
                 weights: np.ndarray | None) -> None:
        self.desc = desc
        self.anchors = ssd_anchors(desc.anchors, desc.input_size)
        self.coder = BoxCoder(desc.box_coder_weights)
        self.cfg = cfg
        self.weights = None if weights is None else torch.from_numpy(
            np.asarray(weights, np.float32))

    def mask_labels(self, labels: torch.Tensor, roi_mask: torch.Tensor,
                    batch: list[dict[str, Any]]) -> torch.Tensor:
        """Ground-truth masking: (B, H, W) labels, background outside every RoI (the seed's
        5.4.1.1) and ignored (255) on objects the N RoIs left out (the net is forced to
        background there, which is not the object's fault). Unchanged without masking."""
        if not self.cfg.gt_masking or self.desc.roi_mode == "none":
            return labels
        used = roi_mask[:, 0] > 0.5
        if self.cfg.roi_source == "gt":  # all boxes, also those beyond the N RoIs
            objects = torch.from_numpy(np.stack([self.union(b["boxes"]) for b in batch])
                                       ).to(labels.device)
        else:
            objects = used
        labels = torch.where(objects | (labels == 255), labels, torch.zeros_like(labels))
        return torch.where(objects & ~used, torch.full_like(labels, 255), labels)

    def union(self, boxes: np.ndarray) -> np.ndarray:
        """(H, W) bool: pixels inside any of ``boxes`` (N, 5), the model's rounding."""
        from edge.geometry.raster import box_mask

        return box_mask(boxes[:, :4], np.ones(len(boxes), np.float32), self.desc.input_size, 1,
                        0.0) > 0.5

    def gt_rois(self, batch: list[dict[str, Any]]) -> tuple[np.ndarray, ...]:
        """(B, N, 4) boxes, (B, N) scores 1/0, (B, N, D + 1) one-hot probabilities."""
        n, d = self.desc.roi_boxes, len(self.desc.detector_classes)
        rois = np.zeros((len(batch), n, 4), np.float32)
        scores = np.zeros((len(batch), n), np.float32)
        probs = np.zeros((len(batch), n, d + 1), np.float32)
        probs[..., 0] = 1.0
        for i, b in enumerate(batch):
            boxes = b["boxes"]
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            keep = np.argsort(-area, kind="stable")[:n]
            k = len(keep)
            rois[i, :k] = boxes[keep, :4]
            scores[i, :k] = 1.0
            probs[i, :k, 0] = 0.0
            probs[i, np.arange(k), boxes[keep, 4].astype(np.int64) + 1] = 1.0
        return rois, scores, probs

    def __call__(self, model: nn.Module, batch: list[dict[str, Any]], device: torch.device,
                 rng: np.random.Generator) -> dict[str, torch.Tensor]:
        from .seg_losses import multi_output_loss

        if any("boxes" not in b for b in batch):
            raise ConfigError(f"{self.desc.name} trains its RoI proposer on boxes: the dataset "
                              f"needs boxes.json (edge-build dataset synth --kind fashion or "
                              f"voc writes one)")
        images = _images(batch, device)
        labels = torch.from_numpy(np.stack([b["labels"] for b in batch])).to(device)
        tcodes, tlabels = [], []
        for b in batch:
            c, lab = ssd_targets(self.anchors, b["boxes"][:, :4], b["boxes"][:, 4].astype(
                np.int64), np.zeros((0, 4), np.float32), self.coder)
            tcodes.append(c)
            tlabels.append(lab)
        if self.cfg.roi_source == "gt":
            out = model(images, *(torch.from_numpy(a).to(device) for a in self.gt_rois(batch)))
        else:
            out = model(images)
        loc, cls = ssd_loss(out["codes"], out["class_logits"],
                            torch.from_numpy(np.stack(tcodes)).to(device),
                            torch.from_numpy(np.stack(tlabels)).to(device), self.cfg.neg_ratio)
        labels = self.mask_labels(labels, out["roi_mask"], batch)
        weights = None if self.weights is None else self.weights.to(device)
        ce, _ = multi_output_loss(out["outputs"], labels, weights, self.cfg.loss_form)
        total = ce + self.cfg.det_weight * (loc + cls)
        return {"loss": total, "ce": ce.detach(), "loc": loc.detach(), "cls": cls.detach()}


def validate(model: nn.Module, desc: ModelDescription, reader, device: torch.device,
             limit: int = 64) -> dict[str, float]:
    """mIoU and pixel accuracy of ``model`` on up to ``limit`` validation images, each
    stretched to the input size (as evaluation does); every layer is left in the mode it
    had (frozen layers of a head-only fine-tune stay in eval)."""
    from edge.data.augment import fit_semantic
    from edge.evaluate.semantic import ConfusionMatrix
    from edge.preprocess import preprocess

    cm = ConfusionMatrix(desc.num_classes)
    modes = [(m, m.training) for m in model.modules()]  # frozen layers stay in eval
    model.eval()
    with torch.no_grad():
        for i in range(min(limit, len(reader))):
            s = fit_semantic(reader[i], desc.input_size)
            x = torch.from_numpy(preprocess(s.image, desc))[None].to(device)
            pred = model(x).argmax(1)[0].cpu().numpy()
            if pred.shape != s.labels.shape:  # logits below the input size (ICNet's 1/4):
                h, w = pred.shape  # nearest, pixel centres, as the runtime upsamples labels
                fh, fw = s.labels.shape
                rows = ((np.arange(fh) + 0.5) * h / fh).astype(np.int64)
                cols = ((np.arange(fw) + 0.5) * w / fw).astype(np.int64)
                pred = pred[rows[:, None], cols[None, :]]
            cm.update(s.labels, pred)
    for m, mode in modes:
        m.training = mode
    m = cm.metrics()
    return {"val_mIoU": float(m["mIoU"]), "val_pixel_accuracy": float(m["pixel_accuracy"])}


def semantic_class_weights(reader, desc: ModelDescription, cfg: TrainConfig
                           ) -> np.ndarray | None:
    """Seed 001's class weights from the training set's per-class pixel counts (the
    dataset's ``histogram``, else counted from its label maps), or None."""
    if cfg.class_weights == "none":
        return None
    from .seg_losses import class_weights

    hist = getattr(reader, "histogram", None)
    if hist is None or len(hist) != desc.num_classes:
        hist = np.zeros(desc.num_classes, np.float64)
        for i in range(len(reader)):
            lab = reader[i].labels
            hist += np.bincount(lab[lab < desc.num_classes].ravel(),
                                minlength=desc.num_classes)[:desc.num_classes]
    w = class_weights(hist, cfg.class_weights)
    log.info("class weights %s (%s form): %s", cfg.class_weights, cfg.loss_form,
             np.array2string(np.asarray(w), precision=3))
    return w


def _trainable(model: nn.Module, desc: ModelDescription, cfg: TrainConfig) -> list[nn.Parameter]:
    """The parameters the optimiser updates: all, or with ``finetune`` "head" only the
    model's ``head_modules()`` (DeepLab's fc6, fc7, fc8: seed 002 set the learning rate of
    every other layer to 0); the rest are frozen (batch-norm statistics included)."""
    if cfg.finetune == "all":
        return list(model.parameters())
    heads = getattr(model, "head_modules", None)
    if heads is None:
        raise ConfigError(f"{desc.name}: --finetune head trains only a model's last layers; "
                          f"{desc.architecture} does not name them (DeepLab-LargeFOV does)")
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for m in heads() for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    log.info("fine-tuning %d of %d parameters (the head only)", sum(p.numel() for p in params),
             sum(p.numel() for p in model.parameters()))
    return params


def train(desc: ModelDescription, reader, out_dir: str | Path, cfg: TrainConfig,
          init: str | Path | None = None, resume: str | Path | None = None,
          progress: bool = True, val_reader=None) -> dict[str, Any]:
    """Train ``desc`` on ``reader`` and write ``last.pt``, ``weights.npz`` and
    ``train_log.jsonl`` to ``out_dir``. Returns a summary of the run."""
    from tqdm import tqdm

    check_config(cfg)
    world, rank, local_rank = _distributed()
    owns_group = world > 1 and not torch.distributed.is_initialized()
    if owns_group:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = _device(cfg, local_rank)
    if cfg.threads > 0:  # 0: torch's default
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed + rank)
    out = Path(out_dir)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    # NHWC runs MobileNet's depthwise convs about 1.4x faster on CPUs (measured on 2 cores)
    fmt = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model = build_model(desc).to(device, memory_format=fmt)
    if cfg.batch_size == 1:
        _guard_single_value_batchnorm(model)
    init_report = None
    if init is not None:  # refuses (ModelFileError) files that miss the backbone
        from .pretrained import init_from_file

        init_report = init_from_file(model, init)
        if rank == 0:
            log.info("%s", init_report.table())
    params = _trainable(model, desc, cfg)
    if cfg.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(params, lr=cfg.lr,
                                                       weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "rmsprop":
        opt = torch.optim.RMSprop(params, lr=cfg.lr, alpha=0.9, momentum=0.9,
                                  eps=1.0, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    else:
        raise ConfigError(f"unknown optimizer {cfg.optimizer!r}; use adamw, rmsprop or sgd")
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(cfg, s))
    start = 0
    if resume is not None:
        ckpt = torch.load(resume, map_location=device, weights_only=True)
        if ckpt["description"] != desc.to_dict():
            raise ConfigError(f"{resume}: checkpoint is for another model or options; resume "
                              f"with the same model and options it was trained with")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        start = int(ckpt["step"])
        log.info("resumed from %s at step %d", resume, start)

    if desc.task == "instance":
        dataset: Any = InstanceBatches(reader, desc, cfg.augment, cfg.seed)
        step_fn: Any = _InstanceStep(desc, cfg)
    elif desc.architecture == "roimask":
        dataset = SemanticBatches(reader, desc, cfg.augment, cfg.seed, swap=cfg.swap_lr)
        step_fn = _RoIStep(desc, cfg, semantic_class_weights(reader, desc, cfg))
    else:
        dataset = SemanticBatches(reader, desc, cfg.augment, cfg.seed, swap=cfg.swap_lr)
        step_fn = _SemanticStep(desc, cfg, semantic_class_weights(reader, desc, cfg))
    net: nn.Module = _TrainForward(model) if hasattr(model, "forward_train") else model
    if cfg.eval_every and val_reader is None:
        raise ConfigError("--eval-every needs a validation set (--val DIR)")
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)

    per_epoch = max(1, len(dataset) // (cfg.batch_size * world))
    if len(dataset) < cfg.batch_size * world:
        raise ConfigError(f"dataset has {len(dataset)} images, fewer than one batch of "
                          f"{cfg.batch_size} x {world} processes; lower --batch-size")

    def batches(epoch: int):
        dataset.epoch = epoch
        if world > 1:
            sampler: Any = torch.utils.data.DistributedSampler(dataset, world, rank, shuffle=True,
                                                               seed=cfg.seed, drop_last=True)
            sampler.set_epoch(epoch)
        else:
            g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            sampler = torch.utils.data.RandomSampler(dataset, generator=g)
        return iter(torch.utils.data.DataLoader(
            dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
            num_workers=cfg.workers, collate_fn=collate, persistent_workers=False))

    log_path = out / "train_log.jsonl"
    epoch = start * cfg.accumulate // per_epoch
    it = batches(epoch)
    seen = (start * cfg.accumulate) % per_epoch
    for _ in range(seen):  # continue the interrupted epoch where it stopped
        next(it)
    rng = np.random.default_rng([cfg.seed, rank, start])
    model.train()
    if cfg.finetune == "head":  # frozen layers keep their batch-norm statistics
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(
                    p.requires_grad for p in m.parameters()):
                m.eval()
    history: list[dict[str, float]] = []
    t0 = time.time()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="train",
               unit="step", disable=None if progress and rank == 0 else True)
    for step in bar:
        opt.zero_grad(set_to_none=True)
        parts: dict[str, float] = {}
        for _ in range(cfg.accumulate):
            try:
                batch = next(it)
            except StopIteration:
                epoch += 1
                it = batches(epoch)
                batch = next(it)
            losses = step_fn(net, batch, device, rng)
            (losses["loss"] / cfg.accumulate).backward()
            for k, v in losses.items():
                parts[k] = parts.get(k, 0.0) + float(v.detach()) / cfg.accumulate
        if not math.isfinite(parts["loss"]):
            raise ConfigError(f"loss became {parts['loss']} at step {step}; lower --lr")
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 10.0)
        opt.step()
        sched.step()
        history.append(parts)
        bar.set_postfix(loss=f"{parts['loss']:.3f}")
        done = step + 1
        if rank == 0 and (done % cfg.log_every == 0 or done == cfg.steps or (
                cfg.eval_every and done % cfg.eval_every == 0)):
            recent = history[-cfg.log_every:]
            row = {"step": done, "lr": sched.get_last_lr()[0], "epoch": epoch,
                   "seconds": round(time.time() - t0, 1),
                   **{k: float(np.mean([h[k] for h in recent])) for k in recent[0]}}
            if cfg.eval_every and (done % cfg.eval_every == 0 or done == cfg.steps):
                row.update(validate(model, desc, val_reader, device))
            with log_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
        if rank == 0 and (done % cfg.checkpoint_every == 0 or done == cfg.steps):
            save_checkpoint(out / "last.pt", model, desc, done,
                            {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                             "config": asdict(cfg)})
    if rank == 0:
        model.eval()
        save_weights(out / "weights.npz", model, desc)
    if world > 1:
        torch.distributed.barrier()
        if owns_group:
            torch.distributed.destroy_process_group()
    first = history[: max(1, len(history) // 10)]
    last = history[-max(1, len(history) // 10):]
    return {"steps": cfg.steps, "seconds": round(time.time() - t0, 1), "out": str(out),
            "loss_first": float(np.mean([h["loss"] for h in first])) if history else None,
            "loss_last": float(np.mean([h["loss"] for h in last])) if history else None,
            **({"init": init_report.as_dict(rows=False)} if init_report is not None else {})}
