"""Content hashes: ``xxh128:<32 hex>``, for a file exactly what ``xxh128sum`` prints.

A directory's hash is that of its manifest (see :mod:`gitrack.data.manifest`), marked with a
``.dir`` suffix so a reader knows to fetch a manifest, as DVC marks md5 ``.dir``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, TypeVar

import xxhash

ALGORITHM = "xxh128"
PREFIX = ALGORITHM + ":"
DIR_SUFFIX = ".dir"
# Small files: a ``readinto`` loop into one reused 1 MiB buffer per thread (a fresh buffer
# per call costs more than hashing a small file does). Large files: a read loop or mmap,
# whichever is faster *here*, measured once per process on the first large file (issue 16:
# mmap ran at half a read loop's speed on one VM and beat it on another; on the same AMD
# VM under different loads each method won, 47-90% of a plain read against 56-88%).
CHUNK = 1024 * 1024
WORKERS = min(32, 2 * (os.cpu_count() or 1))  # threads that hash or copy files side by side
BATCH = 256  # files per thread-pool task: one task per file costs more than a small file

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

    The first exception is raised once every task has stopped."""
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    if len(batches) <= 1:
        return [work(batch) for batch in batches]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(len(batches), WORKERS)) as pool:
        return list(pool.map(work, batches))


def _buffer() -> bytearray:
    """This thread's reusable read buffer (threads hash files side by side)."""
    buffer: bytearray | None = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(CHUNK)
    return buffer


def hash_stream(stream: BinaryIO, progress: Progress | None = None) -> str:
    digest = xxhash.xxh3_128()
    buffer = _buffer()
    with memoryview(buffer) as view:
        while True:
            count = stream.readinto(buffer)  # type: ignore[attr-defined]
            if not count:
                break
            digest.update(view[:count])
            if progress is not None:
                progress(count)
    return PREFIX + digest.hexdigest()


def hash_file(path: str | os.PathLike[str], progress: Progress | None = None) -> str:
    with open(path, "rb", buffering=0) as stream:
        size = os.fstat(stream.fileno()).st_size
        if size >= MEASURE_MIN:
            with contextlib.suppress(OSError, ValueError):  # cannot be mapped: read it
                return _hash_large(stream, size, progress)
            stream.seek(0)
        return hash_stream(stream, progress)


MEASURE_MIN = 64 * 1024 * 1024  # files this large are worth measuring the two ways on
PROBE = 8 * 1024 * 1024  # bytes hashed each way to choose
_CHOSEN: list[str] = []  # "read" or "map", once measured in this process


def _hash_large(stream: Any, size: int, progress: Progress | None) -> str:
    """A large file through one digest: the first time, PROBE bytes read and the next
    PROBE mapped, both timed, then the rest the faster way (remembered for the process)."""
    import mmap
    import time

    digest = xxhash.xxh3_128()
    with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        if hasattr(mmap, "MADV_SEQUENTIAL"):
            mapped.madvise(mmap.MADV_SEQUENTIAL)
        with memoryview(mapped) as view:
            position = 0
            if not _CHOSEN:
                started = time.perf_counter()
                position = _read_part(stream, digest, position, PROBE, progress)
                middle = time.perf_counter()
                position = _map_part(view, digest, position, PROBE, progress)
                by_map = time.perf_counter() - middle
                _CHOSEN.append(_faster(middle - started, by_map))
            if _CHOSEN[0] == "map":
                _map_part(view, digest, position, size - position, progress)
                return PREFIX + digest.hexdigest()
    _read_part(stream, digest, position, None, progress)  # to the end, as it is now
    return PREFIX + digest.hexdigest()


def _faster(by_read_s: float, by_map_s: float) -> str:
    return "map" if by_map_s < by_read_s else "read"


def _read_part(
    stream: Any, digest: Any, position: int, length: int | None, progress: Progress | None
) -> int:
    """Hash ``length`` bytes (None: to the end) from ``position`` with a read loop."""
    buffer = _buffer()
    stream.seek(position)
    left = length
    with memoryview(buffer) as view:
        while left is None or left > 0:
            count = stream.readinto(view if left is None or left >= CHUNK else view[:left])
            if not count:
                break
            digest.update(view[:count])
            position += count
            if left is not None:
                left -= count
            if progress is not None:
                progress(count)
    return position


def _map_part(
    view: memoryview, digest: Any, position: int, length: int, progress: Progress | None
) -> int:
    """Hash ``length`` bytes from ``position`` of a mapping, CHUNK at a time."""
    end = min(position + length, len(view))
    for start in range(position, end, CHUNK):
        with view[start : min(start + CHUNK, end)] as chunk:
            digest.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return end


def hash_bytes(data: bytes) -> str:
    return PREFIX + xxhash.xxh3_128_hexdigest(data)


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
    digest = xxhash.xxh3_128()
    buffer = _buffer()
    with memoryview(buffer) as view:
        while True:
            count = stream.readinto(buffer)
            if not count:
                break
            chunk = view[:count]
            digest.update(chunk)
            target.write(chunk)
            if progress is not None:
                progress(count)
    return PREFIX + digest.hexdigest()


def copy_to_fd(stream: Any, fd: int, progress: Progress | None = None) -> str:
    """``copy_open`` into a file descriptor: every byte written, or an OSError."""
    return copy_open(stream, _FdWriter(fd), progress)


class _FdWriter:
    """``write`` on a bare descriptor (no file object to allocate per copied file)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, chunk: memoryview) -> None:
        done, count = 0, len(chunk)
        while done < count:  # a regular file takes it all; a short write continues
            done += os.write(self.fd, chunk[done:])


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
