"""What the git package hands out: gitrack's own small types, never pygit2 objects."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HeadState:
    commit: str
    branch: str | None  # full ref name (refs/heads/main), None when detached


@dataclass(frozen=True)
class CommitInfo:
    id: str
    tree: str
    parents: tuple[str, ...]
    summary: str
    time: int  # committer time, seconds since the epoch


@dataclass(frozen=True)
class WorktreeTree:
    """A tree object built from the working tree, as `git add -A` would stage it."""

    tree: str
    base_tree: str
    skipped: dict[str, int] = field(default_factory=dict)  # untracked path -> size, too big
    warnings: list[str] = field(default_factory=list)  # what the tree cannot hold (submodules)
    excluded: dict[str, int] = field(default_factory=dict)  # excluded path -> files left out

    @property
    def dirty(self) -> bool:
        return self.tree != self.base_tree


@dataclass(frozen=True)
class TreeChange:
    status: str  # "added", "deleted", "modified", "typechange", ...
    path: str


@dataclass(frozen=True)
class TagInfo:
    """An annotated tag: its name (without refs/tags/), the commit it points at, its message
    and who made it when (the tagger)."""

    name: str
    id: str  # the tag object
    target: str  # the commit it points at (peeled)
    message: str
    tagger: str
    tagger_email: str
    time: int  # tagger time, seconds since the epoch
