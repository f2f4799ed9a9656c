#!/usr/bin/env python3
"""Seed 000 and 002's experiments, reproduced in form on edge-seg's synthetic data.

    python3 tools/seed000_002_experiments.py --out runs/seeds2             # both (~3 h)
    python3 tools/seed000_002_experiments.py --out runs/seeds2 --only 000  # one seed
    python3 tools/seed_report.py --seeds2 runs/seeds2/results.json ...     # -> docs/seeds.md

Every run goes through the CLIs a user types (``edge-build dataset synth --kind fashion`` /
``--kind voc``, ``edge-build train``, ``edge-build eval``); training, validation and test
sets come from different seeds, so nothing is evaluated on what it trained on.

Seed 000, Table 5 in form: the RoI-masked network (SSD RoIs, CMaps, background
correction) trained jointly with its detector, with and without ground-truth masking,
the same network without RoI masking, and the variant that decodes RoI crops; average
pixel accuracy, macro precision, recall and F1 on the fashion test set, evaluated with
the RoIs the detector predicts (as the runtime runs it).

Seed 002, Table 3.1 in form: DeepLab-LargeFOV's edge variant trained with CE alone (the
seed's "pre-trained" model), then fine-tuned as the seed did (only fc6-fc8 learn, poly
LR from 1e-4) with CE alone (the control) and with each of the four feedback losses at
each weight in {0.01, 0.05, 0.1, 0.5, 1, 5}; validation mIoU on the confusable-pair
scenes and on the same scenes with the discriminative parts occluded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_experiments import run, slug  # noqa: E402

BUILD = [sys.executable, "-m", "edge.cli.build"]
SIZE_000 = 192  # fashion scenes (the networks take them at INPUT_000)
INPUT_000 = 128  # the RoI-masked networks' input (multiple of 32): its full-resolution
ALPHA_000 = "0.25"  # decoder (seed 000's Table 4) costs 2.85 GMAC at 160x160 even at 0.25
SIZE_002 = 160  # VOC-like scenes and DeepLab's input (multiple of 8)

DATA = {  # name: (kind, images, seed, extra synth args)
    "fashion-train": ("fashion", 600, 21, []),
    "fashion-val": ("fashion", 60, 22, []),
    "fashion-test": ("fashion", 100, 23, []),
    "voc-train": ("voc", 600, 31, []),
    "voc-val": ("voc", 100, 32, []),
    "voc-val-occluded": ("voc", 100, 32, ["--occlude"]),
}

# seed 000: (row, model, extra train args)
RUNS_000: list[tuple[str, str, list[str]]] = [
    ("RoI masking + ground-truth masking (the seed's)", "roimask", []),
    ("RoI masking, no ground-truth masking", "roimask", ["--no-gt-masking"]),
    ("No RoI masking", "roimask-unmasked", []),
    # ground-truth masking can only matter with predicted RoIs (the seed's setting): with
    # ground-truth RoIs every label outside the person boxes is background already
    ("Predicted RoIs + ground-truth masking", "roimask", ["--roi-source", "pred"]),
    ("Predicted RoIs, no ground-truth masking", "roimask", ["--roi-source", "pred",
                                                            "--no-gt-masking"]),
]
STEPS_000, BATCH_000 = 300, 8

FEEDBACK = ("correlation", "cosine", "selective-correlation", "selective-cosine")
WEIGHTS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
MODEL_002 = "deeplab-largefov-mobilenet"
FC_WIDTH = 256  # the edge variant's head width (the seed's 1024 is for VGG-16)
STEPS_BASE, STEPS_FT, BATCH_002 = 1500, 150, 8


def make_data(out: Path, log: Path, names: list[str]) -> dict[str, Path]:
    paths = {}
    for name in names:
        kind, n, seed, extra = DATA[name]
        size = str(SIZE_000 if kind == "fashion" else SIZE_002)
        p = out / "data" / name
        paths[name] = p
        if not (p / "semantic.json").is_file():
            run([*BUILD, "dataset", "synth", "--kind", kind, "--images", str(n), "--size", size,
                 size, "--seed", str(seed), "--out", str(p), "--workers", "2", *extra,
                 "--json"], log)
    return paths


def train_eval(run_dir: Path, model: str, data: dict[str, Path], train: str, evals: list[str],
               size: int, steps: int, batch: int, extra: list[str], threads: int, log: Path,
               val: str | None = None) -> dict:
    """Train (unless done) and evaluate on each of ``evals``; the run's record."""
    t0 = time.time()
    if not (run_dir / "weights.npz").is_file():
        args = [*BUILD, "train", "--model", model, "--data", str(data[train]), "--out",
                str(run_dir), "--steps", str(steps), "--batch-size", str(batch), "--input-size",
                str(size), str(size), "--seed", "0", "--threads", str(threads),
                "--checkpoint-every", str(steps), *extra, "--json"]
        if val:
            args[-1:-1] = ["--val", str(data[val]), "--eval-every", str(max(1, steps // 5))]
        (run_dir / "train.json").parent.mkdir(parents=True, exist_ok=True)
        summary = json.loads(run(args, log))
        (run_dir / "train.json").write_text(json.dumps(summary, indent=1))
    summary = json.loads((run_dir / "train.json").read_text())
    metrics = {}
    for split in evals:
        path = run_dir / f"eval-{split}.json"
        if not path.is_file():
            run([*BUILD, "eval", "--model", str(run_dir / "weights.npz"), "--data",
                 str(data[split]), "--json", str(path)], log)
        metrics[split] = json.loads(path.read_text())
    curve = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()
             if line.strip()]
    return {"model": model, "args": extra, "steps": steps, "batch": batch, "input_size": size,
            "train": summary, "metrics": metrics, "seconds": round(time.time() - t0, 1),
            "curve": [{k: r[k] for k in ("step", "loss", "ce", "feedback", "val_mIoU", "seconds")
                       if k in r} for r in curve]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/seeds2")
    ap.add_argument("--only", choices=("000", "002"), help="one seed's experiments")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "commands.log"
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results.setdefault("runs", {})
    results["machine"] = {"cpu_count": os.cpu_count(), "processor": platform.processor()
                          or platform.machine(), "python": platform.python_version()}

    def save() -> None:
        results_path.write_text(json.dumps(results, indent=2) + "\n")

    if args.only in (None, "000"):
        data = make_data(out, log, ["fashion-train", "fashion-val", "fashion-test"])
        results["setup_000"] = {"steps": STEPS_000, "batch": BATCH_000, "input_size": INPUT_000,
                                "alpha": float(ALPHA_000), "scene_size": SIZE_000,
                                "data": {k: DATA[k] for k in DATA if k.startswith("fashion")}}
        for row, model, extra in RUNS_000:
            name = slug("000", row)
            results["runs"][name] = {"table": "000", "row": row, **train_eval(
                out / name, model, data, "fashion-train", ["fashion-test"], INPUT_000, STEPS_000,
                BATCH_000, ["--alpha", ALPHA_000, *extra], args.threads, log, val="fashion-val")}
            save()
            print(f"{name}: {results['runs'][name]['seconds']:.0f} s", flush=True)
    if args.only in (None, "002"):
        data = make_data(out, log, ["voc-train", "voc-val", "voc-val-occluded"])
        results["setup_002"] = {"base_steps": STEPS_BASE, "finetune_steps": STEPS_FT,
                                "batch": BATCH_002, "input_size": SIZE_002,
                                "fc_width": FC_WIDTH, "model": MODEL_002,
                                "data": {k: DATA[k] for k in DATA if k.startswith("voc")}}
        evals = ["voc-val", "voc-val-occluded"]
        width = ["--fc-width", str(FC_WIDTH)]
        base = out / "002-base"
        results["runs"]["002-base"] = {"table": "002", "row": "CE only, from scratch (the "
                                       "'pre-trained' model)", **train_eval(
            base, MODEL_002, data, "voc-train", evals, SIZE_002, STEPS_BASE, BATCH_002, width,
            args.threads, log, val="voc-val")}
        save()
        finetune = ["--preset", "seed002-finetune", "--init", str(base / "weights.npz"), *width]
        rows = [("CE only (fine-tuned as the others)", [])] + [
            (f"{loss} {w:g}", ["--feedback-loss", loss, "--feedback-weight", str(w)])
            for loss in FEEDBACK for w in WEIGHTS]
        for row, extra in rows:
            name = slug("002", row)
            results["runs"][name] = {"table": "002", "row": row, **train_eval(
                out / name, MODEL_002, data, "voc-train", evals, SIZE_002, STEPS_FT, BATCH_002,
                finetune + extra, args.threads, log)}
            save()
            print(f"{name}: {results['runs'][name]['seconds']:.0f} s", flush=True)
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
