"""`gitrack checkout`: a run's exact state back, in place or in a new worktree."""

from __future__ import annotations

from pathlib import Path

from gitrack.commands.context import Context
from gitrack.tracking import checkout as run_checkout
from gitrack.tracking import history


def checkout(
    ctx: Context, ref: str, worktree: Path | None = None, with_data: bool = True
) -> run_checkout.CheckoutResult:
    run = history.resolve(ctx.load_runs(), ref)
    settings = ctx.settings
    return run_checkout.checkout_run(
        ctx.repo, run, worktree, with_data, settings.cache, settings.remote
    )
