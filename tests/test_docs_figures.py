"""The figures in README.md and docs/ equal the JSON they were produced with.

Sources (tools/regenerate_docs.sh regenerates all of them):
- docs/benchmarks.md tables and README's benchmark headline <- docs/benchmarks.json
- docs/runtime.md's table and README's edge-run FPS <- docs/runtime.json
- docs/demo-model.md <- edge/demo/ssd-isb-demo-eval.json, docs/demo-export-eval.json,
  docs/demo-onnx.json and the shipped export's manifest (calibration set and INT8 gate)

Tables are parsed generically (any Markdown table whose header names the key columns), so
a re-formatted report keeps being checked; a figure is equal when it is the JSON value
rounded to the decimals printed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table as a list of {header: cell} rows (cells stripped of ** and `)."""
    out, lines = [], text.splitlines()
    i = 0
    while i < len(lines) - 1:
        if lines[i].startswith("|") and re.match(r"^\|[\s\-:|]+\|$", lines[i + 1].strip()):
            head = [c.strip() for c in lines[i].strip().strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip().replace("**", "").replace("`", "")
                         for c in lines[i].strip().strip("|").split("|")]
                rows.append(dict(zip(head, cells)))
                i += 1
            out.append(rows)
        else:
            i += 1
    return out


def same(printed: str, value: float, scale: float = 1.0) -> bool:
    """``printed`` is ``value * scale`` rounded to the decimals it shows (commas, %, x ok)."""
    s = printed.replace(",", "").rstrip("%x").strip()
    decimals = len(s.split(".")[1]) if "." in s else 0
    return abs(float(s) - value * scale) <= 0.5 * 10 ** -decimals + 1e-9


def find(table_rows, *keys):
    return [r for r in table_rows if all(any(k.lower() == h.lower() for h in r) for k in keys)]


def col(row: dict[str, str], name: str) -> str:
    return next(v for k, v in row.items() if k.lower() == name.lower())


# ------------------------------------------------------------------ benchmarks


@pytest.fixture(scope="module")
def bench():
    return json.loads((DOCS / "benchmarks.json").read_text())


def _bench_row(bench, config, precision, instances, peer=None):
    rows = [r for r in bench["rows"] if r["config"] == config and r["instances"] == instances
            and r.get("peer") == peer and (peer is not None or r["precision"] == precision)]
    assert rows, (config, precision, instances, peer)
    return rows[0]


def test_benchmark_tables_equal_their_json(bench) -> None:
    checked = 0
    for table in tables((DOCS / "benchmarks.md").read_text()):
        for row in find(table, "config", "prec", "inst", "FPS"):
            inst = int(col(row, "inst"))
            ours = _bench_row(bench, col(row, "config"), col(row, "prec"), inst)
            assert same(col(row, "FPS"), ours["fps"]), row
            checked += 1
            for name, peer, config in (("x PyTorch eager", "pytorch-eager", col(row, "config")),
                                       ("x Mask R-CNN R50-FPN", "maskrcnn-r50-fpn",
                                        "maskrcnn-r50-fpn")):
                if any(k.lower() == name.lower() for k in row) and col(row, name) != "-":
                    other = _bench_row(bench, config, "fp32", inst, peer)
                    assert same(col(row, name), ours["fps"] / other["fps"]), (row, name)
        for row in find(table, "config", "input", "inst", "FPS"):
            h, w = (int(v) for v in col(row, "input").split("x"))
            (ours,) = [r for r in bench["size_curve"] if r["config"] == col(row, "config")
                       and list(r["input_size"]) == [h, w]
                       and r["instances"] == int(col(row, "inst"))]
            assert same(col(row, "FPS"), ours["fps"]), row
            checked += 1
    assert checked >= 10  # the tables were found


