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
from edge.optional import require

log = logging.getLogger(__name__)

DESCRIPTION = "Build pipeline for edge-seg models: zoo, datasets, training, evaluation, ONNX export."


def _model_row(name: str, args: argparse.Namespace) -> dict[str, Any]:
    torch = require("torch", "edge-build models")

    from edge.models.stats import count_parameters, model_macs
    from edge.models.zoo import build_model

    task_is_semantic = name in catalog.SEMANTIC_CONFIGS
    options: dict[str, Any] = {}
    if args.input_size:
        options["input_size"] = tuple(args.input_size)
    if args.num_classes:
        options["num_classes"] = args.num_classes
    if args.alpha is not None and not (task_is_semantic and name.startswith("squeezenet")):
        options["alpha"] = args.alpha
    if not task_is_semantic:
        options["isb_skip"] = args.isb_skip
    desc = catalog.describe(name, **options)
    with torch.device("meta"):  # shapes only: no weights are allocated or initialised
        model = build_model(desc)
    params = count_parameters(model)
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
    print("\nparams: weights + biases + 4 per batch-norm channel (as TensorFlow counted them).\n"
          "SSD-ISB MACs: detector plus one box through every branch.")


def cmd_models(args: argparse.Namespace) -> int:
    names = args.names or catalog.model_names()
    for n in names:
        catalog.summary(n)  # raises ConfigError naming the known models
    rows = [_model_row(n, args) for n in names]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(rows)
    return 0


