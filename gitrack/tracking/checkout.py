"""`gitrack checkout`: bring back a run's exact working state, then prove it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitrack.config import RemoteSettings
from gitrack.errors import CorruptRecordError, DirtyWorktreeError, GitrackError, VerificationError
from gitrack.git import Repo
from gitrack.paths import check_relative
from gitrack.tracking.history import Run
from gitrack.tracking.rollback import CodeUndo, DataUndo

if TYPE_CHECKING:
    from gitrack.data.known import KnownObjects
    from gitrack.data.restore import RestorePlan
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
    with_outputs: bool = True,
) -> CheckoutResult:
    """``with_outputs=False`` restores datasets and big files but not the run's outputs:
    a rerun must make its own (what it does not write must not be credited to it)."""
    base, tree = _snapshot_of(repo, run)
    rec = run.record
    outputs = rec.outputs if with_outputs else {}
    items = {**rec.large_files, **rec.datasets, **outputs} if with_data else {}
    not_cached = set(rec.untracked_skipped) - set(rec.large_files if with_data else {})
    warnings = [
        f"untracked file {p!r} was over the size limit when the run was recorded; not restored"
        for p in sorted(not_cached)
    ]
    if worktree is None:
        # Before anything else (a download from the team's cache included): in place, the
        # user's uncommitted work would be lost.
        pending = repo.worktree.pending_changes()
        if pending:
            raise DirtyWorktreeError(pending)
    target_root = worktree.resolve() if worktree is not None else repo.root
    store = _data_store(repo, target_root, cache_setting) if items else None
    # Before anything changes: every path checked, every object needed present.
    known = _known(repo, remote) if store is not None else None
    plan = plan_data(store, items, remote, repo.root, known) if store is not None else None
    data = _DataRestore(store, items, plan) if store is not None and plan is not None else None
    datasets = tuple(rec.datasets)  # their untracked files are not in the snapshot
    if worktree is not None:
        return _into_new_worktree(repo, base, tree, worktree, warnings, data, datasets)
    return _in_place(repo, base, tree, warnings, data, datasets)


@dataclass
class _DataRestore:
    """The data part of a checkout: runs last, after the code is restored and verified."""

    store: DataStore
    items: dict[str, str]
    plan: RestorePlan

    def run(self, result: CheckoutResult) -> None:
        from gitrack.data.restore import apply_restore

        try:
            result.data_files_written = apply_restore(self.store, self.plan)
        finally:
            result.warnings.extend(_preserved_notice(self.store.preserved))
        result.data_paths = len(self.items)


def _preserved_notice(preserved: list[tuple[str, str]]) -> list[str]:
    if not preserved:
        return []
    shown = ", ".join(path for path, _ in preserved[:5]) + (" …" if len(preserved) > 5 else "")
    return [
        f"replaced or removed {len(preserved)} data file(s) the run did not have ({shown}); "
        "copies are in the cache (listed in its preserved/ folder; gitrack gc keeps them "
        "30 days)"
    ]


def plan_data(
    store: DataStore,
    items: dict[str, str],
    remote: RemoteSettings | None,
    config_root: Path,
    known: KnownObjects | None = None,
) -> RestorePlan:
    """Plan the data restore; objects the local cache lacks come from the team's cache,
    verified, if there is one. Raises if a path is refused or an object is still missing."""
    from gitrack.data.restore import plan_restore

    plan = plan_restore(store, items)
    if plan.missing and remote is not None:
        from gitrack.data.remote import RemoteCache
        from gitrack.tracking.sync import fetch_objects

        cache = RemoteCache(remote, config_root)
        fetched = fetch_objects(store, cache, [h for _, h in plan.missing], known)
        if fetched.corrupt:  # every sound object was fetched; the restore cannot be complete
            corrupt = fetched.corrupt
            more = f"; {len(corrupt) - 1} more object(s) are corrupt too" if corrupt[1:] else ""
            raise GitrackError(
                f"cannot restore the run's data, nothing was changed: {corrupt[0].message}{more}"
            )
        if fetched.count:
            plan = plan_restore(store, items)  # a fetched manifest names more files
    plan.refuse_if_incomplete(store.cache.root)
    return plan


def _known(repo: Repo, remote: RemoteSettings | None) -> KnownObjects | None:
    """What a push believes the remote holds: forgotten where a checkout finds otherwise."""
    if remote is None:
        return None
    from gitrack.tracking.sync import known_objects

    return known_objects(repo, remote.url)


def _data_store(repo: Repo, root: Path, cache_setting: str | None) -> DataStore:
    from gitrack.data.store import DataStore
    from gitrack.tracking.cache_folder import writable_cache_root

    writable_cache_root(repo, cache_setting)  # fetched objects and preserved files go there
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


def _in_place(
    repo: Repo,
    base: str,
    tree: str,
    warnings: list[str],
    data: _DataRestore | None,
    datasets: tuple[str, ...] = (),
) -> CheckoutResult:
    """Everything that can be checked is checked before HEAD moves; a failure after that
    (the verification, a data file) undoes it all: HEAD, files, folders, submodules, data.
    The caller has refused a working tree with uncommitted changes."""
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
    if repo.worktree.is_sparse():
        repo.worktree.check_inside_sparse_cone(c.path for c in repo.tree_changes(base_tree, tree))
    moves = _submodule_moves(repo, base_tree, tree, warnings)
    added = sorted(
        {c.path for t in (base_tree, tree) for c in repo.tree_changes(current_tree, t)
         if c.status == "added"}
    )  # fmt: skip
    code_undo = CodeUndo(repo, previous, added)
    data_undo = DataUndo(repo.root, data.items) if data is not None else None
    try:
        repo.worktree.checkout_detached(base)
        repo.worktree.write_tree_to_worktree(tree)
        for path, old, new in moves:
            repo.move_submodule(path, new)
            code_undo.moved_submodules.append((path, old))
        result = CheckoutResult(repo.root, base, verify(repo, base, tree, datasets), warnings)
        if data is not None:
            data.run(result)
    except BaseException as exc:
        undo_failed = _roll_back(code_undo, data_undo, data)
        if isinstance(exc, GitrackError):
            # Same error, same class (a VerificationError stays one), saying what was undone.
            put_back = undo_failed or "the working tree was put back as it was"
            exc.args = (f"{exc} ({put_back})",)
        raise
    return result


def _roll_back(code: CodeUndo, data_undo: DataUndo | None, data: _DataRestore | None) -> str:
    """Undo everything, the data first (done last); '' when all went back, else what not."""
    problem = ""
    try:
        if data_undo is not None and data is not None:
            data_undo.roll_back(data.store)
    except (OSError, GitrackError) as exc:
        problem = (
            f"the code was put back, but not all data: {exc}; the replaced files are kept "
            "in the cache, listed in its preserved/ folder"
        )
    finally:
        code.roll_back()
    return problem


def _submodule_moves(
    repo: Repo, base_tree: str, tree: str, warnings: list[str]
) -> list[tuple[str, str, str]]:
    """(path, commit it has, commit the run had) of each initialized submodule to move,
    its commit checked present first. Uninitialized ones get a warning if the run had
    another commit than the base commit records (a checkout cannot verify them)."""
    moves = []
    recorded = repo.gitlinks(base_tree)
    for path, commit in repo.gitlinks(tree).items():
        current = repo.submodule_commit(path)
        if current is None:
            if recorded.get(path) != commit:
                warnings.append(
                    f"submodule {path!r} is not initialized here, so it is not restored: the "
                    f"run had commit {commit[:10]} (git submodule update --init {path} && "
                    f"git -C {path} checkout {commit[:10]})"
                )
            continue
        if current == commit:
            continue
        if not repo.submodule_has_commit(path, commit):
            raise GitrackError(
                f"submodule {path!r} does not have commit {commit[:10]} the run used; fetch "
                f"it (git -C {path} fetch) and check the run out again"
            )
        moves.append((path, current, commit))
    return moves


def _into_new_worktree(
    repo: Repo,
    base: str,
    tree: str,
    path: Path,
    warnings: list[str],
    data: _DataRestore | None,
    datasets: tuple[str, ...] = (),
) -> CheckoutResult:
    path = path.resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise GitrackError(f"{path} already exists and is not empty; choose a new --worktree path")
    created = repo.add_detached_worktree(path, base)
    try:
        created.worktree.write_tree_to_worktree(tree)
        moves = _submodule_moves(created, repo.commit_info(base).tree, tree, warnings)
        for sub, _old, commit in moves:  # none yet: a new worktree's are not set up
            created.move_submodule(sub, commit)
        result = CheckoutResult(created.root, base, verify(created, base, tree, datasets), warnings)
        if data is not None:
            data.run(result)
    except BaseException as exc:
        repo.remove_worktree(path)
        if isinstance(exc, GitrackError):
            raise GitrackError(f"{exc} (the new worktree {path} was removed)") from exc
        raise
    return result


def verify(repo: Repo, base: str, tree: str, datasets: tuple[str, ...] = ()) -> int:
    """The working tree, read back as git would stage it, must be the recorded tree.

    Untracked files of the run's ``datasets`` are left out, as they were when the run was
    recorded (the data restore verifies them by hash); files the recorded tree has are
    read whatever their path (runs recorded before datasets were kept out).

    A submodule not initialized here keeps its gitlink from the base commit: it cannot
    be checked, and `_submodule_moves` warned about it."""
    base_tree = repo.commit_info(base).tree
    untracked = [c.path for c in repo.tree_changes(base_tree, tree) if c.status == "added"]
    # Files untracked in the run may be ignored by this machine's excludes: read them too.
    actual = repo.worktree.build_worktree_tree(None, extra_paths=untracked, exclude=datasets)
    if actual.tree != tree:
        unverifiable = {p for p in repo.gitlinks(tree) if repo.submodule_commit(p) is None}
        differences = [
            f"{c.path} ({c.status})"
            for c in repo.tree_changes(tree, actual.tree)
            if c.path not in unverifiable
        ]
        if differences or not unverifiable:
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
