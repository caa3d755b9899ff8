"""Content hashes: ``xxh128:<32 hex>``, for a file exactly what ``xxh128sum`` prints.

A directory's hash is that of its manifest (see :mod:`gitrack.data.manifest`), marked with a
``.dir`` suffix so a reader knows to fetch a manifest, as DVC marks md5 ``.dir``.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, BinaryIO, Generic, TypeVar, overload

import xxhash

ALGORITHM = "xxh128"
PREFIX = ALGORITHM + ":"
DIR_SUFFIX = ".dir"
# Files below MAP_MIN: a ``readinto`` loop into one reused 1 MiB buffer per thread (a fresh
# buffer per call costs more than hashing a small file does). Larger ones: see MAP_MIN.
CHUNK = 1024 * 1024
BATCH = 256  # files per thread-pool task: one task per file costs more than a small file


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (its cpuset's)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# One thread per CPU: a small file costs a few system calls, each of which hands Python's
# lock to another thread; threads beyond the CPUs only wait for it (2 CPUs, 10^4 files of
# 10 KiB: 4 threads cost 40% more CPU time and 20-50% more wall time than 2 to version or
# restore them; 1 thread leaves a CPU idle).
WORKERS = max(2, min(32, _cpus()))  # threads that hash or copy files side by side

Progress = Callable[[int], None]

_local = threading.local()

T = TypeVar("T")
R = TypeVar("R")


def in_batches(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[work(item) for item in items]`` on WORKERS threads, BATCH items per task, in order.

    The first exception is raised once every task has stopped."""
    done = run_batches(lambda batch: [work(item) for item in batch], items)
    return [result for batch in done for result in batch]


def run_batches(work: Callable[[Sequence[T]], R], items: Sequence[T]) -> list[R]:
    """``work(batch)`` for each batch of BATCH items, on WORKERS threads; one batch: here.

    The first exception is raised once every task has stopped. Each batch is sliced from
    ``items`` as it starts, not all up front (``items`` may make its elements when asked)."""
    starts = range(0, len(items), BATCH)
    if len(starts) <= 1:
        return [work(items[i : i + BATCH]) for i in starts]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(len(starts), WORKERS)) as pool:
        return list(pool.map(lambda i: work(items[i : i + BATCH]), starts))


class Mapped(Sequence[R], Generic[T, R]):
    """``[make(item) for item in items]``, each element made when it is asked for:
    ``run_batches`` slices it as each batch starts, so 10^6 of them are never held at once."""

    def __init__(self, items: Sequence[T], make: Callable[[T], R]) -> None:
        self.items = items
        self.make = make

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[R]:
        return map(self.make, self.items)

    @overload
    def __getitem__(self, index: int) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> list[R]: ...

    def __getitem__(self, index: int | slice) -> R | list[R]:
        if isinstance(index, slice):
            return [self.make(item) for item in self.items[index]]
        return self.make(self.items[index])


def _buffer() -> bytearray:
    """This thread's reusable read buffer (threads hash files side by side)."""
    buffer: bytearray | None = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(CHUNK)
    return buffer


def hash_file(path: str | os.PathLike[str], progress: Progress | None = None) -> str:
    with open(path, "rb", buffering=0) as stream:
        return _digest_open(stream, progress, None)


def hash_stream(stream: BinaryIO, progress: Progress | None = None) -> str:
    digest = xxhash.xxh3_128()
    _hash_rest(stream, digest, progress, None)
    return PREFIX + digest.hexdigest()


Write = Callable[[memoryview], object]


def _digest_open(stream: Any, progress: Progress | None, write: Write | None) -> str:
    """The hash of a file open from its start, every byte also given to ``write`` if any."""
    digest = xxhash.xxh3_128()
    size = os.fstat(stream.fileno()).st_size
    if size >= MAP_MIN and (_POPULATE or _CUT_REFUSED):
        _hash_mapped(stream, size, digest, progress, write)  # then whatever was appended
    _hash_rest(stream, digest, progress, write)
    return PREFIX + digest.hexdigest()


