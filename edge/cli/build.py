"""``edge-build``: the workstation build pipeline (models today; data, training, export,
calibration and engines join as subcommands)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge import catalog
from edge.cli.base import add_input_size, make_parser, parse_precisions, run
from edge.errors import ConfigError
from edge.evaluate import EVAL_SCORE_THRESHOLD
from edge.optional import require

log = logging.getLogger(__name__)
ZOO_EXPORT_SEED = 0  # random weights of a zoo-name export are drawn from this seed

DESCRIPTION = "Build pipeline for edge-seg models: zoo, datasets, training, evaluation, ONNX export."


DEFAULT_ISB_SKIP = "fcn8"


def _at_least(option: str, value: float | None, lowest: float, why: str = "") -> None:
    """Refuse ``value`` below ``lowest`` (None = not given, left to the default)."""
    if value is not None and value < lowest:
        bound = "0 or more" if lowest == 0 else f"at least {lowest:g}"
        raise ConfigError(f"{option} must be {bound}{why}, got {value:g}")


def _not_empty(option: str, value: str | None) -> None:
    if value is not None and not value.strip():
        raise ConfigError(f"{option} is empty; give a value or leave the option out")


def _check_input_size(args: argparse.Namespace) -> None:
    size = getattr(args, "input_size", None)
    if size is not None and (size[0] <= 0 or size[1] <= 0):
        raise ConfigError(f"--input-size takes a positive height and width (multiples of 32, "
                          f"e.g. 480 480), got {size[0]} {size[1]}")


def _is_squeezenet(name: str) -> bool:
    cfg = catalog.SEMANTIC_CONFIGS.get(name)
    return cfg is not None and cfg.backbone == "squeezenet1_1"


def _check_zoo_options(name: str, args: argparse.Namespace) -> None:
    """Refuse options that do not apply to zoo model ``name`` instead of ignoring them."""
    if getattr(args, "isb_skip", None) is not None and name not in catalog.INSTANCE_CONFIGS:
        raise ConfigError(f"--isb-skip applies to SSD-ISB models; {name} is a semantic "
                          f"model: drop --isb-skip")
    if getattr(args, "alpha", None) is not None and _is_squeezenet(name):
        raise ConfigError(f"--alpha is MobileNet's depth multiplier; {name} is SqueezeNet, "
                          f"which has none: drop --alpha")
    if getattr(args, "alpha", None) is not None and name in catalog.SEED_CONFIGS and \
            catalog.SEED_CONFIGS[name].backbone != "mobilenet_v1":
        raise ConfigError(f"--alpha is MobileNet's depth multiplier; {name} has none: drop "
                          f"--alpha (ICNet and SegNet-Basic widen with --filter-scale 2)")
    arch = catalog.SEED_CONFIGS[name].architecture if name in catalog.SEED_CONFIGS else None
    if getattr(args, "fc_width", None) is not None and arch != "deeplab-largefov":
        raise ConfigError(f"--fc-width applies to the DeepLab-LargeFOV models, not {name}")
    if getattr(args, "roi_boxes", None) is not None and arch != "roimask":
        raise ConfigError(f"--roi-boxes applies to the RoI-masked models, not {name}")
    if getattr(args, "filter_scale", None) is not None and arch not in ("icnet",
                                                                        "segnet-basic"):
        raise ConfigError(f"--filter-scale applies to ICNet and SegNet-Basic, not {name}")
    for option in ("stacks", "features", "joints"):
        if getattr(args, option, None) is not None and arch != "hourglass":
            raise ConfigError(f"--{option} applies to the hourglass models, not {name}")


def _seed_options(args: argparse.Namespace) -> dict[str, Any]:
    """--filter-scale / --stacks / --features / --joints / --fc-width / --roi-boxes as
    describe() options."""
    out: dict[str, Any] = {}
    for option in ("filter_scale", "stacks", "features", "joints", "fc_width", "roi_boxes"):
        value = getattr(args, option, None)
        if value is not None:
            out[option] = value
    return out


def add_seed_options(p: argparse.ArgumentParser) -> None:
    """Options of the seed systems' models (refused for other models)."""
    p.add_argument("--filter-scale", type=int, choices=(1, 2),
                   help="ICNet / SegNet-Basic width: 2 doubles the filters (seed 001)")
    p.add_argument("--stacks", type=int, help="hourglass modules (default 4)")
    p.add_argument("--features", type=int, help="hourglass width (default 256)")
    p.add_argument("--joints", type=int,
                   help="hourglass joint-heatmap branch with N joints (24 for the parts data)")
    p.add_argument("--fc-width", type=int,
                   help="DeepLab-LargeFOV fc6/fc7 width (default 1024, the seed's)")
    p.add_argument("--roi-boxes", type=int,
                   help="RoI-masked models: RoIs rasterised per image (default 10)")


def _model_row(name: str, args: argparse.Namespace) -> dict[str, Any]:
    torch = require("torch", "edge-build models")

    from edge.models.stats import count_parameters, model_macs
    from edge.models.zoo import build_model

    task_is_semantic = name not in catalog.INSTANCE_CONFIGS
    options: dict[str, Any] = _seed_options(args)
    if args.input_size is not None:
        options["input_size"] = tuple(args.input_size)
    if args.num_classes is not None:
        options["num_classes"] = args.num_classes
    if args.alpha is not None and not _is_squeezenet(name) and (
            name not in catalog.SEED_CONFIGS or catalog.SEED_CONFIGS[name].backbone ==
            "mobilenet_v1"):
        options["alpha"] = args.alpha
    if not task_is_semantic:
        options["isb_skip"] = args.isb_skip or DEFAULT_ISB_SKIP
    desc = catalog.describe(name, **options)
    with torch.device("meta"):  # shapes only: no weights are allocated or initialised
        model = build_model(desc)
    # the thesis counted as TensorFlow does (with BN moving statistics); the seed systems'
    # reference counts (seed-systems.md 0.7) are PyTorch's parameters
    seed = name in catalog.SEED_CONFIGS
    params = sum(p.numel() for p in model.parameters()) if seed else count_parameters(model)
    thesis = catalog.thesis_params(desc)
    macs = model_macs(desc)
    return {
        "name": name,
        "task": desc.task,
        "backbone": desc.backbone,
        "alpha": desc.alpha,
        "input_size": list(desc.input_size),
        "num_classes": desc.num_classes,
        "branches": [b.name for b in desc.branches],
        "params": params,
        "thesis_params": thesis,
        "params_vs_thesis_pct": None if thesis is None else round(100.0 * (params - thesis) / thesis, 2),
        "params_convention": "pytorch" if seed else "tensorflow",
        "macs": macs["total"],
        "macs_detail": macs,
        "summary": catalog.summary(name),
    }


def _print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'model':28} {'task':8} {'alpha':>5} {'input':>9} {'params':>10} {'thesis':>10} " \
             f"{'diff':>7} {'GMACs':>7}  branches"
    print(header)
    print("-" * len(header))
    for r in rows:
        thesis = "-" if r["thesis_params"] is None else f"{r['thesis_params']:,}"
        diff = "-" if r["params_vs_thesis_pct"] is None else f"{r['params_vs_thesis_pct']:+.1f}%"
        size = "x".join(str(v) for v in r["input_size"])
        branches = " ".join(r["branches"]) if r["branches"] else "-"
        print(f"{r['name']:28} {r['task']:8} {r['alpha']:>5} {size:>9} {r['params']:>10,} "
              f"{thesis:>10} {diff:>7} {r['macs'] / 1e9:>7.2f}  {branches}")
    print("\nparams: weights + biases + 4 per batch-norm channel (as TensorFlow counted them);\n"
          "seed systems (ICNet, SegNet, hourglass): PyTorch's parameters (2 per BN channel), as\n"
          "their reference counts (seed-systems.md 0.7), shown in the thesis column.\n"
          "SSD-ISB MACs: detector plus one box through every branch.")


