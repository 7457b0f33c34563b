"""The `bertkit` command line: one module per group of subcommands, each with `register()`.

Expected mistakes (a BertkitError, or an OSError on a file the user named) print one line
on stderr and exit with status 2; the CLI owns all printing and exit codes, library code only
logs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from bertkit.errors import BertkitError

# Each module defines `register(subparsers)`, adding its subcommands with
# `parser.set_defaults(func=...)`; `func(args)` returns an exit code (or None for 0).
COMMAND_MODULES = [
    "bertkit.cli.core",
    "bertkit.cli.tasks",
    "bertkit.cli.quickstart",
    "bertkit.cli.summarize",
    "bertkit.cli.pretrain",
    "bertkit.cli.plot",
    "bertkit.cli.serve",
    "bertkit.cli.seq2seq",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bertkit", description="BERT end to end: pretrain, fine-tune, predict, serve."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    if os.environ.get("RANK", "0") != "0" and not args.verbose:
        level = logging.WARNING  # under torchrun, rank 0 alone reports progress
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except BertkitError as error:
        return _fail(str(error))
    except OSError as error:
        if isinstance(error, BrokenPipeError):  # e.g. `bertkit embed ... | head`
            _silence_stdout()
            return 141
        # Files the user named that cannot be read or written: disk full, no permission, ...
        return _fail(
            f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")
        )
    except KeyboardInterrupt:
        hint = ""
        if getattr(args, "resume", None) is not None and getattr(args, "save_every", None):
            hint = (
                f"; checkpoints are saved every {args.save_every} steps: run the same command "
                "with --resume to continue from the last one (it starts afresh if none was "
                "saved yet)"
            )
        if args.command == "quickstart":
            hint = "; run it again to resume where it stopped"
        print(f"bertkit: interrupted{hint}", file=sys.stderr)
        return 130
    return int(code or 0)


def _fail(message: str) -> int:
    """Print an expected error as one line on stderr; return the exit status 2."""
    print(f"bertkit: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _silence_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the interpreter's flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (e.g. captured in tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
