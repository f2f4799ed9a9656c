#!/usr/bin/env python3
"""Render a model's predictions on a few images of a COCO-format dataset as one grid.

    python3 tools/render_predictions.py --model demo --data DIR --out docs/images/x.jpg

Masks are blended in per-instance colours (the instance map, so overlaps are resolved
as the runtime resolves them), boxes and scores drawn. Used for docs/images/.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

COLORS = np.array([(0, 255, 0), (255, 0, 255), (0, 200, 255), (255, 128, 0), (0, 0, 255),
                   (255, 255, 0), (128, 0, 255), (0, 255, 255)], np.uint8)


def render(frame: np.ndarray, result) -> np.ndarray:
    import cv2

    out = frame.copy()
    imap = result.instance_map()
    for k in range(len(result)):
        color = COLORS[k % len(COLORS)]
        m = imap == k + 1
        out[m] = (out[m] * 0.45 + color * 0.55).astype(np.uint8)
        x1, y1, x2, y2 = result.boxes[k].astype(int)
        cv2.rectangle(out, (x1, y1), (x2, y2), tuple(int(c) for c in color), 2)
        cv2.putText(out, f"{result.scores[k]:.2f}", (x1, max(12, y1 - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    import cv2

    from edge.data.sources import open_instances
    from edge.evaluate.runner import load_pipeline

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="demo")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--images", type=int, nargs="+", default=[0, 3, 5, 8])
    p.add_argument("--tile", type=int, default=400)
    args = p.parse_args(argv)
    pipe = load_pipeline(args.model)
    reader = open_instances(args.data, list(pipe.desc.class_names))
    tiles = [cv2.resize(render(reader.load_image(i), pipe(reader.load_image(i))),
                        (args.tile, args.tile)) for i in args.images]
    while len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i : i + 2], 1) for i in range(0, len(tiles), 2)]
    cv2.imwrite(args.out, np.concatenate(rows, 0), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return 0


if __name__ == "__main__":
    sys.exit(main())
