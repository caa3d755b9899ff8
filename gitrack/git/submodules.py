"""Submodules: the commit checked out in each, and moving one to the commit a run used.

git records a submodule as a gitlink (the commit id checked out in it); `git add -A`
stages the commit the submodule has checked out, not its uncommitted changes.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gitrack.errors import GitCommandError, GitrackError
from gitrack.git._pygit2 import pygit2
from gitrack.git.binary import run_git

if TYPE_CHECKING:
    from gitrack.git.repo import Repo

GITLINK = 0o160000


def open_submodule(repo: Repo, path: str) -> pygit2.Repository | None:
    """The submodule's own repository, if it is initialized (has its .git) here."""
    folder = repo.root / path
    if not os.path.lexists(folder / ".git"):
        return None
    try:
        return pygit2.Repository(str(folder), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
    except pygit2.GitError:
        return None


def checked_out(repo: Repo, path: str) -> str | None:
    """The commit the submodule at ``path`` has checked out; None if not initialized."""
    sub = open_submodule(repo, path)
    if sub is None or sub.head_is_unborn:
        return None
    return str(sub.head.target)


def has_commit(repo: Repo, path: str, commit: str) -> bool:
    sub = open_submodule(repo, path)
    if sub is None:
        return False
    try:
        return isinstance(sub[commit], pygit2.Commit)
    except (KeyError, ValueError):
        return False


def move(repo: Repo, path: str, commit: str) -> None:
    """`git checkout --detach COMMIT` inside the submodule (its hooks stay out)."""
    args = ["-c", "core.hooksPath=/dev/null", "checkout", "--quiet", "--detach", commit]
    try:
        run_git(args, cwd=repo.root / path)
    except GitCommandError as exc:
        raise GitrackError(f"cannot check out {commit[:10]} in submodule {path!r}: {exc}") from exc
