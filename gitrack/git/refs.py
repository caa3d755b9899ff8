"""The refs gitrack owns, and how every one of them moves: compare-and-swap.

Everything a run needs is reachable from NOTES_REF and PINS_REF.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gitrack.git._pygit2 import pygit2
from gitrack.git.cas import retrying

if TYPE_CHECKING:
    from gitrack.git.repo import Repo

NOTES_REF = "refs/notes/gitrack"  # note on a commit = its runs, one JSON line each
PINS_REF = "refs/gitrack/pins"  # history of pin commits keeping snapshots alive
DISPLAY_REF = "refs/notes/runs"  # derived from NOTES_REF: one readable line per run, for git log
FETCH_REFSPECS = ("+refs/notes/*:refs/notes/*", "+refs/gitrack/*:refs/gitrack/*")


class Refs:
    def __init__(self, repo: Repo) -> None:
        self._repo = repo

    def target(self, refname: str) -> str | None:
        ref = self._repo._r.references.get(refname)
        return str(ref.peel(pygit2.Commit).id) if ref is not None else None

    def lock_path(self, refname: str) -> Path:
        """The lock file git and libgit2 hold while they move ``refname`` (files backend)."""
        return self._repo.common_dir / f"{refname}.lock"

    def delete(self, refname: str) -> None:
        ref = self._repo._r.references.get(refname)
        if ref is not None:
            ref.delete()

    def compare_and_swap(
        self, refname: str, build: Callable[[pygit2.Commit | None], pygit2.Oid], message: str
    ) -> str:
        """Move ``refname`` to ``build(old tip)`` only if nobody moved it meanwhile.

        The check happens under the ref's lock (a libgit2 transaction), creation included:
        libgit2's plain create checks for an existing ref *before* locking, so two writers
        creating the ref at once could both succeed and the first one's update be lost.
        """

        def attempt() -> str | None:
            seen = self._ref_id(refname)
            old = self._repo._r[seen].peel(pygit2.Commit) if seen is not None else None
            new = build(old)
            try:
                with self._repo._r.transaction() as txn:
                    txn.lock_ref(refname)
                    if self._ref_id(refname) != seen:
                        return None  # lost the race: rebuild on the new tip
                    txn.set_target(refname, new, message=message)
            except (pygit2.GitError, OSError):
                # Another writer holds the ref's lock file (libgit2 reports that as
                # GitError or OSError): back off, retry on the new tip.
                return None
            return str(new)

        return retrying(refname, attempt)

    def _ref_id(self, refname: str) -> pygit2.Oid | None:
        ref = self._repo._r.references.get(refname)
        return ref.target if ref is not None else None

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
        so `git gc` keeps them all and a single refspec moves them all.
        """

        def build(old: pygit2.Commit | None) -> pygit2.Oid:
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
