"""The listing index: every run of refs/notes/gitrack parsed, its edit lines applied, sorted
newest first, kept in ``<git common dir>/gitrack/notes.cache`` (docs/architecture.md,
"The listing index").

It is keyed by the notes commit it was built from. While refs/notes/gitrack stays put, a
listing reads a small header and then only the chunks (``CHUNK_RUNS`` runs each, newest
first) it needs: ``gitrack ls -n 10`` reads one, ``ls --json`` reads no parsed record, only
each run's JSON text. When the ref moved (a new run, an edit line, a note copied by an amend
or a rebase, a teammate's notes merged in, a note removed) the two notes trees are diffed
(fan-out keeps that proportional to what changed), only the notes that changed and the runs
they name are parsed again, and the index is patched; it is rebuilt from every note when the
old commit is gone or too much changed.

Only what depends on the notes alone is stored. Which copy of a run copied by an amend or a
rebase is current depends on the branches: chosen when runs load (history._pick_current).
Whether a snapshot is present is checked for the runs printed (history.lost_snapshots).

Layout: MAGIC, the header's offset (8 bytes, little-endian), the sections the header points
to, then the header (each marshalled, after its CRC-32). Written to a temp file and renamed, so
a reader sees a whole index or none; ignored and rebuilt whenever it is unreadable, damaged,
or of another index format (``CACHE_FORMAT``), gitrack or Python version.
"""

from __future__ import annotations

import contextlib
import marshal
import mmap
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from gitrack import __version__
from gitrack.git import Repo
from gitrack.git.refs import NOTES_REF
from gitrack.paths import atomic_file, temp_prefix
from gitrack.tracking.edits import (
    EditItem,
    RunState,
    fold,
    has_type,
    is_typed_line,
    parse_edit_line,
)
from gitrack.tracking.record import (
    FORMAT_VERSION,
    RunRecord,
    line_fields,
    parse_committed_line,
    public_dict,
    public_text,
    table_row,
)

# ("run", (id, started, base_commit, snapshot), public JSON without "commit", format version,
# table row) | ("committed", run id) | ("edit", …: see edits.EditItem) | ("bad", number, reason)
Item = tuple[Any, ...]
# A copy of a run on one commit: (commit, started, base_commit, snapshot, public JSON without
# "commit" with edits applied, the line's format version "v", its table row marshalled: the
# values of record.TABLE_FIELDS, decoded only for a table). The record again through
# RunRecord.from_public. A run has several copies after an amend or a rebase copied its note.
Copy = tuple[str, str, str, str, str, int, bytes]
Entry = tuple[str, str, "str | None", tuple[Copy, ...]]  # (id, started, hidden_at, copies)
BadLine = tuple[str, int, str]  # (commit, line number, why it is not a run)
SortKey = tuple[str, str]  # (started, run id): runs are listed by it, newest first

MAGIC = b"GTRKLIX1"
CHUNK_RUNS = 256
TEMP_GRACE_S = 3600
CACHE_FORMAT = 10  # bump whenever the layout changes or parse_note accepts less
_KEY = ("gitrack-listing-index", CACHE_FORMAT, __version__, FORMAT_VERSION, sys.version_info[:2])
_DAMAGED = (EOFError, ValueError, TypeError, IndexError, KeyError)


def parse_note(text: str) -> list[Item]:
    items: list[Item] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.isspace():
            continue
        if is_typed_line(line):  # a run never has a type: one scan rules these out
            committed = parse_committed_line(line)
            if committed is not None:
                items.append(("committed", committed))
                continue
            edit = parse_edit_line(line)
            if edit is not None:
                items.append(edit)
                continue
            if has_type(line):
                continue  # not a run: a later line type, or a forged edit line
        try:
            values = line_fields(line)
        except (ValueError, TypeError, OverflowError) as exc:
            items.append(("bad", number, str(exc)))
            continue
        summary = (values["id"], values["started"], values["base_commit"], values["snapshot"])
        public = public_dict(values)
        row = marshal.dumps(table_row(public))
        items.append(("run", summary, public_text(public), row, values.get("v", FORMAT_VERSION)))
    return items


