"""Hashing datasets and outputs: the stat cache first, then every core on what changed.

No object cache here: `gitrack hash` only hashes (and must start fast).
"""

from __future__ import annotations

import os
import stat
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gitrack.data import hashing
from gitrack.data.manifest import FileEntry, Manifest, digest_of_sorted
from gitrack.data.progress import Progress
from gitrack.data.state import StatCache, StatKey, now_ns
from gitrack.data.walk import Found, FoundFiles, files_under, full_path, walk
from gitrack.errors import GitrackError


class MissingDataError(GitrackError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"data path {path!r} does not exist; check the path (relative to the repository root)"
        )
        self.path = path


# Reads one file (path, size in bytes) and returns its hash: ``hashing.hash_file``, or a
# reader that also copies what it reads (``DataStore.hash_and_stage``).
Reader = Callable[[str | Path, int, hashing.Progress], str]


@dataclass
class PathState:
    """One dataset or output as it was hashed."""

    path: str  # relative to the repository root
    hash: str
    stamp: StatStamp  # what ``changed_since`` compares
    link: str | None = None  # the path itself was a symlink to this target
    top: str = ""  # its absolute path: a file's own, or the folder its files are under
    # One per file: a folder's are its manifest's (not a copy), a file's is named "".
    entries: tuple[FileEntry, ...] = ()
    manifest: Manifest | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.entries)

    def files(self) -> Iterator[tuple[str, FileEntry]]:
        """(path, entry) of each file, its path made when asked (not held for 10^6 files)."""
        top = self.top
        return ((full_path(top, entry.path), entry) for entry in self.entries)

    def sources(self) -> hashing.Mapped[FileEntry, tuple[str, str]]:
        """(path, hash) of each file, as ``Cache.add_files`` takes them, each made when
        its batch starts (not 10^6 tuples and paths at once)."""
        top = self.top
        return hashing.Mapped(self.entries, lambda entry: (full_path(top, entry.path), entry.hash))


@dataclass(frozen=True)
class StatStamp:
    """A path's files and their stat keys, summed up in one hash: ``changed_since``
    compares two of these, never a copy of every file's path and key (a folder can hold
    10^6 files)."""

    path: str  # relative to the repository root
    folder: bool
    digest: str  # of each file's name and stat key, in the order of their paths


def stamp_of(path: str, folder: bool, files: Iterable[Found]) -> StatStamp:
    """The stamp of ``files``, sorted by path as ``walk`` and ``files_under`` give them (the
    check after a run walks the folder again without keeping it). A name holds no NUL and a
    stat key is 32 bytes: no two lists of files give the same bytes to hash."""
    pieces = (rel.encode("utf-8", "surrogateescape") + b"\0" + key for rel, _, _, key in files)
    return StatStamp(path, folder, hashing.hash_pieces(pieces))


