"""`gitrack checkout`: bring back a run's exact working state, then prove it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitrack.config import RemoteSettings
from gitrack.errors import CorruptRecordError, DirtyWorktreeError, GitrackError, VerificationError
from gitrack.git import HeadState, Repo
from gitrack.paths import check_relative
from gitrack.tracking.history import Run

if TYPE_CHECKING:
    from gitrack.data.store import DataStore


@dataclass
class CheckoutResult:
    root: Path  # where the run was restored (the repository, or the new worktree)
    commit: str  # HEAD is detached here
    changed: int  # files that differ from that commit (uncommitted edits, untracked files)
    warnings: list[str] = field(default_factory=list)
    data_paths: int = 0  # datasets, outputs and big files restored and verified
    data_files_written: int = 0


def checkout_run(
    repo: Repo,
    run: Run,
    worktree: Path | None = None,
    with_data: bool = True,
    cache_setting: str | None = None,
    remote: RemoteSettings | None = None,
) -> CheckoutResult:
    base, tree = _snapshot_of(repo, run)
    rec = run.record
    items = {**rec.large_files, **rec.datasets, **rec.outputs} if with_data else {}
    not_cached = set(rec.untracked_skipped) - set(rec.large_files if with_data else {})
    warnings = [
        f"untracked file {p!r} was over the size limit when the run was recorded; not restored"
        for p in sorted(not_cached)
    ]
    target_root = worktree.resolve() if worktree is not None else repo.root
    store = _data_store(repo, target_root, cache_setting) if items else None
    if store is not None:
        fetch_missing(store, items, remote, repo.root)
        store.check_restorable(items)  # before anything changes: paths safe, objects present
    if worktree is not None:
        result = _into_new_worktree(repo, base, tree, worktree, warnings)
    else:
        result = _in_place(repo, base, tree, warnings)
    if store is not None:
        try:
            result.data_files_written = sum(store.restore(p, h) for p, h in items.items())
        except GitrackError as exc:
            raise GitrackError(
                f"the code was restored in {result.root}, but not all data: {exc}"
            ) from exc
        finally:
            result.warnings.extend(_preserved_notice(store.preserved))
        result.data_paths = len(items)
    return result


def _preserved_notice(preserved: list[tuple[str, str]]) -> list[str]:
    if not preserved:
        return []
    shown = ", ".join(path for path, _ in preserved[:5]) + (" …" if len(preserved) > 5 else "")
    return [
        f"replaced or removed {len(preserved)} data file(s) the run did not have ({shown}); "
        "copies are in the cache (listed in its preserved/ folder; gitrack gc keeps them "
        "30 days)"
    ]


def fetch_missing(
    store: DataStore, items: dict[str, str], remote: RemoteSettings | None, config_root: Path
) -> None:
    """Objects the local cache lacks come from the team's cache, verified, if there is one."""
    if remote is None:
        return
    from gitrack.data.remote import RemoteCache
    from gitrack.tracking.sync import fetch_objects

    missing = store.missing_objects(items)
    if missing:
        cache = RemoteCache(remote, config_root)
        fetch_objects(store, cache, [digest for _, digest in missing])


def _data_store(repo: Repo, root: Path, cache_setting: str | None) -> DataStore:
    from gitrack.data.store import DataStore

    return DataStore.open(root, repo.common_dir, cache_setting, config_root=repo.root)


def _snapshot_of(repo: Repo, run: Run) -> tuple[str, str]:
    """(base commit, snapshot tree), checked: the note is untrusted input."""
    _check_hex(run)
    if not repo.has_object(run.record.snapshot):
        raise CorruptRecordError(
            f"run {run.id}: its snapshot {run.record.snapshot[:12]} is not in this repository "
            "(never fetched, or removed by a `git gc --prune=now` that raced the run), so its "
            "code cannot be restored; if a teammate has it, fetch gitrack's refs (gitrack pull, "
            "or git fetch origin 'refs/gitrack/*:refs/gitrack/*')"
        )
    snap = repo.commit_info(run.record.snapshot)
    if snap.parents[:1] != (run.record.base_commit,):
        raise CorruptRecordError(
            f"run {run.id}: snapshot {snap.id[:12]} is not based on commit "
            f"{run.record.base_commit[:12]}; the note is inconsistent, refusing to restore it"
        )
    _check_snapshot_paths(repo, snap.tree)
    return run.record.base_commit, snap.tree


def _check_hex(run: Run) -> None:
    for value in (run.record.snapshot, run.record.base_commit):
        if len(value) not in (40, 64):
            raise CorruptRecordError(f"run {run.id}: {value!r} is not a full object id")


