"""The data store: datasets and outputs hashed (hasher.py), kept in the content-addressed
cache (odb.py), restored exactly (restore.py).

A restore never loses data: a file about to be replaced or removed is first put in the
cache (``DataStore.preserve``), where `gitrack gc` keeps it for PRESERVE_DAYS.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from gitrack.data import hashing
from gitrack.data.hasher import Hasher, PathState, Reader
from gitrack.data.layout import cache_root
from gitrack.data.odb import Cache
from gitrack.data.progress import Progress
from gitrack.data.state import StatCache
from gitrack.data.walk import walk

STAGE_MAX = 1024 * 1024  # files up to this size are copied as they are hashed


class DataStore:
    def __init__(self, root: Path, cache: Cache, state: StatCache) -> None:
        self.root = root
        self.hasher = Hasher(root, state)
        self.cache = cache
        self.preserved: list[tuple[str, str]] = []  # (path, hash) kept before a restore
        # path -> (temp copy, hash): copies that become objects in ``store``
        self.staged: dict[str, tuple[str, str]] = {}
        # Hashes of the objects this run wrote in place (looked for again in ``store``): a
        # set of hashes, not a path each (a new folder of 10^6 small files writes them all).
        self.written_in_place: set[str] = set()
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
    def hash_and_stage(self, rel: str, label: str = "hashing") -> PathState:
        """``hasher.hash_path``, where each small file read (the stat cache did not know it)
        is written to the cache as it is hashed: a new dataset is read once. Its object is
        written in place (in a cache only its owner writes to: ``Cache.private``);
        otherwise, or if the file changes size while read, a copy in the cache's
        ``tmp/`` becomes an object only in ``store``, after the run's pending marker names
        it (gc.py), and ``discard_staged`` removes those never stored. ``store`` looks
        again for the objects written in place (a `gitrack gc --now` in between)."""
        return self.hasher.hash_path(rel, label, self.stage_reader())

    def stage_reader(self) -> Reader:
        """The reader of ``hash_and_stage``: each small file's object written as it is
        hashed (in place, or a staged copy), a large one only hashed."""
        from gitrack.data import batch

        copier = batch.Copier()

        def read(path: str | Path, size: int, progress: hashing.Progress) -> str:
            if size > STAGE_MAX:  # a large object may be stored already: not copied twice
                return hashing.hash_file(path, progress)
            name = os.fspath(path)
            # a file in two datasets (-d a -d a/b): the last copy
            batch.discard({name: self.staged.pop(name)} if name in self.staged else {})
            private = self.cache.private
            written = batch.write_in_place(self.cache, name, progress) if private else None
            if written is not None:
                if written[1]:  # this run wrote it: looked for again, not freshened
                    self.written_in_place.add(written[0])
                return written[0]
            staged = batch.stage(self.cache, copier, name, progress)  # shared, or changed
            self.staged.update(staged)
            return staged[name][1]

        return read

    def store(self, state: PathState, label: str = "caching") -> None:
        """Every file of ``state`` into the cache: staged copies renamed into place, missing
        objects written, the others freshened (their mtime made new, so `gitrack gc` keeps
        them a whole grace period)."""
        if state.entries:
            # what this pass copies: not the files staged or written in place as they were hashed
            staged, in_place = self.staged, self.written_in_place
            size = sum(
                e.size for p, e in state.files() if p not in staged and e.hash not in in_place
            )
            with Progress(label, size) as bar:
                self.cache.add_files(
                    state.sources(), bar.advance, self.staged, self.written_in_place
                )
        if state.manifest is not None:
            self.cache.add_bytes(state.manifest.to_bytes(), state.hash)

    def discard_staged(self) -> None:
        from gitrack.data.batch import discard

        discard(self.staged)
        self.written_in_place.clear()

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

    def preserve_tree(self, top: Path) -> None:
        for rel, *_ in walk(top)[0]:
            self.preserve(top / rel)
