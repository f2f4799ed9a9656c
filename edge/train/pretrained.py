"""Starting a model from weights already on disk (``edge-build train --init FILE``).

The thesis starts every network from published weights (ImageNet classifiers for the
FCNs, section 4.2.2; a COCO SSD for SSD-ISB, section 3.2.1), and nothing is downloaded
here, so ``--init`` has to take the files people actually have: edge-seg checkpoints and
weights, and ImageNet MobileNet-v1 / SqueezeNet 1.1 weights as timm, torchvision, Keras
and TF-slim publish them. This module

1. reads a file without ever running code from it (``.safetensors``; ``.pt``/``.pth``/
   ``.bin``/``.ckpt`` through ``torch.load(weights_only=True)``; ``.npz`` with
   ``allow_pickle=False``);
2. recognises the file's naming layout and maps names *and* tensor layouts (TF's HWIO
   kernels) onto the model's state dict, through a canonical name per backbone tensor,
   so one file initialises the backbone wherever a model nests it (``backbone.``,
   ``detector.backbone.``, DeepLab's ``trunk.``);
3. reports every model tensor (matched, shape mismatch, missing in the file) and every
   file tensor left unused (:class:`InitReport`), and refuses (:class:`ModelFileError`)
   when fewer than :data:`MIN_BACKBONE_FRACTION` of the backbone's tensors match: training
   a randomly initialised backbone with a fine-tuning schedule silently wastes a run.

Torch is imported only when weights are read or copied, so the module imports bare.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.architecture import MOBILENET_V1_LAYERS, MOBILENET_V1_STEM_DEPTH
from edge.errors import ModelFileError
from edge.optional import require

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# Refuse when fewer backbone tensors than this match: heads are expected to be missing,
# the backbone is what --init is for.
MIN_BACKBONE_FRACTION = 0.9

MOBILENET = "mobilenet_v1"
SQUEEZENET = "squeezenet1_1"
OWN = "own"  # a model tensor outside any recognised backbone: matched by its full name
KIND_NAMES = {MOBILENET: "MobileNet-v1", SQUEEZENET: "SqueezeNet 1.1"}

EDGE = "edge-seg"
TORCHVISION_SQUEEZENET = "torchvision-squeezenet1_1"
TIMM_MOBILENET = "timm-mobilenetv1"
KERAS_MOBILENET = "keras-mobilenet"
SLIM_MOBILENET = "tf-slim-mobilenet_v1"
LAYOUTS = (EDGE, TORCHVISION_SQUEEZENET, TIMM_MOBILENET, KERAS_MOBILENET, SLIM_MOBILENET)

MATCHED = "matched"
SHAPE_MISMATCH = "shape-mismatch"
MISSING = "missing-in-file"

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
SUFFIXES = (".safetensors", *TORCH_SUFFIXES, ".npz")
# dict entries that wrap a state dict, in the order they are preferred: edge-seg and most
# training scripts save "model"; timm's train.py saves "state_dict" and, with model EMA,
# "state_dict_ema", the averaged weights timm publishes (its clean_checkpoint --use-ema)
WRAPPERS = ("model", "state_dict_ema", "state_dict")

BN_COUNTER = "num_batches_tracked"
_TORCH_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_TF_BN = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
          "moving_variance": "running_var"}
# Layout notes: differences the mapping cannot remove (the weights still map exactly).
_TF_PADDING_NOTE = (
    "TF 'SAME' pads a stride-2 3x3 convolution 0 pixels top/left and 1 bottom/right on even "
    "inputs (Keras: conv1 'same', ZeroPadding2D((0,1),(0,1)) before each stride-2 depthwise "
    "conv); these backbones pad 1 on every side, so features after each stride-2 layer sit "
    "one input pixel off the TF graph's until fine-tuning adapts")
NOTES = {
    TIMM_MOBILENET: [
        ("timm builds MobileNet-v1 with PyTorch's BatchNorm eps 1e-5; these backbones use "
         "TF's 1e-3 (edge.models.backbones.BN_EPS), so the same weights give slightly "
         "different activations (most where running variances are small) until fine-tuning "
         "adapts"),
        ("timm's mobilenetv1_100.ra4 weights expect inputs normalised with mean = std = 0.5 "
         "(IMAGENET_INCEPTION_MEAN/STD), which is edge-seg's default (127.5, 127.5)")],
    KERAS_MOBILENET: [
        _TF_PADDING_NOTE,
        "Keras BatchNormalization's eps is 1e-3, as here; inputs in [-1, 1] as here"],
    SLIM_MOBILENET: [
        _TF_PADDING_NOTE,
        ("TF-slim's MobileNet-v1 arg scope uses BatchNorm eps 1e-3, as here; inputs in "
         "[-1, 1] as here")],
    TORCHVISION_SQUEEZENET: [
        ("torchvision's SqueezeNet weights expect ImageNet mean/std normalisation (0.485, "
         "0.456, 0.406) / (0.229, 0.224, 0.225), not edge-seg's default 127.5 / 127.5")],
}

Key = tuple[str, str]  # (backbone kind or OWN, name inside that backbone or full name)


# ---------------------------------------------------------------------------- reading


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a weights file, as CPU torch tensors, read without running code.

    A dict holding a state dict under ``model``, ``state_dict_ema`` or ``state_dict`` is
    unwrapped (the first present); a ``module.`` prefix common to every name (saved from
    DistributedDataParallel) is dropped; non-tensor entries (epoch, arch, ...) and the
    ``__description__`` of edge-seg ``.npz`` files are skipped.
    """
    torch = require("torch", "loading pretrained weights (--init)")
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such weights file for --init")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        raw: Any = _read_safetensors(path)
    elif suffix in TORCH_SUFFIXES:
        raw = _read_torch(torch, path)
    elif suffix == ".npz":
        raw = _read_npz(path)
    else:
        hint = (" (Keras .h5: save {w.path or w.name: w.numpy()} of model.weights to .npz "
                "first, see docs/training.md)" if suffix in (".h5", ".keras") else "")
        raise ModelFileError(f"{path}: --init reads {', '.join(SUFFIXES)} files, not "
                             f"{suffix or 'a file without suffix'}{hint}")
    state = _unwrap(raw, path)
    out: dict[str, torch.Tensor] = {}
    skipped = 0
    for name, value in state.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
            # (np.ascontiguousarray would turn a 0-d BN counter into shape (1,))
            out[str(name)] = torch.from_numpy(value if value.flags.c_contiguous
                                              else value.copy())
        elif isinstance(value, torch.Tensor):
            out[str(name)] = value.detach().cpu()
        else:
            skipped += 1
    if skipped:
        log.debug("--init %s: skipped %d non-tensor entries", path, skipped)
    if not out:
        raise ModelFileError(f"{path}: holds no tensors; expected a state dict (name -> tensor)")
    if all(k.startswith("module.") for k in out):
        out = {k[len("module."):]: v for k, v in out.items()}
    return out


