"""The command line: parse, call one library function, print. Nothing else lives here.

``base`` holds the click group and ``main``; each other module adds its commands to
the group when imported. ``main`` imports only the module of the command it runs;
``gitrack.cli.cli`` is the group with every command loaded (for --help, docs and tests).
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitrack.cli.base import cli

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv``; None means this process is the gitrack program
    (the console script, ``python -m gitrack``), which reads ``sys.argv`` and owns the
    process: pygit2 is set up for gitrack alone (``git.claim_process``) and Python's cycle
    collector is off before anything is imported (its passes over every object loaded so
    far cost ~2% of a `gitrack run`; a command is short, or waits on its child, and what it
    leaves is freed as the process ends). A caller of ``main(argv)`` (the tests, a user's
    script) keeps its process as it is."""
    if argv is None:
        gc.disable()
        from gitrack.git import claim_process

        claim_process()
    from gitrack.cli.base import invoke

    return invoke(argv)


def __getattr__(name: str) -> Any:
    if name != "cli":
        raise AttributeError(f"module 'gitrack.cli' has no attribute {name!r}")
    from gitrack.cli.base import cli, load_all_commands

    load_all_commands()
    return cli
