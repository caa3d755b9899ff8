"""What this clone knows to be in a remote cache, so a push checks only what is new.

``<git common dir>/gitrack/remotes/<hash of the URL>.known``: a header line (format, the
start of the record, the URL), then one object hash per line, appended as pushes confirm
objects there (uploaded, or found there). Never trusted for correctness, only for speed:

* an object a pull or a checkout finds missing or corrupt in the remote is forgotten,
  so the next push checks it again (and uploads it if this clone has it);
* the whole record expires after ``TTL_S``: then a push checks every object once more,
  which bounds how long an object lost from the remote (a bucket lifecycle rule, a
  teammate's cleanup) can go unnoticed by this clone's pushes.

A damaged or unreadable record is an empty one; one that cannot be written only costs time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

from gitrack.data import hashing

TTL_S = 24 * 3600
_FORMAT = "gitrack-known-objects 1"


class KnownObjects:
    def __init__(self, folder: Path, url: str, now: float | None = None) -> None:
        name = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.path = folder / f"{name}.known"
        self.url = url
        self._now = time.time() if now is None else now

    def load(self) -> set[str]:
        """The objects known to be there (empty when the record is missing or expired)."""
        try:
            lines = self.path.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError):
            return set()
        if not self._current(lines[0]):
            return set()
        return {line for line in lines[1:] if hashing.is_valid(line)}

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
        lines = sorted({h for h in hashes if hashing.is_valid(h)})
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
        with contextlib.suppress(OSError), open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(f"{line}\n" for line in lines))

    def forget(self, hashes: Iterable[str]) -> None:
        """Objects found missing or corrupt in the remote: checked again by the next push."""
        gone = set(hashes)
        known = self.load()
        if gone & known:
            self._rewrite(sorted(known - gone), keep_start=True)

    def _rewrite(self, lines: list[str], keep_start: bool = False) -> None:
        started = self._now
        if keep_start:
            with contextlib.suppress(OSError, ValueError, IndexError):
                started = float(self.path.read_text(encoding="utf-8").split(" ", 3)[2])
        text = f"{_FORMAT} {int(started)} {self.url}\n" + "".join(f"{h}\n" for h in lines)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(text, encoding="utf-8")
            os.replace(temp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                temp.unlink()
