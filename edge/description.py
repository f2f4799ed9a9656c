"""The model description: everything the runtime needs to know about a network.

One small, frozen dataclass tree carries input size, normalisation, strides, branch
shapes, the branch-assignment rule, anchors, box coding and class names. It is built
by the catalogue (:mod:`edge.catalog`), embedded in checkpoints, serialised into the
ONNX ``metadata_props`` at export, and read back by the runtime, which therefore needs
no PyTorch and no side files. It is pure Python on purpose.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from edge.errors import ConfigError

SCHEMA_VERSION = 1

Task = Literal["instance", "semantic"]
BranchMode = Literal["exact", "resize", "resize_pool"]
AssignRule = Literal["single", "exact", "exact_or_fallback", "largest_fit"]
SkipDepth = Literal["fcn8", "fcn16", "fcn32"]
# semantic architectures: the thesis's FCNs on a backbone, and the seed systems (001, 004)
Architecture = Literal["fcn", "icnet", "segnet-basic", "segnet", "segnet-toy", "hourglass",
                       "deeplab-largefov", "roimask"]
ARCHITECTURES = ("fcn", "icnet", "segnet-basic", "segnet", "segnet-toy", "hourglass",
                 "deeplab-largefov", "roimask")
RoIMode = Literal["mask", "crop", "none"]

CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "train", "motorcycle", "bicycle",
)  # fmt: skip

# SURREAL's body parts (its sorted_parts; id = index, 0 = background), seed 001
PARTS_CLASSES: tuple[str, ...] = (
    "background", "hips", "leftUpLeg", "rightUpLeg", "spine", "leftLeg", "rightLeg", "spine1",
    "leftFoot", "rightFoot", "spine2", "leftToeBase", "rightToeBase", "neck", "leftShoulder",
    "rightShoulder", "head", "leftArm", "rightArm", "leftForeArm", "rightForeArm", "leftHand",
    "rightHand", "leftHandIndex1", "rightHandIndex1",
)  # fmt: skip

# CamVid's 11 classes as seed 004 lists them (Misc where the SegNet tutorial has Pole)
CAMVID_CLASSES: tuple[str, ...] = (
    "sky", "building", "road", "sidewalk", "tree", "fence", "signs", "car", "pedestrian",
    "bicyclist", "misc",
)  # fmt: skip

SQUARES_CLASSES: tuple[str, ...] = ("background", "square")  # seed 004's toy task

# ATR's 18 garment/part labels (seed 000's fashion target; seed-systems 1.4.11)
FASHION_CLASSES: tuple[str, ...] = (
    "background", "hat", "hair", "sunglasses", "upper-clothes", "skirt", "pants", "dress",
    "belt", "left-shoe", "right-shoe", "face", "left-leg", "right-leg", "left-arm", "right-arm",
    "bag", "scarf",
)  # fmt: skip

# VOC-like multi-class scenes (seed 002): background and four confusable pairs, each pair
# alike but for a small discriminative part (cat/dog ears, sofa/chair arms, bus/car
# windows, bird/aeroplane tail)
VOC_CLASSES: tuple[str, ...] = (
    "background", "cat", "dog", "sofa", "chair", "bus", "car", "bird", "aeroplane",
)  # fmt: skip

# Multiplicative factor of mask resolution over the stride-32 crop per skip depth.
_SKIP_UPSAMPLE = {"fcn32": 1, "fcn16": 2, "fcn8": 4}
# Feature strides an ISB crops from, per skip depth.
_SKIP_STRIDES = {"fcn32": (32,), "fcn16": (32, 16), "fcn8": (32, 16, 8)}


@dataclass(frozen=True)
class BranchSpec:
    """One Instance Segmentation Branch (thesis 3.1.2, 3.1.5).

    ``shape`` is the ISB input (h, w) in cells of the stride-32 grid. ``mode`` says how
    an encompassing-box crop becomes that shape: ``exact`` takes it as is (no resize),
    ``resize`` bilinearly resizes it, ``resize_pool`` resizes to twice the shape and
    max-pools 2x2 (Mask R-CNN's crop, used by Single-Branch).
    """

    shape: tuple[int, int]
    mode: BranchMode
    max_boxes: int

    def __post_init__(self) -> None:
        h, w = self.shape
        if h < 1 or w < 1:
            raise ConfigError(f"branch shape must be at least 1x1 cells, got {h}x{w}")
        if self.mode not in ("exact", "resize", "resize_pool"):
            raise ConfigError(
                f"branch mode must be exact, resize or resize_pool, got {self.mode!r}"
            )
        if self.max_boxes < 1:
            raise ConfigError(f"max boxes per branch must be >= 1, got {self.max_boxes}")

    @property
    def name(self) -> str:
        """File-name friendly name, e.g. ``7x2`` or ``14x14r``."""
        h, w = self.shape
        suffix = {"exact": "", "resize": "r", "resize_pool": "p"}[self.mode]
        return f"{h}x{w}{suffix}"

    @property
    def area(self) -> int:
        return self.shape[0] * self.shape[1]


@dataclass(frozen=True)
class AnchorSpec:
    """SSD default anchors in the TF Object Detection API layout (thesis 3.1.1, eq. 3.1).

    Scales run linearly from ``min_scale`` to ``max_scale`` over the feature maps; every
    map gets one box per aspect ratio plus one at the geometric mean of its scale and
    the next; the first map keeps only (0.1, ratio 1), (s, 2) and (s, 1/2).
    """

    min_scale: float = 0.2
    max_scale: float = 0.9
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
    reduce_lowest: bool = True

    def anchors_per_location(self, num_maps: int) -> tuple[int, ...]:
        full = len(self.aspect_ratios) + 1
        first = 3 if self.reduce_lowest else full
        return (first,) + (full,) * (num_maps - 1)


@dataclass(frozen=True)
class ModelDescription:
    """What a network is, in the runtime's terms. Frozen; build variants with ``replace``.

    Coordinates everywhere are pixels of the network input, boxes ``(x1, y1, x2, y2)``.
    ``input_size`` is ``(height, width)``. Pixels are normalised as
    ``(rgb - mean) / std`` with ``mean``/``std`` in 0..255 units.
    """

    name: str
    task: Task
    backbone: Literal["mobilenet_v1", "squeezenet1_1", "vgg16", "none"]
    input_size: tuple[int, int]
    class_names: tuple[str, ...]
    alpha: float = 1.0
    mean: tuple[float, float, float] = (127.5, 127.5, 127.5)
    std: tuple[float, float, float] = (127.5, 127.5, 127.5)
    channel_order: Literal["RGB", "BGR"] = "RGB"
    resize_mode: Literal["stretch"] = "stretch"
    # semantic segmentation
    skip_strides: tuple[int, ...] = ()
    output_stride: int = 32
    last_rate: int = 1
    # seed architectures (``architecture`` != "fcn"; backbone "none"), see edge/models/
    architecture: Architecture = "fcn"
    filter_scale: int = 1  # ICNet 1 (pruned) or 2 (doubled); SegNet-Basic width 64 x this
    upsample: Literal["indices", "deconv"] = "indices"  # SegNet decoders
    stacks: int = 4  # hourglass modules
    features: int = 256  # hourglass width
    stem_stride: int = 1  # hourglass stem: 1 (seed 001, full resolution) or 4 (edge variant)
    joints: int = 0  # hourglass joint-heatmap branch (training only); 0 = none
    fc_width: int = 1024  # DeepLab-LargeFOV's fc6 (3x3, dilation 12) and fc7 width
    # RoI-masked segmentation (seed 000): the SSD proposes ``roi_boxes`` RoIs (top scores,
    # kept when above ``score_threshold``); "mask" multiplies dense features by their
    # union, "crop" decodes ``roi_crop`` x ``roi_crop`` cells (stride 8) per RoI and pastes,
    # "none" neither (the seed's ablation); the detector's classes give the CMaps
    roi_mode: RoIMode = "mask"
    roi_boxes: int = 10
    roi_crop: int = 8
    detector_classes: tuple[str, ...] = ("person",)
    background_score: float = 20.0  # seed 000's background correction outside the RoIs
    # instance segmentation (SSD-ISB)
    isb_skip: SkipDepth = "fcn8"
    branches: tuple[BranchSpec, ...] = ()
    assignment: AssignRule = "single"
    anchors: AnchorSpec = field(default_factory=AnchorSpec)
    box_coder_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    score_threshold: float = 0.3
    nms_iou_threshold: float = 0.6
    max_detections: int = 100
    mask_threshold: float = 0.0

    def __post_init__(self) -> None:
        h, w = self.input_size
        multiple = self.network_stride
        if h <= 0 or w <= 0 or h % multiple or w % multiple:
            raise ConfigError(
                f"{self.name}: input size must be positive multiples of {multiple} "
                f"(the network's deepest stride), got {h}x{w}; try "
                f"{max(multiple, round(h / multiple) * multiple)}x"
                f"{max(multiple, round(w / multiple) * multiple)}"
            )
        if not self.class_names:
            raise ConfigError(f"{self.name}: at least one class name is needed")
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"{self.name}: unknown architecture {self.architecture!r}; one of "
                              f"{', '.join(ARCHITECTURES)}")
        if self.architecture != "fcn" and self.task != "semantic":
            raise ConfigError(f"{self.name}: {self.architecture} is a semantic architecture")
        if self.filter_scale not in (1, 2) or self.stem_stride not in (1, 4) or \
                self.stacks < 1 or self.features < 8 or self.joints < 0:
            raise ConfigError(f"{self.name}: filter_scale 1|2, stem_stride 1|4, stacks >= 1, "
                              f"features >= 8 and joints >= 0, got {self.filter_scale}, "
                              f"{self.stem_stride}, {self.stacks}, {self.features}, {self.joints}")
        if self.fc_width < 8 or self.roi_mode not in ("mask", "crop", "none") or \
                self.roi_boxes < 1 or self.roi_crop < 1 or not self.detector_classes:
            raise ConfigError(f"{self.name}: fc_width >= 8, roi_mode mask|crop|none, roi_boxes "
                              f">= 1, roi_crop >= 1 and at least one detector class, got "
                              f"{self.fc_width}, {self.roi_mode!r}, {self.roi_boxes}, "
                              f"{self.roi_crop}, {self.detector_classes}")
        if self.task == "instance":
            if not self.branches:
                raise ConfigError(f"{self.name}: an SSD-ISB model needs at least one branch")
            if self.isb_skip not in _SKIP_UPSAMPLE:
                raise ConfigError(
                    f"{self.name}: ISB skip depth must be fcn8, fcn16 or fcn32, got {self.isb_skip!r}"
                )

    # ----- derived geometry -------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of foreground classes (SSD adds a background class internally)."""
        return len(self.class_names)

    @property
    def network_stride(self) -> int:
        """Largest stride of the encoder: inputs must be multiples of it."""
        if self.task == "instance":
            return 32
        if self.architecture != "fcn":
            return {"icnet": 32, "segnet-basic": 16, "segnet": 32, "segnet-toy": 4,
                    "hourglass": 32 if self.stem_stride == 1 else 64, "deeplab-largefov": 8,
                    "roimask": 32}[self.architecture]
        if self.backbone == "mobilenet_v1":
            return 32
        return 16

    @property
    def mask_strides(self) -> tuple[int, ...]:
        """Feature strides an ISB crops from, coarsest first (32, then 16, then 8)."""
        return _SKIP_STRIDES[self.isb_skip]

    @property
    def crop_stride(self) -> int:
        """Stride of the grid encompassing boxes snap to (the ISB input grid)."""
        return 32

    def mask_shape(self, branch: BranchSpec) -> tuple[int, int]:
        """Mask-logit (h, w) a branch outputs for one box."""
        up = _SKIP_UPSAMPLE[self.isb_skip]
        return branch.shape[0] * up, branch.shape[1] * up

    # ----- serialisation ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["schema_version"] = SCHEMA_VERSION
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "model description") -> ModelDescription:
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: the model description is {type(d).__name__}, not an "
                              f"object; re-export the model")
        d = dict(d)
        version = d.pop("schema_version", None)
        if version != SCHEMA_VERSION:
            raise ConfigError(
                f"{source}: description schema version {version!r} is not the supported "
                f"{SCHEMA_VERSION}; re-export the model with this edge-seg version"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown description fields {unknown}; re-export the model")
        _check_types(cls, d, source)
        for b in d.get("branches", ()):
            _check_types(BranchSpec, b, f"{source}: branch")
        _check_types(AnchorSpec, d.get("anchors", {}), f"{source}: anchors")
        try:
            d["branches"] = tuple(
                BranchSpec(shape=tuple(b["shape"]), mode=b["mode"], max_boxes=b["max_boxes"])
                for b in d.get("branches", ())
            )
            anchors = dict(d.get("anchors", {}))
            if "aspect_ratios" in anchors:
                anchors["aspect_ratios"] = tuple(anchors["aspect_ratios"])
            d["anchors"] = AnchorSpec(**anchors)
            for key in ("input_size", "class_names", "mean", "std", "skip_strides",
                        "box_coder_weights", "detector_classes"):
                if key in d:
                    d[key] = tuple(d[key])
            return cls(**d)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{source}: malformed model description ({exc}); re-export") from exc
        except ConfigError as exc:  # a field's own check: say which file it came from
            raise ConfigError(f"{source}: {exc}") from exc

    @classmethod
    def from_json(cls, text: str, source: str = "model description") -> ModelDescription:
        try:
            d = json.loads(text)
        except (ValueError, RecursionError) as exc:  # not JSON, or nested beyond reason
            raise ConfigError(f"{source}: model description is not valid JSON "
                              f"({str(exc)[:120]})") from exc
        return cls.from_dict(d, source)

    def replace(self, **changes: Any) -> ModelDescription:
        return dataclasses.replace(self, **changes)


MAX_SIDE = 16384  # an input side beyond this is a corrupt description, not a network


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field's type hint (tuples arrive as lists)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return isinstance(value, str) and value in args
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return type(value) is int and abs(value) <= 2**31
    if hint is float:
        return type(value) in (int, float) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:  # a list from JSON, a tuple from a checkpoint's pickle
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
    return True  # nested dataclasses: checked on their own


def _check_types(cls: type, d: Any, source: str) -> None:
    """Refuse, naming ``source`` and the fields, a description (or branch, anchors) whose
    values are not of the types the dataclass declares: a string where a tuple of names
    belongs would otherwise become one name per letter, a float size a float shape."""
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: expected an object, got {type(d).__name__}; re-export")
    hints = typing.get_type_hints(cls)
    bad = sorted(k for k, v in d.items() if k in hints and not _fits(v, hints[k]))
    if bad:
        raise ConfigError(f"{source}: description fields {bad[:5]} have the wrong type or "
                          f"value; re-export the model")
    size = d.get("input_size")
    if size is not None and max(size) > MAX_SIDE:
        raise ConfigError(f"{source}: input size {size} is beyond {MAX_SIDE} pixels; re-export")
