"""`gitrack pull` / `gitrack push`: runs through the git remote, data through the remote cache.

Pull fetches the remote's notes and pins into tracking refs (never force-fetched over the
local ones), merges them (both sides' runs kept, each once, in time order) and fetches the
cache objects the new runs need. Push merges first, pushes without force and retries when
it loses a race with another pusher, then uploads the data the runs reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from gitrack import config
from gitrack.errors import GitrackError
from gitrack.git import Repo
from gitrack.git.cas import TryAgain, retrying
from gitrack.git.refs import NOTES_REF, PINS_REF, NotACommitError
from gitrack.tracking import history, pins
from gitrack.tracking.record import merge_note_texts
from gitrack.tracking.registry.share import pull_tags, push_tags

if TYPE_CHECKING:
    from gitrack.data.known import KnownObjects
    from gitrack.data.remote import CorruptObject, RemoteCache
    from gitrack.data.store import DataStore

PUSH_ATTEMPTS = 8
REFS = (NOTES_REF, PINS_REF)
TRACKING_PREFIX = "refs/gitrack-remotes"


class Workspace(Protocol):
    """What a pull or a push works on, opened once per command (commands' Context)."""

    @property
    def repo(self) -> Repo: ...

    @property
    def settings(self) -> config.Config: ...

    @property
    def store(self) -> DataStore: ...


@dataclass
class SyncReport:
    remote: str
    new_runs: int = 0
    pushed: bool = False
    objects: int = 0  # cache objects uploaded or downloaded
    bytes: int = 0
    tags: int = 0  # registry tags fetched or pushed
    warnings: list[str] = field(default_factory=list)
    local_only: str | None = None  # runs whose data only this machine has, and what to do


def tracking_ref(remote: str, ref: str) -> str:
    """Where the remote's copy of one of our refs is fetched to."""
    leaf = "notes" if ref == NOTES_REF else "pins"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in remote)
    return f"{TRACKING_PREFIX}/{safe}/{leaf}"


def fetch_refspecs(remote: str) -> list[str]:
    """What `gitrack install` adds to ``remote.<name>.fetch``: a plain `git fetch` (and
    `git pull`) then fetches the remote's runs into the tracking refs, never over ours,
    and the reference-transaction hook merges them. A pattern (``*`` matching nothing),
    because a configured refspec naming a ref the remote lacks fails the whole fetch."""
    return [f"+{ref}*:{tracking_ref(remote, ref)}*" for ref in (NOTES_REF, PINS_REF)]


def merge_tracking(repo: Repo, tracking: str) -> bool:
    """Merge one fetched tracking ref into our notes or pins; True if ours moved."""
    prefix, _, rest = tracking.partition(f"{TRACKING_PREFIX}/")
    remote, _, leaf = rest.rpartition("/")
    if prefix or not remote or leaf not in ("notes", "pins"):
        return False
    theirs = repo.refs.target(tracking)
    if theirs is None:
        return False
    ours = NOTES_REF if leaf == "notes" else PINS_REF
    before = repo.refs.target(ours)
    if leaf == "notes":
        repo.notes.merge(ours, theirs, merge_note_texts, f"gitrack: merge runs from {remote}\n")
    else:
        repo.refs.merge_history(ours, theirs, f"gitrack: merge pins from {remote}\n")
    moved = repo.refs.target(ours) != before
    if moved and leaf == "notes":
        from gitrack.tracking import display

        display.refresh(repo)
    return moved


def pull(ws: Workspace, remote: str | None = None, with_data: bool = False) -> SyncReport:
    repo = ws.repo
    remote = remote or repo.transport.default_remote()
    report = SyncReport(remote)
    _repair_pins(repo, report)
    before = {run.id for run in history.load_runs(repo).runs}
    _fetch_and_merge(repo, remote)
    tags = pull_tags(repo, remote)
    report.tags = len(tags.fetched)
    if tags.conflicts:
        report.warnings.append(tags.conflict_message(remote))
    after = history.load_runs(repo)
    new_runs = [run for run in after.runs if run.id not in before]
    report.new_runs = len(new_runs)
    report.warnings.extend(after.warnings)
    if with_data and new_runs:
        _download(ws, new_runs, report)
    return report


