"""The shipped demo model: present, loadable without torch, and accurate on fresh data.

The acceptance figure (mask AP@0.50 >= 0.60 on a synthetic set generated with a seed
never used in training) is checked here on 60 fresh images, and the JSON figure is
checked against an independent AP@0.50 computed here from the written results file.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from edge.train.checkpoint import DEMO_PATH, read_description

pytest.importorskip("torch")
pytest.importorskip("cv2")
pytest.importorskip("pycocotools")


def test_demo_ships_with_its_description() -> None:
    assert DEMO_PATH.is_file()
    assert DEMO_PATH.stat().st_size < 8 * 2**20
    desc = read_description("demo")
    assert desc.name == "ssd-isb-multi-shape" and desc.class_names == ("person",)


@pytest.fixture(scope="module")
def fresh_set(tmp_path_factory):
    from edge.data.synth import write_dataset

    root = tmp_path_factory.mktemp("fresh")
    write_dataset(str(root), 60, (640, 640), seed=987_654, workers=2, progress=False)
    return root


def _bbox(m: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(m.any(1))[0], np.nonzero(m.any(0))[0]
    return None if not len(ys) else (ys[0], ys[-1] + 1, xs[0], xs[-1] + 1)


def _iou(d, g, crowd: bool) -> float:
    """Mask IoU on the boxes' overlap only; a crowd region counts intersection / det area."""
    (dm, db, da), (gm, gb, ga) = d, g
    if db is None or gb is None:
        return 0.0
    y0, y1, x0, x1 = max(db[0], gb[0]), min(db[1], gb[1]), max(db[2], gb[2]), min(db[3], gb[3])
    if y0 >= y1 or x0 >= x1:
        return 0.0
    inter = float(np.count_nonzero(dm[y0:y1, x0:x1] & gm[y0:y1, x0:x1]))
    union = da if crowd else da + ga - inter
    return inter / union if union > 0 else 0.0


def independent_mask_ap50(annotations: dict, results: list[dict]) -> float:
    """COCO mask AP at IoU 0.50 (one class, all areas, 100 detections per image, crowd
    regions ignored, 101-point interpolation) written from the COCO definition with
    edge.rle's decoder: an oracle that shares no code with pycocotools or edge.evaluate."""
    from edge import rle

    def prep(seg):
        m = rle.decode(seg).astype(bool)
        return m, _bbox(m), float(np.count_nonzero(m))

    gts: dict[int, list] = {im["id"]: [] for im in annotations["images"]}
    for a in annotations["annotations"]:
        gts[a["image_id"]].append((bool(a["iscrowd"]), prep(a["segmentation"])))
    dts: dict[int, list] = {i: [] for i in gts}
    for r in results:
        dts[r["image_id"]].append(r)
    scores, matched, ignored, n_gt = [], [], [], 0
    for img in sorted(gts):
        gt = sorted(gts[img], key=lambda g: g[0])  # crowd regions last (stable)
        n_gt += sum(not crowd for crowd, _ in gt)
        order = np.argsort([-r["score"] for r in dts[img]], kind="mergesort")[:100]
        taken = [False] * len(gt)
        for r in (dts[img][i] for i in order):
            d = prep(r["segmentation"])
            best, m = 0.5 - 1e-12, -1
            for j, (crowd, g) in enumerate(gt):
                if taken[j] and not crowd:
                    continue
                if m > -1 and not gt[m][0] and crowd:
                    break
                iou = _iou(d, g, crowd)
                if iou >= best:
                    best, m = iou, j
            if m > -1:
                taken[m] = True
            scores.append(r["score"])
            matched.append(m > -1)
            ignored.append(m > -1 and gt[m][0])
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    tp = np.asarray(matched)[order] & ~np.asarray(ignored)[order]
    fp = ~np.asarray(matched)[order] & ~np.asarray(ignored)[order]
    tps, fps = np.cumsum(tp, dtype=float), np.cumsum(fp, dtype=float)
    recall = tps / n_gt
    precision = tps / np.maximum(tps + fps, np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the envelope
    idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
    return float(np.mean([precision[i] if i < len(precision) else 0.0 for i in idx]))


def test_demo_reaches_the_accuracy_gate(fresh_set, tmp_path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from edge.cli.build import main

    out, res = tmp_path / "eval.json", tmp_path / "results.json"
    assert main(["eval", "--model", "demo", "--data", str(fresh_set), "--json", str(out),
                 "--results", str(res)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["segm"]["AP50"] >= 0.60
    # the figure against an oracle that shares no code with the evaluation
    ours = independent_mask_ap50(json.loads((fresh_set / "annotations.json").read_text()),
                                 json.loads(res.read_text()))
    assert metrics["segm"]["AP50"] == pytest.approx(ours, abs=1e-6)
    # and --json is what pycocotools makes of the --results file
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(fresh_set / "annotations.json"))
        ev = COCOeval(gt, gt.loadRes(str(res)), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert metrics["segm"]["AP"] == pytest.approx(float(ev.stats[0]), abs=1e-12)
    assert metrics["bbox"]["AP50"] > metrics["segm"]["AP50"]  # boxes are the easier task here
