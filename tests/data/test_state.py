"""The stat cache: unchanged files are never read twice; a changed file is always re-hashed.

Entries are trusted only when (inode, mtime, size, ctime) all match and the file was not
modified within 2 s of hashing (git's racy-clean problem). ``os.utime`` can move a file's
mtime into the past but not its ctime, so tests that need entries *stored* wait once for
real time to pass (the ``settled`` fixture: about 2 s for the whole module).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import git, gitrack, make_repo
from data_helpers import common_dir, reference_dir_hash, reference_file_hash, write_files

from gitrack.data.hasher import Hasher
from gitrack.data.state import RACY_NS, StatCache, now_ns, pack_key, stat_key, unpack_key

FAKE = "xxh128:" + "f" * 32
# Names whose order differs as paths, as folders and as bytes ('-' and '.' sort before '/').
ODD_NAMES = ["a-b", "a.txt", "a/b-c", "a/b/c", "a/x", "a0", "ab", "Z", "é", "名/x", "b c"]


def lookup_tree(cache: StatCache, root: str) -> dict[str, tuple[bytes, str]]:
    """Every entry at or below ``root``: path -> (stat key, hash)."""
    return {path: (key, digest) for path, key, digest in cache.entries_under(root)}


def _hasher(tmp: Path) -> Hasher:
    return Hasher(tmp, StatCache(tmp / "state.sqlite"))


def _rows(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT path, hash FROM hashes").fetchall())


def _poison(db: Path, path: Path, digest: str = FAKE) -> None:
    """Make the stored hash of ``path`` a lie: only a lookup without reading returns it."""
    with sqlite3.connect(db) as conn:
        changed = conn.execute(
            "UPDATE hashes SET hash = ? WHERE path = ?", (digest, str(path))
        ).rowcount
    assert changed == 1, f"{path} is not in the stat cache"


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files whose mtime *and* ctime are more than RACY_NS old: cacheable."""
    root = tmp_path_factory.mktemp("settled")
    write_files(root, {"one.bin": b"1" * 100, "two.bin": b"22", "d/three": b"333", "d/e/4": b""})
    write_files(root, {f"odd/{name}": name.encode() for name in ODD_NAMES})
    time.sleep(RACY_NS / 1e9 + 0.2)
    return root


# ------------------------------------------------------------------ StatCache
def test_no_database_means_no_cache(tmp_path: Path) -> None:
    cache = StatCache(None)
    cache.store([(str(tmp_path / "x"), pack_key(1, 2, 3, 4), FAKE)], now_ns() + 10**12)
    assert lookup_tree(cache, str(tmp_path)) == {}


def test_store_and_lookup_round_trip(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "s.sqlite")
    key = pack_key(11, 1_000, 5, 1_000)
    cache.store([("/r/a", key, FAKE)], hashed_at_ns=10 * RACY_NS)
    assert lookup_tree(cache, "/r/a") == {"/r/a": (key, FAKE)}
    cache.close()
    # Persistent across processes / instances.
    assert lookup_tree(StatCache(tmp_path / "s.sqlite"), "/r") == {"/r/a": (key, FAKE)}


@pytest.mark.parametrize(
    ("mtime", "ctime", "stored"),
    [
        (0, 0, True),
        (9 * RACY_NS + 1, 0, False),  # modified within the racy window before hashing
        (0, 9 * RACY_NS + 1, False),  # status changed (e.g. utime, chmod) within it
        (11 * RACY_NS, 0, False),  # modified after hashing started
        (9 * RACY_NS - 1, 9 * RACY_NS - 1, True),
        (9 * RACY_NS, 0, False),  # exactly 2 s before: not stored
    ],
)
def test_racy_entries_are_not_stored(tmp_path: Path, mtime: int, ctime: int, stored: bool) -> None:
    cache = StatCache(tmp_path / "s.sqlite")
    cache.store([("/r/f", pack_key(1, mtime, 1, ctime), FAKE)], hashed_at_ns=10 * RACY_NS)
    assert bool(lookup_tree(cache, "/r/f")) is stored


def test_lookup_tree_is_exactly_the_subtree(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "s.sqlite")
    paths = ["/a/b", "/a/b/x", "/a/b/c/y", "/a/b-c/x", "/a/b.d", "/a/bc/x", "/a/b0", "/a", "/a/a"]
    cache.store([(p, pack_key(1, 0, 1, 0), FAKE) for p in paths], hashed_at_ns=10 * RACY_NS)
    assert sorted(lookup_tree(cache, "/a/b")) == ["/a/b", "/a/b/c/y", "/a/b/x"]


