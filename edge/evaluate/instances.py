"""Instance-segmentation metrics with pycocotools (COCOeval is not re-implemented).

Two evaluations per IoU type (``segm`` masks, ``bbox`` boxes): COCO's standard one
(AP@[.50:.95], AP50, AP75, small/medium/large, AR@1/10/100) and the thesis's, all at IoU
0.50 (Tables 5.2-5.8: AP, AP small/medium/large, AR@1/10/100, AR small/medium/large),
whose keys end in ``_50``. Values are fractions in 0..1; -1 where undefined (no ground
truth of that size).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from edge.data.coco import CocoInstances, decode_segmentation, encode_rle
from edge.optional import require

STANDARD_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs",
                 "ARm", "ARl")
THESIS_KEYS = ("AP_50", "APs_50", "APm_50", "APl_50", "AR1_50", "AR10_50", "AR100_50",
               "ARs_50", "ARm_50", "ARl_50")


def predictions_to_results(pipeline, reader: CocoInstances, progress: bool = True
                           ) -> list[dict[str, Any]]:
    """Run ``pipeline`` on every image of ``reader`` -> COCO results (RLE masks).

    Detections without a mask (a Single-Shape box no branch takes) keep their box and
    an empty mask, so ``bbox`` metrics count them and ``segm`` metrics score them as misses.
    """
    from tqdm import tqdm

    results: list[dict[str, Any]] = []
    for index in tqdm(range(len(reader)), desc="eval", unit="img",
                      disable=None if progress else True):  # None: a bar only on a terminal
        image_id = reader.images[index]["id"]
        res = pipeline(reader.load_image(index))
        for i in range(len(res)):
            mask = res.mask(i)
            if mask is None:
                mask = np.zeros(res.frame_hw, bool)
            x1, y1, x2, y2 = (float(v) for v in res.boxes[i])
            results.append({"image_id": image_id,
                            "category_id": reader.class_to_cat[int(res.classes[i])],
                            "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2),
                                     round(y2 - y1, 2)],
                            "score": round(float(res.scores[i]), 5),
                            "segmentation": encode_rle(mask)})
    return results


def coco_metrics(reader: CocoInstances, results: list[dict[str, Any]]) -> dict[str, Any]:
    """COCOeval of ``results`` against ``reader``'s annotations, for segm and bbox."""
    coco_mod = require("pycocotools.coco", "COCO evaluation")
    cocoeval_mod = require("pycocotools.cocoeval", "COCO evaluation")
    gt = coco_mod.COCO()
    data = copy.deepcopy(reader.raw)
    sizes = {im["id"]: (im["height"], im["width"]) for im in data["images"]}
    for i, ann in enumerate(data["annotations"]):  # COCOeval needs id, iscrowd, area, bbox
        ann.setdefault("iscrowd", 0)
        ann.setdefault("id", i + 1)
        if "area" not in ann or "bbox" not in ann:
            m = decode_segmentation(ann["segmentation"], *sizes[ann["image_id"]],
                                    f"{reader.path}: annotation {ann['id']}")
            ys, xs = np.nonzero(m)
            ann.setdefault("area", float(ys.size))
            ann.setdefault("bbox", [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1),
                                    float(np.ptp(ys) + 1)] if ys.size else [0.0, 0.0, 0.0, 0.0])
    gt.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    cat_ids = sorted(reader.cat_to_class)
    img_ids = [im["id"] for im in reader.images]
    out: dict[str, Any] = {}
    for iou_type in ("segm", "bbox"):
        metrics: dict[str, float] = {}
        if not results:
            out[iou_type] = {k: 0.0 for k in STANDARD_KEYS + THESIS_KEYS}
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            dt = gt.loadRes(copy.deepcopy(results))
            for thresholds, keys in ((None, STANDARD_KEYS), ([0.5], THESIS_KEYS)):
                ev = cocoeval_mod.COCOeval(gt, dt, iou_type)
                ev.params.catIds = cat_ids
                ev.params.imgIds = img_ids
                if thresholds is not None:
                    ev.params.iouThrs = np.array(thresholds)
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
                stats = ev.stats
                if thresholds is None:
                    metrics.update(zip(keys, (float(v) for v in stats)))
                else:  # with one threshold, stats[0] is AP@.5 and 1, 2 (AP50/75) are moot
                    picked = [stats[0], stats[3], stats[4], stats[5], *stats[6:12]]
                    metrics.update(zip(keys, (float(v) for v in picked)))
        out[iou_type] = metrics
    return out


def evaluate_instances(pipeline, reader: CocoInstances, results_path: str | Path | None = None,
                       progress: bool = True) -> dict[str, Any]:
    """Predict, optionally write the COCO results JSON, and compute the metrics."""
    results = predictions_to_results(pipeline, reader, progress)
    if results_path is not None:
        Path(results_path).write_text(json.dumps(results))
    metrics = coco_metrics(reader, results)
    metrics["images"] = len(reader)
    metrics["detections"] = len(results)
    return metrics