def cmd_models(args: argparse.Namespace) -> int:
    _at_least("--num-classes", args.num_classes, 1)
    _check_input_size(args)
    names = args.names or catalog.model_names()
    for n in names:
        catalog.summary(n)  # raises ConfigError naming the known models
    for n in args.names:  # options named with an explicit model must apply to it
        _check_zoo_options(n, args)
    rows = [_model_row(n, args) for n in names]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(rows)
    return 0


def _synth_summary(summary: dict[str, Any]) -> str:
    lines = []
    d = summary.get("dataset")
    if d is not None:
        size = "x".join(str(v) for v in d["size"])
        removed = f" (replaced {d['removed']} old files)" if d.get("removed") else ""
        lines.append(f"wrote {d['images']} images ({size}, seed {d['seed']}) to {d['out']}"
                     f"{removed}: {d['instances']} person instances ({d['crowd']} crowd, "
                     f"ignored)")
        lines.append(f"  {d['out']}/images/*.jpg, {d['out']}/labels/*.png (semantic labels), "
                     f"{d['out']}/annotations.json (COCO), {d['out']}/semantic.json")
    v = summary.get("video")
    if v is not None:
        lines.append(f"wrote video {v['out']}: {v['frames']} frames at {v['fps']:g} fps, "
                     f"{'x'.join(str(x) for x in v['size'])}")
    return "\n".join(lines)


def cmd_dataset_synth(args: argparse.Namespace) -> int:
    from edge.data.synth import write_dataset, write_video

    h, w = args.size
    if h < 64 or w < 64:
        raise ConfigError(f"--size must be at least 64x64, got {h}x{w}")
    _at_least("--images", args.images, 0)
    _at_least("--workers", args.workers, 1, " (1 renders in this process)")
    _at_least("--seed", args.seed, 0)
    _not_empty("--out", args.out)
    _not_empty("--video", args.video)
    if args.video is not None:
        _at_least("--frames", args.frames, 1, " with --video")
    if args.images == 0 and args.video is None:
        raise ConfigError("nothing to do: give --images N (N >= 1) and/or --video FILE")
    summary: dict[str, Any] = {}
    if args.backgrounds is not None and args.kind != "people":
        raise ConfigError(f"--backgrounds is for --kind people; drop it with --kind {args.kind}")
    if args.video is not None and args.kind != "street":
        raise ConfigError(f"--video writes street scenes; drop it with --kind {args.kind}")
    if args.kind not in ("street", "people"):
        if args.size == (640, 640):  # not given: the kind's own default
            h, w = {"parts": (320, 320), "squares": (256, 256), "camvid": (360, 480),
                    "fashion": (320, 320), "voc": (320, 320)}[args.kind]
    if (args.occlude or args.border) and args.kind != "voc":
        raise ConfigError("--occlude and --border are for --kind voc")
    if args.images and args.kind == "parts":
        from edge.data.parts import write_parts_dataset

        summary["dataset"] = write_parts_dataset(args.out, args.images, (h, w), args.seed,
                                                 overwrite=args.overwrite)
    elif args.images and args.kind == "squares":
        from edge.data.squares import write_squares_dataset

        summary["dataset"] = write_squares_dataset(args.out, args.images, (h, w), args.seed,
                                                   overwrite=args.overwrite)
    elif args.images and args.kind == "fashion":
        from edge.data.fashion import write_fashion_dataset

        summary["dataset"] = write_fashion_dataset(args.out, args.images, (h, w), args.seed,
                                                   overwrite=args.overwrite,
                                                   workers=args.workers)
    elif args.images and args.kind == "voc":
        from edge.data.voc import write_voc_dataset

        summary["dataset"] = write_voc_dataset(args.out, args.images, (h, w), args.seed,
                                               overwrite=args.overwrite, workers=args.workers,
                                               occlude=args.occlude, border=args.border)
    elif args.images and args.kind == "camvid":
        from edge.data.camvid import write_camvid_dataset

        summary["dataset"] = write_camvid_dataset(args.out, args.images, (h, w), args.seed,
                                                  overwrite=args.overwrite)
    elif args.images:
        summary["dataset"] = write_dataset(args.out, args.images, (h, w), args.seed,
                                           workers=args.workers, overwrite=args.overwrite,
                                           keep=[args.video] if args.video else [],
                                           kind=args.kind, backgrounds=args.backgrounds)
    if args.video is not None:
        summary["video"] = write_video(args.video, args.frames, (h, w), args.seed)
    print(json.dumps(summary, indent=2) if args.json else _synth_summary(summary))
    return 0


def _description_for_training(args: argparse.Namespace, class_names: tuple[str, ...],
                              box_classes: tuple[str, ...] = ()):
    """Description of the model to train: a zoo name with options, or a checkpoint's /
    weights file's (whose options win: a different explicit one is refused). RoI-masked
    models detect the dataset's box classes (boxes.json)."""
    from edge.train.checkpoint import read_description

    if args.model in catalog.model_names():
        options: dict[str, Any] = {"class_names": class_names}
        if args.model in catalog.SEED_CONFIGS and \
                catalog.SEED_CONFIGS[args.model].architecture == "roimask":
            if not box_classes:
                raise ConfigError(f"--data {args.data}: {args.model} trains its RoI proposer "
                                  f"on boxes, and this dataset has none (boxes.json); use "
                                  f"edge-build dataset synth --kind fashion or voc")
            options["detector_classes"] = box_classes
        if args.input_size is not None:
            options["input_size"] = tuple(args.input_size)
        if args.alpha is not None:
            options["alpha"] = args.alpha
        if args.model in catalog.INSTANCE_CONFIGS:
            options["isb_skip"] = args.isb_skip or DEFAULT_ISB_SKIP
        options.update(_seed_options(args))
        return catalog.describe(args.model, **options)
    desc = read_description(args.model)
    _check_zoo_options(desc.name, args)
    given = {"--alpha": (args.alpha, desc.alpha),
             "--input-size": (None if args.input_size is None else tuple(args.input_size),
                              tuple(desc.input_size)),
             "--isb-skip": (args.isb_skip, desc.isb_skip if desc.task == "instance" else None)}
    for option, (value, own) in given.items():
        if value is not None and value != own:
            shown = " ".join(str(v) for v in value) if isinstance(value, tuple) else value
            has = (" ".join(str(v) for v in own) if isinstance(own, tuple) else own)
            raise ConfigError(f"{option} {shown}: {args.model} is a {desc.name} with "
                              f"{option} {has if has is not None else '(none: not an SSD-ISB)'}"
                              f", which it keeps; drop {option}, or start a new run from a zoo "
                              f"name with --init {args.model}")
    return desc


def _check_out_folder(out: Path, desc, resume: str | None) -> None:
    """Refuse to overwrite another run's checkpoint in ``out``."""
    from edge.errors import ModelFileError
    from edge.train.checkpoint import read_description

    last = out / "last.pt"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a folder")
    if not last.is_file():
        return
    try:
        other = read_description(last)
    except (ModelFileError, ConfigError):
        raise ConfigError(f"--out {out}: holds a last.pt that is not a readable edge-seg "
                          f"checkpoint; choose another --out") from None
    if other != desc:
        raise ConfigError(f"--out {out}: holds a checkpoint of another model or options "
                          f"({other.name}, {last}); choose another --out (resume that run with "
                          f"--model {last})")
    if resume is None:
        raise ConfigError(f"--out {out}: already holds a run of {desc.name} ({last}); resume it "
                          f"with --model {last}, or choose another --out")


def _check_train_args(args: argparse.Namespace) -> None:
    _check_input_size(args)
    _at_least("--steps", args.steps, 1)
    _at_least("--batch-size", args.batch_size, 1)
    _at_least("--accumulate", args.accumulate, 1, " (1 = no accumulation)")
    _at_least("--checkpoint-every", args.checkpoint_every, 1, " step")
    _at_least("--workers", args.workers, 0, " (0 loads data in the training process)")
    _at_least("--threads", args.threads, 1, " (leave it out for torch's default)")
    _at_least("--seed", args.seed, 0)
    _at_least("--mask-weight", args.mask_weight, 0, " (0 trains no masks)")
    if args.lr is not None and not args.lr > 0:
        raise ConfigError(f"--lr must be positive, got {args.lr:g}")
    for option in ("model", "out", "data", "split", "init", "resume"):
        _not_empty(f"--{option}", getattr(args, option))
    if args.categories is not None:
        for c in args.categories:
            _not_empty("--categories", c)
    if args.model in catalog.model_names():
        _check_zoo_options(args.model, args)


