#!/usr/bin/env python3
"""Seed 001 and 004's experiments, reproduced in form on edge-seg's synthetic data.

    python3 tools/seed_experiments.py --out runs/seeds            # every run (~45 min, 2 cores)
    python3 tools/seed_experiments.py --out runs/seeds --only t1  # one table
    python3 tools/seed_report.py runs/seeds/results.json          # -> docs/seeds.md

Every run goes through the CLIs a user types: ``edge-build dataset synth --kind parts`` /
``--kind squares`` for the data (train, validation and test sets from different seeds:
nothing is evaluated on what it trained on), ``edge-build train`` (with the validation
mIoU logged every fifth of the run, the seed's curves) and ``edge-build eval`` on the
validation set, or on the test set for the long runs, as seed 001 did. Each run's
``eval.json`` and ``train_log.jsonl`` stay in its folder; ``results.json`` collects them.

What differs from the seeds, by design and said in docs/seeds.md: synthetic people instead
of SURREAL, 128x128 crops (SegNet-Basic 64x64) instead of 320x320, hundreds of steps
instead of 40k, batch 8 (SegNet-Basic 4) instead of 64/32, AdamW from scratch instead of
pretrained ICNet / Adam 0.01, and the hourglass edge variant (stride-4 stem, 64 features)
instead of the full-resolution 4x256 network (349 GMAC per 320x320 image).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (table, row, model, extra train args, steps, batch, input size, split evaluated on)
RUNS: list[tuple[str, str, str, list[str], int, int, int, str]] = [
    ("t1", "Normal", "icnet", ["--no-augment"], 300, 8, 128, "val"),
    ("t1", "Doubled filters", "icnet", ["--no-augment", "--filter-scale", "2"], 300, 8, 128,
     "val"),
    ("t1", "Normal + Data Aug.", "icnet", [], 300, 8, 128, "val"),
    ("t1", "Normal + Data Aug., mirroring without L/R swap (seed 001's reader)", "icnet",
     ["--no-swap-lr"], 300, 8, 128, "val"),
    ("t2", "W1 (Outer)", "icnet", ["--no-augment", "--class-weights", "w1"], 300, 8, 128, "val"),
    ("t2", "W1 (Direct)", "icnet", ["--no-augment", "--class-weights", "w1", "--loss-form",
                                    "direct"], 300, 8, 128, "val"),
    ("t2", "W2 (Outer)", "icnet", ["--no-augment", "--class-weights", "w2"], 300, 8, 128, "val"),
    ("t2", "W2 (Direct)", "icnet", ["--no-augment", "--class-weights", "w2", "--loss-form",
                                    "direct"], 300, 8, 128, "val"),
    ("t3", "Normal, long run", "icnet", ["--no-augment"], 900, 8, 128, "test"),
    ("t4", "Normal", "segnet-basic", ["--no-augment"], 200, 4, 64, "val"),
    ("t4", "Normal, transposed-conv upsampling (the code seed 001 ran)", "segnet-basic-deconv",
     ["--no-augment"], 200, 4, 64, "val"),
    ("t4", "Doubled filters", "segnet-basic", ["--no-augment", "--filter-scale", "2"], 200, 4,
     64, "val"),
    ("t4", "Doubled Filters + Data Aug.", "segnet-basic", ["--filter-scale", "2"], 200, 4, 64,
     "val"),
    ("t5", "DF + W1 (Outer)", "segnet-basic", ["--no-augment", "--filter-scale", "2",
                                               "--class-weights", "w1"], 200, 4, 64, "val"),
    ("t5", "DF + W2 (Outer)", "segnet-basic", ["--no-augment", "--filter-scale", "2",
                                               "--class-weights", "w2"], 200, 4, 64, "val"),
    ("t6", "Doubled filters, long run", "segnet-basic", ["--no-augment", "--filter-scale", "2"],
     600, 4, 64, "test"),
    ("hg", "Original (per-stack full ground truth)", "hourglass-edge",
     ["--no-augment", "--stacks", "4", "--features", "64"], 300, 8, 128, "val"),
    ("hg", "Progressive ground truth per stack", "hourglass-edge",
     ["--no-augment", "--stacks", "4", "--features", "64", "--progressive"], 300, 8, 128, "val"),
    ("hg", "Joint branch (24 joints, after stack 2)", "hourglass-edge",
     ["--no-augment", "--stacks", "4", "--features", "64", "--joints", "24"], 300, 8, 128,
     "val"),
    ("sq", "Toy SegNet (2 encoders + 2 decoders), pooling indices", "segnet-toy",
     ["--no-augment"], 150, 8, 128, "test"),
]
# rows that reappear in a later table, as in the seed (Table 2's Normal, Table 5's DF)
SHARED = {("t2", "Normal"): ("t1", "Normal"), ("t5", "Double Filters"): ("t4", "Doubled filters")}

DATA = {  # kind, images, size, seed per split
    "parts": {"train": (800, 1), "val": (100, 2), "test": (100, 3)},
    "squares": {"train": (100, 11), "val": (100, 12), "test": (100, 13)},
}


def run(cmd: list[str], log: Path) -> str:
    """Run a CLI command, its stderr to ``log``; stdout returned; a failure stops here."""
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=fh, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}; see {log}")
    return proc.stdout


def make_data(out: Path, log: Path) -> dict[str, Path]:
    paths = {}
    for kind, splits in DATA.items():
        size = "128"
        for split, (n, seed) in splits.items():
            p = out / "data" / f"{kind}-{split}"
            paths[f"{kind}-{split}"] = p
            if not (p / "semantic.json").is_file():
                run([sys.executable, "-m", "edge.cli.build", "dataset", "synth", "--kind", kind,
                     "--images", str(n), "--size", size, size, "--seed", str(seed), "--out",
                     str(p), "--json"], log)
    return paths


def slug(table: str, row: str) -> str:
    keep = "".join(c if c.isalnum() else "-" for c in row.lower())
    return f"{table}-" + "-".join(p for p in keep.split("-") if p)[:60]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/seeds")
    ap.add_argument("--only", help="comma list of tables (t1..t6, hg, sq)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "commands.log"
    data = make_data(out, log)
    only = set(args.only.split(",")) if args.only else None
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {"runs": {}}
    results.update({"machine": {"cpu_count": os.cpu_count(), "processor": platform.processor()
                                or platform.machine(), "python": platform.python_version()},
                    "data": {k: str(v) for k, v in data.items()}, "shared_rows": {
                        f"{a}/{b}": f"{c}/{d}" for (a, b), (c, d) in SHARED.items()}})
    for table, row, model, extra, steps, batch, size, split in RUNS:
        if only and table not in only:
            continue
        name = slug(table, row)
        run_dir = out / name
        kind = "squares" if model == "segnet-toy" else "parts"
        t0 = time.time()
        if not (run_dir / "weights.npz").is_file():
            summary = json.loads(run(
                [sys.executable, "-m", "edge.cli.build", "train", "--model", model, "--data",
                 str(data[f"{kind}-train"]), "--out", str(run_dir), "--steps", str(steps),
                 "--batch-size", str(batch), "--input-size", str(size), str(size), "--seed", "0",
                 "--threads", str(args.threads), "--val", str(data[f"{kind}-val"]),
                 "--eval-every", str(max(1, steps // 5)), "--checkpoint-every", str(steps),
                 *extra, "--json"], log))
        else:
            summary = results["runs"].get(name, {}).get("train", {})
        eval_json = run_dir / f"eval-{split}.json"
        if not eval_json.is_file():
            run([sys.executable, "-m", "edge.cli.build", "eval", "--model",
                 str(run_dir / "weights.npz"), "--data", str(data[f"{kind}-{split}"]), "--json",
                 str(eval_json)], log)
        curve = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text()
                 .splitlines() if line.strip()]
        results["runs"][name] = {
            "table": table, "row": row, "model": model, "args": extra, "steps": steps,
            "batch": batch, "input_size": size, "split": split, "train": summary,
            "metrics": json.loads(eval_json.read_text()),
            "curve": [{k: r[k] for k in ("step", "loss", "val_mIoU", "seconds") if k in r}
                      for r in curve]}
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
