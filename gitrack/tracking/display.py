"""The display notes ref: what plain `git log` shows, one readable line per run.

``refs/notes/runs`` is derived from ``refs/notes/gitrack`` (the JSON, the truth): the
note on a commit holds, for each run on it, a line such as

    run 3f2a9c1b baseline  ok*  12.3s  auc=0.93 loss=0.21  C=1 kernel=rbf

(id, name, status with ``*`` for uncommitted changes, duration, metrics, params), as the
run stands after its edit lines: a rename shows the new name, a run hidden by `gitrack rm`
is not shown. `gitrack install` sets it as ``notes.displayRef``; `git log --notes=gitrack`
still shows the JSON. It follows every change gitrack makes to the JSON ref (a run
recorded, edited by `gitrack rename`, `tag`, `rm`…, runs merged from a remote, carried
over a rewrite); its commit message names the JSON tip it was built from, so an
up-to-date one is left alone, and one a few notes behind is patched on the commits whose
runs may show differently (their cost follows what changed, not how many runs there
are); it is rebuilt whole only when it cannot be patched. Never pushed: each clone
derives its own. Notes are untrusted, and git prints notes raw: control characters are
escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from gitrack.git import Repo
from gitrack.git.refs import DISPLAY_REF, NOTES_REF
from gitrack.tracking.record import RunRecord

if TYPE_CHECKING:
    from gitrack.tracking.history import Run, Runs

MAX_LINE = 200
# A patch that would rewrite more display notes than this is a rebuild (which costs a
# listing of every run anyway): e.g. after many rebases, many runs have several copies.
_MOST_PATCHED = 2048
_SHOWN = 4  # metrics, then params, on a line


def refresh(repo: Repo, create: bool = False) -> bool:
    """Bring the display up to the JSON ref if it moved since; True if it changed.

    Only where it exists (`gitrack install` creates it, ``create``): a repository
    without install gets no ref it did not ask for.
    """
    shown = repo.refs.target(DISPLAY_REF)
    if shown is None and not create:
        return False
    summary = repo.commit_info(shown).summary if shown is not None else None
    if summary == _summary(repo.refs.target(NOTES_REF)):
        return False
    from gitrack.tracking import history  # a run adds its line: it loads runs only to rebuild

    # As loaded: edit lines folded in (renames, tags), hidden runs (`gitrack rm`) left out,
    # each run once, on the commit it now belongs to; oldest first on a commit. Labelled
    # with the notes commit they were loaded from, which a writer may have moved past.
    loaded = history.load_runs(repo)
    message = _summary(loaded.notes_tip or None) + "\n"
    if summary is not None and loaded.notes_tip:
        commits = _commits_to_redo(repo, summary, loaded)
        if commits is not None:
            notes = _notes_of(reversed(loaded.runs), commits)
            edits = {commit: _constant(notes.get(commit)) for commit in commits}
            if repo.notes.update_if_built_from(DISPLAY_REF, edits, message, summary):
                return True
            loaded = history.load_runs(repo)  # another writer came first
            message = _summary(loaded.notes_tip or None) + "\n"
    repo.notes.replace_all(DISPLAY_REF, _notes_of(reversed(loaded.runs)), message)
    return True


def _summary(notes_tip: str | None) -> str:
    return f"gitrack: display of {notes_tip or 'no runs'}"


def _commits_to_redo(repo: Repo, summary: str, loaded: Runs) -> set[str] | None:
    """The commits whose display may differ between the notes commit the display was
    built from (its summary names it) and the one ``loaded`` was read from: those whose
    notes changed; the commit each run those notes name shows on now (an edit line may sit
    on another commit than its run); and every commit holding a copy of a run that has
    several (which one shows depends on the branches, which may have moved meanwhile).
    None when the display cannot be patched (built from a commit gone, or most changed)."""
    from gitrack.tracking import notecache  # not on a run's path: it adds a line

    built_from = summary.removeprefix("gitrack: display of ")
    changes = repo.notes.changes(built_from, loaded.notes_tip) if built_from != summary else None
    if changes is None or len(changes) > _MOST_PATCHED:
        return None
    named: set[str] = set()
    for _commit, old, new in changes:
        for item in notecache.parse_blobs(repo, [*old, *new]):
            if item[0] in ("run", "edit"):
                named.add(item[1][0] if item[0] == "run" else item[1])
    now_on = {run.commit for run in (*loaded.runs, *loaded.hidden) if run.id in named}
    redo = {commit for commit, _old, _new in changes} | now_on | loaded.copied
    return redo if len(redo) <= _MOST_PATCHED else None


def _notes_of(runs: Iterable[Run], only: set[str] | None = None) -> dict[str, str]:
    lines: dict[str, list[str]] = {}
    for run in runs:
        if only is None or run.commit in only:
            lines.setdefault(run.commit, []).append(display_line(run.record))
    return {commit: "\n".join(shown) + "\n" for commit, shown in lines.items()}


def _constant(text: str | None) -> Callable[[str], str | None]:
    return lambda _old: text


def add_run(repo: Repo, notes_commit: str, commit: str, record: RunRecord) -> bool:
    """After ``notes_commit`` added ``record``'s line to ``commit``'s note: add its display
    line to that commit's display note, instead of rebuilding every note (a rebuild costs
    a listing of every run, on every run). True if the display changed."""
    line = display_line(record)
    return _patch(repo, notes_commit, commit, lambda text: text + line + "\n")


def show_commit(repo: Repo, notes_commit: str, commit: str, records: list[RunRecord]) -> bool:
    """After ``notes_commit`` changed how the runs on ``commit`` show (an edit line): that
    commit's display note rewritten from ``records``, its visible runs as they now stand,
    oldest first, instead of rebuilding every note. True if the display changed."""
    if not records:  # no note at all for the commit, as a rebuild leaves it
        return refresh(repo)
    text = "".join(display_line(record) + "\n" for record in records)
    return _patch(repo, notes_commit, commit, lambda _old: text)


def _patch(repo: Repo, notes_commit: str, commit: str, transform: Callable[[str], str]) -> bool:
    """``commit``'s display note through ``transform``, only when the display was built
    from the JSON tip just before ``notes_commit``; otherwise (another writer in between)
    the full rebuild."""
    if repo.refs.target(DISPLAY_REF) is None:
        return False  # not installed here
    parents = repo.commit_info(notes_commit).parents
    before = f"gitrack: display of {parents[0] if parents else 'no runs'}"
    message = f"gitrack: display of {notes_commit}\n"
    patched = repo.notes.update_if_built_from(DISPLAY_REF, {commit: transform}, message, before)
    return patched or refresh(repo)


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


# C0 (newlines too: one run, one line), DEL and C1 as \\xNN: git log prints notes raw.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)
