"""Objects written in place (a new dataset's small files, batch.write_in_place) are created
with no permissions and made read-only once complete: an unfinished one (its writer killed)
counts as missing everywhere, is never put back by gc over a whole copy, and is never left
in a cache other users write to (objects are written in place only in a private cache)."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import gitrack
from data_helpers import (
    IS_ROOT,
    default_cache,
    gitrack_unprivileged,
    make_data_repo,
    needs_unprivileged,
    object_path,
    record_data,
    reference_file_hash,
    write_files,
)

import gitrack.data.batch as _batch  # noqa: F401 - imported before a fork (lazy imports elsewhere)
from gitrack.data import gc
from gitrack.data.odb import Cache, open_new
from gitrack.data.state import StatCache
from gitrack.data.store import DataStore

DATA = b"file 0\n"


def _leave_unfinished(final: Path, data: bytes) -> None:
    """What write_in_place leaves when killed -9 after its first write: created with no
    permissions (odb.open_new(final, 0)), part of the bytes, never fchmod 0444."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd = open_new(os.fspath(final), 0)
    os.write(fd, data[:3])
    os.close(fd)


# 1. gc puts an unfinished object back over the complete copy a run has just written
def test_gc_never_puts_an_unfinished_object_back_over_a_runs_new_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    write_files(root, {"set/a.txt": DATA})
    cache = Cache(tmp_path / "cache")
    store = DataStore(root, cache, StatCache(tmp_path / "state.sqlite"))
    digest = reference_file_hash(DATA)
    final = Path(cache.path_for(digest))
    _leave_unfinished(final, DATA)  # a run killed -9 three weeks ago
    old = time.time() - 3 * gc.WEEK
    os.utime(final, (old, old))

    # Run R hashes the dataset (finds the unfinished object there: not its own to finish).
    state = store.hash_and_stage("set")
    calls = []

    def run_references() -> tuple[list[str], list[str]]:
        calls.append(1)
        if len(calls) == 1:  # gc's step 1 has read the markers: R writes its marker now
            gc.mark_pending(cache, "run-r", [state.hash, digest])
        return [], []

    real_is_complete = gc.is_complete

    def is_complete_then_r_stores(path: str) -> bool:
        found = real_is_complete(path)  # gc's look (step 4, putting O back) ...
        if len(calls) >= 2 and not getattr(store, "_stored", False):
            store._stored = True  # type: ignore[attr-defined]
            store.store(state)  # ... then R looks for O after its marker: absent, writes it
            assert real_is_complete(os.fspath(final))  # R's copy is whole: R records its run
        return found

    # Only an interleaving hook: R's real store runs between gc's look and its replace.
    monkeypatch.setattr(gc, "is_complete", is_complete_then_r_stores)
    gc.collect(cache, run_references)  # the default grace period: not even --now
    assert getattr(store, "_stored", False)
    # R's run references O: it must be whole
    assert cache.exists(digest), oct(stat.S_IMODE(final.stat().st_mode))
    assert final.read_bytes() == DATA


