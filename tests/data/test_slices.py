"""A dataset versioned a slice of files at a time (issue 16: memory flat in the number of
files): the manifest written as it grows is byte for byte the documented one, every object
is named by a pending marker before it is looked for, and the run leaves no marker."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from conftest import gitrack, make_repo
from data_helpers import (
    default_cache,
    fail_the_copy_at,
    object_path,
    record_data,
    reference_dir_hash,
    reference_file_hash,
    reference_manifest_bytes,
    show,
    tree_state,
    write_files,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from test_manifest import _manifest_bytes

from gitrack.data import hasher, hashing, slices
from gitrack.data import manifest as manifest_module
from gitrack.data.manifest import (
    CorruptManifest,
    FileEntry,
    Manifest,
    ManifestWriter,
    NotCanonical,
    read_canonical,
    read_stream,
)
from gitrack.data.odb import Cache, CacheError
from gitrack.data.restore import apply_restore, plan_restore
from gitrack.data.state import RACY_NS, StatCache, pack_key, stat_key
from gitrack.data.store import DataStore
from gitrack.errors import GitrackError

FILES: dict[str, str | bytes] = {
    **{f"set/part{i % 3}/item{i:02d}.bin": f"sample {i}\n" * (1 + i % 5) for i in range(11)},
    "set/a-b": "a-b",
    "set/a0": "a0",
    "set/a/b": "a/b",
    "set/é/名": "non-ascii",
    "set/same1": "same bytes",
    "set/same2": "same bytes",
}


@pytest.fixture(autouse=True)
def _small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hasher, "SLICE", 3)  # a folder of a few files in many slices


def _store(tmp_path: Path, empty_dir: bool) -> DataStore:
    root = tmp_path / "root"
    write_files(root, FILES)
    if empty_dir:
        (root / "set" / "part1" / "empty" / "deeper").mkdir(parents=True)
    return DataStore(root, Cache(tmp_path / "cache"), StatCache(tmp_path / "state.sqlite"))


@pytest.mark.parametrize("empty_dir", [False, True])
def test_a_folder_taken_in_slices_stores_the_documented_manifest(
    tmp_path: Path, empty_dir: bool
) -> None:
    store = _store(tmp_path, empty_dir)
    protected: list[list[str]] = []
    state = slices.take(store, "set", "hashing", protected.append)
    expected = reference_manifest_bytes(store.root / "set")
    assert state.hash == reference_dir_hash(store.root / "set")
    assert object_path(store.cache.root, state.hash).read_bytes() == expected
    assert os.stat(object_path(store.cache.root, state.hash)).st_mode & 0o777 == 0o444
    for content in FILES.values():
        data = content.encode() if isinstance(content, str) else content
        assert object_path(store.cache.root, reference_file_hash(data)).read_bytes() == data
    # A marker for each slice, the manifest's last; nothing left in tmp/.
    assert [len(hashes) for hashes in protected] == [3, 3, 3, 3, 3, 2, 1]
    assert protected[-1] == [state.hash]
    assert list((store.cache.root / "tmp").iterdir()) == []
    # As the in-memory path hashes it (with its manifest): same hash, same stamp.
    whole = store.hasher.hash_path("set")
    assert whole.hash == state.hash and whole.stamp == state.stamp
    assert store.hasher.current_hash("set") == state.hash


def test_every_object_is_named_by_a_marker_before_it_is_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gc.py's rule: a marker names an object before the run looks for it in the cache
    (a `gitrack gc` running meanwhile keeps it, or the run finds it gone and writes it)."""
    store = _store(tmp_path, empty_dir=False)
    protected: set[str] = set()
    looked_for: list[str] = []
    add_files = Cache.add_files

    def observed(self: Cache, items: list[tuple[str, str]], *args: object) -> None:
        for _, digest in items:
            assert digest in protected, digest
            looked_for.append(digest)
        add_files(self, items, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Cache, "add_files", observed)
    slices.take(store, "set", "hashing", protected.update)
    assert len(looked_for) == len(FILES)


