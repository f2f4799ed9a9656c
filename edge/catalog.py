"""The model zoo's catalogue: CLI names -> :class:`ModelDescription`.

Pure Python, so ``edge-build models --help`` and the runtime can list names without
PyTorch. :mod:`edge.models.zoo` turns a description into a ``torch.nn.Module``.

Branch configurations are those of thesis sections 3.1.4, 3.1.5 and 5.2 (input
640x640, crops on the 20x20 stride-32 grid).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.description import (
    CAMVID_CLASSES,
    CITYSCAPES_CLASSES,
    FASHION_CLASSES,
    PARTS_CLASSES,
    SQUARES_CLASSES,
    VOC_CLASSES,
    AssignRule,
    BranchMode,
    BranchSpec,
    ModelDescription,
)
from edge.errors import ConfigError

ALPHAS = (1.0, 0.75, 0.5, 0.25)

SINGLE_SHAPES = ((7, 2), (6, 3), (6, 2), (5, 3), (5, 2), (4, 3), (4, 2), (3, 3), (3, 2), (3, 1),
                 (2, 2), (2, 1))  # fmt: skip


@dataclass(frozen=True)
class _InstanceConfig:
    shapes: tuple[tuple[int, int], ...]
    modes: tuple[BranchMode, ...]
    rule: AssignRule
    max_boxes: int
    thesis_params: int | None  # alpha 1.0, fcn8 (Tables 5.5, 5.9)
    summary: str


def _uniform(shapes: tuple[tuple[int, int], ...], mode: BranchMode) -> tuple[BranchMode, ...]:
    return (mode,) * len(shapes)


INSTANCE_CONFIGS: dict[str, _InstanceConfig] = {
    "ssd-isb-single-branch": _InstanceConfig(
        ((10, 10),), ("resize_pool",), "single", 100, 5_790_631,
        "one 10x10 ISB; crops resized to 20x20 then 2x2 max-pooled"),
    "ssd-isb-single-shape": _InstanceConfig(
        SINGLE_SHAPES, _uniform(SINGLE_SHAPES, "exact"), "exact", 30, 8_862_738,
        "one ISB per exact shape, no resizing; other boxes get no mask"),
    "ssd-isb-single-shape-plus": _InstanceConfig(
        SINGLE_SHAPES + ((14, 14),), _uniform(SINGLE_SHAPES, "exact") + ("resize",),
        "exact_or_fallback", 30, 9_002_580,
        "single-shape ISBs plus one 14x14 resize ISB for all other boxes"),
    "ssd-isb-multi-shape": _InstanceConfig(
        ((15, 10), (9, 4), (7, 3), (6, 3), (5, 2), (4, 2), (3, 2), (2, 2), (2, 1), (1, 1)),
        ("resize",) * 10, "largest_fit", 30, 8_014_288,
        "size-range ISBs; a box goes to the largest shape inside its encompassing box"),
    "ssd-isb-ms-newshapes": _InstanceConfig(
        ((15, 15), (10, 10), (8, 8), (6, 6), (4, 4), (2, 2), (1, 1)),
        ("resize",) * 7, "largest_fit", 30, 7_273_069, "multi-shape with square shapes"),
    "ssd-isb-ms-smallshapes": _InstanceConfig(
        ((10, 10), (8, 6), (6, 4), (5, 3), (4, 2), (2, 2), (2, 1), (1, 1)),
        ("resize",) * 8, "largest_fit", 30, 7_520_142, "multi-shape with smaller shapes"),
}

# Thesis rows for variants (Tables 5.7, 5.9), keyed by (config, alpha, isb_skip).
THESIS_PARAMS: dict[tuple[str, float, str], int] = {
    ("ssd-isb-single-branch", 1.0, "fcn8"): 5_790_631,
    ("ssd-isb-single-branch", 0.75, "fcn8"): 3_358_647,
    ("ssd-isb-single-branch", 1.0, "fcn16"): 5_765_991,
    ("ssd-isb-single-shape", 1.0, "fcn8"): 8_862_738,
    ("ssd-isb-single-shape-plus", 1.0, "fcn8"): 9_002_580,
    ("ssd-isb-multi-shape", 1.0, "fcn8"): 8_014_288,
    ("ssd-isb-multi-shape", 0.75, "fcn8"): 5_211_360,
    ("ssd-isb-multi-shape", 1.0, "fcn16"): 7_767_888,
    ("ssd-isb-ms-newshapes", 1.0, "fcn8"): 7_273_069,
    ("ssd-isb-ms-smallshapes", 1.0, "fcn8"): 7_520_142,
}


@dataclass(frozen=True)
class _SemanticConfig:
    backbone: str
    skip_strides: tuple[int, ...]
    output_stride: int
    thesis_params: int | None  # Table 4.2, 19 classes, MobileNet at alpha 0.5
    thesis_row: str
    summary: str


SEMANTIC_CONFIGS: dict[str, _SemanticConfig] = {
    "squeezenet-fcn16s": _SemanticConfig("squeezenet1_1", (), 16, 732_243, "SqzNet-Base",
                                         "SqueezeNet v1.1, no skip, output stride 16"),
    "squeezenet-fcn8s": _SemanticConfig("squeezenet1_1", (8,), 16, 740_470, "SqzNet-FCN8",
                                        "one skip step from stride 8"),
    "squeezenet-fcn4s": _SemanticConfig("squeezenet1_1", (8, 4), 16, None, "-",
                                        "two skip steps, from stride 8 and 4"),
    "squeezenet-os8": _SemanticConfig("squeezenet1_1", (), 8, 732_243, "SqzNet-Stride8",
                                      "atrous, output stride 8"),
    "squeezenet-os4": _SemanticConfig("squeezenet1_1", (), 4, 732_243, "-",
                                      "atrous, output stride 4"),
    "mobilenet-fcn32": _SemanticConfig("mobilenet_v1", (), 32, 839_283, "MN-Base",
                                       "MobileNet-v1, no skip, output stride 32"),
    "mobilenet-fcn16": _SemanticConfig("mobilenet_v1", (16,), 32, 849_942, "MN-FCN16",
                                       "one skip step from stride 16"),
    "mobilenet-fcn8": _SemanticConfig("mobilenet_v1", (16, 8), 32, 858_169, "MN-FCN8",
                                      "two skip steps, from stride 16 and 8"),
    "mobilenet-os16": _SemanticConfig("mobilenet_v1", (), 16, 839_283, "MN-Stride16",
                                      "atrous, output stride 16"),
    "mobilenet-os8": _SemanticConfig("mobilenet_v1", (), 8, 839_283, "MN-Stride8",
                                     "atrous, output stride 8"),
}

@dataclass(frozen=True)
class _SeedConfig:
    architecture: str
    options: tuple[tuple[str, object], ...]  # description fields
    input_size: tuple[int, int]
    classes: tuple[str, ...]
    reference_params: int | None  # seed-systems.md 0.7 (PyTorch reconstruction, default K)
    seed: str
    summary: str
    backbone: str = "none"  # mobilenet_v1 / vgg16 for seeds 000 and 002
    alpha: float = 1.0  # MobileNet width (--alpha changes it)


SEED_CONFIGS: dict[str, _SeedConfig] = {
    "icnet": _SeedConfig("icnet", (("filter_scale", 1), ("output_stride", 4)), (384, 384),
                         PARTS_CLASSES, 6_710_000,
                         "001", "ICNet (ICNet_BN), filter_scale 1: three cascade branches, CFF, "
                                "static pyramid pooling"),
    "icnet-fs2": _SeedConfig("icnet", (("filter_scale", 2), ("output_stride", 4)), (384, 384),
                             PARTS_CLASSES,
                             26_755_000, "001", "ICNet, filter_scale 2 (the seed's 'doubled "
                                                "filters')"),
    "segnet-basic": _SeedConfig("segnet-basic", (("upsample", "indices"),), (320, 320),
                                PARTS_CLASSES, 1_417_000, "001",
                                "SegNet-Basic, 4+4 7x7 layers, unpooling by pooling indices "
                                "(TensorRT-parseable rewrite)"),
    "segnet-basic-deconv": _SeedConfig("segnet-basic", (("upsample", "deconv"),), (320, 320),
                                       PARTS_CLASSES, 1_483_000, "001",
                                       "SegNet-Basic upsampling by 2x2 transposed convolution "
                                       "(the code seed 001 ran)"),
    "segnet": _SeedConfig("segnet", (("upsample", "indices"),), (320, 320), CAMVID_CLASSES,
                          None, "004", "SegNet: VGG16-BN encoder, 13+13 layers, pooling "
                                       "indices"),
    "segnet-toy": _SeedConfig("segnet-toy", (("upsample", "indices"),), (256, 256),
                              SQUARES_CLASSES, None, "004",
                              "seed 004's toy SegNet: 2 encoders + 2 decoders, pooling indices"),
    "hourglass": _SeedConfig("hourglass", (("stem_stride", 1), ("stacks", 4), ("features", 256)),
                             (320, 320), PARTS_CLASSES, 15_449_000, "001",
                             "Stacked Hourglass, 4x256, stem at full resolution (seed 001)"),
    "hourglass-edge": _SeedConfig("hourglass", (("stem_stride", 4), ("stacks", 4),
                                                ("features", 256)),
                                  (320, 320), PARTS_CLASSES, 12_874_000, "001",
                                  "Stacked Hourglass with a stride-4 stem (edge variant)"),
    "roimask": _SeedConfig("roimask", (("roi_mode", "mask"), ("output_stride", 1)), (320, 320),
                           FASHION_CLASSES, None, "000",
                           "RoI-masked segmentation: SSD RoIs mask shared MobileNet features, "
                           "CMap context, background correction (dense)",
                           "mobilenet_v1", 0.5),
    "roimask-crop": _SeedConfig("roimask", (("roi_mode", "crop"), ("output_stride", 1)),
                                (320, 320), FASHION_CLASSES, None, "000",
                                "RoI-masked segmentation decoding only RoI crops (as SSD-ISB "
                                "does) and pasting them", "mobilenet_v1", 0.5),
    "roimask-unmasked": _SeedConfig("roimask", (("roi_mode", "none"), ("output_stride", 1)),
                                    (320, 320), FASHION_CLASSES, None, "000",
                                    "the same network without RoI masking (seed 000's "
                                    "ablation)", "mobilenet_v1", 0.5),
    "deeplab-largefov": _SeedConfig("deeplab-largefov", (("output_stride", 8),), (320, 320),
                                    VOC_CLASSES, 20_505_000, "002",
                                    "DeepLab-LargeFOV: VGG-16, dilated fc6 (rate 12), output "
                                    "stride 8", "vgg16"),
    "deeplab-largefov-mobilenet": _SeedConfig(
        "deeplab-largefov", (("output_stride", 8),), (320, 320), VOC_CLASSES, None, "002",
        "DeepLab-LargeFOV's head on a dilated MobileNet-v1 (edge variant)", "mobilenet_v1",
        0.5),
}
# reference counts are for these class counts (seed-systems.md 0.7: K=25 for 001, 21 for 002)
_REFERENCE_K = {"001": 25, "002": 21}

DEFAULT_INSTANCE_SIZE = (640, 640)
DEFAULT_SEMANTIC_SIZE = (512, 1024)
DEFAULT_SEMANTIC_ALPHA = 0.5


def semantic_names() -> list[str]:
    """Every semantic zoo name: the thesis's FCNs, then the seed systems."""
    return list(SEMANTIC_CONFIGS) + list(SEED_CONFIGS)