def cmd_dataset_synth(args: argparse.Namespace) -> int:
    from edge.data.synth import write_dataset, write_video

    h, w = args.size
    if h < 64 or w < 64:
        raise ConfigError(f"--size must be at least 64x64, got {h}x{w}")
    summary: dict[str, Any] = {}
    if args.images:
        summary["dataset"] = write_dataset(args.out, args.images, (h, w), args.seed,
                                           workers=args.workers)
    if args.video:
        summary["video"] = write_video(args.video, args.frames, (h, w), args.seed)
    if not summary:
        raise ConfigError("nothing to do: give --images N and/or --video FILE")
    print(json.dumps(summary, indent=2) if args.json else
          "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return 0


def _description_for_training(args: argparse.Namespace, class_names: tuple[str, ...]):
    """Description of the model to train: a zoo name with options, or a checkpoint's."""
    from edge.train.checkpoint import read_description

    if args.model in catalog.model_names():
        options: dict[str, Any] = {"class_names": class_names}
        if args.input_size:
            options["input_size"] = tuple(args.input_size)
        if args.alpha is not None:
            options["alpha"] = args.alpha
        if args.model in catalog.INSTANCE_CONFIGS:
            options["isb_skip"] = args.isb_skip
        return catalog.describe(args.model, **options)
    return read_description(args.model)


def cmd_train(args: argparse.Namespace) -> int:
    require("torch", "edge-build train")
    from edge.data.sources import open_instances, open_semantic
    from edge.train.trainer import make_config, train

    if args.model in catalog.model_names():
        task, names = ("instance" if args.model in catalog.INSTANCE_CONFIGS else "semantic"), None
    else:
        from edge.train.checkpoint import read_description

        resumed = read_description(args.model)
        task, names = resumed.task, list(resumed.class_names)
    if task == "instance":
        reader: Any = open_instances(args.data, args.categories or names)
    else:
        reader = open_semantic(args.data, args.split)
    desc = _description_for_training(args, tuple(reader.class_names))
    resume = args.resume or (args.model if Path(args.model).suffix == ".pt" else None)
    init = args.init or (args.model if Path(args.model).suffix == ".npz" else None)
    cfg = make_config(args.preset, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      accumulate=args.accumulate, seed=args.seed, workers=args.workers,
                      device=args.device, augment=not args.no_augment,
                      mask_weight=args.mask_weight, threads=args.threads,
                      checkpoint_every=args.checkpoint_every)
    summary = train(desc, reader, args.out, cfg, init=init, resume=resume)
    summary["model"] = desc.name
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


def _evaluate(args: argparse.Namespace, precision: str, results: str | None) -> dict[str, Any]:
    from edge.evaluate.runner import evaluate, load_pipeline

    pipeline = load_pipeline(args.model, args.device, precision, args.score_threshold)
    metrics = evaluate(pipeline, args.data, args.split, results)
    desc = pipeline.desc
    metrics["model"] = {"ref": args.model, "name": desc.name, "task": desc.task,
                        "precision": precision}
    return metrics


def _print_semantic_metrics(m: dict[str, Any]) -> None:
    print(f"mIoU {m['mIoU']:.4f}  pixel acc {m['pixel_accuracy']:.4f}  "
          f"mean class acc {m['mean_class_accuracy']:.4f}")
    for name, iou in m["per_class_iou"].items():
        print(f"  {name:16} {'-' if iou is None else f'{iou:.4f}'}")


def cmd_eval(args: argparse.Namespace) -> int:
    precisions = parse_precisions(args.precision)
    if len(precisions) > 1 and not Path(args.model).is_dir():
        raise ConfigError("several precisions need an export folder (checkpoints are FP32)")
    if len(precisions) == 1:
        metrics = _evaluate(args, precisions[0], args.results)
        if metrics["model"]["task"] == "instance":
            _print_instance_metrics(metrics)
        else:
            _print_semantic_metrics(metrics)
        out: dict[str, Any] = metrics
    else:
        if args.results:
            raise ConfigError("--results takes one precision at a time")
        runs = {p: _evaluate(args, p, None) for p in precisions}
        instance = next(iter(runs.values()))["model"]["task"] == "instance"
        keys = ("AP50", "AP", "AP75", "APm_50", "APl_50", "AR100_50") if instance else (
            "mIoU", "pixel_accuracy", "mean_class_accuracy")
        print(f"{'precision':10} " + " ".join(f"{k:>9}" for k in keys))
        for p, m in runs.items():
            row = m["segm"] if instance else m
            print(f"{p:10} " + " ".join(f"{row[k]:9.4f}" for k in keys))
        out = {"by_precision": runs}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    require("torch", "edge-build export")
    from edge.backends.onnxruntime_backend import OnnxRuntimeBackend
    from edge.export.onnx_export import export_onnx
    from edge.export.parity import check_parity, parity_ok
    from edge.export.trt_support import check_model
    from edge.train.checkpoint import load_model

    if args.model in catalog.model_names():
        from edge.models.zoo import build_model

        options: dict[str, Any] = {}
        if args.input_size:
            options["input_size"] = tuple(args.input_size)
        desc = catalog.describe(args.model, **options)
        model = build_model(desc).eval()
        log.warning("exporting %s with random weights (a zoo name, not a checkpoint)", desc.name)
    else:
        desc, model, _ = load_model(args.model)
        if args.input_size and tuple(args.input_size) != desc.input_size:
            desc = desc.replace(input_size=tuple(args.input_size))
            model.desc = desc
    manifest = export_onnx(desc, model, args.out, opset=args.opset, fp16=not args.no_fp16)
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


def cmd_check(args: argparse.Namespace) -> int:
    from edge.export.onnx_export import read_manifest
    from edge.export.trt_support import SOURCE, check_model

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


def cmd_engine(args: argparse.Namespace) -> int:
    from edge.engines.builder import BuildOptions, build_engines

    if args.workspace < 16:
        raise ConfigError("--workspace is in MiB and must be at least 16")
    if args.opt_level is not None and not 0 <= args.opt_level <= 5:
        raise ConfigError("--opt-level takes 0 (fastest build) to 5 (most tactics)")
    folder = build_engines(args.export, args.out, BuildOptions(
        precision=args.precision, workspace_mb=args.workspace, dla_core=args.dla,
        opt_level=args.opt_level, timing_cache=args.timing_cache, max_boxes=args.max_boxes))
    if args.json:
        print(json.dumps(folder, indent=2))
    else:
        built = [e["file"] for e in folder["engines"] if e["precision"] == args.precision]
        print(f"built {len(built)} {args.precision} engines in {args.out} for "
              f"{folder['device']['gpu_name']} (TensorRT {folder['device']['trt_version']}): "
              + ", ".join(built))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    require("onnxruntime", "edge-build calibrate")
    from edge.calibrate.quantize import calibrate_export
    from edge.calibrate.sets import CalibrationSet

    cset = CalibrationSet.load(args.set)
    if args.count:
        cset.count = args.count
    if args.seed is not None:
        cset.seed = args.seed
    gate = calibrate_export(args.export, cset, args.out, method=args.method,
                            holdout=args.holdout, max_drop=args.max_drop, trt=args.trt_version)
    if args.save_set:
        cset.save(Path("calibration") / f"{args.save_set}.json")
    if args.json:
        print(json.dumps(gate, indent=2))
    else:
        for a in gate["attempts"]:
            value = "-" if a["metric"] is None else f"{a['metric']:.2f}"
            drop = "-" if a["drop_points"] is None else f"{a['drop_points']:+.2f}"
            print(f"INT8 {a['method']:10} fp32 layers {a['excluded']:3}  {gate['metric']} "
                  f"{value} (drop {drop} points)")
        if gate["fp32"] is not None:
            print(f"FP32 {gate['metric']} {gate['fp32']:.2f}; gate: drop <= "
                  f"{gate['max_drop_points']} points")
        print(f"INT8 graphs in {args.out}: {gate['status']}")
    if gate["status"] == "refused":
        raise ConfigError(f"INT8 loses more than {args.max_drop} points of {gate['metric']} even "
                          f"after the remedies above; deploy FP16, or calibrate on frames closer "
                          f"to the deployment scene")
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
                   help="MobileNet depth multiplier (default 0.5 semantic, 1.0 SSD-ISB)")
    p.add_argument("--isb-skip", choices=("fcn8", "fcn16", "fcn32"), default="fcn8",
                   help="ISB skip depth for SSD-ISB models (default fcn8)")
    p.add_argument("--num-classes", type=int, help="number of classes (default 19 / 1)")
    add_input_size(p, "network input height and width (multiples of 32)")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("dataset", help="generate datasets", description="Generate datasets.")
    dsub = p.add_subparsers(title="kinds", metavar="KIND")
    p = dsub.add_parser(
        "synth", help="synthetic street scenes with person instances",
        description="Write synthetic scenes: DIR/images/*.jpg, DIR/labels/*.png (semantic "
                    "labels), DIR/annotations.json (COCO instances, RLE masks), "
                    "DIR/semantic.json; and/or a moving-scene video. Deterministic per seed.")
    p.add_argument("--out", default="synth", help="output folder (default ./synth)")
    p.add_argument("--images", type=int, default=0, help="number of images")
    p.add_argument("--size", nargs=2, type=int, metavar=("H", "W"), default=(640, 640),
                   help="image height and width (default 640 640)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--video", metavar="FILE", help="also write a moving scene as an mp4 video")
    p.add_argument("--frames", type=int, default=300, help="video length in frames")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes rendering in parallel (output is identical for any number)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=cmd_dataset_synth)

    p = sub.add_parser("train", help="train a zoo model or resume a checkpoint",
                       description="Train on a COCO-format folder (instance models) or a label "
                                   "folder / Cityscapes root (semantic models). Writes "
                                   "OUT/last.pt (resumable), OUT/weights.npz and "
                                   "OUT/train_log.jsonl. Under torchrun it trains with DDP.")
    p.add_argument("--model", required=True, help="zoo name; a .pt checkpoint to resume; or a "
                                                   ".npz weights file to start from")
    p.add_argument("--data", required=True, help="dataset folder or COCO JSON")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--categories", nargs="+", help="COCO category names to train on "
                                                   "(default: all)")
    p.add_argument("--split", default="train", help="Cityscapes split (default train)")
    p.add_argument("--alpha", type=float, choices=catalog.ALPHAS, help="MobileNet depth multiplier")
    p.add_argument("--isb-skip", choices=("fcn8", "fcn16", "fcn32"), default="fcn8")
    add_input_size(p, "network input height and width")
    p.add_argument("--preset", default="default",
                   help="default (from scratch), thesis-instance or thesis-semantic")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--accumulate", type=int, help="gradient accumulation steps")
    p.add_argument("--lr", type=float)
    p.add_argument("--mask-weight", type=float, help="default 150 multi-branch, 30 single")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int, help="data-loading processes (default 0)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 ...")
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--init", help="weights on disk to start from (edge-seg file, state dict, "
                                  "torchvision SqueezeNet 1.1)")
    p.add_argument("--resume", help=".pt checkpoint to resume")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("eval", help="evaluate a model on a dataset",
                       description="Instance models: COCO mask and box AP with pycocotools, "
                                   "plus the thesis's metrics at IoU 0.50. Semantic models: "
                                   "mIoU, per-class IoU, pixel and mean class accuracy.")
    p.add_argument("--model", required=True,
                   help="an export folder, a .pt checkpoint, a .npz weights file, or demo "
                        "(the shipped model)")
    p.add_argument("--data", required=True, help="dataset folder (annotations.json beside the "
                                                 "images; or a label folder / Cityscapes root)")
    p.add_argument("--split", default="val", help="Cityscapes split (default val)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32",
                   help="graphs of an export folder to run through ONNX Runtime: fp32, fp16, "
                        "int8, or a comma list (e.g. fp32,fp16,int8) for a side-by-side table")
    p.add_argument("--score-threshold", type=float, default=0.05,
                   help="keep detections above this score (default 0.05, COCO's protocol: "
                        "AP needs the low-score tail; the runtime's display threshold is "
                        "the model's own)")
    p.add_argument("--json", metavar="FILE", help="write the metrics as JSON")
    p.add_argument("--results", metavar="FILE", help="write COCO results JSON (RLE masks)")
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
    p.add_argument("--opset", type=int, default=17)
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
                                   "trying to keep the heads in FP32 and other methods.")
    p.add_argument("--export", required=True, help="export folder (edge-build export)")
    p.add_argument("--set", required=True, help="image folder, video, COCO JSON, or a "
                                                "calibration/<name>.json manifest")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--method", choices=("entropy", "max", "percentile"), default="entropy")
    p.add_argument("--count", type=int, help="frames to sample (default 500)")
    p.add_argument("--seed", type=int, help="sampling seed (default 0)")
    p.add_argument("--holdout", help="held-out dataset for the accuracy gate (never the "
                                     "calibration images)")
    p.add_argument("--max-drop", type=float, default=1.0,
                   help="largest allowed drop of mask AP@0.50 / mIoU, in points (default 1.0)")
    p.add_argument("--trt-version", choices=("8.6", "10.3"), default="10.3",
                   help="header of the TensorRT calibration cache")
    p.add_argument("--save-set", metavar="NAME", help="record the set as calibration/NAME.json")
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
    p.add_argument("--precision", default="fp16", choices=("fp32", "fp16", "int8"))
    p.add_argument("--out", required=True, help="engine folder (e.g. engines/demo)")
    p.add_argument("--workspace", type=int, default=1024, metavar="MIB",
                   help="builder workspace limit in MiB (default 1024; lower it on Nano-class "
                        "boards if the build runs out of memory)")
    p.add_argument("--dla", type=int, metavar="CORE", help="build for DLA core N (GPU fallback)")
    p.add_argument("--opt-level", type=int, metavar="0-5",
                   help="builder optimisation level (TensorRT default 3)")
    p.add_argument("--timing-cache", metavar="FILE",
                   help="timing cache to reuse and update (default OUT/timing.cache)")
    p.add_argument("--max-boxes", type=int, metavar="N",
                   help="largest branch batch (default: each branch's cap, else max detections)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_engine)

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
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
