"""The working tree as a tree object, exactly as `git add -A` would stage it.

Built in an in-memory index from HEAD's tree plus what the status reports; the user's
index, HEAD and files are never touched.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from gitrack.errors import NoCommitError
from gitrack.git import ignores, untracked
from gitrack.git._pygit2 import (
    FileMode,
    FileStatus,
    pygit2,
    reading_the_index,
    skip_worktree,
    strict_objects_off,
    wt_changed,
)
from gitrack.git.filters import Filters
from gitrack.git.submodules import open_submodule
from gitrack.git.transient import ObjectMissingError, retry_writes
from gitrack.git.types import WorktreeTree

if TYPE_CHECKING:
    from gitrack.git.repo import Repo


def build_worktree_tree(
    repo: Repo,
    max_untracked_bytes: int | None = None,
    extra_paths: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> WorktreeTree:
    """Write the working tree as a tree object, leaving the user's index untouched.

    Starts from HEAD's tree and applies what `git status` reports: tracked edits
    (staged or not), deletions, mode changes, symlinks, submodules' checked-out commits,
    and untracked files that .gitignore does not exclude. Untracked files over
    ``max_untracked_bytes`` are left out and reported. ``extra_paths`` are taken from the
    working tree even if ignored (used when verifying a restore on a machine with other
    excludes). Untracked regular files at or under an ``exclude`` path (a run's datasets,
    which the data cache holds) are left out, unless named in ``extra_paths``, and counted
    per exclude path (with, in a folder git reports as untracked, those git ignores); tracked
    files and links stay, as git has them.
    """
    raw = repo._r
    if raw.head_is_unborn:
        raise NoCommitError()
    head = raw.head.peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(head.tree)
    extra_paths = list(extra_paths)
    with reading_the_index():
        changes = _Changes(repo, index, max_untracked_bytes)
        changes.exclude(exclude, keep=set(extra_paths))
        status = untracked.status_for_snapshot(repo, changes)
    extras = [p for p in extra_paths if p not in status and p not in index]
    for path, flags in status.items():
        changes.take(path, flags, extra=False)
    for path in extras:
        changes.take(path, FileStatus.WT_NEW, extra=True)
    changes.settle_links()
    changes.clean_filtered()
    for path in changes.removals:
        _index_remove(index, path)
    for path, oid, mode in changes.additions:
        _index_remove_prefix_conflicts(index, path)
        index.add(pygit2.IndexEntry(path, oid, mode))
    tree = retry_writes(repo.has_object, str(repo.root), lambda: _write_tree(repo, index, changes))
    return WorktreeTree(
        tree=str(tree),
        base_tree=str(head.tree_id),
        skipped=changes.skipped,
        warnings=changes.warnings,
        excluded=changes.excluded,
    )


class _Changes:
    """What `git add -A` would do to HEAD's tree, path by path."""

    def __init__(self, repo: Repo, head_index: pygit2.Index, max_untracked: int | None) -> None:
        self.repo = repo
        self.root = os.fspath(repo.root)  # a str, once: take() runs per file (10^5 in datasets)
        self.head_index = head_index
        self.user_index = repo._r.index
        self.user_index.read(False)  # as git left it, if a git command rewrote it since
        self.max_untracked = max_untracked
        self.filemode = repo.config_bool("core.fileMode", True)
        self.filters = Filters.configured(repo)
        self.additions: list[tuple[str, pygit2.Oid, int]] = []
        self.removals: list[str] = []
        self.skipped: dict[str, int] = {}
        self.warnings: list[str] = []
        self._filtered: list[tuple[str, int]] = []  # (path, mode): the git binary cleans these
        self._links: list[str] = []  # untracked: git judges whether it ignores them
        self._exclude: tuple[str, ...] = ()
        self._keep: set[str] = set()
        self.excluded: dict[str, int] = {}
        # Status flags as plain ints: take() runs per file, and each operation on pygit2's
        # enum flags builds an enum object (a third of the time of a 10^4-file dataset).
        self._ignored = int(FileStatus.IGNORED)
        self._wt_new = int(FileStatus.WT_NEW)
        self._index_new = int(FileStatus.INDEX_NEW)
        self._wt_changed = int(wt_changed())

    def exclude(self, paths: Iterable[str], keep: set[str]) -> None:
        """Leave untracked files under ``paths`` out (those in ``keep`` stay in)."""
        self._exclude = tuple(p.rstrip("/") for p in paths if p.strip("/"))
        self._keep = keep

    @property
    def excluding(self) -> bool:
        return bool(self._exclude)

    @property
    def keep(self) -> set[str]:
        return self._keep

    @property
    def exclude_paths(self) -> tuple[str, ...]:
        return self._exclude

    def keeps_within(self, top: str) -> bool:
        """Is an extra path at, under or above the excluded path ``top``?"""
        return any(
            p == top or p.startswith(top + "/") or top.startswith(p + "/") for p in self._keep
        )

    def count_excluded(self, counts: dict[str, int]) -> None:
        for top, files in counts.items():
            if files:
                self.excluded[top] = self.excluded.get(top, 0) + files

    def excluded_by(self, path: str) -> str | None:
        if path in self._keep:
            return None
        for top in self._exclude:
            if path == top or path.startswith(top + "/"):
                return top
        return None

    def take(self, path: str, flags: int, extra: bool) -> None:
        flags = int(flags)
        if flags & self._ignored or path.endswith("/"):
            return  # ignored, or an untracked nested repository: not ours to capture
        if flags == self._wt_new and self._exclude and self._excluded_file(path):
            return  # the common case of a dataset git does not ignore: 10^4-10^6 files
        user_index = self.user_index
        if path in user_index and (not flags & self._wt_changed or skip_worktree(user_index, path)):
            # Staged and unchanged since: the working file is exactly the index entry. So is
            # a skip-worktree entry (outside a sparse checkout's cone): git ignores its file.
            entry = user_index[path]
            self.additions.append((path, entry.id, entry.mode))
            return
        if not flags & self._wt_changed and not extra:
            # A staged deletion (`git rm --cached`): a file still on disk is now ignored,
            # and `git add -A` would not take it either.
            self.removals.append(path)
            return
        try:
            st = os.lstat(os.path.join(self.root, path))
        except (FileNotFoundError, NotADirectoryError):
            self.removals.append(path)
            return
        if stat.S_ISDIR(st.st_mode):
            self._take_directory(path)
        elif stat.S_ISLNK(st.st_mode):
            if path in user_index or extra or path in self._keep:
                self._take_link(path)  # an extra path is taken even if ignored
            else:
                self._links.append(path)  # untracked: git judges it (settle_links)
        elif stat.S_ISREG(st.st_mode):
            self._take_file(path, st, flags)
        # sockets, fifos, devices: git cannot store them either

    def _excluded_file(self, path: str) -> bool:
        """An untracked regular file under an excluded path, counted; what _take_file
        would decide for it, without the steps every other file needs."""
        top = self.excluded_by(path)
        if top is None:
            return False
        try:
            st = os.lstat(os.path.join(self.root, path))
        except OSError:
            return False  # gone meanwhile, or unreadable: the general path decides
        if not stat.S_ISREG(st.st_mode):
            return False
        self.excluded[top] = self.excluded.get(top, 0) + 1
        return True

    def _take_directory(self, path: str) -> None:
        gitlink = self._gitlink(path)
        if gitlink is None:
            self.removals.append(path)  # a file turned into a folder of untracked files
            return
        # `git add -A` records the commit checked out in it; uninitialized, the gitlink stays.
        commit = _submodule_commit(self.repo, path, gitlink, self.warnings) or gitlink
        self.additions.append((path, pygit2.Oid(hex=commit), int(FileMode.COMMIT)))

    def _gitlink(self, path: str) -> str | None:
        for index in (self.user_index, self.head_index):
            if path in index and index[path].mode == FileMode.COMMIT:
                return str(index[path].id)
        return None

    def _take_file(self, path: str, st: os.stat_result, flags: int) -> None:
        untracked = bool(flags & self._wt_new) and not flags & self._index_new
        top = self.excluded_by(path) if untracked and self._exclude else None
        if top is not None:  # a dataset's file: its bytes are in the data cache already
            self.excluded[top] = self.excluded.get(top, 0) + 1
            if path in self.head_index:  # removed from the index: not HEAD's copy either
                self.removals.append(path)
            return
        if untracked and self.max_untracked is not None and st.st_size > self.max_untracked:
            self.skipped[path] = st.st_size
            if path in self.head_index:  # removed from the index: not HEAD's copy either
                self.removals.append(path)
            return
        if path in self.head_index and not self.filemode:
            mode = int(self.head_index[path].mode)
        else:
            mode = int(FileMode.BLOB_EXECUTABLE if st.st_mode & stat.S_IXUSR else FileMode.BLOB)
        if self.filters is not None and self.filters.applies(path):
            self._filtered.append((path, mode))  # cleaned in one batch, by git
            return
        blob = self._write(lambda: _blob_of_file(self.repo, path))
        self.additions.append((path, blob, mode))

    def _write(self, write: Callable[[], pygit2.Oid]) -> pygit2.Oid:
        # A `git gc` running meanwhile can make an object write fail for a moment.
        return retry_writes(self.repo.has_object, str(self.repo.root), write)

    def _take_link(self, path: str) -> None:
        target = os.readlink(os.fsencode(self.repo.root / path))
        blob = self._write(lambda: self.repo._r.create_blob(target))
        self.additions.append((path, blob, int(FileMode.LINK)))

    def settle_links(self) -> None:
        """The untracked links git does not ignore (libgit2 judges a link to a folder as
        the folder: see ignores.py), asked of git in one call."""
        if not self._links:
            return
        ignored = ignores.ignored_by_git(self.repo.root, self._links)
        for path in self._links:
            if path not in ignored:
                self._take_link(path)
            elif path in self.head_index:  # removed from the index, and ignored now
                self.removals.append(path)

    def clean_filtered(self) -> None:
        """Files whose clean filter only git runs (git-lfs...): stored as `git add` would."""
        if self.filters is None or not self._filtered:
            return
        blobs = self.filters.clean_blobs([path for path, _ in self._filtered])
        for path, mode in self._filtered:
            self.additions.append((path, pygit2.Oid(hex=blobs[path]), mode))