# 2. a shared cache with sticky folders: one user's killed write blocks the other user
def _as_user(uid: int, work) -> int:  # type: ignore[no-untyped-def]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            work()
            code = 0
        except BaseException as exc:
            os.write(2, f"user {uid}: {type(exc).__name__}: {exc}\n".encode())
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder two users can reach (pytest's own are the owner's alone)."""
    folder = Path(tempfile.mkdtemp(dir="/tmp", prefix="gitrack-shared-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(not IS_ROOT, reason="needs root to act as two users")
def test_a_killed_write_of_another_user_does_not_block_a_shared_cache(shared: Path) -> None:
    digest = reference_file_hash(DATA)
    cache_root = shared / "cache"
    shard = Path(Cache(cache_root).path_for(digest)).parent
    for folder in (cache_root, cache_root / "xxh128", shard, cache_root / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o1777)  # a cache shared by a team: writable by all, sticky as /tmp
    (shared / "root1").mkdir()
    (shared / "root2").mkdir()
    write_files(shared / "root1", {"set/a.txt": DATA})
    write_files(shared / "root2", {"set/a.txt": DATA})
    for path in shared.rglob("*"):
        if path.is_relative_to(shared / "root1") or path.is_relative_to(shared / "root2"):
            os.chown(path, 1001 if "root1" in path.parts else 1002, -1)

    def user1_killed() -> None:  # user 1's run, killed -9 after its hash pass
        store = DataStore(
            shared / "root1", Cache(cache_root), StatCache(shared / "root1" / "state.sqlite")
        )
        store.hash_and_stage("set")  # a shared cache: staged in tmp/, nothing in place
        assert not Path(store.cache.path_for(digest)).exists()

    def user2_run() -> None:  # user 2's run of the same data, as RunData.take_inputs does it
        store = DataStore(
            shared / "root2", Cache(cache_root), StatCache(shared / "root2" / "state.sqlite")
        )
        state = store.hash_and_stage("set")
        gc.mark_pending(store.cache, "run-2", [state.hash, digest])
        store.store(state)
        assert store.cache.exists(digest)

    assert _as_user(1001, user1_killed) == 0
    assert _as_user(1002, user2_run) == 0, "user 2's run failed (see its stderr above)"


# 3. reading a run's file whose object is unfinished: crash / "corrupt", not "missing"
def _run_with_unfinished_object(tmp_path: Path) -> tuple[Path, str]:
    repo = make_data_repo(tmp_path / "repo")
    write_files(repo, {"data/x.txt": DATA})
    run_id = record_data(repo, "-d", "data/x.txt")
    final = object_path(default_cache(repo), reference_file_hash(DATA))
    final.unlink()  # as a later write of the same object, killed -9, leaves it
    _leave_unfinished(final, DATA)
    return repo, run_id


@needs_unprivileged
def test_cat_of_a_file_whose_object_is_unfinished_says_missing(tmp_path: Path) -> None:
    repo, run_id = _run_with_unfinished_object(tmp_path)
    proc = gitrack_unprivileged("cat", run_id, "data/x.txt", repo=repo)
    assert proc.returncode == 1, proc.stderr  # today: 3, "unexpected error: PermissionError"
    assert "missing" in proc.stderr, proc.stderr


def test_cat_as_root_of_a_file_whose_object_is_unfinished_says_missing(tmp_path: Path) -> None:
    repo, run_id = _run_with_unfinished_object(tmp_path)
    res = gitrack("cat", run_id, "data/x.txt", cwd=repo)
    assert res.code == 1
    assert "missing" in res.err, res.err  # today (root): "... is corrupt"


def test_get_of_a_file_whose_object_is_unfinished_says_missing(tmp_path: Path) -> None:
    repo, run_id = _run_with_unfinished_object(tmp_path)
    res = gitrack("get", run_id, "data/x.txt", "-o", str(tmp_path / "out.txt"), cwd=repo)
    assert res.code == 1
    assert "missing" in res.err, res.err  # today: "corrupt" (root) / "Permission denied"


def test_ls_files_gives_no_size_for_an_unfinished_object(tmp_path: Path) -> None:
    repo, run_id = _run_with_unfinished_object(tmp_path)
    res = gitrack("ls-files", run_id, "--json", cwd=repo)
    (entry,) = [f for f in res.json() if f["path"] == "data/x.txt"]
    assert entry["size"] is None  # not in the cache (as for a missing object); today: 3


@pytest.mark.parametrize("mode", [0o1777, 0o777, 0o1755])
def test_a_cache_others_may_write_to_is_never_written_in_place(tmp_path: Path, mode: int) -> None:
    root = tmp_path / "root"
    write_files(root, {"set/a.txt": DATA, "set/b.txt": b"other\n"})
    cache = Cache(tmp_path / "cache")
    cache.root.mkdir()
    cache.root.chmod(mode)
    store = DataStore(root, cache, StatCache(tmp_path / "state.sqlite"))
    assert not cache.private
    state = store.hash_and_stage("set")
    assert not list((cache.root / "xxh128").glob("*/*"))  # staged in tmp/, not in place
    assert len(list((cache.root / "tmp").iterdir())) == 2
    gc.mark_pending(cache, "run", [state.hash, *(e.hash for e in state.entries)])
    store.store(state)
    assert cache.exists(reference_file_hash(DATA))


def test_a_cache_only_its_owner_writes_to_is_written_in_place(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.root.mkdir()
    cache.root.chmod(0o755)
    assert cache.private
    assert Cache(tmp_path / "not-yet").private  # made by this process


def _in_child(work) -> int:  # type: ignore[no-untyped-def]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = work()
        except BaseException as exc:
            os.write(2, f"child: {type(exc).__name__}: {exc}\n".encode())
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# From the second review: caches others may write to, though not by their mode alone.
@pytest.mark.skipif(not IS_ROOT, reason="needs root to give a folder another group")
def test_a_new_cache_in_a_setgid_team_folder_is_not_private(shared: Path) -> None:
    try:
        team = grp.getgrnam("users").gr_gid  # any group that is not this user's own
    except KeyError:
        pytest.skip("no group 'users' here")
    assert team != os.getegid()
    parent = shared / "team"
    parent.mkdir()
    os.chown(parent, os.geteuid(), team)
    parent.chmod(0o2775)  # a team folder: setgid, group-writable
    root = shared / "root"
    write_files(root, {"set/a.txt": DATA})

    def work() -> int:
        os.umask(0o002)  # Debian/Ubuntu for a user private group, or a team's policy
        cache = Cache(parent / "cache")
        store = DataStore(root, cache, StatCache(shared / "state.sqlite"))
        said = cache.private
        store.hash_and_stage("set")
        made = os.stat(cache.root / "xxh128")
        print(oct(made.st_mode), made.st_gid, said, Cache(cache.root).private, flush=True)
        in_place = list((cache.root / "xxh128").glob("*/*"))
        # The cache is now one its group (the team) writes to: the same answer as a
        # Cache made after it exists, and no object written in place.
        return 0 if (said == Cache(cache.root).private and not in_place) else 1

    assert _in_child(work) == 0


@pytest.mark.skipif(not IS_ROOT, reason="needs root to act as another user")
def test_a_primary_group_other_users_share_is_not_a_private_group(shared: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    sharing = [
        user.pw_name
        for user in pwd.getpwall()
        if user.pw_gid == nobody.pw_gid and user.pw_uid != nobody.pw_uid
    ]
    if not sharing or grp.getgrgid(nobody.pw_gid).gr_mem:
        pytest.skip("no other user has nobody's primary group (unlisted) here")
    cache_root = shared / "cache"
    cache_root.mkdir()
    os.chown(cache_root, nobody.pw_uid, nobody.pw_gid)
    cache_root.chmod(0o775)  # writable by group nogroup: by `sync` and `_apt` too

    def work() -> int:
        os.setgroups([])
        os.setresgid(nobody.pw_gid, nobody.pw_gid, nobody.pw_gid)
        os.setresuid(nobody.pw_uid, nobody.pw_uid, nobody.pw_uid)
        return 0 if not Cache(cache_root).private else 1

    assert _in_child(work) == 0, f"{sharing} can write to it: not private"


@pytest.mark.skipif(not IS_ROOT, reason="needs root to act as another user")
def test_a_cache_an_acl_lets_another_user_write_to_is_not_private(shared: Path) -> None:
    import struct

    cache_root = shared / "cache"
    cache_root.mkdir()
    cache_root.chmod(0o755)
    nobody = pwd.getpwnam("nobody").pw_uid
    undefined = 0xFFFFFFFF  # posix_acl_xattr: USER_OBJ, USER nobody, GROUP_OBJ, MASK, OTHER
    entries = [(0x01, 7, undefined), (0x02, 7, nobody), (0x04, 5, undefined),
               (0x10, 7, undefined), (0x20, 5, undefined)]  # fmt: skip
    acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
    try:
        os.setxattr(cache_root, "system.posix_acl_access", acl)
    except OSError as exc:
        pytest.skip(f"no POSIX ACLs here: {exc}")

    def nobody_writes() -> int:
        os.setgroups([])
        os.setresgid(nobody, nobody, nobody)
        os.setresuid(nobody, nobody, nobody)
        (cache_root / "written-by-nobody").write_bytes(b"")
        return 0

    assert _in_child(nobody_writes) == 0  # another user writes to this cache
    assert not Cache(cache_root).private