def test_readme_benchmark_headline_equals_the_json(bench) -> None:
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"with\s+10\s+people\s+in\s+the\s+frame:\s+([\d.]+)\s+FPS\s+FP32\s+/\s+"
                  r"([\d.]+)\s+FPS\s+INT8,\s+([\d.]+)x\s+/\s+([\d.]+)x\s+the\s+same\s+model\s+"
                  r"in\s+PyTorch\s+eager(?:\s+and\s+([\d.]+)x\s+/\s+([\d.]+)x\s+Mask\s+R-CNN)?",
                  readme)
    assert m, "README's benchmark headline sentence not found"
    fp32, int8 = (_bench_row(bench, "ssd-isb-multi-shape", p, 10) for p in ("fp32", "int8"))
    eager = _bench_row(bench, "ssd-isb-multi-shape", "fp32", 10, "pytorch-eager")
    want = [fp32["fps"], int8["fps"], fp32["fps"] / eager["fps"], int8["fps"] / eager["fps"]]
    if m.group(5) is not None:  # the Mask R-CNN ratios, when that peer ran
        mrcnn = _bench_row(bench, "maskrcnn-r50-fpn", "fp32", 10, "maskrcnn-r50-fpn")
        want += [fp32["fps"] / mrcnn["fps"], int8["fps"] / mrcnn["fps"]]
    else:  # not quoted: then the run must not have had it either
        assert not [r for r in bench["rows"] if r.get("peer") == "maskrcnn-r50-fpn"]
    for printed, value in zip(m.groups(), want):
        assert same(printed, value), (printed, value)


# ------------------------------------------------------------------ edge-run


@pytest.fixture(scope="module")
def runtime():
    data = json.loads((DOCS / "runtime.json").read_text())
    return {r["name"]: r for r in data["rows"]}, data


def test_runtime_table_equals_its_json(runtime) -> None:
    rows, _ = runtime
    checked = 0
    for table in tables((DOCS / "runtime.md").read_text()):
        for row in find(table, "run", "FPS"):
            ours = rows[col(row, "run")]
            assert same(col(row, "FPS"), ours["summary"]["fps"]), row
            assert col(row, "command") == ours["command"]
            for stage, cell in row.items():
                if stage in ours["summary"]["stages_ms"]:
                    assert same(cell, ours["summary"]["stages_ms"][stage]["p50"]), (row, stage)
            checked += 1
    assert checked == len(rows)  # every measured row is shown, every shown row measured


def test_readme_edge_run_fps_is_its_main_command_measured(runtime) -> None:
    rows, data = runtime
    readme = (ROOT / "README.md").read_text()
    main = rows["main"]
    # the figure is that of the command README tells users to run
    assert "edge-run --demo --frames 300 --output demo.mp4" in readme
    assert main["command"] == "edge-run --demo --frames 300 --output demo.mp4"
    m = re.search(r"runs\s+at\s+\*\*([\d.]+)\s+FPS\*\*", readme)
    assert m and same(m.group(1), main["summary"]["fps"])
    m = re.search(r"without\s+the\s+mp4:\s+([\d.]+)\s+FPS\s+FP32\s+/\s+([\d.]+)\s+FPS\s+INT8",
                  readme)
    assert m and same(m.group(1), rows["480 fp32"]["summary"]["fps"])
    assert same(m.group(2), rows["480 int8"]["summary"]["fps"])
    assert data["machine"]["cpu"].split("(")[0].split()[0] in readme  # the machine is named


# ------------------------------------------------------------------ the demo model

DEMO_COLUMNS = {"AP@0.50": "AP50", "AP@[.50:.95]": "AP", "AP75": "AP75",
                "AP small@.5": "APs_50", "AP medium@.5": "APm_50", "AP large@.5": "APl_50",
                "AR@1": "AR1_50", "AR@10": "AR10_50", "AR@100": "AR100_50",
                "AR@100 (.5)": "AR100_50"}


def demo_doc() -> str:
    return (DOCS / "demo-model.md").read_text()


