"""`gitrack fsck`: check gitrack's own state, as `git fsck` checks git's objects.

A run can be restored when: its note line parses; its snapshot is in the repository,
is a commit on the run's base commit, and is pinned (reachable from refs/gitrack/pins,
so `git gc` keeps it); the cache objects its datasets, outputs and large files name are
present (and, with ``verify_data``, hash to their names), folder manifests and their
files included; its step-metric and package-list blobs are present. With a remote
cache, the runs on the git remote must have their data there too, or a teammate cannot
check them out. The integrity of git's own objects is `git fsck`'s job, not this one's.

Repairs only do what cannot lose anything: pin a snapshot that exists but is not pinned,
remove temporary files the cache left more than an hour ago (a run still writing one
is younger), and fetch missing objects from the remote cache (verified by hash).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitrack.data import gc, hashing
from gitrack.data.manifest import Manifest
from gitrack.data.odb import Cache
from gitrack.errors import CorruptRecordError, GitrackError
from gitrack.git import Repo
from gitrack.git.refs import NOTES_REF, PINS_REF, stale_lock
from gitrack.tracking.edits import has_type, is_typed_line
from gitrack.tracking.pins import pinned_files
from gitrack.tracking.record import RunRecord, parse_committed_line

if TYPE_CHECKING:
    from gitrack.config import RemoteSettings
    from gitrack.data.store import DataStore

_OBJECT_ID = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z").match
_SHOWN_RUNS = 3


@dataclass(frozen=True)
class Problem:
    kind: str  # bad-line, missing-snapshot, unpinned-snapshot, missing-object, ...
    message: str  # one line: what is wrong, with which runs, and how to fix it
    runs: tuple[str, ...] = ()
    repairable: bool = False  # --repair can fix it
    subject: str = ""  # what a repair acts on: a snapshot id, a hash, a file path

    def to_public(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "runs": list(self.runs),
            "repairable": self.repairable,
        }


@dataclass
class FsckReport:
    runs_checked: int = 0
    objects_checked: int = 0  # distinct cache objects looked at (manifests and files)
    problems: list[Problem] = field(default_factory=list)
    repaired: list[Problem] = field(default_factory=list)  # found, then fixed by --repair
    repairs: list[str] = field(default_factory=list)  # what --repair did, one line each

    @property
    def remaining(self) -> list[Problem]:
        fixed = set(self.repaired)
        return [p for p in self.problems if p not in fixed]

    @property
    def ok(self) -> bool:
        return not self.remaining

    def summary(self) -> str:
        checked = f"checked {self.runs_checked} run(s) and {self.objects_checked} cache object(s)"
        fixed = f", {len(self.repaired)} repaired" if self.repaired else ""
        left = self.remaining
        if not left:
            return f"{checked}: no problems{fixed}"
        return f"{checked}: {len(left)} problem(s){fixed}"

    def to_public(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "runs_checked": self.runs_checked,
            "objects_checked": self.objects_checked,
            "problems": [p.to_public() for p in self.remaining],
            "repaired": [p.to_public() for p in self.repaired],
            "repairs": list(self.repairs),
        }


def check(
    repo: Repo,
    store: DataStore,
    remote: RemoteSettings | None,
    *,
    verify_data: bool = False,
    check_remote: bool = False,
    repair: bool = False,
) -> FsckReport:
    """Every check; with ``repair``, then the safe repairs (the report says which)."""
    if check_remote and remote is None:
        raise GitrackError(
            "--remote: no remote cache is configured; add [remote] url = ... to the config"
        )
    report = FsckReport()
    runs = read_runs(repo, NOTES_REF, report.problems)
    report.runs_checked = len(runs)
    _check_snapshots(repo, runs, report)
    _check_blobs(repo, runs, report)
    _check_cache(store.cache, runs, verify_data, remote is not None, report)
    _check_temp_files(store.cache, report)
    _check_locks(repo, report)
    if check_remote:
        assert remote is not None
        _check_remote(repo, store, remote, report)
    if repair:
        _repair(repo, store, remote, runs, report)
    return report


# ------------------------------------------------------------------------ notes
def read_runs(repo: Repo, refname: str, problems: list[Problem] | None) -> dict[str, RunRecord]:
    """Every run in a notes ref, by id (a run copied by a rewrite counts once).

    Parses every line afresh (no notes cache: it is derived data, the thing to check).
    Lines that are neither runs nor typed lines (``committed``, edits) go to ``problems``.
    """
    runs: dict[str, RunRecord] = {}
    for commit, blob in sorted(repo.notes.blobs(refname)):
        try:
            text = repo.notes.read_text(blob)
        except (KeyError, ValueError, GitrackError) as exc:
            _add(problems, "unreadable-note", f"note on commit {commit[:12]}: {exc}")
            continue
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip() or parse_committed_line(line) is not None:
                continue
            if is_typed_line(line) and has_type(line):
                continue  # an edit line (tracking/edits.py) or a later line type: not a run
            try:
                record = RunRecord.from_line(line)
            except (ValueError, TypeError, OverflowError) as exc:
                _add(
                    problems,
                    "bad-line",
                    f"commit {commit[:12]} line {number}: not a gitrack run ({exc}); "
                    "`gitrack ls` skips it (remove it with `git notes --ref=gitrack edit "
                    f"{commit[:12]}` unless another tool wrote it)",
                )
                continue
            runs.setdefault(record.id, record)
    return runs


def _add(
    problems: list[Problem] | None, kind: str, message: str, runs: tuple[str, ...] = ()
) -> None:
    if problems is not None:
        problems.append(Problem(kind, message, runs))


# -------------------------------------------------------------------- snapshots
def _check_snapshots(repo: Repo, runs: dict[str, RunRecord], report: FsckReport) -> None:
    present: dict[str, list[str]] = {}  # snapshot -> runs
    for rec in _in_time_order(runs):
        problem = _snapshot_problem(repo, rec)
        if problem is not None:
            report.problems.append(problem)
        else:
            present.setdefault(rec.snapshot, []).append(rec.id)
    pinned = repo.reachable_from(PINS_REF, present)
    for snapshot, ids in present.items():
        if snapshot not in pinned:
            report.problems.append(
                Problem(
                    "unpinned-snapshot",
                    f"{_who(ids)}: snapshot {snapshot[:12]} is not pinned by {PINS_REF}, "
                    "so `git gc` may delete it; `gitrack fsck --repair` pins it",
                    tuple(ids),
                    repairable=True,
                    subject=snapshot,
                )
            )


def _snapshot_problem(repo: Repo, rec: RunRecord) -> Problem | None:
    who, ids = _who([rec.id]), (rec.id,)
    if not _OBJECT_ID(rec.snapshot):
        return Problem("bad-snapshot", f"{who}: snapshot {rec.snapshot!r} is not an object id", ids)
    if not repo.has_object(rec.snapshot):
        return Problem(
            "missing-snapshot",
            f"{who}: snapshot {rec.snapshot[:12]} is missing from this repository; fetch "
            "gitrack's refs from a clone that has it (gitrack pull)",
            ids,
        )
    try:
        parents = repo.commit_info(rec.snapshot).parents
    except CorruptRecordError:
        return Problem("bad-snapshot", f"{who}: snapshot {rec.snapshot[:12]} is not a commit", ids)
    if parents[:1] != (rec.base_commit,):
        return Problem(
            "bad-snapshot",
            f"{who}: snapshot {rec.snapshot[:12]} is not a commit on the run's base commit "
            f"{rec.base_commit[:12]}; `gitrack checkout` refuses this run",
            ids,
        )
    return None


# ----------------------------------------------------------------------- blobs
def _check_blobs(repo: Repo, runs: dict[str, RunRecord], report: FsckReport) -> None:
    """The step metrics and package list: git blobs the note names, pinned with the run."""
    for rec in _in_time_order(runs):
        named = [("step metrics", rec.metric_history), ("package list", rec.env.get("packages"))]
        for what, blob in named:
            if blob and not repo.has_object(blob):
                kind = "missing-history" if what == "step metrics" else "missing-packages"
                report.problems.append(
                    Problem(
                        kind,
                        f"{_who([rec.id])}: its {what} (blob {blob[:12]}) are missing from "
                        "this repository; fetch gitrack's refs from a clone that has them "
                        "(gitrack pull)",
                        (rec.id,),
                    )
                )


# ----------------------------------------------------------------------- cache
@dataclass
class _Use:
    """Who references a cache object: the first place it was seen, and every run."""

    label: str
    runs: list[str] = field(default_factory=list)


def _referenced(runs: dict[str, RunRecord], problems: list[Problem] | None) -> dict[str, _Use]:
    """hash -> its use, for every data hash the runs name; invalid hashes to ``problems``."""
    uses: dict[str, _Use] = {}
    for rec in _in_time_order(runs):
        named = ("dataset", rec.datasets), ("output", rec.outputs)
        for what, items in (*named, ("large file", rec.large_files)):
            for path, digest in sorted(items.items()):
                if not hashing.is_valid(digest):
                    _add(
                        problems,
                        "bad-hash",
                        f"{_who([rec.id])}: {what} {path!r} names {digest!r}, "
                        "which is not an xxh128 hash",
                        (rec.id,),
                    )
                    continue
                _add_use(uses, digest, f"{what} {path!r}", [rec.id])
    return uses


def _add_use(uses: dict[str, _Use], digest: str, label: str, runs: list[str]) -> None:
    use = uses.setdefault(digest, _Use(label))
    use.runs += [r for r in runs if r not in use.runs]


def _check_cache(
    cache: Cache,
    runs: dict[str, RunRecord],
    verify_data: bool,
    can_fetch: bool,
    report: FsckReport,
) -> None:
    uses = _referenced(runs, report.problems)
    files: dict[str, _Use] = {}
    for digest, use in uses.items():
        if hashing.is_dir_hash(digest):
            manifest = _manifest(cache, digest, use, can_fetch, report.problems)
            for entry in manifest.files if manifest is not None else ():
                _add_use(files, entry.hash, f"{use.label} file {entry.path!r}", use.runs)
        else:
            _add_use(files, digest, use.label, use.runs)
    for digest, use in files.items():
        problem = _file_problem(cache, digest, use, verify_data, can_fetch)
        if problem is not None:
            report.problems.append(problem)
    manifests = {h for h in uses if hashing.is_dir_hash(h)}
    report.objects_checked = len(manifests) + len(files)


def _manifest(
    cache: Cache, digest: str, use: _Use, can_fetch: bool, problems: list[Problem]
) -> Manifest | None:
    if not cache.exists(digest):
        problems.append(_missing(cache, digest, use, can_fetch))
        return None
    try:
        return Manifest.from_bytes(cache.read_verified(digest))
    except GitrackError as exc:  # corrupt: its bytes do not hash to its name
        problems.append(
            Problem(
                "corrupt-object",
                f"{_who(use.runs)}: {use.label}: {exc}; delete it, then {_refetch_hint(can_fetch)}",
                tuple(use.runs),
            )
        )
    except ValueError as exc:
        problems.append(
            Problem(
                "bad-manifest",
                f"{_who(use.runs)}: {use.label}: manifest {digest} is not valid ({exc})",
                tuple(use.runs),
            )
        )
    return None


def _file_problem(
    cache: Cache, digest: str, use: _Use, verify_data: bool, can_fetch: bool
) -> Problem | None:
    if not cache.exists(digest):
        return _missing(cache, digest, use, can_fetch)
    if not verify_data:
        return None
    path = cache.path_for(digest)
    try:
        actual = hashing.hash_file(path)
    except OSError as exc:
        actual = f"unreadable: {exc.strerror or exc}"
    if actual == digest:
        return None
    return Problem(
        "corrupt-object",
        f"{_who(use.runs)}: {use.label}: cache object {path} is corrupt (content "
        f"{actual}, expected {digest}); delete it, then {_refetch_hint(can_fetch)}",
        tuple(use.runs),
    )


def _missing(cache: Cache, digest: str, use: _Use, can_fetch: bool) -> Problem:
    return Problem(
        "missing-object",
        f"{_who(use.runs)}: {use.label}: cache object {digest} is missing from "
        f"{cache.root}; {_refetch_hint(can_fetch)}",
        tuple(use.runs),
        repairable=can_fetch,
        subject=digest,
    )


def _refetch_hint(can_fetch: bool) -> str:
    if can_fetch:
        return "`gitrack fsck --repair` fetches it from the remote cache"
    return "re-create the data, or configure a [remote] cache and run `gitrack fsck --repair`"


# ------------------------------------------------------------------ leftovers
def _check_temp_files(cache: Cache, report: FsckReport) -> None:
    """Temp files of cache writes that never finished (a killed run, a full disk): those
    `gitrack gc` would remove too (gc.stale_temps); what is not gitrack's stays alone."""
    for path in _stale_temp_files(cache):
        report.problems.append(
            Problem(
                "stale-temp",
                f"cache: {path} is a temporary file left by an interrupted write more than "
                f"{gc.describe_grace(gc.TEMP_MIN_AGE_S)} ago; `gitrack fsck --repair` removes it",
                repairable=True,
                subject=str(path),
            )
        )


