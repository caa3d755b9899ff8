"""A folder's manifest: canonical bytes (so one folder always has one hash), untrusted on read."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from gitrack.data.manifest import (
    FileEntry,
    Manifest,
    ManifestWriter,
    read_any,
    read_canonical,
)
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


# ------------------------------------------------- the fast path for canonical bytes
def _general(data: bytes) -> Manifest | str:
    """What ``Manifest.from_bytes`` gives with no fast path at all: the manifest, or the
    error's type and message."""
    try:
        try:
            text = data.decode("utf-8")
            files, dirs = read_any(text)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a gitrack manifest: {exc}") from exc
        return Manifest.from_checked(files, dirs)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _actual(data: bytes) -> Manifest | str:
    try:
        return Manifest.from_bytes(data)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


# Names and hashes that the fast path reads and names it leaves to json (escapes, quotes,
# control characters), sizes in and out of its range, and every kind of damage to the text.
_any_name = st.text(alphabet='az."\\\n\x00\x1f\x7f é名😀/]},{[:', max_size=6)
_any_entry = st.builds(
    FileEntry,
    path=st.one_of(_path, _any_name),
    size=st.one_of(st.integers(0, 10**18 - 1), st.integers(-(2**70), 2**70)),
    executable=st.booleans(),
    hash=st.one_of(
        st.text(alphabet="0123456789abcdef", min_size=32, max_size=32).map("xxh128:".__add__),
        _any_name,
    ),
)


@st.composite
def _damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes removed, inserted or replaced (or none)."""
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["cut", "insert", "replace"]))
        piece = draw(
            st.sampled_from(
                [
                    b",",
                    b"]",
                    b"}",
                    b"{",
                    b'"',
                    b" ",
                    b"\\",
                    b"0",
                    b"-",
                    b"\xff",
                    b"x",
                    b"e1",
                    b'"a":1,',
                ]
            )
        )
        if kind == "cut":
            data = data[:at] + data[at + draw(st.integers(1, 12)) :]
        elif kind == "insert":
            data = data[:at] + piece + data[at:]
        else:
            data = data[:at] + piece + data[at + len(piece) :]
    return data


@st.composite
def _manifest_bytes(draw: st.DrawFn) -> bytes:
    files = draw(st.lists(_any_entry, max_size=5))
    dirs = draw(st.lists(st.one_of(_path, _any_name), max_size=3))
    data = Manifest(tuple(files), tuple(dirs)).to_bytes()
    return draw(_damaged(data))


@settings(max_examples=400, deadline=None)
@given(data=_manifest_bytes())
def test_the_fast_path_reads_exactly_what_json_reads(data: bytes) -> None:
    """Manifests are untrusted: the reader of canonical bytes accepts what the JSON reader
    accepts, giving the same manifest, and refuses the rest with the same error."""
    text = data.decode("utf-8", "replace")
    fast = read_canonical(text)
    if fast is not None:
        assert fast == read_any(text)
    assert _actual(data) == _general(data)


@pytest.mark.parametrize(
    "data",
    [
        GOLDEN,
        GOLDEN.replace(b'"v":1', b'"v":2'),  # json reads any version: so does from_bytes
        GOLDEN.replace(b'"size":3', b'"size":-3'),
        GOLDEN.replace(b'"size":3', b'"size":' + b"9" * 19),
        GOLDEN.replace(b'"size":3', b'"size":03'),
        GOLDEN.replace(b"b/x", b"b\\/x"),  # an escape: json's
        GOLDEN.replace(b"},{", b"}, {"),
        GOLDEN.replace(b'"c",', b'"c"'),
        GOLDEN + b" ",
        b" " + GOLDEN,
        b'{"dirs":[],"files":[],"v":1}',
        b'{"dirs":[],"files":[,],"v":1}',
        b'{"dirs":[""],"files":[],"v":1}',
        b'{"dirs":[],"files":[{"exec":false,"hash":"xxh128:'
        + b"1" * 32
        + b'","path":"a],\\"v\\":1}","size":1}],"v":1}',
    ],
)
def test_near_canonical_bytes_read_as_json_reads_them(data: bytes) -> None:
    assert _actual(data) == _general(data)


def test_canonical_bytes_take_the_fast_path() -> None:
    files, dirs = read_any(GOLDEN.decode())
    assert read_canonical(GOLDEN.decode()) == (files, dirs)
    assert read_canonical(b'{"dirs":[],"files":[],"v":1}'.decode()) == ((), ())


def digest_of_sorted(files: Iterable[FileEntry], empty_dirs: list[str]) -> str:
    """The hash ManifestWriter gives of ``files`` (sorted by path) added as they come."""
    writer = ManifestWriter(io.BytesIO())
    writer.add(files)
    return writer.finish(empty_dirs, io.BytesIO())


def test_the_hash_of_sorted_entries_as_they_come_is_the_manifests() -> None:
    files = [FileEntry(f"f{i:05d}", i, i % 2 == 0, H1) for i in range(9000)]
    manifest = Manifest(tuple(reversed(files)), ("z", "a"))
    assert digest_of_sorted(iter(files), ["a", "z"]) == manifest.digest()
    assert digest_of_sorted([], []) == Manifest(()).digest()
