"""A folder restored where nothing is (issue 16 §1): built whole in a hidden folder beside
it, each file written once and verified by hash, then renamed into place. At no instant
does the folder hold part of its files; a failure leaves nothing behind. Files are made
with their modes as they are created (no chmod per file), exactly whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_helpers import set_executable, tree_state, write_files

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
    return [name for name in os.listdir(root) if "gitrack-" in name]


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
    assert str(store.root / "set") + "/" in message and "gitrack-" not in message
    assert not os.path.lexists(store.root / "set")
    assert _hidden(store.root) == []


def _modes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize("umask", [None, "umask_077"])
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
