"""`gitrack show` and `gitrack compare`: one run in full, or several side by side."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitrack.commands.context import Context
from gitrack.errors import GitrackError
from gitrack.git import Repo
from gitrack.tracking import history
from gitrack.views import render


@dataclass
class RunView:
    run: history.Run
    text: str
    patch: str
    warnings: list[str] = field(default_factory=list)


def show_run(ctx: Context, ref: str) -> RunView:
    repo = ctx.repo
    loaded = ctx.load_runs()
    run = history.resolve(loaded, ref)
    summary = repo.commit_info(run.commit).summary if repo.has_object(run.commit) else ""
    base_tree, snap_tree = _trees(repo, run)
    changed = [c.path for c in repo.tree_changes(base_tree, snap_tree)] if snap_tree else []
    patch = repo.diff_patch(base_tree, snap_tree) if snap_tree else ""
    warnings = list(loaded.warnings)
    lost = history.lost_snapshots(repo, [run])
    if lost:
        warnings.append(lost)
    elif not snap_tree:
        warnings.append(
            f"the base commit {run.record.base_commit[:12]} of run {run.id} is not in this "
            "repository; fetch it (git fetch origin), or gitrack pull"
        )
    sizes = data_sizes(ctx, run)
    return RunView(run, render.show(run, summary, changed, sizes), patch, warnings)


def data_sizes(ctx: Context, run: history.Run) -> dict[str, int | None]:
    """hash -> bytes of each dataset, output and big file of the run (a folder: its files
    together), read from the local cache; None when the cache does not have it."""
    from gitrack.data import hashing
    from gitrack.data.layout import cache_root
    from gitrack.data.manifest import Manifest
    from gitrack.data.odb import Cache

    rec = run.record
    wanted = {*rec.datasets.values(), *rec.outputs.values(), *rec.large_files.values()}
    if not wanted:
        return {}
    cache = Cache(cache_root(ctx.repo.common_dir, ctx.settings.cache, ctx.repo.root))
    sizes: dict[str, int | None] = {}
    for digest in wanted:
        sizes[digest] = None
        if not hashing.is_valid(digest) or not cache.exists(digest):
            continue  # a forged hash from a note, or data not fetched here
        try:
            if hashing.is_dir_hash(digest):
                sizes[digest] = Manifest.from_bytes(cache.read_verified(digest)).size
            else:
                sizes[digest] = cache.path_for(digest).stat().st_size
        except (OSError, ValueError, GitrackError):
            pass  # unreadable or corrupt: shown as unknown; `gitrack fsck` says more
    return sizes


def _trees(repo: Repo, run: history.Run) -> tuple[str, str]:
    rec = run.record
    if not (repo.has_object(rec.snapshot) and repo.has_object(rec.base_commit)):
        return "", ""
    return repo.commit_info(rec.base_commit).tree, repo.commit_info(rec.snapshot).tree


@dataclass
class Comparison:
    runs: list[history.Run]
    rows: list[tuple[str, list[str], bool]]  # field, value per run, differs
    code_diffs: list[tuple[str, str, str]]  # (from run id, to run id, patch)


def compare_runs(ctx: Context, refs: list[str], with_code: bool = False) -> Comparison:
    """Params, metrics, datasets and outputs side by side; the code diff between snapshots."""
    from gitrack.views import table

    if len(refs) < 2:
        raise GitrackError("compare needs at least two runs, e.g. gitrack compare 3f2a 9c1b")
    loaded = ctx.load_runs()
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
        base = ctx.repo.commit_info(first.record.snapshot).tree
        for other in chosen[1:]:
            tree = ctx.repo.commit_info(other.record.snapshot).tree
            diffs.append((first.id, other.id, ctx.repo.diff_patch(base, tree)))
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
