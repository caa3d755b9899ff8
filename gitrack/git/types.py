"""What the git package hands out: gitrack's own small types, never pygit2 objects.

NamedTuples, not frozen dataclasses: every command loads these, and a frozen dataclass
costs ~0.4 ms to define (its methods are compiled from source at every start).
"""

from __future__ import annotations

from typing import NamedTuple


class HeadState(NamedTuple):
    commit: str
    branch: str | None  # full ref name (refs/heads/main), None when detached


class CommitInfo(NamedTuple):
    id: str
    tree: str
    parents: tuple[str, ...]
    summary: str
    time: int  # committer time, seconds since the epoch


class WorktreeTree(NamedTuple):
    """A tree object built from the working tree, as `git add -A` would stage it."""

    tree: str
    base_tree: str
    skipped: dict[str, int]  # untracked path -> size, too big
    warnings: list[str]  # what the tree cannot hold (submodules)
    excluded: dict[str, int]  # excluded path -> files left out

    @property
    def dirty(self) -> bool:
        return self.tree != self.base_tree


class TreeChange(NamedTuple):
    status: str  # "added", "deleted", "modified", "typechange", ...
    path: str


class TagInfo(NamedTuple):
    """An annotated tag: its name (without refs/tags/), the commit it points at, its message
    and who made it when (the tagger)."""

    name: str
    id: str  # the tag object
    target: str  # the commit it points at (peeled)
    message: str
    tagger: str
    tagger_email: str
    time: int  # tagger time, seconds since the epoch
