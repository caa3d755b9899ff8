"""`gitrack status`: do the datasets match the newest run on HEAD? (and the hooks' restore)"""

from __future__ import annotations

from dataclasses import dataclass

from gitrack.commands.context import Context
from gitrack.errors import GitrackError
from gitrack.paths import safe_target
from gitrack.tracking import checkout as run_checkout
from gitrack.tracking import history


@dataclass
class DataStatus:
    run: history.Run | None
    rows: list[tuple[str, str]]  # (state, path): unchanged|changed|missing|not in run|refused


def data_status(ctx: Context) -> DataStatus:
    """Do the configured datasets match the newest run on HEAD?"""
    from gitrack.data.hasher import MissingDataError

    newest = newest_on_head(ctx)
    recorded = newest.record.datasets if newest else {}
    rows = []
    for path in dict.fromkeys([*ctx.settings.data, *recorded]):
        try:
            # Paths in notes are untrusted: never read outside the repository (a dataset
            # that is itself a link is read through, as when it was recorded).
            safe_target(ctx.repo.root, path, final_link_ok=True)
        except GitrackError:
            rows.append(("refused", path))
            continue
        try:
            current = ctx.store.hasher.hash_path(path, f"checking {path}").hash
        except MissingDataError:
            rows.append(("missing", path))
            continue
        if path not in recorded:
            rows.append(("not in run", path))
        else:
            rows.append(("unchanged" if recorded[path] == current else "changed", path))
    return DataStatus(newest, rows)


def newest_on_head(ctx: Context) -> history.Run | None:
    head = ctx.repo.head().commit
    on_head = [r for r in ctx.load_runs().runs if r.record.base_commit == head or r.commit == head]
    return on_head[0] if on_head else None


def restore_datasets(ctx: Context, run: history.Run, paths: list[str]) -> int:
    """Restore some of a run's datasets in place (the post-checkout hook's job)."""
    items = {p: run.record.datasets[p] for p in paths if p in run.record.datasets}
    _restore(ctx, items)
    return len(items)


@dataclass
class RestoredData:
    run: history.Run
    paths: int  # datasets (and outputs) restored and verified
    files_written: int
    preserved: list[str]  # data files replaced, copied into the cache first


def restore_data(ctx: Context, ref: str | None = None, outputs: bool = False) -> RestoredData:
    """`gitrack restore-data`: a run's datasets (and outputs) back in place, verified.

    Only data moves: HEAD, the index and the code stay as they are. The run: RUN, else
    the newest run on HEAD.
    """
    run = history.resolve(ctx.load_runs(), ref) if ref is not None else newest_on_head(ctx)
    if run is None:
        raise GitrackError(
            "no run on HEAD to restore data from; name one: gitrack restore-data RUN"
        )
    rec = run.record
    items = {**rec.datasets, **(rec.outputs if outputs else {})}
    written = _restore(ctx, items) if items else 0
    preserved = [path for path, _ in ctx.store.preserved] if items else []
    return RestoredData(run, len(items), written, preserved)


def _restore(ctx: Context, items: dict[str, str]) -> int:
    from gitrack.data.restore import apply_restore
    from gitrack.tracking.cache_folder import writable_cache_root

    writable_cache_root(ctx.repo, ctx.settings.cache)  # downloads and preserved copies
    plan = run_checkout.plan_data(ctx.store, items, ctx.settings.remote, ctx.repo.root)
    return apply_restore(ctx.store, plan)
