"""The ``hwsim`` command line: one module per command, each a thin parse -> call -> print.

The error contract lives here: any :class:`~hwsim.errors.HwsimError` (bad input), an unwritable
output, a full disk or too little memory prints one line ``hwsim: error: <what> (<what is
allowed>)`` on stderr and exits with code 2; an interruption exits 130.  A traceback is shown only
with ``--debug``.  Standard output carries only the output a command was asked for.
"""

from __future__ import annotations

import errno
import signal
import sys

from hwsim.errors import HwsimError

from . import calibrate, codesign, lut, pareto, pipeline, problem, quantize, search, sensitivity, simulate, sweep
from .common import Parser

COMMANDS = (simulate, lut, calibrate, sweep, quantize, sensitivity, problem, search, pareto, pipeline, codesign)
INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug, not bad input


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every ``finally`` runs (workers stopped, no half-written file)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def build_parser() -> Parser:
    """The argument parser with every subcommand."""
    from hwsim import __version__

    parser = Parser(prog="hwsim", description="Hardware-in-the-loop quantization co-design toolkit.")
    parser.add_argument("--version", action="version", version=f"hwsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hwsim`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (an embedding program): leave its signals alone
        previous = None
    try:
        args = build_parser().parse_args(argv)
        for flag in ("output", "out", "cache_dir"):
            if getattr(args, flag, None) == "":
                name = "-o/--output" if flag == "output" else f"--{flag.replace('_', '-')}"
                raise HwsimError(f"{name} is empty; allowed: a path (or leave the option out)")
        return args.run(args)
    except Terminated:
        print("hwsim: terminated (SIGTERM); finished results are kept, rerun the same command to resume",
              file=sys.stderr)
        return 143
    except HwsimError as exc:
        if debug:
            raise
        print(f"hwsim: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwsim: interrupted; finished results are kept, rerun the same command to resume", file=sys.stderr)
        return 130
    except MemoryError:
        if debug:
            raise
        print("hwsim: error: out of memory (allowed: a run within the machine's memory; shrink the model, batch or "
              "data)", file=sys.stderr)
        return 2
    except OSError as exc:
        if debug:
            raise
        what = "no space left on the device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"hwsim: error: {where}{_one_line(what)} (allowed: readable inputs and a writable output location)",
              file=sys.stderr)
        return 2
    except SystemExit:
        raise
    except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
        if debug:
            raise
        print(f"hwsim: error: internal error {type(exc).__name__}: {_one_line(exc)[:300]} (a bug in hwsim; rerun "
              f"with --debug for the traceback and report it)", file=sys.stderr)
        return INTERNAL_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
