#!/usr/bin/env python3
"""Fuzz edge-seg's file loaders for longer than CI does.

The same targets as ``tests/test_fuzz_loaders.py`` (``tests/fuzz_targets.py``): export
manifests, engines.json, the description embedded in a graph and on its own, ``.npz``
weights, ``.pt`` checkpoints, calibration-set manifests and COCO files. Every case must end
in a valid load or a one-line EdgeError naming the file; anything else (another exception,
a multi-line message, a hang, a write outside the folder, a pickle that ran code) is a
failure, and its input is saved under --out for reproduction.

  python3 tools/fuzz_loaders.py                          # every target, 2000 cases each
  python3 tools/fuzz_loaders.py --target npz --target pt --examples 20000 --seed 7

Exit codes: 0 no failures, 1 failures (inputs saved), 2 bad arguments or a target that
cannot run here (a missing extra).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from tests.fuzz_targets import TARGETS, Tally, run_case  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", action="append", choices=sorted(TARGETS), metavar="NAME",
                   help=f"fuzz only this target (repeatable); one of {', '.join(TARGETS)}")
    p.add_argument("--examples", type=int, default=2000, metavar="N",
                   help="cases per target (default 2000)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="hypothesis seed (default 0; the same seed replays the same cases)")
    p.add_argument("--out", type=Path, default=Path("fuzz-failures"), metavar="DIR",
                   help="where failing inputs are saved (default ./fuzz-failures)")
    args = p.parse_args(argv)
    if args.examples < 1:
        p.error(f"--examples {args.examples}: give at least 1")
    return args


def fuzz(name: str, examples: int, seed_value: int, out: Path, work: Path) -> Tally:
    target = TARGETS[name]
    ctx = target.prepare(work)
    tally = Tally()

    @seed(seed_value)
    @settings(max_examples=examples, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(data=target.cases(ctx))
    def run(data: bytes) -> None:
        run_case(target, ctx, data, tally, save_to=out)

    run()
    return tally


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the loaders' warnings are expected noise here
    names = args.target or list(TARGETS)
    missing = {n: [m for m in TARGETS[n].needs if importlib.util.find_spec(m) is None]
               for n in names}
    missing = {n: m for n, m in missing.items() if m}
    if missing:
        for n, m in missing.items():
            print(f"fuzz_loaders: target {n} needs {', '.join(m)} (pip install "
                  f"'edge-seg[build]')", file=sys.stderr)
        return 2
    failures = 0
    for name in names:
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as work:
            tally = fuzz(name, args.examples, args.seed, args.out, Path(work))
        failures += len(tally.failures)
        print(f"{name:12s} {tally.summary()} in {time.monotonic() - start:.1f} s", flush=True)
        for line in tally.failures[:10]:
            print(f"  FAIL {line.splitlines()[0]}")
    print(f"total: {failures} failures" + (f"; inputs saved under {args.out}" if failures
                                          else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
