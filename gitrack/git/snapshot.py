"""The working tree as a tree object, exactly as `git add -A` would stage it.

Built in an in-memory index from HEAD's tree plus what the status reports; the user's
index, HEAD and files are never touched.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gitrack.errors import NoCommitError
from gitrack.git._pygit2 import FileMode, FileStatus, pygit2, wt_changed
from gitrack.git.transient import retry_writes
from gitrack.git.types import WorktreeTree

if TYPE_CHECKING:
    from gitrack.git.repo import Repo


def build_worktree_tree(
    repo: Repo,
    max_untracked_bytes: int | None = None,
    extra_paths: Iterable[str] = (),
) -> WorktreeTree:
    """Write the working tree as a tree object, leaving the user's index untouched.

    Starts from HEAD's tree and applies what `git status` reports: tracked edits
    (staged or not), deletions, mode changes, symlinks, and untracked files that
    .gitignore does not exclude. Untracked files over ``max_untracked_bytes`` are
    left out and reported. ``extra_paths`` are taken from the working tree even if
    ignored (used when verifying a restore on a machine with other excludes).
    """
    raw = repo._r
    if raw.head_is_unborn:
        raise NoCommitError()
    head = raw.head.peel(pygit2.Commit)
    user_index = raw.index
    index = pygit2.Index()
    index.read_tree(head.tree)
    status = raw.status(untracked_files="all", ignored=False)
    extras = [p for p in extra_paths if p not in status and p not in index]
    filemode = repo.config_bool("core.fileMode", True)
    skipped: dict[str, int] = {}
    additions: list[tuple[str, pygit2.Oid, int]] = []
    removals: list[str] = []
    for path, flags in [*status.items(), *((p, FileStatus.WT_NEW) for p in extras)]:
        if flags & FileStatus.IGNORED or path.endswith("/"):
            continue  # ignored, or an untracked nested repository: not ours to capture
        if not flags & wt_changed() and path in user_index:
            # Staged and unchanged since: the working file is exactly the index entry.
            entry = user_index[path]
            additions.append((path, entry.id, entry.mode))
            continue
        if not flags & wt_changed() and path not in extras:
            # A staged deletion (`git rm --cached`): a file still on disk is now ignored,
            # and `git add -A` would not take it either.
            removals.append(path)
            continue
        try:
            st = os.lstat(repo.root / path)
        except (FileNotFoundError, NotADirectoryError):
            removals.append(path)
            continue
        if stat.S_ISDIR(st.st_mode):
            if path in index and index[path].mode == FileMode.COMMIT:
                continue  # a submodule: keep the recorded gitlink
            removals.append(path)
            continue
        blob = retry_writes(
            repo.has_object,
            str(repo.root),
            functools.partial(
                _blob_from_worktree, repo, path, st, flags, max_untracked_bytes, skipped
            ),
        )
        if blob is None:
            continue
        if stat.S_ISLNK(st.st_mode):
            mode = FileMode.LINK
        elif not filemode and path in index:
            mode = index[path].mode
        else:
            mode = FileMode.BLOB_EXECUTABLE if st.st_mode & stat.S_IXUSR else FileMode.BLOB
        additions.append((path, blob, int(mode)))
    for path in removals:
        _index_remove(index, path)
    for path, oid, mode in additions:
        _index_remove_prefix_conflicts(index, path)
        index.add(pygit2.IndexEntry(path, oid, mode))
    tree = retry_writes(repo.has_object, str(repo.root), lambda: index.write_tree(raw))
    return WorktreeTree(tree=str(tree), base_tree=str(head.tree_id), skipped=skipped)


def _blob_from_worktree(
    repo: Repo,
    path: str,
    st: os.stat_result,
    flags: int,
    max_untracked_bytes: int | None,
    skipped: dict[str, int],
) -> pygit2.Oid | None:
    raw = repo._r
    full = os.fsencode(repo.root / path)
    if stat.S_ISLNK(st.st_mode):
        return raw.create_blob(os.readlink(full))
    if not stat.S_ISREG(st.st_mode):
        return None  # sockets, fifos, devices: git cannot store them either
    untracked = bool(flags & FileStatus.WT_NEW) and not flags & FileStatus.INDEX_NEW
    if untracked and max_untracked_bytes is not None and st.st_size > max_untracked_bytes:
        skipped[path] = st.st_size
        return None
    try:
        # From the work dir so that the repository's clean filters (eol) apply.
        return raw.create_blob_fromworkdir(path)
    except (OSError, pygit2.GitError):
        return raw.create_blob_fromdisk(os.fsdecode(full))


def _index_remove(index: pygit2.Index, path: str) -> None:
    with contextlib.suppress(OSError, KeyError, pygit2.GitError):
        index.remove(path)
    with contextlib.suppress(OSError, KeyError, pygit2.GitError):
        index.remove_directory(path)


def _index_remove_prefix_conflicts(index: pygit2.Index, path: str) -> None:
    """A file at a/b needs no file at a (a file turned into a directory)."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        if parent in index:
            index.remove(parent)
