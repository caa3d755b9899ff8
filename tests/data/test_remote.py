"""The team's data cache: an S3 server on loopback (moto), a shared folder, a file:// URL.

Runs travel through git; their data through the remote cache. Uploads must never leave
anything that looks like a complete object unless it is one; downloads are verified by hash
before they enter the local cache; every failure is one ``Error:`` line naming the remote,
with nothing local lost.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import git, gitrack, gitrack_proc, record, repo_state, worktree_state
from data_helpers import cache_objects, default_cache, tree_state
from remote_helpers import (
    MotoS3,
    clone,
    closed_port,
    git_proc,
    gitrack_lines,
    make_origin,
    remote_refs,
    set_aws_env,
    silent_server,
    write,
)

from gitrack.config import RemoteSettings
from gitrack.data import hashing, remote
from gitrack.data.odb import Cache
from gitrack.data.remote import RemoteCache, RemoteError

PREFIX = "team/cache"
TRAIN = b"x,y\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(2000))
IMAGES = {"a.bin": b"\x00\x01" * 5000, "sub/b.bin": b"image b\n", "sub/c.bin": b""}


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        pytest.fail("moto's S3 server is not installed: pip install -e '.[test]' (moto[server])")
    with pytest.MonkeyPatch.context() as mp:
        set_aws_env(mp)
        server = MotoS3()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    set_aws_env(monkeypatch)


class Backend:
    """One kind of remote cache: its [remote] table and a way to read what it holds."""

    def __init__(self, kind: str, tmp_path: Path, s3: MotoS3 | None) -> None:
        self.kind = kind
        self.s3 = s3
        self.folder = tmp_path / "team-cache"
        if kind == "s3":
            assert s3 is not None
            self.bucket = s3.new_bucket()
            self.url = f"s3://{self.bucket}/{PREFIX}"
            self.table = s3.config(self.bucket, PREFIX)
        elif kind == "relative path":
            self.url = "../team-cache"  # relative to each clone's root: one shared folder
            self.table = f'[remote]\nurl = "{self.url}"\n'
        else:
            self.url = self.folder.as_uri()
            self.table = f'[remote]\nurl = "{self.url}"\n'

    def objects(self) -> dict[str, bytes]:
        """Every file under the cache prefix: key relative to the prefix -> bytes."""
        if self.s3 is not None:
            keys = self.s3.keys(self.bucket, PREFIX)
            return {k.removeprefix(PREFIX + "/"): v for k, v in keys.items()}
        if not self.folder.exists():
            return {}
        return {
            p.relative_to(self.folder).as_posix(): p.read_bytes()
            for p in self.folder.rglob("*")
            if p.is_file()
        }

    def overwrite(self, key: str, data: bytes) -> None:
        if self.s3 is not None:
            self.s3.put(self.bucket, f"{PREFIX}/{key}", data)
        else:
            target = self.folder / key
            target.chmod(0o644)
            target.write_bytes(data)


@pytest.fixture(params=["s3", "relative path", "file url"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    s3 = request.getfixturevalue("s3") if request.param == "s3" else None
    return Backend(request.param, tmp_path, s3)


def team_origin(tmp_path: Path, table: str) -> Path:
    """An origin whose committed gitrack.toml declares the datasets and the remote cache."""
    config = 'data = ["data/train.csv", "data/images"]\n' + table
    files: dict[str, str | bytes] = {
        "train.py": "print('training')\n",
        ".gitignore": "data/\n",
        "gitrack.toml": config,
    }
    return make_origin(tmp_path, files)


def write_data(repo: Path) -> None:
    write(repo / "data" / "train.csv", TRAIN)
    for name, content in IMAGES.items():
        write(repo / "data" / "images" / name, content)


def key_of(digest: str) -> str:
    hexpart = hashing.hex_of(digest)
    return f"xxh128/{hexpart[:2]}/{hexpart[2:]}"


def recorded_clone(tmp_path: Path, table: str) -> tuple[Path, Path, str]:
    """Clone a of a new origin with one run on data/ recorded and pushed (runs and data)."""
    origin = team_origin(tmp_path, table)
    a = clone(origin, tmp_path / "a")
    write_data(a)
    run_id = record("true", cwd=a)
    return origin, a, run_id


# ------------------------------------------------------------------- round trip
def test_push_uploads_and_a_fresh_clone_gets_the_data_back(
    backend: Backend, tmp_path: Path
) -> None:
    origin, a, run_id = recorded_clone(tmp_path, backend.table)
    local = cache_objects(default_cache(a))
    assert len(local) == 1 + 1 + len(IMAGES)  # train.csv, the images manifest, the images

    pushed = gitrack("push", cwd=a)

    assert pushed.code == 0, pushed.err
    assert f"pushed runs to origin, {len(local)} object(s) uploaded" in pushed.out
    held = backend.objects()
    assert set(held) == {key_of(h) for h in local}  # nothing else: no temp names left
    for digest in local:
        assert hashing.hash_bytes(held[key_of(digest)]) == digest
    again = gitrack("push", cwd=a)
    assert again.code == 0 and "uploaded" not in again.out  # already there: nothing sent

    b = clone(origin, tmp_path / "b")
    pulled = gitrack("pull", "--data", cwd=b)
    assert pulled.code == 0, pulled.err
    assert f"1 new run(s), {len(local)} object(s) fetched" in pulled.out
    assert cache_objects(default_cache(b)) == local
    res = gitrack("checkout", run_id, cwd=b)
    assert res.code == 0, res.err
    assert tree_state(b / "data") == tree_state(a / "data")

    c = clone(origin, tmp_path / "c")  # runs only; checkout fetches what it needs, lazily
    assert gitrack("pull", "--no-data", cwd=c).code == 0
    assert cache_objects(default_cache(c)) == set()
    res = gitrack("checkout", run_id, cwd=c)
    assert res.code == 0, res.err
    assert tree_state(c / "data") == tree_state(a / "data")
    assert worktree_state(c) == worktree_state(a)


def test_git_push_hook_uploads_to_s3(s3: MotoS3, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    origin, a, _ = recorded_clone(tmp_path, s3.config(bucket, PREFIX))
    assert gitrack("install", cwd=a).code == 0
    git("commit", "-q", "--allow-empty", "-m", "more", cwd=a)

    proc = git_proc("push", "-q", "origin", "main", cwd=a)

    assert proc.returncode == 0, proc.stderr
    objects = len(cache_objects(default_cache(a)))
    assert gitrack_lines(proc.stderr) == [
        f"gitrack: published runs and {objects} data object(s) to origin"
    ]
    assert len(s3.keys(bucket, PREFIX)) == objects
    assert "refs/notes/gitrack" in git("for-each-ref", cwd=origin)


# ----------------------------------------------------------------- failures
def assert_one_error(res: Any, *needles: str) -> None:
    assert res.code == 1, res.out + res.err
    assert len(res.err_lines) == 1, res.err
    assert res.err_lines[0].startswith("Error: "), res.err
    for needle in needles:
        assert needle in res.err_lines[0], res.err


def test_a_bucket_that_does_not_exist(s3: MotoS3, tmp_path: Path) -> None:
    url = f"s3://no-such-bucket-{time.time_ns()}/{PREFIX}"
    table = f'[remote]\nurl = "{url}"\nendpoint = "{s3.endpoint}"\n'
    origin, a, run_id = recorded_clone(tmp_path, table)
    objects = cache_objects(default_cache(a))

    res = gitrack("push", cwd=a)

    assert_one_error(res, url)
    assert cache_objects(default_cache(a)) == objects  # nothing local lost
    assert [r["id"] for r in gitrack("ls", "--json", cwd=a).json()] == [run_id]
    assert "refs/notes/gitrack" not in remote_refs(origin)  # no run without its data

    assert gitrack("push", "--no-data", cwd=a).code == 0  # runs only, deliberately
    b = clone(origin, tmp_path / "b")
    pulled = gitrack("pull", "--data", cwd=b)
    assert_one_error(pulled, url)
    assert [r["id"] for r in gitrack("ls", "--json", cwd=b).json()] == [run_id]


def test_wrong_credentials(s3: MotoS3, tmp_path: Path) -> None:
    from moto.core.authorization import enable_iam_authentication

    bucket = s3.new_bucket()
    _, a, _ = recorded_clone(tmp_path, s3.config(bucket, PREFIX))
    with enable_iam_authentication():  # moto now checks keys: ours is nobody's
        res = gitrack("push", cwd=a)

    assert_one_error(res, f"s3://{bucket}/{PREFIX}", "credentials")
    assert "not found" not in res.err
    assert s3.keys(bucket) == {}


def test_an_unreachable_endpoint_fails_quickly(tmp_path: Path) -> None:
    url = f"s3://team-bucket/{PREFIX}"
    table = f'[remote]\nurl = "{url}"\nendpoint = "http://127.0.0.1:{closed_port()}"\n'
    _, a, _ = recorded_clone(tmp_path, table)

    started = time.monotonic()
    res = gitrack("push", cwd=a)

    assert time.monotonic() - started < 20
    assert_one_error(res, url)


@pytest.mark.parametrize("kind", ["s3", "relative path"])
def test_a_corrupt_remote_object_is_refused_naming_it(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = Backend(kind, tmp_path, request.getfixturevalue("s3") if kind == "s3" else None)
    origin, a, run_id = recorded_clone(tmp_path, backend.table)
    assert gitrack("push", cwd=a).code == 0
    train_hash = hashing.hash_bytes(TRAIN)
    backend.overwrite(key_of(train_hash), b"x,y\n6,6\n")  # same key, other bytes
    b = clone(origin, tmp_path / "b")
    assert gitrack("pull", "--no-data", cwd=b).code == 0
    before = repo_state(b)

    res = gitrack("checkout", run_id, cwd=b)

    assert_one_error(res, key_of(train_hash), "verification")
    assert repo_state(b) == before  # HEAD, index, files: untouched
    assert not (b / "data").exists()
    cache = default_cache(b)
    assert train_hash not in cache_objects(cache)
    assert list((cache / "tmp").glob("*")) == []  # no partial download left behind


def test_pull_when_the_remote_cache_lacks_an_object(tmp_path: Path) -> None:
    backend = Backend("relative path", tmp_path, None)
    origin, a, run_id = recorded_clone(tmp_path, backend.table)
    assert gitrack("push", "--no-data", cwd=a).code == 0  # runs out, data never uploaded
    b = clone(origin, tmp_path / "b")

    res = gitrack("pull", "--data", cwd=b)

    assert [r["id"] for r in gitrack("ls", "--json", cwd=b).json()] == [run_id]
    assert res.code == 0, res.err  # the runs did arrive; the data can follow
    assert len(res.err_lines) == 1 and "not in the remote cache" in res.err, res.err
    checkout = gitrack("checkout", run_id, cwd=b)  # the checkout that needs it says so
    assert checkout.code == 1
    assert len(checkout.err_lines) == 1 and "data/train.csv" in checkout.err, checkout.err


@pytest.mark.parametrize("kind", ["s3", "relative path"])
@pytest.mark.parametrize("corrupt", ["file", "manifest"])
def test_a_corrupt_remote_object_does_not_stop_the_other_downloads(
    kind: str, corrupt: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Before: the first corrupt object ended the pull with an error; a corrupt manifest
    kept every other file from being fetched."""
    backend = Backend(kind, tmp_path, request.getfixturevalue("s3") if kind == "s3" else None)
    origin, a, run_id = recorded_clone(tmp_path, backend.table)
    assert gitrack("push", cwd=a).code == 0
    local = cache_objects(default_cache(a))
    images = {hashing.hash_bytes(content) for content in IMAGES.values()}
    (manifest,) = local - images - {hashing.hash_bytes(TRAIN)}  # the folder's file list
    bad = hashing.hash_bytes(TRAIN) if corrupt == "file" else manifest
    backend.overwrite(key_of(bad), b"x,y\n6,6\n")  # same key, other bytes (and size)
    b = clone(origin, tmp_path / "b")

    pulled = gitrack("pull", "--data", cwd=b)

    assert pulled.code == 0, pulled.err  # the runs and every sound object arrived
    unreachable = images if corrupt == "manifest" else set()  # listed by the bad manifest
    assert cache_objects(default_cache(b)) == local - {bad} - unreachable
    assert list((default_cache(b) / "tmp").glob("*")) == []
    warning = next(line for line in pulled.err_lines if key_of(bad) in line)
    assert "corrupt" in warning and "gitrack push" in warning, pulled.err
    before = repo_state(b)
    res = gitrack("checkout", run_id, cwd=b)
    assert_one_error(res, key_of(bad), "corrupt")
    assert repo_state(b) == before

    assert gitrack("push", "--recheck", cwd=a).code == 0  # the fix the message names
    assert backend.objects()[key_of(bad)] == (default_cache(a) / key_of(bad)).read_bytes()
    assert gitrack("pull", "--data", cwd=b).code == 0
    res = gitrack("checkout", run_id, cwd=b)
    assert res.code == 0, res.err
    assert tree_state(b / "data") == tree_state(a / "data")