def _check_seed_train_options(args: argparse.Namespace, desc, box_classes: tuple[str, ...]
                              ) -> None:
    """Refuse seed 000 / 002 options given to a model they do nothing for, and a RoI-masked
    checkpoint resumed on boxes of other classes (its detector would mislabel them)."""
    roi = {"--roi-source": args.roi_source is not None, "--no-gt-masking": args.no_gt_masking,
           "--det-weight": args.det_weight is not None}
    feedback = {"--feedback-loss": args.feedback_loss not in (None, "none"),
                "--feedback-weight": args.feedback_weight is not None,
                "--feedback-reduction": args.feedback_reduction is not None,
                "--feedback-template": args.feedback_template is not None}
    if desc.architecture != "roimask":
        for flag, given in roi.items():
            if given:
                raise ConfigError(f"{flag} is for the RoI-masked models (seed 000), not "
                                  f"{desc.name}: drop it")
    if desc.architecture != "deeplab-largefov":
        for flag, given in feedback.items():
            if given:
                raise ConfigError(f"{flag} compares DeepLab-LargeFOV's fc7 features with class "
                                  f"templates (seed 002); {desc.name} has no fc7: drop it")
    if desc.architecture == "roimask" and box_classes != tuple(desc.detector_classes):
        raise ConfigError(f"--data {args.data}: its boxes are of {list(box_classes) or 'no'} "
                          f"classes, but {args.model} detects {list(desc.detector_classes)}; "
                          f"train on data with those box classes, or start from the zoo name "
                          f"with --init {args.model}")


def cmd_train(args: argparse.Namespace) -> int:
    require("torch", "edge-build train")
    from edge.data.sources import open_instances, open_semantic
    from edge.train.devices import parse_device
    from edge.train.trainer import check_config, is_main_process, make_config, train

    _check_train_args(args)
    device = "auto" if args.device is None else parse_device(args.device)
    if args.model in catalog.model_names():
        task, names = ("instance" if args.model in catalog.INSTANCE_CONFIGS else "semantic"), None
    else:
        from edge.train.checkpoint import read_description

        resumed = read_description(args.model)
        task, names = resumed.task, list(resumed.class_names)
    if task == "semantic" and args.categories is not None:
        raise ConfigError("--categories picks COCO categories for SSD-ISB models; semantic "
                          "models train on every class of the label folder: drop --categories")
    if task == "semantic" and args.mask_weight is not None:
        raise ConfigError("--mask-weight weighs the SSD-ISB mask loss; semantic models have "
                          "none: drop --mask-weight")
    resume = args.resume or (args.model if Path(args.model).suffix == ".pt" else None)
    init = args.init or (args.model if Path(args.model).suffix == ".npz" else None)
    cfg = make_config(args.preset, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      accumulate=args.accumulate, seed=args.seed, workers=args.workers,
                      device=device, augment=not args.no_augment,
                      mask_weight=args.mask_weight, threads=args.threads,
                      checkpoint_every=args.checkpoint_every,
                      class_weights=args.class_weights, loss_form=args.loss_form,
                      swap_lr=not args.no_swap_lr, progressive=args.progressive,
                      joint_weight=args.joint_weight, eval_every=args.eval_every,
                      roi_source=args.roi_source,
                      gt_masking=False if args.no_gt_masking else None,
                      det_weight=args.det_weight, feedback=args.feedback_loss,
                      feedback_weight=args.feedback_weight,
                      feedback_reduction=args.feedback_reduction,
                      feedback_template=args.feedback_template, finetune=args.finetune)
    if task == "instance":
        for flag, given in (("--class-weights", args.class_weights != "none"),
                            ("--loss-form", args.loss_form != "outer"),
                            ("--no-swap-lr", args.no_swap_lr), ("--progressive",
                                                                args.progressive),
                            ("--val", args.val is not None),
                            ("--feedback-loss", args.feedback_loss not in (None, "none")),
                            ("--roi-source", args.roi_source is not None),
                            ("--finetune", args.finetune is not None)):
            if given:
                raise ConfigError(f"{flag} is for semantic models; drop it for SSD-ISB")
    check_config(cfg)
    if task == "instance":
        reader: Any = open_instances(args.data, args.categories or names)
    else:
        reader = open_semantic(args.data, args.split)
    box_classes = tuple(getattr(reader, "box_classes", ()) or ())
    desc = _description_for_training(args, tuple(reader.class_names), box_classes)
    _check_seed_train_options(args, desc, box_classes)
    _check_out_folder(Path(args.out), desc, resume)
    val_reader = open_semantic(args.val, "val") if args.val else None
    summary = train(desc, reader, args.out, cfg, init=init, resume=resume,
                    val_reader=val_reader)
    summary["model"] = desc.name
    if not is_main_process():  # under torchrun only rank 0 reports
        return 0
    if args.json:
        print(json.dumps(summary, indent=2))
    elif summary["loss_first"] is None:
        print(f"{desc.name}: already trained for {summary['steps']} steps; nothing to do")
    else:
        print(f"trained {desc.name} to step {summary['steps']} in {summary['seconds']} s; loss "
              f"{summary['loss_first']:.3f} -> {summary['loss_last']:.3f}; wrote {args.out}")
    return 0


def _print_instance_metrics(m: dict[str, Any]) -> None:
    print(f"{m['images']} images, {m['detections']} detections")
    print(f"{'':6} {'AP50':>7} {'AP':>7} {'AP75':>7} | thesis @0.50: {'APs':>6} {'APm':>6} "
          f"{'APl':>6} {'AR1':>6} {'AR10':>6} {'AR100':>6}")
    for kind in ("segm", "bbox"):
        r = m[kind]
        print(f"{kind:6} {r['AP50']:7.3f} {r['AP']:7.3f} {r['AP75']:7.3f} |              "
              f"{r['APs_50']:6.3f} {r['APm_50']:6.3f} {r['APl_50']:6.3f} {r['AR1_50']:6.3f} "
              f"{r['AR10_50']:6.3f} {r['AR100_50']:6.3f}")


def _evaluate(args: argparse.Namespace, source, results: str | None) -> dict[str, Any]:
    from edge.evaluate.runner import evaluate, load_pipeline

    pipeline = load_pipeline(source.ref, precision=source.precision,
                             score_threshold=args.score_threshold, source=source)
    # ``source`` carries --allow-refused-int8: a refused INT8 export stops at load
    metrics = evaluate(pipeline, args.data, args.split, results)
    desc = pipeline.desc
    metrics["model"] = {"ref": args.model, "name": desc.name, "task": desc.task,
                        "precision": source.precision, "backend": source.backend,
                        "device": source.device, "path": str(source.path)}
    return metrics


def _print_semantic_metrics(m: dict[str, Any]) -> None:
    print(f"mIoU {m['mIoU']:.4f}  pixel acc {m['pixel_accuracy']:.4f}  "
          f"mean class acc {m['mean_class_accuracy']:.4f}")
    for name, iou in m["per_class_iou"].items():
        print(f"  {name:16} {'-' if iou is None else f'{iou:.4f}'}")


BACKEND_NAMES = {"onnxruntime": "ONNX Runtime", "pytorch": "PyTorch", "tensorrt": "TensorRT"}


