"""The ``facecodec`` command: one subcommand per module in ``facecodec.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys

from facecodec import __version__
from facecodec.termination import stop_on_sigterm

COMMANDS: tuple[str, ...] = (
    "encode",
    "decode",
    "inspect",
    "send",
    "receive",
    "call",
    "bench",
)
"""Subcommand modules in facecodec.commands; each has ``add_parser(subparsers)``."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ``only`` one: a command's module imports what
    it runs on (aiortc for calls), and ``decode`` on a GPU server has none of that."""
    parser = argparse.ArgumentParser(prog="facecodec", description=__doc__)
    parser.add_argument("--version", action="version", version=f"facecodec {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS if only is None else (only,):
        importlib.import_module(f"facecodec.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand; user errors exit with status 2, a stop
    (Ctrl-C or SIGTERM) that the command did not handle itself with 130."""
    stop_on_sigterm()
    argv = sys.argv[1:] if argv is None else argv
    only = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"facecodec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # stopped while loading or before the command's own handling
        print(f"facecodec {args.command}: stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