def _stale_temp_files(cache: Cache) -> list[Path]:
    return [temp.path for temp in gc.stale_temps(cache)]


def _check_locks(repo: Repo, report: FsckReport) -> None:
    """A lock file left on gitrack's refs blocks every run from being recorded: stale by
    the limit `gitrack run` applies (gitrack.git.refs.stale_lock), with its message."""
    for refname in (NOTES_REF, PINS_REF):
        problem = stale_lock(repo.common_dir, refname)
        if problem is not None:
            report.problems.append(Problem("stale-lock", str(problem)))


# ---------------------------------------------------------------------- remote
def _check_remote(
    repo: Repo, store: DataStore, settings: RemoteSettings, report: FsckReport
) -> None:
    """The team's cache holds the data of every run on the git remote.

    A folder whose manifest is not in the local cache is checked by its manifest only
    (the local check reports it missing; fetch it, then check again).
    """
    from gitrack.data.remote import RemoteCache

    pushed = _pushed_runs(repo)
    uses = _referenced(pushed, None)
    wanted = {digest: _Use(use.label, list(use.runs)) for digest, use in uses.items()}
    for digest, use in uses.items():
        if hashing.is_dir_hash(digest) and store.cache.exists(digest):
            try:
                manifest = Manifest.from_bytes(store.cache.read_verified(digest))
            except (GitrackError, ValueError):
                continue  # reported by the local check
            for entry in manifest.files:
                _add_use(wanted, entry.hash, f"{use.label} file {entry.path!r}", use.runs)
    remote = RemoteCache(settings, repo.root)
    missing = remote.missing(wanted)
    from gitrack.tracking.sync import known_objects

    known_objects(repo, remote.url).forget(missing)  # so that `gitrack push` uploads them
    for digest in missing:
        use = wanted[digest]
        fix = (
            "upload it with `gitrack push`"
            if store.cache.exists(digest)
            else "it is not in the local cache either: re-create the data"
        )
        report.problems.append(
            Problem(
                "missing-remote-object",
                f"{_who(use.runs)}: {use.label}: object {digest} is missing from the remote "
                f"cache {remote.url}, so teammates cannot restore it; {fix}",
                tuple(use.runs),
            )
        )


