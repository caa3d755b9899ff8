"""What this clone knows to be in a remote cache, so a push checks only what is new.

``<git common dir>/gitrack/remotes/<hash of the URL>.known``: a header line (format, the
start of the record, the URL), then one hash per line, appended as pushes confirm objects
there (uploaded, or found there), each only once its upload completed:

* ``xxh128:<hex>``: the object of that name (a file, or a folder's manifest) is there;
* ``xxh128:<hex>.dir``: the whole folder is there, its manifest and every file it lists,
  recorded only after all of those; a push skips such a folder without reading its
  manifest, so pushing a new run costs that run's objects, not the history's.

Lines are written files first, then manifests, then folders, and a last line without its
newline (a write cut short) is ignored. Never trusted for correctness, only for speed:

* an object a pull or a checkout finds missing or corrupt in the remote is forgotten,
  and with it every folder (the record does not say which folders list the object), so
  the next push reads the manifests again and checks that object (and uploads it if this
  clone has it); ``gitrack push --recheck`` checks every object;
* the whole record expires after ``TTL_S``: then a push checks every object once more,
  which bounds how long an object lost from the remote (a bucket lifecycle rule, a
  teammate's cleanup) can go unnoticed by this clone's pushes.

A damaged or unreadable record is an empty one; one that cannot be written only costs time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gitrack.data import hashing
from gitrack.data.gc import referenced_objects
from gitrack.data.odb import Cache
from gitrack.paths import write_atomically

TTL_S = 24 * 3600
_FORMAT = "gitrack-known-objects 1"
_LINE = re.compile(r"^(xxh128:[0-9a-f]{32}(?:\.dir)?)\n", re.MULTILINE)  # hashing.is_valid


class KnownObjects:
    def __init__(self, folder: Path, url: str, now: float | None = None) -> None:
        name = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.path = folder / f"{name}.known"
        self.url = url
        self._now = time.time() if now is None else now

    def load(self) -> set[str]:
        """The objects known to be there (empty when the record is missing or expired)."""
        try:
            header, _, body = self.path.read_text(encoding="utf-8").partition("\n")
        except (OSError, UnicodeDecodeError):
            return set()
        if not self._current(header):
            return set()
        # Only whole lines: a last one without its newline is a write cut short.
        return set(_LINE.findall(body))

    def _current(self, header: str) -> bool:
        parts = header.split(" ", 3)
        if len(parts) != 4 or f"{parts[0]} {parts[1]}" != _FORMAT or parts[3] != self.url:
            return False
        try:
            started = float(parts[2])
        except ValueError:
            return False
        return 0 <= self._now - started < TTL_S

    def add(self, hashes: Iterable[str]) -> None:
        """Record objects confirmed in the remote (appended; a new record if expired)."""
        lines = sorted({h for h in hashes if hashing.is_valid(h)}, key=_write_order)
        if not lines:
            return
        try:
            with open(self.path, encoding="utf-8") as handle:
                current = self._current(handle.readline().rstrip("\n"))
        except (OSError, UnicodeDecodeError):
            current = False
        if not current:
            self._rewrite(lines)
            return
        data = "".join(f"{line}\n" for line in lines).encode()
        with contextlib.suppress(OSError):
            # One write to an O_APPEND descriptor: lines of two pushes at once never mix.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def restart(self) -> None:
        """An empty record, started now: what a full recheck confirms goes in anew."""
        self._rewrite([])

    def forget(self, hashes: Iterable[str]) -> None:
        """Objects found missing or corrupt in the remote: checked again by the next push,
        which reads every folder's manifest again to find which folders list them."""
        gone = {name for h in hashes if hashing.is_valid(h) for name in (h, hashing.object_name(h))}
        if not gone:
            return
        known = self.load()
        kept = {h for h in known - gone if not hashing.is_dir_hash(h)}
        if kept != known:
            self._rewrite(sorted(kept, key=_write_order), keep_start=True)

    def _rewrite(self, lines: list[str], keep_start: bool = False) -> None:
        started = self._now
        if keep_start:
            with contextlib.suppress(OSError, ValueError, IndexError):
                started = float(self.path.read_text(encoding="utf-8").split(" ", 3)[2])
        text = f"{_FORMAT} {int(started)} {self.url}\n" + "".join(f"{h}\n" for h in lines)
        with contextlib.suppress(OSError):  # a record that cannot be written only costs time
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, text)


def _write_order(digest: str) -> tuple[bool, str]:
    """Files and manifests before folders: a folder is never recorded before the objects
    written with it (a write cut short drops what comes last)."""
    return hashing.is_dir_hash(digest), digest


@dataclass(frozen=True)
class Unconfirmed:
    """What a push must check in the remote for data not yet confirmed there."""

    files: list[str]  # objects to look up in the remote, and upload if it lacks them
    manifests: list[str]  # the same, once all files are there (their object names)
    folders: list[str]  # to record once every object above is confirmed
    not_local: int  # objects referenced but not in this clone's cache: not uploaded
    warnings: list[str]


def unconfirmed(cache: Cache, hashes: Iterable[str], confirmed: set[str]) -> Unconfirmed:
    """The objects behind ``hashes`` (runs' data: files, and folders whose manifests name
    their files) that are not in ``confirmed``. Only the manifests of folders not yet
    confirmed whole are read: a push costs what is new, not the history."""
    files: set[str] = set()
    manifests: set[str] = set()
    folders: list[str] = []
    not_local = 0
    warnings: list[str] = []
    for digest in sorted({h for h in hashes if hashing.is_valid(h)} - confirmed):
        if not cache.exists(digest):
            not_local += 1
        elif not hashing.is_dir_hash(digest):
            files.add(digest)
        else:
            manifest = hashing.object_name(digest)
            named, unreadable = referenced_objects(cache, [digest])  # manifest and files
            warnings += unreadable
            here = {h for h in named - confirmed - {manifest} if cache.exists(h)}
            missing_here = len(named - confirmed - {manifest}) - len(here)
            files |= here
            manifests |= {manifest} - confirmed
            not_local += missing_here
            if not unreadable and not missing_here:
                folders.append(digest)
    return Unconfirmed(sorted(files), sorted(manifests), folders, not_local, warnings)
