"""A new dataset is read once (issue 16 §1): hashing a small file also writes its object,
in place, under its own name (created with no permissions, read-only once complete: an
object without permissions is one a writer has not finished, and counts as missing); a file
that changes size while read is staged in the cache's ``tmp/`` instead, and becomes an
object only when the dataset is stored, after the run's pending marker names it
(gitrack/data/gc.py). A restore's final check trusts, by stat, the files it has just written
and verified, and reads any file changed since."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from data_helpers import reference_file_hash, tree_state, write_files

from gitrack.data import batch, hashing
from gitrack.data import store as store_module
from gitrack.data.gc import collect
from gitrack.data.odb import Cache, CacheError
from gitrack.data.restore import apply_restore, plan_restore
from gitrack.data.state import StatCache, stat_key
from gitrack.data.store import DataStore

FILES: dict[str, str | bytes] = {f"set/{i % 3}/f{i:02d}.txt": f"file {i}\n" for i in range(12)}


@pytest.fixture
def store(tmp_path: Path) -> DataStore:
    root = tmp_path / "root"
    write_files(root, FILES)
    return DataStore(root, Cache(tmp_path / "cache"), StatCache(tmp_path / "state.sqlite"))


def _objects(store: DataStore) -> list[Path]:
    return sorted((store.cache.root / "xxh128").glob("*/*"))


def _temps(store: DataStore) -> list[Path]:
    tmp = store.cache.root / "tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def _assert_stored(store: DataStore, state: store_module.PathState) -> None:
    for path, entry in state.files():
        assert store.cache.path_for(entry.hash).read_bytes() == Path(path).read_bytes()
        assert entry.hash == reference_file_hash(Path(path).read_bytes())
        assert store.cache.exists(entry.hash)


def test_hashed_small_files_are_written_in_place_as_they_are_read(store: DataStore) -> None:
    state = store.hash_and_stage("set")
    assert _temps(store) == []  # no copy to rename
    objects = _objects(store)
    assert len(objects) == len(FILES)  # each object written as its file was read
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in objects)  # and complete
    store.store(state)
    assert _temps(store) == []
    objects = _objects(store)
    assert len(objects) == len(FILES) + 1  # and the manifest
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in objects)
    _assert_stored(store, state)


def _changing_size_while_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file reads as if it grew between its size and its read: staged instead."""
    monkeypatch.setattr(batch, "write_in_place", lambda *_args: None)


