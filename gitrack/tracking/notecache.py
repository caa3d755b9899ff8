"""A cache of parsed note blobs, so `gitrack ls` over thousands of runs does not re-parse
and re-validate every JSON line each time.

Keyed by the note *blob id* (content-addressed, so an entry can never be stale): after a
new run only its commit's note is parsed again. Stored with :mod:`marshal` (3x faster to
load than JSON) in ``<git common dir>/gitrack/notes.cache``, written atomically, and
ignored whenever it is unreadable or from another gitrack or Python version.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from gitrack import __version__
from gitrack.tracking.edits import has_type, is_typed_line, parse_edit_line
from gitrack.tracking.record import FORMAT_VERSION, RunRecord, parse_committed_line

# ("run", (id, started, base_commit, snapshot), public JSON without "commit", marshalled fields)
# | ("committed", run id) | ("edit", …: see edits.EditItem) | ("bad", line number, reason)
Item = tuple[Any, ...]
CACHE_FORMAT = 5  # bump whenever Item changes shape or parse_note accepts less
_KEY = ("gitrack-notes-cache", CACHE_FORMAT, __version__, FORMAT_VERSION, sys.version_info[:2])


def parse_note(text: str) -> list[Item]:
    items: list[Item] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        committed = parse_committed_line(line)
        if committed is not None:
            items.append(("committed", committed))
            continue
        if is_typed_line(line):
            edit = parse_edit_line(line)
            if edit is not None:
                items.append(edit)
                continue
            if has_type(line):
                continue  # not a run: a later line type, or a forged edit line
        try:
            record = RunRecord.from_line(line)
        except (ValueError, TypeError, OverflowError) as exc:
            items.append(("bad", number, str(exc)))
            continue
        public = record.to_public("")
        del public["commit"]
        text_public = json.dumps(public, ensure_ascii=False, separators=(",", ":"))
        summary = (record.id, record.started, record.base_commit, record.snapshot)
        items.append(("run", summary, text_public, marshal.dumps(dict(vars(record)))))
    return items


class NoteCache:
    def __init__(self, path: Path, trusted: bool = True) -> None:
        self.path = path
        self._entries: dict[str, list[Item]] = {}
        self._used: set[str] = set()
        self._dirty = not trusted  # an untrusted cache is rewritten from scratch
        if not trusted:
            return
        try:
            data = marshal.loads(path.read_bytes())
            if isinstance(data, tuple) and data[0] == _KEY and isinstance(data[1], dict):
                self._entries = data[1]
        except (OSError, EOFError, ValueError, TypeError, IndexError):
            self._entries = {}

    def items(self, blob: str, read: Any) -> list[Item]:
        """Parsed lines of a note blob; ``read(blob)`` gives its text on a miss."""
        self._used.add(blob)
        found = self._entries.get(blob)
        if found is None:
            found = parse_note(read(blob))
            self._entries[blob] = found
            self._dirty = True
        return found

    def save(self) -> None:
        """Keep the entries of this listing only (deleted notes drop out), atomically."""
        if not self._dirty and len(self._used) == len(self._entries):
            return
        kept = {blob: self._entries[blob] for blob in self._used}
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_bytes(marshal.dumps((_KEY, kept)))
            os.replace(temp, self.path)
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                temp.unlink()  # a cache that cannot be written only costs time


def record_of(fields: dict[str, Any]) -> RunRecord:
    return RunRecord(**fields)