def model_names() -> list[str]:
    """Every zoo name, semantic first, in catalogue order."""
    return list(SEMANTIC_CONFIGS) + list(SEED_CONFIGS) + list(INSTANCE_CONFIGS)


def _check_alpha(alpha: float) -> float:
    if alpha not in ALPHAS:
        raise ConfigError(f"depth multiplier must be one of {ALPHAS}, got {alpha}")
    return float(alpha)


def describe(
    name: str,
    *,
    alpha: float | None = None,
    input_size: tuple[int, int] | None = None,
    class_names: tuple[str, ...] | None = None,
    num_classes: int | None = None,
    isb_skip: str = "fcn8",
    max_boxes: int | None = None,
    last_rate: int = 1,
    filter_scale: int | None = None,
    stacks: int | None = None,
    features: int | None = None,
    joints: int = 0,
    fc_width: int | None = None,
    roi_boxes: int | None = None,
    detector_classes: tuple[str, ...] | None = None,
) -> ModelDescription:
    """Description of zoo model ``name`` with the given options.

    ``num_classes`` without ``class_names`` names classes ``class0``, ``class1``, ...
    Defaults: semantic models 19 Cityscapes classes, MobileNet alpha 0.5, input
    512x1024; SSD-ISB models one class ``person``, alpha 1.0, input 640x640.
    """
    if class_names is not None and num_classes is not None and len(class_names) != num_classes:
        raise ConfigError(f"{len(class_names)} class names given for {num_classes} classes")
    if class_names is None and num_classes is not None:
        if num_classes < 1:
            raise ConfigError(f"number of classes must be >= 1, got {num_classes}")
        class_names = tuple(f"class{i}" for i in range(num_classes))

    if name in SEMANTIC_CONFIGS:
        cfg = SEMANTIC_CONFIGS[name]
        if last_rate < 1:
            raise ConfigError(f"last-layer atrous rate must be >= 1, got {last_rate}")
        if cfg.backbone == "squeezenet1_1" and alpha not in (None, 1.0):
            raise ConfigError(f"{name}: SqueezeNet has no depth multiplier; drop --alpha")
        return ModelDescription(
            name=name,
            task="semantic",
            backbone=cfg.backbone,  # type: ignore[arg-type]
            alpha=1.0 if cfg.backbone == "squeezenet1_1" else _check_alpha(
                DEFAULT_SEMANTIC_ALPHA if alpha is None else alpha),
            input_size=tuple(input_size or DEFAULT_SEMANTIC_SIZE),  # type: ignore[arg-type]
            class_names=tuple(class_names or CITYSCAPES_CLASSES),
            skip_strides=cfg.skip_strides,
            output_stride=cfg.output_stride,
            last_rate=last_rate,
        )
    if name in SEED_CONFIGS:
        cfg_s = SEED_CONFIGS[name]
        if alpha not in (None, 1.0) and cfg_s.backbone != "mobilenet_v1":
            raise ConfigError(f"{name}: no depth multiplier; drop --alpha (ICNet and "
                              f"SegNet-Basic widen with --filter-scale 2)")
        opts = dict(cfg_s.options)
        if cfg_s.backbone == "mobilenet_v1":
            opts["alpha"] = _check_alpha(cfg_s.alpha if alpha is None else alpha)
        for key, value, arch in (("fc_width", fc_width, "deeplab-largefov"),
                                 ("roi_boxes", roi_boxes, "roimask"),
                                 ("detector_classes", detector_classes, "roimask")):
            if value is not None:
                if cfg_s.architecture != arch:
                    raise ConfigError(f"{name}: --{key.replace('_', '-')} is for the {arch} "
                                      f"models")
                opts[key] = tuple(value) if key == "detector_classes" else value
        if filter_scale is not None:
            if cfg_s.architecture not in ("icnet", "segnet-basic"):
                raise ConfigError(f"{name}: --filter-scale is for ICNet and SegNet-Basic")
            opts["filter_scale"] = filter_scale
        for key, value in (("stacks", stacks), ("features", features)):
            if value is not None:
                if cfg_s.architecture != "hourglass":
                    raise ConfigError(f"{name}: --{key} is for the hourglass models")
                opts[key] = value
        if joints:
            if cfg_s.architecture != "hourglass":
                raise ConfigError(f"{name}: a joint branch is for the hourglass models")
            opts["joints"] = joints
        return ModelDescription(
            name=name, task="semantic", backbone=cfg_s.backbone,  # type: ignore[arg-type]
            architecture=cfg_s.architecture,
            input_size=tuple(input_size or cfg_s.input_size),  # type: ignore[arg-type]
            class_names=tuple(class_names or cfg_s.classes), **opts)  # type: ignore[arg-type]
    if name in INSTANCE_CONFIGS:
        cfg_i = INSTANCE_CONFIGS[name]
        if isb_skip not in ("fcn8", "fcn16", "fcn32"):
            raise ConfigError(f"ISB skip depth must be fcn8, fcn16 or fcn32, got {isb_skip!r}")
        boxes = cfg_i.max_boxes if max_boxes is None else max_boxes
        branches = tuple(
            BranchSpec(shape=s, mode=m, max_boxes=boxes) for s, m in zip(cfg_i.shapes, cfg_i.modes)
        )
        return ModelDescription(
            name=name,
            task="instance",
            backbone="mobilenet_v1",
            alpha=_check_alpha(1.0 if alpha is None else alpha),
            input_size=tuple(input_size or DEFAULT_INSTANCE_SIZE),  # type: ignore[arg-type]
            class_names=tuple(class_names or ("person",)),
            isb_skip=isb_skip,  # type: ignore[arg-type]
            branches=branches,
            assignment=cfg_i.rule,
        )
    raise ConfigError(f"unknown model {name!r}; known models: {', '.join(model_names())}")


