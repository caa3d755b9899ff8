"""A cache of parsed note blobs, so `gitrack ls` over thousands of runs does not re-parse
and re-validate every JSON line each time.

Keyed by the note *blob id* (content-addressed, so an entry can never be stale): after a
new run only its commit's note is parsed again. Stored with :mod:`marshal` (3x faster to
load than JSON) in ``<git common dir>/gitrack/notes.cache``, written atomically, and
ignored whenever it is unreadable or from another gitrack or Python version.

Beside it, a small index (``notes.index``) keyed by the notes commit id, so that listing
does not grow with history (issue 16 §3): it holds which blob is the note of which
commit, and of each blob only what ordering and identity need (``light`` items). An
unchanged ref costs one lookup and this small file; a ref that moved costs a diff of the
two notes trees (only changed notes are read). The full items (the runs' JSON and
fields) come from the big cache only when many runs are shown; a few (``ls -n 10``) are
parsed from their note blobs directly, and the big file is not read at all.
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
from gitrack.tracking.record import FORMAT_VERSION, RunRecord, parse_committed_line

# ("run", (id, started, base_commit), public JSON without "commit", marshalled fields)
# | ("committed", run id) | ("bad", line number, reason)
Item = tuple[Any, ...]
CACHE_FORMAT = 3  # bump whenever Item changes shape or parse_note accepts less
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
        try:
            record = RunRecord.from_line(line)
        except (ValueError, TypeError, OverflowError) as exc:
            items.append(("bad", number, str(exc)))
            continue
        public = record.to_public("")
        del public["commit"]
        text_public = json.dumps(public, ensure_ascii=False, separators=(",", ":"))
        summary = (record.id, record.started, record.base_commit)
        items.append(("run", summary, text_public, marshal.dumps(dict(vars(record)))))
    return items


def light(items: list[Item]) -> list[Item]:
    """What the index keeps of a blob's items: runs without their JSON and fields."""
    return [item[:2] if item[0] == "run" else item for item in items]


DIRECT_PARSES = 16  # runs parsed from their blobs (~1 ms each) before the big file is read instead


class NoteCache:
    def __init__(self, path: Path, trusted: bool = True) -> None:
        self.path = path
        self.index_path = path.with_name("notes.index")
        self._trusted = trusted
        self._entries: dict[str, list[Item]] = {}  # the big cache, once loaded
        self._loaded = False
        self._used: set[str] = set()
        self._dirty = not trusted  # an untrusted cache is rewritten from scratch
        self._parsed: dict[str, list[Item]] = {}  # full items parsed in this process
        self.tip: str | None = None  # the notes commit the index describes
        self.notes: dict[str, str] = {}  # annotated commit -> note blob, at ``tip``
        self._light: dict[str, list[Item]] = {}
        self._stored: set[str] = set()  # blobs the big cache file holds
        self._index_dirty = not trusted
        if trusted:
            self._read_index()

    def _read_index(self) -> None:
        try:
            data = marshal.loads(self.index_path.read_bytes())
            if isinstance(data, tuple) and len(data) == 5 and data[0] == _KEY:
                _key, tip, notes, lights, stored = data
                if isinstance(notes, dict) and isinstance(lights, dict):
                    self.tip, self.notes, self._light = tip, notes, lights
                    self._stored = set(stored)
        except (OSError, EOFError, ValueError, TypeError, IndexError):
            pass

    def set_notes(self, tip: str | None, notes: dict[str, str]) -> None:
        """The notes as they are now (the caller walked or diffed the tree)."""
        if tip != self.tip or notes is not self.notes:
            self.tip, self.notes = tip, notes
            self._index_dirty = True

    def light_items(self, blob: str, read: Any) -> list[Item]:
        """A blob's items without the runs' JSON and fields (``light``)."""
        self._used.add(blob)
        found = self._light.get(blob)
        if found is None:
            found = light(self.full(blob, read))
            self._light[blob] = found
            self._index_dirty = True
        return found

    def items(self, blob: str, read: Any) -> list[Item]:
        """Parsed lines of a note blob; ``read(blob)`` gives its text on a miss. Reads
        the big cache file (once): for listings of many runs."""
        self._used.add(blob)
        if not self._loaded:
            self._load()
        found = self.full(blob, read)
        if blob not in self._light:  # the index is kept for listings of a few
            self._light[blob] = light(found)
            self._index_dirty = True
        return found

    def full(self, blob: str, read: Any) -> list[Item]:
        """A blob's items with the runs' JSON and fields: parsed from the blob while few
        are wanted, from the big cache file (read once) when many are."""
        if self._loaded:
            found = self._entries.get(blob)
            if found is None:
                found = self._entries[blob] = parse_note(read(blob))
                self._dirty = True
            return found
        found = self._parsed.get(blob)
        if found is None:
            if len(self._parsed) >= DIRECT_PARSES:
                self._load()  # many runs wanted: one read of the big file beats parsing them
                return self.full(blob, read)
            found = self._parsed[blob] = parse_note(read(blob))
        return found

    def _load(self) -> None:
        self._loaded = True
        if not self._trusted:
            return
        try:
            data = marshal.loads(self.path.read_bytes())
            if isinstance(data, tuple) and data[0] == _KEY and isinstance(data[1], dict):
                self._entries = data[1]
        except (OSError, EOFError, ValueError, TypeError, IndexError):
            self._entries = {}
        fresh = {b: items for b, items in self._parsed.items() if b not in self._entries}
        self._entries.update(fresh)
        self._dirty = self._dirty or bool(fresh)

    def save(self) -> None:
        """Keep the entries of this listing only (deleted notes drop out), atomically.

        The big file is rewritten only when it was read (or holds mostly gone notes)."""
        stale = self._stored - self._used
        unstored = set(self._parsed) - self._stored
        small = len(self._used) <= DIRECT_PARSES  # reading and writing it costs nothing
        if not self._loaded and (
            (stale and len(stale) * 4 >= len(self._stored)) or (unstored and small)
        ):
            self._load()
        if self._loaded and (self._dirty or len(self._used) != len(self._entries)):
            kept = {b: self._entries[b] for b in self._used if b in self._entries}
            if _write_atomically(self.path, (_KEY, kept)):
                self._stored = set(kept)
                self._index_dirty = True
        if self._index_dirty or len(self._used) != len(self._light):
            lights = {b: self._light[b] for b in self._used if b in self._light}
            stored = sorted(self._stored & self._used)
            _write_atomically(self.index_path, (_KEY, self.tip, self.notes, lights, stored))


def _write_atomically(path: Path, value: Any) -> bool:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(marshal.dumps(value))
        os.replace(temp, path)
        return True
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            temp.unlink()  # a cache that cannot be written only costs time
        return False


def full_item(cache: NoteCache, blob: str, position: int, read: Any) -> Item:
    """Item ``position`` of a blob with its JSON and fields; a cached entry of the wrong
    shape is parsed again from the blob itself (the blob is the truth)."""
    items = cache.full(blob, read)
    item = items[position] if position < len(items) else None
    if not isinstance(item, tuple) or len(item) != 4 or item[0] != "run":
        item = parse_note(read(blob))[position]
    return item


def record_of(fields: dict[str, Any]) -> RunRecord:
    return RunRecord(**fields)
