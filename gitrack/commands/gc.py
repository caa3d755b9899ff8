"""`gitrack gc`: remove cache objects that no run, finished or running, references."""

from __future__ import annotations

from dataclasses import dataclass

from gitrack.commands.context import Context


@dataclass
class GcReport:
    removed: int
    freed_bytes: int
    kept: int
    warnings: list[str]


def collect_garbage(ctx: Context, dry_run: bool = False) -> GcReport:
    """Remove cache objects that no run (and no run in progress) references."""
    store = ctx.store
    # Markers first, then notes: a run that finishes in between has its note written
    # before its marker goes, so it is seen one way or the other.
    wanted: list[str] = list(store.pending_hashes())
    wanted += store.preserved_hashes()
    loaded = ctx.load_runs()
    for run in loaded.runs:
        rec = run.record
        wanted += [*rec.datasets.values(), *rec.outputs.values(), *rec.large_files.values()]
    keep, warnings = store.referenced_objects(wanted)
    removed = freed = kept = 0
    for obj in store.cache.iter_objects():
        if obj.hash in keep:
            kept += 1
            continue
        removed += 1
        freed += obj.size
        if not dry_run:
            store.cache.remove(obj)
    return GcReport(removed, freed, kept, [*loaded.warnings, *warnings])
