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
from typing import IO, Any

import xxhash

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
    yield encode_head(empty_dirs)
    pending = iter(files)
    first = True
    while batch := list(itertools.islice(pending, _ENCODED_AT_ONCE)):
        yield encode_files(batch, first)
        first = False
    yield TAIL


def encode_head(empty_dirs: Iterable[str]) -> bytes:
    """The bytes before the first file: the empty folders, sorted."""
    dirs = ",".join(_string(d) for d in sorted(empty_dirs))
    return f'{{"dirs":[{dirs}],"files":['.encode()


def encode_files(files: Iterable[FileEntry], first: bool) -> bytes:
    """The bytes of some files of the list (in order), with the comma before them unless
    they are the ``first``: a writer may encode a folder's files a slice at a time."""
    piece = ",".join(
        f'{{"exec":{"true" if f.executable else "false"},"hash":{_string(f.hash)},'
        f'"path":{_string(f.path)},"size":{int(f.size)}}}'
        for f in files
    )
    return f"{'' if first or not piece else ','}{piece}".encode()


_string = json.JSONEncoder(ensure_ascii=False).encode
TAIL = f'],"v":{VERSION}}}'.encode()  # the bytes after the last file
_NO_DIRS = encode_head(())  # the head of a folder with no empty sub-folder


class ManifestWriter:
    """A manifest's canonical bytes written to ``out`` a slice of files at a time (sorted
    by path), hashed as they are written: a folder of 10^6 files never has its manifest
    whole in memory. The empty folders come first in the bytes but are known only once the
    folder is walked: the bytes are written as if there were none, and if there are, what
    follows that head is read back from ``out`` and hashed again behind the right head
    (and copied to ``rewrite``, where the right bytes are then)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._digest = xxhash.xxh3_128()
        self._first = True
        self._write(_NO_DIRS)

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._digest.update(data)

    def add(self, files: Iterable[FileEntry]) -> None:
        piece = encode_files(files, self._first)
        if piece:
            self._write(piece)
            self._first = False

    def finish(self, empty_dirs: Iterable[str], rewrite: IO[bytes] | None = None) -> str:
        """The manifest's hash (``Manifest.digest``); ``rewrite`` gets the bytes if the
        folder has empty sub-folders (then ``out`` does not hold them)."""
        self._write(TAIL)
        empty = list(empty_dirs)
        if not empty:
            return hashing.PREFIX + self._digest.hexdigest() + hashing.DIR_SUFFIX
        head = encode_head(empty)
        digest = xxhash.xxh3_128(head)
        if rewrite is not None:
            rewrite.write(head)
        self._out.flush()
        self._out.seek(len(_NO_DIRS))
        while chunk := self._out.read(1024 * 1024):
            digest.update(chunk)
            if rewrite is not None:
                rewrite.write(chunk)
        return hashing.PREFIX + digest.hexdigest() + hashing.DIR_SUFFIX


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


class NotCanonical(ValueError):
    """A manifest ``read_stream`` leaves to the JSON reader: not the canonical bytes."""


class CorruptManifest(ValueError):
    """A manifest's bytes do not hash to the name it was read under."""


_READ_AT_ONCE = 256 * 1024  # bytes of a manifest read (and decoded) at a time
# An item not matched within this many characters is not canonical (the whole reader reads
# it): text is never read again and again in search of the end of one item.
_ITEM_MAX = 1024 * 1024


def read_stream(stream: IO[bytes], digest: str, dirs: list[str]) -> Iterator[FileEntry]:
    """The files of the canonical manifest ``stream`` holds, one at a time, each name and
    hash checked (ValueError otherwise), a piece of its bytes read at a time: a restore of
    10^6 files never holds them all. ``dirs`` gets its empty folders (checked too) before
    the first file. NotCanonical for any other text (read it with ``Manifest.from_bytes``:
    the same files); CorruptManifest, once the last file is read, if the bytes do not hash
    to ``digest``: a reader acts on what it was given only once the iteration is over."""
    reader = _Pieces(stream)
    if not reader.starts_with(_HEAD):
        raise NotCanonical
    while not reader.skip(_MIDDLE):
        (name,) = reader.match(_DIR)
        check_relative_name(name)
        dirs.append(name)
    valid = hashing.is_valid
    while True:
        for flag, file_hash, path, size in reader.run_of(_FILE):
            check_relative_name(path)
            if not valid(file_hash) or file_hash.endswith(hashing.DIR_SUFFIX):
                raise ValueError(f"bad hash in manifest: {file_hash!r}")
            yield FileEntry(path, int(size), flag == "true", file_hash)
        if reader.skip(_TAIL):
            break
        reader.read_more()
    if not reader.at_end():
        raise NotCanonical
    if hashing.PREFIX + reader.digest.hexdigest() != hashing.object_name(digest):
        raise CorruptManifest(f"its hash is not {digest}")


class _Pieces:
    """The text of a stream, read and decoded a piece at a time as ``read_stream`` asks,
    its bytes hashed as they are read."""

    def __init__(self, stream: IO[bytes]) -> None:
        import codecs

        self._stream = stream
        self._decode = codecs.getincrementaldecoder("utf-8")().decode
        self.digest = xxhash.xxh3_128()
        self._text = ""
        self._pos = 0
        self._eof = False

    def _more(self) -> bool:
        if self._eof:
            return False
        data = self._stream.read(_READ_AT_ONCE)
        self.digest.update(data)
        self._eof = not data
        try:
            text = self._decode(data, final=self._eof)
        except UnicodeDecodeError as exc:
            raise NotCanonical from exc
        self._text = self._text[self._pos :] + text  # what was read goes
        self._pos = 0
        return True

    def starts_with(self, prefix: str) -> bool:
        while len(self._text) - self._pos < len(prefix) and self._more():
            pass
        if not self._text.startswith(prefix, self._pos):
            return False
        self._pos += len(prefix)
        return True

    def skip(self, literal: str) -> bool:
        """Is ``literal`` next (then past it)? Items come before it: a match of an item
        never starts with it, so reading more until it could be decided is enough."""
        return self.starts_with(literal)

    def match(self, pattern: re.Pattern[str]) -> Any:
        """The groups of ``pattern`` matched right here. A match within the text read so
        far is a match of the whole text: each item's pattern ends by looking at the
        character after it."""
        while True:
            found = pattern.match(self._text, self._pos)
            if found is not None:
                self._pos = found.end()
                return found.groups()
            self.read_more()

    def run_of(self, pattern: re.Pattern[str]) -> Iterator[Any]:
        """The groups of each match of ``pattern`` from here on in the text read so far,
        each right after the one before (a file's item at a time, without a call each to
        read more: ``read_more`` once these are done)."""
        text, pos = self._text, self._pos
        while (found := pattern.match(text, pos)) is not None:  # anchored: no search ahead
            pos = self._pos = found.end()
            yield found.groups()

    def read_more(self) -> None:
        """More text, for an item cut where the text read so far ends; NotCanonical if
        there is no more: what is here is not an item."""
        if len(self._text) - self._pos > _ITEM_MAX or not self._more():
            raise NotCanonical

    def at_end(self) -> bool:
        while self._more():
            if len(self._text) > self._pos:
                return False
        return len(self._text) == self._pos
