"""The ``samvideo`` command.

Exit status: 0 done; 2 bad input or usage (one line on stderr, no traceback);
1 an unexpected failure; 130 interrupted (outputs closed, run.json says so).

Modules: :mod:`~samvideo.cli.parser` (the arguments), :mod:`~samvideo.cli.track`
(``samvideo track``, file and live), :mod:`~samvideo.cli.batch` (``samvideo batch``),
:mod:`~samvideo.cli.commands` (``weights``, ``eval``, ``ui``),
:mod:`~samvideo.cli.progress` (progress bars and the last lines).
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from collections.abc import Sequence

from samvideo.cli.parser import UsageError, attach_negative_values, build_parser

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    with warnings.catch_warnings():
        if not os.environ.get("SAMVIDEO_DEBUG"):  # library warnings (torch's unpickler...)
            warnings.simplefilter("ignore")  # would break the one-line error contract
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    from samvideo.cli import batch, commands, track

    try:
        argv = sys.argv[1:] if argv is None else argv
        args = build_parser().parse_args(attach_negative_values(argv))
        handler = {"track": track.track, "weights": commands.weights, "eval": commands.evaluate,
                   "ui": commands.ui, "batch": batch.batch}[args.command]
        return handler(args)
    except UsageError as exc:
        return fail(str(exc), EXIT_USAGE)
    except ValueError as exc:
        return fail(f"samvideo: error: {exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        return fail("samvideo: interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # an unexpected failure: one line, details on request
        from samvideo.video import SourceTimeout

        if isinstance(exc, SourceTimeout):  # not a bug: the source stalled; say so plainly
            return fail(f"samvideo: error: {exc}", EXIT_FAILURE)
        if os.environ.get("SAMVIDEO_DEBUG"):
            traceback.print_exc()
        where = "" if os.environ.get("SAMVIDEO_DEBUG") else " (SAMVIDEO_DEBUG=1 for details)"
        return fail(f"samvideo: failed: {type(exc).__name__}: {exc}{where}", EXIT_FAILURE)


def fail(message: str, code: int) -> int:
    """Print the first line of ``message`` on stderr; return ``code``."""
    print(message.splitlines()[0] if message else "samvideo: error", file=sys.stderr)
    return code


__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "UsageError",
           "build_parser", "fail", "main"]
