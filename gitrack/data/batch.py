"""Files into and out of the cache, one or many: the one implementation behind
``Cache.add_file`` / ``add_files`` and ``Cache.restore_to`` / ``restore_files`` (issue 16:
datasets of 10^4-10^6 files, where a 10 KiB file costs its system calls, not its bytes).

Guarantees, for one file as for many:

* an object counts only once complete: written to a temp file in the cache's ``tmp/``
  (named as `gitrack gc` expects of a live writer), created read-only (the descriptor
  writes), then renamed into its shard; or, for a small file of a new dataset
  (``write_in_place``, in a cache only its owner writes to: ``Cache.private``), created
  under its own name with no permissions and made read-only after its last byte (see
  odb.py: ``is_complete``);
* a restored file is written to a temp file beside its target, verified by the hash of
  the bytes written, and only then renamed over the target; or, in a folder the restore
  has just made (``fresh``, see restore.py), created under its own name (never opened if
  something is there) and verified, no rename of its own, removed if it fails.

Per file, plain strings and descriptors (no pathlib, no buffered file objects): the copy
created with its mode (set again by ``fchmod``: a default ACL ignores the umask), the source
opened once, a small one read whole in one call (``hashing.copy_fd``), hashed and
written, at most one rename. Reflink (btrfs, xfs) is tried until the filesystem refuses it once.
The hash pass that reads a new file writes its object at the same time, so a new dataset
is read once: a small file in place, a larger one as a staged copy whose rename waits until
the run's pending marker names it (see gc.py); once the marker is written, each object
written in place is looked for again (`gitrack gc --now` may have removed it meanwhile).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

from gitrack.data import hashing
from gitrack.data.odb import (
    Cache,
    CacheError,
    freshen_path,
    is_complete,
    object_path,
    open_beside,
    open_new,
)
from gitrack.data.state import StatKey, stat_key

_FICLONE = 0x40049409  # Linux ioctl: share the blocks (btrfs, xfs); a copy elsewhere
_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)

# source path -> (temp file in the cache, its hash)
Staged = dict[str, tuple[str, str]]


class Copier:
    """Copies files; remembers that reflink does not work here (shared by threads: a
    lost update of the flag costs one more refused ioctl, nothing else)."""

    def __init__(self) -> None:
        self.reflink = True

    @staticmethod
    def set_mode(fd: int, mode: int) -> None:
        """Give a file just created with ``mode`` exactly ``mode``: always, as neither the
        umask nor a folder's default ACL (which replaces the umask) may decide it."""
        os.fchmod(fd, mode)

    def copy(self, source: str, fd: int, progress: hashing.Progress | None) -> str:
        """Fill ``fd`` (a new file open for reading and writing) from ``source``: the hash
        of what ``fd`` now holds."""
        src = os.open(source, _READ)
        try:
            if self.reflink:
                try:
                    fcntl.ioctl(fd, _FICLONE, src)
                except OSError:
                    self.reflink = False  # the same filesystems for the rest of the files
                else:
                    os.lseek(fd, 0, os.SEEK_SET)  # the shared blocks, read back and hashed
                    return hashing.hash_stream(hashing.FdReader(fd), progress)  # type: ignore[arg-type]
            return hashing.copy_fd(src, fd, progress)
        finally:
            os.close(src)


# ------------------------------------------------------------------- storing
def stage(cache: Cache, copier: Copier, source: str, progress: hashing.Progress | None) -> Staged:
    """A read-only copy of ``source`` in the cache's ``tmp/``: {source: (temp, its hash)}.
    Not an object yet: ``publish`` renames it into place."""
    try:
        fd, temp = cache.open_temp(0o444)  # cache objects are read-only
    except OSError as exc:
        raise cache.write_error(exc) from exc
    try:
        try:
            copier.set_mode(fd, 0o444)
            digest = copier.copy(source, fd, progress)
        finally:
            os.close(fd)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError) and exc.filename == source:
            raise CacheError(f"cannot read {source}: {exc.strerror}") from exc
        if isinstance(exc, OSError):
            raise cache.write_error(exc) from exc
        raise
    return {source: (temp, digest)}


