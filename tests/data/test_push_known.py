"""A push checks only what is new (issue 16 §4): each clone keeps a record of the objects
it has confirmed in a remote cache; the record is a speed-up, never trusted for correctness."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import gitrack, record
from data_helpers import cache_objects, default_cache
from remote_helpers import MotoS3, clone, write
from test_remote import (  # noqa: F401  (fixtures)
    IMAGES,
    TRAIN,
    Backend,
    aws_env,
    key_of,
    recorded_clone,
    s3,
)

from gitrack.data import hashing, known


def _known_file(repo: Path) -> Path:
    files = list((repo / ".git" / "gitrack" / "remotes").glob("*.known"))
    assert len(files) == 1
    return files[0]


def _recorded(repo: Path) -> set[str]:
    return set(_known_file(repo).read_text().split("\n")[1:]) - {""}


def _folders(repo: Path) -> set[str]:
    return {h for h in _recorded(repo) if hashing.is_dir_hash(h)}


def _make_writable_and_overwrite(path: Path, data: bytes) -> bytes:
    kept = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(data)
    return kept


def _remove_remote_object(backend: Backend, key: str) -> None:
    if backend.s3 is not None:
        backend.s3.filesystem().delete_file(f"{backend.bucket}/team/cache/{key}")
    else:
        os.remove(backend.folder / key)


def test_a_push_trusts_the_record_and_a_checkout_that_finds_an_object_gone_corrects_it(
    s3: MotoS3,  # noqa: F811
    tmp_path: Path,
) -> None:
    backend = Backend("s3", tmp_path, s3)
    origin, a, run_id = recorded_clone(tmp_path, backend.table)
    local = cache_objects(default_cache(a))
    assert gitrack("push", cwd=a).code == 0
    folders = _folders(a)
    assert len(folders) == 1  # data/images, whole
    assert _recorded(a) == local | folders  # every object confirmed there

    # A file of the folder lost from the remote: the record still lists it (and the
    # folder as whole), so a push does not look.
    lost = hashing.hash_bytes(IMAGES["sub/b.bin"])
    assert lost in local
    _remove_remote_object(backend, key_of(lost))
    again = gitrack("push", cwd=a)
    assert again.code == 0 and "uploaded" not in again.out
    assert key_of(lost) not in backend.objects()

    # The checkout that needs it (this clone's cache lost it too) finds it gone: forgotten.
    own_copy = default_cache(a) / key_of(lost)
    kept = own_copy.read_bytes()
    own_copy.unlink()
    os.rename(a / "data", tmp_path / "data-moved-away")
    needed = gitrack("checkout", run_id, cwd=a)
    assert needed.code == 1 and "not in the cache" in needed.err, needed.err
    assert lost not in _recorded(a)
    assert _folders(a) == set()  # which folders list it, the record cannot tell: all go
    os.rename(tmp_path / "data-moved-away", a / "data")
    # ... and once the clone has the object again, the next push checks and uploads it.
    own_copy.write_bytes(kept)
    os.chmod(own_copy, 0o444)
    fixed = gitrack("push", cwd=a)
    assert fixed.code == 0 and "1 object(s) uploaded" in fixed.out, fixed.out
    assert key_of(lost) in backend.objects()
    del origin


def test_a_new_run_pushes_only_its_new_object(tmp_path: Path) -> None:
    backend = Backend("relative path", tmp_path, None)
    _origin, a, _run_id = recorded_clone(tmp_path, backend.table)
    assert gitrack("push", cwd=a).code == 0
    write(a / "data" / "train.csv", b"x,y\n9,81\n")
    record("true", cwd=a)
    pushed = gitrack("push", cwd=a)
    assert pushed.code == 0 and "1 object(s) uploaded" in pushed.out, pushed.out


def test_an_expired_or_damaged_record_is_empty(tmp_path: Path) -> None:
    folder = tmp_path / "remotes"
    digest = "xxh128:" + "0" * 32
    now = time.time()
    record_ = known.KnownObjects(folder, "s3://bucket/x", now)
    record_.add([digest, "not a hash"])
    assert record_.load() == {digest}
    assert known.KnownObjects(folder, "s3://bucket/x", now + known.TTL_S + 1).load() == set()
    assert known.KnownObjects(folder, "s3://other/x", now).load() == set()
    record_.path.write_bytes(b"\xff\xfe garbage")
    assert record_.load() == set()


def test_recheck_finds_an_object_deleted_behind_gitracks_back(
    s3: MotoS3,  # noqa: F811
    tmp_path: Path,
) -> None:
    backend = Backend("s3", tmp_path, s3)
    _origin, a, _run_id = recorded_clone(tmp_path, backend.table)
    assert gitrack("push", cwd=a).code == 0
    lost = hashing.hash_bytes(IMAGES["a.bin"])
    _remove_remote_object(backend, key_of(lost))
    assert "uploaded" not in gitrack("push", cwd=a).out  # trusted: not looked at

    rechecked = gitrack("push", "--recheck", cwd=a)

    assert rechecked.code == 0 and "1 object(s) uploaded" in rechecked.out, rechecked.out
    assert backend.objects()[key_of(lost)] == IMAGES["a.bin"]
    lines = _known_file(a).read_text().split("\n")[1:-1]
    assert sorted(lines) == sorted(set(lines)) == sorted(_recorded(a))  # rebuilt, not appended
    assert len(_folders(a)) == 1


def test_an_interrupted_push_records_only_what_reached_the_remote(
    s3: MotoS3,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A push that fails half way (here: one local object turns out corrupt, so it is
    refused while the others go) records the objects that got there, never the one that
    did not nor the folder that lists it; the next push sends exactly what is left."""
    backend = Backend("s3", tmp_path, s3)
    _origin, a, _run_id = recorded_clone(tmp_path, backend.table)
    bad = hashing.hash_bytes(IMAGES["a.bin"])
    bad_copy = default_cache(a) / key_of(bad)
    kept = _make_writable_and_overwrite(bad_copy, b"X" * len(IMAGES["a.bin"]))

    failed = gitrack("push", cwd=a)

    assert failed.code != 0 and "corrupt" in failed.err, failed.err
    files = {hashing.hash_bytes(data) for data in [TRAIN, *IMAGES.values()]}
    in_bucket = {h for h in cache_objects(default_cache(a)) if key_of(h) in backend.objects()}
    assert in_bucket == files - {bad}  # the others went; not the folder's manifest, which
    # is sent only after all its files
    assert _recorded(a) == in_bucket  # no folder, nothing that is not there
    bad_copy.write_bytes(kept)
    os.chmod(bad_copy, 0o444)
    fixed = gitrack("push", cwd=a)
    assert fixed.code == 0 and "2 object(s) uploaded" in fixed.out, fixed.out  # it, manifest
    assert backend.objects()[key_of(bad)] == IMAGES["a.bin"]
    assert len(_folders(a)) == 1


