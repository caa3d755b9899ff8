"""Reading runs back: every note line of refs/notes/gitrack, one Run per run id."""

from __future__ import annotations

import contextlib
import gc
import json
import marshal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gitrack.errors import AmbiguousRunError, RunNotFoundError, UsageError
from gitrack.git import Repo
from gitrack.tracking import notecache
from gitrack.tracking.edits import RunState
from gitrack.tracking.names import MIN_PREFIX, looks_like_id
from gitrack.tracking.record import FORMAT_VERSION, RunRecord, public_dict, table_row


class Run:
    """A run and the commit whose note holds it (after a rewrite: the new commit).

    Listing thousands of runs needs only ids, times and their JSON: the full record is
    built on first use, from that JSON (the listing index's).
    """

    __slots__ = (
        "_record", "_row", "_v", "base_commit", "commit", "hidden", "hidden_at", "id",
        "public_text", "snapshot", "started",
    )  # fmt: skip

    def __init__(self, record: RunRecord, commit: str, public_text: str | None = None) -> None:
        self._record: RunRecord | None = record
        self._v = record.v
        self._row: bytes | None = None  # the listing index's table row, marshalled
        self.commit = commit
        self.public_text = public_text  # the run's JSON without "commit"
        self.id = record.id
        self.started = record.started
        self.base_commit = record.base_commit
        self.snapshot = record.snapshot
        self.hidden = False  # hidden by `gitrack rm` (edit lines, see tracking/edits.py)
        self.hidden_at: str | None = None  # when: the delete line's timestamp

    @classmethod
    def lazy(
        cls,
        commit: str,
        summary: tuple[str, str, str, str],
        public_text: str,
        v: int = FORMAT_VERSION,
        row: bytes | None = None,
    ) -> Run:
        run = cls.__new__(cls)
        run._record, run._v, run._row = None, v, row
        run.commit, run.public_text = commit, public_text
        run.id, run.started, run.base_commit, run.snapshot = summary
        run.hidden, run.hidden_at = False, None
        return run

    @property
    def record(self) -> RunRecord:
        if self._record is None:
            assert self.public_text is not None
            self._record = RunRecord.from_public(self.public_text, self._v)
        return self._record

    def table_row(self) -> tuple[Any, ...]:
        """The values of record.TABLE_FIELDS (metrics as the public JSON has them)."""
        if self._row is not None:
            row: tuple[Any, ...] = marshal.loads(self._row)
            return row
        return table_row(public_dict(vars(self.record)))

    def public_json(self) -> str:
        """The run as `ls --json` prints it, compact."""
        if self.public_text is None:
            return json.dumps(
                self.record.to_public(self.commit), ensure_ascii=False, separators=(",", ":")
            )
        return f'{{"commit":"{self.commit}",{self.public_text[1:]}'

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and (self.id, self.commit) == (other.id, other.commit)

    def __hash__(self) -> int:
        return hash((self.id, self.commit))

    def __repr__(self) -> str:
        return f"Run({self.id!r}, commit={self.commit[:10]!r})"


@dataclass
class Runs:
    runs: list[Run]  # newest first, without the hidden ones (`gitrack rm`)
    warnings: list[str] = field(default_factory=list)
    committed_as: dict[str, list[str]] = field(default_factory=dict)  # run id -> commits
    hidden: list[Run] = field(default_factory=list)  # hidden runs, newest first
    edits: dict[str, RunState] = field(default_factory=dict)  # run id -> its edits folded
    visible_count: int = -1  # visible runs in the repository (``runs`` may hold fewer)
    notes_tip: str = ""  # the notes commit these runs were read from ("" if unknown)
    # The commits holding a copy of a run that has several (an amend, a rebase): which of
    # them the run shows on depends on the branches.
    copied: set[str] = field(default_factory=set)

    def everything(self) -> list[Run]:
        """Visible and hidden runs, newest first (what ids and gc must still see)."""
        return sorted(self.runs + self.hidden, key=lambda r: (r.started, r.id), reverse=True)


def load_runs(repo: Repo) -> Runs:
    """All runs in the repository, newest first, each once.

    After `commit --amend` or a rebase, git copies a note to the new commit and leaves
    the old copy: the run then sits on two commits, and is shown on the one it now
    belongs to.
    """
    return _from_index(repo, None)


def load_newest(repo: Repo, count: int) -> tuple[Runs, int]:
    """The ``count`` newest visible runs (only those: their hidden list is empty), and
    how many visible runs there are: for `gitrack ls -n N`, which reads only what it prints."""
    runs = _from_index(repo, count)
    return runs, runs.visible_count


