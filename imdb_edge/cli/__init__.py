"""``imdb-edge``: score reviews from the command line.

Exit codes: 0 ok, 2 usage error (with the sub-command's usage), 1 any other failure (one line
on stderr; ``--traceback`` shows the whole story). Nothing heavier than argparse is imported
before it is needed, so ``--help`` and ``--version`` answer at once even where importing
onnxruntime takes seconds.

The commands live in :mod:`imdb_edge.cli._main` (parser and dispatch), ``_score`` (reading
input and writing scores) and ``_evaluate``; ``imdb-edge bench`` is :mod:`imdb_edge.bench`.
"""

from __future__ import annotations

import sys

from ._main import EPILOG, run

__all__ = ["EPILOG", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run ``imdb-edge`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:   # its own options and --help; see imdb_edge.bench
        from ..bench import main as bench_main

        return bench_main(argv[1:])
    return run(argv)
