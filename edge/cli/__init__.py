"""Command-line entry points: ``edge-build``, ``edge-run``, ``edge-bench``.

Each ``main(argv=None) -> int`` parses with argparse and leaves heavy imports to the
command that needs them, so ``--help`` works with none of the optional extras.
"""
