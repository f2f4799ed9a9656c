#!/usr/bin/env python3
"""Operating curve and same-place false detections of an ``edge-bench footage`` result.

Why: ``edge-bench footage`` scores one ``--score-threshold``; choosing a threshold, or
seeing whether false detections are noise or scenery the model takes for a person (on a
static camera the same post fires frame after frame), needs the curve and the groups. A
clip row keeps every detection at or above its threshold with its score, so both are
re-matched here from the JSON, with the evaluator's own matching, without the model.

usage: tools/footage_operating_points.py FOOTAGE.json --reference REF.json [...]
       [--thresholds 0.3 0.4 0.5] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge import atomic  # noqa: E402
from edge.errors import EdgeError, ModelFileError  # noqa: E402
from edge.evaluate import footage as fe  # noqa: E402

log = logging.getLogger("footage_operating_points")


def clip_rows(path: Path) -> list[dict]:
    """The clip rows of an ``edge-bench footage --json`` file (refused in one line if not)."""
    try:
        data = json.loads(path.read_text())
        rows = data["clips"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) and "per_frame" in r
                                                 for r in rows):
            raise TypeError("clips without per_frame records")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: not an edge-bench footage --json result ({exc}); "
                             f"write one with edge-bench footage ... --json FILE") from None
    return rows


def analyse(rows: list[dict], references: dict[str, fe.Reference],
            thresholds: list[float] | None) -> list[dict]:
    """Per clip with a reference: its operating points and same-place false groups."""
    out = []
    for row in rows:
        ref = references.get(row["video"])
        if ref is None:
            log.info("%s: no --reference for it, skipped", row["video"])
            continue
        run = float(row["score_threshold"])
        grid = thresholds if thresholds else fe.threshold_grid(run)
        iou = float(row["iou_threshold"])
        points = fe.operating_points(row["per_frame"], ref.frames, grid, iou, run)
        groups = fe.persistent_false(row["per_frame"], ref.frames, iou)
        false = sum(g["count"] for g in groups)
        out.append({"video": row["video"], "model_ref": row.get("model_ref"),
                    "run_score_threshold": run, "iou_threshold": iou,
                    "frames_evaluated": len(row["per_frame"]), "operating_points": points,
                    "false_detections": false,
                    "persistent_false": groups[:fe.PERSISTENT_SHOWN],
                    "false_in_top_groups": sum(g["count"]
                                               for g in groups[:fe.PERSISTENT_SHOWN])})
    return out


def report(results: list[dict]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r['video']} ({r['model_ref']}, {r['frames_evaluated']} frames)")
        lines.append("  score  recall  false/frame")
        for p in r["operating_points"]:
            rec = "   -  " if p["recall"] is None else f"{p['recall']:6.1%}"
            lines.append(f"  {p['score_threshold']:5.2f}  {rec}  {p['false_per_frame']:6.2f}")
        lines.append(f"  false detections: {r['false_detections']}, of them "
                     f"{r['false_in_top_groups']} in the {len(r['persistent_false'])} "
                     f"largest same-place groups:")
        for g in r["persistent_false"]:
            lines.append(f"    box {g['box']}: {g['count']} times "
                         f"({g['share_of_frames']:.0%} of frames), mean score "
                         f"{g['mean_score']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("footage", type=Path, help="an edge-bench footage --json result")
    p.add_argument("--reference", type=Path, action="append", required=True, metavar="REF",
                   help="a footage reference (.ref.json); matched to clips by its video name")
    p.add_argument("--thresholds", type=float, nargs="+", metavar="T",
                   help="score thresholds (default: the run's own up to 0.9 in steps of 0.05)")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        refs = {}
        for path in args.reference:
            ref = fe.load_reference(path)
            refs[ref.video] = ref
        results = analyse(clip_rows(args.footage), refs, args.thresholds)
        if not results:
            raise EdgeError(f"{args.footage}: no clip matches a --reference video name "
                            f"({sorted(refs)})")
    except EdgeError as exc:
        print(f"footage_operating_points: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(report(results))
    if args.json:
        atomic.write_text(args.json, json.dumps({"command": " ".join(
            ["tools/footage_operating_points.py", *(argv if argv is not None else sys.argv[1:])]),
            "clips": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