def _pushed_runs(repo: Repo) -> dict[str, RunRecord]:
    """The runs in the git remote's notes, fetched into the tracking ref as pull does."""
    from gitrack.tracking.sync import tracking_ref

    name = repo.transport.default_remote()
    present = repo.transport.remote_refs(name, [NOTES_REF])
    if NOTES_REF not in present:
        return {}
    tracking = tracking_ref(name, NOTES_REF)
    if repo.refs.target(tracking) != present[NOTES_REF]:
        repo.transport.fetch(name, [f"+{NOTES_REF}:{tracking}"])
    return read_runs(repo, tracking, None)


# ---------------------------------------------------------------------- repair
def _repair(
    repo: Repo,
    store: DataStore,
    remote: RemoteSettings | None,
    runs: dict[str, RunRecord],
    report: FsckReport,
) -> None:
    _pin_snapshots(repo, runs, report)
    _remove_temp_files(store.cache, report)
    if remote is not None:
        _fetch_missing(repo, store, remote, report)


def _pin_snapshots(repo: Repo, runs: dict[str, RunRecord], report: FsckReport) -> None:
    """One pin commit per run, as `gitrack run` makes it (package list and step metrics)."""
    for problem in [p for p in report.problems if p.kind == "unpinned-snapshot"]:
        for run_id in problem.runs:
            tree = repo.tree_from_blobs(pinned_files(repo, runs[run_id]))
            message = f"gitrack: pin run {run_id}\n"
            repo.refs.append_to_chain(PINS_REF, [problem.subject], tree, message)
        report.repaired.append(problem)
        report.repairs.append(
            f"pinned snapshot {problem.subject[:12]} of {_who(list(problem.runs))}"
        )


