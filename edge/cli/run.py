"""``edge-run``: the streaming runtime on the device.

The capture -> preprocess -> detector -> crops -> parallel ISBs -> paste -> render
pipeline needs exported models, which the export stage produces; until both land,
this command offers only ``--help`` and ``--version`` and says so when run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from edge.cli.base import make_parser, run
from edge.errors import ConfigError


def build_parser():
    return make_parser("edge-run", __doc__ or "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()

    def unavailable(_args: object) -> int:
        raise ConfigError("the streaming runtime is not part of this edge-seg release yet; "
                          "see README.md for what is available")

    parser.set_defaults(handler=unavailable)
    return run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
