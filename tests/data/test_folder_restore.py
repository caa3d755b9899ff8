"""A folder restored where nothing is (issue 16 §1): made by the restore, each file created
under its own name (never opened if something is there) and verified by the hash of what
was written, with no temp file and rename of its own. A file that fails is removed, and
the files written are recorded, for a checkout's rollback to take back (those only).
Files get exactly their modes, whatever the umask or a default ACL."""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_helpers import fail_the_copy_at, set_executable, tree_state, write_files

from gitrack.data import batch
from gitrack.data.odb import Cache, CacheError
from gitrack.data.restore import apply_restore, plan_restore
from gitrack.data.state import StatCache, stat_key
from gitrack.data.store import DataStore

FILES: dict[str, str | bytes] = {f"set/{i % 4}/f{i:02d}.txt": f"file {i}\n" for i in range(20)}


@pytest.fixture
def store(tmp_path: Path) -> DataStore:
    root = tmp_path / "root"
    write_files(root, FILES)
    set_executable(root / "set" / "1" / "f01.txt", True)
    (root / "set" / "empty").mkdir()
    return DataStore(root, Cache(tmp_path / "cache"), StatCache(tmp_path / "state.sqlite"))


@pytest.fixture
def default_acl(store: DataStore, tmp_path: Path) -> None:
    """A default ACL on the work tree and the cache, which replaces the umask for what is
    created in them (a group's project folder): d:u::rw-,g::rwx,o::---."""
    no_exec_for_owner = struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perms, 0xFFFFFFFF) for tag, perms in [(1, 6), (4, 7), (0x20, 0)]
    )
    try:
        os.setxattr(store.root, "system.posix_acl_default", no_exec_for_owner)
        (tmp_path / "cache").mkdir()
        os.setxattr(tmp_path / "cache", "system.posix_acl_default", no_exec_for_owner)
    except OSError as exc:
        pytest.skip(f"no POSIX ACLs here: {exc}")


@pytest.fixture
def umask_077() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _stored_then_moved(store: DataStore, tmp_path: Path) -> tuple[str, dict[str, object]]:
    state = store.hash_and_stage("set")
    store.store(state)
    wanted = tree_state(store.root / "set")
    os.rename(store.root / "set", tmp_path / "moved")
    return state.hash, wanted


def _hidden(root: Path) -> list[str]:
    """Temp names a restore left anywhere under ``root``."""
    return [str(p) for p in root.rglob("*") if "gitrack-" in p.name]


def test_a_new_folder_is_written_without_a_temp_file_or_rename_per_file(
    store: DataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest, wanted = _stored_then_moved(store, tmp_path)
    renamed: list[str] = []
    replace = os.replace

    def watched(source: str, target: str) -> None:
        renamed.append(target)
        replace(source, target)

    monkeypatch.setattr(batch.os, "replace", watched)
    assert apply_restore(store, plan_restore(store, {"set": digest})) == len(FILES)
    assert renamed == []
    assert tree_state(store.root / "set") == wanted  # modes and the empty folder too
    assert _hidden(store.root) == []
    # Each file's stat key, taken as it was written, holds: the check after the restore
    # trusts them instead of reading the files again.
    restored = {str(p) for p in (store.root / "set").rglob("*.txt")}
    assert set(store.hasher.written_files()) == restored
    for path, (key, _) in store.hasher.written_files().items():
        assert key == stat_key(os.stat(path))


def test_a_file_that_fails_is_removed_and_the_files_written_are_recorded(
    store: DataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure half way (an I/O error on the 8th file): no partial file is left, and
    what was written is in ``written`` with its stat key, so a checkout's rollback removes
    those files, and only those."""
    digest, _ = _stored_then_moved(store, tmp_path)
    fail_the_copy_at(monkeypatch, 7, half=b"half")
    with pytest.raises(CacheError):
        apply_restore(store, plan_restore(store, {"set": digest}))
    on_disk = {str(p) for p in (store.root / "set").rglob("*") if p.is_file()}
    assert on_disk == set(store.hasher.written_files())
    assert len(on_disk) == 7 and _hidden(store.root) == []
    for path, (key, _) in store.hasher.written_files().items():
        assert key == stat_key(os.stat(path))


def test_a_corrupt_object_is_named_and_leaves_no_file_of_its_own(
    store: DataStore, tmp_path: Path
) -> None:
    digest, _ = _stored_then_moved(store, tmp_path)
    obj = next(p for p in (store.cache.root / "xxh128").glob("*/*") if p.stat().st_size == 7)
    os.chmod(obj, 0o644)
    obj.write_bytes(b"corrupt")  # same size, other bytes
    with pytest.raises(CacheError) as caught:
        apply_restore(store, plan_restore(store, {"set": digest}))
    message = str(caught.value)
    assert "is corrupt" in message and obj.name in message
    assert str(store.root / "set") + "/" in message
    on_disk = {str(p) for p in (store.root / "set").rglob("*") if p.is_file()}
    assert on_disk == set(store.hasher.written_files())  # the corrupt copy is not among them
    assert _hidden(store.root) == []


def _modes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize("umask", [None, "umask_077", "default_acl"])
def test_objects_and_restored_files_get_exact_modes_whatever_the_umask(
    store: DataStore, tmp_path: Path, request: pytest.FixtureRequest, umask: str | None
) -> None:
    if umask is not None:
        request.getfixturevalue(umask)
    digest, _ = _stored_then_moved(store, tmp_path)
    assert set(_modes(store.cache.root / "xxh128").values()) == {0o444}
    apply_restore(store, plan_restore(store, {"set": digest}))
    modes = _modes(store.root / "set")
    assert modes.pop("1/f01.txt") == 0o755
    assert set(modes.values()) == {0o644}
    (store.root / "set" / "0" / "f00.txt").write_text("changed\n")  # one file replaced
    apply_restore(store, plan_restore(store, {"set": digest}))
    assert stat.S_IMODE((store.root / "set" / "0" / "f00.txt").stat().st_mode) == 0o644


def _acl(entries: list[tuple[int, int]]) -> bytes:
    """A POSIX ACL xattr value: version 2, then (tag, permissions, id) per entry."""
    return struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", t, p, 0xFFFFFFFF) for t, p in entries
    )
