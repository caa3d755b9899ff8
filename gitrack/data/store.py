"""Datasets and outputs: hashed (stat cache first), stored in the cache, restored exactly.

A restore never loses data: a file about to be replaced or removed is first put in the
cache (where `gitrack gc` can drop it later), every restored file is verified by hash
as it is written, and the finished path is hashed again against the run's record.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from gitrack.data import hashing
from gitrack.data.layout import cache_root
from gitrack.data.manifest import FileEntry, Manifest
from gitrack.data.odb import Cache, CacheError
from gitrack.data.progress import Progress
from gitrack.data.state import StatCache, StatKey, now_ns, stat_key
from gitrack.errors import GitrackError, VerificationError
from gitrack.paths import UnsafePathError, safe_target

WORKERS = min(32, 2 * (os.cpu_count() or 1))


class MissingDataError(GitrackError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"data path {path!r} does not exist; check the path (relative to the repository root)"
        )
        self.path = path


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


class DataStore:
    def __init__(self, root: Path, cache: Cache, state: StatCache) -> None:
        self.root = root
        self.cache = cache
        self.state = state
        self.preserved: list[tuple[str, str]] = []  # (path, hash) kept before a restore
        self._session = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"

    @classmethod
    def open(
        cls,
        root: Path,
        common_dir: Path,
        cache_setting: str | None,
        config_root: Path | None = None,
    ) -> DataStore:
        """The cache lives in the git common dir (shared by linked worktrees) unless moved.

        A relative ``cache`` setting is relative to ``config_root`` (where the config file
        was read; default ``root``).
        """
        folder = cache_root(common_dir, cache_setting, config_root or root)
        return cls(root, Cache(folder), StatCache(common_dir / "gitrack" / "state.sqlite"))

    # ---------------------------------------------------------------- hashing
    def hash_path(self, rel: str, label: str = "hashing") -> PathState:
        target = self.root / rel
        if not os.path.lexists(target):
            raise MissingDataError(rel)
        link = os.readlink(target) if os.path.islink(target) else None
        try:
            st = os.stat(target)
        except OSError as exc:
            raise GitrackError(f"cannot read data path {rel!r}: {exc.strerror}") from exc
        if stat.S_ISDIR(st.st_mode):
            return self._hash_dir(rel, target, link, label)
        if not stat.S_ISREG(st.st_mode):
            raise GitrackError(f"data path {rel!r} is neither a file nor a folder")
        hashes = self.hash_files([(target, st)], label)
        entry = FileEntry("", st.st_size, bool(st.st_mode & stat.S_IXUSR), hashes[str(target)])
        return PathState(
            rel, entry.hash, link, [(target, entry)], None, {str(target): stat_key(st)}
        )

    def _hash_dir(self, rel: str, top: Path, link: str | None, label: str) -> PathState:
        found, empty_dirs, warnings = _walk(top)
        hashes = self.hash_files([(path, st) for _, path, st in found], label)
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
    ) -> dict[str, str]:
        """Hashes by absolute path; unchanged files come from the stat cache, unread."""
        if not files:
            return {}
        started = now_ns()
        known = self.state.lookup_tree(os.path.commonpath([str(p) for p, _ in files]))
        out: dict[str, str] = {}
        todo: list[tuple[str | Path, os.stat_result]] = []
        for path, st in files:
            hit = known.get(str(path))
            if hit is not None and hit[0] == stat_key(st):
                out[str(path)] = hit[1]
            else:
                todo.append((path, st))
        if todo:
            with Progress(label, sum(st.st_size for _, st in todo)) as bar:
                if len(todo) == 1:
                    digests = [_hash_one(todo[0][0], bar.advance)]
                else:
                    with ThreadPoolExecutor(WORKERS) as pool:
                        digests = list(pool.map(lambda t: _hash_one(t[0], bar.advance), todo))
            fresh = [(str(p), stat_key(st), d) for (p, st), d in zip(todo, digests, strict=True)]
            self.state.store(fresh, started)
            out.update({p: d for p, _, d in fresh})
        return out

    def changed_since(self, before: PathState) -> bool:
        """Did the path change after it was hashed (by stat: no reading)?"""
        target = self.root / before.path
        try:
            if before.manifest is None:
                return {str(target): stat_key(os.stat(target))} != before.stats
            found, _, _ = _walk(target)
        except OSError:
            return True
        return {str(p): stat_key(st) for _, p, st in found} != before.stats

    # ---------------------------------------------------------------- caching
    def store(self, state: PathState, label: str = "caching") -> None:
        missing = [(p, e) for p, e in state.files if not self.cache.exists(e.hash)]
        if missing:
            with Progress(label, sum(e.size for _, e in missing)) as bar:
                if len(missing) == 1:
                    self.cache.add_file(missing[0][0], missing[0][1].hash, bar.advance)
                else:
                    with ThreadPoolExecutor(WORKERS) as pool:
                        list(
                            pool.map(
                                lambda t: self.cache.add_file(t[0], t[1].hash, bar.advance), missing
                            )
                        )
        if state.manifest is not None:
            self.cache.add_bytes(state.manifest.to_bytes(), state.hash)

    # -------------------------------------------------------------- restoring
    def missing_objects(self, items: dict[str, str]) -> list[tuple[str, str]]:
        """(path, hash) of objects a restore needs and the cache lacks; paths checked.

        A file already right in the working tree needs nothing. A directory whose
        manifest is missing is reported by its own hash (fetch that first).
        """
        missing: list[tuple[str, str]] = []
        for rel, digest in items.items():
            target = safe_target(self.root, rel, final_link_ok=True)
            if not hashing.is_valid(digest):
                raise UnsafePathError(rel, f"its hash {digest!r} is not an xxh128 hash")
            if self._path_matches(rel, digest):
                continue  # already right in the working tree: nothing to fetch or write
            if os.path.islink(target):
                raise UnsafePathError(
                    rel, "it is a symlink here; gitrack does not write through links"
                )
            if not hashing.is_dir_hash(digest):
                _refuse_unkeepable(rel, target)  # a folder where the file goes
                if not self.cache.exists(digest):
                    missing.append((rel, digest))
                continue
            if not self.cache.exists(digest):
                missing.append((rel, digest))
                continue
            for entry in self._manifest(rel, digest).files:
                dest = safe_target(target, entry.path)  # no link inside the folder leads out
                _refuse_unkeepable(f"{rel}/{entry.path}", dest)
                if not self.cache.exists(entry.hash) and not self._already_there(dest, entry.hash):
                    missing.append((f"{rel}/{entry.path}", entry.hash))
        return missing

    def _path_matches(self, rel: str, digest: str) -> bool:
        try:
            return self.hash_path(rel, f"checking {rel}").hash == digest
        except GitrackError:
            return False  # missing or unreadable: it will be written

    def check_restorable(self, items: dict[str, str]) -> None:
        """Before anything is written: every path safe, every needed object present."""
        missing = self.missing_objects(items)
        if missing:
            rel, digest = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise CacheError(
                f"cannot restore {rel!r}: object {digest} is not in the cache at "
                f"{self.cache.root}{more}; fetch it (gitrack pull, or a [remote] cache in "
                "the config), or use --no-data"
            )

    def _already_there(self, target: Path, digest: str) -> bool:
        if not target.is_file() or target.is_symlink():
            return False
        return self._current_hash(target) == digest

    def _manifest(self, rel: str, digest: str) -> Manifest:
        try:
            return Manifest.from_bytes(self.cache.read_verified(digest))
        except ValueError as exc:
            raise CacheError(
                f"cannot restore {rel!r}: manifest {digest} is invalid ({exc})"
            ) from exc

    def restore(self, rel: str, digest: str) -> int:
        """Make ``rel`` hold exactly ``digest``; return how many files were written."""
        target = safe_target(self.root, rel, final_link_ok=True)
        if self._path_matches(rel, digest):
            return 0
        if hashing.is_dir_hash(digest):
            written = self._restore_dir(rel, target, self._manifest(rel, digest))
        else:
            written = self._restore_file(rel, target, digest, executable=None)
        actual = self.hash_path(rel, "verifying").hash
        if actual != digest:
            raise VerificationError(str(self.root), [f"{rel} (now {actual}, recorded {digest})"])
        return written

    def _restore_file(self, rel: str, target: Path, digest: str, executable: bool | None) -> int:
        if os.path.islink(target):
            if os.path.isfile(target) and self._current_hash(target) == digest:
                return 0
            raise UnsafePathError(rel, "it is a symlink here; gitrack does not write through links")
        if target.is_file():
            mode = os.stat(target).st_mode
            same_exec = executable is None or bool(mode & stat.S_IXUSR) == executable
            if self._current_hash(target) == digest and same_exec:
                return 0
            self._preserve(target)
        elif target.is_dir():
            self._preserve_tree(target)
            shutil.rmtree(target)
        self._make_parents(rel, target)
        if executable is None:
            executable = False
        self.cache.restore_to(digest, target, executable)
        return 1

    def _restore_dir(self, rel: str, target: Path, manifest: Manifest) -> int:
        if os.path.islink(target):
            raise UnsafePathError(rel, "it is a symlink here; gitrack does not write through links")
        if target.exists() and not target.is_dir():
            self._preserve(target)
            target.unlink()
        target.mkdir(parents=True, exist_ok=True)
        wanted = {entry.path: entry for entry in manifest.files}
        found, _, _ = _walk(target)
        for name, path, _st in found:
            if name not in wanted:
                self._preserve(Path(path))
                os.unlink(path)
        written = 0
        for entry in manifest.files:
            dest = safe_target(target, entry.path)
            written += self._restore_file(f"{rel}/{entry.path}", dest, entry.hash, entry.executable)
        _remove_empty_dirs(target, keep=set(manifest.empty_dirs))
        for folder in manifest.empty_dirs:
            safe_target(target, folder).mkdir(parents=True, exist_ok=True)
        return written

    def _current_hash(self, path: Path) -> str:
        return self.hash_files([(path, os.stat(path))], "checking")[str(path)]

    def _preserve(self, path: Path) -> None:
        """Keep a copy of what is about to be replaced or removed: a restore loses nothing.

        The copy is listed in ``<cache>/preserved/`` so `gitrack gc` keeps it for
        PRESERVE_DAYS, and the checkout names it.
        """
        if path.is_file() and not path.is_symlink():
            digest = self.cache.add_file(path, self._current_hash(path))
            rel = os.path.relpath(path, self.root)
            self.preserved.append((Path(rel).as_posix(), digest))
            self._write_preserved()

    def _write_preserved(self) -> None:
        folder = self.cache.root / "preserved"
        folder.mkdir(parents=True, exist_ok=True)
        record = folder / f"{self._session}.json"
        temp = folder / f".{self._session}.tmp"
        temp.write_text(json.dumps(dict(self.preserved), indent=1))
        os.replace(temp, record)

    def _preserve_tree(self, top: Path) -> None:
        for _, path, _ in _walk(top)[0]:
            self._preserve(Path(path))

    def _make_parents(self, rel: str, target: Path) -> None:
        parent = target.parent
        for ancestor in [*reversed(parent.parents), parent]:
            if os.path.islink(ancestor) or not ancestor.exists() or ancestor.is_dir():
                continue
            self._preserve(ancestor)  # a file where a folder must go
            ancestor.unlink()
        parent.mkdir(parents=True, exist_ok=True)


def hash_paths(paths: list[Path], cwd: str | Path = ".") -> list[tuple[str, Path]]:
    """``xxh128:<hex>`` per path; inside a repository, its stat cache makes re-checks free."""
    from gitrack.git import find_common_dir

    common = find_common_dir(Path(cwd))  # the stat cache of the repository we are in
    state = StatCache(common / "gitrack" / "state.sqlite" if common else None)
    out = []
    try:
        for path in paths:
            absolute = Path(os.path.abspath(Path(cwd) / path))
            store = DataStore(absolute.parent, Cache(Path(os.devnull)), state)
            out.append((store.hash_path(absolute.name).hash, path))
    finally:
        state.close()
    return out


def _hash_one(path: str | Path, progress: hashing.Progress) -> str:
    try:
        return hashing.hash_file(path, progress)
    except OSError as exc:
        raise GitrackError(
            f"cannot read {path}: {exc.strerror or exc}; check it exists and is readable"
        ) from exc


def _walk(top: Path) -> tuple[list[tuple[str, str, os.stat_result]], list[str], list[str]]:
    """Files under ``top`` (links to files followed): (relative path, path, stat), sorted;
    empty folders; warnings. Plain strings and os.scandir: this runs over 100,000 files."""
    found: list[tuple[str, str, os.stat_result]] = []
    empty: list[str] = []
    warnings: list[str] = []
    stack = [(os.fspath(top), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as entries:
                listing = list(entries)
        except OSError as exc:
            _walk_error(exc)
        if not listing and prefix:
            empty.append(prefix[:-1])
        for entry in listing:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name != ".git":
                    stack.append((entry.path, rel + "/"))
                continue
            try:
                st = entry.stat()  # follows a link to a file: its content is hashed
            except OSError:
                warnings.append(f"{entry.path}: a broken symlink is skipped")
                continue
            if stat.S_ISDIR(st.st_mode):
                warnings.append(f"{entry.path}: a symlink to a folder inside a dataset is skipped")
            elif stat.S_ISREG(st.st_mode):
                found.append((rel, entry.path, st))
    found.sort(key=lambda item: item[0])
    return found, sorted(empty), warnings


def _refuse_unkeepable(rel: str, target: Path) -> None:
    """A folder that a file must replace may hold only what a restore can keep a copy of."""
    if os.path.islink(target) or not target.is_dir():
        return
    for folder, dirnames, filenames in os.walk(target):
        for name in dirnames:
            path = os.path.join(folder, name)
            if name == ".git" or os.path.islink(path):
                raise GitrackError(
                    f"cannot restore {rel!r}: the folder there holds {path}, which a restore "
                    "cannot keep a copy of; move the folder away, or use --no-data"
                )
        for name in filenames:
            path = os.path.join(folder, name)
            if not os.path.isfile(path) or os.path.islink(path):
                raise GitrackError(
                    f"cannot restore {rel!r}: the folder there holds {path} (a link or special "
                    "file), which a restore cannot keep a copy of; move the folder away, or "
                    "use --no-data"
                )


def _walk_error(exc: OSError) -> NoReturn:
    raise GitrackError(
        f"cannot read folder {exc.filename}: {exc.strerror}; check its permissions"
    ) from exc


def _remove_empty_dirs(top: Path, keep: set[str]) -> None:
    for dirpath, _dirnames, _filenames in os.walk(top, topdown=False):
        base = Path(dirpath)
        if base == top or any(base.iterdir()):
            continue
        rel = base.relative_to(top).as_posix()
        if rel not in keep and not any(k.startswith(rel + "/") for k in keep):
            try:
                base.rmdir()
            except OSError:
                continue
