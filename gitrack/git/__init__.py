"""Git access: the only package that imports pygit2 or runs the git binary.

Everything above it speaks the types exported here. ``repo`` holds objects and refs,
``notes`` the notes refs, ``snapshot`` the working tree as `git add -A` would stage
it (with ``filters``: clean/smudge drivers only the git binary runs, and ``submodules``),
``cas`` the compare-and-swap retry loop every ref update goes through, ``binary`` and
``transport`` the git binary (the user's own setup: remotes, credentials).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitrack.git._pygit2 import claim_process, process_claimed
    from gitrack.git.binary import GitCli, run_git
    from gitrack.git.discover import find_common_dir
    from gitrack.git.refs import NOTES_REF, PINS_REF
    from gitrack.git.repo import Repo, init_repository
    from gitrack.git.types import CommitInfo, HeadState, TagInfo, TreeChange, WorktreeTree

# Loaded on first use: the post-commit hook needs only GitCli (the git binary), not the
# modules behind Repo; every `git commit` pays for what this package imports.
_HOMES = {
    "GitCli": "binary",
    "find_common_dir": "discover",
    "run_git": "binary",
    "NOTES_REF": "refs",
    "PINS_REF": "refs",
    "Repo": "repo",
    "init_repository": "repo",
    "CommitInfo": "types",
    "HeadState": "types",
    "TagInfo": "types",
    "TreeChange": "types",
    "WorktreeTree": "types",
    "claim_process": "_pygit2",
    "process_claimed": "_pygit2",
}
__all__ = [
    "NOTES_REF",
    "PINS_REF",
    "CommitInfo",
    "GitCli",
    "HeadState",
    "Repo",
    "TagInfo",
    "TreeChange",
    "WorktreeTree",
    "claim_process",
    "find_common_dir",
    "init_repository",
    "process_claimed",
    "run_git",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'gitrack.git' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gitrack.git.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value
