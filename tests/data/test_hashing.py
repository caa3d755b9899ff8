"""Content hashes: ``xxh128:<32 hex>``, for a file exactly what ``xxh128sum`` prints."""

from __future__ import annotations

import io
import os
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import gitrack, make_repo
from data_helpers import (
    XXH128SUM,
    needs_xxh128sum,
    reference_dir_hash,
    write_files,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from gitrack.data import hashing

# Known XXH3-128 (seed 0) digests: what `xxh128sum` 0.8.x prints for these inputs.
# They need no binary: the format is checked even where xxhash's tools are absent.
VECTORS: list[tuple[bytes, str]] = [
    (b"", "99aa06d3014798d86001c324468d497f"),
    (b"a", "a96faf705af16834e6c632b61e964e1f"),
    (b"abc", "06b05ab6733a618578af5f94892f3950"),
    (b"The quick brown fox jumps over the lazy dog", "ddd650205ca3e7fa24a1cc2e3a8a7651"),
    (bytes(range(256)) * 4096, "1b208d2839093774d36c0e13a3df139e"),  # 1 MiB
    (b"\0" * (4 * 1024 * 1024 + 1), "3bbf6fc1915b92cf0a815317097bb28f"),  # one past CHUNK
    # 24 MiB + 4: above MAP_MIN, so hash_file hashes it through a mapping, windows and a tail
    (bytes(range(256)) * (96 * 1024) + b"tail", "33438a8a75fc34be2bafc96da417f0ec"),
]


@pytest.mark.parametrize(("data", "hexdigest"), VECTORS, ids=lambda v: str(len(v)))
def test_known_vectors_bytes_stream_and_file(data: bytes, hexdigest: str, tmp_path: Path) -> None:
    expected = f"xxh128:{hexdigest}"
    assert hashing.hash_bytes(data) == expected
    assert hashing.hash_stream(io.BytesIO(data)) == expected
    path = tmp_path / "f"
    path.write_bytes(data)
    assert hashing.hash_file(path) == expected


def test_empty_input_is_the_documented_vector(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    assert hashing.hash_file(tmp_path / "empty") == "xxh128:99aa06d3014798d86001c324468d497f"
    res = gitrack("hash", "empty", cwd=tmp_path)
    assert res.code == 0, res.err
    assert res.out == "xxh128:99aa06d3014798d86001c324468d497f  empty\n"


@pytest.mark.parametrize(
    "size",
    [1, hashing.CHUNK - 1, hashing.CHUNK, hashing.CHUNK + 1, 2 * hashing.CHUNK + 7],
)
def test_chunk_boundaries_do_not_change_the_hash(size: int, tmp_path: Path) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    seen: list[int] = []
    assert hashing.hash_file(path, seen.append) == hashing.hash_bytes(data)
    assert sum(seen) == size  # progress reports every byte, once


def test_copy_and_hash_copies_exactly_and_hashes_once(tmp_path: Path) -> None:
    data = os.urandom(hashing.CHUNK + 12345)
    (tmp_path / "src").write_bytes(data)
    out = io.BytesIO()
    seen: list[int] = []
    digest = hashing.copy_and_hash(tmp_path / "src", out, seen.append)  # type: ignore[arg-type]
    assert out.getvalue() == data
    assert digest == hashing.hash_bytes(data)
    assert sum(seen) == len(data)


@settings(max_examples=20, deadline=None)
@given(data=st.binary(max_size=5000))
def test_file_and_bytes_agree(data: bytes) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile() as fh:
        fh.write(data)
        fh.flush()
        assert hashing.hash_file(fh.name) == hashing.hash_bytes(data)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("xxh128:99aa06d3014798d86001c324468d497f", True),
        ("xxh128:99aa06d3014798d86001c324468d497f.dir", True),
        ("xxh128:99AA06D3014798D86001C324468D497F", False),  # lowercase only
        ("xxh128:99aa06d3014798d86001c324468d497", False),  # 31 digits
        ("xxh128:99aa06d3014798d86001c324468d497f0", False),  # 33 digits
        ("99aa06d3014798d86001c324468d497f", False),  # no algorithm
        ("md5:99aa06d3014798d86001c324468d497f", False),
        ("xxh128:99aa06d3014798d86001c324468d497f.dir.dir", False),
        ("xxh128:../../../../etc/passwd0000000000", False),
        ("xxh128: 9aa06d3014798d86001c324468d497f", False),
        ("xxh128:99aa06d3014798d86001c324468d497f\n", False),
        ("", False),
    ],
)
def test_is_valid(value: str, valid: bool) -> None:
    assert hashing.is_valid(value) is valid