def _in_place(repo: Repo, base: str, tree: str, warnings: list[str]) -> CheckoutResult:
    pending = repo.pending_changes()
    if pending:
        raise DirtyWorktreeError(pending)
    previous = repo.head()
    current_tree = repo.commit_info(previous.commit).tree
    base_tree = repo.commit_info(base).tree
    # Both steps write files HEAD does not track: the base commit's, then the snapshot's.
    clobbered = sorted(
        {*_ignored_files_in_the_way(repo, current_tree, base_tree),
         *_ignored_files_in_the_way(repo, current_tree, tree)}
    )  # fmt: skip
    if clobbered:
        raise DirtyWorktreeError(clobbered, what="ignored files")
    added = sorted(
        {c.path for t in (base_tree, tree) for c in repo.tree_changes(current_tree, t)
         if c.status == "added"}
    )  # fmt: skip
    try:
        repo.checkout_detached(base)
        repo.write_tree_to_worktree(tree)
        changed = verify(repo, base, tree)
    except BaseException as exc:
        _roll_back(repo, previous, added)
        if isinstance(exc, GitrackError):
            raise GitrackError(f"{exc} (the working tree was put back as it was)") from exc
        raise
    return CheckoutResult(repo.root, base, changed, warnings)


def _into_new_worktree(
    repo: Repo, base: str, tree: str, path: Path, warnings: list[str]
) -> CheckoutResult:
    path = path.resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise GitrackError(f"{path} already exists and is not empty; choose a new --worktree path")
    created = repo.add_detached_worktree(path, base)
    try:
        created.write_tree_to_worktree(tree)
        changed = verify(created, base, tree)
    except BaseException:
        repo.remove_worktree(path)
        raise
    return CheckoutResult(created.root, base, changed, warnings)


def verify(repo: Repo, base: str, tree: str) -> int:
    """The working tree, read back as git would stage it, must be the recorded tree."""
    base_tree = repo.commit_info(base).tree
    untracked = [c.path for c in repo.tree_changes(base_tree, tree) if c.status == "added"]
    # Files untracked in the run may be ignored by this machine's excludes: read them too.
    actual = repo.build_worktree_tree(None, extra_paths=untracked)
    if actual.tree != tree:
        differences = [f"{c.path} ({c.status})" for c in repo.tree_changes(tree, actual.tree)]
        raise VerificationError(str(repo.root), differences or ["tree ids differ"])
    return len(repo.tree_changes(base_tree, tree))


def _ignored_files_in_the_way(repo: Repo, current_tree: str, tree: str) -> list[str]:
    """Files the restore would write over that git does not track: ignored files."""
    in_the_way = []
    tracked = repo.tree_files(current_tree)  # tracked files are safe: they are in history
    for change in repo.tree_changes(current_tree, tree):
        if change.status != "added" or change.path in tracked:
            continue
        parts = change.path.split("/")
        for depth in range(1, len(parts) + 1):
            candidate = repo.root.joinpath(*parts[:depth])
            last = depth == len(parts)
            prefix = "/".join(parts[:depth])
            if prefix in tracked:
                break
            if _untracked_content(candidate, prefix, tracked, last):
                in_the_way.append("/".join(parts[:depth]))
                break
    return sorted(set(in_the_way))


def _untracked_content(
    candidate: Path, prefix: str, tracked: dict[str, tuple[str, int]], last: bool
) -> bool:
    """Is there something at ``candidate`` that git does not track (and a write would lose)?"""
    if not os.path.lexists(candidate):
        return False
    if candidate.is_symlink() or not candidate.is_dir():
        return True
    if not last:
        return False  # a folder on the way to the new file: it stays
    for folder, _dirs, files in os.walk(candidate):
        rel = Path(folder).relative_to(candidate).as_posix()
        for name in files:
            inner = f"{prefix}/{name}" if rel == "." else f"{prefix}/{rel}/{name}"
            if inner not in tracked:
                return True
    return False


def _check_snapshot_paths(repo: Repo, tree: str) -> None:
    """Snapshot trees come with notes from other clones: no path may leave the work tree."""
    for path in repo.tree_files(tree):
        check_relative(path)


def _roll_back(repo: Repo, previous: HeadState, added: list[str]) -> None:
    try:
        repo.restore_head(previous)
    finally:
        for rel in added:
            target = repo.root / rel
            if target.is_symlink() or target.is_file():
                target.unlink()
