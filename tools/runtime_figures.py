"""Measure the edge-run rows of docs/runtime.md and README's headline FPS; write docs/runtime.json.

Each row is one real `edge-run` command with `--summary`; the JSON keeps the command, the
machine and the whole summary, and tests/test_docs_figures.py checks the docs against it.
Usage: python3 tools/runtime_figures.py [--out docs/runtime.json] [--frames 300]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def machine() -> dict:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version()}


def rows(frames: int) -> list[tuple[str, str, list[str]]]:
    n = str(frames)
    return [
        *((f"480 {p}", "headless",
           ["edge-run", "--demo", "--headless", "--frames", n, "--precision", p])
          for p in ("fp32", "int8")),
        # README's main job exactly as README shows it (fp32, the mp4 written).
        ("main", "README", ["edge-run", "--demo", "--frames", n, "--output", "demo.mp4"]),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/runtime.json")
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()
    out = {"machine": machine(), "date": datetime.date.today().isoformat(),
           "load_average_before": list(os.getloadavg()), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, kind, cmd in rows(args.frames):
            summary = Path(tmp) / "summary.json"
            shown = " ".join(shlex.quote(c) for c in cmd)
            print(f"runtime_figures: {shown}", file=sys.stderr)
            env = dict(os.environ)
            env.pop("DISPLAY", None)  # headless, as on the machines that produce the docs
            subprocess.run([*cmd, "--summary", str(summary)], check=True, env=env, cwd=tmp,
                           stdout=subprocess.DEVNULL)  # in tmp: demo.mp4 lands there
            s = json.loads(summary.read_text())
            out["rows"].append({"name": name, "kind": kind, "command": shown, "summary": s})
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