def push(
    ws: Workspace, remote: str | None = None, with_data: bool = True, recheck: bool = False
) -> SyncReport:
    """Data first, then the runs. The remote cache is asked only about objects this clone
    has not confirmed there before (data/known.py); ``recheck`` asks about all of them."""
    repo = ws.repo
    remote = remote or repo.transport.default_remote()
    report = SyncReport(remote)
    _repair_pins(repo, report)
    refs = [ref for ref in (NOTES_REF, PINS_REF) if repo.refs.target(ref) is not None]
    if not refs:
        report.warnings.append("no runs recorded yet: nothing to push")
        return report
    if with_data:
        # Data first: a teammate must never get a run whose data is not there yet.
        # Hidden runs too: a teammate may restore one (`gitrack rm --undo`).
        _upload(ws, history.load_runs(repo).everything(), report, recheck)

    def attempt() -> bool:
        _fetch_and_merge(repo, remote)
        if not repo.transport.push(remote, [f"{ref}:{ref}" for ref in refs]):
            raise TryAgain("the remote moved")  # lost a race: merge theirs, retry
        return True

    def give_up(_reason: str) -> GitrackError:
        return GitrackError(
            f"could not push runs to {remote}: it kept moving ({PUSH_ATTEMPTS} attempts); try again"
        )

    report.pushed = retrying(attempt, give_up, PUSH_ATTEMPTS, first_delay=0.05, max_delay=2.0)
    report.tags = len(push_tags(repo, remote).pushed)  # after the runs: tags name them
    return report


def _repair_pins(repo: Repo, report: SyncReport) -> None:
    """Pins a `git gc --prune=now` broke can be neither merged nor pushed: rebuilt first."""
    notice = pins.repair(repo)
    if notice:
        report.warnings.append(notice)


def _fetch_and_merge(repo: Repo, remote: str) -> None:
    found = repo.transport.remote_refs(remote, [NOTES_REF, PINS_REF])
    # A remote ref already in ours (say, what our last push left there) brings nothing:
    # no fetch, no merge (the usual push of a new run).
    present = {ref: oid for ref, oid in found.items() if not repo.refs.contains(ref, oid)}
    if not present:
        return
    repo.transport.fetch(remote, [f"+{ref}:{tracking_ref(remote, ref)}" for ref in present])
    # Both checked before either is merged: a remote gone wrong changes nothing here.
    for ref in REFS:
        if ref in present:
            _their_tip(repo, remote, ref)
    for ref in present:
        merge_tracking(repo, tracking_ref(remote, ref))


def _their_tip(repo: Repo, remote: str, ref: str) -> str | None:
    """The commit the remote's ``ref`` points at (as fetched), refusing anything else:
    a blob or a tree there holds no runs, and gitrack never forces over it."""
    try:
        return repo.refs.target(tracking_ref(remote, ref))
    except NotACommitError as exc:
        raise GitrackError(
            f"remote {remote!r}: its {ref} points at a {exc.kind} ({exc.target[:12]}), not a "
            "commit, so it holds no runs to merge (nothing was changed here); fix that ref on "
            f"the remote, e.g. delete it if nothing else uses it (git push {remote} :{ref}), "
            "then try again"
        ) from exc


def run_objects(runs: Iterable[history.Run]) -> list[str]:
    """Every data hash a set of runs refers to (directory hashes: their manifests)."""
    out: list[str] = []
    for run in runs:
        rec = run.record
        out += [*rec.datasets.values(), *rec.outputs.values(), *rec.large_files.values()]
    return out


def _download(ws: Workspace, runs: list[history.Run], report: SyncReport) -> None:
    from gitrack.data.remote import RemoteCache
    from gitrack.tracking.cache_folder import writable_cache_root

    settings, wanted = ws.settings, run_objects(runs)
    if settings.remote is None or not wanted:
        return
    writable_cache_root(ws.repo, settings.cache)  # created, writable, not snapshotted
    remote = RemoteCache(settings.remote, ws.repo.root)
    fetched = fetch_objects(ws.store, remote, wanted, known_objects(ws.repo, remote.url))
    report.objects, report.bytes = fetched.count, fetched.bytes
    report.warnings.extend(found.message for found in fetched.corrupt)
    if fetched.missing:
        report.warnings.append(
            f"{len(fetched.missing)} data object(s) of the new runs are not in the remote "
            f"cache {remote.url} (e.g. {fetched.missing[0]}); checkout of those runs will "
            "need them"
        )


@dataclass(frozen=True)
class Fetched:
    count: int  # objects downloaded, verified and stored
    bytes: int
    missing: list[str]  # hashes the remote cache does not have
    corrupt: list[CorruptObject]  # remote objects that failed verification: not stored


