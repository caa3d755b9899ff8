"""Commands that reuse recorded runs: rerun one, sweep parameters, read a run's files."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitrack.cli.base import _context, _warn_all, cli
from gitrack.errors import UsageError
from gitrack.views.terminal import printable

if TYPE_CHECKING:
    from gitrack.tracking.rerun import Row


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--worktree",
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Rerun in a new linked worktree at PATH (default: a temporary folder).",
)
@click.option("--keep", is_flag=True, help="Leave the worktree after the rerun (to look at it).")
@click.option(
    "--rtol",
    type=click.FloatRange(min=0.0),
    default=0.0,
    metavar="X",
    help="Metrics within relative tolerance X count as equal (default: exactly equal).",
)
@click.option("-y", "--yes", is_flag=True, help="Run the recorded command without asking.")
def rerun(run_ref: str, worktree: Path | None, keep: bool, rtol: float, yes: bool) -> int:
    """Re-execute a run at its exact state and check that it reproduces.

    The run's code, datasets and big files are restored into a new linked
    worktree (verified; your working tree is left alone), its recorded command
    runs there in the same folder with the same params, -d, -o and -m, and is
    recorded as a new run with rerun_of set to RUN. Then every output is
    compared by hash, every metric exactly (or within --rtol) and the exit
    status. Exit status 0 only when everything matches.

    The command comes from the run's note, which may come from someone else's
    clone: it is shown first and runs only when you answer yes (or pass --yes;
    without a terminal to ask on, --yes is required).

    \b
    Examples:
      gitrack rerun 3f2a
      gitrack rerun 3f2a --rtol 1e-6 --keep --worktree ../rerun-3f2a
      gitrack rerun best --yes
      gitrack ls --where "rerun_of = '3f2a9c1b00d4e5f6'"
    """
    from gitrack.commands.rerun import plan_rerun
    from gitrack.commands.rerun import rerun as rerun_run
    from gitrack.tracking.rerun import summary

    ctx = _context()
    plan = plan_rerun(ctx, run_ref)
    click.echo(
        f"gitrack: rerun of run {plan.run.id} runs, in {printable(plan.cwd)}:\n"
        f"  {printable(shlex.join(plan.command))}",
        err=True,
    )
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "the recorded command above runs only when you agree: pass --yes to run it "
                "(no terminal to ask on)"
            )
        if not click.confirm("Run it?", default=False, err=True):
            click.echo("not run", err=True)
            return 1
    result = rerun_run(ctx, plan, worktree, keep, rtol)
    _warn_all([*result.warnings, *result.rerun.warnings])
    if result.rerun.error:
        click.echo(f"gitrack: {printable(result.rerun.error)}", err=True)
    click.echo(_verdict_table(result.rows))
    new = result.rerun.record
    kept = f"; worktree kept at {result.worktree}" if result.kept else ""
    click.echo(f"recorded rerun {new.id} ({new.status}, exit {new.exit_code}){kept}", err=True)
    click.echo(summary(result.rows))
    return 0 if result.reproduced else 1


def _verdict_table(rows: list[Row]) -> str:
    lines = [("", "what", "recorded", "rerun")]
    for row in rows:
        lines.append(
            (
                "=" if row.same else "≠",
                printable(f"{row.kind} {row.name}" if row.kind != "exit" else row.name),
                _short(row.recorded),
                _short(row.rerun),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _short(value: str) -> str:
    """Hashes as their first 12 hex digits: enough to see which differ."""
    algo, sep, digest = value.partition(":")
    if sep and algo.startswith("xxh") and len(digest) > 12:
        return f"{algo}:{digest[:12]}"
    return printable(value)