def test_a_push_reads_no_manifest_of_a_folder_confirmed_whole(tmp_path: Path) -> None:
    """Pushing a new run costs what is new: the folder an earlier push confirmed whole is
    skipped without reading its manifest (here made unreadable: no warning about it)."""
    backend = Backend("relative path", tmp_path, None)
    _origin, a, _run_id = recorded_clone(tmp_path, backend.table)
    assert gitrack("push", cwd=a).code == 0
    (folder,) = _folders(a)
    _make_writable_and_overwrite(default_cache(a) / key_of(folder), b"not a manifest")
    write(a / "data" / "train.csv", b"x,y\n7,49\n")
    record("true", cwd=a)  # a new run: new train.csv, the same images folder

    pushed = gitrack("push", cwd=a)

    assert pushed.code == 0 and "1 object(s) uploaded" in pushed.out, pushed.out
    assert "manifest" not in pushed.err, pushed.err


def test_a_record_line_cut_short_is_not_trusted(tmp_path: Path) -> None:
    """A folder's line whose write was cut after its object name reads as the object
    name, a hash that was never confirmed: a last line without its newline is dropped."""
    folder_hash = "xxh128:" + "a" * 32 + ".dir"
    record_ = known.KnownObjects(tmp_path, "s3://bucket/x")
    record_.add(["xxh128:" + "b" * 32])
    with record_.path.open("a") as handle:
        handle.write(folder_hash[: -len(".dir")])
    assert record_.load() == {"xxh128:" + "b" * 32}


def test_a_push_process_loads_pyarrow_without_numpy(tmp_path: Path) -> None:
    """A push only moves bytes: pyarrow is imported with NumPy hidden (a third to a half
    of pyarrow's import time), and the push still works end to end."""
    backend = Backend("relative path", tmp_path, None)
    _origin, a, _run_id = recorded_clone(tmp_path, backend.table)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitrack", "push"],
        cwd=a,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and "object(s) uploaded" in proc.stdout, proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "pyarrow.fs" in imported
    assert not {name for name in imported if name.split(".")[0] == "numpy"}


def test_what_a_pull_downloads_is_recorded_as_in_the_remote(tmp_path: Path) -> None:
    """A clone that pulled data does not look the same objects up again when it pushes."""
    backend = Backend("relative path", tmp_path, None)
    origin, a, _run_id = recorded_clone(tmp_path, backend.table)
    assert gitrack("push", cwd=a).code == 0
    b = clone(origin, tmp_path / "b")
    assert gitrack("pull", "--data", cwd=b).code == 0
    assert _recorded(b) == cache_objects(default_cache(b)) != set()


def test_a_relative_remote_folder_seen_from_another_worktree_is_another_remote(
    tmp_path: Path,
) -> None:
    """``url = "../team-cache"`` names a folder beside each worktree: linked worktrees
    share the git common dir (and so the record), not that folder. What one worktree's
    push confirmed in its folder is not in the other's."""
    backend = Backend("relative path", tmp_path, None)
    _origin, a, _run_id = recorded_clone(tmp_path, backend.table)
    assert gitrack("push", cwd=a).code == 0
    assert backend.objects()
    other = tmp_path / "elsewhere" / "wt"
    other.parent.mkdir()
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(other)], cwd=a, check=True)
    assert gitrack("push", cwd=other).code == 0
    theirs = tmp_path / "elsewhere" / "team-cache"
    assert {p.name for p in theirs.rglob("*") if p.is_file()} == {
        Path(k).name for k in backend.objects()
    }


def test_a_push_called_from_a_users_process_leaves_pyarrow_its_numpy(tmp_path: Path) -> None:
    """``cli.main(["push"])`` in the user's own process: pyarrow keeps NumPy (only the
    gitrack program itself moves bytes without it)."""
    backend = Backend("relative path", tmp_path, None)
    _origin, a, _run_id = recorded_clone(tmp_path, backend.table)
    code = (
        "from gitrack.cli import main\nassert main(['push']) == 0\n"
        "import pyarrow\nprint(pyarrow.array([1, 2]).to_numpy().sum())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=a, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.split()[-1] == "3", proc.stderr