def test_a_dataset_in_many_slices_records_restores_and_leaves_no_marker(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "print(1)\n", ".gitignore": "/set/\n"})
    write_files(repo, FILES)
    (repo / "set" / "empty").mkdir()
    before = tree_state(repo / "set")
    run_id = record_data(repo, "-d", "set")
    assert show(repo, run_id)["datasets"] == {"set": reference_dir_hash(repo / "set")}
    assert list((default_cache(repo) / "pending").iterdir()) == []
    os.rename(repo / "set", tmp_path / "moved")
    res = gitrack("checkout", run_id, cwd=repo)
    assert res.code == 0, res.err
    assert tree_state(repo / "set") == before


def test_a_slice_reads_only_its_own_rows_of_the_stat_cache(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "state.sqlite")
    names = ["a", "a-b", "a/b", "a/c", "a0", "b", "é"]
    cache.store(
        [(f"/r/{n}", pack_key(1, 0, 1, 0), "xxh128:" + "0" * 32) for n in names], 10 * RACY_NS
    )
    cache.store([("/r-x/a", pack_key(1, 0, 1, 0), "xxh128:" + "0" * 32)], 10 * RACY_NS)
    assert [p for p, _, _ in cache.entries_under("/r", "a-b", "a/c")] == [
        "/r/a-b",
        "/r/a/b",
        "/r/a/c",
    ]
    assert [p for p, _, _ in cache.entries_under("/r", "a0", "é")] == ["/r/a0", "/r/b", "/r/é"]
    assert len(list(cache.entries_under("/r"))) == len(names)


_entry = st.builds(
    FileEntry,
    st.text(alphabet='ab/é"\\\n', min_size=1, max_size=6),
    st.integers(0, 10**12),
    st.booleans(),
    st.just("xxh128:" + "1" * 32),
)


@settings(max_examples=80, deadline=None)
@given(
    files=st.lists(_entry, max_size=9, unique_by=lambda e: e.path).map(
        lambda f: sorted(f, key=lambda e: e.path)
    ),
    dirs=st.lists(st.text(alphabet="xy/é", min_size=1, max_size=4), max_size=3),
    cut=st.integers(1, 4),
)
def test_a_manifest_written_in_slices_is_the_manifest(
    files: list[FileEntry], dirs: list[str], cut: int
) -> None:
    out, rewrite = io.BytesIO(), io.BytesIO()
    writer = ManifestWriter(out)
    for start in range(0, len(files), cut):
        writer.add(files[start : start + cut])
    digest = writer.finish(dirs, rewrite)
    manifest = Manifest(tuple(files), tuple(dirs))
    assert digest == manifest.digest()
    assert (rewrite if dirs else out).getvalue() == manifest.to_bytes()


# ---------------------------------------------------------------- restoring a new folder
def _taken_then_moved(tmp_path: Path) -> tuple[DataStore, str, dict[str, object]]:
    store = _store(tmp_path, empty_dir=True)
    digest = slices.take(store, "set", "hashing", lambda _: None).hash
    wanted = tree_state(store.root / "set")
    os.rename(store.root / "set", tmp_path / "moved")
    return store, digest, wanted


def test_a_new_folder_is_restored_from_its_manifest_read_as_a_stream(tmp_path: Path) -> None:
    store, digest, wanted = _taken_then_moved(tmp_path)
    plan = plan_restore(store, {"set": digest})
    assert plan.paths[0].streamed and plan.paths[0].writes == []  # no file held
    assert plan.paths[0].empty_dirs == ["part1/empty/deeper"]
    assert apply_restore(store, plan) == len(FILES)
    assert tree_state(store.root / "set") == wanted
    # What was written is recorded 32 bytes a file, not as a dict entry each.
    assert store.hasher.written == {}
    restored = {str(p) for p in (store.root / "set").rglob("*") if p.is_file()}
    assert set(store.hasher.written_files()) == restored
    for path, (key, _) in store.hasher.written_files().items():
        assert key == stat_key(os.stat(path))