def test_demo_accuracy_table_equals_the_shipped_eval_json() -> None:
    metrics = json.loads((ROOT / "edge/demo/ssd-isb-demo-eval.json").read_text())
    checked = 0
    for table in tables(demo_doc()):
        for row in table:
            iou = {"mask": "segm", "box": "bbox"}.get(next(iter(row.values())))
            if iou is None or "AP@0.50" not in row:
                continue
            for name, key in DEMO_COLUMNS.items():
                if name in row:
                    assert same(row[name], metrics[iou][key]), (iou, name)
                    checked += 1
    assert checked >= 18


def test_demo_export_precision_table_equals_its_eval_json() -> None:
    metrics = json.loads((DOCS / "demo-export-eval.json").read_text())["by_precision"]
    checked = 0
    for table in tables(demo_doc()):
        for row in find(table, "precision", "AP@0.50"):
            prec = col(row, "precision").split()[0].lower()
            segm = metrics[prec]["segm"]
            for name, key in DEMO_COLUMNS.items():
                if name in row:
                    assert same(row[name], segm[key]), (prec, name)
                    checked += 1
    assert checked >= 10


def test_demo_gate_and_calibration_recipe_equal_the_shipped_manifest() -> None:
    manifest = json.loads((ROOT / "edge/demo/export/manifest.json").read_text())
    gate = manifest["calibration"]["gate"]
    m = re.search(r"FP32\s+([\d.]+)\s+->\s+INT8\s+([\d.]+)\s+points\s+of\s+mask\s+AP@0.50",
                  demo_doc())
    assert m and same(m.group(1), gate["fp32"]) and same(m.group(2), gate["attempts"][-1]["metric"])
    # one recipe: tools/package_demo.sh; the docs and calibration/synth-demo.json repeat it
    script = (ROOT / "tools/package_demo.sh").read_text()
    calib = re.search(r"--out \"\$WORK/calib\" --images (\d+) --size (\d+) (\d+) --seed (\d+)",
                      script)
    hold = re.search(r"--out \"\$WORK/holdout\" --images (\d+) --size (\d+) (\d+) --seed (\d+)",
                     script)
    assert calib and hold
    n, h, w, seed = calib.groups()
    recipe = f"--images {n} --size {h} {w} --seed {seed}"
    assert recipe in demo_doc() and recipe in (ROOT / "calibration/README.md").read_text()
    assert f"--images {hold.group(1)} --size {hold.group(2)} {hold.group(3)} --seed " \
           f"{hold.group(4)}" in demo_doc()
    synth = json.loads((ROOT / "calibration/synth-demo.json").read_text())
    for key in ("count", "seed", "rule", "preprocessing_hash", "kind"):
        assert synth[key] == manifest["calibration"]["set"][key], key
    assert synth["count"] == int(n)
    # no other calibration or hold-out recipe for the demo anywhere in the docs
    for doc in [ROOT / "README.md", *DOCS.glob("*.md")]:
        text = doc.read_text()
        assert "--seed 11" not in text and "--seed 31337" not in text, doc


def test_demo_onnx_latency_table_equals_its_json() -> None:
    data = json.loads((DOCS / "demo-onnx.json").read_text())
    p50 = {r["precision"]: {g: v["p50"] for g, v in r["stages_ms"].items()} for r in data["rows"]}
    rows = [r for t in tables(demo_doc()) for r in find(t, "graph", "FP32 ms", "INT8 ms")]
    listed = set()
    for row in rows:
        label = col(row, "graph")
        m = re.match(r"branch (\d+x\d+) ", label)
        graph = ("detector" if label.startswith("detector")
                 else f"branch_{m.group(1)}r" if m else None)
        if graph is not None:
            listed.add(graph)
            f, i = p50["fp32"][graph], p50["int8"][graph]
            assert same(col(row, "FP32 ms"), f) and same(col(row, "INT8 ms"), i), row
            assert same(col(row, "speed-up"), f / i), row
    for row in rows:
        if col(row, "graph").startswith("branches"):  # a range over the graphs not listed
            rest = [g for g in p50["fp32"] if g.startswith("branch_") and g not in listed]
            for prec, name in (("fp32", "FP32 ms"), ("int8", "INT8 ms")):
                lo, hi = col(row, name).split(" - ")
                vals = [p50[prec][g] for g in rest]
                assert same(lo, min(vals)) and same(hi, max(vals)), row
            lo, hi = col(row, "speed-up").split(" - ")
            ratios = [p50["fp32"][g] / p50["int8"][g] for g in rest]
            assert same(lo, min(ratios)) and same(hi, max(ratios)), row
    assert len(listed) >= 3


