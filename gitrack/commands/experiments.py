"""`gitrack experiments`: the experiments, their run counts and best runs."""

from __future__ import annotations

from gitrack.commands.context import Context
from gitrack.views.experiments import Experiment, summarize

__all__ = ["Experiment", "list_experiments"]


def list_experiments(ctx: Context, metric: str | None = None) -> list[Experiment]:
    """Every experiment of the visible runs; the best run of each by ``metric`` ([-]KEY)."""
    return summarize(ctx.load_runs().runs, metric)
