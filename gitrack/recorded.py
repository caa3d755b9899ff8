"""The Python API for runs already recorded: list them as a table, hide and show them
again, and the model registry (``gitrack.runs``, ``gitrack.delete_run``,
``gitrack.model_path`` …; loaded lazily by ``gitrack/__init__.py``, like ``gitrack.api``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


def delete_run(id_or_prefix: str, cwd: str | os.PathLike[str] = ".") -> None:
    """Hide a recorded run, as `gitrack rm` (``restore_run`` undoes it)."""
    from gitrack.commands import lifecycle
    from gitrack.commands.context import Context

    lifecycle.hide(Context.open(cwd), [id_or_prefix])


def restore_run(id_or_prefix: str, cwd: str | os.PathLike[str] = ".") -> None:
    """Show a hidden run again, as `gitrack rm --undo`."""
    from gitrack.commands import lifecycle
    from gitrack.commands.context import Context

    lifecycle.hide(Context.open(cwd), [id_or_prefix], undo=True)


def runs(
    where: str | None = None, sort: str | None = None, cwd: str | os.PathLike[str] = "."
) -> pa.Table:
    """One row per run: id, commit, started, duration_s, status, dirty, params.*, metrics.*,
    tags.*, datasets.* — filtered by ``where`` (MLflow's search grammar, plus or/not/
    parentheses) and ordered by ``sort`` (``"-metrics.auc"`` for descending)."""
    from gitrack.git import Repo
    from gitrack.tracking import history
    from gitrack.views import table

    with history.without_gc():
        loaded = history.load_runs(Repo.discover(cwd))
        return table.to_arrow(table.select(loaded.runs, where, sort))


def model_path(spec: str, cwd: str | os.PathLike[str] = ".") -> Path:
    """A local, verified copy of a registered model: ``"churn#prod"``, ``"churn@v1.2.0"``,
    ``"churn@latest"`` or ``"churn"``. Fetched from the team cache if the local one lacks
    it; a file for a model of one path, else a folder holding its paths."""
    from gitrack.commands import model
    from gitrack.commands.context import Context

    return model.local_path(Context.open(cwd), spec)


def register_model(
    name: str,
    run: str,
    paths: list[str] | tuple[str, ...] = (),
    version: str | None = None,
    bump: str | None = None,
    cwd: str | os.PathLike[str] = ".",
) -> str:
    """`gitrack model register`: register ``run``'s output(s) as a new version of
    ``name``; returns the version (``"v1.0.0"``)."""
    from gitrack.commands import model
    from gitrack.commands.context import Context

    return model.register(Context.open(cwd), name, run, tuple(paths), version, bump).version
