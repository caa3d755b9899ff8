"""Restoring datasets and outputs: plan every path first, then apply the plan.

``plan_restore`` only reads. It checks every path (nothing leaves the repository, nothing
is written through a link, no folder to be replaced holds what a restore cannot keep a
copy of), decides per path and per file what is needed, and lists the objects the
cache lacks, so a refusal or a missing object stops the restore before anything changes.

``apply_restore`` writes. Whatever it replaces or removes is first copied into the cache
(``DataStore.preserve``: a restore loses nothing), every file is verified by hash as it
is written, and each restored path is hashed again at the end against the record: that
final hash is what sees a difference no plan predicted (VerificationError).

A folder where nothing is yet (a deleted dataset) holds no file of its own in the plan:
its manifest is read as a stream, once to look for every object, and again as its files
are written a slice at a time (``_apply_streamed``), each name checked again as it is
read; what was written is kept 48 bytes a file (``WrittenFolder``). A folder of 10^6 files
restores in the memory of one slice and of that record.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gitrack.data import hasher as hasher_module
from gitrack.data import hashing
from gitrack.data.hasher import MissingDataError, PathState, WrittenFolder
from gitrack.data.manifest import CorruptManifest, FileEntry, Manifest, NotCanonical, read_stream
from gitrack.data.odb import CacheError
from gitrack.data.store import DataStore
from gitrack.data.walk import full_path, refuse_unkeepable, remove_empty_dirs
from gitrack.errors import GitrackError, VerificationError
from gitrack.paths import UnsafePathError, safe_target

_LINK_REFUSAL = "it is a symlink here; gitrack does not write through links"


@dataclass(frozen=True, slots=True)  # one per file to write (10^6 for a new folder)
class FileWrite:
    """Write ``top/inner`` (``top`` itself if ``inner`` is empty) from object ``digest``."""

    rel: str  # the recorded path (a file, or the folder holding ``inner``)
    top: Path
    inner: str  # relative to ``top``: a file of a recorded folder
    digest: str
    executable: bool
    position: int = -1  # in the manifest, when the folder is written from it as a stream

    @property
    def name(self) -> str:
        """Relative to the repository root, for messages (made when needed, not held)."""
        return full_path(self.rel, self.inner)


@dataclass
class PathPlan:
    """What one recorded path needs. A path that is already right needs nothing."""

    rel: str
    digest: str
    target: Path
    seen: PathState | None  # what was there when planned; None: nothing that hashes
    up_to_date: bool = False
    folder: bool = False  # the record is a folder (a manifest), not a file
    new_folder: bool = False  # nothing was there: no file of it can be in the way
    streamed: bool = False  # a new folder's files: read from its manifest as written
    remove: list[Path] = field(default_factory=list)  # files the recorded folder lacks
    writes: list[FileWrite] = field(default_factory=list)
    empty_dirs: list[str] = field(default_factory=list)  # relative to ``target``
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path, hash) not cached


@dataclass
class RestorePlan:
    paths: list[PathPlan]

    @property
    def missing(self) -> list[tuple[str, str]]:
        """(path, hash) of every object the restore needs and the cache lacks. A folder
        whose manifest is missing is listed by its own hash: fetch it, then plan again."""
        return [item for path in self.paths for item in path.missing]

    def refuse_if_incomplete(self, cache_root: Path) -> None:
        missing = self.missing
        if missing:
            raise _missing_error(missing, cache_root)


# ------------------------------------------------------------------ planning
def plan_restore(store: DataStore, items: dict[str, str]) -> RestorePlan:
    """Check every path and decide what each needs; nothing is written."""
    return RestorePlan([_plan_path(store, rel, digest) for rel, digest in items.items()])


def _plan_path(store: DataStore, rel: str, digest: str) -> PathPlan:
    target = safe_target(store.root, rel, final_link_ok=True)
    if not hashing.is_valid(digest):
        raise UnsafePathError(rel, f"its hash {digest!r} is not an xxh128 hash")
    seen = _current_state(store, rel, target)
    plan = PathPlan(rel, digest, target, seen)
    if seen is not None and seen.hash == digest:
        plan.up_to_date = True  # already right (read through a link, as it was recorded)
        return plan
    if os.path.islink(target):
        raise UnsafePathError(rel, _LINK_REFUSAL)
    if hashing.is_dir_hash(digest):
        plan.folder = True
        _plan_folder(store, plan)
    else:
        refuse_unkeepable(rel, target)  # a folder where the file goes
        plan.writes.append(FileWrite(rel, target, "", digest, executable=False))
        if not store.cache.exists(digest):
            plan.missing.append((rel, digest))
    return plan


def _plan_folder(store: DataStore, plan: PathPlan) -> None:
    if not store.cache.exists(plan.digest):
        plan.missing.append((plan.rel, plan.digest))  # no manifest: nothing more to decide
        return
    if plan.seen is None and not os.path.lexists(plan.target) and _plan_streamed(store, plan):
        return
    manifest = _manifest(store, plan.rel, plan.digest)
    seen = plan.seen if plan.seen is not None and plan.seen.manifest is not None else None
    current = {entry.path: entry for entry in seen.entries} if seen else {}
    wanted = {entry.path for entry in manifest.files}
    if seen is not None:
        plan.remove = [Path(p) for p, entry in seen.files() if entry.path not in wanted]
    del wanted
    if not os.path.lexists(plan.target):  # nothing there: no link or folder in the way
        _plan_new_folder(store, plan, manifest)
        return
    for entry in manifest.files:
        name = f"{plan.rel}/{entry.path}"
        dest = safe_target(plan.target, entry.path)  # no link inside the folder leads out
        refuse_unkeepable(name, dest)
        have = current.get(entry.path)
        same_content = have is not None and have.hash == entry.hash
        same_mode = have is not None and have.executable == entry.executable
        is_link = os.path.islink(dest)
        if same_content and (same_mode or is_link):
            continue  # already right (a link to a file with the right bytes is kept)
        if is_link:
            raise UnsafePathError(name, _LINK_REFUSAL)
        plan.writes.append(
            FileWrite(plan.rel, plan.target, entry.path, entry.hash, entry.executable)
        )
        # Same bytes, other exec bit: the copy kept before the write supplies the object.
        if not same_content and not store.cache.exists(entry.hash):
            plan.missing.append((name, entry.hash))
    for folder in manifest.empty_dirs:
        safe_target(plan.target, folder)
    plan.empty_dirs = list(manifest.empty_dirs)


def _plan_new_folder(store: DataStore, plan: PathPlan, manifest: Manifest) -> None:
    """Every file of a folder that does not exist yet is written; each name was checked
    when the (untrusted) manifest was read, and nothing on disk can be in the way, so no
    per-file look at links and folders there (a dataset can hold 10^5 files)."""
    plan.new_folder = True
    exists = store.cache.exists
    for entry in manifest.files:
        plan.writes.append(
            FileWrite(plan.rel, plan.target, entry.path, entry.hash, entry.executable)
        )
        if not exists(entry.hash):
            plan.missing.append((f"{plan.rel}/{entry.path}", entry.hash))
    plan.empty_dirs = list(manifest.empty_dirs)


def _plan_streamed(store: DataStore, plan: PathPlan) -> bool:
    """A folder that does not exist yet, planned from its manifest read as a stream: each
    object looked for, no file held (the restore reads the manifest again as it writes).
    False for a manifest that is not in the canonical form (planned as a whole instead)."""
    plan.new_folder = plan.streamed = True
    exists = store.cache.exists
    try:
        for entry in _entries(store, plan.rel, plan.digest, plan.empty_dirs):
            if not exists(entry.hash):
                plan.missing.append((f"{plan.rel}/{entry.path}", entry.hash))
    except NotCanonical:
        plan.new_folder = plan.streamed = False
        plan.missing, plan.empty_dirs = [], []
        return False
    return True


def _entries(store: DataStore, rel: str, digest: str, dirs: list[str]) -> Iterator[FileEntry]:
    """The files of the manifest ``digest`` in the cache, read as a stream (``read_stream``:
    its hash is checked once the last is read); ``dirs`` gets its empty folders."""
    path = store.cache.path_for(digest)
    try:
        with open(path, "rb") as stream:
            yield from read_stream(stream, digest, dirs)
    except FileNotFoundError as exc:
        raise store.cache.missing_error(digest) from exc
    except CorruptManifest as exc:
        raise CacheError(f"cache object {path} is corrupt ({exc})") from exc
    except NotCanonical:
        raise
    except ValueError as exc:
        raise CacheError(f"cannot restore {rel!r}: manifest {digest} is invalid ({exc})") from exc


def _entries_again(store: DataStore, path: PathPlan) -> Iterator[FileEntry]:
    """``_entries`` of a manifest that was canonical when planned."""
    try:
        yield from _entries(store, path.rel, path.digest, [])
    except NotCanonical as exc:  # its bytes changed since: they no longer hash to its name
        raise CacheError(
            f"cannot restore {path.rel!r}: manifest {path.digest} changed in the cache while "
            "it was restored"
        ) from exc


def _current_state(store: DataStore, rel: str, target: Path) -> PathState | None:
    """The path as it is now; None if nothing hashable is there (missing, a broken or
    unreadable link, a special file). An unreadable file or folder is an error now,
    before anything is written, rather than halfway through the restore."""
    try:
        return store.hasher.hash_path(rel, f"checking {rel}")
    except MissingDataError:
        return None
    except GitrackError:
        if not os.path.islink(target) and (target.is_file() or target.is_dir()):
            raise
        return None


def _manifest(store: DataStore, rel: str, digest: str) -> Manifest:
    try:
        return Manifest.from_bytes(store.cache.read_verified(digest))
    except ValueError as exc:
        raise CacheError(f"cannot restore {rel!r}: manifest {digest} is invalid ({exc})") from exc


def _missing_error(missing: list[tuple[str, str]], cache_root: Path) -> CacheError:
    rel, digest = missing[0]
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return CacheError(
        f"cannot restore {rel!r}: object {digest} is not in the cache at "
        f"{cache_root}{more}; fetch it (gitrack pull, or a [remote] cache in "
        "the config), or use --no-data"
    )


# ------------------------------------------------------------------ applying
def apply_restore(store: DataStore, plan: RestorePlan) -> int:
    """Carry out ``plan``, then prove it; return how many files were written.

    Something else may have changed a path since it was planned (a code checkout
    writes tracked files, even into a data folder): such a path is planned again first.
    """
    plan.refuse_if_incomplete(store.cache.root)
    written = 0
    for path in plan.paths:
        if not _as_planned(store, path):
            path = _plan_path(store, path.rel, path.digest)
            if path.missing:
                raise _missing_error(path.missing, store.cache.root)
        if path.up_to_date:
            continue
        written += _apply_path(store, path)
        path.writes = []  # done: a folder of 10^6 files need not hold them while it is hashed
        actual = store.hasher.current_hash(path.rel, "verifying")
        if actual != path.digest:
            raise VerificationError(
                str(store.root), [f"{path.rel} (now {actual}, recorded {path.digest})"]
            )
    return written


def _as_planned(store: DataStore, path: PathPlan) -> bool:
    """Is the path still as the plan saw it (by stat, and the links on the way)?"""
    target = safe_target(store.root, path.rel, final_link_ok=True)
    if path.seen is None:
        return not os.path.lexists(target)
    if not os.path.lexists(target):
        return False
    link = os.readlink(target) if os.path.islink(target) else None
    return link == path.seen.link and not store.hasher.changed_since(path.seen.stamp)


def _apply_path(store: DataStore, path: PathPlan) -> int:
    if not path.folder:
        _write(store, path.writes[0])
        return 1
    target = path.target
    if os.path.lexists(target) and not target.is_dir():
        store.preserve(target)  # a file where the folder goes
        target.unlink()
    _make_parents(store, target)
    made = _make_folder(target)
    for extra in path.remove:
        store.preserve(extra)
        extra.unlink()
    fresh = made and path.new_folder
    if path.streamed:
        count = _apply_streamed(store, path, fresh)
    else:
        _apply_writes(store, path.writes, fresh)
        count = len(path.writes)
    remove_empty_dirs(target, keep=set(path.empty_dirs))
    for folder in path.empty_dirs:
        safe_target(target, folder).mkdir(parents=True, exist_ok=True)
    return count


def _apply_writes(
    store: DataStore, writes: list[FileWrite], fresh: bool, written: WrittenFolder | None = None
) -> None:
    new: list[FileWrite] = []
    for write in writes:
        if not fresh and os.path.lexists(write.top / write.inner):
            _write(store, write)  # something is in the way: kept first, one at a time
        else:
            new.append(write)
    _write_new_files(store, new, fresh, written)


def _apply_streamed(store: DataStore, path: PathPlan, fresh: bool) -> int:
    """A new folder's files, read from its manifest a slice at a time as they are written:
    neither the files nor the record of what was written holds more than 48 bytes a file
    (``WrittenFolder``: what the check after the restore trusts, and what a rollback
    removes). Each file is verified as it is written; the folder's hash is checked after."""
    top = os.fspath(path.target)
    written = WrittenFolder(top, lambda: _entries_again(store, path))
    store.hasher.written_folders[top] = written
    entries = _entries_again(store, path)
    count = 0
    while chunk := list(itertools.islice(entries, hasher_module.SLICE)):
        writes = [
            FileWrite(path.rel, path.target, e.path, e.hash, e.executable, count + index)
            for index, e in enumerate(chunk)
        ]
        _apply_writes(store, writes, fresh, written)
        count += len(writes)
    return count


