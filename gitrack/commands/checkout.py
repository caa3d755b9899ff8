"""`gitrack checkout`: a run's exact state back, in place or in a new worktree."""

from __future__ import annotations

from pathlib import Path

from gitrack.commands.context import Context
from gitrack.tracking import checkout as run_checkout
from gitrack.tracking import history


def checkout(
    ctx: Context, ref: str, worktree: Path | None = None, with_data: bool = True
) -> run_checkout.CheckoutResult:
    loaded = ctx.load_runs()
    run = history.resolve(loaded, ref)
    settings = ctx.settings
    result = run_checkout.checkout_run(
        ctx.repo, run, worktree, with_data, settings.cache, settings.remote
    )
    result.warnings[:0] = loaded.warnings  # e.g. which of several runs a name chose
    return result