def _remove_temp_files(cache: Cache, report: FsckReport) -> None:
    stale = {str(p) for p in _stale_temp_files(cache)}  # still stale now: nobody writes it
    for problem in [p for p in report.problems if p.kind == "stale-temp"]:
        if problem.subject in stale:
            Path(problem.subject).unlink(missing_ok=True)
            report.repaired.append(problem)
            report.repairs.append(f"removed stale temporary file {problem.subject}")


def _fetch_missing(
    repo: Repo, store: DataStore, settings: RemoteSettings, report: FsckReport
) -> None:
    from gitrack.data.remote import RemoteCache
    from gitrack.tracking.sync import fetch_objects

    missing = [p for p in report.problems if p.kind == "missing-object"]
    if not missing:
        return
    remote = RemoteCache(settings, repo.root)
    try:
        result = fetch_objects(store, remote, [p.subject for p in missing])
    except GitrackError as exc:
        report.repairs.append(f"could not fetch missing objects: {exc}")
        return
    fetched = [p for p in missing if store.cache.exists(p.subject)]
    report.repaired.extend(fetched)
    if result.count:
        report.repairs.append(
            f"fetched {result.count} object(s) ({result.bytes} bytes) from the remote cache "
            f"{remote.url}"
        )
    for corrupt in result.corrupt:
        report.repairs.append(f"could not fetch: {corrupt.message}")


# --------------------------------------------------------------------- helpers
def _in_time_order(runs: dict[str, RunRecord]) -> list[RunRecord]:
    return sorted(runs.values(), key=lambda r: (r.started, r.id))


def _who(run_ids: Iterable[str]) -> str:
    ids = list(run_ids)
    if len(ids) == 1:
        return f"run {ids[0]}"
    shown = ", ".join(ids[:_SHOWN_RUNS])
    more = f" (+{len(ids) - _SHOWN_RUNS} more)" if len(ids) > _SHOWN_RUNS else ""
    return f"runs {shown}{more}"
