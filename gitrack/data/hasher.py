"""Hashing datasets and outputs: the stat cache first, then every core on what changed.

No object cache here: `gitrack hash` only hashes (and must start fast).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitrack.data import hashing
from gitrack.data.manifest import FileEntry, Manifest
from gitrack.data.progress import Progress
from gitrack.data.state import StatCache, StatKey, now_ns, stat_key
from gitrack.data.walk import Found, walk
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
    link: str | None = None  # the path itself was a symlink to this target
    files: list[tuple[str | Path, FileEntry]] = field(default_factory=list)
    manifest: Manifest | None = None
    stats: dict[str, StatKey] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(entry.size for _, entry in self.files)


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

    def hash_path(self, rel: str, label: str = "hashing", read: Reader | None = None) -> PathState:
        target = self.root / rel
        self.require(rel)
        link = os.readlink(target) if os.path.islink(target) else None
        try:
            st = os.stat(target)
        except OSError as exc:
            raise GitrackError(f"cannot read data path {rel!r}: {exc.strerror}") from exc
        if stat.S_ISDIR(st.st_mode):
            return self._hash_dir(rel, target, link, label, read)
        if not stat.S_ISREG(st.st_mode):
            raise GitrackError(f"data path {rel!r} is neither a file nor a folder")
        found = _found(str(target), st)
        (digest,) = self.hash_files([found], label, read)
        entry = FileEntry("", st.st_size, found[3], digest)
        return PathState(rel, entry.hash, link, [(target, entry)], None, {found[1]: found[4]})

    def _hash_dir(
        self, rel: str, top: Path, link: str | None, label: str, read: Reader | None
    ) -> PathState:
        found, empty_dirs, warnings = walk(top)
        hashes = self.hash_files(found, label, read, str(top))
        entries: list[tuple[str | Path, FileEntry]] = [
            (path, FileEntry(name, size, executable, digest))
            for (name, path, size, executable, _), digest in zip(found, hashes, strict=True)
        ]
        manifest = Manifest(tuple(e for _, e in entries), tuple(empty_dirs))
        stats = {path: key for _, path, _, _, key in found}
        return PathState(rel, manifest.digest(), link, entries, manifest, stats, warnings)

    def hash_files(
        self,
        files: Sequence[Found],
        label: str,
        read: Reader | None = None,
        top: str | None = None,
    ) -> list[str]:
        """The hash of each file, in order; unchanged files come from the stat cache,
        unread, the others from ``read`` (default: only hashed). ``top``: a folder holding
        them all."""
        if not files:
            return []
        started = now_ns()
        known = self.state.lookup_tree(top or os.path.commonpath([f[1] for f in files]))
        out: list[str] = []
        todo: list[int] = []  # indexes in ``files`` of the files to read
        written = self.written
        for index, (_, path, _, _, key) in enumerate(files):
            hit = known.get(path)
            if hit is None or hit[0] != key:
                hit = written.get(path)
            if hit is not None and hit[0] == key:
                out.append(hit[1])
            else:
                out.append("")
                todo.append(index)
        if todo:
            reader = read or _hash_one
            with Progress(label, sum(files[i][2] for i in todo)) as bar:
                digests = hashing.in_batches(
                    lambda i: reader(files[i][1], files[i][2], bar.advance), todo
                )
            for index, digest in zip(todo, digests, strict=True):
                out[index] = digest
            self.state.store([(files[i][1], files[i][4], out[i]) for i in todo], started)
        return out

    def hash_file(self, path: Path, label: str = "checking") -> str:
        """The hash of one file (through a link), the stat cache first."""
        return self.hash_files([_found(str(path), os.stat(path))], label)[0]

    def changed_since(self, before: PathState) -> bool:
        """Did the path change after it was hashed (by stat: no reading)?"""
        target = self.root / before.path
        try:
            if before.manifest is None:
                return {str(target): stat_key(os.stat(target))} != before.stats
            found, _, _ = walk(target)
        except OSError:
            return True
        return {path: key for _, path, _, _, key in found} != before.stats


def _found(path: str, st: os.stat_result) -> Found:
    """One file as ``walk`` finds it."""
    return ("", path, st.st_size, bool(st.st_mode & stat.S_IXUSR), stat_key(st))


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
