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

    head = ctx.repo.head().commit
    on_head = [r for r in ctx.load_runs().runs if r.record.base_commit == head or r.commit == head]
    newest = on_head[0] if on_head else None
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


def restore_datasets(ctx: Context, run: history.Run, paths: list[str]) -> int:
    """Restore some of a run's datasets in place (the post-checkout hook's job)."""
    from gitrack.data.restore import apply_restore

    items = {p: run.record.datasets[p] for p in paths if p in run.record.datasets}
    plan = run_checkout.plan_data(ctx.store, items, ctx.settings.remote, ctx.repo.root)
    apply_restore(ctx.store, plan)
    return len(items)