# ------------------------------------------------------------------ seeds 000 and 002


def _seed2_slug(prefix: str, row: str) -> str:
    keep = "".join(c if c.isalnum() else "-" for c in row.lower())
    return f"{prefix}-" + "-".join(p for p in keep.split("-") if p)[:60]


def test_seed000_002_tables_equal_their_json() -> None:
    """docs/seeds-000-002.md <- docs/seeds/000-002-results.json and bench-000-002.json."""
    runs = json.loads((DOCS / "seeds" / "000-002-results.json").read_text())["runs"]
    bench = json.loads((DOCS / "seeds" / "bench-000-002.json").read_text())["rows"]
    found = tables((DOCS / "seeds-000-002.md").read_text())
    checked = 0
    for table in found:
        for row in find(table, "configuration", "macro F1"):
            m = runs[_seed2_slug("000", col(row, "configuration"))]["metrics"]["fashion-test"]
            for name, key in (("pixel accuracy", "pixel_accuracy"),
                              ("macro precision", "macro_precision"),
                              ("macro recall", "macro_recall"), ("macro F1", "macro_f1"),
                              ("mIoU", "mIoU")):
                assert same(col(row, name), m[key], 100), (row, name)
                checked += 1
    splits = iter(("voc-val", "voc-val-occluded"))
    for table in found:
        rows = find(table, "auxiliary loss")
        if not rows:
            continue
        split = next(splits)
        for row in rows:
            for w, cell in row.items():
                if w == "auxiliary loss" or cell == "-":
                    continue
                run = runs[_seed2_slug("002", f"{col(row, 'auxiliary loss')} {w}")]
                assert same(cell, run["metrics"][split]["mIoU"], 100), (row, w)
                checked += 1
    for table in found:
        for row in find(table, "model", "precision", "FPS"):
            (ours,) = [r for r in bench if r["config"] == col(row, "model")
                       and r["precision"] == col(row, "precision") and r.get("peer") is None]
            assert same(col(row, "FPS"), ours["fps"]) and same(col(row, "GMAC"),
                                                               ours["gmacs"]), row
            checked += 1
    assert checked >= 60  # Table 5 (3 rows x 5), Table 3.1 twice (2 x 24), the bench rows


# ------------------------------------------------------------------ real footage


def test_real_footage_table_equals_its_json() -> None:
    """docs/real-footage.md <- docs/footage/footage-{before,after}*.json (edge-bench footage
    through tools/real_footage_eval.sh): every row's people, found, recall, false detections
    per frame and mask IoU, for each model and precision printed."""
    runs = {}
    for path in sorted((DOCS / "footage").glob("footage-*.json")):
        stem = path.stem.removeprefix("footage-")  # before, after, after-int8
        runs[stem] = {c["video"]: c for c in json.loads(path.read_text())["clips"]}
    assert {"before", "after"} <= set(runs)
    rows = [r for t in tables((DOCS / "real-footage.md").read_text())
            for r in find(t, "clip", "model", "visible", "found", "recall", "false/frame")]
    assert rows
    seen = set()
    for r in rows:
        clip = runs[col(r, "model")][col(r, "clip")]
        assert int(col(r, "visible")) == clip["people_visible"], r
        assert int(col(r, "found")) == clip["people_found"], r
        assert same(col(r, "recall"), clip["recall"], 100), r
        assert same(col(r, "false/frame"), clip["false_per_frame"]), r
        assert int(col(r, "frames")) == clip["frames_evaluated"], r
        iou = col(r, "mask IoU")
        assert (iou == "-") == (clip["mask_iou_mean"] is None), r
        if iou != "-":
            assert same(iou, clip["mask_iou_mean"]), r
        seen.add((col(r, "model"), col(r, "clip")))
    # every clip of every run is in the table
    assert seen == {(m, v) for m, clips in runs.items() for v in clips}


