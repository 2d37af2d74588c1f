"""Subcommands of the ``facecodec`` command line, one module each.

Each module defines ``add_parser(subparsers)``, which registers the subcommand and sets
``run=<function taking the parsed args>`` as its default.
"""
