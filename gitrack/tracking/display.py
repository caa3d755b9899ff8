"""The display notes ref: what plain `git log` shows, one readable line per run.

``refs/notes/runs`` is derived from ``refs/notes/gitrack`` (the JSON, the truth): the
note on a commit holds, for each run on it, a line such as

    run 3f2a9c1b baseline  ok*  12.3s  auc=0.93 loss=0.21  C=1 kernel=rbf

(id, name, status with ``*`` for uncommitted changes, duration, metrics, params).
`gitrack install` sets it as ``notes.displayRef``; `git log --notes=gitrack` still shows
the JSON. It is rebuilt whenever gitrack changes the JSON ref (a run recorded, runs
merged from a remote, carried over a rewrite); its commit message names the JSON tip it
was built from, so an up-to-date one is left alone. Never pushed: each clone derives
its own. Notes are untrusted, and git prints notes raw: control characters are escaped.
"""

from __future__ import annotations

import marshal
import math

from gitrack.git import Repo
from gitrack.git.refs import DISPLAY_REF, NOTES_REF
from gitrack.tracking.notecache import NoteCache, record_of
from gitrack.tracking.record import RunRecord

MAX_LINE = 200
_SHOWN = 4  # metrics, then params, on a line


def refresh(repo: Repo, create: bool = False) -> bool:
    """Rebuild the display ref if the JSON ref moved since; True if it was rebuilt.

    Only where it exists (`gitrack install` creates it, ``create``): a repository
    without install gets no ref it did not ask for.
    """
    shown = repo.refs.target(DISPLAY_REF)
    if shown is None and not create:
        return False
    source = repo.refs.target(NOTES_REF)
    message = f"gitrack: display of {source or 'no runs'}"
    if shown is not None and repo.commit_info(shown).summary == message:
        return False
    cache = NoteCache(repo.common_dir / "gitrack" / "notes.cache")
    notes: dict[str, str] = {}
    for commit, blob in repo.notes.blobs(NOTES_REF) if source is not None else []:
        lines = [
            display_line(record_of(marshal.loads(item[3])))
            for item in cache.items(blob, repo.notes.read_text)
            if item[0] == "run"
        ]
        if lines:
            notes[commit] = "\n".join(lines) + "\n"
    cache.save()
    repo.notes.replace_all(DISPLAY_REF, notes, message + "\n")
    return True


def display_line(rec: RunRecord) -> str:
    status = {"failed": "FAILED"}.get(rec.status, rec.status) + ("*" if rec.dirty else "")
    parts = [f"run {rec.id[:8]}" + (f" {rec.name}" if rec.name else ""), status]
    parts.append(_duration(rec.duration_s))
    metrics = sorted(rec.metrics.items())
    parts.append(" ".join(f"{k}={_number(v)}" for k, v in metrics[:_SHOWN]))
    params = sorted(rec.params.items())
    parts.append(" ".join(f"{k}={v}" for k, v in params[:_SHOWN]))
    line = _escape("  ".join(p for p in parts if p))
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def _number(value: float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}m" if seconds < 3600 else f"{seconds / 3600:.1f}h"


def _escape(text: str) -> str:
    """C0 (newlines too: one run, one line), DEL and C1 as \\xNN: git log prints notes raw."""
    return "".join(
        f"\\x{ord(c):02x}" if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F else c for c in text
    )
