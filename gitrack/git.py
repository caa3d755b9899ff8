"""The one module that talks to git.

Every pygit2 call and every spawn of the ``git`` binary lives here (ruff's banned-api
enforces it); the rest of gitrack speaks the small dataclasses defined below, never
pygit2 objects. The git binary is used only where the user's own git setup must apply
(``git worktree add``, ``git config`` of the repository the user typed commands in).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import re
import stat
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitrack.errors import (
    BareRepositoryError,
    ConcurrentUpdateError,
    CorruptRecordError,
    GitCommandError,
    GitrackError,
    NoCommitError,
    NotARepositoryError,
)

# Ref updates race with other gitrack processes (parallel runs on one machine, a hook):
# compare-and-swap, and on a lost race rebuild on the new tip and try again.
CAS_ATTEMPTS = 200
FALLBACK_SIGNATURE = ("gitrack", "gitrack@localhost")


class _LazyModule:
    """pygit2 costs ~60 ms to import: commands that never open a repository through it
    (`gitrack hash`, `--help`, most hooks' fast paths) should not pay for it."""

    def __init__(self, name: str, member: str | None = None) -> None:
        self._name = name
        self._member = member

    def __getattr__(self, attr: str) -> Any:
        import importlib

        target: Any = importlib.import_module(self._name)
        if self._member is not None:
            target = getattr(target, self._member)
        value = getattr(target, attr)
        setattr(self, attr, value)  # later lookups skip __getattr__ (hot loops use these)
        return value


if TYPE_CHECKING:
    import pygit2
    from pygit2.enums import CheckoutStrategy, DiffOption, FileMode, FileStatus
else:
    pygit2 = _LazyModule("pygit2")
    CheckoutStrategy = _LazyModule("pygit2.enums", "CheckoutStrategy")
    DiffOption = _LazyModule("pygit2.enums", "DiffOption")
    FileMode = _LazyModule("pygit2.enums", "FileMode")
    FileStatus = _LazyModule("pygit2.enums", "FileStatus")


_OBJECT_ID = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z").match


@functools.cache
def _wt_changed() -> Any:
    status = FileStatus
    return (
        status.WT_NEW
        | status.WT_MODIFIED
        | status.WT_DELETED
        | status.WT_TYPECHANGE
        | status.WT_RENAMED
        | status.WT_UNREADABLE
        | status.CONFLICTED
    )


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

    @property
    def dirty(self) -> bool:
        return self.tree != self.base_tree


@dataclass(frozen=True)
class TreeChange:
    status: str  # "added", "deleted", "modified", "typechange", ...
    path: str


def run_git(
    args: list[str],
    cwd: str | os.PathLike[str] | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run the git binary; return stdout. Raise GitCommandError with git's own words."""
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            input=stdin,
            env={**os.environ, **env} if env else None,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitCommandError("the git binary was not found on PATH; install git") from exc
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit {proc.returncode}"
        raise GitCommandError(f"git {args[0]} failed: {detail}")
    return proc.stdout


class GitCli:
    """The git binary alone, without pygit2 (60 ms to import): for the post-commit hook,
    which must add at most 0.1 s to `git commit`."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def commit_tree(self, rev: str) -> tuple[str, str] | None:
        """(commit id, tree id) of ``rev``, or None when there is no such commit."""
        try:
            out = run_git(["rev-parse", f"{rev}^{{commit}}", f"{rev}^{{tree}}"], cwd=self.cwd)
        except GitCommandError:
            return None
        commit, tree = out.split()
        return commit, tree

    def note_text(self, refname: str, commit: str) -> str:
        try:
            return run_git(["notes", f"--ref={refname}", "show", commit], cwd=self.cwd)
        except GitCommandError:
            return ""  # no note on that commit

    def update_note(
        self, refname: str, commit: str, transform: Callable[[str], str], message: str
    ) -> None:
        """Compare-and-swap, like Repo.update_note: the note is rewritten on a private ref
        with `git notes`, then `git update-ref REF NEW OLD` moves ours only if unmoved."""
        private = f"refs/notes/gitrack-tmp/{os.getpid()}"
        delay = 0.001
        for _ in range(CAS_ATTEMPTS):
            old = self._ref(refname)
            try:
                if old:
                    run_git(["update-ref", private, old], cwd=self.cwd)
                text = transform(self.note_text(private, commit) if old else "")
                self._notes_add(private, commit, text, message)
                new = self._ref(private)
                if new and self._swap(refname, new, old):
                    return
            finally:
                with contextlib.suppress(GitCommandError):
                    run_git(["update-ref", "-d", private], cwd=self.cwd)
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 1.5, 0.05)
        raise ConcurrentUpdateError(refname)

    def _ref(self, refname: str) -> str | None:
        try:
            return run_git(["rev-parse", "-q", "--verify", refname], cwd=self.cwd).strip()
        except GitCommandError:
            return None

    def _swap(self, refname: str, new: str, old: str | None) -> bool:
        expected = old or "0" * len(new)  # all zeros: the ref must not exist yet
        try:
            run_git(["update-ref", "-m", "gitrack", refname, new, expected], cwd=self.cwd)
        except GitCommandError:
            return False
        return True

    def _notes_add(self, refname: str, commit: str, text: str, message: str) -> None:
        args = ["notes", f"--ref={refname}", "add", "-f", "-F", "-", commit]
        try:
            run_git(args, cwd=self.cwd, stdin=text)
        except GitCommandError as exc:
            if "ident" not in str(exc) and "who you are" not in str(exc):
                raise
            # No user identity here (a fresh CI box): gitrack's own commits still work.
            name, email = FALLBACK_SIGNATURE
            identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                        "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}  # fmt: skip
            run_git(args, cwd=self.cwd, stdin=text, env=identity)


def find_common_dir(start: Path) -> Path | None:
    """The git common dir of the repository around ``start``, or None outside one.

    Cheap (one `git rev-parse`, no pygit2): for `gitrack hash`, which only needs to know
    where the stat cache lives.
    """
    try:
        out = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=start)
    except GitCommandError:
        return None
    return Path(out.strip()) if out.strip() else None


def init_repository(path: Path) -> Repo:
    """`git init` plus a first commit of every file in ``path`` (used by the demo)."""
    run_git(["init", "--quiet", str(path)])
    identity = ["-c", "user.name=gitrack demo", "-c", "user.email=demo@gitrack.invalid"]
    run_git(["add", "--all"], cwd=path)
    run_git([*identity, "commit", "--quiet", "-m", "Train a line on data.csv"], cwd=path)
    return Repo.discover(path)


class _LostRace(Exception):
    """The ref moved between reading it and taking its lock."""


class Repo:
    """A non-bare git repository with a working tree (the main one or a linked worktree)."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self._r = repo

    # ----------------------------------------------------------------- opening
    @classmethod
    def discover(cls, path: str | os.PathLike[str] = ".") -> Repo:
        where = os.path.abspath(path)
        try:
            found = pygit2.discover_repository(where)
        except pygit2.GitError as exc:
            raise GitrackError(f"cannot open the repository at {where}: {exc}") from exc
        if found is None:
            raise NotARepositoryError(where)
        try:
            repo = pygit2.Repository(found)
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

    @property
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

    def read_blob(self, oid: str) -> bytes:
        try:
            obj = self._r[oid]
        except (KeyError, ValueError) as exc:
            raise CorruptRecordError(f"object {oid} is missing from this repository") from exc
        if not isinstance(obj, pygit2.Blob):
            raise CorruptRecordError(f"object {oid} is not a blob")
        return bytes(obj.data)

    def write_blob(self, data: bytes) -> str:
        return str(self._r.create_blob(data))

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
        for tip in self._user_ref_tips():
            if tip == target or self._r.descendant_of(tip, target):
                return True
        return False

    def _user_ref_tips(self) -> list[pygit2.Oid]:
        if not hasattr(self, "_tips"):
            tips: list[pygit2.Oid] = []
            names = [
                n
                for n in self._r.references
                if n.startswith(("refs/heads/", "refs/remotes/", "refs/tags/"))
            ]
            for name in [*names, "HEAD"]:
                try:
                    tips.append(self._r.revparse_single(name).peel(pygit2.Commit).id)
                except (KeyError, ValueError, pygit2.GitError):
                    continue
            self._tips = tips
        return self._tips

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
            name = {
                "A": "added",
                "D": "deleted",
                "M": "modified",
                "T": "typechange",
            }.get(status, status)
            path = delta.new_file.path if status != "D" else delta.old_file.path
            changes.append(TreeChange(status=name, path=path))
        return changes

    def _tree(self, tree_id: str) -> pygit2.Tree:
        try:
            return self._r[tree_id].peel(pygit2.Tree)
        except (KeyError, ValueError) as exc:
            raise CorruptRecordError(
                f"object {tree_id} is missing; fetch gitrack's refs "
                "(git fetch origin 'refs/gitrack/*:refs/gitrack/*')"
            ) from exc

    # ------------------------------------------------------- working tree state
    def pending_changes(self) -> list[str]:
        """Paths with uncommitted changes or untracked (not ignored) files."""
        status = self._r.status(untracked_files="normal", ignored=False)
        return sorted(p for p, f in status.items() if not f & FileStatus.IGNORED)

    def build_worktree_tree(
        self,
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
        repo = self._r
        if repo.head_is_unborn:
            raise NoCommitError()
        head = repo.head.peel(pygit2.Commit)
        user_index = repo.index
        index = pygit2.Index()
        index.read_tree(head.tree)
        status = repo.status(untracked_files="all", ignored=False)
        extras = [p for p in extra_paths if p not in status and p not in index]
        filemode = self._config_bool("core.fileMode", True)
        root = self.root
        skipped: dict[str, int] = {}
        additions: list[tuple[str, pygit2.Oid, int]] = []
        removals: list[str] = []
        for path, flags in [*status.items(), *((p, FileStatus.WT_NEW) for p in extras)]:
            if flags & FileStatus.IGNORED or path.endswith("/"):
                continue  # ignored, or an untracked nested repository: not ours to capture
            if not flags & _wt_changed() and path in user_index:
                # Staged and unchanged since: the working file is exactly the index entry.
                entry = user_index[path]
                additions.append((path, entry.id, entry.mode))
                continue
            if not flags & _wt_changed() and path not in extras:
                # A staged deletion (`git rm --cached`): a file still on disk is now ignored,
                # and `git add -A` would not take it either.
                removals.append(path)
                continue
            try:
                st = os.lstat(root / path)
            except (FileNotFoundError, NotADirectoryError):
                removals.append(path)
                continue
            if stat.S_ISDIR(st.st_mode):
                if path in index and index[path].mode == FileMode.COMMIT:
                    continue  # a submodule: keep the recorded gitlink
                removals.append(path)
                continue
            blob = self._blob_from_worktree(path, st, flags, max_untracked_bytes, skipped)
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
        tree = index.write_tree(repo)
        return WorktreeTree(tree=str(tree), base_tree=str(head.tree_id), skipped=skipped)

    def _blob_from_worktree(
        self,
        path: str,
        st: os.stat_result,
        flags: int,
        max_untracked_bytes: int | None,
        skipped: dict[str, int],
    ) -> pygit2.Oid | None:
        full = os.fsencode(self.root / path)
        if stat.S_ISLNK(st.st_mode):
            return self._r.create_blob(os.readlink(full))
        if not stat.S_ISREG(st.st_mode):
            return None  # sockets, fifos, devices: git cannot store them either
        untracked = bool(flags & FileStatus.WT_NEW) and not flags & FileStatus.INDEX_NEW
        if untracked and max_untracked_bytes is not None and st.st_size > max_untracked_bytes:
            skipped[path] = st.st_size
            return None
        try:
            # From the work dir so that the repository's clean filters (eol) apply.
            return self._r.create_blob_fromworkdir(path)
        except (OSError, pygit2.GitError):
            return self._r.create_blob_fromdisk(os.fsdecode(full))

    def _config_bool(self, name: str, default: bool) -> bool:
        try:
            return bool(self._r.config.get_bool(name))
        except (KeyError, pygit2.GitError):
            return default

    # ----------------------------------------------------------------- writing
    def _signature(self) -> pygit2.Signature:
        try:
            return self._r.default_signature
        except (KeyError, pygit2.GitError):
            # No user.name configured (a fresh CI box): gitrack's own commits still work.
            return pygit2.Signature(*FALLBACK_SIGNATURE)

    def create_commit(self, tree: str, parents: list[str], message: str) -> str:
        """A commit object that no ref points to (yet)."""
        sig = self._signature()
        oid = self._r.create_commit(
            None, sig, sig, message, pygit2.Oid(hex=tree), [pygit2.Oid(hex=p) for p in parents]
        )
        return str(oid)

    def tree_from_files(self, files: dict[str, bytes]) -> str:
        """A flat tree holding the given small files."""
        builder = self._r.TreeBuilder()
        for name, data in sorted(files.items()):
            builder.insert(name, self._r.create_blob(data), FileMode.BLOB)
        return str(builder.write())

    def tree_from_blobs(self, blobs: dict[str, str]) -> str:
        """A flat tree of existing blobs: name -> blob id."""
        builder = self._r.TreeBuilder()
        for name, blob in sorted(blobs.items()):
            builder.insert(name, pygit2.Oid(hex=blob), FileMode.BLOB)
        return str(builder.write())

    def append_to_chain(self, refname: str, pinned: list[str], tree: str, message: str) -> str:
        """Add a commit to ``refname`` whose extra parents keep ``pinned`` reachable.

        One ref for every pin (not one ref per run): its history is the list of pins,
        so `git gc` keeps them all and a single refspec moves them all.
        """

        def build(old: pygit2.Commit | None) -> pygit2.Oid:
            parents = ([old.id] if old is not None else []) + [pygit2.Oid(hex=p) for p in pinned]
            sig = self._signature()
            return self._r.create_commit(None, sig, sig, message, pygit2.Oid(hex=tree), parents)

        return self._compare_and_swap(refname, build, message)

    def update_note(
        self, refname: str, commit: str, transform: Callable[[str], str], message: str
    ) -> str:
        """Replace the note on ``commit`` with ``transform(old_text)``, atomically.

        Unlike `git notes add`, the ref moves only if nobody moved it meanwhile; a lost
        race re-reads the note and applies ``transform`` again, so no writer is lost.
        """

        def build(old: pygit2.Commit | None) -> pygit2.Oid:
            old_tree = old.tree if old is not None else None
            new_tree = self._edit_note_tree(old_tree, commit, transform)
            sig = self._signature()
            parents = [old.id] if old is not None else []
            return self._r.create_commit(None, sig, sig, message, new_tree, parents)

        return self._compare_and_swap(refname, build, message)

    def _edit_note_tree(
        self, tree: pygit2.Tree | None, hexpath: str, transform: Callable[[str], str]
    ) -> pygit2.Oid:
        """Rewrite one note in a notes tree, keeping whatever fan-out the tree uses."""
        builder = self._r.TreeBuilder(tree) if tree is not None else self._r.TreeBuilder()
        if tree is not None and hexpath in tree:
            old = self._r[tree[hexpath].id]
            text = old.data.decode("utf-8", "replace") if isinstance(old, pygit2.Blob) else ""
            builder.insert(hexpath, self._r.create_blob(transform(text)), FileMode.BLOB)
            return builder.write()
        prefix = hexpath[:2]
        fanned = tree is not None and any(
            len(e.name) == 2 and e.filemode == FileMode.TREE for e in tree
        )
        if tree is not None and prefix in tree and tree[prefix].filemode == FileMode.TREE:
            sub = self._edit_note_tree(self._r[tree[prefix].id], hexpath[2:], transform)
            builder.insert(prefix, sub, FileMode.TREE)
        elif fanned and len(hexpath) > 2:
            sub = self._edit_note_tree(None, hexpath[2:], transform)
            builder.insert(prefix, sub, FileMode.TREE)
        else:
            builder.insert(hexpath, self._r.create_blob(transform("")), FileMode.BLOB)
        return builder.write()

    def _compare_and_swap(
        self, refname: str, build: Callable[[pygit2.Commit | None], pygit2.Oid], message: str
    ) -> str:
        """Move ``refname`` to ``build(old tip)`` only if nobody moved it meanwhile.

        The check happens under the ref's lock (a libgit2 transaction), creation included:
        libgit2's plain create checks for an existing ref *before* locking, so two writers
        creating the ref at once could both succeed and the first one's update be lost.
        """
        delay = 0.001
        for _ in range(CAS_ATTEMPTS):
            seen = self._ref_id(refname)
            old = self._r[seen].peel(pygit2.Commit) if seen is not None else None
            new = build(old)
            try:
                with self._r.transaction() as txn:
                    txn.lock_ref(refname)
                    if self._ref_id(refname) != seen:
                        raise _LostRace
                    txn.set_target(refname, new, message=message)
                return str(new)
            except (_LostRace, pygit2.GitError, OSError):
                # Lost the race, or another writer holds the ref's lock file (libgit2
                # reports that as GitError or OSError): back off, retry on the new tip.
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 1.5, 0.05)
        raise ConcurrentUpdateError(refname)

    def _ref_id(self, refname: str) -> pygit2.Oid | None:
        ref = self._r.references.get(refname)
        return ref.target if ref is not None else None

    def note_blobs(self, refname: str) -> list[tuple[str, str]]:
        """(annotated commit, note blob id) for every note, whatever the fan-out.

        A tree walk, no blob read: callers read (or find in a cache) only what they need.
        """
        ref = self._r.references.get(refname)
        if ref is None:
            return []
        return self._note_blobs_of_tree(ref.peel(pygit2.Commit).tree)

    def _note_blobs_of_tree(self, tree: pygit2.Tree) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        pending = [(tree, "")]
        while pending:
            tree, prefix = pending.pop()
            for entry in tree:
                name = prefix + entry.name
                kind = entry.type_str  # a str: cheaper than building a FileMode enum
                if kind == "tree":
                    pending.append((self._r[entry.id], name))
                elif kind == "blob" and _OBJECT_ID(name):
                    out.append((name, str(entry.id)))
        return out

    def read_text(self, blob: str) -> str:
        """A blob as text, straight from the object database (notes are UTF-8)."""
        kind, data = self._r.odb.read(pygit2.Oid(hex=blob))
        if kind != pygit2.GIT_OBJECT_BLOB:
            return ""
        return bytes(data).decode("utf-8", "replace")

    # --------------------------------------------------------------- restoring
    def checkout_detached(self, commit: str) -> None:
        """`git checkout --detach COMMIT` for a clean working tree."""
        target = self._r[commit].peel(pygit2.Commit)
        try:
            self._r.checkout_tree(
                target.tree,
                strategy=CheckoutStrategy.SAFE | CheckoutStrategy.DONT_OVERWRITE_IGNORED,
            )
        except pygit2.GitError as exc:
            raise GitrackError(f"cannot check out {commit[:10]} in {self.root}: {exc}") from exc
        self._r.set_head(target.id)

    def write_tree_to_worktree(self, tree: str) -> None:
        """Make the working tree equal ``tree`` while HEAD and the index stay put,
        so the differences show as uncommitted changes and untracked files."""
        try:
            self._r.checkout_tree(
                self._tree(tree),
                strategy=CheckoutStrategy.FORCE | CheckoutStrategy.DONT_UPDATE_INDEX,
            )
        except pygit2.GitError as exc:
            raise GitrackError(f"cannot write the snapshot into {self.root}: {exc}") from exc

    def restore_head(self, state: HeadState) -> None:
        """Put HEAD, index and files back to a previous (clean) HEAD."""
        target = self._r[state.commit].peel(pygit2.Commit)
        self._r.checkout_tree(target.tree, strategy=CheckoutStrategy.FORCE)
        if state.branch is not None:
            self._r.set_head(state.branch)
        else:
            self._r.set_head(target.id)

    def add_detached_worktree(self, path: Path, commit: str) -> Repo:
        run_git(["worktree", "add", "--detach", "--quiet", str(path), commit], cwd=self.root)
        return Repo.discover(path)

    def remove_worktree(self, path: Path) -> None:
        run_git(["worktree", "remove", "--force", str(path)], cwd=self.root)

    def log_text(self, count: int) -> str:
        """What plain `git log` prints (notes included per the repository's config)."""
        return run_git(["log", f"-{count}"], cwd=self.root)

    # ----------------------------------------------------------------- sharing
    def default_remote(self) -> str:
        """The current branch's remote, else ``origin``; it must exist."""
        remotes = list(self._r.remotes.names())
        name = "origin"
        if not self._r.head_is_detached and not self._r.head_is_unborn:
            branch = self._r.head.shorthand
            configured = self.config_value(f"branch.{branch}.remote")
            if configured and configured != ".":
                name = configured
        if name not in remotes:
            raise GitrackError(
                f"no remote named {name!r} (remotes: {', '.join(remotes) or 'none'}); "
                "name one, e.g. gitrack pull upstream, or add it with git remote add"
            )
        return name

    def config_value(self, name: str) -> str | None:
        try:
            value = self._r.config[name]
        except (KeyError, pygit2.GitError):
            return None
        return str(value)

    def remote_refs(self, remote: str, refs: list[str]) -> dict[str, str]:
        """`git ls-remote`: which of ``refs`` the remote has, and where they point."""
        out = run_git(["ls-remote", "--quiet", remote, *refs], cwd=self.root)
        found = {}
        for line in out.splitlines():
            oid, _, name = line.partition("\t")
            if name in refs:
                found[name] = oid
        return found

    def fetch(self, remote: str, refspecs: list[str]) -> None:
        """`git fetch` with the user's own transport and credentials."""
        run_git(["fetch", "--quiet", "--no-write-fetch-head", remote, *refspecs], cwd=self.root)

    def push(self, remote: str, refspecs: list[str]) -> bool:
        """`git push` without force and without hooks (ours would recurse).

        True when pushed; False when the remote moved meanwhile (fetch, merge, retry).
        """
        proc = subprocess.run(
            ["git", "push", "--quiet", "--no-verify", remote, *refspecs],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            return True
        lost_race = (
            "non-fast-forward",
            "fetch first",
            "[rejected]",
            "cannot lock ref",  # the remote moved while receive-pack was updating it
            "but expected",
            "incorrect old value",
        )
        if any(w in proc.stderr for w in lost_race):
            return False
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        # The reason (e.g. "[remote rejected] … (pre-receive hook declined)") beats git's
        # closing "failed to push some refs".
        reasons = [ln for ln in lines if "rejected" in ln or ln.startswith(("fatal:", "remote:"))]
        detail = (reasons or lines or [f"exit {proc.returncode}"])[-1]
        raise GitCommandError(f"git push failed: {detail}")

    def ref_target(self, refname: str) -> str | None:
        ref = self._r.references.get(refname)
        return str(ref.peel(pygit2.Commit).id) if ref is not None else None

    def delete_ref(self, refname: str) -> None:
        ref = self._r.references.get(refname)
        if ref is not None:
            ref.delete()

    def merge_notes(
        self, refname: str, other: str, combine: Callable[[str, str], str], message: str
    ) -> str:
        """Merge the notes commit ``other`` into ``refname`` (compare-and-swap).

        Fast-forwards when one side contains the other; otherwise a merge commit whose
        tree holds, for every annotated commit, ``combine(ours, theirs)``.
        """
        theirs = self._r[other].peel(pygit2.Commit)
        their_notes = self._notes_of_tree(theirs.tree)

        def build(old: pygit2.Commit | None) -> pygit2.Oid:
            if old is None or self._r.descendant_of(theirs.id, old.id):
                return theirs.id
            if old.id == theirs.id or self._r.descendant_of(old.id, theirs.id):
                return old.id
            ours = self._notes_of_tree(old.tree)
            tree = old.tree
            for commit, text in their_notes.items():
                merged = combine(ours.get(commit, ""), text)
                if merged != ours.get(commit):
                    tree = self._r[self._edit_note_tree(tree, commit, _constant(merged))]
            sig = self._signature()
            return self._r.create_commit(None, sig, sig, message, tree.id, [old.id, theirs.id])

        return self._compare_and_swap(refname, build, message)

    def merge_history(self, refname: str, other: str, message: str) -> str:
        """Join two histories of a chain ref (the pins) so both stay reachable."""
        theirs = self._r[other].peel(pygit2.Commit)

        def build(old: pygit2.Commit | None) -> pygit2.Oid:
            if old is None or self._r.descendant_of(theirs.id, old.id):
                return theirs.id
            if old.id == theirs.id or self._r.descendant_of(old.id, theirs.id):
                return old.id
            sig = self._signature()
            return self._r.create_commit(None, sig, sig, message, old.tree_id, [old.id, theirs.id])

        return self._compare_and_swap(refname, build, message)

    def _notes_of_tree(self, tree: pygit2.Tree) -> dict[str, str]:
        """annotated commit id -> note text, whatever the fan-out."""
        return {commit: self.read_text(blob) for commit, blob in self._note_blobs_of_tree(tree)}

    def note_text(self, refname: str, commit: str) -> str:
        try:
            note = self._r.lookup_note(commit, refname)
        except (KeyError, pygit2.GitError):
            return ""
        return str(note.message)

    def hooks_dir(self) -> Path:
        """Where git runs hooks from (honours core.hooksPath)."""
        out = run_git(["rev-parse", "--git-path", "hooks"], cwd=self.root).strip()
        path = Path(out)
        return path if path.is_absolute() else (self.root / path)

    def is_unborn(self) -> bool:
        return bool(self._r.head_is_unborn)

    def in_rebase(self) -> bool:
        return any((self.git_dir / name).exists() for name in ("rebase-merge", "rebase-apply"))

    # ------------------------------------------------------------------ config
    def local_config_get_all(self, name: str) -> list[str]:
        try:
            out = run_git(["config", "--local", "--get-all", name], cwd=self.root)
        except GitCommandError:
            return []  # git exits 1 when the key is absent
        return out.splitlines()

    def local_config_add(self, name: str, value: str) -> None:
        run_git(["config", "--local", "--add", name, value], cwd=self.root)

    def local_config_set(self, name: str, value: str) -> None:
        run_git(["config", "--local", "--replace-all", name, value], cwd=self.root)

    def local_config_unset(self, name: str, value: str | None = None) -> None:
        args = ["config", "--local", "--unset-all", name]
        if value is not None:
            args.append("^" + _regex_escape(value) + "$")
        with contextlib.suppress(GitCommandError):  # already absent
            run_git(args, cwd=self.root)


def _constant(text: str) -> Callable[[str], str]:
    return lambda _old: text


def _regex_escape(value: str) -> str:
    return "".join("\\" + c if c in r".^$*+?()[]{}|\/" else c for c in value)


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