def write_in_place(
    cache: Cache, source: str, progress: hashing.Progress | None
) -> tuple[str, bool] | None:
    """A small file read whole, hashed, and its object written under its own name (no temp
    file, no rename): (its hash, whether this call wrote the object: False if one was there,
    whole or not). None if the file changed size while read (then it is staged instead).
    Created with no permissions, made read-only after its last byte: until then, and
    forever if the writer is killed, the object counts as missing (odb.is_complete)."""
    try:
        src = os.open(source, _READ)
        try:
            size = os.fstat(src).st_size
            data = os.read(src, size + 1)  # a byte more than its size: a file that grew shows
        finally:
            os.close(src)
    except OSError as exc:
        raise CacheError(f"cannot read {source}: {exc.strerror}") from exc
    if len(data) != size:
        return None
    digest = hashing.hash_bytes(data)
    if progress is not None:
        progress(size)
    final = object_path(cache, digest)
    try:
        fd = _create_object(final)
    except FileExistsError:
        return digest, False
    except OSError as exc:
        raise cache.write_error(exc) from exc
    done = False
    try:
        hashing.write_all(fd, data)
        os.fchmod(fd, 0o444)  # now complete: cache objects are read-only
        done = True
    except OSError as exc:
        raise cache.write_error(exc) from exc
    finally:
        if not done:
            _remove_own(fd, final)
        os.close(fd)
    return digest, True


def _create_object(final: str) -> int:
    """``final`` created with no permissions at all: not an object yet (odb.is_complete)."""
    try:
        return open_new(final, 0)
    except FileNotFoundError:  # a new shard (or gc removed an empty one just now)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        return open_new(final, 0)


def _remove_own(fd: int, final: str) -> None:
    """Remove the unfinished object ``fd`` is, unless another writer has replaced it."""
    with contextlib.suppress(OSError):
        mine, there = os.fstat(fd), os.lstat(final)
        if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
            os.unlink(final)


def publish(cache: Cache, temp: str, digest: str) -> bool:
    """Rename a staged copy into place: atomic, a reader sees nothing or the whole object.
    An object already there is replaced by the same bytes (its mtime new: freshened).
    False if the copy is gone (`gitrack gc` removes temp files left an hour)."""
    final = object_path(cache, digest)
    try:
        try:
            os.replace(temp, final)
        except FileNotFoundError:  # a new shard (or gc removed an empty one just now)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            if not os.path.exists(temp):
                return False
            os.replace(temp, final)
        except PermissionError:  # another user's object in a shared cache: keep theirs
            if not freshen_path(final):
                raise
            os.unlink(temp)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise cache.write_error(exc) from exc
    return True


def discard(staged: Staged) -> None:
    """Staged copies that will not be published (the run stopped before)."""
    for temp, _ in staged.values():
        if temp:  # an object written in place is an object: gc removes it if unused
            with contextlib.suppress(OSError):
                os.unlink(temp)
    staged.clear()


def store_files(
    cache: Cache,
    items: Sequence[tuple[str | Path, str]],
    progress: hashing.Progress | None,
    staged: Staged | None = None,
    written_in_place: set[str] | None = None,
) -> None:
    """(source, hash) into ``cache``: a copy staged for the source is published, an object
    this run wrote in place (its hash in ``written_in_place``) looked for, a stored object
    freshened, a missing one written. Staged copies used are taken out of ``staged``."""
    shards = set()
    for _, digest in items:
        if not hashing.is_valid(digest):
            raise CacheError(f"{digest!r} is not an xxh128 hash")
        shards.add(hashing.hex_of(digest)[:2])
    cache.make_shards(shards)
    copier = Copier()
    pending = staged if staged is not None else {}
    in_place = written_in_place if written_in_place is not None else set()

    def one_batch(batch: Sequence[tuple[str | Path, str]]) -> None:
        for source, digest in batch:
            path = os.fspath(source)
            temp, actual = pending.pop(path, ("", "")) if pending else ("", "")
            if temp and actual == digest and publish(cache, temp, digest):
                continue
            if not temp and digest in in_place and is_complete(object_path(cache, digest)):
                continue  # written in place by this run, and still there
            discard({path: (temp, actual)} if temp else {})
            if freshen_path(object_path(cache, digest)):
                continue
            ((temp, actual),) = stage(cache, copier, path, progress).values()
            if actual != digest:
                discard({path: (temp, actual)})
                raise CacheError(
                    f"{path} changed while it was being cached ({digest} -> {actual}); "
                    "run again once it is stable"
                )
            publish(cache, temp, digest)

    hashing.run_batches(one_batch, items)


