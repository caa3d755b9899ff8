"""The command line: parse, call one library function, print. Nothing else lives here.

``base`` holds the click group and ``main``; each other module adds its commands to
the group when imported (here, so that ``gitrack.cli.cli`` has them all).
"""

from gitrack.cli import (  # noqa: F401 - registers the commands
    data,
    lifecycle,
    model,
    report,
    repository,
    reuse,
    runs,
)
from gitrack.cli.base import cli, main

__all__ = ["cli", "main"]
