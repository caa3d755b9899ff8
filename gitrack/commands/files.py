"""`gitrack get`, `gitrack cat`, `gitrack ls-files`: a run's files, without a checkout."""

from __future__ import annotations

from pathlib import Path

from gitrack.commands.context import Context
from gitrack.errors import GitrackError
from gitrack.tracking import history
from gitrack.tracking.runfiles import RunFile, RunFiles


def run_files(ctx: Context, ref: str) -> RunFiles:
    run = history.resolve(ctx.load_runs(), ref)
    return RunFiles(ctx.repo, ctx.store, run, ctx.settings.remote)


def get_file(
    ctx: Context, ref: str, path: str, dest: Path | None = None, force: bool = False
) -> tuple[RunFile, Path]:
    """One file of the run written to ``dest`` (default: its name, here), verified."""
    files = run_files(ctx, ref)
    found = files.locate(path)
    target = dest if dest is not None else Path(found.path.rsplit("/", 1)[-1])
    if target.is_dir():
        target = target / found.path.rsplit("/", 1)[-1]
    if not target.parent.is_dir():
        raise GitrackError(f"folder {target.parent} does not exist; create it or choose another -o")
    if target.exists() and not force:
        raise GitrackError(f"{target} already exists; pass --force to replace it, or -o DEST")
    return files.write(path, target), target