def cmd_eval(args: argparse.Namespace) -> int:
    from edge.evaluate.runner import resolve_model

    precisions = parse_precisions(args.precision)
    if len(set(precisions)) != len(precisions):
        raise ConfigError(f"--precision {args.precision}: a precision is listed twice")
    for option in ("model", "data", "split", "json", "results"):
        _not_empty(f"--{option}", getattr(args, option))
    if not 0.0 <= args.score_threshold <= 1.0:
        raise ConfigError(f"--score-threshold must be between 0 (keep every detection) and 1, "
                          f"got {args.score_threshold:g}")
    # every precision is resolved (and refused) before the first evaluation starts
    sources = [resolve_model(args.model, p, args.device,
                             allow_refused_int8=args.allow_refused_int8) for p in precisions]
    if len(sources) == 1:
        metrics = _evaluate(args, sources[0], args.results)
        m = metrics["model"]
        print(f"{m['name']} at {m['precision']} through "
              f"{BACKEND_NAMES.get(m['backend'], m['backend'])} "
              f"({m['path']}) on {m['device']}")
        if metrics["model"]["task"] == "instance":
            _print_instance_metrics(metrics)
        else:
            _print_semantic_metrics(metrics)
        out: dict[str, Any] = metrics
    else:
        if args.results:
            raise ConfigError("--results takes one precision at a time")
        runs = {s.precision: _evaluate(args, s, None) for s in sources}
        instance = next(iter(runs.values()))["model"]["task"] == "instance"
        keys = ("AP50", "AP", "AP75", "APm_50", "APl_50", "AR100_50") if instance else (
            "mIoU", "pixel_accuracy", "mean_class_accuracy")
        print(f"{'precision':10} {'backend':12} " + " ".join(f"{k:>9}" for k in keys))
        for p, m in runs.items():
            row = m["segm"] if instance else m
            print(f"{p:10} {m['model']['backend']:12} " + " ".join(f"{row[k]:9.4f}" for k in keys))
        out = {"by_precision": runs}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


OPSETS = (13, 20)  # QDQ per-channel needs 13; TensorRT 10.x parses up to 20 (8.6: 17)


def cmd_export(args: argparse.Namespace) -> int:
    _check_input_size(args)
    _not_empty("--model", args.model)
    _not_empty("--out", args.out)
    if not OPSETS[0] <= args.opset <= OPSETS[1]:
        raise ConfigError(f"--opset takes {OPSETS[0]} to {OPSETS[1]} (default 17, the newest "
                          f"TensorRT 8.6 parses), got {args.opset}")
    require("torch", "edge-build export")
    from edge.backends.onnxruntime_backend import OnnxRuntimeBackend
    from edge.export.onnx_export import check_export_folder, export_onnx
    from edge.export.parity import check_parity, parity_ok
    from edge.export.trt_support import check_model
    from edge.train.checkpoint import load_model

    from edge import atomic

    out = Path(args.out)
    # before the model is built or loaded; a folder whose replacement was cut short (no
    # manifest, atomic.REPLACING inside) is ours: this export replaces it again
    previous = atomic.being_replaced(out)
    if previous is None:
        previous = check_export_folder(out)

    if args.model in catalog.model_names():
        from edge.models.zoo import build_model

        options: dict[str, Any] = {}
        if args.input_size is not None:
            options["input_size"] = tuple(args.input_size)
        _check_zoo_options(args.model, args)
        options.update(_seed_options(args))
        desc = catalog.describe(args.model, **options)
        import torch

        # seeded: the same command gives the same graph (and the same parity figures)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(ZOO_EXPORT_SEED)
            model = build_model(desc).eval()
        log.warning("exporting %s with random weights (a zoo name, not a checkpoint; seed %d)",
                    desc.name, ZOO_EXPORT_SEED)
    else:
        if _seed_options(args):
            raise ConfigError(f"--filter-scale/--stacks/--features/--joints shape a zoo model; "
                              f"{args.model} keeps the ones it was trained with: drop them")
        desc, model, _ = load_model(args.model)
        if args.input_size is not None and tuple(args.input_size) != desc.input_size:
            from edge.models.zoo import build_model

            # rebuilt at the new size: static grids and anchors (RoI-masked models) follow
            desc = desc.replace(input_size=tuple(args.input_size))
            resized = build_model(desc).eval()
            resized.load_state_dict(model.state_dict())
            model = resized
    manifest = _export_staged(export_onnx, desc, model, out, previous, opset=args.opset,
                              fp16=not args.no_fp16)
    report = {f"{g} [fp32]": v for g, v in
              check_parity(desc, model, OnnxRuntimeBackend(args.out)).items()}
    if not args.no_fp16:
        report.update({f"{g} [fp16]": v for g, v in check_parity(
            desc, model, OnnxRuntimeBackend(args.out, "fp16"), precision="fp16").items()})
    checks = [check_model(str(Path(args.out) / f["file"])) for f in manifest["files"]]
    summary = {"out": args.out, "model": desc.name, "files": [f["file"] for f in manifest["files"]],
               "parity": report, "parity_ok": parity_ok(report),
               "tensorrt_check_ok": all(c.ok for c in checks)}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"exported {desc.name} to {args.out}: {', '.join(summary['files'])}")
        for graph, outputs in report.items():
            for name, c in outputs.items():
                print(f"  parity {graph:31} {name:14} max abs {c['max_abs']:.2e} "
                      f"(tol {c['tolerance']:.1e}) {'ok' if c['ok'] else 'FAIL'}")
        print(f"  TensorRT parser check: {'ok' if summary['tensorrt_check_ok'] else 'FAIL'}")
    if not summary["parity_ok"]:
        raise ConfigError(f"{args.out}: ONNX Runtime disagrees with PyTorch beyond tolerance "
                          f"(see the parity lines); please report it")
    return 0


def _export_staged(export_onnx, desc, model, out: Path, previous: set[str],
                   **options: Any) -> dict[str, Any]:
    """``export_onnx`` into ``<out>.partial``, then moved into place (``atomic.commit_folder``),
    so an interrupted or failed export never leaves ``out`` with a graph its manifest does
    not match, a stray temporary file, or a folder the next export refuses. An export has
    nothing worth resuming (each graph is traced again), so a staging folder left by a
    killed run is removed, as is this run's on any error or Ctrl-C."""
    import shutil

    from edge import atomic
    from edge.export.onnx_export import MANIFEST

    stage = atomic.staging_folder(out)
    if stage.exists():
        log.info("removing %s, left by an export that was interrupted", stage)
        shutil.rmtree(stage)
    try:
        manifest = export_onnx(desc, model, stage, **options)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    atomic.commit_folder(stage, out, MANIFEST,
                         previous={n for n in previous if n.endswith(".onnx")})
    return manifest


def cmd_check(args: argparse.Namespace) -> int:
    from edge.export.onnx_export import read_manifest
    from edge.export.trt_support import SOURCE, check_model

    _not_empty("EXPORT", args.export)
    root = Path(args.export)
    files = [root / f["file"] for f in read_manifest(root)["files"]] if root.is_dir() else [root]
    reports = [check_model(str(f)) for f in files]
    if args.json:
        print(json.dumps({"source": SOURCE, "reports": [r.as_dict() for r in reports]}, indent=2))
    else:
        for r in reports:
            print(f"{Path(r.file).name}: opset {r.opset}: {'ok' if r.ok else 'PROBLEMS'}")
            for rel, problems in r.problems.items():
                for p in problems:
                    print(f"  TensorRT {rel}: {p}")
            for w in r.warnings:
                print(f"  warning: {w}")
    bad = [Path(r.file).name for r in reports if not r.ok]
    if bad:
        raise ConfigError(f"not TensorRT-parser compatible: {', '.join(bad)}")
    return 0