class Hasher:
    """Hashes paths under ``root``; ``state`` remembers hashes of unchanged files."""

    def __init__(self, root: Path, state: StatCache) -> None:
        self.root = root
        self.state = state
        # Files this process has just written, each verified by the hash of the bytes
        # written (a restore): path -> (stat key once in place, hash). Trusted while the
        # stat key is the same, so the check after a restore does not read them again;
        # kept out of the stat cache, where a file this recent is not trusted (RACY_NS).
        self.written: dict[str, tuple[StatKey, str]] = {}

    def require(self, rel: str) -> None:
        """Raise MissingDataError if nothing is at ``rel``."""
        if not os.path.lexists(self.root / rel):
            raise MissingDataError(rel)

    def current_hash(self, rel: str, label: str = "checking") -> str:
        """``hash_path(rel).hash``, a folder's manifest hashed as it is encoded from its
        files' hashes, neither its entries nor its bytes kept (nothing will store them)."""
        return self.hash_path(rel, label, keep_manifest=False).hash

    def hash_path(
        self,
        rel: str,
        label: str = "hashing",
        read: Reader | None = None,
        keep_manifest: bool = True,
    ) -> PathState:
        """``keep_manifest=False``: a folder's entries and manifest are not kept (its state
        has only its hash and stamp)."""
        target = self.root / rel
        self.require(rel)
        link = os.readlink(target) if os.path.islink(target) else None
        try:
            st = os.stat(target)
        except OSError as exc:
            raise GitrackError(f"cannot read data path {rel!r}: {exc.strerror}") from exc
        if stat.S_ISDIR(st.st_mode):
            return self._hash_dir(rel, target, link, label, read, keep_manifest)
        if not stat.S_ISREG(st.st_mode):
            raise GitrackError(f"data path {rel!r} is neither a file nor a folder")
        found = FoundFiles.of_file(st)
        top = os.fspath(target)
        (digest,) = self.hash_files(found, top, label, read)
        entry = FileEntry("", st.st_size, found[0][2], digest)
        stamp = stamp_of(rel, False, found)
        return PathState(rel, entry.hash, stamp, link, top, (entry,))

    def _hash_dir(
        self,
        rel: str,
        target: Path,
        link: str | None,
        label: str,
        read: Reader | None,
        keep_manifest: bool,
    ) -> PathState:
        found, empty_dirs, warnings = walk(target)
        top = os.fspath(target)
        hashes = self.hash_files(found, top, label, read)
        stamp = stamp_of(rel, True, found)
        if not keep_manifest:  # only the hash is wanted: no entry kept, nor the manifest
            pairs = zip(found, hashes, strict=True)
            files = (FileEntry(n, size, x, digest) for (n, size, x, _), digest in pairs)
            digest = digest_of_sorted(files, empty_dirs)  # walk sorts them by path
            return PathState(rel, digest, stamp, link, top, (), None, warnings)
        entries = tuple(
            FileEntry(name, size, executable, digest)
            for (name, size, executable, _), digest in zip(found, hashes, strict=True)
        )
        del found, hashes  # before the manifest is encoded: the peak of a big folder
        manifest = Manifest(entries, tuple(empty_dirs))
        return PathState(rel, manifest.digest(), stamp, link, top, entries, manifest, warnings)

    def hash_files(
        self,
        files: FoundFiles,
        top: str,
        label: str,
        read: Reader | None = None,
    ) -> list[str]:
        """The hash of each file under ``top`` (sorted by path, as ``walk`` gives them; a
        path "" is ``top`` itself), in order; unchanged files come from the stat cache,
        unread, the others from ``read`` (default: only hashed)."""
        if not files:
            return []
        started = now_ns()
        out = self._known_hashes(files, top)
        # The indexes of the files to read: packed (10^6 of them, not 10^6 int objects).
        todo = array("q", (index for index, digest in enumerate(out) if not digest))
        if todo:
            reader = read or _hash_one
            paths = files.paths
            with Progress(label, sum(files.size(i) for i in todo)) as bar:
                digests = hashing.in_batches(
                    lambda i: reader(full_path(top, paths[i]), files.size(i), bar.advance), todo
                )
            for index, digest in zip(todo, digests, strict=True):
                out[index] = digest
            del digests
            self.state.store(
                ((full_path(top, paths[i]), files.key(i), out[i]) for i in todo), started
            )
        return out

    def _known_hashes(self, files: FoundFiles, top: str) -> list[str]:
        """The hash of each file whose stat key is the one the stat cache, or this process's
        own writes, vouch for; "" for the others."""
        out = [""] * len(files)
        # A merge of two lists sorted by path, the stat cache's read a few rows at a time
        # (all of them: the cursor is done before the stat cache is written to).
        paths, index, start = files.paths, 0, len(top) + 1
        for path, key, digest in self.state.entries_under(top):
            rel = path[start:]  # "" for ``top`` itself
            while index < len(paths) and paths[index] < rel:
                index += 1
            if index < len(paths) and paths[index] == rel and files.key(index) == key:
                out[index] = digest
        if self.written:
            for index, (rel, _, _, key) in enumerate(files):
                hit = self.written.get(full_path(top, rel)) if not out[index] else None
                if hit is not None and hit[0] == key:
                    out[index] = hit[1]
        return out

    def hash_file(self, path: Path, label: str = "checking") -> str:
        """The hash of one file (through a link), the stat cache first."""
        return self.hash_files(FoundFiles.of_file(os.stat(path)), os.fspath(path), label)[0]

    def changed_since(self, before: StatStamp) -> bool:
        """Did the path change after it was hashed (by stat: no reading)? ``before``: the
        stamp of its PathState."""
        return self.stamp(before.path, before.folder) != before

    def stamp(self, rel: str, folder: bool) -> StatStamp | None:
        """The path's stat stamp now (a folder walked, not kept); None if it cannot be read."""
        target = self.root / rel
        try:
            if not folder:
                return stamp_of(rel, False, FoundFiles.of_file(os.stat(target)))
            return stamp_of(rel, True, files_under(target, [], []))
        except (OSError, GitrackError):  # gone, or a folder in it unreadable: it changed
            return None


def hash_paths(paths: list[Path], cwd: str | Path = ".") -> list[tuple[str, Path]]:
    """``xxh128:<hex>`` per path; inside a repository, its stat cache makes re-checks free."""
    from gitrack.git import find_common_dir

    common = find_common_dir(Path(cwd))  # the stat cache of the repository we are in
    state = StatCache(common / "gitrack" / "state.sqlite" if common else None)
    out = []
    try:
        for path in paths:
            absolute = Path(os.path.abspath(Path(cwd) / path))
            hasher = Hasher(absolute.parent, state)
            out.append((hasher.hash_path(absolute.name).hash, path))
    finally:
        state.close()
    return out


def _hash_one(path: str | Path, _size: int, progress: hashing.Progress) -> str:
    try:
        return hashing.hash_file(path, progress)
    except OSError as exc:
        raise GitrackError(
            f"cannot read {path}: {exc.strerror or exc}; check it exists and is readable"
        ) from exc
