"""The command line: parse, call one library function, print. Nothing else lives here.

``base`` holds the click group and ``main``; each other module adds its commands to
the group when imported (here, so that ``gitrack.cli.cli`` has them all).
"""

from gitrack.cli import lifecycle, repository, reuse, runs  # noqa: F401 - registers the commands
from gitrack.cli.base import cli, main

__all__ = ["cli", "main"]