def cmd_fixations(args: argparse.Namespace) -> int:
    """Seed 002's segmentation fixations: per predicted class, the image points the
    prediction traces back to, as heat-map images, plus (with a label folder) the share of
    each class's fixations that land on that class's ground truth (the seed's Fig. 2.6)."""
    require("torch", "edge-build fixations")
    import numpy as np
    import torch

    from edge.data.semantic import label_folder
    from edge.evaluate.fixations import segmentation_fixations, write_fixation_images
    from edge.preprocess import preprocess
    from edge.train.checkpoint import load_model

    _at_least("--images", args.images, 1)
    _not_empty("--out", args.out)
    if args.k != "resolution":
        try:
            k: Any = int(args.k) if args.k.isdigit() else float(args.k)
        except ValueError:
            raise ConfigError(f"--k takes resolution, an integer >= 1 or a fraction in (0, 1], "
                              f"got {args.k!r}") from None
        if not ((isinstance(k, int) and k >= 1) or (isinstance(k, float) and 0 < k <= 1)):
            raise ConfigError(f"--k takes resolution, an integer >= 1 or a fraction in (0, 1], "
                              f"got {args.k!r}")
    else:
        k = "resolution"
    desc, model, _ = load_model(args.model)
    layers = getattr(model, "fixation_layers", None)
    if layers is None:
        raise ConfigError(f"{args.model}: segmentation fixations trace a plain chain of "
                          f"convolutions and pools (DeepLab-LargeFOV); {desc.architecture} is "
                          f"not one")
    cv2 = require("cv2", "reading images")
    samples: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    if Path(args.data).is_dir() and (Path(args.data) / "semantic.json").is_file():
        reader = label_folder(args.data)
        if tuple(reader.class_names) != tuple(desc.class_names):
            raise ConfigError(f"--data {args.data}: its classes {list(reader.class_names)[:4]}"
                              f"... are not the model's {list(desc.class_names)[:4]}...; the "
                              f"ground-truth shares would compare different classes: use data "
                              f"of the classes it was trained on")
        for i in range(min(args.images, len(reader))):
            s = reader[i]
            samples.append((Path(s.file_name).stem, s.image, s.labels))
    else:
        path = Path(args.data)
        img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if img is None:
            raise ConfigError(f"--data {path}: not a label folder (semantic.json) nor a "
                              f"readable image")
        samples.append((path.stem, img, None))
    out = Path(args.out)
    h, w = desc.input_size
    report: dict[str, Any] = {"model": str(args.model), "shift": args.shift, "k": args.k,
                              "images": []}
    inside: dict[str, list[float]] = {}
    for stem, image, labels in samples:
        x = torch.from_numpy(preprocess(cv2.resize(image, (w, h)), desc))[None]
        fix = segmentation_fixations(layers(), x, shift=args.shift, k=k)
        files = write_fixation_images(image, fix, desc.class_names, out, stem,
                                      input_hw=(h, w))
        row: dict[str, Any] = {"image": stem, "files": [str(f) for f in files], "classes": {}}
        for c, pts in fix.items():
            name = desc.class_names[c]
            entry: dict[str, Any] = {"points": int(len(pts))}
            if labels is not None and len(pts):
                lh, lw = labels.shape
                xs = np.clip(((pts[:, 0] + 0.5) * lw / w).astype(int), 0, lw - 1)
                ys = np.clip(((pts[:, 1] + 0.5) * lh / h).astype(int), 0, lh - 1)
                share = float(np.mean(labels[ys, xs] == c))
                entry["inside_share"] = share
                inside.setdefault(name, []).append(share)
            row["classes"][name] = entry
        report["images"].append(row)
    report["inside_share_per_class"] = {n: float(np.mean(v)) for n, v in inside.items()}
    from edge import atomic

    atomic.write_text(out / "fixations.json", json.dumps(report, indent=1))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        files = sum(len(r["files"]) for r in report["images"])
        print(f"wrote {files} heat-map images and fixations.json to {out}")
        for name, share in report["inside_share_per_class"].items():
            print(f"  {name:12} {100 * share:5.1f}% of fixations on the class's ground truth")
    return 0


# the names edge-build engine writes into its --out (engine, sidecar, listing, timing cache)
ENGINE_WRITES = ("*.engine", "*.engine.json", "engines.json", "timing.cache",
                 "timing.cache.json")


def cmd_engine(args: argparse.Namespace) -> int:
    from edge.engines.builder import BuildOptions, build_engines

    if args.workspace < 16:
        raise ConfigError(f"--workspace is in MiB and must be at least 16, got {args.workspace}")
    if args.opt_level is not None and not 0 <= args.opt_level <= 5:
        raise ConfigError(f"--opt-level takes 0 (fastest build) to 5 (most tactics), got "
                          f"{args.opt_level}")
    _at_least("--dla", args.dla, 0, " (DLA cores are numbered from 0)")
    _at_least("--max-boxes", args.max_boxes, 1, " (boxes per branch engine call)")
    _not_empty("--timing-cache", args.timing_cache)
    _not_empty("--export", args.export)
    _not_empty("--out", args.out)
    precisions = parse_precisions(args.precision)
    if args.device:
        return _engine_on_devices(args, precisions)
    for flag, given in (("--deploy", args.deploy), ("--ssh-config", args.ssh_config),
                        ("--force", args.force), ("--no-selftest", args.no_selftest)):
        if given:
            raise ConfigError(f"{flag} is for building on devices: add --device USER@HOST "
                              f"(or drop {flag} to build here)")
    from edge import atomic

    # what a build killed mid-write left (never listed in engines.json)
    for name in atomic.remove_temporaries(args.out, ENGINE_WRITES):
        log.info("removed %s, left in %s by an interrupted build", name, args.out)
    folder: dict[str, Any] = {}
    for precision in precisions:
        folder = build_engines(args.export, args.out, BuildOptions(
            precision=precision, workspace_mb=args.workspace, dla_core=args.dla,
            opt_level=args.opt_level, timing_cache=args.timing_cache,
            max_boxes=args.max_boxes, allow_refused_int8=args.allow_refused_int8))
        if not args.json:
            built = [e["file"] for e in folder["engines"] if e["precision"] == precision]
            print(f"built {len(built)} {precision} engines in {args.out} for "
                  f"{folder['device']['gpu_name']} (TensorRT "
                  f"{folder['device']['trt_version']}): " + ", ".join(built))
    if args.json:
        print(json.dumps(folder, indent=2))
    return 0


def _fleet_options(args: argparse.Namespace, precisions: list[str]) -> Any:
    from edge.fleet.remote import FleetOptions

    _not_empty("--remote-python", args.remote_python)
    return FleetOptions(
        precisions=precisions, store=Path(args.out) if getattr(args, "out", None) else Path("."),
        ssh_config=Path(args.ssh_config) if args.ssh_config else None,
        remote_python=args.remote_python)


def _engine_on_devices(args: argparse.Namespace, precisions: list[str]) -> int:
    """``--device``: build on each device over SSH into the engine store ``--out``."""
    from edge.fleet.install import check_name
    from edge.fleet.remote import build_on_devices, summary_table

    if args.timing_cache:
        raise ConfigError("--timing-cache names a file on this machine; on devices each keeps "
                          "its own beside its engines: drop --timing-cache")
    if args.deploy is not None:
        check_name(args.deploy, "--deploy")
    _at_least("--selftest-repeats", args.selftest_repeats, 1)
    _at_least("--holdout-images", args.holdout_images, 1)
    opts = _fleet_options(args, precisions)
    opts.force, opts.deploy, opts.selftest = args.force, args.deploy, not args.no_selftest
    opts.selftest_repeats, opts.holdout_images = args.selftest_repeats, args.holdout_images
    _at_least("--command-timeout", args.command_timeout, 1)
    opts.timeout_s = args.command_timeout
    opts.build_args = ["--workspace", str(args.workspace)]
    for flag, value in (("--dla", args.dla), ("--opt-level", args.opt_level),
                        ("--max-boxes", args.max_boxes)):
        if value is not None:
            opts.build_args += [flag, str(value)]
    if args.allow_refused_int8:
        opts.build_args.append("--allow-refused-int8")
    rows = build_on_devices(args.export, args.device, opts)
    table = summary_table(rows, precisions)
    if args.json:
        print(json.dumps(rows, indent=2))
        sys.stderr.write(table + "\n")
    else:
        print(table)
    failed = [r["device"] for r in rows if r["status"] == "failed"]
    if failed:
        log.error("%d of %d devices failed: %s (the others' engines are in %s)", len(failed),
                  len(rows), ", ".join(failed), args.out)
        return 3
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from edge.fleet.install import check_name
    from edge.fleet.remote import rollback_on_devices

    check_name(args.name)
    rows = rollback_on_devices(args.name, args.device, _fleet_options(args, []))
    if args.json:
        print(json.dumps(rows, indent=2))
    for r in rows:
        if r["status"] == "ok" and not args.json:
            print(f"{r['device']}: {args.name} -> {r['current']} (was {r['previous']})")
        elif r["status"] != "ok":
            print(f"{r['device']}: FAILED: {r['error']}", file=sys.stderr)
    return 3 if any(r["status"] != "ok" for r in rows) else 0


