"""Git access: the only package that imports pygit2 or runs the git binary.

Everything above it speaks the types exported here. ``repo`` holds objects and refs,
``notes`` the notes refs, ``snapshot`` the working tree as `git add -A` would stage
it (with ``filters``: clean/smudge drivers only the git binary runs, and ``submodules``),
``cas`` the compare-and-swap retry loop every ref update goes through, ``binary`` and
``transport`` the git binary (the user's own setup: remotes, credentials).
"""

from gitrack.git.binary import GitCli, find_common_dir, run_git
from gitrack.git.refs import FETCH_REFSPECS, NOTES_REF, PINS_REF
from gitrack.git.repo import Repo, init_repository
from gitrack.git.types import CommitInfo, HeadState, TagInfo, TreeChange, WorktreeTree

__all__ = [
    "FETCH_REFSPECS",
    "NOTES_REF",
    "PINS_REF",
    "CommitInfo",
    "GitCli",
    "HeadState",
    "Repo",
    "TagInfo",
    "TreeChange",
    "WorktreeTree",
    "find_common_dir",
    "init_repository",
    "run_git",
]
