"""Content hashes: ``xxh128:<32 hex>``, for a file exactly what ``xxh128sum`` prints.

A directory's hash is that of its manifest (see :mod:`gitrack.data.manifest`), marked with a
``.dir`` suffix so a reader knows to fetch a manifest, as DVC marks md5 ``.dir``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, BinaryIO

import xxhash

ALGORITHM = "xxh128"
PREFIX = ALGORITHM + ":"
DIR_SUFFIX = ".dir"
CHUNK = 4 * 1024 * 1024  # large reads: the hash runs at ~25 GB/s, the disk is the limit

Progress = Callable[[int], None]


def hash_stream(stream: BinaryIO, progress: Progress | None = None) -> str:
    digest = xxhash.xxh3_128()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    while True:
        count = stream.readinto(buffer)  # type: ignore[attr-defined]
        if not count:
            break
        digest.update(view[:count])
        if progress is not None:
            progress(count)
    return PREFIX + digest.hexdigest()


MMAP_MIN = 1024 * 1024  # below this, a read is cheaper than setting up a mapping


def hash_file(path: str | os.PathLike[str], progress: Progress | None = None) -> str:
    with open(path, "rb", buffering=0) as stream:
        size = os.fstat(stream.fileno()).st_size
        if size >= MMAP_MIN:
            try:
                return _hash_mapped(stream.fileno(), size, progress)
            except (OSError, ValueError):
                stream.seek(0)  # a file that cannot be mapped (a pipe, /proc): read it
        return hash_stream(stream, progress)


def _hash_mapped(fd: int, size: int, progress: Progress | None) -> str:
    """Hash through a read-only mapping: no copy into Python buffers, ~2x a read loop."""
    import mmap

    digest = xxhash.xxh3_128()
    with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
        if hasattr(mmap, "MADV_SEQUENTIAL"):
            mapped.madvise(mmap.MADV_SEQUENTIAL)
        with memoryview(mapped) as view:
            for start in range(0, size, CHUNK):
                with view[start : start + CHUNK] as chunk:
                    digest.update(chunk)
                    if progress is not None:
                        progress(len(chunk))
    return PREFIX + digest.hexdigest()


def hash_bytes(data: bytes) -> str:
    return PREFIX + xxhash.xxh3_128_hexdigest(data)


def copy_and_hash(
    source: str | os.PathLike[str],
    target: BinaryIO,
    progress: Progress | None = None,
) -> str:
    """Copy ``source`` into ``target`` while hashing it: one read of the data, not two."""
    with open(source, "rb", buffering=0) as stream:
        return copy_stream(stream, target, progress)


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
    return len(hexpart) == 32 and all(c in "0123456789abcdef" for c in hexpart)


def is_dir_hash(value: str) -> bool:
    return value.endswith(DIR_SUFFIX)


def hex_of(value: str) -> str:
    """The 32 hex digits of a hash, without prefix or suffix."""
    hexpart = value[len(PREFIX) :]
    return hexpart[: -len(DIR_SUFFIX)] if hexpart.endswith(DIR_SUFFIX) else hexpart
