"""`gitrack gc`: remove cache objects that no run (finished or running) and no registered
model version references.

The sweep and why it never races a run live in gitrack/data/gc.py; this gathers the
recorded runs' hashes for it.
"""

from __future__ import annotations

from gitrack.commands.context import Context
from gitrack.data import gc
from gitrack.data.gc import DEFAULT_GRACE_S, GcReport
from gitrack.data.layout import cache_root
from gitrack.data.odb import Cache

__all__ = ["GcReport", "collect_garbage"]


def collect_garbage(
    ctx: Context, dry_run: bool = False, grace_s: float = DEFAULT_GRACE_S
) -> GcReport:
    """Remove cache objects no run needs that are older than ``grace_s``, and old temps."""
    from gitrack.tracking.registry.state import registered_objects
    from gitrack.tracking.sync import run_objects

    def run_references() -> tuple[list[str], list[str]]:
        loaded = ctx.load_runs()  # read anew each time: gc reads the notes twice
        # A registered model's bytes stay while its tag does, whatever becomes of its run.
        return run_objects(loaded.runs) + registered_objects(ctx.repo), loaded.warnings

    folder = cache_root(ctx.repo.common_dir, ctx.settings.cache, ctx.repo.root)
    return gc.collect(Cache(folder), run_references, grace_s, dry_run)
