"""The content-addressed cache: ``<cache>/xxh128/ab/cdef…`` (32 hex split 2/30).

Objects are read-only, verified by hash whenever they are read back, and count only once
complete: most are written to a temporary file in the cache and renamed into place; a small
file of a new dataset is written in place instead (``batch.write_in_place``: a rename per
file is a fifth of the cost of versioning 10^4 small files), created with no permissions
and made read-only only after its last byte, so an object with permissions 000 is one a
writer is still writing or was killed writing, and counts as missing (``is_complete``).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from gitrack.data import hashing
from gitrack.errors import GitrackError
from gitrack.paths import temp_prefix

# Temp names unique per process (pid and a random token: a pid can be reused after a
# crash) and per write (a counter): no mkstemp retry loop, one open with O_EXCL.
_TOKEN = [os.urandom(4).hex()]
_PID = [os.getpid()]
_COUNTER = itertools.count()
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _after_fork() -> None:
    _TOKEN[0], _PID[0] = os.urandom(4).hex(), os.getpid()


os.register_at_fork(after_in_child=_after_fork)


class CacheError(GitrackError):
    """A cache object is missing, corrupt or cannot be written."""


class HashMismatchError(CacheError):
    """Content offered to the cache does not hash to the name it was offered under."""

    def __init__(self, actual: str, expected: str) -> None:
        super().__init__(f"content hashes to {actual}, not {expected}; not stored")
        self.actual = actual
        self.expected = expected


@dataclass(frozen=True)
class CachedObject:
    hash: str
    path: Path
    size: int


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, digest: str) -> Path:
        return Path(self._checked_path(digest))

    def _checked_path(self, digest: str) -> str:
        if not hashing.is_valid(digest):  # hashes come from notes: never a path of their own
            raise CacheError(f"{digest!r} is not an xxh128 hash")
        return object_path(self, digest)

    @functools.cached_property
    def private(self) -> bool:
        """Does only its owner write to this cache? Only then are objects written in place
        (batch.write_in_place): in a cache a team shares (a folder others may write to,
        sticky or not), an unfinished object left by another user's killed run could be
        replaced by nobody but that user. Made here if missing (a new folder takes its
        group, setgid bit and ACL from its parent: judged as made); asked once per Cache,
        which lives for one command or one logging call."""
        objects = self.root / hashing.ALGORITHM
        try:
            os.makedirs(objects, exist_ok=True)
            return all(_owner_only(folder) for folder in (os.fspath(self.root), os.fspath(objects)))
        except OSError:
            return False

    def exists(self, digest: str) -> bool:
        return is_complete(self._checked_path(digest))  # 10^5 in a plan: no pathlib

    def freshen(self, digest: str) -> bool:
        """Is the object stored? If so it is marked as just used, as git "freshens" an
        object it would have written: its mtime becomes now, so `gitrack gc` keeps it for
        a whole grace period, like a new one. Looking and touching are one call: an
        object gc has just moved away is simply missing, and gets written again."""
        return freshen_path(self._checked_path(digest))

    # ----------------------------------------------------------------- adding
    def add_file(
        self,
        source: str | Path,
        known_hash: str | None = None,
        progress: hashing.Progress | None = None,
    ) -> str:
        """Store a copy of ``source``; return its hash. If already stored: freshened.
        The one-file case of ``add_files`` (batch.py)."""
        from gitrack.data import batch

        return batch.add_file(self, source, known_hash, progress)

    def add_stream(self, stream: Any, digest: str) -> int:
        """Store what ``stream`` yields, only if it hashes to ``digest``; return its size."""
        expected = hashing.PREFIX + hashing.hex_of(digest)
        with self._staging() as (handle, temp):
            actual = hashing.copy_stream(stream, handle)
            handle.flush()
            if actual != expected:
                raise HashMismatchError(actual, expected)
            size = temp.stat().st_size
            self._publish(temp, digest)
        return size

    def add_bytes(self, data: bytes, digest: str) -> str:
        if self.freshen(digest):
            return digest
        with self._staging() as (handle, temp):
            handle.write(data)
            handle.flush()
            self._publish(temp, digest)
        return digest

    @contextlib.contextmanager
    def _staging(self) -> Iterator[tuple[BinaryIO, Path]]:
        try:
            fd, name = self.open_temp()
        except OSError as exc:
            raise CacheError(f"cannot write to the cache at {self.root}: {exc.strerror}") from exc
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle, temp
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise self.write_error(exc) from exc
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        temp.unlink(missing_ok=True)  # published objects were renamed away already

    def open_temp(self, mode: int = 0o600) -> tuple[int, str]:
        """A new temp file in ``tmp/`` (named as `gitrack gc` expects of a live writer),
        open for reading too (a reflinked copy is read back through it to be hashed), with
        permissions ``mode`` less the umask (see batch.Copier.set_mode)."""
        staging = self._tmp
        while True:
            temp = f"{staging}/incoming-{_PID[0]}-{_TOKEN[0]}-{next(_COUNTER)}"
            try:
                return os.open(temp, _CREATE, mode), temp
            except FileExistsError:  # a crashed writer's leftover with our pid and token
                continue
            except FileNotFoundError:
                os.makedirs(staging, exist_ok=True)

    @functools.cached_property
    def _tmp(self) -> str:  # one string for 10^5 temp names, not a Path each
        return os.fspath(self.root / "tmp")

    def _publish(self, temp: Path, digest: str) -> None:
        self.add_temp(os.fspath(temp), digest)

    def add_temp(self, temp: str, digest: str) -> None:
        """A complete temp file of ``open_temp`` (its hash ``digest``, checked by its
        writer) made read-only and renamed into place: a manifest written as it grew."""
        from gitrack.data.batch import publish

        try:
            os.chmod(temp, 0o444)  # cache objects are read-only
        except OSError as exc:
            raise self.write_error(exc) from exc
        if not publish(self, temp, digest):
            raise self.write_error(FileNotFoundError(errno.ENOENT, "removed meanwhile", temp))

    def add_files(
        self,
        items: Sequence[tuple[str | Path, str]],
        progress: hashing.Progress | None = None,
        staged: dict[str, tuple[str, str]] | None = None,
        written_in_place: set[str] | None = None,
    ) -> None:
        """Store many files of known hash (source, hash), as ``add_file`` does one: each
        object already stored is freshened, each missing one written (see batch.py). A
        copy ``staged`` for a source (source -> (temp, hash)) is renamed into place; an
        object ``written_in_place`` (by hash) is looked for, not freshened."""
        from gitrack.data.batch import store_files

        store_files(self, items, progress, staged, written_in_place)

    def make_shards(self, shards: set[str]) -> None:
        """The shard folders (``ab`` of ``ab/cdef…``) and ``tmp/``, made once up front."""
        base = self.root / hashing.ALGORITHM
        try:
            (self.root / "tmp").mkdir(parents=True, exist_ok=True)
            existing = set(os.listdir(base)) if base.is_dir() else set()
            for shard in sorted(shards - existing):
                (base / shard).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self.write_error(exc) from exc

    def write_error(self, exc: OSError) -> CacheError:
        if exc.errno == errno.ENOSPC:
            return CacheError(
                f"disk full while writing to the cache at {self.root}; nothing partial "
                'was kept (free space, or move the cache with `cache = "..."` in config)'
            )
        return CacheError(f"cannot write to the cache at {self.root}: {exc}")

    # ---------------------------------------------------------------- reading
    def read_verified(self, digest: str) -> bytes:
        """A small object (a manifest), checked against its hash."""
        path = self._existing(digest)
        data = path.read_bytes()
        if hashing.hash_bytes(data) != digest.removesuffix(hashing.DIR_SUFFIX):
            raise CacheError(f"cache object {path} is corrupt (its hash is not {digest})")
        return data

    def restore_to(
        self,
        digest: str,
        target: Path,
        executable: bool = False,
        progress: hashing.Progress | None = None,
        record: dict[str, tuple[bytes, str]] | None = None,
    ) -> None:
        """Replace ``target`` atomically with a verified copy of the object: the one-file
        case of ``restore_files`` (``record`` as there)."""
        from gitrack.data.batch import restore_files

        restore_files(self, [(digest, target, executable)], progress, record=record)

    def restore_files(
        self,
        items: Sequence[tuple[str, str | Path, bool]],
        fresh: bool = False,
        record: dict[str, tuple[bytes, str]] | None = None,
    ) -> None:
        """``restore_to`` for many (hash, target, executable), in batches on threads; the
        targets' folders exist. The first failure is raised once all batches stopped.
        ``record`` gets target -> (stat key of the file written, its hash) as each is
        placed. ``fresh``: new names in a folder the caller has just made, written
        directly (see batch.restore_files)."""
        from gitrack.data.batch import restore_files

        restore_files(self, items, fresh=fresh, record=record)

    def _existing(self, digest: str) -> Path:
        path = self.path_for(digest)
        if not is_complete(os.fspath(path)):
            raise self.missing_error(digest)
        return path

    def missing_error(self, digest: str) -> CacheError:
        return CacheError(
            f"cache object for {digest} is missing from {self.root}; "
            "fetch it from the team's cache or re-create the data"
        )

    def iter_objects(self) -> Iterator[CachedObject]:
        base = self.root / hashing.ALGORITHM
        if not base.is_dir():
            return
        for shard in sorted(base.iterdir()):
            if not shard.is_dir():
                continue
            for entry in sorted(shard.iterdir()):
                st = entry.lstat()
                if stat.S_ISREG(st.st_mode):
                    yield CachedObject(
                        f"{hashing.PREFIX}{shard.name}{entry.name}", entry, st.st_size
                    )

    def remove(self, obj: CachedObject) -> None:
        with contextlib.suppress(FileNotFoundError):
            obj.path.unlink()
        with contextlib.suppress(OSError):
            obj.path.parent.rmdir()  # only succeeds once the shard is empty


def object_path(cache: Cache, digest: str) -> str:
    """Where the object of ``digest`` (a checked hash) is: ``<cache>/xxh128/ab/cdef…``."""
    hexpart = hashing.hex_of(digest)
    return f"{os.fspath(cache.root)}/{hashing.ALGORITHM}/{hexpart[:2]}/{hexpart[2:]}"


def freshen_path(path: str) -> bool:
    """``Cache.freshen`` on an object's path (see gc.py)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except OSError:  # another user's object in a shared cache: there, not ours to touch
        pass
    return is_complete(path)


