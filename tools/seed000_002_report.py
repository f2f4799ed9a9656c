#!/usr/bin/env python3
"""docs/seeds-000-002.md from the JSON the experiments, the benchmark and the fixations wrote.

    python3 tools/seed000_002_experiments.py --out runs/seeds2 --only 000
    python3 tools/seed000_002_experiments.py --out runs/seeds2b --only 002
    edge-bench --configs roimask,roimask-crop,roimask-unmasked,deeplab-largefov,\\
        deeplab-largefov-mobilenet --precision fp32 --frames 10 \\
        --json docs/seeds/bench-000-002.json
    edge-build fixations --model runs/seeds2b/002-base/weights.npz \\
        --data runs/seeds2b/data/voc-val --images 24 --out runs/seeds2b/fixations-base
    python3 tools/seed000_002_report.py runs/seeds2/results.json runs/seeds2b/results.json \\
        docs/seeds/bench-000-002.json runs/seeds2b/fixations-base

Merges the results into docs/seeds/000-002-results.json, copies the fixations report and
one heat map, draws docs/images/seed002-feedback.png (Table 3.1 as curves) and writes
docs/seeds-000-002.md. Every figure in it comes from those files; the seeds' own numbers
are quoted beside ours, labelled, and used for nothing.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_report import bench_lines  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FEEDBACK = ("correlation", "cosine", "selective-correlation", "selective-cosine")
WEIGHTS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
# seed 002's Table 3.1 (VOC 2012 val mIoU, DeepLab-LargeFOV VGG-16): quoted, not compared
SEED_31 = {"correlation": (0.6314, 0.6285, 0.6252, 0.5977, 0.5560, 0.3253),
           "cosine": (0.6331, 0.6306, 0.6321, 0.6198, 0.6086, 0.5996),
           "selective-correlation": (0.62645, 0.32536, 0.32535, 0.32535, 0.32535, 0.32535),
           "selective-cosine": (0.63324, 0.63767, 0.63104, 0.61689, 0.60718, 0.59921)}
BENCH_MODELS = ("roimask", "roimask-crop", "roimask-unmasked", "deeplab-largefov",
                "deeplab-largefov-mobilenet")


def pct(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


def foreground_macro(m: dict, key: str) -> float | None:
    """Macro average of a per-class table ({class: value}) over the foreground classes it
    defines (non-null; the first class is background)."""
    vals = [v for v in list(m.get(key, {}).values())[1:] if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else None


def table_000(runs: dict) -> list[str]:
    rows = [r for r in runs.values() if r.get("table") == "000"]
    out = ["| configuration | pixel accuracy | macro precision | macro recall | macro F1 | "
           "mIoU | fg precision | fg recall | fg F1 | train s |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["metrics"]["fashion-test"]
        out.append(f"| {r['row']} | {pct(m['pixel_accuracy'])} | {pct(m['macro_precision'])} | "
                   f"{pct(m['macro_recall'])} | {pct(m['macro_f1'])} | {pct(m['mIoU'])} | "
                   f"{pct(foreground_macro(m, 'per_class_precision'))} | "
                   f"{pct(foreground_macro(m, 'per_class_accuracy'))} | "
                   f"{pct(foreground_macro(m, 'per_class_f1'))} | "
                   f"{r['train']['seconds']:.0f} |")
    return out


def converged_000(runs: dict) -> list[str]:
    """How far from converged the seed-000 networks are at this budget."""
    recalls = [foreground_macro(r["metrics"]["fashion-test"], "per_class_accuracy")
               for r in runs.values() if r.get("table") == "000"]
    recalls = [v for v in recalls if v is not None]
    if not recalls:
        return []
    return [f"At this budget the networks are far from converged: the best foreground macro "
            f"recall is {pct(max(recalls))}%, so this table shows the experiment running, in "
            f"the seed's form, not what RoI masking is worth.", ""]


def same_rows_note(runs: dict) -> list[str]:
    """Say so when ground-truth masking changed nothing, and why."""
    a = runs.get("000-roi-masking-ground-truth-masking-the-seed-s")
    b = runs.get("000-roi-masking-no-ground-truth-masking")
    if not a or not b:
        return []
    ma, mb = a["metrics"]["fashion-test"], b["metrics"]["fashion-test"]
    if any(round(ma[k], 4) != round(mb[k], 4) for k in ("mIoU", "macro_f1", "pixel_accuracy")):
        return []
    gap = max(abs(x["loss"] - y["loss"]) for x, y in zip(a["curve"], b["curve"]))
    return [f"The first two rows agree to every printed digit (their logged training losses "
            f"differ by at most {gap:.1e}, floating-point noise): with RoIs from the "
            f"ground-truth person boxes, every label outside them is background already in "
            f"these scenes, so ground-truth masking changes no label. It matters when the RoIs are the detector's (`--roi-source pred`, the "
            "seed's setting), where a missed person's garments would otherwise be charged "
            "to the segmentation; those two rows are in the experiment script but were not "
            "run here for time (about 25 min each on this machine).", ""]


def verdict_002(runs: dict, best: tuple[str, float] | None, ctrl: float | None) -> list[str]:
    """The best loss against the control, the size of the gain against the stated noise,
    and whether that loss's mIoU rises with its weight on both splits."""
    if not best or ctrl is None:
        return []
    name, value = best
    loss = name.rsplit(" ", 1)[0]
    gain = 100 * (value - ctrl)
    text = (f"Best feedback run: {name} at {pct(value)} against the control's {pct(ctrl)} "
            f"({gain:+.2f} points). ")
    rising = all(
        all(b >= a for a, b in zip(vals, vals[1:]))
        for vals in ([_miou(runs, slug(f"{loss} {w:g}"), split) or 0.0 for w in WEIGHTS]
                     for split in ("voc-val", "voc-val-occluded")))
    if gain <= 0:
        text += "No feedback loss improves on CE alone here."
    elif gain < 1.0:
        text += ("With one training seed per row and no measured run-to-run spread, a gain "
                 "under a point is a hint, not a result")
        text += (f"; {loss}'s mIoU does rise with its weight on both the plain and the "
                 f"occluded scenes." if rising else ".")
    else:
        text += "One training seed per row: run-to-run spread was not measured."
    under = [r for k, r in runs.items() if k.startswith("002-") and k != "002-base"]
    moved = max((abs(100 * (r["metrics"]["voc-val"]["mIoU"] - ctrl)) for r in under),
                default=0.0)
    return [text, "", f"Under the seed's protocol (SGD at 1e-4 on the head alone, "
                      f"{len(under)} runs) no run moved validation mIoU by more than "
                      f"{moved:.2f} points from the control, at any weight, and the seed's collapse "
                      f"at large weights (correlation 0.3253 at 5) did not appear within "
                      f"this budget, although the feedback term itself kept falling (the "
                      f"`feedback` column of each run's curve in 000-002-results.json).", ""]


