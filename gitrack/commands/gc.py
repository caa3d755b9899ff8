"""`gitrack gc`: remove cache objects that no run (finished or running) and no registered
model version references.

The sweep and why it never races a run live in gitrack/data/gc.py; this gathers the
recorded runs' hashes for it.
"""

from __future__ import annotations

import time

from gitrack.commands.context import Context
from gitrack.data import gc
from gitrack.data.gc import DEFAULT_GRACE_S, GcReport
from gitrack.data.layout import cache_root
from gitrack.data.odb import Cache
from gitrack.tracking.history import Run
from gitrack.tracking.record import parse_timestamp

__all__ = ["GcReport", "collect_garbage", "kept_hidden"]


def kept_hidden(hidden: list[Run], grace_s: float, now: float | None = None) -> list[Run]:
    """The hidden runs whose data gc still keeps: hidden less than the grace period ago
    (never less than the default two weeks, whatever --grace says), so that
    `gitrack rm --undo`, here or from a teammate's clone, finds the data still there."""
    cutoff = (time.time() if now is None else now) - max(grace_s, DEFAULT_GRACE_S)
    return [run for run in hidden if run.hidden_at is None or _epoch(run.hidden_at) > cutoff]


def _epoch(timestamp: str) -> float:
    try:
        return parse_timestamp(timestamp).timestamp()
    except ValueError:
        return float("inf")  # an unreadable time: keep the data


def collect_garbage(
    ctx: Context, dry_run: bool = False, grace_s: float = DEFAULT_GRACE_S
) -> GcReport:
    """Remove cache objects no run needs that are older than ``grace_s``, and old temps."""
    from gitrack.tracking.registry.state import registered_objects
    from gitrack.tracking.sync import run_objects

    def run_references() -> tuple[list[str], list[str]]:
        loaded = ctx.load_runs()  # read anew each time: gc reads the notes twice
        # A registered model's bytes stay while its tag does, whatever becomes of its run.
        kept = run_objects(loaded.runs + kept_hidden(loaded.hidden, grace_s))
        return kept + registered_objects(ctx.repo), loaded.warnings

    folder = cache_root(ctx.repo.common_dir, ctx.settings.cache, ctx.repo.root)
    return gc.collect(Cache(folder), run_references, grace_s, dry_run)
