"""What happens on a bug (an exception that is not a GitrackError): pre-commit's way.

The traceback goes to a log file, the user gets one line naming the error and that
file, and the exit status is 3 (1 is a GitrackError, 2 is click's usage error).
"""

from __future__ import annotations

import datetime
import os
import platform
import tempfile
import traceback
from pathlib import Path

CRASH_EXIT = 3
LOG_NAME = "gitrack-crash.log"


def log_folder(cwd: Path) -> Path:
    """The git dir's gitrack folder when inside a repository, else the temp folder."""
    from gitrack.git import find_common_dir

    try:
        common = find_common_dir(cwd)
    except Exception:  # the crash handler itself must not crash
        common = None
    return common / "gitrack" if common is not None else Path(tempfile.gettempdir())


def write_log(exc: BaseException, argv: list[str], cwd: Path | None = None) -> Path | None:
    """Append the traceback with what was run; the log's path, or None if unwritable."""
    from gitrack import __version__

    lines = [
        f"### {datetime.datetime.now(datetime.timezone.utc).isoformat()}",
        f"gitrack {__version__}, Python {platform.python_version()}, {platform.platform()}",
        f"command: gitrack {' '.join(argv)}",
        f"cwd: {os.getcwd()}",
        "",
        *traceback.format_exception(type(exc), exc, exc.__traceback__),
        "",
    ]
    path = log_folder(cwd or Path.cwd()) / LOG_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(line.rstrip("\n") for line in lines) + "\n")
    except OSError:
        return None
    return path


def report(exc: BaseException, argv: list[str]) -> str:
    """The one line a user sees for a bug."""
    path = write_log(exc, argv)
    where = f"the traceback is in {path}" if path else "the traceback could not be saved"
    return (
        f"gitrack: unexpected error: {type(exc).__name__}: {exc} ({where}); "
        "this is a bug in gitrack: please report it with that file"
    )
