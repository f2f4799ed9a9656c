"""Markdown tables and the PNG figure of an ``edge-bench`` report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge import atomic
from edge.bench.peak import describe as describe_peak
from edge.bench.suite import (BASIS, budget_load, choose_for_budget, has_measured_accuracy,
                              pareto_front, pareto_rows)
from edge.optional import require


def _ours(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("peer") is None]


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our FPS over each peer's, same configuration (eager) or same instance count (Mask
    R-CNN), all measured in this run on this machine (never a thesis figure)."""
    out = []
    eager = {(r["config"], r["instances"]): r for r in rows if r.get("peer") == "pytorch-eager"}
    mrcnn = {r["instances"]: r for r in rows if r.get("peer") == "maskrcnn-r50-fpn"}
    for r in _ours(rows):
        e = eager.get((r["config"], r["instances"]))
        m = mrcnn.get(r["instances"]) if r["input_size"][0] == r["input_size"][1] else None
        out.append({"config": r["config"], "precision": r["precision"],
                    "instances": r["instances"], "fps": r["fps"],
                    "vs_eager": r["fps"] / e["fps"] if e and e["fps"] else None,
                    "vs_maskrcnn": r["fps"] / m["fps"] if m and m["fps"] else None})
    return out


def _f(v: Any, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def _pct(v: float | None) -> str:
    """``42%``; one decimal under 10% (an INT8 row's share of an AMX peak is small)."""
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if 0 < v < 0.1 else f"{100 * v:.0f}%"


def accuracy_text(r: dict[str, Any]) -> str:
    """``53.19 mask AP@0.50 (measured)``: value in points, metric and that it was measured
    in this run; ``-`` without a measurement."""
    if r.get("accuracy") is None:
        return "-"
    metric = r.get("accuracy_metric") or "accuracy"
    source = r.get("accuracy_source")
    return f"{r['accuracy']:.2f} {metric}" + (f" ({source})" if source else "")


def masked_text(r: dict[str, Any]) -> str:
    """``10/30``: instances that got a mask of those scripted; ``-`` for semantic rows."""
    if r.get("masked") is None:
        return "-"
    return f"{r['masked']}/{r['instances']}"


def peak_lines(machine: dict[str, Any]) -> list[str]:
    """The physical and achieved peaks as sentences (or the legacy measured figure)."""
    p = machine.get("peak")
    if p:
        return describe_peak(p["physical"], p.get("achieved"))
    return []


def markdown(report: dict[str, Any], budget_ms: float | None = None) -> str:
    m = report["machine"]
    rows = report["rows"]
    lines = ["# edge-seg benchmarks", "",
             f"Measured on **{m['cpu']}**, {m['cores']} cores ({m['threads']} threads used), "
             f"{m['date']}; ONNX Runtime {m.get('onnxruntime', '-')}, PyTorch "
             f"{m.get('torch', '-')}. Absolute times belong to this machine; ratios are taken "
             f"within the run.", ""]
    peak = peak_lines(m)
    if peak:
        lines += ["## This machine's peak", ""] + [f"- {x}" for x in peak] + [""]
    lines += ["## Every configuration", "",
              "p50 per stage in ms; FPS from the mean frame time (decode excluded, render "
              "included); masked = scripted people that got a mask, of those in the frame "
              "(a branch configuration that takes few shapes masks few); overhead = share of "
              "the frame that is not network inference; peak = share of the machine's PHYSICAL "
              "peak that inference reaches (FP32 rows of the float32 peak, INT8 rows of the "
              "int8 peak; see above); act. MB = every "
              "operator's output bytes (detector + one box through each branch), as the thesis "
              "reported memory; RSS +MB = resident memory added by loading and running the "
              "model (each row's `peak_rss_mb` in the JSON is the process peak so far); "
              "accuracy in points, mask AP@0.50 (SSD-ISB) or mIoU (FCN), only where it was "
              "*measured* in this run at the row's precision and input size, exactly as "
              "`edge-build eval` computes it (COCO protocol, detections down to score 0.05): "
              "`--model DIR --data D` rows on D, the shipped demo model (`--model demo`) on "
              "generated held-out scenes (each row's `accuracy_data` in the JSON names the "
              "set); zoo rows have random weights and no accuracy (the thesis's figures are "
              "in their own table below).", "",
              "| config | prec | inst | masked | FPS | frame p50 | p99 | preprocess | net | "
              "post | crop | branches (seq) | paste | render | overhead | peak | params | "
              "MB on disk | act. MB | RSS +MB | accuracy |", "|" + "---|" * 21]
    for r in _ours(rows):
        s = r["stages_ms"]
        net = s.get("detector", s.get("network", {})).get("p50")
        seq = r.get("branches_sequential_ms", {}).get("p50")
        br = s.get("branches", {}).get("p50")
        lines.append(
            f"| {r['config']} | {r['precision']} | {r['instances']} | {masked_text(r)} | "
            f"{r['fps']:.1f} | "
            f"{r['frame_ms']['p50']:.1f} | {r['frame_ms']['p99']:.1f} | "
            f"{_f(s.get('preprocess', {}).get('p50'), '.2f')} | {_f(net)} | "
            f"{_f(s.get('postprocess', {}).get('p50'), '.2f')} | "
            f"{_f(s.get('crop', {}).get('p50'), '.2f')} | {_f(br, '.2f')}"
            f"{f' ({seq:.2f})' if seq is not None else ''} | "
            f"{_f(s.get('paste', {}).get('p50'), '.2f')} | {_f(s.get('render', {}).get('p50'), '.2f')}"
            f" | {_pct(r.get('overhead_share'))} | {_pct(r.get('peak_share'))} | "
            f"{_f(r.get('params'), ',')} | {_f(r.get('file_mb'))} | {_f(r.get('activation_mb'))} | "
            f"{_f(r.get('model_rss_mb'))} | {accuracy_text(r)} |")
    rat = [x for x in ratios(rows) if x["vs_eager"] or x["vs_maskrcnn"]]
    if rat:
        lines += ["", "## Against the peers (same run, same machine)", "",
                  "| config | prec | inst | FPS | x PyTorch eager | x Mask R-CNN R50-FPN |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {x['config']} | {x['precision']} | {x['instances']} | {x['fps']:.1f} | "
                  f"{_f(x['vs_eager'], '.2f')} | {_f(x['vs_maskrcnn'], '.1f')} |" for x in rat]
        peers = [r for r in rows if r.get("peer")]
        lines += ["", "| peer | config | inst | masked | FPS | frame p50 ms |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['peer']} | {r['config']} | {r['instances']} | {masked_text(r)} | "
                  f"{r['fps']:.2f} | {r['frame_ms']['p50']:.1f} |" for r in peers]
    if report.get("size_curve"):
        lines += ["", "## Latency against input size", "", "| config | input | inst | masked | "
                  "FPS | frame p50 ms | net p50 ms |", "|---|---|---|---|---|---|---|"]
        for r in report["size_curve"]:
            lines.append(f"| {r['config']} | {r['input_size'][0]}x{r['input_size'][1]} | "
                         f"{r['instances']} | {masked_text(r)} | {r['fps']:.1f} | "
                         f"{r['frame_ms']['p50']:.1f} | "
                         f"{r['stages_ms']['detector']['p50']:.1f} |")
    pareto = report.get("pareto") or pareto_rows(rows)
    lines += ["", "## Speed / accuracy Pareto front", "", f"From {BASIS}.", ""]
    front = [("SSD-ISB at " f"{pareto.get('instances')} instances", x)
             for x in pareto.get("instance", [])] + [("FCN", x)
                                                      for x in pareto.get("semantic", [])]
    if front:
        lines += ["| task | config | prec | FPS | accuracy | data |", "|---|---|---|---|---|---|"]
        lines += [f"| {task} | {x['config']} | {x['precision']} | {x['fps']:.1f} | "
                  f"{x['accuracy']:.2f} {x['accuracy_metric']} | {x.get('accuracy_data') or '-'} |"
                  for task, x in front]
    else:
        lines.append("No row has measured accuracy: run `--model DIR --data D` or "
                     "`--model demo` for one.")
    lines += ["", "## The thesis's rows (the thesis's figures, not measured here)", "",
              f"Reported by the thesis on its hardware ({report['thesis_hardware']}), its "
              f"trained weights and its data (SSD-ISB: mask AP@0.50 on COCO, person class, "
              f"640x640; FCN: mIoU on Cityscapes, 1024x2048); memory is TensorFlow's profiler "
              f"output bytes. Reference lines only: never in the Pareto front, the budget "
              f"choice or a ratio.", "",
              "| table | row | input | FPS GPU | FPS CPU | memory MB | params | accuracy "
              "(the thesis's) | data (the thesis's) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for t in report["thesis"]:
        lines.append(f"| {t['table']} | {t['row']} | {t['input_size'][0]}x{t['input_size'][1]} "
                     f"| {t['fps_gpu']} | {t['fps_cpu']} | {t['memory_mb']} | {t['params']:,} | "
                     f"{_f(t['accuracy'], 'g')} {t['metric']} | {t.get('data', '-')} |")
    if budget_ms is not None:
        lines += ["", f"## Budget {budget_ms:g} ms", "", f"From {BASIS}.", ""]
        load = budget_load(rows)
        for task, what in (("instance", f"SSD-ISB at {10 if load is None else load} "
                                        f"instances, mask AP@0.50"),
                           ("semantic", "FCN, mIoU")):
            best = choose_for_budget(rows, budget_ms, task)
            lines.append(f"- {what}: " + ("no configuration with measured accuracy meets it."
                         if best is None else
                         f"**{best['config']} {best['precision']}**, p50 "
                         f"{best['frame_ms']['p50']:.1f} ms, accuracy {accuracy_text(best)} "
                         f"on {best.get('accuracy_data') or 'its data'}."))
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: str | Path) -> None:
    """Four panels: latency vs instances, latency vs input size, the speed/accuracy plane
    with its Pareto front, and the per-stage breakdown at 10 instances (else the largest
    count measured: :func:`edge.bench.suite.budget_load`)."""
    require("matplotlib", "plots (pip install 'edge-seg[bench]')")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _ours(report["rows"])
    fig, ax = plt.subplots(2, 2, figsize=(13, 9))
    a = ax[0][0]
    for cfg in dict.fromkeys(r["config"] for r in rows if r["input_size"][0] == r["input_size"][1]):
        for prec, style in (("fp32", "-o"), ("int8", "--s"), ("fp16", ":^")):
            pts = sorted((r["instances"], r["frame_ms"]["p50"]) for r in rows
                         if r["config"] == cfg and r["precision"] == prec)
            if len(pts) > 1:
                a.plot(*zip(*pts), style, label=f"{cfg} {prec}")
    a.set_xlabel("instances per frame")
    a.set_ylabel("frame time p50 (ms)")
    a.set_title("Latency against instance count")
    a.legend(fontsize=6)
    a = ax[0][1]
    curve = report.get("size_curve") or []
    if curve:
        xs = [r["input_size"][0] for r in curve]
        a.plot(xs, [r["frame_ms"]["p50"] for r in curve], "-o", label="frame")
        a.plot(xs, [r["stages_ms"]["detector"]["p50"] for r in curve], "--s", label="detector")
        a.set_xlabel("input size (square)")
        a.set_ylabel("ms (p50)")
        a.legend(fontsize=7)
    a.set_title(f"Latency against input size ({curve[0]['config'] if curve else 'not run'})")
    a = ax[1][0]
    # SSD-ISB rows only: mask AP and mIoU are different scales, never one front
    load = budget_load(rows)
    acc = [r for r in rows if has_measured_accuracy(r) and r["instances"] == load
           and "network" not in r["stages_ms"]]
    if acc:
        pts = [(r["fps"], r["accuracy"]) for r in acc]
        front = pareto_front(pts)
        a.scatter([p[0] for p in pts], [p[1] for p in pts], c=["C3" if i in front else "C0"
                                                              for i in range(len(pts))])
        for r, (x, y) in zip(acc, pts):
            a.annotate(f"{r['config'].replace('ssd-isb-', '')} {r['precision']}", (x, y),
                       fontsize=6)
        fp = sorted(pts[i] for i in front)
        a.plot([p[0] for p in fp], [p[1] for p in fp], "C3-", lw=1, label="Pareto front")
        a.legend(fontsize=7)
    else:
        a.text(0.5, 0.5, "no row with measured accuracy\n(--model DIR --data D, or --model demo)",
               ha="center", va="center", transform=a.transAxes, fontsize=8)
    a.set_xlabel("FPS on this machine")
    a.set_ylabel("mask AP@0.50, points (measured in this run)")
    a.set_title(f"Speed / measured accuracy, SSD-ISB at {10 if load is None else load} "
                f"instances")
    a = ax[1][1]
    stage_names = ["preprocess", "detector", "network", "postprocess", "crop", "branches",
                   "paste", "render"]
    sel = [r for r in rows if ("network" not in r["stages_ms"] and r["instances"] == load)
           or "network" in r["stages_ms"]]
    labels = [f"{r['config'].replace('ssd-isb-', '')}\n{r['precision']}" for r in sel]
    bottom = [0.0] * len(sel)
    for s in stage_names:
        vals = [r["stages_ms"].get(s, {}).get("p50", 0.0) for r in sel]
        if any(vals):
            a.bar(range(len(sel)), vals, bottom=bottom, label=s)
            bottom = [b + v for b, v in zip(bottom, vals)]
    a.set_xticks(range(len(sel)), labels, fontsize=5, rotation=90)
    a.set_ylabel("ms (p50)")
    a.set_title(f"Where the frame goes (SSD-ISB at {10 if load is None else load} instances; "
                f"FCNs)")
    a.legend(fontsize=6)
    fig.suptitle(f"edge-seg on {report['machine']['cpu']} ({report['machine']['threads']} "
                 f"threads, {report['machine']['date']})", fontsize=10)
    fig.tight_layout()
    tmp = Path(str(path) + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    atomic.replace(tmp, path)


def write_markdown(report: dict[str, Any], path: str | Path, budget_ms: float | None = None,
                   header: str = "") -> None:
    """The Markdown report; ``header`` (e.g. the figure) goes after the title."""
    text = markdown(report, budget_ms)
    title, rest = text.split("\n", 1)
    command = (f"\nRegenerate with `{report['command']}` (`tools/bench_report.sh` runs the "
               f"documented one).\n" if report.get("command") else "")
    atomic.write_text(path, title + "\n" + command + "\n" + header + rest.lstrip("\n"))