def test_a_streamed_restore_that_fails_records_every_file_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half way through its third slice: what the rollback removes is exactly what was
    written, in the slices before and in the one that failed."""
    store, digest, _ = _taken_then_moved(tmp_path)
    fail_the_copy_at(monkeypatch, 7)
    with pytest.raises(CacheError):
        apply_restore(store, plan_restore(store, {"set": digest}))
    on_disk = {str(p) for p in (store.root / "set").rglob("*") if p.is_file()}
    assert len(on_disk) == 7
    assert on_disk == set(store.hasher.written_files())


def test_the_check_after_a_streamed_restore_trusts_only_unchanged_files(tmp_path: Path) -> None:
    """A file the restore wrote counts with the hash recorded as it was written while its
    stat key is the one recorded then (not read again); once changed, it is read."""
    store, digest, _ = _taken_then_moved(tmp_path)
    apply_restore(store, plan_restore(store, {"set": digest}))
    folder = store.hasher.written_folders[str(store.root / "set")]
    entries = list(folder.entries())
    index = next(i for i, entry in enumerate(entries) if entry.path == "a-b")
    written = folder.written(index)
    assert written is not None and written[1] == reference_file_hash(b"a-b")
    fake = "xxh128:" + "0" * 32
    folder.record(index, written[0], fake)  # as if it had been written with other bytes
    forged = [
        FileEntry(e.path, e.size, e.executable, fake if e.path == "a-b" else e.hash)
        for e in entries
    ]
    assert (
        store.hasher.current_hash("set")
        == Manifest(tuple(forged), ("part1/empty/deeper",)).digest()
    )
    (store.root / "set" / "a-b").write_text("changed")
    assert store.hasher.current_hash("set") == reference_dir_hash(store.root / "set")


@settings(max_examples=300, deadline=None)
@given(data=_manifest_bytes(), cut=st.sampled_from([1, 2, 7, 64, 4096]))
def test_a_manifest_read_as_a_stream_reads_what_the_whole_reader_reads(
    data: bytes, cut: int
) -> None:
    """Manifests are untrusted: read a piece at a time (cut anywhere, within a UTF-8
    character too), the canonical ones give what the whole reader gives; anything else is
    left to it (NotCanonical) or refused as it refuses it."""
    digest = hashing.hash_bytes(data) + hashing.DIR_SUFFIX
    dirs: list[str] = []
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(manifest_module, "_READ_AT_ONCE", cut)
            files = tuple(read_stream(io.BytesIO(data), digest, dirs))
    except NotCanonical:
        text = data.decode("utf-8", "replace")
        assert read_canonical(text) is None or text.encode() != data
        return
    except (ValueError, GitrackError):  # an unsafe name, a bad hash: refused there too
        with pytest.raises((ValueError, GitrackError)):
            Manifest.from_bytes(data)
        return
    assert Manifest.from_bytes(data) == Manifest(files, tuple(dirs))


def test_a_manifest_read_as_a_stream_is_checked_against_its_hash_at_the_end() -> None:
    data = Manifest((FileEntry("a", 1, False, "xxh128:" + "1" * 32),), ("e",)).to_bytes()
    read = read_stream(io.BytesIO(data), "xxh128:" + "2" * 32 + ".dir", [])
    assert next(read).path == "a"  # what comes before the end is not yet vouched for
    with pytest.raises(CorruptManifest):
        next(read)


def test_a_new_folder_missing_an_object_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    store, digest, _ = _taken_then_moved(tmp_path)
    gone = reference_file_hash(b"a0")
    os.chmod(object_path(store.cache.root, gone), 0o644)
    object_path(store.cache.root, gone).unlink()
    plan = plan_restore(store, {"set": digest})
    assert plan.missing == [("set/a0", gone)]
    with pytest.raises(CacheError, match="set/a0"):
        apply_restore(store, plan)
    assert not (store.root / "set").exists()


def test_a_manifest_that_changes_between_plan_and_restore_stops_the_restore(
    tmp_path: Path,
) -> None:
    store, digest, _ = _taken_then_moved(tmp_path)
    plan = plan_restore(store, {"set": digest})
    manifest = object_path(store.cache.root, digest)
    os.chmod(manifest, 0o644)
    manifest.write_bytes(b'{"v":1,"files":[],"dirs":[]}')  # JSON, no longer canonical
    with pytest.raises(CacheError, match="changed in the cache"):
        apply_restore(store, plan)


def test_an_item_too_long_to_read_a_piece_at_a_time_is_left_to_the_whole_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text is never read again and again in search of one item's end: past _ITEM_MAX the
    manifest counts as not canonical, and the restore plans it as a whole, as before."""
    store, digest, wanted = _taken_then_moved(tmp_path)
    monkeypatch.setattr(manifest_module, "_READ_AT_ONCE", 8)
    monkeypatch.setattr(manifest_module, "_ITEM_MAX", 16)
    data = object_path(store.cache.root, digest).read_bytes()
    with pytest.raises(NotCanonical):
        list(read_stream(io.BytesIO(data), digest, []))
    plan = plan_restore(store, {"set": digest})
    assert not plan.paths[0].streamed and len(plan.paths[0].writes) == len(FILES)
    assert apply_restore(store, plan) == len(FILES)
    assert tree_state(store.root / "set") == wanted


