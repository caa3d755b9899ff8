"""Hashing datasets and outputs: the stat cache first, then every core on what changed.

No object cache here: `gitrack hash` only hashes (and must start fast).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import xxhash

from gitrack.data import hashing
from gitrack.data.manifest import FileEntry, Manifest, ManifestWriter
from gitrack.data.progress import Progress
from gitrack.data.state import StatCache, StatKey, now_ns
from gitrack.data.walk import Found, FoundFiles, files_under, full_path, walk
from gitrack.errors import GitrackError

SLICE = 4096  # files of a folder hashed (and cached) at a time: what is held at once
SPOOLED = 256 * 1024  # manifest bytes kept in memory to hash (more: in a temp file)


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
    check after a run walks the folder again without keeping it)."""
    stamp = Stamper(path, folder)
    stamp.add(files)
    return stamp.done()


class Stamper:
    """A StatStamp made a slice of files at a time (in the order of their paths). A name
    holds no NUL and a stat key is 32 bytes: no two lists of files give the same bytes."""

    def __init__(self, path: str, folder: bool) -> None:
        self.path, self.folder = path, folder
        self._digest = xxhash.xxh3_128()

    def add(self, files: Iterable[Found]) -> None:
        update = self._digest.update
        for rel, _, _, key in files:
            update(rel.encode("utf-8", "surrogateescape") + b"\0" + key)

    def done(self) -> StatStamp:
        return StatStamp(self.path, self.folder, hashing.PREFIX + self._digest.hexdigest())


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
        # The same for the folders a restore wrote from a manifest, 48 bytes a file: the
        # folder's path -> its record (no dict entry per file: 10^6 of them).
        self.written_folders: dict[str, WrittenFolder] = {}

    def written_files(self) -> dict[str, tuple[StatKey, str]]:
        """Every file this process wrote (``written``, and the files of ``written_folders``):
        path -> (stat key once in place, hash). A dict entry per file: for a rollback after
        a failure, not for the way a restore goes. The files of a folder whose manifest
        cannot be read again are left out (a rollback removes only what it knows is its own)."""
        out = dict(self.written)
        for folder in self.written_folders.values():
            try:
                out.update(folder.files())
            except (GitrackError, OSError, ValueError):
                continue
        return out

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
        top = os.fspath(target)
        if not keep_manifest:  # only the hash is wanted: a slice of files held at a time
            return self._digest_dir(rel, target, link, label)
        found, empty_dirs, warnings = walk(target)
        hashes = self.hash_files(found, top, label, read)
        stamp = stamp_of(rel, True, found)
        entries = tuple(
            FileEntry(name, size, executable, digest)
            for (name, size, executable, _), digest in zip(found, hashes, strict=True)
        )
        del found, hashes  # before the manifest is encoded: the peak of a big folder
        manifest = Manifest(entries, tuple(empty_dirs))
        return PathState(rel, manifest.digest(), stamp, link, top, entries, manifest, warnings)

    def _digest_dir(self, rel: str, target: Path, link: str | None, label: str) -> PathState:
        """A folder's state with its hash and stamp only, each file encoded into both as its
        slice is hashed: neither its entries nor all of the manifest's bytes are held (what
        the hash needs of them waits in a temp file, see ``ManifestWriter``)."""
        import tempfile

        empty: list[str] = []
        warnings: list[str] = []
        stamp = Stamper(rel, True)
        written = self.written_folders.get(os.fspath(target))
        trusted = written.cursor() if written is not None else None
        try:
            with tempfile.SpooledTemporaryFile(SPOOLED) as file, Progress(label, 0) as bar:
                manifest = ManifestWriter(cast(IO[bytes], _Spool(file)))
                slices = self.hash_slices(target, label, empty, warnings, bar, trusted=trusted)
                for found, hashes in slices:
                    stamp.add(found)
                    manifest.add(entries_of(found, hashes))
                digest = manifest.finish(empty)
        except _SpoolError as exc:
            where = tempfile.gettempdir()
            raise GitrackError(
                f"cannot hash {rel}: a temp file in {where} failed ({exc.__cause__}); free "
                "some space there, or point TMPDIR at a folder that has it"
            ) from exc
        return PathState(rel, digest, stamp.done(), link, os.fspath(target), (), None, warnings)

    def hash_slices(
        self,
        target: Path,
        label: str,
        empty: list[str],
        warnings: list[str],
        bar: Progress,
        read: Reader | None = None,
        trusted: WrittenCursor | None = None,
    ) -> Iterator[tuple[FoundFiles, list[str]]]:
        """The files under the folder ``target`` with their hashes (``hash_files``), SLICE
        files at a time in the order of their paths: what a folder of 10^6 files holds at
        once is one slice. Empty folders and warnings go to the lists given. ``trusted``:
        the files a restore has just written there, not read again while unchanged."""
        top = os.fspath(target)
        files = files_under(target, empty, warnings)
        while found := FoundFiles.of(itertools.islice(files, SLICE)):
            known = trusted.hashes(found) if trusted is not None else None
            yield found, self.hash_files(found, top, label, read, bar, known)

    def hash_files(
        self,
        files: FoundFiles,
        top: str,
        label: str,
        read: Reader | None = None,
        bar: Progress | None = None,
        known: list[str] | None = None,
    ) -> list[str]:
        """The hash of each file under ``top`` (sorted by path, as ``walk`` gives them; a
        path "" is ``top`` itself), in order; unchanged files come from the stat cache,
        unread, the others from ``read`` (default: only hashed). ``bar``: the progress of a
        whole folder hashed a slice at a time (this call adds what it reads to its total)."""
        if not files:
            return []
        started = now_ns()
        out = self._known_hashes(files, top)
        if known is not None:  # "" where it knows nothing
            out = [mine or theirs for mine, theirs in zip(out, known, strict=True)]
        # The indexes of the files to read: packed (10^6 of them, not 10^6 int objects).
        todo = array("q", (index for index, digest in enumerate(out) if not digest))
        if todo:
            reader = read or _hash_one
            paths = files.paths
            size = sum(files.size(i) for i in todo)
            with contextlib.nullcontext(bar) if bar else Progress(label, size) as shown:
                if bar:
                    bar.grow(size)
                digests = hashing.in_batches(
                    lambda i: reader(full_path(top, paths[i]), files.size(i), shown.advance),
                    todo,
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
        rows = self.state.entries_under(top, paths[0], paths[-1])  # a slice's: its range
        for path, key, digest in rows:
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


class WrittenFolder:
    """A folder a restore is writing from a manifest, 48 bytes a file: the stat key each
    file had once written and verified, and its hash, by the file's position in the
    manifest (zeros: not written by it); the manifest's files are read again only for
    their paths (``entries``, for a rollback)."""

    def __init__(self, top: str, entries: Callable[[], Iterator[FileEntry]]) -> None:
        self.top = top
        self.entries = entries
        self.records = bytearray()

    def record(self, index: int, key: StatKey, digest: str) -> None:
        end = (index + 1) * _RECORD
        if len(self.records) < end:
            self.records.extend(bytes(end - len(self.records)))
        self.records[end - _RECORD : end] = key + bytes.fromhex(hashing.hex_of(digest))

    def written(self, index: int) -> tuple[StatKey, str] | None:
        """(stat key, hash) of the file the restore wrote at ``index``; None if none."""
        record = bytes(self.records[index * _RECORD : (index + 1) * _RECORD])
        if len(record) < _RECORD or record == _UNWRITTEN:
            return None
        return record[:KEY_SIZE], hashing.PREFIX + record[KEY_SIZE:].hex()

    def cursor(self) -> WrittenCursor:
        return WrittenCursor(self)

    def files(self) -> Iterator[tuple[str, tuple[StatKey, str]]]:
        """(path, (stat key, hash)) of each file the restore wrote."""
        for index, entry in enumerate(self.entries()):
            if index * _RECORD >= len(self.records):
                return
            written = self.written(index)
            if written is not None:
                yield full_path(self.top, entry.path), written


class WrittenCursor:
    """A walk's files of a written folder matched, in order, to the manifest's positions
    (the walk and the manifest are both sorted by path): a file whose stat key is the one
    recorded at its position has the hash recorded there; any other is read. A stat key
    names one file (its inode) in one state (size, times): whatever its name now, its
    bytes are the ones written and verified there (as the stat cache trusts a key)."""

    def __init__(self, folder: WrittenFolder) -> None:
        self._folder = folder
        self._position = 0

    def hashes(self, found: FoundFiles) -> list[str]:
        out = []
        written, position = self._folder.written, self._position
        for index in range(len(found)):
            hit = written(position + index)
            out.append(hit[1] if hit is not None and hit[0] == found.key(index) else "")
        self._position = position + len(found)
        return out


KEY_SIZE = 32  # a stat key's bytes
_RECORD = KEY_SIZE + 16  # and a hash's
_UNWRITTEN = bytes(_RECORD)


def entries_of(found: FoundFiles, hashes: list[str]) -> Iterator[FileEntry]:
    """The manifest's entries of a slice of files, made as they are encoded."""
    pairs = zip(found, hashes, strict=True)
    return (
        FileEntry(rel, size, executable, digest) for (rel, size, executable, _), digest in pairs
    )


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


T = TypeVar("T")


class _SpoolError(Exception):
    """The temp file a manifest's bytes wait in failed (its OSError is the cause)."""


class _Spool:
    """A manifest's bytes in memory, then in a temp file in $TMPDIR (what ManifestWriter
    uses of a file), whose failures (no room there, no such folder) are told apart from
    the folder's own."""

    def __init__(self, spool: IO[bytes]) -> None:
        self._spool = spool

    def write(self, data: bytes) -> int:
        return self._call(self._spool.write, data)

    def read(self, size: int = -1) -> bytes:
        return self._call(self._spool.read, size)

    def seek(self, offset: int) -> int:
        return self._call(self._spool.seek, offset)

    def flush(self) -> None:
        self._call(self._spool.flush)

    @staticmethod
    def _call(method: Callable[..., T], *args: Any) -> T:
        try:
            return method(*args)
        except OSError as exc:
            raise _SpoolError() from exc