def _public(values: dict[str, Any]) -> tuple[str, bytes]:
    """A run's public JSON and its table row (marshalled), from its fields."""
    public = public_dict(values)
    return public_text(public), marshal.dumps(table_row(public))


# --------------------------------------------------------------------------- chunks
class Chunk:
    """Up to a few hundred runs, newest first: their entries, decoded on first use."""

    __slots__ = ("_data", "_entries", "_ref", "changed")

    def __init__(self, data: Any = None, ref: tuple[Any, ...] | None = None) -> None:
        self._data, self._ref = data, ref  # ref: (entries section, count)
        self._entries: list[Entry] | None = None if ref is not None else []
        self.changed = ref is None

    @property
    def count(self) -> int:
        return len(self._entries) if self._entries is not None else int(self._ref[1])  # type: ignore[index]

    def entries(self) -> list[Entry]:
        if self._entries is None:
            self._entries = _section(self._data, self._ref[0])  # type: ignore[index]
        return self._entries

    def last_key(self) -> SortKey:
        entry = self.entries()[-1]
        return (entry[1], entry[0])

    def put(self, entry: Entry) -> None:
        entries = self.entries()
        key = (entry[1], entry[0])
        at = next((i for i, e in enumerate(entries) if (e[1], e[0]) < key), len(entries))
        entries.insert(at, entry)
        self.changed = True

    def take(self, run_id: str) -> Entry | None:
        entries = self.entries()
        at = next((i for i, e in enumerate(entries) if e[0] == run_id), None)
        if at is None:
            return None
        self.changed = True
        return entries.pop(at)

    def section(self) -> bytes:
        """Its section as stored: copied as it is when nothing changed."""
        if not self.changed:
            ref = self._ref
            assert ref is not None
            return self._data[ref[0][0] : ref[0][1]]  # type: ignore[no-any-return]
        return _pack(self.entries())


def _pack(value: Any) -> bytes:
    data = marshal.dumps(value)
    return zlib.crc32(data).to_bytes(4, "little") + data


def _section(data: Any, where: tuple[int, int]) -> Any:
    raw = data[where[0] : where[1]]
    if len(raw) < 4 or zlib.crc32(raw[4:]) != int.from_bytes(raw[:4], "little"):
        raise ValueError("a damaged section")
    return marshal.loads(raw[4:])