def add_ssh_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ssh-config", metavar="FILE",
                   help="ssh_config to use (ssh -F; default: yours, ~/.ssh/config)")
    p.add_argument("--remote-python", default="python3", metavar="PY",
                   help="Python with edge-seg on the devices (default python3; e.g. "
                        "~/edge-venv/bin/python3, ~ being the device user's home)")


def add_allow_refused_int8(p: argparse.ArgumentParser) -> None:
    """The one override of the INT8 accuracy gate, named alike in every command."""
    p.add_argument("--allow-refused-int8", action="store_true",
                   help="use INT8 graphs / calibration caches the accuracy gate refused "
                        "(logs the measured drop); better: recalibrate on frames closer to "
                        "the scene, or deploy fp16")


def cmd_calibrate(args: argparse.Namespace) -> int:
    from edge.calibrate.sets import MIN_FRAMES

    _at_least("--count", args.count, MIN_FRAMES, " frames")
    _at_least("--seed", args.seed, 0)
    for option in ("export", "set", "out", "holdout", "save_set"):
        _not_empty(f"--{option.replace('_', '-')}", getattr(args, option))
    if args.save_set is not None and Path(args.save_set).name != args.save_set:
        raise ConfigError(f"--save-set takes a name (recorded as calibration/NAME.json), not a "
                          f"path: {args.save_set!r}")
    require("onnxruntime", "edge-build calibrate")
    from edge.calibrate.quantize import calibrate_export
    from edge.calibrate.sets import CalibrationSet

    cset = CalibrationSet.load(args.set)
    if args.count is not None:
        cset.count = args.count
    if args.seed is not None:
        cset.seed = args.seed
    if args.save_set is not None:
        cset.name = args.save_set
    gate = calibrate_export(args.export, cset, args.out, method=args.method,
                            holdout=args.holdout, max_drop=args.max_drop, trt=args.trt_version,
                            remedies=not args.no_remedies)
    saved = None
    if args.save_set is not None:  # cset.count is now the number of frames really used
        saved = Path("calibration") / f"{args.save_set}.json"
        cset.save(saved)
    if args.json:
        print(json.dumps(gate, indent=2))
    else:
        if gate["fp32"] is not None:
            print(f"FP32 {gate['metric']} {gate['fp32']:.2f} on {gate['holdout']}; gate: drop <= "
                  f"{gate['max_drop_points']:g} points")
        for a in gate["attempts"]:
            for target, r in (a.get("targets") or {"onnxruntime": a}).items():
                value = "-" if r.get("metric") is None else f"{r['metric']:.2f}"
                drop = "-" if r.get("drop_points") is None else f"{r['drop_points']:+.2f}"
                print(f"INT8 {a['method']:10} fp32 layers {a['excluded']:3}  {target:12} "
                      f"{gate['metric']} {value} (drop {drop} points)")
        for target, r in gate.get("artifacts", {}).items():
            note = f" ({r['note']})" if r.get("note") else ""
            print(f"  {target:14} {r['status']}{note}")
        print(f"INT8 graphs in {args.out} from {cset.count} frames of {cset.path}: "
              f"{gate['status']}")
        if saved is not None:
            print(f"calibration set recorded as {saved}")
    if gate["status"] == "refused":
        drops = ", ".join(f"{t} {gate['artifacts'][t]['drop_points']:.2f}"
                          for t in gate.get("refused", []))
        raise ConfigError(f"{args.out}: INT8 refused by the accuracy gate ({gate['metric']} drop "
                          f"{drops} points > --max-drop {args.max_drop:g}) even after the "
                          f"remedies above; recalibrate on frames closer to the deployment "
                          f"scene or deploy FP16 (refused graphs load only with "
                          f"--allow-refused-int8)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("edge-build", DESCRIPTION)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    p = sub.add_parser("models", help="list the model zoo with parameters and MACs",
                       description="List zoo models: task, parameter count beside the thesis's, "
                                   "input size and multiply-adds at that size. Needs PyTorch.")
    p.add_argument("names", nargs="*", metavar="NAME", help="models to list (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    p.add_argument("--alpha", type=float, choices=catalog.ALPHAS,
                   help="MobileNet depth multiplier (default 0.5 semantic, 1.0 SSD-ISB); "
                        "refused for a named SqueezeNet model")
    p.add_argument("--isb-skip", choices=("fcn8", "fcn16", "fcn32"),
                   help="ISB skip depth for SSD-ISB models (default fcn8); refused for a named "
                        "FCN model")
    p.add_argument("--num-classes", type=int, help="number of classes, at least 1 "
                                                   "(default 19 / 1)")
    add_input_size(p, "network input height and width (multiples of 32)")
    add_seed_options(p)
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("dataset", help="generate datasets", description="Generate datasets.")
    dsub = p.add_subparsers(title="kinds", metavar="KIND")
    p = dsub.add_parser(
        "synth", help="synthetic street scenes with person instances",
        description="Write synthetic scenes: DIR/images/*.jpg, DIR/labels/*.png (semantic "
                    "labels), DIR/annotations.json (COCO instances, RLE masks), "
                    "DIR/semantic.json; and/or a moving-scene video. Deterministic per seed.\n\n"
                    "--out must be a new or empty folder. A folder holding a previous "
                    "synthetic dataset is refused unless --overwrite is given, which removes "
                    "only the files synth wrote (images/NNNNNN.jpg, labels/NNNNNN.png, "
                    "annotations.json, semantic.json) before writing, so old and new images "
                    "never mix; anything else in the folder makes it refuse (nothing is "
                    "removed). Any other non-empty folder is always refused.")
    p.add_argument("--out", default="synth", help="output folder (default ./synth)")
    p.add_argument("--kind", choices=("street", "people", "parts", "squares", "camvid",
                                      "fashion", "voc"),
                   default="street",
                   help="street: scenes with person instances (default); people: person "
                        "instances built to transfer to real cameras (articulated, shaded "
                        "people with shadows; surveillance, street and webcam geometry; hard "
                        "negatives; camera noise, blur and compression; --backgrounds); parts: person-"
                        "centred crops with SURREAL's 25 body-part ids and 24 joints (seed "
                        "001; 320x320); squares: seed 004's two-class toy set (256x256); "
                        "camvid: street scenes in CamVid's 11 classes (seed 004; 360x480); "
                        "fashion: people with ATR's 18 garment labels and person boxes (seed "
                        "000; 320x320); voc: objects in four confusable pairs with boxes "
                        "(seed 002; 320x320)")
    p.add_argument("--backgrounds", metavar="DIR",
                   help="people: a folder of photos WITHOUT people to crop backgrounds from "
                        "(tools/fetch_backgrounds.sh makes one from Debian's and PyPI's "
                        "packages); default: procedural backgrounds only")
    p.add_argument("--occlude", action="store_true",
                   help="voc: cover each object's discriminative part in the image (labels "
                        "unchanged; seed 002's masked-region split)")
    p.add_argument("--border", action="store_true",
                   help="voc: a 3-px ignore (255) band on object outlines, like VOC's")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous synthetic dataset in --out (see above)")
    p.add_argument("--images", type=int, default=0,
                   help="number of images (0: none, then --video is needed)")
    p.add_argument("--size", nargs=2, type=int, metavar=("H", "W"), default=(640, 640),
                   help="image height and width (default 640 640; parts 320 320, squares "
                        "256 256, camvid 360 480)")
    p.add_argument("--seed", type=int, default=0, help="random seed, 0 or more (default 0)")
    p.add_argument("--video", metavar="FILE", help="also write a moving scene as an mp4 video")
    p.add_argument("--frames", type=int, default=300,
                   help="video length in frames, at least 1 (default 300)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes rendering in parallel, at least 1 (1: in this process; "
                        "output is identical for any number)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=cmd_dataset_synth)

    p = sub.add_parser("train", help="train a zoo model or resume a checkpoint",
                       description="Train on a COCO-format folder (instance models) or a label "
                                   "folder / Cityscapes root (semantic models). Writes "
                                   "OUT/last.pt (resumable), OUT/weights.npz and "
                                   "OUT/train_log.jsonl. Under torchrun it trains with DDP. An "
                                   "OUT holding another run's last.pt is refused unless this "
                                   "run resumes it.")
    p.add_argument("--model", required=True, help="zoo name; a .pt checkpoint to resume; or a "
                                                   ".npz weights file to start from")
    p.add_argument("--data", required=True, help="dataset folder or COCO JSON")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--categories", nargs="+", help="COCO category names to train on "
                                                   "(default: all)")
    p.add_argument("--split", default="train", help="Cityscapes split (default train)")
    p.add_argument("--alpha", type=float, choices=catalog.ALPHAS,
                   help="MobileNet depth multiplier (not for SqueezeNet; a checkpoint keeps "
                        "its own)")
    p.add_argument("--isb-skip", choices=("fcn8", "fcn16", "fcn32"),
                   help="ISB skip depth, SSD-ISB models only (default fcn8)")
    add_input_size(p, "network input height and width")
    p.add_argument("--preset", default="default",
                   help="default (from scratch), thesis-instance, thesis-semantic, "
                        "seed002-finetune or seed000")
    p.add_argument("--steps", type=int, help="total optimiser steps, at least 1 (default 3000)")
    p.add_argument("--batch-size", type=int,
                   help="images per step and process, at least 1 (default 8)")
    p.add_argument("--accumulate", type=int,
                   help="batches accumulated per step, at least 1 (default 1)")
    p.add_argument("--lr", type=float, help="peak learning rate, positive (default 2e-3)")
    p.add_argument("--mask-weight", type=float,
                   help="SSD-ISB mask-loss weight, 0 or more (default 150 multi-branch, 30 "
                        "single)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--seed", type=int, help="random seed, 0 or more (default 0)")
    p.add_argument("--workers", type=int,
                   help="data-loading processes (default 0: load in the training process)")
    p.add_argument("--threads", type=int, help="torch CPU threads, at least 1 (default: torch's)")
    p.add_argument("--device",
                   help="auto (default: cuda:LOCAL_RANK if CUDA works, else cpu), cpu, cuda, "
                        "cuda:N, or N meaning cuda:N")
    p.add_argument("--checkpoint-every", type=int,
                   help="steps between checkpoints, at least 1 (default 500; the last step "
                        "is always saved)")
    add_seed_options(p)
    p.add_argument("--class-weights", choices=("none", "w1", "w2"), default="none",
                   help="semantic class weighting (seed 001): w1 = 1 - frequency, w2 = "
                        "exponential; from the training set's per-class pixel counts")
    p.add_argument("--loss-form", choices=("outer", "direct"), default="outer",
                   help="outer: w_y x CE; direct: CE of the logits scaled by w (seed 001)")
    p.add_argument("--no-swap-lr", action="store_true",
                   help="mirror body parts WITHOUT swapping left/right ids (seed 001's "
                        "reader; reproduces its bad augmentation result)")
    p.add_argument("--progressive", action="store_true",
                   help="hourglass: coarse-to-fine ground truth per stack (seed 001, exp. 1)")
    p.add_argument("--joint-weight", type=float, help="hourglass joint-heatmap loss weight "
                                                      "(default 1)")
    r = p.add_argument_group("RoI-masked models (seed 000)")
    r.add_argument("--roi-source", choices=("gt", "pred"),
                   help="RoIs in training from the ground-truth boxes (default) or the "
                        "detector's (detached)")
    r.add_argument("--no-gt-masking", action="store_true",
                   help="keep the labels outside the RoIs (default: they become background)")
    r.add_argument("--det-weight", type=float, help="detector loss weight (default 1)")
    f = p.add_argument_group("DeepLab-LargeFOV (seed 002)")
    f.add_argument("--feedback-loss", choices=("none", "correlation", "cosine",
                                               "selective-correlation", "selective-cosine"),
                   help="per-pixel template-similarity loss added to CE (default none)")
    f.add_argument("--feedback-weight", type=float,
                   help="its weight lambda (default 0.1; the seed swept 0.01-5)")
    f.add_argument("--feedback-reduction", choices=("sum", "mean"),
                   help="sum over pixels (the seed's, default) or mean per class")
    f.add_argument("--feedback-template", choices=("batch", "image"),
                   help="one template per class per batch (the seed's, default) or per image")
    f.add_argument("--finetune", choices=("all", "head"),
                   help="head: train only fc6, fc7, fc8 (the seed's protocol; preset "
                        "seed002-finetune sets it with poly LR from 1e-4)")
    p.add_argument("--val", metavar="DIR", help="validation set for --eval-every")
    p.add_argument("--eval-every", type=int, metavar="N",
                   help="log validation mIoU every N steps into train_log.jsonl (needs --val)")
    p.add_argument("--init", help="weights on disk to start from: an edge-seg file or state "
                                  "dict, timm mobilenetv1 (.safetensors/.pth), Keras or TF-slim "
                                  "MobileNet-v1 exported to a state dict (.npz/.pt), "
                                  "torchvision SqueezeNet 1.1; prints a matched/missing table "
                                  "and refuses files that fill under 90%% of the backbone "
                                  "(docs/training.md)")
    p.add_argument("--resume", help=".pt checkpoint to resume")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("eval", help="evaluate a model on a dataset",
                       description="Instance models: COCO mask and box AP with pycocotools, "
                                   "plus the thesis's metrics at IoU 0.50. Semantic models: "
                                   "mIoU, per-class IoU, pixel and mean class accuracy.")
    p.add_argument("--model", required=True,
                   help="an export folder, a .pt checkpoint, a .npz weights file, or demo "
                        "(the shipped model: its weights at fp32, its export at int8). "
                        "Checkpoints run in PyTorch at fp32 only: export and calibrate "
                        "them for fp16/int8")
    p.add_argument("--data", required=True, help="dataset folder (annotations.json beside the "
                                                 "images; or a label folder / Cityscapes root)")
    p.add_argument("--split", default="val", help="Cityscapes split (default val)")
    p.add_argument("--device", help="PyTorch device for checkpoints: cpu (default), cuda, "
                                     "cuda:N or N; export folders run on ONNX Runtime's CPU")
    p.add_argument("--precision", default="fp32",
                   help="graphs of an export folder to run through ONNX Runtime: fp32, fp16, "
                        "int8, or a comma list (e.g. fp32,fp16,int8) for a side-by-side table")
    p.add_argument("--score-threshold", type=float, default=EVAL_SCORE_THRESHOLD,
                   help="keep detections above this score, 0 to 1 (0 keeps all; default "
                        f"{EVAL_SCORE_THRESHOLD}, COCO's protocol: "
                        "AP needs the low-score tail; the runtime's display threshold is "
                        "the model's own)")
    p.add_argument("--json", metavar="FILE", help="write the metrics as JSON")
    p.add_argument("--results", metavar="FILE", help="write COCO results JSON (RLE masks)")
    add_allow_refused_int8(p)
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser("export", help="export to ONNX with a manifest, check parity",
                       description="Export FCN models to model.onnx, SSD-ISB models to "
                                   "detector.onnx + one branch_<shape>.onnx per ISB (dynamic "
                                   "batch), with the model description in each graph's "
                                   "metadata and manifest.json (sha256 of every file). Then "
                                   "checks ONNX Runtime against PyTorch and the TensorRT "
                                   "parser limits.")
    p.add_argument("--model", required=True, help="checkpoint, .npz weights, demo, or a zoo name "
                                                  "(random weights)")
    p.add_argument("--out", required=True, help="export folder")
    add_input_size(p, "export at another input size (multiples of 32)")
    add_seed_options(p)
    p.add_argument("--opset", type=int, default=17,
                   help=f"ONNX opset, {OPSETS[0]} to {OPSETS[1]} (default 17: TensorRT 8.6 "
                        f"parses up to 17)")
    p.add_argument("--no-fp16", action="store_true", help="skip the FP16 graphs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("calibrate", help="INT8: Q/DQ graphs, TensorRT cache, accuracy gate",
                       description="Calibrates every FP32 graph of an export folder on a "
                                   "calibration set and writes a complete export folder with "
                                   "*.int8.onnx (ONNX Runtime CPU Q/DQ), *.int8-trt.onnx "
                                   "(TensorRT Q/DQ) and *.calib.cache (TensorRT 8.6/10.x "
                                   "calibrators). With --holdout it evaluates INT8 against "
                                   "FP32 and refuses (exit 2) a drop above --max-drop after "
                                   "trying to keep the heads in FP32 and other methods. The "
                                   "holdout is checked before calibrating; OUT is assembled in "
                                   "OUT.partial and appears only complete.")
    p.add_argument("--export", required=True, help="export folder (edge-build export)")
    p.add_argument("--set", required=True, help="image folder, video, COCO JSON, or a "
                                                "calibration/<name>.json manifest")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--method", choices=("entropy", "max", "percentile"), default="entropy")
    p.add_argument("--count", type=int, help="frames to sample, at least 16 (default 500, or "
                                             "all there are; 300+ for stable ranges)")
    p.add_argument("--seed", type=int, help="sampling seed, 0 or more (default 0)")
    p.add_argument("--holdout", help="held-out dataset for the accuracy gate (never the "
                                     "calibration images)")
    p.add_argument("--max-drop", type=float, default=1.0,
                   help="largest allowed drop of mask AP@0.50 / mIoU, in points (default 1.0), "
                        "per INT8 artifact measured here (ONNX Runtime and TensorRT Q/DQ "
                        "graphs); refused ones do not load or build without "
                        "--allow-refused-int8")
    p.add_argument("--no-remedies", action="store_true",
                   help="stop after the first attempt: no FP32 heads, no other methods "
                        "(quicker; the gate still refuses a drop above --max-drop)")
    p.add_argument("--trt-version", choices=("8.6", "10.3"), default="10.3",
                   help="header of the TensorRT calibration cache")
    p.add_argument("--save-set", metavar="NAME",
                   help="record the set as calibration/NAME.json (name NAME, the frames "
                        "really used, its path relative to that file)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_calibrate)

    p = sub.add_parser("engine", help="build TensorRT engines from an export (on the device)",
                       description="Builds one TensorRT engine per graph of an export folder "
                                   "(detector and each branch, or the FCN) at one precision, on "
                                   "the device that will run them. Branch engines get an "
                                   "optimisation profile over 1..max boxes. Engines are keyed by "
                                   "graph hash, TensorRT version, GPU, L4T release, precision and "
                                   "profile; engines.json lists them for edge-run. TensorRT 8.6 and "
                                   "10.x build FP16/INT8 with builder flags (INT8 from the Q/DQ "
                                   "graph, or the FP32 graph plus the calibration cache); "
                                   "TensorRT 11 builds strongly typed from the FP16 and Q/DQ "
                                   "graphs. Needs TensorRT (JetPack) and pycuda.")
    p.add_argument("--export", required=True, help="export or calibrate output folder")
    p.add_argument("--precision", default="fp16", metavar="P[,P]",
                   help="fp32, fp16, int8 or a comma list (default fp16)")
    p.add_argument("--out", required=True,
                   help="engine folder (e.g. engines/demo); with --device, the engine store "
                        "(one folder per device identity, e.g. engines/store)")
    p.add_argument("--workspace", type=int, default=1024, metavar="MIB",
                   help="builder workspace limit in MiB (default 1024; lower it on Nano-class "
                        "boards if the build runs out of memory)")
    p.add_argument("--dla", type=int, metavar="CORE",
                   help="build for DLA core N, from 0 (GPU fallback)")
    p.add_argument("--opt-level", type=int, metavar="0-5",
                   help="builder optimisation level (TensorRT default 3)")
    p.add_argument("--timing-cache", metavar="FILE",
                   help="timing cache to reuse and update (default OUT/timing.cache)")
    p.add_argument("--max-boxes", type=int, metavar="N",
                   help="largest branch batch, at least 1 (default: each branch's cap, else "
                        "max detections)")
    add_allow_refused_int8(p)
    p.add_argument("--json", action="store_true")
    d = p.add_argument_group("building on devices from this workstation (over SSH)")
    d.add_argument("--device", action="append", metavar="USER@HOST",
                   help="build there instead of here (repeat for several; they run in "
                        "parallel): [USER@]HOST, an ssh config alias or ssh://USER@HOST:PORT; "
                        "your keys and known_hosts, never a password")
    add_ssh_options(d)
    d.add_argument("--force", action="store_true",
                   help="rebuild even where the store has current engines for the device")
    d.add_argument("--deploy", metavar="NAME",
                   help="also install the model folder there, where edge-run --model NAME "
                        "finds it (atomic; the previous one is kept: edge-build rollback)")
    d.add_argument("--no-selftest", action="store_true",
                   help="skip the device self-test after the build")
    d.add_argument("--selftest-repeats", type=int, default=10, metavar="N",
                   help="timed runs per stage in the self-test (default 10)")
    d.add_argument("--holdout-images", type=int, default=24, metavar="N",
                   help="held-out scenes the self-test generates for accuracy (default 24)")
    d.add_argument("--command-timeout", type=float, default=7200.0, metavar="S",
                   help="stop a device's command (a build, the self-test) after S seconds and "
                        "count the device failed (default 7200: INT8 builds on an Orin Nano "
                        "take long)")
    p.set_defaults(handler=cmd_engine)

    p = sub.add_parser("rollback", help="on devices, switch an installed model back to its "
                                        "previous version",
                       description="Points models/NAME on each device back at the version "
                                   "edge-build engine --deploy NAME replaced (and keeps the "
                                   "replaced one as the new previous). Exit 3 when a device "
                                   "fails.")
    p.add_argument("name", help="the model name given to --deploy")
    p.add_argument("--device", action="append", required=True, metavar="USER@HOST")
    add_ssh_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_rollback)

    p = sub.add_parser("fixations", help="segmentation fixations: where a prediction looks "
                                         "(seed 002)",
                       description="Traces each predicted class back through the network's "
                                   "convolutions and pools to image points (seed 002's "
                                   "segmentation fixations) and writes one heat-map image per "
                                   "image and class, plus OUT/fixations.json; with a label "
                                   "folder, the share of each class's fixations that land on "
                                   "its ground truth. For DeepLab-LargeFOV models.")
    p.add_argument("--model", required=True, help="checkpoint (.pt) or weights (.npz)")
    p.add_argument("--data", required=True, help="a label folder or one image file")
    p.add_argument("--out", required=True, help="output folder for the images")
    p.add_argument("--images", type=int, default=8,
                   help="images of a label folder to analyse, at least 1 (default 8)")
    p.add_argument("--shift", choices=("none", "partial", "full"), default="partial",
                   help="where fixations may move spatially: never, at non-atrous convs "
                        "(default, the seed's choice) or at every conv")
    p.add_argument("--k", default="resolution",
                   help="points kept per unit: 'resolution' (grows with each layer's "
                        "upsampling, the seed's choice), an integer, or a fraction of the "
                        "activation (slow)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_fixations)

    p = sub.add_parser("check", help="check ONNX graphs against the TensorRT parser's limits",
                       description="Checks every graph of an export folder (or one .onnx file) "
                                   "against the TensorRT 8.6, 10.x and 11.x ONNX-parser "
                                   "support table: op types, opset, Resize modes, constant "
                                   "weights, Q/DQ zero points, dynamic dimensions.")
    p.add_argument("export", help="export folder or .onnx file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """SIGTERM (a service stop, ``kill``, a CI timeout) ends a command like Ctrl-C does: its
    clean-up runs (an export's staging folder is removed, a calibration keeps its ranges
    to resume) and it exits 143 with one line, instead of dying mid-write."""
    import signal
    import threading

    terminated: list[int] = []

    def on_sigterm(signum: int, _frame: object) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        rc = run(build_parser(), argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 128 + signal.SIGTERM if terminated and rc == 130 else rc


if __name__ == "__main__":
    sys.exit(main())
