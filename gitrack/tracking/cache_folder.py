"""The data cache folder, checked before a command writes to it.

Two mistakes in ``cache = "..."`` are caught here, before anything starts: a folder
gitrack cannot write to, and a folder inside the working tree that git does not ignore
(every run's snapshot would then capture the cache's objects as untracked files).
"""

from __future__ import annotations

from pathlib import Path

from gitrack.data.layout import CacheFolderError, cache_root, ensure_writable
from gitrack.git import Repo


def writable_cache_root(repo: Repo, cache_setting: str | None) -> Path:
    """The cache folder for ``cache_setting``: outside the snapshot, created, writable."""
    folder = cache_root(repo.common_dir, cache_setting, repo.root)
    refuse_if_snapshotted(repo, folder)
    ensure_writable(folder)
    return folder


def refuse_if_snapshotted(repo: Repo, folder: Path) -> None:
    """A cache inside the working tree is fine only where git would not snapshot it."""
    resolved = folder.resolve()
    try:
        rel = resolved.relative_to(repo.root.resolve()).as_posix()
    except ValueError:
        return  # outside the working tree
    if rel.split("/")[0] == ".git" or repo.is_ignored(rel, directory=True):
        return
    fix = (
        "use a sub-folder that .gitignore lists, or a folder outside the repository"
        if rel == "."
        else f"add /{rel}/ to .gitignore, or move the cache outside the repository"
    )
    raise CacheFolderError(
        f"the data cache folder {resolved} is inside the working tree and git does not "
        f"ignore it, so every run's snapshot would capture its objects; {fix} "
        '(`cache = "..."` in the gitrack config)'
    )
