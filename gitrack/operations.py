"""Library entry points behind `gitrack show` and `gitrack checkout`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitrack import config, history, render, restore
from gitrack.errors import CorruptRecordError, GitrackError
from gitrack.git import Repo
from gitrack.paths import safe_target

if TYPE_CHECKING:
    from gitrack.sync import SyncReport


@dataclass
class RunView:
    run: history.Run
    text: str
    patch: str
    warnings: list[str] = field(default_factory=list)


def show_run(ref: str, cwd: str | Path = ".") -> RunView:
    repo = Repo.discover(cwd)
    loaded = history.load_runs(repo)
    run = history.resolve(loaded, ref)
    summary = repo.commit_info(run.commit).summary if repo.has_object(run.commit) else ""
    base_tree, snap_tree = _trees(repo, run)
    changed = [c.path for c in repo.tree_changes(base_tree, snap_tree)] if snap_tree else []
    patch = repo.diff_patch(base_tree, snap_tree) if snap_tree else ""
    warnings = list(loaded.warnings)
    if not snap_tree:
        warnings.append(
            f"the snapshot of run {run.id} is not in this repository; fetch gitrack's refs "
            "(git fetch origin '+refs/gitrack/*:refs/gitrack/*')"
        )
    return RunView(run, render.show(run, summary, changed), patch, warnings)


def checkout(
    ref: str, worktree: Path | None = None, with_data: bool = True, cwd: str | Path = "."
) -> restore.CheckoutResult:
    repo = Repo.discover(cwd)
    settings = config.load(repo.root)
    run = history.resolve(history.load_runs(repo), ref)
    return restore.checkout_run(repo, run, worktree, with_data, settings.cache, settings.remote)


@dataclass
class DataStatus:
    run: history.Run | None
    rows: list[tuple[str, str]]  # (state, path): unchanged|changed|missing|not in run|refused


def data_status(cwd: str | Path = ".") -> DataStatus:
    """Do the configured datasets match the newest run on HEAD?"""
    from gitrack.data import DataStore, MissingDataError

    repo = Repo.discover(cwd)
    settings = config.load(repo.root)
    head = repo.head().commit
    on_head = [
        r for r in history.load_runs(repo).runs if r.record.base_commit == head or r.commit == head
    ]
    newest = on_head[0] if on_head else None
    recorded = newest.record.datasets if newest else {}
    store = DataStore.open(repo.root, repo.common_dir, settings.cache)
    rows = []
    for path in dict.fromkeys([*settings.data, *recorded]):
        try:
            # Paths in notes are untrusted: never read outside the repository (a dataset
            # that is itself a link is read through, as when it was recorded).
            safe_target(repo.root, path, final_link_ok=True)
        except GitrackError:
            rows.append(("refused", path))
            continue
        try:
            current = store.hash_path(path, f"checking {path}").hash
        except MissingDataError:
            rows.append(("missing", path))
            continue
        if path not in recorded:
            rows.append(("not in run", path))
        else:
            rows.append(("unchanged" if recorded[path] == current else "changed", path))
    return DataStatus(newest, rows)


def restore_datasets(run: history.Run, paths: list[str], cwd: str | Path = ".") -> int:
    """Restore some of a run's datasets in place (the post-checkout hook's job)."""
    from gitrack.data import DataStore

    repo = Repo.discover(cwd)
    settings = config.load(repo.root)
    items = {p: run.record.datasets[p] for p in paths if p in run.record.datasets}
    store = DataStore.open(repo.root, repo.common_dir, settings.cache)
    restore.fetch_missing(store, items, settings.remote, repo.root)
    store.check_restorable(items)
    for path, digest in items.items():
        store.restore(path, digest)
    return len(items)


@dataclass
class GcReport:
    removed: int
    freed_bytes: int
    kept: int
    warnings: list[str]


def collect_garbage(dry_run: bool = False, cwd: str | Path = ".") -> GcReport:
    """Remove cache objects that no run (and no run in progress) references."""
    from gitrack.data import DataStore

    repo = Repo.discover(cwd)
    settings = config.load(repo.root)
    store = DataStore.open(repo.root, repo.common_dir, settings.cache)
    # Markers first, then notes: a run that finishes in between has its note written
    # before its marker goes, so it is seen one way or the other.
    wanted: list[str] = list(store.pending_hashes())
    wanted += store.preserved_hashes()
    loaded = history.load_runs(repo)
    for run in loaded.runs:
        rec = run.record
        wanted += [*rec.datasets.values(), *rec.outputs.values(), *rec.large_files.values()]
    keep, warnings = store.referenced_objects(wanted)
    removed = freed = kept = 0
    for obj in store.cache.iter_objects():
        if obj.hash in keep:
            kept += 1
            continue
        removed += 1
        freed += obj.size
        if not dry_run:
            store.cache.remove(obj)
    return GcReport(removed, freed, kept, [*loaded.warnings, *warnings])


def _trees(repo: Repo, run: history.Run) -> tuple[str, str]:
    rec = run.record
    if not (repo.has_object(rec.snapshot) and repo.has_object(rec.base_commit)):
        return "", ""
    return repo.commit_info(rec.base_commit).tree, repo.commit_info(rec.snapshot).tree


def pull(remote: str | None = None, with_data: bool = True, cwd: str | Path = ".") -> SyncReport:
    from gitrack import sync

    return sync.pull(Repo.discover(cwd), remote, with_data)


def push(remote: str | None = None, with_data: bool = True, cwd: str | Path = ".") -> SyncReport:
    from gitrack import sync

    return sync.push(Repo.discover(cwd), remote, with_data)


def metric_history(
    run: history.Run, key: str, cwd: str | Path = "."
) -> list[tuple[int, float, float]]:
    """``(step, value, timestamp)`` of one metric, from the parquet blob the run names."""
    from gitrack import steps

    blob = run.record.metric_history
    if blob is None:
        value = run.record.metrics.get(key)
        return [] if value is None else [(0, value, 0.0)]
    data = Repo.discover(cwd).read_blob(blob)
    try:
        decoded = steps.decode(data)
    except Exception as exc:  # the blob is named by a note: untrusted input
        raise CorruptRecordError(
            f"the step metrics of run {run.id} ({blob[:12]}) are unreadable: {exc}"
        ) from exc
    return [(step, value, t) for k, step, value, t in decoded if k == key]


@dataclass
class Comparison:
    runs: list[history.Run]
    rows: list[tuple[str, list[str], bool]]  # field, value per run, differs
    code_diffs: list[tuple[str, str, str]]  # (from run id, to run id, patch)


def compare_runs(refs: list[str], with_code: bool = False, cwd: str | Path = ".") -> Comparison:
    """Params, metrics, datasets and outputs side by side; the code diff between snapshots."""
    from gitrack import table

    if len(refs) < 2:
        raise GitrackError("compare needs at least two runs, e.g. gitrack compare 3f2a 9c1b")
    repo = Repo.discover(cwd)
    loaded = history.load_runs(repo)
    chosen = [history.resolve(loaded, ref) for ref in refs]
    rows_by_run = [table.row_of(run) for run in chosen]
    fields = [c for c in table.columns_of(rows_by_run) if "." in c]
    rows = []
    for name in ["status", "commit", "dirty", "duration_s", *fields]:
        raw = [row.get(name) for row in rows_by_run]
        rows.append((name, [_cell(v) for v in raw], _differ(raw)))
    diffs = []
    if with_code:
        first = chosen[0]
        base = repo.commit_info(first.record.snapshot).tree
        for other in chosen[1:]:
            tree = repo.commit_info(other.record.snapshot).tree
            diffs.append((first.id, other.id, repo.diff_patch(base, tree)))
    return Comparison(chosen, rows, diffs)


def _differ(values: list[object]) -> bool:
    """Exact comparison of the raw values (the cells round to 6 digits); NaN equals NaN."""
    keys = {("nan",) if isinstance(v, float) and v != v else (type(v).__name__, v) for v in values}
    return len(keys) > 1


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return render.format_number(value)
    return str(value)


def export_runs(
    path: Path, fmt: str | None, where: str | None, sort: str | None, cwd: str | Path = "."
) -> int:
    from gitrack import table

    return table.export(path, fmt, where, sort, cwd)
