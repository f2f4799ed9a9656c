"""The shipped demo model: present, loadable without torch, and accurate on fresh data.

The acceptance figure (mask AP@0.50 >= 0.60 on a synthetic set generated with a seed
never used in training) is checked here on 60 fresh images, and the JSON figure is
checked against pycocotools run directly on the written results file.
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


def test_demo_reaches_the_accuracy_gate(fresh_set, tmp_path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from edge.cli.build import main

    out, res = tmp_path / "eval.json", tmp_path / "results.json"
    assert main(["eval", "--model", "demo", "--data", str(fresh_set), "--json", str(out),
                 "--results", str(res)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["segm"]["AP50"] >= 0.60
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(fresh_set / "annotations.json"))
        ev = COCOeval(gt, gt.loadRes(str(res)), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert metrics["segm"]["AP50"] == pytest.approx(float(ev.stats[1]), abs=1e-12)
    assert metrics["segm"]["AP"] == pytest.approx(float(ev.stats[0]), abs=1e-12)
    assert np.isfinite(metrics["bbox"]["AP50"])
