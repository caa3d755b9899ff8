"""A folder restored where nothing is (issue 16 §1): built whole in a staging folder in the
git dir, each file written once and verified by hash, then renamed into place. At no
instant does the folder hold part of its files; a failure leaves nothing behind, in the
work tree or (once the next restore ran) in the git dir. Files get exactly their modes,
whatever the umask or a default ACL."""

from __future__ import annotations

import os
import stat
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_helpers import set_executable, tree_state, write_files

from gitrack.data import batch, restore
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
    cache, state = Cache(tmp_path / "cache"), StatCache(tmp_path / "state.sqlite")
    return DataStore(root, cache, state, tmp_path / "git" / "gitrack" / "restoring")


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
    """What a restore left beside the folder, and in its staging place."""
    staging = root.parent / "git" / "gitrack" / "restoring"
    left = os.listdir(staging) if staging.exists() else []
    return [name for name in os.listdir(root) if "gitrack-" in name] + left


def test_a_new_folder_appears_only_complete(
    store: DataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest, wanted = _stored_then_moved(store, tmp_path)
    seen_while_copying: list[bool] = []
    copy = batch.Copier.copy

    def watched(self: batch.Copier, source: str, fd: int, progress: object) -> str:
        seen_while_copying.append(os.path.lexists(store.root / "set"))
        return copy(self, source, fd, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(batch.Copier, "copy", watched)
    assert apply_restore(store, plan_restore(store, {"set": digest})) == len(FILES)
    assert seen_while_copying == [False] * len(FILES)  # a crash at any copy: no folder yet
    assert tree_state(store.root / "set") == wanted  # modes and the empty folder too
    assert _hidden(store.root) == []
    # Each file's stat key, taken before its folder was renamed, still holds in place: the
    # check after the restore trusts them instead of reading the files again.
    restored = {str(p) for p in (store.root / "set").rglob("*.txt")}
    assert set(store.hasher.written) == restored
    for path, (key, _) in store.hasher.written.items():
        assert key == stat_key(os.stat(path))


def test_a_failed_new_folder_restore_leaves_nothing(
    store: DataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest, _ = _stored_then_moved(store, tmp_path)
    calls = iter(range(len(FILES)))
    copy = batch.Copier.copy

    def failing(self: batch.Copier, source: str, fd: int, progress: object) -> str:
        if next(calls) == 7:
            raise OSError(5, "Input/output error", source)
        return copy(self, source, fd, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(batch.Copier, "copy", failing)
    with pytest.raises(CacheError):
        apply_restore(store, plan_restore(store, {"set": digest}))
    assert not os.path.lexists(store.root / "set")
    assert _hidden(store.root) == []


def test_a_corrupt_object_names_the_users_path_and_leaves_nothing(
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
    assert str(store.root / "set") + "/" in message and "restoring" not in message
    assert not os.path.lexists(store.root / "set")
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


def test_what_a_killed_restore_left_is_removed_by_the_next(
    store: DataStore, tmp_path: Path
) -> None:
    """A restore killed half way (SIGKILL: no cleanup ran) leaves its staging folder in
    the git dir, out of the work tree (so out of snapshots and of checkout's checks); the
    next restore removes it once its process is gone."""
    digest, wanted = _stored_then_moved(store, tmp_path)
    gone = subprocess.Popen(["true"])  # a process id that is gone now
    gone.wait()
    assert store.staging is not None
    left = store.staging / f"{gone.pid}-abandoned"
    (left / "0").mkdir(parents=True)
    (left / "0" / "f00.txt").write_text("half")
    apply_restore(store, plan_restore(store, {"set": digest}))
    assert tree_state(store.root / "set") == wanted
    assert _hidden(store.root) == []


def test_a_folder_on_another_file_system_than_the_staging_place_is_built_in_place(
    store: DataStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest, wanted = _stored_then_moved(store, tmp_path)
    real_stat = Path.stat

    def other_device(self: Path, **kwargs: object) -> os.stat_result:
        found = real_stat(self, **kwargs)  # type: ignore[arg-type]
        if self == store.staging:
            return os.stat_result((*found[:2], found.st_dev + 1, *found[3:]))
        return found

    staged: list[object] = []
    monkeypatch.setattr(Path, "stat", other_device)
    monkeypatch.setattr(restore, "_write_new_folder", lambda *args: staged.append(args))
    apply_restore(store, plan_restore(store, {"set": digest}))
    monkeypatch.undo()
    assert staged == []  # a rename could not have moved it: built where it goes
    assert tree_state(store.root / "set") == wanted
    assert _hidden(store.root) == []
