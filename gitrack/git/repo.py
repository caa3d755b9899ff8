"""One repository: opening it, its objects and refs, and writing its working tree.

Every pygit2 call lives in this package (ruff's banned-api enforces it); the rest of
gitrack speaks the types of ``gitrack.git.types``, never pygit2 objects. Notes, the
working-tree snapshot, remotes and the config file have modules of their own.
"""

from __future__ import annotations

import collections
import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from gitrack.errors import (
    BareRepositoryError,
    CorruptRecordError,
    GitrackError,
    NoCommitError,
    NotARepositoryError,
)
from gitrack.git import submodules
from gitrack.git._pygit2 import (
    OBJECT_ID,
    DiffOption,
    FileMode,
    pygit2,
)
from gitrack.git.binary import FALLBACK_SIGNATURE, run_git
from gitrack.git.configfiles import follow_git_environment
from gitrack.git.gitconfig import LocalConfig
from gitrack.git.notes import Notes
from gitrack.git.refs import Refs
from gitrack.git.submodules import GITLINK
from gitrack.git.tags import Tags
from gitrack.git.transient import retry_writes
from gitrack.git.transport import Transport
from gitrack.git.types import CommitInfo, HeadState, TreeChange
from gitrack.git.worktree import Worktree

T = TypeVar("T")

_STATUS_NAMES = {"A": "added", "D": "deleted", "M": "modified", "T": "typechange"}


