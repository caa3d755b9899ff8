"""The data store: datasets and outputs hashed (hasher.py), kept in the content-addressed
cache (odb.py), restored exactly (restore.py).

A restore never loses data: a file about to be replaced or removed is first put in the
cache (``DataStore.preserve``), where `gitrack gc` keeps it for PRESERVE_DAYS.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gitrack.data import hashing
from gitrack.data.hasher import WORKERS, Hasher, PathState
from gitrack.data.layout import cache_root
from gitrack.data.manifest import Manifest
from gitrack.data.odb import Cache
from gitrack.data.progress import Progress
from gitrack.data.state import StatCache
from gitrack.data.walk import walk
from gitrack.errors import GitrackError

PENDING_MAX_AGE_S = 14 * 24 * 3600  # a pending marker older than this is a crashed run
PRESERVE_DAYS = 30  # what a restore replaced stays in the cache this long


class DataStore:
    def __init__(self, root: Path, cache: Cache, state: StatCache) -> None:
        self.root = root
        self.hasher = Hasher(root, state)
        self.cache = cache
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

    # -------------------------------------------------------------- preserving
    def preserve(self, path: Path) -> None:
        """Keep a copy of what is about to be replaced or removed: a restore loses nothing.

        The copy is listed in ``<cache>/preserved/`` so `gitrack gc` keeps it for
        PRESERVE_DAYS, and the checkout names it.
        """
        if path.is_file() and not path.is_symlink():
            digest = self.cache.add_file(path, self.hasher.hash_file(path))
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

    def preserved_hashes(self) -> list[str]:
        """Copies kept by recent restores (younger than PRESERVE_DAYS)."""
        folder = self.cache.root / "preserved"
        cutoff = time.time() - PRESERVE_DAYS * 24 * 3600
        out: list[str] = []
        for record in folder.glob("*.json") if folder.is_dir() else []:
            try:
                if record.stat().st_mtime >= cutoff:
                    out += [str(h) for h in json.loads(record.read_text()).values()]
            except (OSError, ValueError, AttributeError):
                continue
        return out

    def preserve_tree(self, top: Path) -> None:
        for _, path, _ in walk(top)[0]:
            self.preserve(Path(path))

    # ----------------------------------------------------------- pending runs
    def mark_pending(self, run_id: str, hashes: Iterable[str]) -> Path:
        """Objects of a run still in progress: `gitrack gc` must not collect them."""
        folder = self.cache.root / "pending"
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / f"{run_id}.json"
        marker.write_text(json.dumps(sorted(set(hashes))))
        return marker

    def pending_hashes(self) -> set[str]:
        folder = self.cache.root / "pending"
        out: set[str] = set()
        if not folder.is_dir():
            return out
        cutoff = time.time() - PENDING_MAX_AGE_S
        for marker in folder.glob("*.json"):
            try:
                if marker.stat().st_mtime < cutoff:
                    continue
                out.update(str(h) for h in json.loads(marker.read_text()))
            except (OSError, ValueError):
                continue
        return out

    def referenced_objects(self, hashes: Iterable[str]) -> tuple[set[str], list[str]]:
        """Every object the given hashes need (manifests and their files); warnings."""
        keep: set[str] = set()
        warnings: list[str] = []
        for digest in hashes:
            if not hashing.is_valid(digest):
                continue
            keep.add(hashing.PREFIX + hashing.hex_of(digest))
            if hashing.is_dir_hash(digest):
                try:
                    manifest = Manifest.from_bytes(self.cache.read_verified(digest))
                except (GitrackError, ValueError) as exc:
                    warnings.append(
                        f"manifest {digest} unreadable ({exc}); its files may be collected"
                    )
                    continue
                keep.update(entry.hash for entry in manifest.files)
        return keep, warnings