def test_a_file_that_changes_size_while_read_is_staged_until_stored(
    store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _changing_size_while_read(monkeypatch)
    state = store.hash_and_stage("set")
    assert len(_temps(store)) == len(FILES)  # one copy per file, made as it was read
    assert _objects(store) == []  # nothing gc could see as an object before the marker
    store.store(state)
    assert _temps(store) == [] and len(_objects(store)) == len(FILES) + 1
    _assert_stored(store, state)


def test_staged_copies_never_stored_are_discarded(
    store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _changing_size_while_read(monkeypatch)
    store.hash_and_stage("set")
    store.discard_staged()
    assert _temps(store) == [] and _objects(store) == []


def test_objects_written_in_place_stay_when_the_run_stops(store: DataStore) -> None:
    """They are whole objects: unreferenced, `gitrack gc` removes them after its grace
    period, as git prunes the loose objects of an aborted `git add`."""
    store.hash_and_stage("set")
    store.discard_staged()
    assert len(_objects(store)) == len(FILES)
    assert collect(store.cache, lambda: ([], []), grace_s=0).removed == len(FILES)
    assert _objects(store) == []


def test_a_staged_copy_removed_meanwhile_is_copied_again(
    store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gitrack gc` removes temp files an hour old: the source is copied again."""
    _changing_size_while_read(monkeypatch)
    state = store.hash_and_stage("set")
    for temp in _temps(store):
        temp.unlink()
    store.store(state)
    _assert_stored(store, state)


def test_an_object_written_in_place_and_removed_meanwhile_is_written_again(
    store: DataStore,
) -> None:
    """`gitrack gc --now` between the hash pass and the run's pending marker removes
    objects nothing names yet: storing looks for each again and writes what is gone."""
    state = store.hash_and_stage("set")
    assert collect(store.cache, lambda: ([], []), grace_s=0).removed == len(FILES)
    store.store(state)
    _assert_stored(store, state)


def _unfinished(store: DataStore, data: bytes) -> Path:
    """The object of ``data`` as a writer killed half way leaves it: part of its bytes,
    no permissions."""
    path = store.cache.path_for(reference_file_hash(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[:3])
    path.chmod(0)
    return path


def test_an_unfinished_object_counts_as_missing_and_is_replaced(store: DataStore) -> None:
    path = _unfinished(store, b"file 0\n")
    assert not store.cache.exists(reference_file_hash(b"file 0\n"))
    assert not store.cache.freshen(reference_file_hash(b"file 0\n"))
    with pytest.raises(CacheError, match="missing"):
        store.cache.read_verified(reference_file_hash(b"file 0\n"))
    state = store.hash_and_stage("set")  # finds it there: not its own to finish
    store.store(state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444 and path.read_bytes() == b"file 0\n"
    _assert_stored(store, state)


def test_an_unfinished_object_is_replaced_by_a_copy_gc_puts_back(
    store: DataStore, tmp_path: Path
) -> None:
    """gc moves a needed object back from its quarantine over an unfinished one."""
    state = store.hash_and_stage("set")
    store.store(state)
    held = tmp_path / "held"
    digest = reference_file_hash(b"file 0\n")
    os.rename(store.cache.path_for(digest), held)
    path = _unfinished(store, b"file 0\n")
    from gitrack.data.gc import _put_back

    _put_back(store.cache, digest, held)
    assert path.read_bytes() == b"file 0\n" and store.cache.exists(digest)


def test_a_failed_write_in_place_leaves_no_object(
    store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int, data: bytes) -> None:
        os.write(fd, data[:2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hashing, "write_all", disk_full)
    with pytest.raises(CacheError, match="disk full"):
        store.hash_and_stage("set")
    assert _objects(store) == []


def test_a_large_file_is_hashed_but_not_copied_twice(
    store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its object may be stored already (a fresh clone, a touched file): storing freshens
    it rather than writing the whole file again."""
    monkeypatch.setattr(store_module, "STAGE_MAX", 8)  # "file N\n" is 7 or 8 bytes
    write_files(store.root, {"set/large.bin": b"more than eight bytes"})
    state = store.hash_and_stage("set")
    large = reference_file_hash(b"more than eight bytes")
    assert store.staged == {}  # the small files written in place, the large one not copied
    assert large not in store.written_in_place and len(store.written_in_place) == len(FILES)
    store.store(state)
    assert store.cache.exists(reference_file_hash(b"more than eight bytes"))


def test_the_check_after_a_restore_trusts_only_files_unchanged_since_written(
    store: DataStore, tmp_path: Path
) -> None:
    path = store.root / "set" / "0" / "f00.txt"
    store.hasher.written[str(path)] = (stat_key(os.stat(path)), "xxh128:" + "0" * 32)
    assert store.hasher.hash_path("set/0/f00.txt").hash == "xxh128:" + "0" * 32
    path.write_text("other bytes, another size\n")
    assert store.hasher.hash_path("set/0/f00.txt").hash == reference_file_hash(
        b"other bytes, another size\n"
    )


def test_a_restored_folder_is_checked_without_reading_it_again(
    store: DataStore, tmp_path: Path
) -> None:
    state = store.hash_and_stage("set")
    store.store(state)
    wanted = tree_state(store.root / "set")
    os.rename(store.root / "set", tmp_path / "moved")
    plan = plan_restore(store, {"set": state.hash})
    assert apply_restore(store, plan) == len(FILES)
    assert tree_state(store.root / "set") == wanted
    restored = {str(p) for p in (store.root / "set").rglob("*.txt")}
    assert set(store.hasher.written_files()) == restored  # each one known by its stat, not read


def test_a_file_in_two_datasets_leaves_no_copy_behind(store: DataStore) -> None:
    first, second = store.hash_and_stage("set"), store.hash_and_stage("set/0")
    store.store(first)
    store.store(second)
    assert _temps(store) == []
