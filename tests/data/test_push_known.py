"""A push checks only what is new (issue 16 §4): each clone keeps a record of the objects
it has confirmed in a remote cache; the record is a speed-up, never trusted for correctness."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import gitrack, record
from data_helpers import cache_objects, default_cache
from remote_helpers import MotoS3, write
from test_remote import Backend, aws_env, key_of, recorded_clone, s3  # noqa: F401  (fixtures)

from gitrack.data import known


def _known_file(repo: Path) -> Path:
    files = list((repo / ".git" / "gitrack" / "remotes").glob("*.known"))
    assert len(files) == 1
    return files[0]


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
    recorded = set(_known_file(a).read_text().split("\n")[1:]) - {""}
    assert recorded == local  # every object confirmed there

    # An object lost from the remote: the record still lists it, so a push does not look.
    lost = sorted(local)[0]
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
    assert lost not in _known_file(a).read_text()
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
