"""The content-addressed cache: ``<cache>/xxh128/ab/<30 hex>``, complete or absent, read-only,
verified whenever it is read back."""

from __future__ import annotations

import os
import stat
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from data_helpers import UNSHARE, python_exe, reference_file_hash, userns_available

from gitrack.data import hashing
from gitrack.data.odb import Cache, CacheError

ABC = "xxh128:06b05ab6733a618578af5f94892f3950"


def _leftovers(cache: Path) -> list[str]:
    tmp = cache / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []


def test_layout_is_algorithm_then_two_then_thirty(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    expected = tmp_path / "xxh128" / "06" / "b05ab6733a618578af5f94892f3950"
    assert cache.path_for(ABC) == expected
    assert cache.path_for(ABC + ".dir") == expected  # a manifest is stored under its hex


def test_add_file_stores_a_read_only_verified_copy(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"abc")
    cache = Cache(tmp_path / "cache")
    assert cache.add_file(tmp_path / "src") == ABC
    obj = cache.path_for(ABC)
    assert obj.read_bytes() == b"abc"
    assert stat.S_IMODE(obj.stat().st_mode) == 0o444
    assert _leftovers(tmp_path / "cache") == []
    assert cache.exists(ABC)
    # The source is untouched and independent of the object.
    (tmp_path / "src").write_bytes(b"changed")
    assert obj.read_bytes() == b"abc"


@pytest.mark.parametrize("size", [3, hashing.MAP_MIN + 12345], ids=["small", "mapped"])
def test_add_file_and_restore_to_copy_exactly_at_any_size(tmp_path: Path, size: int) -> None:
    """Small files are read through a buffer, large ones through windows of a mapping."""
    data = os.urandom(size)
    (tmp_path / "src").write_bytes(data)
    cache = Cache(tmp_path / "cache")
    digest = cache.add_file(tmp_path / "src")
    assert digest == hashing.hash_bytes(data) and cache.path_for(digest).read_bytes() == data
    cache.restore_to(digest, tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data


def test_add_file_again_is_a_no_op(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"abc")
    cache = Cache(tmp_path / "cache")
    cache.add_file(tmp_path / "src")
    before = cache.path_for(ABC).stat()
    assert cache.add_file(tmp_path / "src", ABC) == ABC
    assert cache.path_for(ABC).stat().st_ino == before.st_ino


def test_a_file_changing_while_cached_is_refused(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"new content")
    cache = Cache(tmp_path / "cache")
    with pytest.raises(CacheError, match="changed while it was being cached"):
        cache.add_file(tmp_path / "src", known_hash=ABC)  # hashed as "abc" earlier
    assert not cache.exists(ABC)
    assert not cache.exists(reference_file_hash(b"new content"))
    assert _leftovers(tmp_path / "cache") == []


def test_add_bytes_and_read_verified(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    digest = hashing.hash_bytes(b"{}") + ".dir"
    assert cache.add_bytes(b"{}", digest) == digest
    assert cache.read_verified(digest) == b"{}"
    assert stat.S_IMODE(cache.path_for(digest).stat().st_mode) == 0o444


def _corrupt(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)
    path.chmod(0o444)


def test_read_verified_detects_corruption_and_absence(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    digest = hashing.hash_bytes(b'{"v":1}') + ".dir"
    cache.add_bytes(b'{"v":1}', digest)
    _corrupt(cache.path_for(digest), b'{"v":2}')
    with pytest.raises(CacheError, match="corrupt"):
        cache.read_verified(digest)
    with pytest.raises(CacheError, match=r"xxh128:0{32} is missing"):
        cache.read_verified("xxh128:" + "0" * 32)


def test_restore_to_writes_a_verified_copy_with_the_exec_bit(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"abc")
    cache = Cache(tmp_path / "cache")
    cache.add_file(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    cache.restore_to(ABC, out / "plain")
    cache.restore_to(ABC, out / "tool", executable=True)
    assert (out / "plain").read_bytes() == (out / "tool").read_bytes() == b"abc"
    assert not os.access(out / "plain", os.X_OK)  # root too: X_OK needs an x bit set
    assert (out / "plain").stat().st_mode & 0o111 == 0
    assert (out / "tool").stat().st_mode & 0o100
    assert (out / "plain").stat().st_mode & 0o200  # a restored file is the user's: writable
    assert sorted(p.name for p in out.iterdir()) == ["plain", "tool"]


def test_restore_to_never_writes_a_corrupt_object(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"abc")
    cache = Cache(tmp_path / "cache")
    cache.add_file(tmp_path / "src")
    _corrupt(cache.path_for(ABC), b"abd")
    out = tmp_path / "out"
    out.mkdir()
    (out / "target").write_bytes(b"the user's bytes")
    with pytest.raises(CacheError, match="corrupt") as info:
        cache.restore_to(ABC, out / "target")
    assert str(cache.path_for(ABC)) in str(info.value)
    assert (out / "target").read_bytes() == b"the user's bytes"
    assert sorted(p.name for p in out.iterdir()) == ["target"]  # no temporary file left


def test_restore_to_a_missing_object_names_the_hash(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match=ABC):
        Cache(tmp_path / "cache").restore_to(ABC, tmp_path / "target")
    assert not (tmp_path / "target").exists()


def test_iter_objects_and_remove(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    digests = {cache.add_bytes(d, hashing.hash_bytes(d)) for d in (b"a", b"bb", b"ccc")}
    (tmp_path / "cache" / "pending").mkdir()
    (tmp_path / "cache" / "pending" / "run.json").write_text("[]")
    objects = {o.hash: o for o in cache.iter_objects()}
    assert set(objects) == digests
    assert {o.size for o in objects.values()} == {1, 2, 3}
    for obj in objects.values():
        cache.remove(obj)
    assert list(cache.iter_objects()) == []
    assert list((tmp_path / "cache" / "xxh128").iterdir()) == []  # empty shards removed


def test_concurrent_adds_of_the_same_content(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    sources = []
    for i in range(16):
        path = tmp_path / f"src{i}"
        path.write_bytes(data)
        sources.append(path)
    cache = Cache(tmp_path / "cache")
    with ThreadPoolExecutor(8) as pool:
        digests = set(pool.map(cache.add_file, sources))
    assert digests == {reference_file_hash(data)}
    assert [o.hash for o in cache.iter_objects()] == list(digests)
    assert cache.path_for(next(iter(digests))).read_bytes() == data
    assert _leftovers(tmp_path / "cache") == []


def test_a_cache_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"abc")
    (tmp_path / "not-a-folder").write_text("")
    with pytest.raises(CacheError, match="cannot write to the cache"):
        Cache(tmp_path / "not-a-folder").add_file(tmp_path / "src")


@pytest.mark.skipif(
    not userns_available("--map-root-user", "--mount"),
    reason="needs an unprivileged user+mount namespace (unshare -rm) for a small tmpfs",
)
def test_disk_full_keeps_nothing_partial(tmp_path: Path) -> None:
    """A 1 MiB tmpfs as the cache (in a private mount namespace: no root needed)."""
    mount = tmp_path / "cache"
    mount.mkdir()
    (tmp_path / "big").write_bytes(os.urandom(3 * 1024 * 1024))
    (tmp_path / "small").write_bytes(b"fits")
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from gitrack.data.odb import Cache, CacheError
        cache = Cache(Path({str(mount)!r}))
        try:
            cache.add_file(Path({str(tmp_path / "big")!r}))
            print("NO ERROR")
        except CacheError as exc:
            print("ERROR", exc)
        print("FILES", sorted(str(p) for p in Path({str(mount)!r}).rglob("*") if p.is_file()))
        print("SMALL", cache.add_file(Path({str(tmp_path / "small")!r})))
        """
    )
    proc = subprocess.run(
        [
            str(UNSHARE),
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            'mount -t tmpfs -o size=1m none "$1" && exec "$2" -c "$3"',
            "sh",
            str(mount),
            python_exe(),
            script,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("ERROR disk full while writing to the cache"), proc.stdout
    assert lines[1] == "FILES []", proc.stdout  # no partial object, no temporary file
    assert lines[2] == f"SMALL {reference_file_hash(b'fits')}"  # the cache still works