def _owner_only(folder: str) -> bool:
    """Is ``folder`` owned by this user and writable by it alone? Not if others may write
    by its mode, sticky or not, or by an ACL (its own, or a default one its new shards
    would take). Writable by its group, it counts as the owner's alone only if the group
    is the owner's user private group (as Debian's umask 002 leaves folders): its primary
    group, named as the user, no other member."""
    st = os.stat(folder)
    if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWOTH | stat.S_ISVTX):
        return False
    if _has_acl(folder):
        return False
    if not st.st_mode & stat.S_IWGRP:
        return True
    if st.st_gid != os.getegid():
        return False
    import grp
    import pwd

    try:
        group, me = grp.getgrgid(st.st_gid), pwd.getpwuid(st.st_uid)
    except KeyError:
        return False
    return (
        group.gr_name == me.pw_name
        and me.pw_gid == st.st_gid
        and all(member == me.pw_name for member in group.gr_mem)
    )


def _has_acl(folder: str) -> bool:
    """Does ``folder`` carry a POSIX ACL (which may let named users write), or a default
    one (which its new sub-folders take)?"""
    getxattr = getattr(os, "getxattr", None)
    if getxattr is None:  # no xattrs here (macOS's os): no POSIX ACLs either
        return False
    for name in ("system.posix_acl_access", "system.posix_acl_default"):
        try:
            getxattr(folder, name)
        except OSError as exc:
            if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                continue
            raise
        return True
    return False


def is_complete(path: str) -> bool:
    """Is a whole object at ``path``? Not if missing, not a file, or still without any
    permission: written in place and not finished (see the module's docstring)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o777 != 0


def open_beside(target: str, mode: int = 0o600) -> tuple[int, str]:
    """A new hidden temp file beside ``target`` (one open, O_EXCL; no mkstemp retries),
    open for reading too (a reflinked copy is read back through it to be hashed), with
    permissions ``mode`` less the umask (see batch.Copier.set_mode)."""
    folder, name = os.path.split(target)
    prefix = f"{folder}/{temp_prefix(name)}{_TOKEN[0]}" if folder else temp_prefix(name) + _TOKEN[0]
    while True:
        temp = f"{prefix}{next(_COUNTER):x}"  # within NAME_MAX
        try:
            return os.open(temp, _CREATE, mode), temp
        except FileExistsError:
            continue


def open_new(path: str, mode: int) -> int:
    """Create ``path`` (never there before, never through a link), open for reading too,
    with permissions ``mode`` less the umask (see batch.Copier.set_mode)."""
    return os.open(path, _CREATE | _NOFOLLOW, mode)
