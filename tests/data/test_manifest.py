"""A folder's manifest: canonical bytes (so one folder always has one hash), untrusted on read."""

from __future__ import annotations

import json

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from gitrack.data.manifest import FileEntry, Manifest
from gitrack.paths import UnsafePathError

H1 = "xxh128:" + "1" * 32
H2 = "xxh128:" + "2" * 32

GOLDEN = (
    '{"dirs":["c","z/empty"],"files":['
    '{"exec":false,"hash":"xxh128:22222222222222222222222222222222","path":"a é","size":0},'
    '{"exec":true,"hash":"xxh128:11111111111111111111111111111111","path":"b/x","size":3}'
    '],"v":1}'
).encode()


def _sample() -> Manifest:
    return Manifest(
        (FileEntry("b/x", 3, True, H1), FileEntry("a é", 0, False, H2)), ("z/empty", "c")
    )


def test_canonical_bytes_are_exactly_the_documented_form() -> None:
    """Keys sorted, no spaces, raw UTF-8 (no \\u escapes), files by path, dirs sorted."""
    assert _sample().to_bytes() == GOLDEN


def test_digest_is_xxh128_of_the_bytes_with_dir_suffix() -> None:
    expected = "xxh128:" + xxhash.xxh3_128_hexdigest(GOLDEN) + ".dir"
    assert _sample().digest() == expected
    assert expected == "xxh128:797c77a27258f802b4fd527610115c5d.dir"  # pinned: format v1


def test_order_of_entries_does_not_matter() -> None:
    forward = Manifest((FileEntry("a", 1, False, H1), FileEntry("b", 1, False, H2)), ("x", "y"))
    backward = Manifest((FileEntry("b", 1, False, H2), FileEntry("a", 1, False, H1)), ("y", "x"))
    assert forward.to_bytes() == backward.to_bytes()
    assert forward.digest() == backward.digest()


def test_exec_bit_size_and_empty_dirs_are_part_of_the_hash() -> None:
    base = Manifest((FileEntry("a", 1, False, H1),))
    assert base.digest() != Manifest((FileEntry("a", 1, True, H1),)).digest()
    assert base.digest() != Manifest((FileEntry("a", 2, False, H1),)).digest()
    assert base.digest() != Manifest((FileEntry("a", 1, False, H1),), ("e",)).digest()


def test_empty_manifest() -> None:
    empty = Manifest(())
    assert empty.to_bytes() == b'{"dirs":[],"files":[],"v":1}'
    assert empty.size == 0


def test_size_is_the_sum_of_file_sizes() -> None:
    assert _sample().size == 3


def test_round_trip() -> None:
    parsed = Manifest.from_bytes(GOLDEN)
    assert parsed.to_bytes() == GOLDEN
    assert parsed.digest() == _sample().digest()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"null",
        b'"files"',
        b"{}",
        b'{"files":5}',
        b'{"files":[1]}',
        b'{"files":[{"path":"a"}]}',
        b'{"files":[{"path":"a","size":"x","exec":false,"hash":"' + H1.encode() + b'"}]}',
        b'{"files":[],"dirs":5}',
        # json alone raises RecursionError, or lets a lone surrogate through as a path
        pytest.param(b'{"files":' + b"[" * 1000 + b"]" * 1000 + b"}", id="nested-1000-deep"),
        b'{"files":[{"path":"a\\ud800","size":1,"exec":false,"hash":"' + H1.encode() + b'"}]}',
    ],
)
def test_garbage_is_rejected_with_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        Manifest.from_bytes(data)


def _with_file(path: str, digest: str = H1) -> bytes:
    entry = {"path": path, "size": 1, "exec": False, "hash": digest}
    return json.dumps({"v": 1, "files": [entry], "dirs": []}).encode()


@pytest.mark.parametrize(
    "path", ["../escape", "a/../../b", "/etc/passwd", ".git/config", "x/.GIT/hooks/pre-commit", ""]
)
def test_unsafe_file_paths_are_refused(path: str) -> None:
    with pytest.raises((UnsafePathError, ValueError)):
        Manifest.from_bytes(_with_file(path))


@pytest.mark.parametrize("path", ["../escape", "/tmp", ".git"])
def test_unsafe_empty_dirs_are_refused(path: str) -> None:
    data = json.dumps({"v": 1, "files": [], "dirs": [path]}).encode()
    with pytest.raises((UnsafePathError, ValueError)):
        Manifest.from_bytes(data)


@pytest.mark.parametrize(
    "digest", ["md5:" + "1" * 32, "xxh128:" + "G" * 32, "xxh128:" + "1" * 31, H1 + ".dir"]
)
def test_bad_entry_hashes_are_refused(digest: str) -> None:
    """Only plain file hashes: a manifest never nests another manifest."""
    with pytest.raises(ValueError, match="bad hash"):
        Manifest.from_bytes(_with_file("a", digest))


_name = st.text(alphabet="abz é名-_.", min_size=1, max_size=5).filter(
    lambda s: s not in {".", ".."}
)
_path = st.lists(_name, min_size=1, max_size=3).map("/".join)
_entry = st.builds(
    FileEntry,
    path=_path,
    size=st.integers(0, 2**40),
    executable=st.booleans(),
    hash=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32).map("xxh128:".__add__),
)


@settings(max_examples=20, deadline=None)
@given(files=st.lists(_entry, max_size=8, unique_by=lambda e: e.path), dirs=st.sets(_path))
def test_parse_of_canonical_bytes_is_canonical(files: list[FileEntry], dirs: set[str]) -> None:
    manifest = Manifest(tuple(files), tuple(dirs))
    data = manifest.to_bytes()
    again = Manifest.from_bytes(data)
    assert again.to_bytes() == data
    assert again.digest() == manifest.digest()
    assert data.decode("utf-8")  # valid UTF-8, always


_odd_name = st.text(alphabet='az"\\\n\t\x01\x7f é名😀/', min_size=1, max_size=6)


@settings(max_examples=50, deadline=None)
@given(
    files=st.lists(
        st.builds(FileEntry, _odd_name, st.integers(0, 2**50), st.booleans(), _odd_name),
        max_size=6,
    ),
    dirs=st.lists(_odd_name, max_size=3),
)
def test_bytes_are_what_json_dumps_gives(files: list[FileEntry], dirs: list[str]) -> None:
    """Encoded file by file, the bytes are those of the documented ``json.dumps`` call."""
    document = {
        "v": 1,
        "files": [
            {"path": f.path, "size": f.size, "exec": f.executable, "hash": f.hash}
            for f in sorted(files, key=lambda f: f.path)
        ],
        "dirs": sorted(dirs),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert Manifest(tuple(files), tuple(dirs)).to_bytes() == text.encode("utf-8")
