"""The command line: parse, call one library function, print. Nothing else lives here.

``base`` holds the click group and ``main``; each other module adds its commands to
the group when imported. ``main`` imports only the module of the command it runs;
``gitrack.cli.cli`` is the group with every command loaded (for --help, docs and tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitrack.cli.base import main

if TYPE_CHECKING:
    from gitrack.cli.base import cli

__all__ = ["cli", "main"]


def __getattr__(name: str) -> Any:
    if name != "cli":
        raise AttributeError(f"module 'gitrack.cli' has no attribute {name!r}")
    from gitrack.cli.base import cli, load_all_commands

    load_all_commands()
    return cli