def add_file(
    cache: Cache, source: str | Path, known_hash: str | None, progress: hashing.Progress | None
) -> str:
    """``Cache.add_file``: the one-item case (its hash read while it is copied if unknown)."""
    if known_hash is not None:
        store_files(cache, [(source, known_hash)], progress)
        return known_hash
    ((temp, digest),) = stage(cache, Copier(), os.fspath(source), progress).values()
    if not publish(cache, temp, digest):
        raise cache.write_error(FileNotFoundError(errno.ENOENT, "removed meanwhile", temp))
    return digest


# ----------------------------------------------------------------- restoring
def restore_files(
    cache: Cache,
    items: Sequence[tuple[str, str | Path, bool]],
    progress: hashing.Progress | None = None,
    fresh: bool = False,
    record: dict[str, tuple[StatKey, str]] | None = None,
) -> None:
    """(hash, target, executable): each target replaced by a verified copy of its object;
    the targets' folders exist and were checked. ``record`` gets each as it is placed:
    target -> (its stat key once in place, hash), so a check right after need not read it
    again, and a caller whose restore fails half way knows which files are its own (a
    rollback removes those, not a user's).

    ``fresh``: the targets are new names in a folder this restore has just made (see
    restore.py): each is created (never opened if something is there, never through a
    link) and written directly, without a temp file and a rename of its own, and removed
    if it cannot be written or verified."""
    for digest, _, _ in items:
        if not hashing.is_valid(digest) or hashing.is_dir_hash(digest):
            raise CacheError(f"{digest!r} is not the hash of a file")
    copier = Copier()

    def one_batch(batch: Sequence[tuple[str, str | Path, bool]]) -> None:
        for digest, target, executable in batch:
            placed = _restore_one(
                cache, copier, digest, os.fspath(target), executable, progress, fresh
            )
            if record is not None:
                record[placed[0]] = (placed[1], placed[2])

    hashing.run_batches(one_batch, items)


def _restore_one(
    cache: Cache,
    copier: Copier,
    digest: str,
    target: str,
    executable: bool,
    progress: hashing.Progress | None,
    fresh: bool = False,
) -> tuple[str, StatKey, str]:
    """Write ``target``, verified: through a temp file beside it, renamed over it; or,
    ``fresh`` (a new name in a folder private to this restore), directly."""
    mode = 0o755 if executable else 0o644
    try:
        fd, written = (open_new(target, mode), target) if fresh else open_beside(target, mode)
    except OSError as exc:
        raise CacheError(f"cannot restore {target}: {exc}") from exc
    placed = False
    try:
        try:
            _fill(cache, copier, digest, fd, mode, target, progress)
            if written != target:
                os.replace(written, target)
            placed = True
            key = stat_key(os.fstat(fd))  # in place: a rename changes the ctime
        finally:
            os.close(fd)
    except OSError as exc:
        raise _restore_error(cache, digest, target, exc) from exc
    finally:
        if not placed:
            with contextlib.suppress(OSError):
                os.unlink(written)
    return target, key, digest


def _fill(
    cache: Cache,
    copier: Copier,
    digest: str,
    fd: int,
    mode: int,
    target: str,
    progress: hashing.Progress | None,
) -> None:
    """``fd`` (a file just created with ``mode``) made a copy of the object of ``digest``,
    verified by the hash of the bytes it now holds."""
    source = object_path(cache, digest)
    copier.set_mode(fd, mode)
    actual = copier.copy(source, fd, progress)
    if actual != digest and not is_complete(source):
        raise cache.missing_error(digest)  # unfinished (read all the same by root)
    if actual != digest:
        raise CacheError(
            f"cache object {source} is corrupt (hash {actual}, expected {digest}); "
            f"{target} was left as it was. Remove the object and fetch it again"
        )


def _restore_error(cache: Cache, digest: str, target: str, exc: OSError) -> CacheError:
    source = object_path(cache, digest)
    if exc.filename == source and (
        isinstance(exc, FileNotFoundError) or not is_complete(source)  # unfinished: 0000
    ):
        return cache.missing_error(digest)
    if exc.errno == errno.ENOSPC:
        return CacheError(f"disk full while restoring {target}; free space")
    return CacheError(f"cannot restore {target}: {exc}")