# ---------------------------------------------------------------------------- index
class Index:
    """The runs of one notes commit (``tip``), and what their notes say besides."""

    def __init__(self, tip: str) -> None:
        self.tip = tip
        self.bad_lines: list[BadLine] = []
        self.committed_as: dict[str, list[str]] = {}  # run id -> commits
        self.states: dict[str, RunState] = {}  # run id -> its edit lines folded
        self.visible: list[Chunk] = []
        self.hidden: list[Chunk] = []
        self.keys: dict[str, tuple[str, bool]] = {}  # run id -> (started, hidden)
        self.edits: dict[str, list[tuple[str, EditItem]]] = {}  # run id -> (commit, edit)
        self._lazy: tuple[Any, dict[str, tuple[int, int]]] | None = None

    def count(self, hidden: bool = False) -> int:
        return sum(chunk.count for chunk in (self.hidden if hidden else self.visible))

    def runs(self, hidden: bool = False, limit: int | None = None) -> Iterator[Entry]:
        """Each run's entry, newest first."""
        left = limit
        for chunk in self.hidden if hidden else self.visible:
            entries = chunk.entries()
            if left is not None:
                if left <= 0:
                    return
                entries = entries[:left]
                left -= len(entries)
            yield from entries

    def load_patch_state(self) -> None:
        """The sections only a patch needs (which runs are where, every edit line)."""
        if self._lazy is not None:
            data, sections = self._lazy
            self.keys = _section(data, sections["keys"])
            self.edits = _section(data, sections["edits"])
            self._lazy = None

    # ------------------------------------------------------------------ changing
    def place(self, entry: Entry) -> None:
        hidden = entry[2] is not None
        self.keys[entry[0]] = (entry[1], hidden)
        chunks = self.hidden if hidden else self.visible
        _chunk_for(chunks, (entry[1], entry[0])).put(entry)

    def remove(self, run_id: str) -> Entry | None:
        where = self.keys.pop(run_id, None)
        if where is None:
            return None
        chunks = self.hidden if where[1] else self.visible
        if not chunks:
            return None
        return _chunk_for(chunks, (where[0], run_id)).take(run_id)

    def save(self, path: Path) -> None:
        """Write atomically; a cache that cannot be written only costs time."""
        self.load_patch_state()
        # Whatever reads a damaged index raises here, as before the file is opened.
        layout = (_balanced(self.visible), _balanced(self.hidden))
        _write_atomically(path, lambda out: self._write(out, layout))

    def _write(self, out: BinaryIO, layout: tuple[list[Chunk], list[Chunk]]) -> None:
        """The layout (module docstring), each section written as soon as it is made: held
        until the end, those of 100,000 runs (150 MB) cost 37,000 page faults more."""
        out.write(MAGIC + bytes(8))  # the header's offset, known at the end
        offset = len(MAGIC) + 8

        def add(data: bytes) -> tuple[int, int]:
            nonlocal offset
            out.write(data)
            offset += len(data)
            return (offset - len(data), offset)

        tables = []
        for chunks in layout:
            refs = []
            for chunk in chunks:
                refs.append((add(chunk.section()), chunk.count))
            tables.append(refs)
        sections = {"keys": add(_pack(self.keys)), "edits": add(_pack(self.edits))}
        states = {k: (s.hidden, s.hidden_at, s.changes, s.latest) for k, s in self.states.items()}
        header: Any = (_KEY, self.tip, self.bad_lines, self.committed_as, states, sections, *tables)
        out.write(_pack(header))
        out.seek(len(MAGIC))
        out.write(offset.to_bytes(8, "little"))