def known_objects(repo: Repo, url: str) -> KnownObjects:
    """This clone's record of what the remote cache at ``url`` holds (data/known.py).

    Kept in the git common dir, so shared by linked worktrees: keyed by what ``url``
    names from this worktree (a relative folder is another folder in each), never by
    its text alone."""
    from gitrack.data.known import KnownObjects
    from gitrack.data.remote import location

    return KnownObjects(repo.common_dir / "gitrack" / "remotes", location(url, repo.root))


def fetch_objects(
    store: DataStore, remote: RemoteCache, wanted: list[str], known: KnownObjects | None = None
) -> Fetched:
    """Download manifests first (they name the files), then the files, all verified.

    A missing or corrupt object is not an error here: every other object is still
    fetched, and the result names the ones that were not (a checkout that needs them
    fails on them); ``known`` forgets them, so the next push checks them again, and
    records the ones downloaded (they are in the remote), so it does not.
    """
    from gitrack.data import hashing
    from gitrack.data.gc import referenced_objects

    wanted = [h for h in wanted if hashing.is_valid(h)]  # forged ones never reach the remote
    manifests = [h for h in wanted if hashing.is_dir_hash(h)]
    first = remote.download(store.cache, manifests)
    unusable = {*first.missing, *(found.hash for found in first.corrupt)}
    present = [h for h in wanted if h not in unusable]
    files, _unreadable = referenced_objects(store.cache, present)
    second = remote.download(store.cache, files)
    if known is not None:
        known.forget(
            [*first.missing, *second.missing, *(c.hash for c in [*first.corrupt, *second.corrupt])]
        )
        known.add([*first.fetched, *second.fetched])
    return Fetched(
        first.count + second.count,
        first.bytes + second.bytes,
        sorted({*first.missing, *second.missing}),
        [*first.corrupt, *second.corrupt],
    )


def _upload(ws: Workspace, runs: list[history.Run], report: SyncReport, recheck: bool) -> None:
    """Upload what the remote cache may lack. Data this clone confirmed there before is
    skipped without a look (a folder confirmed whole: without reading its manifest), so
    a push costs what is new; each object is recorded only once it is there."""
    from gitrack.data import hashing
    from gitrack.data.known import unconfirmed

    if ws.settings.remote is None:
        report.local_only = _local_only(ws, runs)
        if report.local_only:
            report.warnings.append(report.local_only)
        return
    known = known_objects(ws.repo, ws.settings.remote.url)
    if recheck:
        known.restart()  # rebuilt from what this push confirms, not appended to
    confirmed = known.load()
    hashes = {h for h in run_objects(runs) if hashing.is_valid(h)}  # forged ones: never sent
    if hashes <= confirmed:
        return  # nothing new: no store, no remote, not even pyarrow
    todo = unconfirmed(ws.store.cache, hashes, confirmed)
    report.warnings.extend(todo.warnings)
    missing: tuple[str, ...] = ()
    if todo.files or todo.manifests:
        from gitrack.data.remote import RemoteCache

        remote = RemoteCache(ws.settings.remote, ws.repo.root)
        # A current record: what it does not list is most likely new (made since).
        likely_new = bool(confirmed)
        sent = remote.upload(ws.store.cache, todo.files, known.add, todo.manifests, likely_new)
        report.objects, report.bytes, missing = sent.count, sent.bytes, sent.missing
    if not missing:  # every object of these folders is confirmed: each is there whole
        known.add(todo.folders)
    not_local = todo.not_local + len(missing)
    if not_local:
        report.warnings.append(
            f"{not_local} object(s) the runs reference are not in the local cache "
            "and were not uploaded"
        )


def _local_only(ws: Workspace, runs: list[history.Run]) -> str | None:
    """With no team cache configured: how many runs reference data that is in this
    machine's cache (so only here), and how to share it. None if there are none."""
    from gitrack.data import hashing
    from gitrack.data.layout import cache_root
    from gitrack.data.odb import Cache

    repo = ws.repo
    cache = Cache(cache_root(repo.common_dir, ws.settings.cache, repo.root))
    count = sum(
        1
        for run in runs
        if any(hashing.is_valid(h) and cache.exists(h) for h in run_objects([run]))
    )
    if not count:
        return None
    return (
        f"{count} run(s) reference data that only this machine has (no team cache is "
        "configured): a teammate's checkout of them will fail. Configure one in gitrack.toml, "
        '[remote] url = "s3://bucket/prefix" (or gs://…, a shared folder; in pyproject.toml '
        "[tool.gitrack.remote]), then gitrack push"
    )
