"""The stat cache: (path, inode, mtime, size, ctime) -> hash, so unchanged files are
never read twice. SQLite in WAL mode: safe when several runs hash at once.

An entry is trusted only if every stat field matches *and* the file had not been
modified within ``RACY_NS`` of when it was hashed (git's "racy clean" problem: a write
in the same clock tick as the hash would otherwise go unnoticed).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import struct
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

RACY_NS = 2_000_000_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY,
    inode INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL
) WITHOUT ROWID
"""

# (inode, mtime_ns, size, ctime_ns) packed in 32 bytes: compared for equality only, and held
# for every file of a dataset (10^5-10^6): one bytes object, not a tuple of four big ints.
StatKey = bytes
_KEY = struct.Struct("=QqQq")  # an inode and a size are unsigned, times may be negative


def stat_key(st: os.stat_result) -> StatKey:
    return _KEY.pack(st.st_ino, st.st_mtime_ns, st.st_size, st.st_ctime_ns)


def pack_key(inode: int, mtime_ns: int, size: int, ctime_ns: int) -> StatKey:
    return _KEY.pack(inode, mtime_ns, size, ctime_ns)


def unpack_key(key: StatKey) -> tuple[int, int, int, int]:
    """(inode, mtime_ns, size, ctime_ns)."""
    inode, mtime_ns, size, ctime_ns = _KEY.unpack(key)
    return inode, mtime_ns, size, ctime_ns


class StatCache:
    """Best effort: if the database cannot be used, everything is simply hashed."""

    def __init__(self, db_path: Path | None) -> None:
        self._conn: sqlite3.Connection | None = None
        if db_path is None:
            return
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._conn = conn
        except OSError:
            self._conn = None  # no place for it: work without a stat cache
        except sqlite3.Error:
            self._reset(db_path)

    def _reset(self, db_path: Path) -> None:
        """A corrupt database is only a cache: start a new one."""
        try:
            for suffix in ("", "-wal", "-shm"):
                Path(str(db_path) + suffix).unlink(missing_ok=True)
            conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            self._conn = conn
        except (OSError, sqlite3.Error):
            self._conn = None

    def entries_under(
        self, root: str, first: str = "", last: str | None = None
    ) -> Iterator[tuple[str, StatKey, str]]:
        """(path, stat key, hash) of every entry at or below ``root`` (an absolute path),
        sorted by path (as UTF-8 bytes: the order of Python's ``str`` for any path SQLite
        holds), a few rows at a time: a folder of 10^6 files is never loaded at once.
        ``first`` and ``last`` (paths relative to ``root``, not empty): only the entries
        from ``root/first`` to ``root/last``, the files of one slice of a walk."""
        if self._conn is None:
            return
        # root itself sorts first; then '/' sorts just before '0': [root + '/', root + '0')
        # is everything below root, read in the order of the table's key (an ORDER BY over
        # both would make SQLite sort the whole range before the first row).
        select = "SELECT path, inode, mtime_ns, size, ctime_ns, hash FROM hashes WHERE "
        queries: tuple[tuple[str, tuple[str, ...]], ...] = (
            (select + "path = ?", (root,)),
            (select + "path >= ? AND path < ? ORDER BY path", (root + "/", root + "0")),
        )
        if first and last is not None:
            bounds = (f"{root}/{first}", f"{root}/{last}")
            queries = ((select + "path >= ? AND path <= ? ORDER BY path", bounds),)
        try:
            for query, args in queries:
                cursor = self._conn.execute(query, args)
                while rows := cursor.fetchmany(1000):
                    for path, inode, mtime_ns, size, ctime_ns, digest in rows:
                        try:
                            key = _KEY.pack(inode, mtime_ns, size, ctime_ns)
                        except struct.error:
                            continue  # not a stat key of ours (edited by hand?): never matches
                        yield path, key, digest
        except (sqlite3.Error, UnicodeEncodeError):  # a name SQLite cannot hold: hashed
            return  # what was read is right; the rest is simply hashed

    def store(self, entries: Iterable[tuple[str, StatKey, str]], hashed_at_ns: int) -> None:
        """Remember hashes of files that were not modified too close to hashing time.
        ``entries`` is read once, as the rows are written (not gathered in a list first)."""
        if self._conn is None:
            return
        rows = _settled_rows(entries, hashed_at_ns)
        first = next(rows, None)
        if first is None:  # nothing to write: no write lock taken
            return
        try:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?)",
                    itertools.chain([first], rows),
                )
        except sqlite3.Error:
            return  # a busy or read-only database only costs a re-hash next time

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _settled_rows(
    entries: Iterable[tuple[str, StatKey, str]], hashed_at_ns: int
) -> Iterator[tuple[str, int, int, int, int, str]]:
    """A row per entry neither modified nor changed within RACY_NS before hashing started."""
    limit = hashed_at_ns - RACY_NS
    for path, key, digest in entries:
        inode, mtime_ns, size, ctime_ns = unpack_key(key)
        if mtime_ns < limit and ctime_ns < limit:
            yield path, inode, mtime_ns, size, ctime_ns, digest


def now_ns() -> int:
    return time.time_ns()
