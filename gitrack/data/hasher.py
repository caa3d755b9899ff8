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
from gitrack.data.walk import walk
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

    def hash_path(self, rel: str, label: str = "hashing", read: Reader | None = None) -> PathState:
        target = self.root / rel
        if not os.path.lexists(target):
            raise MissingDataError(rel)
        link = os.readlink(target) if os.path.islink(target) else None
        try:
            st = os.stat(target)
        except OSError as exc:
            raise GitrackError(f"cannot read data path {rel!r}: {exc.strerror}") from exc
        if stat.S_ISDIR(st.st_mode):
            return self._hash_dir(rel, target, link, label, read)
        if not stat.S_ISREG(st.st_mode):
            raise GitrackError(f"data path {rel!r} is neither a file nor a folder")
        digest = self.hash_files([(target, st)], label, read)[str(target)]
        entry = FileEntry("", st.st_size, bool(st.st_mode & stat.S_IXUSR), digest)
        return PathState(
            rel, entry.hash, link, [(target, entry)], None, {str(target): stat_key(st)}
        )

    def _hash_dir(
        self, rel: str, top: Path, link: str | None, label: str, read: Reader | None
    ) -> PathState:
        found, empty_dirs, warnings = walk(top)
        hashes = self.hash_files([(path, st) for _, path, st in found], label, read, str(top))
        entries: list[tuple[str | Path, FileEntry]] = [
            (path, FileEntry(name, st.st_size, bool(st.st_mode & stat.S_IXUSR), hashes[path]))
            for name, path, st in found
        ]
        manifest = Manifest(tuple(e for _, e in entries), tuple(empty_dirs))
        stats = {path: stat_key(st) for _, path, st in found}
        return PathState(rel, manifest.digest(), link, entries, manifest, stats, warnings)

    def hash_files(
        self,
        files: Sequence[tuple[str | Path, os.stat_result]],
        label: str,
        read: Reader | None = None,
        top: str | None = None,
    ) -> dict[str, str]:
        """Hashes by absolute path; unchanged files come from the stat cache, unread, and
        the others from ``read`` (default: only hashed). ``top``: a folder holding them all."""
        if not files:
            return {}
        started = now_ns()
        known = self.state.lookup_tree(top or os.path.commonpath([str(p) for p, _ in files]))
        out: dict[str, str] = {}
        todo: list[tuple[str | Path, os.stat_result]] = []
        written = self.written
        for path, st in files:
            name, key = str(path), stat_key(st)
            hit = known.get(name)
            if hit is None or hit[0] != key:
                hit = written.get(name)
            if hit is not None and hit[0] == key:
                out[name] = hit[1]
            else:
                todo.append((path, st))
        if todo:
            reader = read or _hash_one
            with Progress(label, sum(st.st_size for _, st in todo)) as bar:
                digests = hashing.in_batches(
                    lambda t: reader(t[0], t[1].st_size, bar.advance), todo
                )
            fresh = [(str(p), stat_key(st), d) for (p, st), d in zip(todo, digests, strict=True)]
            self.state.store(fresh, started)
            out.update({p: d for p, _, d in fresh})
        return out

    def hash_file(self, path: Path, label: str = "checking") -> str:
        """The hash of one file (through a link), the stat cache first."""
        return self.hash_files([(path, os.stat(path))], label)[str(path)]

    def changed_since(self, before: PathState) -> bool:
        """Did the path change after it was hashed (by stat: no reading)?"""
        target = self.root / before.path
        try:
            if before.manifest is None:
                return {str(target): stat_key(os.stat(target))} != before.stats
            found, _, _ = walk(target)
        except OSError:
            return True
        return {str(p): stat_key(st) for _, p, st in found} != before.stats


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
