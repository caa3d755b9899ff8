"""Undoing an in-place checkout that failed halfway: HEAD, files, folders, submodules, data.

A checkout first notes what it is about to change (``CodeUndo``, ``DataUndo``), then
changes it; on any failure it calls ``roll_back`` and the working tree is as it was.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitrack.git import HeadState, Repo

if TYPE_CHECKING:
    from gitrack.data.store import DataStore


class CodeUndo:
    def __init__(self, repo: Repo, previous: HeadState, added: list[str]) -> None:
        self.repo = repo
        self.previous = previous
        self.added = added  # files the checkout writes where there is none now
        self.new_folders = _missing_folders(repo.root, added)
        self.moved_submodules: list[tuple[str, str]] = []  # (path, the commit it had)

    def roll_back(self) -> None:
        try:
            self.repo.worktree.restore_head(self.previous)
        finally:
            for rel in self.added:
                target = self.repo.root / rel
                if target.is_symlink() or target.is_file():
                    target.unlink()
            _remove_empty(self.repo.root, self.new_folders)
            for path, commit in reversed(self.moved_submodules):
                self.repo.move_submodule(path, commit)


class DataUndo:
    """What the data paths hold before a restore, to put back from the copies the restore
    keeps in the cache of every file it replaces or removes (``DataStore.preserved``)."""

    def __init__(self, root: Path, paths: Iterable[str]) -> None:
        self.root = root
        paths = list(paths)
        self.before = _scan(root, paths)  # path -> (kind, mode)
        self.paths = paths
        self.new_folders = _missing_folders(root, paths)

    def roll_back(self, store: DataStore) -> None:
        from gitrack.data.state import stat_key

        now = _scan(self.root, self.paths)
        # What the restore made: removed, deepest first so that folders are empty by then.
        # Only its own files (as it wrote them): one the user made there meanwhile stays.
        written = store.hasher.written_files()
        for rel in sorted(now, key=lambda p: p.count("/"), reverse=True):
            kind = now[rel][0]
            if self.before.get(rel, ("", 0))[0] == kind:
                continue
            target = self.root / rel
            if kind == "dir":
                with contextlib.suppress(OSError):
                    target.rmdir()
            elif kind == "file" and _written_here(written, target, stat_key):
                target.unlink()
        # What it replaced or removed: back from its copies.
        for rel, digest in store.preserved:
            if _through_link(self.root, rel):
                continue
            kind, mode = self.before.get(rel, ("file", 0o644))
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            store.cache.restore_to(digest, target, executable=bool(mode & stat.S_IXUSR))
            os.chmod(target, stat.S_IMODE(mode))
        for rel, (kind, _) in sorted(self.before.items()):
            if kind == "dir" and not _through_link(self.root, rel):
                (self.root / rel).mkdir(parents=True, exist_ok=True)
        _remove_empty(self.root, self.new_folders)


def _written_here(written: dict[str, Any], target: Path, stat_key: Any) -> bool:
    """Is ``target`` the file the restore wrote (same stat key), not one made since?"""
    done = written.get(str(target))
    try:
        return done is not None and done[0] == stat_key(os.lstat(target))
    except OSError:
        return False


def _scan(root: Path, paths: list[str]) -> dict[str, tuple[str, int]]:
    """path -> ("file" | "link" | "dir", mode) of everything at and under ``paths``."""
    found: dict[str, tuple[str, int]] = {}
    for rel in paths:
        top = root / rel
        if _through_link(root, rel):
            continue  # the restore never writes through a link: nothing of ours is there
        try:
            st = os.lstat(top)
        except OSError:
            continue
        found[rel] = (_kind(st), st.st_mode)
        if not stat.S_ISDIR(st.st_mode):
            continue
        for folder, dirs, files in os.walk(top):
            for name in [*dirs, *files]:
                full = Path(folder) / name
                st = os.lstat(full)
                found[full.relative_to(root).as_posix()] = (_kind(st), st.st_mode)
    return found


def _through_link(root: Path, rel: str) -> bool:
    """Does a folder on the way to ``rel`` lead elsewhere (a symlink)?"""
    parts = rel.split("/")[:-1]
    return any(os.path.islink(root.joinpath(*parts[: i + 1])) for i in range(len(parts)))


def _kind(st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "link"
    return "dir" if stat.S_ISDIR(st.st_mode) else "file"


def _missing_folders(root: Path, paths: Iterable[str]) -> list[str]:
    """The folders above ``paths`` that do not exist yet: writing the paths creates them."""
    missing: set[str] = set()
    for rel in paths:
        parts = rel.split("/")[:-1]
        for depth in range(len(parts), 0, -1):
            folder = "/".join(parts[:depth])
            if os.path.lexists(root / folder):
                break
            missing.add(folder)
    return sorted(missing, key=lambda p: p.count("/"), reverse=True)


def _remove_empty(root: Path, folders: list[str]) -> None:
    """Remove the folders (deepest first) that are empty: nothing of the user's is in them."""
    for folder in folders:
        with contextlib.suppress(OSError):
            (root / folder).rmdir()