def _miou(runs: dict, name: str, split: str) -> float | None:
    r = runs.get(name)
    return None if r is None or split not in r["metrics"] else r["metrics"][split]["mIoU"]


def slug(row: str) -> str:
    keep = "".join(c if c.isalnum() else "-" for c in row.lower())
    return "002-" + "-".join(p for p in keep.split("-") if p)[:60]


def table_31(runs: dict, split: str) -> list[str]:
    out = ["| auxiliary loss | " + " | ".join(f"{w:g}" for w in WEIGHTS) + " |",
           "|---|" + "---|" * len(WEIGHTS)]
    for loss in FEEDBACK:
        cells = [_miou(runs, slug(f"{loss} {w:g}"), split) for w in WEIGHTS]
        out.append(f"| {loss} | " + " | ".join(pct(c) for c in cells) + " |")
    return out


def best_feedback(runs: dict, split: str) -> tuple[str, float] | None:
    best = None
    for loss in FEEDBACK:
        for w in WEIGHTS:
            v = _miou(runs, slug(f"{loss} {w:g}"), split)
            if v is not None and (best is None or v > best[1]):
                best = (f"{loss} {w:g}", v)
    return best


def plot(runs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    for ax, split, title in ((axes[0], "voc-val", "confusable pairs (validation)"),
                             (axes[1], "voc-val-occluded", "discriminative parts occluded")):
        for loss in FEEDBACK:
            ys = [_miou(runs, slug(f"{loss} {w:g}"), split) for w in WEIGHTS]
            ax.plot(WEIGHTS, [100 * y if y is not None else float("nan") for y in ys], "o-",
                    label=loss)
        for name, style, label in (("002-base", "k--", "CE only (base)"),
                                   (slug("CE only (fine-tuned as the others)"), "k:",
                                    "CE only, fine-tuned")):
            v = _miou(runs, name, split)
            if v is not None:
                ax.axhline(100 * v, color="k", linestyle=style[1:], label=label)
        ax.set_xscale("log")
        ax.set_xlabel("feedback-loss weight lambda")
        ax.set_ylabel("mIoU %")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def fixation_lines(fix: dict | None, image: str | None) -> list[str]:
    if not fix:
        return []
    out = ["| class | share of fixations on the class's ground truth |", "|---|---|"]
    for name, share in sorted(fix["inside_share_per_class"].items()):
        out.append(f"| {name} | {pct(share)} |")
    if image:
        out += ["", f"![fixation heat map]({image})"]
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    runs: dict = {}
    setups: dict = {}
    bench = fix = None
    fix_dir: Path | None = None
    for arg in argv:
        p = Path(arg)
        if p.is_dir():
            fix_dir = p
            fix = json.loads((p / "fixations.json").read_text())
            continue
        d = json.loads(p.read_text())
        if "rows" in d:
            bench = d
        else:
            runs.update(d["runs"])
            setups.update({k: v for k, v in d.items() if k.startswith("setup")})
            setups["machine"] = d.get("machine")
    merged = {"runs": runs, **setups}
    (DOCS / "seeds").mkdir(parents=True, exist_ok=True)
    (DOCS / "seeds" / "000-002-results.json").write_text(json.dumps(merged, indent=1) + "\n")
    image = None
    if fix is not None and fix_dir is not None:
        (DOCS / "seeds" / "fixations.json").write_text(json.dumps(fix, indent=1) + "\n")
        # the first six heat maps of object classes, side by side, two rows
        files = [f for r in fix["images"] for f in r["files"] if "_00_" not in Path(f).name]
        if files:
            import cv2
            import numpy as np

            tiles = [cv2.imread(f) for f in files[:6]]
            tiles += [np.zeros_like(tiles[0])] * (6 - len(tiles))
            grid = np.vstack([np.hstack(tiles[:3]), np.hstack(tiles[3:])])
            cv2.imwrite(str(DOCS / "images" / "seed002-fixations.png"), grid)
            image = "images/seed002-fixations.png"
    plot(runs, DOCS / "images" / "seed002-feedback.png")
    s0, s2 = setups.get("setup_000", {}), setups.get("setup_002", {})
    base_val = _miou(runs, "002-base", "voc-val")
    ctrl_val = _miou(runs, slug("CE only (fine-tuned as the others)"), "voc-val")
    best = best_feedback(runs, "voc-val")
    lines = [
        "# Seeds 000 and 002, reproduced in form",
        "",
        "Generated by `tools/seed000_002_report.py` from `docs/seeds/000-002-results.json` "
        "(written by `tools/seed000_002_experiments.py`; every command it ran is in "
        "`docs/seeds/000-002-commands.log`), `docs/seeds/bench-000-002.json` (`edge-bench`) "
        "and `docs/seeds/fixations.json` (`edge-build fixations`). Do not edit by hand.",
        "",
        "## Seed 000: RoI-masked pixel-wise segmentation (its Table 5, in form)",
        "",
        f"Fashion scenes (`edge-build dataset synth --kind fashion`: 1-3 people with ATR's 18 "
        f"garment labels on cluttered backgrounds; train {s0.get('data', {}).get('fashion-train', ['', '?'])[1]}"
        f" images, validation and test from other seeds), networks at "
        f"{s0.get('input_size')}x{s0.get('input_size')}, MobileNet alpha {s0.get('alpha')}, "
        f"{s0.get('steps')} steps of batch {s0.get('batch')}, the detector and the "
        f"segmentation trained jointly (L = L_ssd + L_seg), RoIs from the ground-truth boxes "
        f"in training. Evaluated by `edge-build eval` on the test set with the RoIs the "
        f"detector predicts, as `edge-run` runs it. Macro averages are over all 18 classes; "
        f"the fg columns leave out background.",
        "",
        *table_000(runs),
        "",
        *converged_000(runs),
        *same_rows_note(runs),
        "Seed 000's own Table 5 (PASCAL VOC, 21 classes, modified AlexNet + Faster R-CNN, one "
        "epoch of 225 images; its averaging is not stated): accuracy 25.09, precision 47.62, "
        "recall 15.09, F1 22.93. Quoted, not compared: data, classes and scale differ.",
        "",
        "What masking buys and costs: outside the RoIs the network answers background with "
        "a margin of 20 (the background correction), so clutter away from people cannot "
        "become garments; inside, it depends on the detector, whose misses become background "
        "too. A dense network multiplied by a mask computes every convolution anyway, so it "
        "saves nothing (compare `roimask` with `roimask-unmasked` below); `roimask-crop` "
        "decodes only the N RoI crops and pastes them, which is where the time goes down.",
        "",
        "## Seed 002: per-pixel feedback losses (its Table 3.1, in form)",
        "",
        f"VOC-like scenes (`--kind voc`: four pairs of classes alike but for a small part), "
        f"{s2.get('input_size')}x{s2.get('input_size')}. The seed fine-tuned a VOC-trained "
        f"DeepLab-LargeFOV (VGG-16); no such weights exist offline and VGG-16 trains too "
        f"slowly on 2 CPU cores, so the edge variant (`{s2.get('model')}`, head width "
        f"{s2.get('fc_width')}) was first trained with CE alone for {s2.get('base_steps')} "
        f"steps (the 'pre-trained' model: validation mIoU {pct(base_val)}), then fine-tuned "
        f"as the seed did (only fc6-fc8 learn, momentum SGD, poly LR from 1e-4) for "
        f"{s2.get('finetune_steps')} steps of batch {s2.get('batch')}: with CE alone (the "
        f"control, {pct(ctrl_val)}) and with each loss at each weight (sum reduction and "
        f"one template per class per batch, the seed's Algorithm 3). Validation mIoU:",
        "",
        *table_31(runs, "voc-val"),
        "",
        "The same models on the validation scenes with every discriminative part occluded "
        "(labels unchanged; the seed's masked-region experiment):",
        "",
        *table_31(runs, "voc-val-occluded"),
        "",
        *verdict_002(runs, best, ctrl_val),
        "",
        "![mIoU against the loss weight](images/seed002-feedback.png)",
        "",
        "Seed 002's own Table 3.1 (VOC 2012 val, from 62.25): correlation "
        + ", ".join(f"{v:g}" for v in SEED_31["correlation"]) + "; cosine "
        + ", ".join(f"{v:g}" for v in SEED_31["cosine"]) + "; selective correlation "
        + ", ".join(f"{v:g}" for v in SEED_31["selective-correlation"])
        + "; selective cosine " + ", ".join(f"{v:g}" for v in SEED_31["selective-cosine"])
        + ". Quoted, not compared.",
        "",
        "### Segmentation fixations",
        "",
        "`edge-build fixations` traces each predicted class back to image points (partial "
        "shift, K growing with resolution: the seed's choices). Share of each class's "
        "fixations that land on that class's ground truth, for the CE-only base model on "
        "validation images:",
        "",
        *fixation_lines(fix, image),
        "",
        "## Speed and memory",
        *bench_lines(bench, BENCH_MODELS),
        "",
        "## Where our data and protocol differ from the seeds'",
        "",
        "- Seed 000 used PASCAL VOC (21 classes) with a modified AlexNet and a full Faster "
        "R-CNN; we use synthetic fashion scenes, the package's MobileNet-v1 SSD as the RoI "
        "proposer (in the graph: Fast NMS over the top 4N anchors, then the top N RoIs), BN "
        "instead of LRN, and a MobileNet shared backbone whose stride-2/4/8 maps are the "
        "decoder's skips. Inputs are static (multiples of 32), so no Crop layers.",
        "- Seed 002 fine-tuned VOC-pretrained VGG-16 weights; ours are trained here from "
        "scratch on synthetic data, on the MobileNet variant for the sweep. "
        "`deeplab-largefov` (VGG-16, 20.5 M parameters at 21 classes) trains, exports and "
        "runs through the same commands (tests/test_seed000_002_e2e.py).",
        "- Hundreds of steps on 2 CPU cores instead of the seeds' GPU schedules, and one "
        "training seed per row: run-to-run spread was not measured, so small differences "
        "are not evidence.",
        "",
    ]
    (DOCS / "seeds-000-002.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
