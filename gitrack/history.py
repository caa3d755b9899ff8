"""Reading runs back: every note line of refs/notes/gitrack, one Run per run id."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from gitrack.errors import AmbiguousRunError, RunNotFoundError, UsageError
from gitrack.git import Repo
from gitrack.notecache import NoteCache, record_of
from gitrack.record import RunRecord
from gitrack.refs import NOTES_REF

MIN_PREFIX = 4


@dataclass(frozen=True)
class Run:
    record: RunRecord
    commit: str  # the commit whose note holds the run (after a rewrite: the new commit)
    public_text: str | None = field(default=None, compare=False)  # JSON without "commit"

    @property
    def id(self) -> str:
        return self.record.id

    def public_json(self) -> str:
        """The run as `ls --json` prints it, compact."""
        if self.public_text is None:
            return json.dumps(
                self.record.to_public(self.commit), ensure_ascii=False, separators=(",", ":")
            )
        return f'{{"commit":"{self.commit}",{self.public_text[1:]}'


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
    cache = NoteCache(repo.common_dir / "gitrack" / "notes.cache")
    for commit, blob in repo.note_blobs(NOTES_REF):
        for item in cache.items(blob, repo.read_text):
            if item[0] == "run":
                record = record_of(item[1])
                by_id.setdefault(record.id, []).append(Run(record, commit, item[2]))
            elif item[0] == "committed":
                committed_as.setdefault(item[1], []).append(commit)
            else:
                warnings.append(
                    f"skipped note line {item[1]} on commit {commit[:10]}: "
                    f"not a gitrack run ({item[2]})"
                )
    cache.save()
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