def _from_index(repo: Repo, limit: int | None) -> Runs:
    path = repo.common_dir / "gitrack" / "notes.cache"
    with without_gc():
        try:
            return _runs_of(repo, notecache.current(repo, path), limit)
        except (EOFError, IndexError, KeyError, TypeError, ValueError):
            # An index damaged in a way its checks missed: built afresh from the notes.
            return _runs_of(repo, notecache.current(repo, path, rebuild=True), limit)


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """Loading runs (or turning them into rows) makes a few objects per run and frees
    almost none, in no cycle: the garbage collector's passes over that growing heap cost a
    tenth of a cold listing and a third of ``gitrack.runs()`` at 100,000 runs, for
    nothing. Switched back on after, as it was."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _runs_of(repo: Repo, index: notecache.Index, limit: int | None) -> Runs:
    warnings = [
        f"skipped note line {number} on commit {commit[:10]}: not a gitrack run ({why})"
        for commit, number, why in index.bad_lines
    ]
    copied: set[str] = set()
    visible = _runs(repo, index.runs(False, limit), copied)
    hidden = _runs(repo, index.runs(True), copied) if limit is None else []
    return Runs(
        visible,
        warnings,
        index.committed_as,
        hidden,
        index.states,
        index.count(),
        index.tip,
        copied,
    )


def _runs(repo: Repo, rows: Iterable[notecache.Entry], copied: set[str]) -> list[Run]:
    """The runs of index entries, each on its current copy's commit; the commits of every
    copy of a run that has several go to ``copied``."""
    out = []
    lazy = Run.lazy
    for run_id, _started, hidden_at, copies in rows:
        if len(copies) == 1:
            commit, started, base, snapshot, text, v, row = copies[0]
            run = lazy(commit, (run_id, started, base, snapshot), text, v, row)
        else:
            copied.update(c[0] for c in copies)
            run = _pick_current(
                repo,
                [lazy(c[0], (run_id, c[1], c[2], c[3]), c[4], c[5], c[6]) for c in copies],
            )
        if hidden_at is not None:
            run.hidden, run.hidden_at = True, hidden_at
        out.append(run)
    return out


def _pick_current(repo: Repo, copies: list[Run]) -> Run:
    if len(copies) == 1:
        return copies[0]
    unique = {run.commit: run for run in copies}
    if len(unique) == 1:
        return copies[0]

    def rank(run: Run) -> tuple[bool, int, bool, str]:
        # Prefer the copy a branch still reaches (the old commit of an amend is reached
        # only through gitrack's pins), then the newest commit, then a rewritten one.
        if not repo.has_object(run.commit):
            return (False, 0, False, run.commit)
        return (
            repo.reachable_from_user_refs(run.commit),
            repo.commit_info(run.commit).time,
            run.commit != run.base_commit,
            run.commit,
        )

    return max(unique.values(), key=rank)


def lost_snapshots(repo: Repo, runs: list[Run]) -> str | None:
    """A warning naming the runs whose snapshot is not in this repository, or None.

    One object lookup per snapshot (no note parsing): cheap enough for every listing.
    """
    present = {snap: repo.has_object(snap) for snap in {run.snapshot for run in runs}}
    lost = [run.id for run in runs if not present[run.snapshot]]
    if not lost:
        return None
    return (
        f"{len(lost)} run(s) lost their snapshot, so their code cannot be restored: "
        f"{', '.join(lost[:5])}{' …' if len(lost) > 5 else ''} (never fetched, or removed by "
        "a `git gc --prune=now` that raced the run; gitrack pull fetches a teammate's copy)"
    )


def resolve(runs: Runs, ref: str) -> Run:
    """A run by id or unique id prefix (at least 4 hex digits), else by name.

    Ids always win: a name never hides the run an id or prefix names (a teammate's run
    named like one of your ids must not replace what `checkout ID` restores). Several
    runs with one name (made apart, in clones, or before names were checked): the
    newest, with a warning added to ``runs.warnings`` naming the others. Hidden runs are
    found too (to show, restore or check out one), but a name names a visible run first.
    """
    wanted = ref.strip().lower()
    candidates = runs.runs + runs.hidden
    exact = [r for r in candidates if r.id == wanted]
    if exact:
        return exact[0]
    if len(wanted) >= MIN_PREFIX and looks_like_id(wanted):
        matches = [r for r in candidates if r.id.startswith(wanted)]
        if len(matches) > 1:
            raise AmbiguousRunError(ref, [r.id for r in matches])
        if matches:
            return matches[0]
    named = [r for r in runs.runs if r.record.name == ref] or [
        r for r in runs.hidden if r.record.name == ref
    ]  # newest first
    if len(named) > 1:
        others = ", ".join(r.id for r in named[1:4]) + (" …" if len(named) > 4 else "")
        runs.warnings.append(
            f"{len(named)} runs are named {ref!r}: using the newest, {named[0].id} "
            f"(give an id for another: {others})"
        )
    if named:
        return named[0]
    if len(wanted) < MIN_PREFIX:
        raise UsageError(f"run id {ref!r} is too short: give at least {MIN_PREFIX} characters")
    raise RunNotFoundError(ref)
