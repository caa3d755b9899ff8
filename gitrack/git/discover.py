"""Which repository a folder is in, found the way git finds it, without running git.

For `gitrack hash` and the crash log, which only need to know where the git common dir
is (the stat cache, the log) and must start fast: spawning `git rev-parse` and importing
``subprocess`` cost more than the rest of `gitrack hash` on a small file. Only the
ordinary shapes are decided here (a work tree with its ``.git`` folder or ``gitdir:``
file, a linked worktree, a submodule, inside a ``.git``); anything
else that could make git answer differently (its discovery variables, a folder owned by
someone else, which ``safe.directory`` decides, a mount point on the way up, a ``.git``
that is not a repository) is left to `git rev-parse`. ``GIT_CEILING_DIRECTORIES`` is
obeyed (the tests set it). A folder that is a git dir itself is decided here only when it
is a ``.git`` (a bare repository may be refused by ``safe.bareRepository``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# Variables that change where or how git looks for the repository.
_DISCOVERY_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
)
_HEAD = re.compile(rb"ref: refs/\S+\n?|[0-9a-f]{40}\n?|[0-9a-f]{64}\n?")


class _AskGit(Exception):
    """This folder is not an ordinary shape: git decides."""


def find_common_dir(start: Path) -> Path | None:
    """The git common dir of the repository around ``start``, or None outside one: what
    `git rev-parse --git-common-dir` prints there, made absolute."""
    if any(name in os.environ for name in _DISCOVERY_VARIABLES):
        return _ask_git(start)
    try:
        return _discover(Path(os.path.realpath(start)))
    except (_AskGit, OSError, UnicodeDecodeError):
        return _ask_git(start)


def _discover(start: Path) -> Path | None:
    device = start.stat().st_dev
    for folder in _folders_to_search(start):
        info = folder.stat()
        if info.st_dev != device:
            raise _AskGit  # git stops at a mount point unless told otherwise
        git_dir = _git_dir_of(folder)
        if git_dir is not None:
            if info.st_uid != os.geteuid() or git_dir.stat().st_uid != os.geteuid():
                raise _AskGit  # safe.directory decides
            return _common_dir(git_dir)
    return None


def _folders_to_search(start: Path) -> list[Path]:
    """``start`` and its parents, up to (not into) the nearest GIT_CEILING_DIRECTORIES
    entry above ``start``."""
    entries = os.environ.get("GIT_CEILING_DIRECTORIES", "").split(":")
    if "" in entries[:-1]:
        raise _AskGit  # entries after an empty one are compared unresolved: git knows how
    ceilings = {Path(os.path.realpath(entry)) for entry in entries if os.path.isabs(entry)}
    folders = [start]
    for parent in start.parents:
        if parent in ceilings:
            break
        folders.append(parent)
    return folders


def _git_dir_of(folder: Path) -> Path | None:
    """The git dir ``folder`` has (its ``.git``) or is (bare, or a git dir itself)."""
    dot_git = folder / ".git"
    if dot_git.is_file():
        text = dot_git.read_bytes().decode()
        if not text.startswith("gitdir: "):
            raise _AskGit
        target = folder / text[len("gitdir: ") :].strip()
        if not _is_git_dir(target):
            raise _AskGit
        return Path(os.path.realpath(target))
    if dot_git.is_dir():
        if _is_git_dir(dot_git):
            return dot_git
        raise _AskGit  # git would look further up; rare enough to ask it
    if (folder / "HEAD").exists() or (folder / "HEAD").is_symlink():
        # A folder that may be a git dir itself: inside a `.git`, it is; anything else (a
        # bare repository, perhaps embedded in a work tree, which safe.bareRepository may
        # refuse) git decides.
        if folder.name == ".git" and _is_git_dir(folder):
            return folder
        raise _AskGit
    return None


def _is_git_dir(path: Path) -> bool:
    """As git's own test: a valid HEAD, and objects and refs (here or in the common dir).
    A HEAD of a shape this test does not know (a symbolic link, other spacing) is for git
    to judge."""
    head = path / "HEAD"
    if not head.exists() and not head.is_symlink():
        return False
    if head.is_symlink() or not head.is_file() or not _HEAD.fullmatch(head.read_bytes()[:300]):
        raise _AskGit
    common = _common_dir(path)
    return (common / "objects").is_dir() and (common / "refs").is_dir()


def _common_dir(git_dir: Path) -> Path:
    pointer = git_dir / "commondir"
    if not pointer.is_file():
        return git_dir
    return Path(os.path.realpath(git_dir / pointer.read_bytes().decode().strip()))


def _ask_git(start: Path) -> Path | None:
    from gitrack.errors import GitCommandError
    from gitrack.git.binary import run_git

    try:
        out = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=start)
    except GitCommandError:
        return None
    return Path(out.strip()) if out.strip() else None
