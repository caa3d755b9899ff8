"""A new dataset is read once (issue 16 §1): hashing a file also copies it into the cache's
``tmp/``; the copy becomes an object only when the dataset is stored, after the run's
pending marker names it (gitrack/data/gc.py). A restore's final check trusts, by stat, the
files it has just written and verified, and reads any file changed since."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from data_helpers import reference_file_hash, tree_state, write_files

from gitrack.data import store as store_module
from gitrack.data.odb import Cache
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


def test_hashed_files_are_staged_and_become_objects_only_when_stored(store: DataStore) -> None:
    state = store.hash_and_stage("set")
    assert len(_temps(store)) == len(FILES)  # one copy per file, made as it was read
    assert _objects(store) == []  # nothing gc could see as an object before the marker
    store.store(state)
    assert _temps(store) == []
    objects = _objects(store)
    assert len(objects) == len(FILES) + 1  # and the manifest
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in objects)
    for path, entry in state.files:
        assert store.cache.path_for(entry.hash).read_bytes() == Path(path).read_bytes()
        assert entry.hash == reference_file_hash(Path(path).read_bytes())


def test_staged_copies_never_stored_are_discarded(store: DataStore) -> None:
    store.hash_and_stage("set")
    store.discard_staged()
    assert _temps(store) == [] and _objects(store) == []


def test_a_staged_copy_removed_meanwhile_is_copied_again(store: DataStore) -> None:
    """`gitrack gc` removes temp files an hour old: the source is copied again."""
    state = store.hash_and_stage("set")
    for temp in _temps(store):
        temp.unlink()
    store.store(state)
    for path, entry in state.files:
        assert store.cache.path_for(entry.hash).read_bytes() == Path(path).read_bytes()


def test_a_large_file_is_hashed_but_not_copied_twice(
    store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its object may be stored already (a fresh clone, a touched file): storing freshens
    it rather than writing the whole file again."""
    monkeypatch.setattr(store_module, "STAGE_MAX", 8)  # "file N\n" is 7 or 8 bytes
    write_files(store.root, {"set/large.bin": b"more than eight bytes"})
    state = store.hash_and_stage("set")
    staged = {Path(p).name for p in store.staged}
    assert "large.bin" not in staged and len(staged) == len(FILES)
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
    assert set(store.hasher.written) == restored  # each one known by its stat, not read


def test_a_file_in_two_datasets_leaves_no_copy_behind(store: DataStore) -> None:
    first, second = store.hash_and_stage("set"), store.hash_and_stage("set/0")
    store.store(first)
    store.store(second)
    assert _temps(store) == []