def _hash_rest(stream: Any, digest: Any, progress: Progress | None, write: Write | None) -> None:
    """Hash from the stream's position to its end, through this thread's buffer."""
    buffer = _buffer()
    with memoryview(buffer) as view:
        while True:
            count = stream.readinto(buffer)
            if not count:
                break
            with view[:count] as chunk:
                digest.update(chunk)
                if write is not None:
                    write(chunk)
            if progress is not None:
                progress(count)


# Large files are hashed (and copied) from where the kernel keeps them, a read-only shared
# mapping of the page cache, not copied into a buffer first. A plain read costs one copy of
# every byte; a read loop costs that copy *and* the hash, so it stays below a plain read
# whatever the CPU (71% of its speed here with large page-cache folios). Through a mapping
# the hash reads the cached bytes in place: with a kernel's large folios, mapping is almost
# free (124-155% of a plain read's speed, by CPU time); with 4 KiB pages (older kernels,
# files written in small pieces), mapping page by page costs about what the copy saves
# (63-103%, the read loop 92% in the same rounds). benchmarks/hashing.py [--write-kib 4]
# measures both; the choice is made by the file's size alone, never by a timing.
MAP_MIN = 16 * 1024 * 1024  # below this, mapping costs more than it saves
WINDOW = 8 * 1024 * 1024  # bytes mapped (at offsets mmap accepts: 64 KiB multiples) at a time
# Touching a mapped page past the end of a file that shrank kills the process (SIGBUS).
# A window is mapped only while the file still reaches that far (mmap checks), and
# MADV_POPULATE_READ (Linux >= 5.14) then maps its pages in before they are hashed, failing
# with an OSError instead if the file was cut in between: what remains is a truncation
# within the microseconds one window takes to hash. Without it (older kernels, macOS) a
# file cut by another program while mapped kills gitrack, so there files are read instead;
# Windows refuses to cut a file while it is mapped.
_POPULATE = [22] if sys.platform == "linux" else []  # MADV_POPULATE_READ, while it works
_CUT_REFUSED = sys.platform == "win32"


def _hash_mapped(
    stream: Any, size: int, digest: Any, progress: Progress | None, write: Write | None
) -> None:
    """Hash ``size`` bytes one mapped window at a time (so the process's resident memory,
    which a run records, grows by one window, not by the file), leaving ``stream`` after
    what was hashed: the read loop does the rest."""
    import mmap

    fd = stream.fileno()
    for start in range(0, size, WINDOW):
        length = min(WINDOW, size - start)
        try:
            mapped = mmap.mmap(fd, length, access=mmap.ACCESS_READ, offset=start)
        except (OSError, ValueError):  # not mappable (some FUSE file systems), or shrunk
            stream.seek(start)
            return
        with mapped, memoryview(mapped) as window:
            if not _populate(mapped, length):  # unguarded: the read loop does the rest
                stream.seek(start)
                return
            digest.update(window)
            if write is not None:
                write(window)  # one copy (into the target) instead of two
        if progress is not None:
            progress(length)
    stream.seek(size)


def _populate(mapped: Any, length: int) -> bool:
    """Map in a window's pages before they are touched: False when that cannot be done
    (and the window may not be touched, unless the system refuses to cut it)."""
    advice = next(iter(_POPULATE), None)  # once: another thread may clear it meanwhile
    if advice is None:
        return _CUT_REFUSED
    try:
        mapped.madvise(advice, 0, length)
        return True
    except OSError as exc:
        if exc.errno == errno.EFAULT:  # past the end of the file now, or an I/O error
            raise OSError(
                exc.errno, "the file shrank (or could not be read) while it was being hashed"
            ) from exc
        if exc.errno in (errno.EINVAL, errno.ENOSYS):
            _POPULATE.clear()  # a kernel without it: files are read from now on
        return False  # anything else (EINTR, EAGAIN): this file is read from here


def hash_bytes(data: bytes) -> str:
    return PREFIX + xxhash.xxh3_128_hexdigest(data)


