"""`gitrack rm`, `tag`, `rename`, `note`: change a finished run by appending an edit line.

Every change is checked in full before anything is written (an unknown run, a bad tag key,
a name already taken: an error, nothing appended), then written as one line in the note
of the commit the run's note is on, by compare-and-swap (tracking/edits.py says how the
lines merge and apply).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

from gitrack.commands.context import Context
from gitrack.errors import UsageError
from gitrack.git.refs import NOTES_REF
from gitrack.tracking import display, edits, history
from gitrack.tracking.record import add_line

MAX_TEXT = 250  # MLflow's limit for tag keys, tag values and run names
MAX_NOTE = 5000  # a description, not a document: the note line stays readable
# MLflow's tag key rule: letters, digits, _ - . space and /.
_TAG_KEY = re.compile(r"[\w\-. /]+\Z")
_HEXLIKE = re.compile(r"[0-9a-fA-F]{4,}\Z")


@dataclass
class Changed:
    runs: list[history.Run]  # the runs written to
    skipped: list[str] = field(default_factory=list)  # e.g. "3f2a… is already hidden"


def hide(ctx: Context, refs: list[str], undo: bool = False) -> Changed:
    """Hide runs (`gitrack rm`), or show them again (``undo``)."""
    loaded = ctx.load_runs()
    chosen = list({run.id: run for run in (history.resolve(loaded, ref) for ref in refs)}.values())
    result = Changed([])
    kind = edits.UNDELETE if undo else edits.DELETE
    for run in chosen:
        if run.hidden != undo:
            state = "visible" if undo else "hidden"
            result.skipped.append(f"run {run.id} is already {state}")
            continue
        _append(ctx, loaded, run, kind)
        result.runs.append(run)
    return result


def tag(
    ctx: Context, ref: str, values: dict[str, str], remove: list[str] | tuple[str, ...] = ()
) -> history.Run:
    """Set and remove tags of a run."""
    if not values and not remove:
        raise UsageError("nothing to change: give KEY=VALUE or --remove KEY")
    for key in [*values, *remove]:
        check_tag_key(key)
    for key, value in values.items():
        _check_text(f"the value of tag {key!r}", value, MAX_TEXT, allow_empty=True)
    loaded = ctx.load_runs()
    run = history.resolve(loaded, ref)
    _append(
        ctx,
        loaded,
        run,
        edits.EDIT,
        {f"tags.{k}": v for k, v in values.items()},
        [f"tags.{k}" for k in remove if k not in values],
    )
    return run


def rename(ctx: Context, ref: str, name: str) -> history.Run:
    """Give a run a new name (unique among runs: a name is accepted where an id is)."""
    _check_text("a run name", name, MAX_TEXT)
    if name != name.strip():
        raise UsageError(f"run name {name!r} starts or ends with spaces: remove them")
    if _HEXLIKE.match(name):
        raise UsageError(
            f"run name {name!r} looks like a run id: names must not shadow ids; add a letter"
        )
    loaded = ctx.load_runs()
    run = history.resolve(loaded, ref)
    taken = [r for r in loaded.everything() if r.record.name == name and r.id != run.id]
    if taken:
        raise UsageError(
            f"the name {name!r} is already taken by run {taken[0].id}: choose another "
            f"(or rename that one first)"
        )
    _append(ctx, loaded, run, edits.EDIT, {"name": name})
    return run


def annotate(ctx: Context, ref: str, text: str) -> history.Run:
    """Set a run's free-text description (shown by `gitrack show`); "" removes it."""
    if text:
        _check_text("a note", text, MAX_NOTE, lines=True)
    loaded = ctx.load_runs()
    run = history.resolve(loaded, ref)
    if text:
        _append(ctx, loaded, run, edits.EDIT, {"note": text})
    else:
        _append(ctx, loaded, run, edits.EDIT, unset=["note"])
    return run


def log_metrics(ctx: Context, ref: str, metrics: dict[str, float]) -> history.Run:
    """Add or change metrics of a finished run (the API's ``log_metric`` after the run)."""
    for key in metrics:
        _check_text("a metric key", key, MAX_TEXT)
    loaded = ctx.load_runs()
    run = history.resolve(loaded, ref)
    _append(ctx, loaded, run, edits.EDIT, {f"metrics.{k}": v for k, v in metrics.items()})
    return run


def check_tag_key(key: str) -> None:
    if not key or not _TAG_KEY.match(key) or len(key) > MAX_TEXT:
        raise UsageError(
            f"tag key {key!r} is not valid: use letters, digits, '_', '-', '.', ' ' and '/' "
            f"(at most {MAX_TEXT} characters), e.g. verdict=best"
        )
    if key.startswith("/") or ".." in key.split("/"):
        raise UsageError(f"tag key {key!r} is not valid: no leading '/' and no '..' part")


def _check_text(
    what: str, text: str, limit: int, allow_empty: bool = False, lines: bool = False
) -> None:
    if not text and not allow_empty:
        raise UsageError(f"{what} cannot be empty")
    if len(text) > limit:
        raise UsageError(f"{what} is {len(text)} characters long: at most {limit}")
    allowed = "\n\t" if lines else ""
    if any((ord(c) < 32 and c not in allowed) or c == "\x7f" for c in text):
        raise UsageError(f"{what} {text[:40]!r} holds control characters: remove them")


def _append(
    ctx: Context,
    loaded: history.Runs,
    run: history.Run,
    kind: str,
    values: dict[str, Any] | None = None,
    unset: list[str] | tuple[str, ...] = (),
) -> None:
    state = loaded.edits.get(run.id)
    started = edits.next_timestamp(state.latest if state is not None else "")
    line = edits.edit_line(run.id, kind, started, values, unset)
    notes_commit = ctx.repo.notes.update(
        NOTES_REF,
        run.commit,
        lambda text: add_line(text, line),
        f"gitrack: {kind} run {run.id}\n",
    )
    # git log's run lines show the run as edited; derived data, rebuilt by the next run,
    # so a failure here must not turn an edit that is written into an error.
    with contextlib.suppress(Exception):
        _show_edit(ctx, loaded, run, notes_commit, line)


def _show_edit(
    ctx: Context, loaded: history.Runs, run: history.Run, notes_commit: str, line: str
) -> None:
    """git log's run lines after the edit ``line``: only the edited run's commit is
    rewritten (a rebuild lists every run), when the runs were loaded from the notes commit
    just before ``notes_commit``. Otherwise another writer changed runs meanwhile, and a
    restored run's place among the others is not known here: the full rebuild."""
    item = edits.parse_edit_line(line)
    parents = ctx.repo.commit_info(notes_commit).parents
    if item is None or item[4] == edits.UNDELETE or parents != (loaded.notes_tip,):
        display.refresh(ctx.repo)
        return
    state = edits.fold([item])[run.id]
    records = []
    for shown in reversed(loaded.runs):  # oldest first, as a rebuild writes them
        if shown.commit != run.commit:
            continue
        if shown.id != run.id:
            records.append(shown.record)
        elif not state.hidden:
            records.append(state.apply_to(shown.record))
    display.show_commit(ctx.repo, notes_commit, run.commit, records)