class Repo:
    """A non-bare git repository with a working tree (the main one or a linked worktree)."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self._r = repo
        self.refs = Refs(self)
        self.notes = Notes(self)
        self.worktree = Worktree(self)
        self.transport = Transport(self)
        self.tags = Tags(self)
        self.local_config = LocalConfig(self.root)

    # ----------------------------------------------------------------- opening
    @classmethod
    def discover(cls, path: str | os.PathLike[str] = ".") -> Repo:
        where = os.path.abspath(path)
        follow_git_environment()
        try:
            found = pygit2.discover_repository(where)
        except pygit2.GitError as exc:
            raise GitrackError(f"cannot open the repository at {where}: {exc}") from exc
        if found is None:
            raise NotARepositoryError(where)
        try:
            # opened from where it was found, not from its git dir: a .git file pointing
            # elsewhere (`git init --separate-git-dir`) names no work tree in that git dir
            repo = pygit2.Repository(where)
        except pygit2.GitError as exc:
            raise GitrackError(f"cannot open the repository at {found}: {exc}") from exc
        if repo.is_bare or repo.workdir is None:
            raise BareRepositoryError(found)
        return cls(repo)

    @property
    def root(self) -> Path:
        return Path(self._r.workdir.rstrip("/\\") or "/")

    @property
    def git_dir(self) -> Path:
        return Path(self._r.path.rstrip("/\\"))

    @functools.cached_property
    def common_dir(self) -> Path:
        # pygit2 has no direct accessor; a linked worktree's gitdir holds a `commondir` file.
        marker = self.git_dir / "commondir"
        if marker.is_file():
            return (self.git_dir / marker.read_text().strip()).resolve()
        return self.git_dir

    # ----------------------------------------------------------------- reading
    def head(self) -> HeadState:
        if self._r.head_is_unborn:
            raise NoCommitError()
        try:
            ref = self._r.lookup_reference("HEAD")
        except (KeyError, pygit2.GitError) as exc:
            raise CorruptRecordError(f"cannot read HEAD: {exc}") from exc
        commit = str(self._r.head.peel(pygit2.Commit).id)
        branch = None if self._r.head_is_detached else str(ref.target)
        return HeadState(commit=commit, branch=branch)

    def is_unborn(self) -> bool:
        return bool(self._r.head_is_unborn)

    def in_rebase(self) -> bool:
        return any((self.git_dir / name).exists() for name in ("rebase-merge", "rebase-apply"))

    def commit_info(self, rev: str) -> CommitInfo:
        try:
            commit = self._r.revparse_single(rev).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise CorruptRecordError(f"commit {rev} is not in this repository") from exc
        return CommitInfo(
            id=str(commit.id),
            tree=str(commit.tree_id),
            parents=tuple(str(p) for p in commit.parent_ids),
            summary=commit.message.splitlines()[0] if commit.message else "",
            time=commit.commit_time,
        )

    def has_object(self, oid: str) -> bool:
        try:
            return pygit2.Oid(hex=oid) in self._r.odb
        except (ValueError, pygit2.GitError):
            return False

    def object_kind(self, oid: str) -> str | None:
        """The kind of object ``oid`` is: "commit", "tree", "blob" or "tag"; None when there
        is none (or ``oid`` is no object id at all: ids come from untrusted notes)."""
        try:
            obj = self._r.get(oid) if OBJECT_ID(oid) else None
        except (ValueError, pygit2.GitError):
            return None
        return str(obj.type_str) if obj is not None else None

    def read_blob(self, oid: str) -> bytes:
        try:
            obj = self._r[oid]
        except (KeyError, ValueError) as exc:
            raise CorruptRecordError(f"object {oid} is missing from this repository") from exc
        if not isinstance(obj, pygit2.Blob):
            raise CorruptRecordError(f"object {oid} is not a blob")
        return bytes(obj.data)

    def tree_files(self, tree_id: str) -> dict[str, tuple[str, int]]:
        """Every blob and link under a tree: path -> (blob id, mode)."""
        out: dict[str, tuple[str, int]] = {}

        def walk(tree: pygit2.Tree, prefix: str) -> None:
            for entry in tree:
                path = prefix + entry.name
                if entry.filemode == FileMode.TREE:
                    walk(self._r[entry.id], path + "/")
                else:
                    out[path] = (str(entry.id), int(entry.filemode))

        walk(self._tree(tree_id), "")
        return out

    def reachable_from_user_refs(self, commit: str) -> bool:
        """Is the commit in the history of a branch, remote branch, tag or HEAD?"""
        target = pygit2.Oid(hex=commit)
        return any(
            tip == target or self._r.descendant_of(tip, target) for tip in self._user_ref_tips
        )

    def reachable_from(self, refname: str, commits: Iterable[str]) -> set[str]:
        """Which of ``commits`` (full ids) are in the history of ``refname``.

        One breadth-first walk that stops once all are found. It steps over missing
        objects instead of failing (libgit2's revwalk stops at the first): a damaged
        history is exactly what `gitrack fsck` looks at.
        """
        wanted = {pygit2.Oid(hex=c) for c in commits}
        ref = self._r.references.get(refname)
        found: set[pygit2.Oid] = set()
        if ref is None or not wanted:
            return set()
        seen = {ref.target}
        queue = collections.deque([ref.target])
        while queue and len(found) < len(wanted):
            oid = queue.popleft()
            if oid in wanted:
                found.add(oid)
            commit = self._r.get(oid)
            if not isinstance(commit, pygit2.Commit):
                continue  # missing (or not a commit): nothing to walk past it
            for parent in commit.parent_ids:
                if parent not in seen:
                    seen.add(parent)
                    queue.append(parent)
        return {str(oid) for oid in found}

    @functools.cached_property
    def _user_ref_tips(self) -> list[pygit2.Oid]:
        prefixes = ("refs/heads/", "refs/remotes/", "refs/tags/")
        names = [n for n in self._r.references if n.startswith(prefixes)]
        tips: list[pygit2.Oid] = []
        for name in [*names, "HEAD"]:
            try:
                tips.append(self._r.revparse_single(name).peel(pygit2.Commit).id)
            except (KeyError, ValueError, pygit2.GitError):
                continue
        return tips

    def diff_patch(self, old_tree: str, new_tree: str) -> str:
        """What `git diff --binary OLD NEW` prints: `git apply` takes it, binaries too."""
        diff = self._r.diff(
            self._tree(old_tree), self._tree(new_tree), flags=DiffOption.SHOW_BINARY
        )
        return diff.patch or ""

    def tree_changes(self, old_tree: str, new_tree: str) -> list[TreeChange]:
        # Without INCLUDE_TYPECHANGE a file turned symlink reads as deleted + added.
        diff = self._r.diff(
            self._tree(old_tree), self._tree(new_tree), flags=DiffOption.INCLUDE_TYPECHANGE
        )
        changes = []
        for delta in diff.deltas:
            status = delta.status_char()
            path = delta.new_file.path if status != "D" else delta.old_file.path
            changes.append(TreeChange(status=_STATUS_NAMES.get(status, status), path=path))
        return changes

    def _tree(self, tree_id: str) -> pygit2.Tree:
        try:
            return self._r[tree_id].peel(pygit2.Tree)
        except (KeyError, ValueError) as exc:
            raise CorruptRecordError(
                f"object {tree_id} is missing; fetch gitrack's refs "
                "(git fetch origin 'refs/gitrack/*:refs/gitrack/*')"
            ) from exc

    def is_ignored(self, rel: str, directory: bool = False) -> bool:
        """Does git ignore ``rel`` (relative to the root, ``/``-separated), as `git status`
        would: .gitignore files, .git/info/exclude and core.excludesFile?

        ``directory``: judge it as a folder, so that folder-only patterns (``cache/``)
        apply even before it exists. The root itself is never ignored.
        """
        rel = rel.strip("/")
        if rel in ("", "."):
            return False  # libgit2 answers True for "." (a dot-file to it)
        try:
            return bool(self._r.path_is_ignored(rel + "/" if directory else rel))
        except pygit2.GitError as exc:
            raise GitrackError(f"cannot read the ignore rules for {rel}: {exc}") from exc

    def config_value(self, name: str) -> str | None:
        try:
            value = self._r.config[name]
        except (KeyError, pygit2.GitError):
            return None
        return str(value)

    def config_bool(self, name: str, default: bool) -> bool:
        try:
            return bool(self._r.config.get_bool(name))
        except (KeyError, pygit2.GitError):
            return default

    def hooks_dir(self) -> Path:
        """Where git runs hooks from (honours core.hooksPath)."""
        out = run_git(["rev-parse", "--git-path", "hooks"], cwd=self.root).strip()
        path = Path(out)
        return path if path.is_absolute() else (self.root / path)

    def log_text(self, count: int) -> str:
        """What plain `git log` prints (notes included per the repository's config)."""
        return run_git(["log", f"-{count}"], cwd=self.root)

    # ----------------------------------------------------------------- writing
    def _signature(self) -> pygit2.Signature:
        try:
            return self._r.default_signature
        except (KeyError, pygit2.GitError):
            # No user.name configured (a fresh CI box): gitrack's own commits still work.
            return pygit2.Signature(*FALLBACK_SIGNATURE)

    def write_blob(self, data: bytes) -> str:
        return self._retrying_write(lambda: str(self._r.create_blob(data)))

    def _retrying_write(self, write: Callable[[], T]) -> T:
        """Object writes race `git gc` (see gitrack.git.transient): tried again."""
        return retry_writes(self.has_object, str(self.root), write)

    def commit_object(
        self, tree: pygit2.Oid, parents: list[pygit2.Oid], message: str
    ) -> pygit2.Oid:
        """A commit that no ref points to (yet)."""
        sig = self._signature()
        return self._r.create_commit(None, sig, sig, message, tree, parents)

    def create_commit(self, tree: str, parents: list[str], message: str) -> str:
        oids = [pygit2.Oid(hex=p) for p in parents]
        return self._retrying_write(
            lambda: str(self.commit_object(pygit2.Oid(hex=tree), oids, message))
        )

    def tree_from_files(self, files: dict[str, bytes]) -> str:
        """A flat tree holding the given small files."""
        return self.tree_from_blobs({n: self.write_blob(d) for n, d in files.items()})

    def tree_from_blobs(self, blobs: dict[str, str]) -> str:
        """A flat tree of existing blobs: name -> blob id."""

        def write() -> str:
            builder = self._r.TreeBuilder()
            for name, blob in sorted(blobs.items()):
                builder.insert(name, pygit2.Oid(hex=blob), FileMode.BLOB)
            return str(builder.write())

        return self._retrying_write(write)

    # ---------------------------------------------------------------- submodules
    def gitlinks(self, tree: str) -> dict[str, str]:
        """Every submodule in ``tree``: path -> the commit it records."""
        return {p: oid for p, (oid, mode) in self.tree_files(tree).items() if mode == GITLINK}

    def submodule_commit(self, path: str) -> str | None:
        """The commit checked out in the submodule at ``path``; None if not initialized."""
        return submodules.checked_out(self, path)

    def submodule_has_commit(self, path: str, commit: str) -> bool:
        return submodules.has_commit(self, path, commit)

    def move_submodule(self, path: str, commit: str) -> None:
        submodules.move(self, path, commit)

    def add_detached_worktree(self, path: Path, commit: str) -> Repo:
        run_git(["worktree", "add", "--detach", "--quiet", str(path), commit], cwd=self.root)
        return Repo.discover(path)

    def remove_worktree(self, path: Path) -> None:
        run_git(["worktree", "remove", "--force", str(path)], cwd=self.root)


def init_repository(path: Path) -> Repo:
    """`git init` plus a first commit of every file in ``path`` (used by the demo)."""
    run_git(["init", "--quiet", str(path)])
    identity = ["-c", "user.name=gitrack demo", "-c", "user.email=demo@gitrack.invalid"]
    run_git(["add", "--all"], cwd=path)
    run_git([*identity, "commit", "--quiet", "-m", "Train a line on data.csv"], cwd=path)
    return Repo.discover(path)
