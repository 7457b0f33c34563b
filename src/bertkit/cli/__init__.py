"""The `bertkit` command line: one module per group of subcommands, each with `register()`.

Expected mistakes (a BertkitError) print one line on stderr and exit with status 2; the CLI
owns all printing and exit codes, library code only logs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
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
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except BertkitError as error:
        print(f"bertkit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bertkit: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