def _make_folder(target: Path) -> bool:
    """Make ``target``; False if it was there already."""
    try:
        target.mkdir()
    except FileExistsError:
        return False
    return True


def _write(store: DataStore, write: FileWrite) -> None:
    # Checked when planned, checked again here, just before writing: links that stat
    # cannot see changing (a new link to a folder) may have appeared since.
    dest = safe_target(write.top, write.inner) if write.inner else write.top
    if os.path.islink(dest):
        raise UnsafePathError(write.name, _LINK_REFUSAL)
    if dest.is_dir():
        store.preserve_tree(dest)  # a folder where the file goes (checked keepable)
        shutil.rmtree(dest)
    elif dest.is_file():
        store.preserve(dest)
    _make_parents(store, dest)
    store.cache.restore_to(write.digest, dest, write.executable, record=store.hasher.written)


def _write_new_files(
    store: DataStore,
    writes: list[FileWrite],
    fresh: bool = False,
    written: WrittenFolder | None = None,
) -> None:
    """Files where nothing is yet: each folder checked (no link on the way) and made once,
    then the files copied in batches on threads (``Cache.restore_files``). ``fresh``: in a
    folder this restore has just made, each is written under its own name (created, never
    opened if something is there), with no temp file and rename of its own: a file that
    fails is removed, and the files written are recorded for a rollback."""
    folders: dict[str, FileWrite] = {}
    for write in writes:
        folders.setdefault(os.path.dirname(_target(write)), write)
    for _, write in sorted(folders.items()):  # parents before their children
        inner = os.path.dirname(write.inner)
        dest = safe_target(write.top, inner) if inner else write.top
        if os.path.islink(dest):
            raise UnsafePathError(write.name, _LINK_REFUSAL)
        if fresh:
            _refuse_own_file_on_the_way(write.top, inner, write.name)
        _make_parents(store, dest / "file")
    # Each (hash, target, executable) made as its batch starts: 10^6 are never held at once.
    items = hashing.Mapped(writes, lambda write: (write.digest, _target(write), write.executable))
    # Into ``written`` as each is placed: the check after the restore trusts their stat
    # keys (no second read), and a rollback after a failure removes these files only.
    if written is None:
        store.cache.restore_files(items, fresh=fresh, record=store.hasher.written)
        return
    record: dict[str, tuple[bytes, str]] = {}
    try:
        store.cache.restore_files(items, fresh=fresh, record=record)
    finally:  # what was placed before a failure too: a rollback removes those
        for write in writes:
            placed = record.get(_target(write))
            if placed is not None:
                written.record(write.position, placed[0], placed[1])


def _target(write: FileWrite) -> str:
    return full_path(os.fspath(write.top), write.inner)  # 10^6 of them: no pathlib


def _refuse_own_file_on_the_way(top: Path, inner: str, name: str) -> None:
    """In a folder the restore has just made, a file where a folder of ``inner`` goes is
    one it wrote (a hostile manifest naming ``a`` and ``a/b``): never kept as the user's and
    replaced, which a rollback would then put back (review)."""
    if not inner:
        return
    folder = os.fspath(top)
    for part in inner.split("/"):
        folder = f"{folder}/{part}"
        if not os.path.isdir(folder) and os.path.lexists(folder):
            raise UnsafePathError(name, "the manifest names a file and a folder the same")


def _make_parents(store: DataStore, target: Path) -> None:
    """The folders above ``target``; a file where one of them goes is kept, then removed."""
    parent = target.parent
    for ancestor in [*reversed(parent.parents), parent]:
        if os.path.islink(ancestor) or not ancestor.exists() or ancestor.is_dir():
            continue
        store.preserve(ancestor)
        ancestor.unlink()
    parent.mkdir(parents=True, exist_ok=True)