def _write_tree(repo: Repo, index: pygit2.Index, changes: _Changes) -> pygit2.Oid:
    """``index`` as trees, checking only the objects this snapshot added.

    libgit2's strict object creation reads the header of every entry of every folder it
    rebuilds (each file of a changed folder: thousands of loose objects read per run).
    The entries from HEAD's tree are reachable, so they are there; what was added here
    (blobs just written, unreachable until the snapshot is pinned, and staged entries) is
    checked, so that a `git gc` removing one meanwhile fails the snapshot (to be written
    again) as libgit2's own check would, instead of leaving a tree with a missing blob.
    """
    odb = repo._r.odb
    for _, oid, mode in changes.additions:
        if mode != FileMode.COMMIT and oid not in odb:
            raise ObjectMissingError(str(oid))
    with strict_objects_off():
        return index.write_tree(repo._r)


def _blob_of_file(repo: Repo, path: str) -> pygit2.Oid:
    raw = repo._r
    try:
        # From the work dir so that libgit2's own filters (eol, ident) apply.
        return raw.create_blob_fromworkdir(path)
    except (OSError, pygit2.GitError):
        return raw.create_blob_fromdisk(os.fsdecode(os.fsencode(repo.root / path)))


def _submodule_commit(repo: Repo, path: str, gitlink: str, warnings: list[str]) -> str | None:
    """The commit checked out in the submodule at ``path`` (None: not initialized here, so
    its recorded gitlink stays); a warning for what the snapshot cannot hold."""
    sub = open_submodule(repo, path)
    if sub is None or sub.head_is_unborn:
        return None
    commit = str(sub.head.target)
    if commit != gitlink:
        warnings.append(
            f"submodule {path!r} is checked out at {commit[:10]}, not the committed "
            f"{gitlink[:10]}: the run records {commit[:10]}; push it to the submodule's "
            "remote so that clones can restore it"
        )
    changed = [p for p, f in sub.status(ignored=False).items() if not f & FileStatus.IGNORED]
    if changed:
        warnings.append(
            f"submodule {path!r} has uncommitted changes or untracked files "
            f"({', '.join(sorted(changed)[:3])}{' …' if len(changed) > 3 else ''}); "
            f"the run records only its commit {commit[:10]}: commit them in the submodule"
        )
    return commit


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