def test_dir_suffix_helpers() -> None:
    digest = "xxh128:99aa06d3014798d86001c324468d497f"
    assert not hashing.is_dir_hash(digest)
    assert hashing.is_dir_hash(digest + ".dir")
    assert hashing.hex_of(digest) == hashing.hex_of(digest + ".dir") == digest[7:]


# --------------------------------------------------------------- `gitrack hash`
def test_hash_cli_prints_one_line_per_path_in_order(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.txt": "abc", "sub/b.bin": b"\0\1", "sub/empty": b""})
    res = gitrack("hash", "sub/b.bin", "a.txt", "sub", cwd=tmp_path)
    assert res.code == 0, res.err
    binary = hashing.hash_bytes(b"\0\1")
    assert res.out.splitlines() == [
        f"{binary}  sub/b.bin",
        "xxh128:06b05ab6733a618578af5f94892f3950  a.txt",
        f"{reference_dir_hash(tmp_path / 'sub')}  sub",
    ]


def test_hash_cli_inside_a_repository_matches_outside(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"data/x.csv": "x\n1\n", "data/d/y": "y"})
    csv = hashing.hash_bytes(b"x\n1\n")
    inside = gitrack("hash", "data", "data/x.csv", cwd=repo)
    assert inside.code == 0, inside.err
    assert inside.out.splitlines() == [
        f"{reference_dir_hash(repo / 'data')}  data",
        f"{csv}  data/x.csv",
    ]
    # From a subfolder, paths are relative to where the user is.
    sub = gitrack("hash", "x.csv", cwd=repo / "data")
    assert sub.out == f"{csv}  x.csv\n"


def test_hash_cli_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    res = gitrack("hash", "nope.bin", cwd=tmp_path)
    assert res.code == 1
    assert res.err.startswith("Error: ") and "nope.bin" in res.err
    assert res.out == ""


# ------------------------------------------------------------------- xxh128sum
def _xxh128sum(*paths: Path) -> list[str]:
    assert XXH128SUM is not None
    proc = subprocess.run([XXH128SUM, *map(str, paths)], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in proc.stdout.splitlines()]


@needs_xxh128sum
def test_file_hash_is_exactly_what_xxh128sum_prints(tmp_path: Path) -> None:
    files = {
        "empty": b"",
        "one": b"1",
        "text.csv": b"a,b\n" * 1000,
        "random.bin": os.urandom(hashing.CHUNK + 999),
        "name with spaces.txt": "ünïcode\n".encode(),
    }
    write_files(tmp_path, dict(files))
    paths = [tmp_path / name for name in files]
    expected = _xxh128sum(*paths)
    res = gitrack("hash", *files, cwd=tmp_path)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines == [f"xxh128:{hexd}  {name}" for hexd, name in zip(expected, files, strict=True)]
    assert [hashing.hash_file(p) for p in paths] == [f"xxh128:{h}" for h in expected]


@needs_xxh128sum
@settings(max_examples=15, deadline=None)
@given(data=st.binary(max_size=3000))
def test_random_content_matches_xxh128sum(data: bytes) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile() as fh:
        fh.write(data)
        fh.flush()
        assert hashing.hash_file(fh.name) == "xxh128:" + _xxh128sum(Path(fh.name))[0]


@pytest.mark.parametrize("size", [0, 1, 10 * 1024, hashing.CHUNK - 1, hashing.CHUNK + 7])
def test_copy_fd_copies_and_hashes_every_byte(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "src").write_bytes(data)
    seen: list[int] = []
    source = os.open(tmp_path / "src", os.O_RDONLY)
    target = os.open(tmp_path / "copy", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert hashing.copy_fd(source, target, seen.append) == hashing.hash_bytes(data)
    finally:
        os.close(source)
        os.close(target)
    assert (tmp_path / "copy").read_bytes() == data
    assert sum(seen) == size


def test_copy_fd_reads_on_past_the_size_it_was_told(tmp_path: Path) -> None:
    """A source that holds more than fstat said (a file that grew; here a pipe, size 0)."""
    data = os.urandom(50_000)  # within a pipe's buffer: the writer never waits for us
    read_end, write_end = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write_end, data), os.close(write_end)))
    writer.start()
    target = os.open(tmp_path / "copy", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert hashing.copy_fd(read_end, target) == hashing.hash_bytes(data)
    finally:
        writer.join()
        os.close(read_end)
        os.close(target)
    assert (tmp_path / "copy").read_bytes() == data