def test_real_footage_operating_curve_equals_its_json() -> None:
    """docs/real-footage.md's operating curve <- docs/footage/operating-points-*.json
    (tools/footage_operating_points.py), and those JSONs re-derive from the footage
    results they were computed from (same matching as edge-bench footage)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "footage_operating_points", ROOT / "tools" / "footage_operating_points.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    from edge.evaluate import footage as fe

    refs = {r.video: r for r in (fe.load_reference(p) for p in
                                 sorted((DOCS / "footage").glob("*.ref.json")))}
    curves = {}
    for path in sorted((DOCS / "footage").glob("operating-points-*.json")):
        stem = path.stem.removeprefix("operating-points-")
        saved = json.loads(path.read_text())["clips"]
        again = tool.analyse(tool.clip_rows(DOCS / "footage" / f"footage-{stem}.json"),
                             {v: refs[v] for v in (c["video"] for c in saved)}, None)
        assert json.loads(json.dumps(again)) == saved, stem
        curves[stem] = {c["video"]: c for c in saved}
    assert {"before", "after", "stage2-t1.0"} <= set(curves)
    rows = [r for t in tables((DOCS / "real-footage.md").read_text())
            for r in find(t, "model", "score threshold", "recall", "false/frame")]
    assert len(rows) >= 15
    for r in rows:
        points = {round(p["score_threshold"], 2): p
                  for p in curves[col(r, "model")]["vtest.avi"]["operating_points"]}
        p = points[round(float(col(r, "score threshold")), 2)]
        assert same(col(r, "recall"), p["recall"], 100), r
        assert same(col(r, "false/frame"), p["false_per_frame"]), r


def test_soak_figures_equal_their_json() -> None:
    """docs/runtime.md's soak paragraph <- docs/soak.json (edge-bench soak --frames 30000
    --threads 2 --json docs/soak.json --plot docs/images/soak.png), and that run met the
    issue's goal: less than 5 MB of RSS growth per 20,000 frames, no fd or thread growth."""
    import re

    d = json.loads((DOCS / "soak.json").read_text())
    r = d["result"]
    assert d["command"] == ("edge-bench soak --frames 30000 --threads 2 --json docs/soak.json "
                            "--plot docs/images/soak.png")
    assert r["ok"] and r["rss_projected_mb"] < 5 and d["frames"] == 30000
    text = (DOCS / "runtime.md").read_text()
    para = text[text.index("Measured with that command"):]
    para = " ".join(para[:para.index("\n\n")].split())
    fitted = [w for w in d["windows"] if w["window"] >= d["limits"]["warmup_windows"]]
    expect = {
        "grew": f"{r['rss_growth_mb']:+.2f} MB",
        "slope": f"{r['rss_slope_mb_per_10k']:+.2f} MB per 10,000 frames",
        "raw": f"raw RSS {r['rss_raw_slope_mb_per_10k']:+.2f}",
        "projected": f"{r['rss_projected_mb']:+.2f} MB per 20,000 frames",
        "hwm": f"{r['hwm_mb']:.1f} MB",
        "fds": f"open descriptors {r['fds'][0]} -> {r['fds'][1]}",
        "threads": f"threads {r['threads'][0]} -> {r['threads'][1]}",
        "range": f"from {min(w['fps'] for w in fitted):.1f} to "
                 f"{max(w['fps'] for w in fitted):.1f} FPS",
        "drift": f"{r['fps_drift_pct']:+.1f}%",
        "p99": f"p99 {r['p99_first_ms']:.1f} -> {r['p99_last_ms']:.1f} ms",
    }
    for what, figure in expect.items():
        assert figure in para, (what, figure)
    assert re.search(rf"over {d['frames']:,} frames", para)
