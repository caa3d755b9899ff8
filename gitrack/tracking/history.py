"""Reading runs back: every note line of refs/notes/gitrack, one Run per run id."""

from __future__ import annotations

import json
import marshal
from dataclasses import dataclass, field

from gitrack.errors import AmbiguousRunError, RunNotFoundError, UsageError
from gitrack.git import Repo
from gitrack.git.refs import NOTES_REF
from gitrack.tracking.edits import EditItem, RunState, fold
from gitrack.tracking.names import MIN_PREFIX, looks_like_id
from gitrack.tracking.notecache import NoteCache, record_of
from gitrack.tracking.record import RunRecord


class Run:
    """A run and the commit whose note holds it (after a rewrite: the new commit).

    Listing thousands of runs needs only ids, times and their JSON: the full record is
    built on first use (from the note cache's marshalled fields).
    """

    __slots__ = (
        "_fields", "_record", "base_commit", "commit", "hidden", "hidden_at", "id",
        "public_text", "snapshot", "started",
    )  # fmt: skip

    def __init__(self, record: RunRecord, commit: str, public_text: str | None = None) -> None:
        self._record: RunRecord | None = record
        self._fields: bytes | None = None
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
        cls, commit: str, summary: tuple[str, str, str, str], public_text: str, fields: bytes
    ) -> Run:
        run = cls.__new__(cls)
        run._record, run._fields = None, fields
        run.commit, run.public_text = commit, public_text
        run.id, run.started, run.base_commit, run.snapshot = summary
        run.hidden, run.hidden_at = False, None
        return run

    def apply(self, state: RunState) -> None:
        """Take the run's edit lines into account: hidden or not, tags, name, note…"""
        self.hidden, self.hidden_at = state.hidden, state.hidden_at
        if state.changes:
            self._record = state.apply_to(self.record)
            self._fields, self.public_text = None, None  # JSON rebuilt from the edited record

    @property
    def record(self) -> RunRecord:
        if self._record is None:
            assert self._fields is not None
            self._record = record_of(marshal.loads(self._fields))
        return self._record

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

    def everything(self) -> list[Run]:
        """Visible and hidden runs, newest first (what ids and gc must still see)."""
        return sorted(self.runs + self.hidden, key=lambda r: (r.started, r.id), reverse=True)


def load_runs(repo: Repo) -> Runs:
    """All runs in the repository, newest first, each once.

    After `commit --amend` or a rebase, git copies a note to the new commit and leaves
    the old copy: the run then sits on two commits, and is shown on the one it now
    belongs to.
    """
    path = repo.common_dir / "gitrack" / "notes.cache"
    try:
        by_id, warnings, committed_as, edits = _collect(repo, NoteCache(path))
    except (IndexError, TypeError, ValueError):
        # A cache file damaged in a way its key check missed: parse everything afresh.
        by_id, warnings, committed_as, edits = _collect(repo, NoteCache(path, trusted=False))
    runs = [_pick_current(repo, copies) for copies in by_id.values()]
    runs.sort(key=lambda r: (r.started, r.id), reverse=True)
    states = fold(edits)
    for run in runs:
        state = states.get(run.id)
        if state is not None:
            run.apply(state)
    visible = [run for run in runs if not run.hidden]
    hidden = [run for run in runs if run.hidden]
    return Runs(visible, warnings, committed_as, hidden, states)


def _collect(
    repo: Repo, cache: NoteCache
) -> tuple[dict[str, list[Run]], list[str], dict[str, list[str]], list[EditItem]]:
    by_id: dict[str, list[Run]] = {}
    warnings: list[str] = []
    committed_as: dict[str, list[str]] = {}
    edits: list[EditItem] = []  # from every note: a run's edits apply wherever they sit
    for commit, blob in repo.notes.blobs(NOTES_REF):
        for item in cache.items(blob, repo.notes.read_text):
            if item[0] == "run":
                run = Run.lazy(commit, item[1], item[2], item[3])
                by_id.setdefault(run.id, []).append(run)
            elif item[0] == "committed":
                committed_as.setdefault(item[1], []).append(commit)
            elif item[0] == "edit":
                edits.append(item)
            else:
                warnings.append(
                    f"skipped note line {item[1]} on commit {commit[:10]}: "
                    f"not a gitrack run ({item[2]})"
                )
    cache.save()
    return by_id, warnings, committed_as, edits


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