def hash_pieces(pieces: Iterable[bytes]) -> str:
    """``hash_bytes`` of the pieces joined, without joining them."""
    digest = xxhash.xxh3_128()
    for piece in pieces:
        digest.update(piece)
    return PREFIX + digest.hexdigest()


def copy_and_hash(
    source: str | os.PathLike[str],
    target: BinaryIO,
    progress: Progress | None = None,
) -> str:
    """Copy ``source`` into ``target`` while hashing it: one read of the data, not two."""
    with open(source, "rb", buffering=0) as stream:
        return copy_open(stream, target, progress)


def copy_open(stream: Any, target: Any, progress: Progress | None = None) -> str:
    """``copy_and_hash`` from a file already open (unbuffered, with ``readinto``)."""
    return _digest_open(stream, progress, target.write)


def copy_to_fd(stream: Any, fd: int, progress: Progress | None = None) -> str:
    """``copy_open`` into a file descriptor: every byte written, or an OSError."""
    return copy_open(stream, _FdWriter(fd), progress)


def copy_fd(source: int, target: int, progress: Progress | None = None) -> str:
    """``copy_to_fd`` between descriptors (``source`` at its start). A file smaller than
    CHUNK is read in one call, hashed and written whole: a 10 KiB file costs its system
    calls, so no reader or writer objects and no loop per file (10^5 files)."""
    size = os.fstat(source).st_size
    if size >= CHUNK:
        return copy_to_fd(FdReader(source), target, progress)
    digest = xxhash.xxh3_128()
    data = os.read(source, size + 1)  # a byte more than its size: a file that grew shows
    # At its end? Asked one byte more, it sent less; a short read may still not be the end.
    more = b"" if len(data) > size else os.read(source, 1)
    for chunk in (data, more):
        digest.update(chunk)
        write_all(target, chunk)
        if progress is not None and chunk:
            progress(len(chunk))
    if len(data) > size or more:  # it grew since fstat: the loop reads the rest
        _hash_rest(FdReader(source), digest, progress, _FdWriter(target).write)
    return PREFIX + digest.hexdigest()


class FdReader:
    """What hashing reads a file through (``fileno``, ``seek``, ``readinto``), on a bare
    descriptor: no file object to allocate per copied file."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def seek(self, offset: int) -> int:
        return os.lseek(self.fd, offset, os.SEEK_SET)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        return os.readv(self.fd, [buffer])


class _FdWriter:
    """``write`` on a bare descriptor (no file object to allocate per copied file)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, chunk: memoryview) -> None:
        write_all(self.fd, chunk)


def write_all(fd: int, data: bytes | memoryview) -> None:
    done, count = 0, len(data)
    while done < count:  # a regular file takes it all; a short write continues
        done += os.write(fd, data[done:])


def copy_stream(source: Any, target: Any, progress: Progress | None = None) -> str:
    """Copy between any file-like objects with read/write (pyarrow streams too), hashing."""
    digest = xxhash.xxh3_128()
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        target.write(chunk)
        if progress is not None:
            progress(len(chunk))
    return PREFIX + digest.hexdigest()


def is_valid(value: str) -> bool:
    """``xxh128:<32 lowercase hex>`` with an optional ``.dir`` suffix; nothing else."""
    if not value.startswith(PREFIX):
        return False
    hexpart = value[len(PREFIX) :]
    if hexpart.endswith(DIR_SUFFIX):
        hexpart = hexpart[: -len(DIR_SUFFIX)]
    return len(hexpart) == 32 and not hexpart.strip("0123456789abcdef")  # one C call


def is_dir_hash(value: str) -> bool:
    return value.endswith(DIR_SUFFIX)


def hex_of(value: str) -> str:
    """The 32 hex digits of a hash, without prefix or suffix."""
    hexpart = value[len(PREFIX) :]
    return hexpart[: -len(DIR_SUFFIX)] if hexpart.endswith(DIR_SUFFIX) else hexpart


def object_name(value: str) -> str:
    """The cache object a hash names: itself, or for a folder's hash its manifest's."""
    return PREFIX + hex_of(value)