# ------------------------------------------------------------ remote URL spelling
def test_a_file_url_with_a_host_part_is_refused_showing_the_right_spelling(
    tmp_path: Path,
) -> None:
    """Before: `file://team-cache/x` wrote to /x (`team-cache` was read as a host)."""
    unique = f"gitrack-test-{uuid.uuid4().hex[:12]}"
    url = f"file://team-cache/{unique}"
    stray = Path("/") / unique
    _, a, _ = recorded_clone(tmp_path, f'[remote]\nurl = "{url}"\n')
    try:
        res = gitrack("push", cwd=a)
        assert not stray.exists()
    finally:
        shutil.rmtree(stray, ignore_errors=True)  # what the unfixed code wrote
    assert_one_error(res, url, "file:///", '"team-cache/')
    assert "refs/notes/gitrack" not in remote_refs(tmp_path / "origin.git")


def test_a_file_url_names_its_folder_percent_encoded_and_localhost_allowed(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "team cache%"  # a space and a percent sign: encoded in the URL
    url = "file://localhost" + quote(str(folder))
    _, a, _ = recorded_clone(tmp_path, f'[remote]\nurl = "{url}"\n')

    res = gitrack("push", cwd=a)

    assert res.code == 0, res.err
    local = cache_objects(default_cache(a))
    assert {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} == {
        key_of(h) for h in local
    }


# -------------------------------------------------------------------- time-outs
def test_a_remote_that_never_answers_fails_within_the_configured_timeout(
    tmp_path: Path,
) -> None:
    """Before: 60 s per attempt, two attempts: a hung endpoint held a push for 2 minutes."""
    url = f"s3://team-bucket/{PREFIX}"
    with silent_server() as port:
        table = f'[remote]\nurl = "{url}"\nendpoint = "http://127.0.0.1:{port}"\ntimeout = 2\n'
        _, a, _ = recorded_clone(tmp_path, table)
        started = time.monotonic()
        res = gitrack_proc("push", cwd=a, timeout=40)
        elapsed = time.monotonic() - started

    assert elapsed < 12, elapsed  # 2 s, plus interpreter start and the git side
    assert_one_error(res, url, "within 2 s", "network", "timeout")


def test_gcs_unreachable_fails_within_the_configured_timeout(tmp_path: Path) -> None:
    """Before: gs:// went through FileSystem.from_uri, whose client retries for minutes."""
    url = f"gs://team-bucket/{PREFIX}"
    endpoint = f"http://127.0.0.1:{closed_port()}"
    table = f'[remote]\nurl = "{url}"\nendpoint = "{endpoint}"\nanonymous = true\ntimeout = 2\n'
    _, a, _ = recorded_clone(tmp_path, table)

    started = time.monotonic()
    res = gitrack_proc("push", cwd=a, timeout=40)

    assert time.monotonic() - started < 12
    assert_one_error(res, url, "network")


# --------------------------------------------------- interrupted uploads (direct)
class Boom(OSError):
    pass


@pytest.mark.parametrize("kind", ["s3", "relative path"])
@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt], ids=["OSError", "interrupt"])
def test_an_interrupted_upload_leaves_nothing_that_looks_complete(
    kind: str,
    error: type[BaseException],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = Backend(kind, tmp_path, request.getfixturevalue("s3") if kind == "s3" else None)
    root = tmp_path / "repo"
    root.mkdir()
    cache = Cache(tmp_path / "local-cache")
    # Above WHOLE_PUT_MAX: streamed to a temporary name (smaller ones are one PUT on S3).
    source = write(tmp_path / "model.bin", b"weights " * (remote.WHOLE_PUT_MAX // 8 + 100_000))
    digest = cache.add_file(source)
    remote_cache = RemoteCache(RemoteSettings(**settings_of(backend)), root)
    real_copy = hashing.copy_stream

    def half_then_fail(src: Any, out: Any) -> str:
        out.write(src.read(300_000))  # half of the object is already on its way
        raise error("connection lost")

    monkeypatch.setattr(remote.hashing, "copy_stream", half_then_fail)
    with pytest.raises((RemoteError, error)):
        remote_cache.upload(cache, [digest])

    assert backend.objects() == {}  # neither the object nor its temporary name
    assert remote_cache.missing([digest]) == [digest]

    monkeypatch.setattr(remote.hashing, "copy_stream", real_copy)
    sent = remote_cache.upload(cache, [digest])  # the next push sends it whole
    assert (sent.count, sent.bytes) == (1, source.stat().st_size)
    assert backend.objects() == {key_of(digest): source.read_bytes()}


def settings_of(backend: Backend) -> dict[str, Any]:
    if backend.s3 is not None:
        return {"url": backend.url, "endpoint": backend.s3.endpoint, "region": "us-east-1"}
    return {"url": str(backend.folder)}