def _read_safetensors(path: Path) -> dict[str, Any]:
    require("safetensors", "reading .safetensors weights (--init)")
    from safetensors.torch import load_file

    try:
        return dict(load_file(str(path), device="cpu"))
    except Exception as exc:  # SafetensorError, OSError, ... for corrupt files
        raise ModelFileError(f"{path}: not a readable .safetensors file "
                             f"({type(exc).__name__}: {str(exc)[:160]})") from exc


def _read_torch(torch, path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for pickled code, RuntimeError if corrupt
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise ModelFileError(
            f"{path}: cannot be read with torch.load(weights_only=True) "
            f"({type(exc).__name__}: {first}); a file that needs more than tensors and plain "
            f"containers (pickled code or objects) is never run: re-save it as a plain state "
            f"dict or as .safetensors") from exc


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    from edge.untrusted import check_npz_members

    try:
        with np.load(path, allow_pickle=False) as z:
            # numpy allocates what a member's header declares before reading it
            check_npz_members(path, z.zip, "re-save it with numpy.savez")
            return {k: z[k] for k in z.files if k != "__description__"}
    except ModelFileError:
        raise
    except Exception as exc:  # BadZipFile, ValueError (object arrays need pickle), ...
        raise ModelFileError(f"{path}: not a readable .npz of arrays "
                             f"({type(exc).__name__}: {str(exc)[:160]})") from exc


def _unwrap(raw: Any, path: Path) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ModelFileError(f"{path}: holds a {type(raw).__name__}, not a state dict "
                             f"(name -> tensor)")
    for key in WRAPPERS:
        if isinstance(raw.get(key), Mapping):
            log.debug("--init %s: using its %r entry", path, key)
            return raw[key]
    return raw


# ---------------------------------------------------------------- backbones in a state


@dataclass(frozen=True)
class Mount:
    """Where a backbone sits in a state dict: ``prefix`` + its own tensor names."""

    kind: str
    prefix: str

    def local(self, name: str) -> str | None:
        return name[len(self.prefix):] if name.startswith(self.prefix) else None


def find_backbones(shapes: Mapping[str, tuple[int, ...]]) -> list[Mount]:
    """Backbones in a state dict of edge-seg names, found by structure, not module type.

    MobileNet-v1 is a stem ``P0.0.weight`` (C, 3, 3, 3) then 13 units with a depthwise
    ``Pi.0.0.weight`` (C, 1, 3, 3) and a pointwise ``Pi.1.0.weight``, whether ``P`` is
    ``backbone.layers.``, ``detector.backbone.layers.`` or DeepLab's ``trunk.``;
    SqueezeNet 1.1 is ``Pconv1.0.weight`` (64, 3, 3, 3) beside ``Pstages.0.0.squeeze``.
    """
    mounts: list[Mount] = []
    for name, shape in shapes.items():
        if name.endswith("0.0.weight") and tuple(shape[1:]) == (3, 3, 3):
            prefix = name[: -len("0.0.weight")]
            if (prefix == "" or prefix.endswith(".")) and _is_mobilenet(shapes, prefix):
                mounts.append(Mount(MOBILENET, prefix))
        if name.endswith("conv1.0.weight") and tuple(shape[1:]) == (3, 3, 3):
            prefix = name[: -len("conv1.0.weight")]
            if ((prefix == "" or prefix.endswith("."))
                    and f"{prefix}stages.0.0.squeeze.weight" in shapes):
                mounts.append(Mount(SQUEEZENET, prefix))
    return mounts


def _is_mobilenet(shapes: Mapping[str, tuple[int, ...]], prefix: str) -> bool:
    for i in range(1, len(MOBILENET_V1_LAYERS) + 1):
        dw = shapes.get(f"{prefix}{i}.0.0.weight")
        if dw is None or len(dw) != 4 or dw[1] != 1 or f"{prefix}{i}.1.0.weight" not in shapes:
            return False
    return True


def _canonical(name: str, mounts: Iterable[Mount]) -> Key:
    for m in mounts:
        local = m.local(name)
        if local is not None:
            return m.kind, local
    return OWN, name


def _mobilenet_alpha(shape_of: Callable[[str], tuple[int, ...] | None]) -> float | None:
    """Depth multiplier from the last pointwise layer's (or else the stem's) width."""
    last = shape_of(f"{len(MOBILENET_V1_LAYERS)}.1.0.weight")
    if last:
        return last[0] / MOBILENET_V1_LAYERS[-1][1]
    stem = shape_of("0.0.weight")
    return stem[0] / MOBILENET_V1_STEM_DEPTH if stem else None


def _group(key: Key, name: str) -> str:
    """Report group: backbone stem / blocks, else the module path up to its first index."""
    kind, local = key
    if kind == MOBILENET:
        return "backbone stem" if local.split(".")[0] == "0" else "backbone blocks"
    if kind == SQUEEZENET:
        return "backbone stem" if local.startswith("conv1.") else "backbone blocks"
    parts = name.split(".")[:-1]
    head: list[str] = []
    for p in parts:
        if p.isdigit():
            break
        head.append(p)
    return ".".join(head) or name


# ------------------------------------------------------------------------ the layouts

# A mapped source tensor: (source name, tensor, conversion): "" as is, "hwio" a TF conv
# kernel (H, W, in, out) -> (out, in, H, W), "hwc1" a TF depthwise kernel (H, W, C, 1) ->
# (C, 1, H, W).
Mapped = tuple[str, Any, str]


def _map_edge(source: Mapping[str, Any], own_mounts: list[Mount]) -> dict[Key, Mapped]:
    """edge-seg names: identity, plus each backbone moved to wherever the model has it
    (an FCN's ``backbone.layers.*`` initialises an SSD's ``detector.backbone.layers.*``).
    A partial file, whose backbone is not recognisable, still matches by full name."""
    mounts = find_backbones({k: tuple(v.shape) for k, v in source.items()})
    out: dict[Key, Mapped] = {}
    for name, t in source.items():
        out.setdefault(_canonical(name, mounts), (name, t, ""))
        out.setdefault(_canonical(name, own_mounts), (name, t, ""))
    return out


# torchvision squeezenet1_1 ``features`` index -> (stage, fire) of SqueezeNet11
_SQUEEZE_FIRES = {3: "0.0", 4: "0.1", 6: "1.0", 7: "1.1", 9: "2.0", 10: "2.1", 11: "2.2",
                  12: "2.3"}


def _torchvision_local(name: str) -> str | None:
    """torchvision ``squeezenet1_1`` name -> :class:`SqueezeNet11`'s own (None: unmapped).

    ``features.0`` is conv1; ``features.{3,4,6,7,9,10,11,12}`` are the fire modules (the
    others are ReLU / max-pool); ``classifier.*`` is the ImageNet head, left unused.
    """
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == "features" and parts[1].isdigit():
        idx = int(parts[1])
        if idx == 0:
            return "conv1.0." + ".".join(parts[2:])
        if idx in _SQUEEZE_FIRES:
            stage, fire = _SQUEEZE_FIRES[idx].split(".")
            return f"stages.{stage}.{fire}." + ".".join(parts[2:])
    return None


def _map_torchvision(source: Mapping[str, Any]) -> dict[Key, Mapped]:
    out: dict[Key, Mapped] = {}
    for name, t in source.items():
        local = _torchvision_local(name)
        if local is not None:
            out.setdefault((SQUEEZENET, local), (name, t, ""))
    return out


# timm ``mobilenetv1_*`` (timm/models/efficientnet.py ``_gen_mobilenet_v1``): arch_def
# [['dsa_r1_k3_s1_c64'], ['dsa_r2_k3_s2_c128'], ['dsa_r2_k3_s2_c256'],
#  ['dsa_r6_k3_s2_c512'], ['dsa_r2_k3_s2_c1024']] -> 5 stages of 1, 2, 2, 6, 2 blocks, i.e.
# Conv2d_1..13 in order. "dsa" is a DepthwiseSeparableConv (_efficientnet_blocks.py) with
# pw_act and noskip (_efficientnet_builder._decode_block_str): conv_dw, bn1 (+ReLU6),
# conv_pw, bn2 (+ReLU6), no residual, SE/aa Identity. The model (EfficientNet) has
# conv_stem + bn1 before the blocks and, only in the ``h`` variants (head_conv=True),
# conv_head + bn2 after them; then classifier. Padding '' is symmetric, as here.
TIMM_STAGES = (1, 2, 2, 6, 2)
_TIMM_LAYER = {(s, b): 1 + sum(TIMM_STAGES[:s]) + b
               for s, n in enumerate(TIMM_STAGES) for b in range(n)}
_TIMM_RULES = (
    (re.compile(r"conv_stem\.weight"), lambda m: "0.0.weight"),
    (re.compile(rf"bn1\.{_TORCH_BN}"), lambda m: f"0.1.{m[1]}"),
    (re.compile(r"blocks\.(\d+)\.(\d+)\.conv_dw\.weight"), lambda m: "{L}.0.0.weight"),
    (re.compile(rf"blocks\.(\d+)\.(\d+)\.bn1\.{_TORCH_BN}"), lambda m: f"{{L}}.0.1.{m[3]}"),
    (re.compile(r"blocks\.(\d+)\.(\d+)\.conv_pw\.weight"), lambda m: "{L}.1.0.weight"),
    (re.compile(rf"blocks\.(\d+)\.(\d+)\.bn2\.{_TORCH_BN}"), lambda m: f"{{L}}.1.1.{m[3]}"),
)


def _map_timm(source: Mapping[str, Any]) -> dict[Key, Mapped]:
    out: dict[Key, Mapped] = {}
    for name, t in source.items():
        for rx, local in _TIMM_RULES:
            m = rx.fullmatch(name)
            if not m:
                continue
            target = local(m)
            if "{L}" in target:
                layer = _TIMM_LAYER.get((int(m[1]), int(m[2])))
                if layer is None:
                    break  # a block MobileNet-v1 does not have: left unused
                target = target.replace("{L}", str(layer))
            out.setdefault((MOBILENET, target), (name, t, ""))
            break
    return out


# Keras ``keras.applications.MobileNet`` (keras/src/applications/mobilenet.py): layers
# conv1 (Conv2D, no bias) + conv1_bn, then for block_id 1..13 conv_dw_{id}
# (DepthwiseConv2D, no bias) + conv_dw_{id}_bn and conv_pw_{id} (1x1 Conv2D, no bias) +
# conv_pw_{id}_bn; conv_preds is the classifier. Weight names are "layer/variable" with
# TF2's ":0" suffix, optionally under a model scope; Keras 3's ``variable.path`` has no
# suffix and names the depthwise kernel "kernel" (tf.keras: "depthwise_kernel"), as
# keras 3.15 prints for MobileNet(weights=None): conv1/kernel (3, 3, 3, C),
# conv_dw_1/kernel (3, 3, C, 1), conv_pw_1/kernel (1, 1, C, C'), conv1_bn/moving_mean.
_TF_SUFFIX = r"(?::\d+)?"
_TF_BN_RX = "(gamma|beta|moving_mean|moving_variance)"
_KERAS_RULES = (
    (re.compile(rf"(?:.*/)?conv1/kernel{_TF_SUFFIX}"), lambda m: ("0.0.weight", "hwio")),
    (re.compile(rf"(?:.*/)?conv1_bn/{_TF_BN_RX}{_TF_SUFFIX}"),
     lambda m: (f"0.1.{_TF_BN[m[1]]}", "")),
    (re.compile(rf"(?:.*/)?conv_dw_(\d+)/(?:depthwise_)?kernel{_TF_SUFFIX}"),
     lambda m: (f"{m[1]}.0.0.weight", "hwc1")),
    (re.compile(rf"(?:.*/)?conv_dw_(\d+)_bn/{_TF_BN_RX}{_TF_SUFFIX}"),
     lambda m: (f"{m[1]}.0.1.{_TF_BN[m[2]]}", "")),
    (re.compile(rf"(?:.*/)?conv_pw_(\d+)/kernel{_TF_SUFFIX}"),
     lambda m: (f"{m[1]}.1.0.weight", "hwio")),
    (re.compile(rf"(?:.*/)?conv_pw_(\d+)_bn/{_TF_BN_RX}{_TF_SUFFIX}"),
     lambda m: (f"{m[1]}.1.1.{_TF_BN[m[2]]}", "")),
)

# TF-slim ``research/slim/nets/mobilenet_v1.py``: scope MobilenetV1, Conv2d_0 (slim.conv2d,
# weights HWIO) then Conv2d_{i}_depthwise (separable_conv2d with num_outputs None:
# depthwise_weights (H, W, C, 1)) and Conv2d_{i}_pointwise (weights (1, 1, in, out)), each
# with BatchNorm/{gamma, beta, moving_mean, moving_variance} (arg scope: center and scale,
# eps 1e-3). Also found under the Object Detection API's "FeatureExtractor/" scope; slot
# variables (".../RMSProp", ".../ExponentialMovingAverage") are left unused.
_SLIM_RULES = (
    (re.compile(rf"(?:.*/)?MobilenetV1/Conv2d_0/weights{_TF_SUFFIX}"),
     lambda m: ("0.0.weight", "hwio")),
    (re.compile(rf"(?:.*/)?MobilenetV1/Conv2d_0/BatchNorm/{_TF_BN_RX}{_TF_SUFFIX}"),
     lambda m: (f"0.1.{_TF_BN[m[1]]}", "")),
    (re.compile(rf"(?:.*/)?MobilenetV1/Conv2d_(\d+)_depthwise/depthwise_weights{_TF_SUFFIX}"),
     lambda m: (f"{m[1]}.0.0.weight", "hwc1")),
    (re.compile(rf"(?:.*/)?MobilenetV1/Conv2d_(\d+)_depthwise/BatchNorm/{_TF_BN_RX}"
                rf"{_TF_SUFFIX}"),
     lambda m: (f"{m[1]}.0.1.{_TF_BN[m[2]]}", "")),
    (re.compile(rf"(?:.*/)?MobilenetV1/Conv2d_(\d+)_pointwise/weights{_TF_SUFFIX}"),
     lambda m: (f"{m[1]}.1.0.weight", "hwio")),
    (re.compile(rf"(?:.*/)?MobilenetV1/Conv2d_(\d+)_pointwise/BatchNorm/{_TF_BN_RX}"
                rf"{_TF_SUFFIX}"),
     lambda m: (f"{m[1]}.1.1.{_TF_BN[m[2]]}", "")),
)


def _tf_mapper(rules) -> Callable[[Mapping[str, Any]], dict[Key, Mapped]]:
    def mapper(source: Mapping[str, Any]) -> dict[Key, Mapped]:
        out: dict[Key, Mapped] = {}
        for name, t in source.items():
            for rx, local in rules:
                m = rx.fullmatch(name)
                if m:
                    target, conversion = local(m)
                    out.setdefault((MOBILENET, target), (name, t, conversion))
                    break
        return out
    return mapper


_MAPPERS: dict[str, Callable[[Mapping[str, Any]], dict[Key, Mapped]]] = {
    TORCHVISION_SQUEEZENET: _map_torchvision,
    TIMM_MOBILENET: _map_timm,
    KERAS_MOBILENET: _tf_mapper(_KERAS_RULES),
    SLIM_MOBILENET: _tf_mapper(_SLIM_RULES),
}
def _convert(t: torch.Tensor, conversion: str) -> torch.Tensor:
    if conversion == "hwio" and t.dim() == 4:
        return t.permute(3, 2, 0, 1).contiguous()
    if conversion == "hwc1" and t.dim() == 4:
        return t.permute(2, 3, 0, 1).contiguous()
    return t


# ----------------------------------------------------------------------------- report


@dataclass(frozen=True)
class InitRow:
    """One model tensor: what the file gave it."""

    name: str
    group: str
    backbone: bool
    status: str  # MATCHED, SHAPE_MISMATCH or MISSING
    shape: tuple[int, ...]
    source: str | None = None
    source_shape: tuple[int, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group, "backbone": self.backbone,
                "status": self.status, "shape": list(self.shape), "source": self.source,
                "source_shape": None if self.source_shape is None else list(self.source_shape)}


@dataclass
class InitReport:
    """What ``--init FILE`` did to each model tensor, and the file tensors it left unused."""

    path: str
    layout: str
    rows: list[InitRow]
    unused: list[str] = field(default_factory=list)
    source_alpha: float | None = None
    model_alpha: float | None = None
    backbone_kinds: list[str] = field(default_factory=list)  # the model's (MOBILENET, ...)
    source_kinds: list[str] = field(default_factory=list)  # backbones the file has weights of
    notes: list[str] = field(default_factory=list)

    def count(self, status: str, backbone: bool | None = None) -> int:
        return sum(1 for r in self.rows
                   if r.status == status and (backbone is None or r.backbone == backbone))

    @property
    def matched(self) -> int:
        return self.count(MATCHED)

    @property
    def backbone_total(self) -> int:
        return sum(1 for r in self.rows if r.backbone)

    @property
    def backbone_matched(self) -> int:
        return self.count(MATCHED, backbone=True)

    @property
    def backbone_fraction(self) -> float:
        return self.backbone_matched / self.backbone_total if self.backbone_total else 0.0

    def groups(self) -> dict[str, dict[str, int]]:
        """{group: {status: count, "total": n}}, backbone groups first."""
        out: dict[str, dict[str, int]] = {}
        for r in sorted(self.rows, key=lambda r: not r.backbone):
            g = out.setdefault(r.group, {"total": 0, MATCHED: 0, SHAPE_MISMATCH: 0, MISSING: 0})
            g["total"] += 1
            g[r.status] += 1
        return out

    def table(self) -> str:
        """A readable summary: counts per module group, shape mismatches, unused tensors."""
        width = max([len("group"), *(len(g) for g in self.groups())])
        alpha = ("" if self.source_alpha is None
                 else f", MobileNet-v1 depth multiplier {format_alpha(self.source_alpha)}")
        header = (f"  {'group':<{width}}  {'tensors':>7}  {'matched':>7}  "
                  f"{'shape-mismatch':>14}  {'missing-in-file':>15}")
        lines = [f"--init {self.path}: layout {self.layout}{alpha}", header]
        for name, g in self.groups().items():
            lines.append(f"  {name:<{width}}  {g['total']:>7}  {g[MATCHED]:>7}  "
                         f"{g[SHAPE_MISMATCH]:>14}  {g[MISSING]:>15}")
        lines.append(f"  backbone: {self.backbone_matched} of {self.backbone_total} tensors "
                     f"matched ({self.backbone_fraction:.0%}); model: {self.matched} of "
                     f"{len(self.rows)}; file: {len(self.unused)} tensors unused")
        bad = [r for r in self.rows if r.status == SHAPE_MISMATCH]
        for r in bad:
            lines.append(f"  shape mismatch: {r.name} {_shape(r.shape)} <- {r.source} "
                         f"{_shape(r.source_shape)}")
        if self.unused:
            shown = ", ".join(self.unused[:8]) + (", ..." if len(self.unused) > 8 else "")
            lines.append(f"  unused in the file: {shown}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_dict(self, rows: bool = True) -> dict[str, Any]:
        """JSON-ready; ``rows=False`` keeps only the rows that are not matched."""
        return {
            "file": self.path, "layout": self.layout,
            "source_alpha": self.source_alpha, "model_alpha": self.model_alpha,
            "backbone": self.backbone_kinds, "source_backbone": self.source_kinds,
            "backbone_matched": self.backbone_matched, "backbone_total": self.backbone_total,
            "matched": self.matched, "shape_mismatch": self.count(SHAPE_MISMATCH),
            "missing": self.count(MISSING), "total": len(self.rows),
            "groups": self.groups(), "unused": list(self.unused), "notes": list(self.notes),
            "rows": [r.as_dict() for r in self.rows if rows or r.status != MATCHED],
        }


def format_alpha(alpha: float) -> str:
    """1.0, 0.75, 0.5, 0.25 as a user types them after ``--alpha``."""
    text = f"{alpha:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _shape(shape: tuple[int, ...] | None) -> str:
    return "?" if shape is None else "(" + ", ".join(str(s) for s in shape) + ")"


# ---------------------------------------------------------------------------- matching


def match_weights(model_state: Mapping[str, torch.Tensor], source: Mapping[str, torch.Tensor],
                  path: str | Path = "<weights>"
                  ) -> tuple[InitReport, dict[str, torch.Tensor]]:
    """(report, {model name: converted tensor to copy}) for ``source`` on a model state.

    Every layout of :data:`LAYOUTS` maps the file; the one reaching most model tensors
    (by name, shape aside: a wrong width must still be recognised) is used.
    """
    own_shapes = {k: tuple(v.shape) for k, v in model_state.items()}
    mounts = find_backbones(own_shapes)
    own_keys = {k: _canonical(k, mounts) for k in model_state}
    key_to_name: dict[Key, str] = {}
    for name, key in own_keys.items():
        key_to_name.setdefault(key, name)
    candidates = {EDGE: _map_edge(source, mounts),
                  **{layout: mapper(source) for layout, mapper in _MAPPERS.items()}}
    # most model tensors reached; ties: most file tensors recognised, then LAYOUTS order
    layout = max(LAYOUTS, key=lambda lay: (sum(k in key_to_name for k in candidates[lay]),
                                           len(candidates[lay]) if lay != EDGE else 0,
                                           -LAYOUTS.index(lay)))
    mapped = candidates[layout]
    kinds = sorted({m.kind for m in mounts})
    rows: list[InitRow] = []
    copies: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for name, key in own_keys.items():
        shape = own_shapes[name]
        hit = mapped.get(key)
        if name.rsplit(".", 1)[-1] == BN_COUNTER:
            # BatchNorm's step counter is no weight (TF layouts have none): copied when
            # the file has it, never a row, so it does not pad the match counts
            if hit is not None and tuple(hit[1].shape) == shape:
                used.add(hit[0])
                copies[name] = hit[1]
            continue
        backbone = key[0] != OWN or not mounts
        group = _group(key, name)
        if hit is None:
            rows.append(InitRow(name, group, backbone, MISSING, shape))
            continue
        src_name, tensor, conversion = hit
        used.add(src_name)
        t = _convert(tensor, conversion)
        if tuple(t.shape) != shape:
            rows.append(InitRow(name, group, backbone, SHAPE_MISMATCH, shape, src_name,
                                tuple(t.shape)))
            continue
        rows.append(InitRow(name, group, backbone, MATCHED, shape, src_name, shape))
        copies[name] = t
    unused = [k for k in source if k not in used]

    def src_shape(local: str) -> tuple[int, ...] | None:
        hit = mapped.get((MOBILENET, local))
        return None if hit is None else tuple(_convert(hit[1], hit[2]).shape)

    def own_shape(local: str) -> tuple[int, ...] | None:
        name = key_to_name.get((MOBILENET, local))
        return None if name is None else own_shapes[name]

    report = InitReport(
        path=str(path), layout=layout, rows=rows, unused=unused,
        source_alpha=_mobilenet_alpha(src_shape), model_alpha=_mobilenet_alpha(own_shape),
        backbone_kinds=kinds, source_kinds=_source_kinds(layout, source, mapped),
        notes=list(NOTES.get(layout, [])))
    return report, copies


def _source_kinds(layout: str, source: Mapping[str, Any], mapped: dict[Key, Mapped]
                  ) -> list[str]:
    """Backbones the file holds weights of (by its own structure, not the model's)."""
    if layout == EDGE:
        return sorted({m.kind for m in find_backbones({k: tuple(v.shape)
                                                       for k, v in source.items()})})
    return sorted({k[0] for k in mapped} - {OWN})


def check_report(report: InitReport, min_fraction: float = MIN_BACKBONE_FRACTION) -> None:
    """Raise :class:`ModelFileError` (one line) unless enough backbone tensors matched."""
    if report.backbone_total and report.backbone_fraction >= min_fraction:
        return
    what = (f"{_kinds(report.backbone_kinds)} backbone" if report.backbone_kinds
            else "model")
    head = (f"--init {report.path}: layout {report.layout}; {report.backbone_matched} of the "
            f"{report.backbone_total} {what} tensors match by name and shape "
            f"({report.backbone_fraction:.0%}, at least {min_fraction:.0%} needed)")
    if report.matched == 0:
        head = (f"--init {report.path}: no tensor matches the model by name and shape "
                f"(layout {report.layout}; 0 of the {report.backbone_total} {what} tensors)")
    raise ModelFileError(f"{head}: {_fix_hint(report)}")


def _fix_hint(report: InitReport) -> str:
    src, own = report.source_alpha, report.model_alpha
    if src is not None and own is not None and abs(src - own) > 1e-6:
        return (f"weights for MobileNet-v1 depth multiplier {format_alpha(src)} but the model "
                f"has --alpha {format_alpha(own)}: pass --alpha {format_alpha(src)} or "
                f"weights of that width")
    if report.source_kinds and not set(report.source_kinds) & set(report.backbone_kinds):
        return (f"the file holds {_kinds(report.source_kinds)} weights but the model's "
                f"backbone is {_kinds(report.backbone_kinds) or 'neither of those'}: pick a "
                f"model with that backbone or other weights")
    bad = [r for r in report.rows if r.status == SHAPE_MISMATCH]
    if bad:
        r = bad[0]
        return (f"{len(bad)} tensors have other shapes (e.g. {r.name} {_shape(r.shape)} <- "
                f"{r.source} {_shape(r.source_shape)}): weights of another model or width")
    example = next((r.name for r in report.rows if r.backbone), "?")
    return (f"pass {_kinds(report.backbone_kinds) or 'this model'}'s weights in a layout "
            f"--init reads ({', '.join(LAYOUTS)}; model names like {example!r}); see "
            f"docs/training.md")


def _kinds(kinds: Iterable[str]) -> str:
    return " and ".join(KIND_NAMES.get(k, k) for k in kinds)


def init_from_file(model, path: str | Path,
                   min_fraction: float = MIN_BACKBONE_FRACTION) -> InitReport:
    """Copy the tensors of weights file ``path`` that fit into ``model``; return the report.

    Raises :class:`ModelFileError` before touching the model when the file cannot be read
    or fewer than ``min_fraction`` of the backbone's tensors match. Shape mismatches on
    mapped names are listed in the report (and logged as a warning), never copied.
    """
    torch = require("torch", "loading pretrained weights (--init)")
    source = read_weights(path)
    state = model.state_dict()
    report, copies = match_weights(state, source, path)
    check_report(report, min_fraction)
    with torch.no_grad():
        for name, t in copies.items():
            state[name].copy_(t.to(state[name].dtype))
    mismatched = report.count(SHAPE_MISMATCH)
    if mismatched:
        log.warning("--init %s: %d mapped tensors have other shapes and keep their random "
                    "initialisation (listed in the --init table)", path, mismatched)
    return report
