"""Reading runs back: every note line of refs/notes/gitrack, one Run per run id."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitrack.errors import AmbiguousRunError, RunNotFoundError, UsageError
from gitrack.git import Repo
from gitrack.record import RunRecord, parse_committed_line
from gitrack.refs import NOTES_REF

MIN_PREFIX = 4


@dataclass(frozen=True)
class Run:
    record: RunRecord
    commit: str  # the commit whose note holds the run (after a rewrite: the new commit)

    @property
    def id(self) -> str:
        return self.record.id


@dataclass
class Runs:
    runs: list[Run]  # newest first
    warnings: list[str] = field(default_factory=list)
    committed_as: dict[str, list[str]] = field(default_factory=dict)  # run id -> commits


def load_runs(repo: Repo) -> Runs:
    """All runs in the repository, newest first, each once.

    After `commit --amend` or a rebase, git copies a note to the new commit and leaves
    the old copy: the run then sits on two commits, and is shown on the one it now
    belongs to.
    """
    by_id: dict[str, list[Run]] = {}
    warnings: list[str] = []
    committed_as: dict[str, list[str]] = {}
    for entry in repo.iter_notes(NOTES_REF):
        for number, line in enumerate(entry.text.split("\n"), start=1):
            if not line.strip():
                continue
            committed = parse_committed_line(line)
            if committed is not None:
                committed_as.setdefault(committed, []).append(entry.commit)
                continue
            try:
                record = RunRecord.from_line(line)
            except (ValueError, TypeError, OverflowError) as exc:
                warnings.append(
                    f"skipped note line {number} on commit {entry.commit[:10]}: "
                    f"not a gitrack run ({exc})"
                )
                continue
            by_id.setdefault(record.id, []).append(Run(record, entry.commit))
    runs = [_pick_current(repo, copies) for copies in by_id.values()]
    runs.sort(key=lambda r: (r.record.started, r.id), reverse=True)
    return Runs(runs, warnings, committed_as)


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
            run.commit != run.record.base_commit,
            run.commit,
        )

    return max(unique.values(), key=rank)


def resolve(runs: Runs, ref: str) -> Run:
    """A run by id or unique prefix (at least 4 characters), or by exact name."""
    named = [r for r in runs.runs if r.record.name == ref]
    if len(named) == 1:
        return named[0]
    wanted = ref.strip().lower()
    if len(wanted) < MIN_PREFIX:
        raise UsageError(f"run id {ref!r} is too short: give at least {MIN_PREFIX} characters")
    exact = [r for r in runs.runs if r.id == wanted]
    if exact:
        return exact[0]
    matches = [r for r in runs.runs if r.id.startswith(wanted)]
    if not matches:
        matches = named
    if not matches:
        raise RunNotFoundError(ref)
    if len(matches) > 1:
        raise AmbiguousRunError(ref, [r.id for r in matches])
    return matches[0]
