"""pygit2, imported on first use.

pygit2 costs ~60 ms to import: commands that never open a repository through it
(`gitrack hash`, `--help`, most hooks' fast paths) should not pay for it.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import TYPE_CHECKING, Any


class _LazyModule:
    def __init__(self, name: str, member: str | None = None) -> None:
        self._name = name
        self._member = member

    def __getattr__(self, attr: str) -> Any:
        target: Any = importlib.import_module(self._name)
        if self._member is not None:
            target = getattr(target, self._member)
        value = getattr(target, attr)
        setattr(self, attr, value)  # later lookups skip __getattr__ (hot loops use these)
        return value


if TYPE_CHECKING:
    import pygit2
    from pygit2.enums import CheckoutStrategy, DiffOption, FileMode, FileStatus
else:
    pygit2 = _LazyModule("pygit2")
    CheckoutStrategy = _LazyModule("pygit2.enums", "CheckoutStrategy")
    DiffOption = _LazyModule("pygit2.enums", "DiffOption")
    FileMode = _LazyModule("pygit2.enums", "FileMode")
    FileStatus = _LazyModule("pygit2.enums", "FileStatus")

__all__ = ["OBJECT_ID", "CheckoutStrategy", "DiffOption", "FileMode", "FileStatus", "pygit2"]

OBJECT_ID = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z").match


@functools.cache
def wt_changed() -> Any:
    """Status flags meaning: the working file differs from the index."""
    status = FileStatus
    return (
        status.WT_NEW
        | status.WT_MODIFIED
        | status.WT_DELETED
        | status.WT_TYPECHANGE
        | status.WT_RENAMED
        | status.WT_UNREADABLE
        | status.CONFLICTED
    )
