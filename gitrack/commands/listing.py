"""`gitrack ls` and `gitrack export`: runs selected, ordered, listed or written out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gitrack.commands.context import Context
from gitrack.tracking import history


@dataclass
class Listing:
    runs: list[history.Run]  # selected, ordered, limited
    total: int  # runs in the repository
    warnings: list[str]
    depths: dict[str, int] = field(default_factory=dict)  # run id -> nesting (when nested)


def list_runs(
    ctx: Context,
    where: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
    *,
    deleted: bool = False,
    experiment: str | None = None,
    nested: bool = False,
) -> Listing:
    """The runs to list: visible ones (``deleted``: only the hidden ones), of one
    ``experiment`` if given; ``nested`` puts each child run under its parent."""
    from gitrack.views import table

    if limit is not None and not (where or sort or deleted or experiment is not None):
        # The newest N, as the listing index keeps them: read only what is printed.
        loaded, total = history.load_newest(ctx.repo, limit)
        shown = loaded.runs
    else:
        loaded = ctx.load_runs()
        pool = loaded.hidden if deleted else loaded.runs
        if experiment is not None:
            pool = [run for run in pool if run.record.experiment == experiment]
        selected = table.select(pool, where, sort)
        shown = selected[:limit] if limit is not None else selected
        total = len(pool)
    depths: dict[str, int] = {}
    if nested:
        shown, depths = nest(shown)
    lost = history.lost_snapshots(ctx.repo, shown)
    warnings = [*loaded.warnings, *([lost] if lost else [])]
    return Listing(shown, total, warnings, depths)


def nest(runs: list[history.Run]) -> tuple[list[history.Run], dict[str, int]]:
    """Each run followed by its children (in the given order), and each run's depth.

    A child whose parent is not in the list stays where it is, at depth 0; a cycle in
    forged notes cannot loop (each run is placed once).
    """
    present = {run.id for run in runs}
    children: dict[str, list[history.Run]] = {}
    roots = []
    for run in runs:
        parent = run.record.parent
        if parent and parent in present and parent != run.id:
            children.setdefault(parent, []).append(run)
        else:
            roots.append(run)
    out: list[history.Run] = []
    depths: dict[str, int] = {}

    def place(run: history.Run, depth: int) -> None:
        if run.id in depths:
            return
        depths[run.id] = depth
        out.append(run)
        for child in children.get(run.id, []):
            place(child, min(depth + 1, 8))

    for run in roots:
        place(run, 0)
    for run in runs:  # runs only reachable through a cycle of parents
        place(run, 0)
    return out, depths


@dataclass
class Exported:
    count: int  # runs written
    warnings: list[str]  # e.g. note lines skipped as not runs


def export_runs(
    ctx: Context, path: Path, fmt: str | None, where: str | None, sort: str | None
) -> Exported:
    from gitrack.views import table

    loaded = ctx.load_runs()
    return Exported(table.export(loaded.runs, path, fmt, where, sort), loaded.warnings)