def test_the_manifest_temp_file_outlives_a_slow_slice_and_a_gc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest's temp file is written to as slices are encoded; one slice of large
    files on slow storage may take longer than the hour after which gc (or fsck --repair)
    takes a temp file for a dead writer's: it is touched as files are read (review)."""
    from gitrack.data import gc

    monkeypatch.setattr(slices, "TOUCH_EVERY_S", 0.0)
    store = _store(tmp_path, empty_dir=False)
    calls: list[list[str]] = []

    def protect(hashes: list[str]) -> None:
        calls.append(hashes)
        if len(calls) == 2:  # a slice that took two hours: its temp file looks that old
            for temp in (store.cache.root / "tmp").iterdir():
                old = os.path.getmtime(temp) - 7200
                os.utime(temp, (old, old))
        if len(calls) == 3:  # then a gc, after a slice whose files were read
            gc.collect(store.cache, lambda: ([], []), grace_s=0)
        gc.mark_pending(store.cache, f"r.slice{len(calls)}", hashes)

    state = slices.take(store, "set", "hashing", protect)
    assert state.hash == reference_dir_hash(store.root / "set")


def _hostile_manifest(store: DataStore, files: list[tuple[str, bytes]]) -> str:
    """Canonical manifest bytes naming ``files`` in the order given (not sorted)."""
    entries = [
        FileEntry(path, len(data), False, store.cache.add_bytes(data, hashing.hash_bytes(data)))
        for path, data in files
    ]
    raw = (
        manifest_module.encode_head(())
        + manifest_module.encode_files(entries, True)
        + manifest_module.TAIL
    )
    digest = hashing.hash_bytes(raw) + hashing.DIR_SUFFIX
    store.cache.add_bytes(raw, digest)
    return digest


def test_a_manifest_naming_a_file_and_a_folder_the_same_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    """`a` in one slice, `a/b` in a later one: the restore's own file `a` was kept as the
    user's and replaced, and the rollback put it back (review). Refused; nothing is left."""
    from gitrack.paths import UnsafePathError
    from gitrack.tracking.rollback import DataUndo

    store = DataStore(tmp_path / "root", Cache(tmp_path / "cache"), StatCache(tmp_path / "s"))
    store.root.mkdir()
    files = [("a", b"file a"), *((f"b{i}", b"f") for i in range(4)), ("a/b", b"x")]
    digest = _hostile_manifest(store, files)
    undo = DataUndo(store.root, ["set"])
    with pytest.raises(UnsafePathError, match="a file and a folder"):
        apply_restore(store, plan_restore(store, {"set": digest}))
    undo.roll_back(store)
    assert not (store.root / "set").exists()
    assert not store.preserved


def test_no_room_for_the_manifest_s_temp_file_is_an_error_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check of a folder spools its manifest's bytes in $TMPDIR past 256 KiB (review:
    a missing or full $TMPDIR was exit 3)."""
    import tempfile

    store = _store(tmp_path, empty_dir=True)
    monkeypatch.setattr(hasher, "SPOOLED", 10)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    with pytest.raises(GitrackError, match="point TMPDIR at a folder"):
        store.hasher.current_hash("set")