def _write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """``write`` into a unique temp file renamed over ``path``: concurrent writers each
    replace the whole file, and readers keep the one they opened. A temp file a crash left
    behind goes once it is an hour old (younger ones may be another writer's). A cache
    that cannot be written only costs time; anything else (marshal's ValueError on a value
    it cannot pack) is a bug, raised."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as temp, temp.open("wb") as out:
            write(out)
    except OSError:
        return
    for left in path.parent.glob(f"{temp_prefix(path.name)}tmp*"):
        with contextlib.suppress(OSError):
            if time.time() - left.stat().st_mtime > TEMP_GRACE_S:
                left.unlink()


def _chunk_for(chunks: list[Chunk], key: SortKey) -> Chunk:
    """The chunk where ``key`` is or belongs: the first whose last run is not newer."""
    if not chunks:
        chunks.append(Chunk())
    for chunk in chunks:
        if chunk.count and chunk.last_key() <= key:
            return chunk
    return next((c for c in reversed(chunks) if c.count), chunks[-1])


def _balanced(chunks: list[Chunk]) -> list[Chunk]:
    """No empty chunk, none more than twice ``CHUNK_RUNS`` (a patch inserts and removes)."""
    out: list[Chunk] = []
    for chunk in chunks:
        if chunk.count == 0:
            continue
        if chunk.count <= 2 * CHUNK_RUNS:
            out.append(chunk)
            continue
        entries = chunk.entries()
        for start in range(0, len(entries), CHUNK_RUNS):
            part = Chunk()
            part._entries = entries[start : start + CHUNK_RUNS]
            out.append(part)
    chunks[:] = out
    return out


def read(path: Path) -> Index | None:
    """The index in ``path``, or None when there is none or it cannot be used."""
    try:
        with open(path, "rb") as f:
            data: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # missing, unreadable, or empty
        return None
    try:
        if data[: len(MAGIC)] != MAGIC:
            return None
        start = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 8], "little")
        header = _section(data, (start, len(data)))
        if not (isinstance(header, tuple) and len(header) == 8 and header[0] == _KEY):
            return None
        _key, stored_tip, bad, committed, states, sections, visible, hidden = header
        index = Index(stored_tip)
        index.bad_lines, index.committed_as = list(bad), dict(committed)
        index.states = {
            k: RunState(h, at, dict(c), latest) for k, (h, at, c, latest) in states.items()
        }
        index.visible = [Chunk(data, ref) for ref in visible]
        index.hidden = [Chunk(data, ref) for ref in hidden]
        index._lazy = (data, dict(sections))
    except (*_DAMAGED, AttributeError):
        return None
    return index


# ------------------------------------------------------------------- build and patch
def current(repo: Repo, path: Path, rebuild: bool = False) -> Index:
    """The index of refs/notes/gitrack as it is now: read, patched or built, and saved."""
    tip = repo.refs.target(NOTES_REF) or ""
    index = None if rebuild else read(path)
    if index is not None and index.tip == tip:
        return index
    patched = _patched(repo, index, tip) if index is not None and index.tip and tip else None
    fresh = patched if patched is not None else build(repo, tip)
    fresh.save(path)
    return fresh


def build(repo: Repo, tip: str) -> Index:
    """The index of every note of the notes commit ``tip``, from scratch."""
    index = Index(tip)
    notes = _parse_all(repo, repo.notes.blobs(NOTES_REF, tip) if tip else [])
    placed = _take_in(index, {}, notes, lambda _commit: [])
    # Newest first by (started, id), as Chunk.put orders them: every "started" is 27
    # characters (record.line_fields checked it), so the two joined compare as the pair
    # does, and sort twice as fast (0.17 -> 0.08 s for 100,000 runs).
    placed.sort(key=lambda entry: entry[1] + entry[0], reverse=True)
    index.keys = {entry[0]: (entry[1], entry[2] is not None) for entry in placed}
    index.visible = _chunked([entry for entry in placed if entry[2] is None])
    index.hidden = _chunked([entry for entry in placed if entry[2] is not None])
    return index


def _chunked(entries: list[Entry]) -> list[Chunk]:
    chunks = []
    for start in range(0, len(entries), CHUNK_RUNS):
        chunk = Chunk()
        chunk.entries().extend(entries[start : start + CHUNK_RUNS])
        chunks.append(chunk)
    return chunks


def _parse_all(repo: Repo, pairs: list[tuple[str, str]]) -> dict[str, list[Item]]:
    """The items of every note (pairs: annotated commit, note blob), each parsed as its
    text arrives (git reads the next ones meanwhile); a commit with notes at several
    fan-outs once all are read, concatenated as :func:`parse_blobs` does."""
    count: dict[str, int] = {}
    for commit, _blob in pairs:
        count[commit] = count.get(commit, 0) + 1
    notes: dict[str, list[Item]] = {commit: [] for commit in count}  # in the walk's order
    several: dict[str, list[str]] = {}
    texts = repo.notes.read_texts([blob for _commit, blob in pairs])
    for (commit, _blob), text in zip(pairs, texts, strict=True):
        if count[commit] == 1:
            notes[commit] = parse_note(text)
            continue
        parts = several.setdefault(commit, [])
        parts.append(text)
        if len(parts) == count[commit]:
            notes[commit] = parse_note("\n".join(parts))
    return notes


def _patched(repo: Repo, index: Index, tip: str) -> Index | None:
    """``index`` brought from its notes commit to ``tip`` through the notes that changed;
    None when that cannot be done (old commit gone) or costs more than a rebuild."""
    changes = repo.notes.changes(index.tip, tip)
    if changes is None or len(changes) > max(64, index.count() // 64):
        return None
    index.load_patch_state()
    old = {commit: parse_blobs(repo, blobs) for commit, blobs, _new in changes if blobs}
    new = {commit: parse_blobs(repo, blobs) for commit, _old, blobs in changes}  # [] if gone

    def unchanged_note(commit: str) -> list[Item]:
        return parse_blobs(repo, repo.notes.blobs_at(tip, commit))

    for entry in _take_in(index, old, new, unchanged_note):
        index.place(entry)
    index.tip = tip
    return index


def parse_blobs(repo: Repo, blobs: list[str] | tuple[str, ...]) -> list[Item]:
    """The items of one commit's note, held in one blob or (as git reads a tree that has
    it at several fan-outs) several, concatenated shallowest first."""
    return parse_note("\n".join(repo.notes.read_texts(blobs)))


def _take_in(
    index: Index, old: dict[str, list[Item]], new: dict[str, list[Item]], note_of: Any
) -> list[Entry]:
    """Replace what the notes ``old`` said with what ``new`` say (both: commit -> items;
    every changed commit is in ``new``) and return the entries of the runs that changed,
    taken out of the index; ``note_of(commit)`` parses an unchanged note."""
    affected: set[str] = set()
    for commit, items in old.items():
        for item in items:
            if item[0] == "run":
                affected.add(item[1][0])
            elif item[0] == "committed":
                _drop(index.committed_as, item[1], commit)
            elif item[0] == "edit":
                affected.add(item[1])
                _drop(index.edits, item[1], commit)
    index.bad_lines = [bad for bad in index.bad_lines if bad[0] not in new]
    copies: dict[str, dict[str, Item]] = {}  # run id -> commit -> its run item there
    for commit, items in new.items():
        for item in items:
            if item[0] == "run":
                affected.add(item[1][0])
                copies.setdefault(item[1][0], {})[commit] = item
            elif item[0] == "committed":
                index.committed_as.setdefault(item[1], []).append(commit)
            elif item[0] == "edit":
                affected.add(item[1])
                index.edits.setdefault(item[1], []).append((commit, item))
            else:
                index.bad_lines.append((commit, item[1], item[2]))
    index.bad_lines.sort()
    parsed: dict[str, list[Item]] = {}
    placed: list[Entry] = []
    edits, states, keys = index.edits, index.states, index.keys
    for run_id in affected:
        edited = run_id in edits or run_id in states  # else it has nothing to fold
        if edited:
            _refold(index, run_id)
        gone = index.remove(run_id) if run_id in keys else None
        found = copies.get(run_id, {})
        if gone is None and not edited and len(found) == 1:  # nearly every run of a build
            ((commit, item),) = found.items()
            (_id, started, base, snapshot), text, row, v = item[1:]
            copy = (commit, started, base, snapshot, text, v, row)
            placed.append((run_id, started, None, (copy,)))
            continue
        for copy in gone[3] if gone is not None else ():
            commit = copy[0]
            if commit in new or commit in found:
                continue  # read anew above
            if commit not in parsed:  # a copy on an unchanged note
                parsed[commit] = note_of(commit)
            mine = [i for i in parsed[commit] if i[0] == "run" and i[1][0] == run_id]
            if mine:
                found[commit] = mine[-1]
        if found:
            placed.append(_entry(run_id, found, index.states.get(run_id)))
    return placed


def _drop(table: dict[str, list[Any]], key: str, commit: str) -> None:
    """Take out of ``table[key]`` what came from the note on ``commit``."""
    kept = [v for v in table.get(key, []) if (v if isinstance(v, str) else v[0]) != commit]
    if kept:
        table[key] = kept
    else:
        table.pop(key, None)


def _refold(index: Index, run_id: str) -> None:
    edits = index.edits.get(run_id)
    state = fold(item for _commit, item in edits).get(run_id) if edits else None
    if state is None:
        index.edits.pop(run_id, None)
        index.states.pop(run_id, None)
    else:
        index.states[run_id] = state


def _entry(run_id: str, found: dict[str, Item], state: RunState | None) -> Entry:
    if state is None and len(found) == 1:  # nearly every run: one copy, never edited
        ((commit, item),) = found.items()
        (_id, started, base, snapshot), text, row, v = item[1:]
        return (run_id, started, None, ((commit, started, base, snapshot, text, v, row),))
    copies: list[Copy] = []
    for commit in sorted(found):
        (_id, started, base, snapshot), text, row, v = found[commit][1:]
        if state is not None and state.changes:
            text, row = _public(vars(state.apply_to(RunRecord.from_public(text, v))))
        copies.append((commit, started, base, snapshot, text, v, row))
    hidden_at = state.hidden_at if state is not None and state.hidden else None
    return (run_id, min(c[1] for c in copies), hidden_at, tuple(copies))
