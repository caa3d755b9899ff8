"""Reading runs back: every note line of refs/notes/gitrack, one Run per run id."""

from __future__ import annotations

import json
import marshal
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from gitrack.errors import AmbiguousRunError, RunNotFoundError, UsageError
from gitrack.git import Repo
from gitrack.git.refs import NOTES_REF
from gitrack.tracking.notecache import Item, NoteCache, full_item, record_of
from gitrack.tracking.record import RunRecord

MIN_PREFIX = 4


class Run:
    """A run and the commit whose note holds it (after a rewrite: the new commit).

    Listing thousands of runs needs only ids, times and their JSON: the full record is
    built on first use (from the note cache's marshalled fields).
    """

    __slots__ = (
        "_fields",
        "_public",
        "_record",
        "_source",
        "base_commit",
        "commit",
        "id",
        "started",
    )

    def __init__(self, record: RunRecord, commit: str, public_text: str | None = None) -> None:
        self._record: RunRecord | None = record
        self._fields: bytes | None = None
        self._source: Callable[[], Item] | None = None
        self.commit = commit
        self._public = public_text  # the run's JSON without "commit"
        self.id = record.id
        self.started = record.started
        self.base_commit = record.base_commit

    @classmethod
    def lazy(cls, commit: str, summary: tuple[str, str, str], source: Callable[[], Item]) -> Run:
        """A run known by its summary; ``source()`` gives its full note-cache item (JSON
        and fields) when first needed: `ls -n 10` reads ten, not all."""
        run = cls.__new__(cls)
        run._record, run._fields, run._public, run._source = None, None, None, source
        run.commit = commit
        run.id, run.started, run.base_commit = summary
        return run

    @classmethod
    def loaded(
        cls, commit: str, summary: tuple[str, str, str], public_text: str, fields: bytes
    ) -> Run:
        """A run whose JSON and fields are at hand (a full listing)."""
        run = cls.__new__(cls)
        run._record, run._fields, run._public, run._source = None, fields, public_text, None
        run.commit = commit
        run.id, run.started, run.base_commit = summary
        return run

    def _fill(self) -> None:
        if self._source is not None:
            item = self._source()
            self._public, self._fields, self._source = item[2], item[3], None

    @property
    def public_text(self) -> str | None:
        self._fill()
        return self._public

    @property
    def record(self) -> RunRecord:
        if self._record is None:
            self._fill()
            assert self._fields is not None
            self._record = record_of(marshal.loads(self._fields))
        return self._record

    def public_json(self) -> str:
        """The run as `ls --json` prints it, compact."""
        text = self.public_text
        if text is None:
            return json.dumps(
                self.record.to_public(self.commit), ensure_ascii=False, separators=(",", ":")
            )
        return f'{{"commit":"{self.commit}",{text[1:]}'

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and (self.id, self.commit) == (other.id, other.commit)

    def __hash__(self) -> int:
        return hash((self.id, self.commit))

    def __repr__(self) -> str:
        return f"Run({self.id!r}, commit={self.commit[:10]!r})"


@dataclass
class Runs:
    runs: list[Run]  # newest first
    warnings: list[str] = field(default_factory=list)
    committed_as: dict[str, list[str]] = field(default_factory=dict)  # run id -> commits


def load_runs(repo: Repo, few: bool = False) -> Runs:
    """All runs in the repository, newest first, each once.

    ``few``: the caller will look at a few of them only (`ls -n 10`): each run's JSON
    and fields are read when first used, from its note blob, not from the big cache.

    After `commit --amend` or a rebase, git copies a note to the new commit and leaves
    the old copy: the run then sits on two commits, and is shown on the one it now
    belongs to.
    """
    path = repo.common_dir / "gitrack" / "notes.cache"
    try:
        by_id, warnings, committed_as = _collect(repo, NoteCache(path), few)
    except (IndexError, TypeError, ValueError):
        # A cache file damaged in a way its key check missed: parse everything afresh.
        by_id, warnings, committed_as = _collect(repo, NoteCache(path, trusted=False), few)
    runs = [_pick_current(repo, copies) for copies in by_id.values()]
    runs.sort(key=lambda r: (r.started, r.id), reverse=True)
    return Runs(runs, warnings, committed_as)


def _collect(
    repo: Repo, cache: NoteCache, few: bool
) -> tuple[dict[str, list[Run]], list[str], dict[str, list[str]]]:
    by_id: dict[str, list[Run]] = {}
    warnings: list[str] = []
    committed_as: dict[str, list[str]] = {}
    read = repo.notes.read_text
    tip = repo.notes.tip(NOTES_REF)
    notes = _current_notes(repo, cache, tip)
    cache.set_notes(tip, notes)
    for commit, blob in notes.items():
        items = cache.light_items(blob, read) if few else cache.items(blob, read)
        for position, item in enumerate(items):
            if item[0] == "run":
                if few:
                    run = Run.lazy(commit, item[1], partial(full_item, cache, blob, position, read))
                else:
                    run = Run.loaded(commit, item[1], item[2], item[3])
                by_id.setdefault(run.id, []).append(run)
            elif item[0] == "committed":
                committed_as.setdefault(item[1], []).append(commit)
            else:
                warnings.append(
                    f"skipped note line {item[1]} on commit {commit[:10]}: "
                    f"not a gitrack run ({item[2]})"
                )
    cache.save()
    return by_id, sorted(warnings), committed_as


def _current_notes(repo: Repo, cache: NoteCache, tip: str | None) -> dict[str, str]:
    """annotated commit -> note blob at ``tip``: the cached table if the ref has not moved,
    else the cached table updated by a diff of the two notes trees, else a tree walk."""
    if tip is None:
        return {}
    if cache.tip == tip:
        return cache.notes
    if cache.tip is not None:
        changes = repo.notes.changed_blobs(cache.tip, tip)
        if changes is not None:
            notes = dict(cache.notes)
            for commit, blob in changes:
                if blob is None:
                    notes.pop(commit, None)
                else:
                    notes[commit] = blob
            return notes
    return dict(repo.notes.blobs(NOTES_REF))


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