def test_a_corrupt_database_is_replaced(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    db.write_bytes(b"this is not a sqlite database" * 100)
    cache = StatCache(db)
    cache.store([("/r/f", pack_key(1, 0, 1, 0), FAKE)], hashed_at_ns=10 * RACY_NS)
    assert lookup_tree(cache, "/r") == {"/r/f": (pack_key(1, 0, 1, 0), FAKE)}


def test_an_unusable_location_only_disables_the_cache(tmp_path: Path) -> None:
    """(An OSError from mkdir crashed `gitrack hash` with exit 2 before 2cf6816.)"""
    (tmp_path / "file").write_text("a file where a folder should be")
    cache = StatCache(tmp_path / "file" / "state.sqlite")
    cache.store([("/r/f", pack_key(1, 0, 1, 0), FAKE)], hashed_at_ns=10 * RACY_NS)
    assert lookup_tree(cache, "/r") == {}


# ---------------------------------------------------------- Hasher + the cache
def test_unchanged_files_are_not_read_again(settled: Path, tmp_path: Path) -> None:
    hasher = _hasher(tmp_path)
    first = hasher.hash_path(str(settled / "one.bin"))
    assert first.hash == reference_file_hash(b"1" * 100)
    assert set(_rows(tmp_path / "state.sqlite")) == {str(settled / "one.bin")}
    _poison(tmp_path / "state.sqlite", settled / "one.bin")
    # The lie comes back: the file was not read.
    assert hasher.hash_path(str(settled / "one.bin")).hash == FAKE


def test_unchanged_folder_is_served_from_the_cache(settled: Path, tmp_path: Path) -> None:
    hasher = _hasher(tmp_path)
    assert hasher.hash_path(str(settled / "d")).hash == reference_dir_hash(settled / "d")
    assert set(_rows(tmp_path / "state.sqlite")) == {
        str(settled / "d" / "three"),
        str(settled / "d" / "e" / "4"),
    }
    _poison(tmp_path / "state.sqlite", settled / "d" / "three")
    assert hasher.hash_path(str(settled / "d")).hash != reference_dir_hash(settled / "d")


def test_every_row_of_a_folder_is_found(settled: Path, tmp_path: Path) -> None:
    """The stat cache is read in path order beside the sorted walk (a merge, not a dict of
    every row): each file finds its own row, whatever its name."""
    hasher, db = _hasher(tmp_path), tmp_path / "state.sqlite"
    hasher.hash_path(str(settled / "odd"))
    rows = sorted(_rows(db))
    assert rows == sorted(str(settled / "odd" / name) for name in ODD_NAMES)
    lies = {path: f"xxh128:{index:032x}" for index, path in enumerate(rows)}
    for path, lie in lies.items():
        _poison(db, Path(path), lie)
    state = hasher.hash_path(str(settled / "odd"))
    assert {path: entry.hash for path, entry in state.files()} == lies  # none read again


def test_entries_under_come_sorted_by_path(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "s.sqlite")
    paths = ["/r/é", "/r/b", "/r/a/x", "/r/a-b", "/r/a.c", "/r/Z", "/r/名", "/r"]
    cache.store([(p, pack_key(1, 0, 1, 0), FAKE) for p in paths], hashed_at_ns=10 * RACY_NS)
    assert [path for path, _, _ in cache.entries_under("/r")] == sorted(paths)


def test_a_changed_file_is_always_rehashed(settled: Path, tmp_path: Path) -> None:
    """Same size, mtime put back: the ctime (and the inode, if replaced) still differ."""
    target = settled / "two.bin"
    hasher = _hasher(tmp_path)
    assert hasher.hash_path(str(target)).hash == reference_file_hash(b"22")
    before = target.stat()
    target.write_bytes(b"33")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size
    assert hasher.hash_path(str(target)).hash == reference_file_hash(b"33")
    # Replaced by a new file (new inode), same size, same mtime.
    replacement = settled / "two.tmp"
    replacement.write_bytes(b"44")
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, target)
    assert hasher.hash_path(str(target)).hash == reference_file_hash(b"44")
    target.write_bytes(b"22")


def test_files_written_within_the_racy_window_are_not_cached(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_files(data, {"fresh": b"aaaa"})
    hasher = _hasher(tmp_path)
    assert hasher.hash_path(str(data / "fresh")).hash == reference_file_hash(b"aaaa")
    assert _rows(tmp_path / "state.sqlite") == {}
    # A same-size write in the same clock tick, mtime unchanged: still seen.
    st = (data / "fresh").stat()
    (data / "fresh").write_bytes(b"bbbb")
    os.utime(data / "fresh", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert hasher.hash_path(str(data / "fresh")).hash == reference_file_hash(b"bbbb")


def test_stat_key_has_inode_mtime_size_ctime(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    st = os.stat(tmp_path / "f")
    assert unpack_key(stat_key(st)) == (st.st_ino, st.st_mtime_ns, 3, st.st_ctime_ns)


# --------------------------------------------------------------- where it lives
def test_the_stat_cache_lives_in_the_git_common_dir(settled: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    worktree = tmp_path / "wt"
    git("worktree", "add", "-q", "--detach", str(worktree), cwd=repo)
    write_files(worktree, {"w.bin": b"w"})
    for where in (repo, worktree):
        res = gitrack("hash", str(settled / "one.bin"), cwd=where)
        assert res.code == 0, res.err
    db = common_dir(repo) / "gitrack" / "state.sqlite"
    assert db.is_file()
    assert str(settled / "one.bin") in _rows(db)
    assert not (worktree / ".git").is_dir()  # a linked worktree's .git is a file: no db there


def test_gitrack_hash_rechecks_from_the_stat_cache(settled: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    first = gitrack("hash", str(settled / "d"), cwd=repo)
    assert first.code == 0, first.err
    db = common_dir(repo) / "gitrack" / "state.sqlite"
    _poison(db, settled / "d" / "three")
    second = gitrack("hash", str(settled / "d"), cwd=repo)
    assert second.out != first.out  # computed from the (poisoned) cache, not from the bytes
