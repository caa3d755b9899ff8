"""The stat cache: (path, inode, mtime, size, ctime) -> hash, so unchanged files are
never read twice. SQLite in WAL mode: safe when several runs hash at once.

An entry is trusted only if every stat field matches *and* the file had not been
modified within ``RACY_NS`` of when it was hashed (git's "racy clean" problem: a write
in the same clock tick as the hash would otherwise go unnoticed).
"""

from __future__ import annotations

import os
import sqlite3
import time
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

StatKey = tuple[int, int, int, int]


def stat_key(st: os.stat_result) -> StatKey:
    return (st.st_ino, st.st_mtime_ns, st.st_size, st.st_ctime_ns)


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

    def lookup_tree(self, root: str) -> dict[str, tuple[StatKey, str]]:
        """Every entry at or below ``root`` (an absolute path): path -> (stat key, hash)."""
        if self._conn is None:
            return {}
        # '/' sorts just before '0': [root + '/', root + '0') is everything below root.
        try:
            rows = self._conn.execute(
                "SELECT path, inode, mtime_ns, size, ctime_ns, hash FROM hashes "
                "WHERE path = ? OR (path >= ? AND path < ?)",
                (root, root + "/", root + "0"),
            ).fetchall()
        except sqlite3.Error:
            return {}
        return {row[0]: ((row[1], row[2], row[3], row[4]), row[5]) for row in rows}

    def store(self, entries: list[tuple[str, StatKey, str]], hashed_at_ns: int) -> None:
        """Remember hashes of files that were not modified too close to hashing time."""
        if self._conn is None:
            return
        rows = [
            (path, *key, digest)
            for path, key, digest in entries
            if key[1] < hashed_at_ns - RACY_NS and key[3] < hashed_at_ns - RACY_NS
        ]
        if not rows:
            return
        try:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?)", rows
                )
        except sqlite3.Error:
            return  # a busy or read-only database only costs a re-hash next time

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def now_ns() -> int:
    return time.time_ns()
