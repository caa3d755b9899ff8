"""pygit2, imported on first use.

pygit2 costs ~60 ms to import: commands that never open a repository through it
(`gitrack hash`, `--help`, most hooks' fast paths) should not pay for it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gitrack.errors import GitrackError


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

__all__ = [
    "OBJECT_ID",
    "CheckoutStrategy",
    "DiffOption",
    "FileMode",
    "FileStatus",
    "pygit2",
    "reading_the_index",
    "skip_worktree",
]

OBJECT_ID = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z").match


# libgit2's GIT_INDEX_ENTRY_SKIP_WORKTREE, in an entry's extended flags.
_SKIP_WORKTREE = 1 << 14


def skip_worktree(index: pygit2.Index, path: str) -> bool:
    """Is ``path`` marked skip-worktree in ``index`` (outside a sparse checkout's cone, or
    `git update-index --skip-worktree`)? git then ignores the working file, present or not.

    pygit2's IndexEntry drops the flags, so this reads libgit2's entry directly.
    """
    from pygit2.ffi import C, ffi

    entry = C.git_index_get_bypath(index._index, os.fsencode(path), 0)
    return entry != ffi.NULL and bool(entry.flags_extended & _SKIP_WORKTREE)


@contextlib.contextmanager
def reading_the_index() -> Iterator[None]:
    """libgit2 cannot read a sparse index (`index.sparse`): say so, and how to turn it off."""
    try:
        yield
    except pygit2.GitError as exc:
        if "sdir" not in str(exc):
            raise
        raise GitrackError(
            "this sparse checkout uses a sparse index, which gitrack cannot read; turn it off "
            "(git sparse-checkout init --no-sparse-index) and try again"
        ) from exc


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
