"""The refs gitrack owns, and how every one of them moves: compare-and-swap.

Everything a run needs is reachable from NOTES_REF and PINS_REF.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gitrack.errors import ConcurrentUpdateError, GitCommandError, GitrackError
from gitrack.git._pygit2 import pygit2
from gitrack.git.cas import TryAgain, is_lasting, retrying
from gitrack.git.transient import ObjectMissingError, transient_failures

if TYPE_CHECKING:
    from gitrack.git.repo import Repo

NOTES_REF = "refs/notes/gitrack"  # note on a commit = its runs, one JSON line each
PINS_REF = "refs/gitrack/pins"  # history of pin commits keeping snapshots alive
DISPLAY_REF = "refs/notes/runs"  # derived from NOTES_REF: one readable line per run, for git log
# A ref's lock is held for milliseconds by a live writer: one this old was left behind by
# a git or gitrack that crashed (or is stopped) while updating the ref.
STALE_LOCK_SECONDS = 10


class StaleLockError(GitrackError):
    def __init__(self, refname: str, lock: Path, age: float) -> None:
        super().__init__(
            f"{lock} exists and is {age:.0f} s old: a git process that crashed while "
            f"updating {refname} likely left it (a lock older than {STALE_LOCK_SECONDS} s "
            "is stale); if no git or gitrack process is running, remove it "
            f"(rm '{lock}') and try again"
        )
        self.refname, self.lock = refname, lock


class BrokenRefError(GitrackError):
    """A ref points at an object this repository does not have."""

    def __init__(self, refname: str, target: str) -> None:
        if refname == PINS_REF:
            fix = "`gitrack run`, `pull` and `push` rebuild it from the runs' snapshots"
        else:
            fix = (
                f"point it back at an earlier commit listed by `git reflog {refname}` "
                f"(git update-ref {refname} COMMIT), or fetch it again with gitrack pull"
            )
        super().__init__(
            f"{refname} points at {target[:12]}, which is missing from this repository "
            f"(removed by a `git gc --prune=now` that raced a gitrack command?); {fix}"
        )
        self.refname, self.target = refname, target


class NotACommitError(GitrackError):
    """A ref that must point at a commit points at a blob or a tree."""

    def __init__(self, refname: str, target: str, kind: str) -> None:
        super().__init__(f"{refname} points at a {kind} ({target[:12]}), not a commit")
        self.refname, self.target, self.kind = refname, target, kind


def stale_lock(common_dir: Path, refname: str) -> StaleLockError | None:
    """The error to raise when ``refname``'s lock file is stale, else None (no lock, or a
    young one: a writer at work, which compare-and-swap waits for)."""
    lock = common_dir / f"{refname}.lock"
    try:
        age = time.time() - lock.stat().st_mtime
    except OSError:
        return None  # no lock (or a ref backend without lock files)
    return StaleLockError(refname, lock, age) if age >= STALE_LOCK_SECONDS else None


class _Moved(Exception):
    """The ref no longer holds the value a repair expected (rolls the transaction back)."""


class Refs:
    def __init__(self, repo: Repo) -> None:
        self._repo = repo

    def target(self, refname: str) -> str | None:
        """The commit ``refname`` points at (through annotated tags); None without the ref.

        Raises BrokenRefError when that object is missing, NotACommitError when it is not
        a commit (say, a blob someone set the ref to).
        """
        seen = self._ref_id(refname)
        tip = self._tip(refname, seen)
        return str(tip.id) if tip is not None else None

    def contains(self, refname: str, oid: str) -> bool:
        """Is the commit ``oid`` the tip of ``refname`` or in its history? Then merging
        it changes nothing, and there is nothing to fetch for it either."""
        tip = self._ref_id(refname)
        if tip is None or not self._repo.has_object(oid):
            return False
        other = pygit2.Oid(hex=oid)
        try:
            return tip == other or bool(self._repo._r.descendant_of(tip, other))
        except (pygit2.GitError, ValueError):  # not a commit: never "contained"
            return False

    def missing_target(self, refname: str) -> str | None:
        """The object id ``refname`` points at when this repository lacks that object."""
        seen = self._ref_id(refname)
        if seen is None or self._repo.has_object(str(seen)):
            return None
        return str(seen)

    def delete(self, refname: str) -> None:
        ref = self._repo._r.references.get(refname)
        if ref is not None:
            ref.delete()

    def replace_missing(self, refname: str, missing: str, new: str, message: str) -> bool:
        """Point ``refname`` from ``missing`` (an object this repository lost) to ``new``;
        False when it no longer points at ``missing`` (someone repaired it meanwhile)."""

        def attempt() -> bool:
            with transient_failures(self._repo.has_object):
                try:
                    self.set_if_unmoved(refname, missing, new, message)
                except TryAgain:
                    if str(self._ref_id(refname)) != missing:
                        raise _Moved from None
                    raise
            return True

        try:
            return retrying(attempt, lambda reason: ConcurrentUpdateError(refname, reason))
        except _Moved:
            return False

    def check_unlocked(self, refname: str) -> None:
        """Raise StaleLockError when a stale lock file would stop every update of ``refname``.

        A younger lock belongs to a writer at work: compare-and-swap waits for it.
        """
        problem = self._stale_lock(refname)
        if problem is not None:
            raise problem

    def _stale_lock(self, refname: str) -> StaleLockError | None:
        return stale_lock(self._repo.common_dir, refname)

    def compare_and_swap(
        self, refname: str, build: Callable[[pygit2.Commit | None], pygit2.Oid], message: str
    ) -> str:
        """Move ``refname`` to ``build(old tip)`` only if nobody moved it meanwhile.

        The check happens under the ref's lock (a libgit2 transaction), creation included:
        libgit2's plain create checks for an existing ref *before* locking, so two writers
        creating the ref at once could both succeed and the first one's update be lost.
        A lost race, a lock held by another writer and a passing failure anywhere in the
        attempt (reading the ref, building, the transaction: see gitrack.git.transient)
        rebuild on the current tip and try again.
        """

        def attempt() -> str:
            with transient_failures(self._repo.has_object, rewrites_objects=True):
                return self._swap_once(refname, build, message)

        def give_up(reason: str) -> Exception:
            return self._stale_lock(refname) or ConcurrentUpdateError(refname, reason)

        return retrying(attempt, give_up)

    def _swap_once(
        self, refname: str, build: Callable[[pygit2.Commit | None], pygit2.Oid], message: str
    ) -> str:
        seen = self._ref_id(refname)
        new = build(self._tip(refname, seen))
        if not self._repo.has_object(str(new)):
            # Seen with `git gc` running beside many writers: a commit libgit2 has just
            # written is gone. Never point the ref at it: build it again.
            raise TryAgain(f"{new}, just written for {refname}, vanished")
        self.set_if_unmoved(refname, str(seen) if seen is not None else None, str(new), message)
        return str(new)

    def set_if_unmoved(self, refname: str, expected: str | None, new: str, message: str) -> None:
        """Point ``refname`` at ``new`` if it still holds ``expected`` (None: if it does not
        exist), checked under the ref's lock; TryAgain when it moved. A lock another writer
        holds is a GitError or GitCommandError: a passing failure (gitrack.git.transient)."""
        raw = self._repo._r
        if not hasattr(raw, "transaction"):
            # pygit2 before 1.19 (the last for Python 3.10 is 1.18) has no transactions:
            # git's own update-ref checks the old value under the lock.
            from gitrack.git.binary import GitCli  # it imports this module

            try:
                GitCli(self._repo.root).swap(refname, new, expected, message)
            except GitCommandError as exc:  # moved, or locked by another writer
                if is_lasting(str(exc)):
                    raise
                raise TryAgain(f"{refname}: {exc}") from exc
            return
        with raw.transaction() as txn:
            txn.lock_ref(refname)  # held by another writer: GitError, a passing failure
            seen = self._ref_id(refname)
            if (str(seen) if seen is not None else None) != expected:
                raise TryAgain(f"{refname} was moved by another writer")
            txn.set_target(refname, pygit2.Oid(hex=new), message=message)

    def _ref_id(self, refname: str) -> pygit2.Oid | None:
        ref = self._repo._r.references.get(refname)
        return ref.resolve().target if ref is not None else None

    def _tip(self, refname: str, seen: pygit2.Oid | None) -> pygit2.Commit | None:
        if seen is None:
            return None
        obj = self._repo._r.get(seen)
        if obj is None:
            if self._repo.has_object(str(seen)):  # packed meanwhile: look again
                raise TryAgain(f"{refname}'s tip {seen} moved into a pack")
            raise BrokenRefError(refname, str(seen))
        try:
            return obj.peel(pygit2.Commit)
        except (pygit2.GitError, ValueError) as exc:
            raise NotACommitError(refname, str(seen), obj.type_str) from exc

    def fast_forward(self, old: pygit2.Commit | None, theirs: pygit2.Commit) -> pygit2.Oid | None:
        """The tip when one side contains the other (no merge commit needed), else None."""
        if old is None or self._repo._r.descendant_of(theirs.id, old.id):
            return theirs.id
        if old.id == theirs.id or self._repo._r.descendant_of(old.id, theirs.id):
            return old.id
        return None

    def append_to_chain(self, refname: str, pinned: list[str], tree: str, message: str) -> str:
        """Add a commit to ``refname`` whose extra parents keep ``pinned`` reachable.

        One ref for every pin (not one ref per run): its history is the list of pins,
        so `git gc` keeps them all and a single refspec moves them all. Raises
        ObjectMissingError when ``pinned`` or ``tree`` is not (or no longer) there.
        """

        def build(old: pygit2.Commit | None) -> pygit2.Oid:
            for oid in [*pinned, tree]:
                if not self._repo.has_object(oid):
                    raise ObjectMissingError(oid)  # the caller writes it again
            parents = ([old.id] if old is not None else []) + [pygit2.Oid(hex=p) for p in pinned]
            return self._repo.commit_object(pygit2.Oid(hex=tree), parents, message)

        return self.compare_and_swap(refname, build, message)

    def merge_history(self, refname: str, other: str, message: str) -> str:
        """Join two histories of a chain ref (the pins) so both stay reachable."""
        theirs = self._repo._r[other].peel(pygit2.Commit)

        def build(old: pygit2.Commit | None) -> pygit2.Oid:
            ahead = self.fast_forward(old, theirs)
            if ahead is not None:
                return ahead
            assert old is not None
            return self._repo.commit_object(old.tree_id, [old.id, theirs.id], message)

        return self.compare_and_swap(refname, build, message)
