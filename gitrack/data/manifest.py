"""A directory's manifest: what a directory dataset holds, file by file.

Canonical JSON (keys sorted, no spaces, UTF-8), so the same directory always gives the
same bytes and so the same hash::

    {"dirs":["empty/sub"],"files":[{"exec":false,"hash":"xxh128:…","path":"a.csv",
     "size":12}],"v":1}

``files`` is sorted by path; ``dirs`` lists empty sub-folders. The directory's hash is
``xxh128:<xxh128 of these bytes>.dir``. See docs/format.md.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gitrack import jsonsafe
from gitrack.data import hashing
from gitrack.paths import check_relative_name

VERSION = 1
_ENCODED_AT_ONCE = 4096  # files per piece of the encoded manifest


@dataclass(frozen=True, slots=True)  # one per file of a dataset (10^5): no __dict__
class FileEntry:
    path: str  # relative to the directory, POSIX separators
    size: int
    executable: bool
    hash: str


@dataclass(frozen=True)
class Manifest:
    files: tuple[FileEntry, ...]
    empty_dirs: tuple[str, ...] = ()

    def to_bytes(self) -> bytes:
        return self._bytes

    @functools.cached_property
    def _bytes(self) -> bytes:
        """Encoded once (hashed, then stored), into one buffer a piece at a time (not a
        string per file, then their join, then its bytes: three copies of a manifest of
        10^6 files)."""
        out = io.BytesIO()
        for piece in encode_sorted(sorted(self.files, key=lambda f: f.path), self.empty_dirs):
            out.write(piece)
        return out.getvalue()

    def digest(self) -> str:
        return hashing.hash_bytes(self.to_bytes()) + hashing.DIR_SUFFIX

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse and validate (manifests are untrusted: they may come from a remote)."""
        try:
            text = data.decode("utf-8")
            parsed = read_canonical(text)
            files, dirs = parsed if parsed is not None else read_any(text)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a gitrack manifest: {exc}") from exc
        return cls.from_checked(files, dirs)

    @classmethod
    def from_checked(cls, files: tuple[FileEntry, ...], dirs: tuple[str, ...]) -> Manifest:
        """Files and empty folders read from untrusted bytes, once each name and hash is
        checked."""
        for entry in files:
            check_relative_name(entry.path)
            if not hashing.is_valid(entry.hash) or hashing.is_dir_hash(entry.hash):
                raise ValueError(f"bad hash in manifest: {entry.hash!r}")
        for folder in dirs:
            check_relative_name(folder)
        return cls(files, dirs)


def encode_sorted(files: Iterable[FileEntry], empty_dirs: Iterable[str]) -> Iterator[bytes]:
    """The canonical bytes of a manifest of ``files`` (sorted by path), a few thousand files
    at a time, file by file: what ``json.dumps`` with sorted keys, no spaces and UTF-8 gives,
    without a dict per file (10^6 files: 10^6 dicts)."""
    string = json.JSONEncoder(ensure_ascii=False).encode
    dirs = ",".join(string(d) for d in sorted(empty_dirs))
    yield f'{{"dirs":[{dirs}],"files":['.encode()
    pending = iter(files)
    first = True
    while batch := list(itertools.islice(pending, _ENCODED_AT_ONCE)):
        piece = ",".join(
            f'{{"exec":{"true" if f.executable else "false"},"hash":{string(f.hash)},'
            f'"path":{string(f.path)},"size":{int(f.size)}}}'
            for f in batch
        )
        yield f"{'' if first else ','}{piece}".encode()
        first = False
    yield f'],"v":{VERSION}}}'.encode()


def digest_of_sorted(files: Iterable[FileEntry], empty_dirs: Iterable[str]) -> str:
    """``Manifest(files, empty_dirs).digest()`` for ``files`` sorted by path, each entry
    encoded into the hash as it comes, and neither the entries nor the bytes kept (the check
    after a restore needs only the hash)."""
    return hashing.hash_pieces(encode_sorted(files, empty_dirs)) + hashing.DIR_SUFFIX


Parsed = tuple[tuple[FileEntry, ...], tuple[str, ...]]  # (files, empty folders)


def read_any(text: str) -> Parsed:
    """Any JSON text of a manifest's shape, parsed as JSON (a dict per file on the way)."""
    raw = jsonsafe.loads(text, max_chars=None)  # big folders: big
    files = tuple(
        FileEntry(str(f["path"]), int(f["size"]), bool(f["exec"]), str(f["hash"]))
        for f in raw["files"]
    )
    dirs = tuple(str(d) for d in raw.get("dirs", []))
    return files, dirs


# What ``Manifest._bytes`` writes, and only that, with strings that need no escape (no '"',
# no backslash, no control character: their JSON value is the text between the quotes) and
# sizes of at most 18 digits. Each item matches with its comma, if another item follows.
_STRING = r'"([^"\\\x00-\x1f]*)"'
_FILE = re.compile(
    r'\{"exec":(true|false),"hash":'
    + _STRING
    + r',"path":'
    + _STRING
    + r',"size":(0|[1-9][0-9]{0,17})\}(?:,(?=\{)|(?=\]))'
)
_DIR = re.compile(_STRING + r'(?:,(?=")|(?=\]))')
_HEAD, _MIDDLE, _TAIL = '{"dirs":[', '],"files":[', f'],"v":{VERSION}}}'


def read_canonical(text: str) -> Parsed | None:
    """A manifest as ``Manifest._bytes`` writes it, read without a dict per file (10^6 files:
    10^6 dicts); None for any other text, which ``read_any`` reads (or refuses) instead.

    Whatever this reads, ``read_any`` reads the same (tests/data/test_manifest.py): the text
    must be exactly the canonical form, each item right after the one before."""
    if not (text.startswith(_HEAD) and text.endswith(_TAIL)):
        return None
    middle = text.find(_MIDDLE, len(_HEAD))  # not inside a string: no '"' in one here
    if middle < 0:
        return None
    try:
        dirs = tuple(name for (name,) in _contiguous(_DIR, text, len(_HEAD), middle))
        files = tuple(
            FileEntry(path, int(size), flag == "true", digest)
            for flag, digest, path, size in _contiguous(
                _FILE, text, middle + len(_MIDDLE), len(text) - len(_TAIL)
            )
        )
    except _NotCanonical:
        return None
    return files, dirs


class _NotCanonical(Exception):
    """A text ``read_canonical`` leaves to ``read_any``."""


def _contiguous(pattern: re.Pattern[str], text: str, start: int, end: int) -> Iterator[Any]:
    """The groups of each match of ``pattern`` in ``text[start:end]`` (``text[end]`` is the
    "]" that closes the list), which must follow one another from ``start`` to ``end``."""
    pos = start
    for match in pattern.finditer(text, start, end + 1):
        if match.start() != pos:
            raise _NotCanonical  # something between two items
        pos = match.end()
        yield match.groups()
    if pos != end:
        raise _NotCanonical
