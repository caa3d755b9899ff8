"""`gitrack ls` and `gitrack export`: runs selected, ordered, listed or written out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitrack.commands.context import Context
from gitrack.tracking import history


@dataclass
class Listing:
    runs: list[history.Run]  # selected, ordered, limited
    total: int  # runs in the repository
    warnings: list[str]


def list_runs(
    ctx: Context, where: str | None = None, sort: str | None = None, limit: int | None = None
) -> Listing:
    from gitrack.views import table

    loaded = ctx.load_runs(few=limit is not None and not where and not sort)
    selected = table.select(loaded.runs, where, sort)
    shown = selected[:limit] if limit is not None else selected
    return Listing(shown, len(loaded.runs), loaded.warnings)


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
