"""Failures another process causes for a moment, told apart from lasting ones.

`git gc` (or `git pack-refs`, `git repack`) running beside gitrack takes refs' lock files,
deletes loose ref files once packed, and packs loose objects: `git prune-packed` then
removes every objects/ab/ folder it empties, so a folder libgit2 has just created for a
new object can vanish before the object is renamed into it ("failed to rename lockfile
… No such file or directory"), and an object can move into a pack between two lookups.
Another writer may hold a ref's lock. Each of these passes: the step is retried. A
lasting failure (permissions, a full disk, an object that is really missing) is raised
at once, as it came.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import TypeVar

from gitrack.errors import GitrackError
from gitrack.git._pygit2 import pygit2
from gitrack.git.cas import TryAgain, is_lasting, retrying

T = TypeVar("T")
WRITE_ATTEMPTS = 8  # an object write that failed for a moment succeeds on the next try
_OBJECT_IDS = re.compile(r"\b(?:[0-9a-f]{64}|[0-9a-f]{40})\b")


class ObjectMissingError(GitrackError):
    """An object gitrack has just written (or must build on) is not in the repository:
    removed by a `git gc` running meanwhile. Writing it again is the fix."""

    def __init__(self, oid: str) -> None:
        super().__init__(
            f"object {oid[:12]} is no longer in the repository (removed by a `git gc` "
            "running meanwhile?); try again"
        )
        self.oid = oid


@contextlib.contextmanager
def transient_failures(
    has_object: Callable[[str], bool], rewrites_objects: bool = False
) -> Iterator[None]:
    """Turn libgit2's passing failures into TryAgain; let lasting ones through.

    "Object not found" passes when the object was packed meanwhile (a lookup that misses
    re-reads the pack list) and, with ``rewrites_objects`` (a compare-and-swap attempt,
    which writes again every object it builds on), when it is really gone.
    """
    try:
        yield
    except (pygit2.GitError, OSError) as exc:
        if is_lasting(str(exc)) or (not rewrites_objects and missing_objects(exc, has_object)):
            raise
        raise TryAgain(str(exc)) from exc


def missing_objects(exc: Exception, has_object: Callable[[str], bool]) -> list[str]:
    """The objects an "object not found" error names that are really not there."""
    if not isinstance(exc, KeyError):
        return []
    return [oid for oid in _OBJECT_IDS.findall(str(exc)) if not has_object(oid)]


def retry_writes(has_object: Callable[[str], bool], where: str, write: Callable[[], T]) -> T:
    """Run ``write`` (object writes only: idempotent, content-addressed) again, a few
    times, when it fails for a moment. An object it builds on that is really gone
    raises ObjectMissingError (the caller may write that object again)."""

    def attempt() -> T:
        try:
            with transient_failures(has_object):
                return write()
        except pygit2.GitError as exc:
            missing = missing_objects(exc, has_object)
            if missing:
                raise ObjectMissingError(missing[0]) from exc
            raise

    def give_up(reason: str) -> Exception:
        return GitrackError(
            f"could not write to the git object database of {where}: {reason} "
            "(is a git gc running? try again)"
        )

    return retrying(attempt, give_up, WRITE_ATTEMPTS)
