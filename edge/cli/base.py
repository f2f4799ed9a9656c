"""What every edge-seg CLI shares: ``-v``, ``--version``, logging and exit codes.

Exit codes: 0 success; 1 an unexpected internal error (a bug: traceback shown);
2 bad input or environment (:class:`EdgeError`: one line, traceback only with ``-v``,
and argparse usage errors); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from edge import __version__
from edge.errors import EdgeError

log = logging.getLogger("edge")

Handler = Callable[[argparse.Namespace], int]


class OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line, like every other refusal (``edge-run: error: argument
    --frames: invalid int value: 'x' (see edge-run --help)``), exit 2; ``--help`` keeps
    the full usage. Subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def make_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = OneLineParser(prog=prog, description=description,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug); show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse ``argv``, call the chosen command's handler and map failures to exit codes."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or usage error (2)
        return int(exc.code or 0)
    configure_logging(args.verbose)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except EdgeError as exc:
        if args.verbose:
            log.exception("%s failed", parser.prog)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (`edge-build models --json | head -1`): not an
        # error of ours. Point stdout at devnull so the interpreter's final flush is quiet.
        _silence_stdout()
        return 0
    except Exception:  # a bug, not bad input: keep the traceback for the report
        log.exception("%s: internal error (please report it with this traceback)", parser.prog)
        return 1



def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (a test's capture)
        pass


PRECISIONS = ("fp32", "fp16", "int8")


def parse_precisions(text: str) -> list[str]:
    """``--precision fp32,int8`` -> ``["fp32", "int8"]``; anything else is a ConfigError."""
    from edge.errors import ConfigError

    precisions = [p.strip() for p in text.split(",") if p.strip()]
    if not precisions or any(p not in PRECISIONS for p in precisions):
        raise ConfigError(f"--precision takes fp32, fp16, int8 or a comma list, got {text!r}")
    return precisions


def add_input_size(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), help=help_text)
