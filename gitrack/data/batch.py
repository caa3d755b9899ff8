"""Many small files into and out of the cache (issue 16: datasets of 10^4-10^6 files).

Same guarantees as ``Cache.add_file`` and ``Cache.restore_to`` (objects appear complete or
not at all, read-only; a restored file is verified by hash before it replaces anything),
with the per-file cost cut down, because a 10 KiB file costs its system calls, not its
bytes: plain strings and file descriptors (no pathlib, no buffered file objects), one
``open`` with O_EXCL for each temp file, the mode set on the descriptor, reflink tried
until the filesystem refuses it once, and the files handed to threads in batches.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gitrack.data import hashing

if TYPE_CHECKING:
    from gitrack.data.odb import Cache

_FICLONE = 0x40049409  # Linux ioctl: share the blocks (btrfs, xfs); a copy elsewhere


class Copier:
    """Copies files for one batch; remembers that reflink does not work here."""

    def __init__(self, progress: hashing.Progress | None) -> None:
        self.progress = progress
        self.reflink = True

    def copy(self, source: str, fd: int, written: str) -> str:
        """Fill ``fd`` (the file ``written``) from ``source``: the hash of what was written."""
        with open(source, "rb", buffering=0) as src:
            if self.reflink:
                try:
                    import fcntl

                    fcntl.ioctl(fd, _FICLONE, src.fileno())
                    return hashing.hash_file(written, self.progress)
                except (OSError, ImportError):
                    self.reflink = False  # the same filesystems for the rest of the batch
            return hashing.copy_to_fd(src, fd, self.progress)


def store_files(
    cache: Cache, items: Sequence[tuple[str | Path, str]], progress: hashing.Progress | None
) -> None:
    """(source, hash) into ``cache``: stored objects freshened, missing ones written."""
    from gitrack.data.odb import CacheError

    for _, digest in items:
        if not hashing.is_valid(digest):
            raise CacheError(f"{digest!r} is not an xxh128 hash")
    objects = os.fspath(cache.root / hashing.ALGORITHM)
    cache.make_shards({hashing.hex_of(digest)[:2] for _, digest in items})

    def one_batch(batch: Sequence[tuple[str | Path, str]]) -> None:
        copier = Copier(progress)
        for source, digest in batch:
            hexpart = hashing.hex_of(digest)
            final = f"{objects}/{hexpart[:2]}/{hexpart[2:]}"
            if not _freshened(final):
                _store_one(cache, copier, os.fspath(source), digest, final)

    hashing.run_batches(one_batch, items)


def _freshened(final: str) -> bool:
    """``Cache.freshen`` on a path: stored objects get a new mtime (see gc.py)."""
    try:
        os.utime(final)
    except FileNotFoundError:
        return False
    except OSError:  # another user's object in a shared cache: there, not ours to touch
        return os.path.isfile(final)
    return True


def _store_one(cache: Cache, copier: Copier, source: str, digest: str, final: str) -> None:
    from gitrack.data.odb import CacheError

    fd, temp = cache.open_temp()
    placed = False
    try:
        try:
            actual = copier.copy(source, fd, temp)
            os.fchmod(fd, 0o444)  # cache objects are read-only
        finally:
            os.close(fd)
        if actual != digest:
            raise CacheError(
                f"{source} changed while it was being cached ({digest} -> {actual}); "
                "run again once it is stable"
            )
        try:
            os.replace(temp, final)  # atomic: a reader sees nothing or the whole object
        except FileNotFoundError:  # gc removed the empty shard since: make it again
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(temp, final)
        placed = True
    except OSError as exc:
        raise cache.write_error(exc) from exc
    finally:
        if not placed:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def restore_files(cache: Cache, items: Sequence[tuple[str, Path, bool]]) -> None:
    """(hash, target, executable): each target replaced by a verified copy of its object.
    The targets' folders exist and were checked."""
    from gitrack.data.odb import CacheError

    for digest, _, _ in items:
        if not hashing.is_valid(digest) or hashing.is_dir_hash(digest):
            raise CacheError(f"{digest!r} is not the hash of a file")
    objects = os.fspath(cache.root / hashing.ALGORITHM)

    def one_batch(batch: Sequence[tuple[str, Path, bool]]) -> None:
        copier = Copier(None)
        for digest, target, executable in batch:
            hexpart = hashing.hex_of(digest)
            source = f"{objects}/{hexpart[:2]}/{hexpart[2:]}"
            _restore_one(cache, copier, source, digest, os.fspath(target), executable)

    hashing.run_batches(one_batch, items)


def _restore_one(
    cache: Cache, copier: Copier, source: str, digest: str, target: str, executable: bool
) -> None:
    from gitrack.data.odb import CacheError, open_beside

    try:
        fd, temp = open_beside(Path(target))
    except OSError as exc:
        raise CacheError(f"cannot restore {target}: {exc}") from exc
    placed = False
    try:
        try:
            actual = copier.copy(source, fd, os.fspath(temp))
            os.fchmod(fd, 0o755 if executable else 0o644)
        finally:
            os.close(fd)
        if actual != digest:
            raise CacheError(
                f"cache object {source} is corrupt (hash {actual}, expected {digest}); "
                f"{target} was left as it was. Remove the object and fetch it again"
            )
        os.replace(temp, target)
        placed = True
    except FileNotFoundError as exc:
        if exc.filename == source:
            raise CacheError(
                f"cache object for {digest} is missing from {cache.root}; "
                "fetch it from the team's cache or re-create the data"
            ) from exc
        raise CacheError(f"cannot restore {target}: {exc}") from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise CacheError(f"disk full while restoring {target}; free space") from exc
        raise CacheError(f"cannot restore {target}: {exc}") from exc
    finally:
        if not placed:
            with contextlib.suppress(OSError):
                os.unlink(temp)
