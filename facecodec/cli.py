"""The ``facecodec`` command: one subcommand per module in ``facecodec.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys

from facecodec import __version__

COMMANDS: tuple[str, ...] = ("encode", "inspect", "send", "receive", "call", "bench")
"""Subcommand modules in facecodec.commands; each has ``add_parser(subparsers)``."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facecodec", description=__doc__)
    parser.add_argument("--version", action="version", version=f"facecodec {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"facecodec.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand; user errors exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"facecodec {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
