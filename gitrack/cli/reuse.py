"""Commands that reuse recorded runs: rerun one, sweep parameters, read a run's files."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitrack.cli.base import CONTEXT, _context, _warn_all, cli
from gitrack.errors import UsageError
from gitrack.views.terminal import printable

if TYPE_CHECKING:
    from gitrack.tracking.rerun import Row
    from gitrack.tracking.sweep import SweepResult


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


@cli.command(
    context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option(
    "-p",
    "--param",
    "specs",
    multiple=True,
    required=True,
    metavar="NAME=VALUES",
    help="Values to sweep: lr=0.1,0.01, or with --random a range: lr=loguniform(1e-4,1e-1).",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, help="Run N points at a time.")
@click.option(
    "--random",
    "random_count",
    type=click.IntRange(min=1),
    metavar="K",
    help="K random draws instead of the grid: uniform(a,b), loguniform(a,b), randint(a,b), "
    "choice(x,y,…), or a list of values.",
)
@click.option("--seed", type=int, help="Seed of the --random draws (the same draws again).")
@click.option("-d", "--data", "datasets", multiple=True, metavar="PATH", help="A dataset.")
@click.option("-o", "--output", "outputs", multiple=True, metavar="PATH", help="An output.")
@click.option("-m", "--metrics", "metrics_file", metavar="FILE", help="Each point's JSON metrics.")
@click.option("--name", help="A name for the sweep's own run.")
@click.option(
    "-e", "--experiment", metavar="NAME", help="The experiment of the sweep and its points."
)
@click.option(
    "--sort", metavar="[-]KEY", help="Order the points by metric KEY (-KEY: highest first)."
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def sweep(
    specs: tuple[str, ...],
    jobs: int,
    random_count: int | None,
    seed: int | None,
    datasets: tuple[str, ...],
    outputs: tuple[str, ...],
    metrics_file: str | None,
    name: str | None,
    experiment: str | None,
    sort: str | None,
    command: tuple[str, ...],
) -> int:
    """Run COMMAND over a grid of parameters, each point a recorded run.

    Every combination of the -p values (or --random K draws) runs as
    `gitrack run -p NAME=VALUE …`: {NAME} in COMMAND and in -d/-o/-m paths
    is replaced by the value, which is also in $GITRACK_PARAM_NAME. The
    points are children of one run recorded for the sweep itself (`gitrack
    ls` shows them under it). With --jobs N, N points run at once; then every
    -o and -m path must differ between points (put {NAME} in it). Ctrl-C
    stops every point (recorded as interrupted). At the end, a table of the
    points sorted by metric; the exit status is 1 if any point failed.

    \b
    Examples:
      gitrack sweep -p lr=0.1,0.01 -p depth=3,5 -m m.json -- python train.py --lr {lr} -d {depth}
      gitrack sweep -p lr=0.1,0.01 --jobs 2 -m m-{lr}.json -o model-{lr}.pt -- python t.py {lr}
      gitrack sweep --random 20 --seed 1 -p "lr=loguniform(1e-4,1e-1)" -- python train.py {lr}
      gitrack sweep -p seed=1,2,3 --sort -metrics.acc -e seeds -- python train.py --seed {seed}
    """
    from gitrack.commands.sweep import sweep as run_sweep

    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    result = run_sweep(
        _context(),
        argv,
        list(specs),
        jobs=jobs,
        random_count=random_count,
        seed=seed,
        datasets=datasets,
        outputs=outputs,
        metrics_file=metrics_file,
        name=name,
        experiment=experiment,
        sort=sort,
    )
    _warn_all(result.warnings)
    click.echo(_points_table(result))
    parent = result.parent
    failed = sum(p.status != "ok" for p in result.points)
    state = "stopped" if not result.completed else f"{failed} failed" if failed else "all ok"
    click.echo(
        f"gitrack: recorded sweep {parent.id} with {len(result.points)} point(s) ({state})",
        err=True,
    )
    return result.exit_code


def _points_table(result: SweepResult) -> str:
    names = list(result.points[0].params) if result.points else []
    key = result.sort_key
    header = ["run", "status", *names, *([key] if key else [])]
    lines = [header]
    for point in result.points:
        value = point.metrics.get(key) if key else None
        lines.append(
            [
                (point.run_id or "-")[:8],
                point.status,
                *(printable(point.params[n]) for n in names),
                *([f"{value:.6g}" if value is not None else "-"] if key else []),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("path", metavar="PATH")
@click.option(
    "-o",
    "--out",
    "dest",
    type=click.Path(path_type=Path),
    metavar="DEST",
    help="Where to write it (a file or a folder; default: its name, here).",
)
@click.option("--force", is_flag=True, help="Replace DEST if it exists.")
def get(run_ref: str, path: str, dest: Path | None, force: bool) -> None:
    """Write one file of a run: a dataset, an output, or any file of its code.

    PATH is relative to the repository root, as `gitrack ls-files RUN --all`
    lists it; a file inside a folder dataset works too. Data comes from the
    cache (the team's cache if it is missing here), verified by hash; code
    from the run's snapshot in git. Your working tree is not touched.

    \b
    Examples:
      gitrack get 3f2a model.pt
      gitrack get 3f2a data/train.csv -o /tmp/train-then.csv
      gitrack get 3f2a train.py -o old-train.py --force
    """
    from gitrack.commands.files import get_file

    found, target = get_file(_context(), run_ref, path, dest, force)
    click.echo(f"wrote {printable(found.path)} ({found.kind}) to {target}; verified", err=True)


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("path", metavar="PATH")
def cat(run_ref: str, path: str) -> None:
    """Print one file of a run to stdout: a dataset, an output or a code file.

    The bytes are verified (by hash, or by git) before the first one is written.

    \b
    Examples:
      gitrack cat 3f2a train.py
      gitrack cat 3f2a metrics.json | python -m json.tool
      gitrack cat 3f2a data/images/cat.png > cat.png
    """
    from gitrack.commands.files import run_files

    files = run_files(_context(), run_ref)
    binary = getattr(sys.stdout, "buffer", None)  # None: a text-only stdout (captured)
    with files.open(path) as source:
        while chunk := source.read(1 << 20):
            if binary is not None:
                binary.write(chunk)
            else:
                sys.stdout.write(chunk.decode("utf-8", "surrogateescape"))
    (binary or sys.stdout).flush()


@cli.command(name="ls-files")
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--all", "all_code", is_flag=True, help="List every code file, not only changed ones."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def ls_files(run_ref: str, all_code: bool, as_json: bool) -> None:
    """List what a run holds: changed code files, datasets and outputs, with sizes.

    Code files are those of the run's snapshot that differ from its commit
    (uncommitted edits, untracked files); --all lists every one. A folder
    dataset is listed file by file when its manifest is in the cache.

    \b
    Examples:
      gitrack ls-files 3f2a
      gitrack ls-files 3f2a --all --json
    """
    from gitrack.cli.base import _print_json, _size
    from gitrack.commands.files import run_files

    listed = run_files(_context(), run_ref).listing(all_code)
    if as_json:
        _print_json(
            [{"path": f.path, "kind": f.kind, "size": f.size, "hash": f.digest} for f in listed]
        )
        return
    kind_width = max((len(f.kind) for f in listed), default=0)
    for f in listed:
        size = _size(f.size) if f.size is not None else "?"
        click.echo(f"{f.kind.ljust(kind_width)}  {size:>10}  {printable(f.path)}")
