"""`gitrack rerun`: re-execute a run where it ran, record it, say whether it reproduced."""

from __future__ import annotations

from pathlib import Path

from gitrack.commands.context import Context
from gitrack.tracking import history
from gitrack.tracking import rerun as reruns


def plan_rerun(ctx: Context, ref: str) -> reruns.RerunPlan:
    """The run's command and paths, checked; nothing runs yet (the user sees it first)."""
    return reruns.plan(history.resolve(ctx.load_runs(), ref))


def rerun(
    ctx: Context,
    plan: reruns.RerunPlan,
    worktree: Path | None = None,
    keep: bool = False,
    rtol: float = 0.0,
) -> reruns.RerunResult:
    settings = ctx.settings
    return reruns.execute(ctx.repo, plan, worktree, keep, rtol, settings.cache, settings.remote)
