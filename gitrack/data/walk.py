"""Walking dataset folders, and the folder chores a restore needs.

Plain strings and ``os.scandir``: a dataset can hold 100,000 files.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn, overload

from gitrack.data.state import StatKey, stat_key
from gitrack.errors import GitrackError

# (path relative to the top, size, executable, stat key): what is kept of a file's stat, not
# the whole stat result, nor its full path (top + "/" + rel when needed).
Found = tuple[str, int, bool, StatKey]
_RECORD = struct.Struct("=Q?32s")  # a Found but its path: size, executable, stat key
_SIZE = struct.Struct("=Q")  # the size alone, at the start of a record
_KEY = struct.Struct("=9x32s")  # the stat key alone, at the end of a record


class FoundFiles(Sequence[Found]):
    """The files ``walk`` found, sorted by path: their paths in a list, and the rest of each
    packed in one buffer, so that a folder of 10^6 files holds no tuple, int or bytes
    object per file while it is hashed. Each Found is made when it is asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._records = bytearray()

    @classmethod
    def of_file(cls, st: os.stat_result) -> FoundFiles:
        """One file, its path "" (a dataset that is a file)."""
        files = cls()
        files.add(_found("", st))
        return files

    @classmethod
    def of(cls, found: Iterable[Found]) -> FoundFiles:
        """``found`` (a slice of ``files_under``), packed."""
        files = cls()
        paths, records, pack = files.paths, files._records, _RECORD.pack
        for rel, size, executable, key in found:
            paths.append(rel)
            records += pack(size, executable, key)
        return files

    def add(self, found: Found) -> None:
        rel, size, executable, key = found
        self.paths.append(rel)
        self._records += _RECORD.pack(size, executable, key)

    def __len__(self) -> int:
        return len(self.paths)

    def size(self, index: int) -> int:
        size: int = _SIZE.unpack_from(self._records, index * _RECORD.size)[0]
        return size

    def key(self, index: int) -> StatKey:
        key: StatKey = _KEY.unpack_from(self._records, index * _RECORD.size)[0]
        return key

    @overload
    def __getitem__(self, index: int) -> Found: ...

    @overload
    def __getitem__(self, index: slice) -> list[Found]: ...

    def __getitem__(self, index: int | slice) -> Found | list[Found]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        rel = self.paths[index]  # an IndexError, as a list would raise
        offset = (index % len(self)) * _RECORD.size
        size, executable, key = _RECORD.unpack_from(self._records, offset)
        return rel, size, executable, key

    def __iter__(self) -> Iterator[Found]:
        records = _RECORD.iter_unpack(self._records)
        for rel, (size, executable, key) in zip(self.paths, records, strict=True):
            yield rel, size, executable, key


def walk(top: Path) -> tuple[FoundFiles, list[str], list[str]]:
    """Files under ``top`` (links to files followed), sorted; empty folders; warnings."""
    empty: list[str] = []
    warnings: list[str] = []
    found = FoundFiles.of(files_under(top, empty, warnings))
    return found, sorted(empty), warnings


def files_under(top: Path, empty: list[str], warnings: list[str]) -> Iterator[Found]:
    """The files of ``walk``, sorted by path, one at a time (for a caller that need not keep
    them all); empty folders and warnings are added to the lists given.

    Sorted as it goes, with no sort of them all at the end: each folder's entries in the
    order of their names, a folder's name followed by "/" (all its files' paths begin so),
    and a folder's files listed where its name falls."""
    stack = [_sorted_listing(os.fspath(top), "", empty)]
    while stack:
        for _, rel, entry in stack[-1]:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != ".git":
                    stack.append(_sorted_listing(entry.path, rel + "/", empty))
                    break  # its files, then the rest of this folder's entries
                continue
            try:
                st = entry.stat()  # follows a link to a file: its content is hashed
            except OSError:
                warnings.append(f"{entry.path}: a broken symlink is skipped")
                continue
            if stat.S_ISDIR(st.st_mode):
                warnings.append(f"{entry.path}: a symlink to a folder inside a dataset is skipped")
            elif stat.S_ISREG(st.st_mode):
                yield rel, st.st_size, bool(st.st_mode & stat.S_IXUSR), stat_key(st)
        else:  # every entry of the folder on top is done
            stack.pop()


def _sorted_listing(
    folder: str, prefix: str, empty: list[str]
) -> Iterator[tuple[str, str, os.DirEntry[str]]]:
    """(sort key, path relative to the top, entry) of each entry of ``folder``, in the
    order of their paths' files (see ``files_under``: a folder's key ends with "/"; no two
    keys are equal, so entries are never compared); an empty folder is added to ``empty``."""
    try:
        with os.scandir(folder) as entries:
            listing = [
                (rel + "/" if entry.is_dir(follow_symlinks=False) else rel, rel, entry)
                for entry in entries
                for rel in (prefix + entry.name,)
            ]
    except OSError as exc:
        walk_error(exc)
    if not listing and prefix:
        empty.append(prefix[:-1])
    listing.sort()
    return iter(listing)


def _found(rel: str, st: os.stat_result) -> Found:
    return rel, st.st_size, bool(st.st_mode & stat.S_IXUSR), stat_key(st)


def full_path(top: str, rel: str) -> str:
    """The path of a file ``rel`` under ``top``; ``top`` itself if ``rel`` is empty (a
    dataset that is one file)."""
    return f"{top}/{rel}" if rel else top


def walk_error(exc: OSError) -> NoReturn:
    raise GitrackError(
        f"cannot read folder {exc.filename}: {exc.strerror}; check its permissions"
    ) from exc


def refuse_unkeepable(rel: str, target: Path) -> None:
    """A folder that a file must replace may hold only what a restore can keep a copy of."""
    if os.path.islink(target) or not target.is_dir():
        return
    for folder, dirnames, filenames in os.walk(target):
        for name in dirnames:
            path = os.path.join(folder, name)
            if name == ".git" or os.path.islink(path):
                raise GitrackError(
                    f"cannot restore {rel!r}: the folder there holds {path}, which a restore "
                    "cannot keep a copy of; move the folder away, or use --no-data"
                )
        for name in filenames:
            path = os.path.join(folder, name)
            if not os.path.isfile(path) or os.path.islink(path):
                raise GitrackError(
                    f"cannot restore {rel!r}: the folder there holds {path} (a link or special "
                    "file), which a restore cannot keep a copy of; move the folder away, or "
                    "use --no-data"
                )


def remove_empty_dirs(top: Path, keep: set[str]) -> None:
    """Remove empty folders under ``top``, except ``keep`` (relative) and their parents."""
    for dirpath, _dirnames, _filenames in os.walk(top, topdown=False):
        base = Path(dirpath)
        if base == top or any(base.iterdir()):
            continue
        rel = base.relative_to(top).as_posix()
        if rel not in keep and not any(k.startswith(rel + "/") for k in keep):
            try:
                base.rmdir()
            except OSError:
                continue