def thesis_params(desc: ModelDescription) -> int | None:
    """The parameter count the thesis reports for this model, if it reports one (for the
    seed systems: the reference reconstruction of seed-systems.md 0.7, at its class count)."""
    if desc.name in SEED_CONFIGS:
        cfg_s = SEED_CONFIGS[desc.name]
        k = _REFERENCE_K.get(cfg_s.seed)
        same = dict(cfg_s.options) == {f: getattr(desc, f) for f, _ in cfg_s.options}
        return cfg_s.reference_params if same and desc.num_classes == k else None
    if desc.task == "semantic":
        cfg = SEMANTIC_CONFIGS.get(desc.name)
        default = desc.num_classes == 19 and (
            desc.backbone == "squeezenet1_1" or desc.alpha == DEFAULT_SEMANTIC_ALPHA)
        return cfg.thesis_params if cfg and default else None
    if desc.num_classes != 1:
        return None
    return THESIS_PARAMS.get((desc.name, desc.alpha, desc.isb_skip))


def summary(name: str) -> str:
    """One-line human description of a zoo name."""
    if name in SEMANTIC_CONFIGS:
        return SEMANTIC_CONFIGS[name].summary
    if name in SEED_CONFIGS:
        return SEED_CONFIGS[name].summary
    if name in INSTANCE_CONFIGS:
        return INSTANCE_CONFIGS[name].summary
    raise ConfigError(f"unknown model {name!r}; known models: {', '.join(model_names())}")
