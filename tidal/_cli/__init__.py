"""The ``python -m tidal`` command line: one module per subcommand.

Each subcommand module exposes ``add_parser(subparsers)`` and registers a
``handler`` default returning the process exit status.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tidal._cli import demo, dig, get, serve

__all__ = ["main", "build_parser"]

_SUBCOMMANDS = (demo, dig, get, serve)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="python -m tidal",
        description="tidal: an async-native protocol stack for Python.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    arguments = build_parser().parse_args(argv)
    status: int = arguments.handler(arguments)
    return status
