"""Commands about runs: record, list, show, check out, compare, export."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

import click

from gitrack.cli.base import CONTEXT, _context, _print_json, _warn_all, cli
from gitrack.errors import GitrackError
from gitrack.views.terminal import printable, printable_json


@cli.command(
    context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option(
    "--name",
    help="A name for the run, accepted where a run id is (the newest run of that name); "
    "not all hex digits, so it never reads as an id.",
)
@click.option(
    "-e", "--experiment", metavar="NAME", help="The experiment the run belongs to (gitrack ls -e)."
)
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A parameter.")
@click.option("-t", "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag.")
@click.option(
    "-m",
    "--metrics",
    "metrics_file",
    metavar="FILE",
    help="JSON file the command writes; its numbers become the run's metrics.",
)
@click.option(
    "-d",
    "--data",
    "datasets",
    multiple=True,
    metavar="PATH",
    help="A dataset (file or folder): hashed and cached when the run starts.",
)
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    metavar="PATH",
    help="An output (model, plots, predictions): hashed and cached when the run ends.",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(
    name: str | None,
    experiment: str | None,
    params: tuple[str, ...],
    tags: tuple[str, ...],
    metrics_file: str | None,
    datasets: tuple[str, ...],
    outputs: tuple[str, ...],
    command: tuple[str, ...],
) -> int:
    """Run COMMAND and record it as a run on the current commit.

    The working state (edits, staged or not, and untracked files) is saved
    before COMMAND starts; COMMAND's output passes through; gitrack exits
    with COMMAND's exit code. Failed and interrupted runs are recorded too.
    Datasets (-d) and outputs (-o) are hashed with xxh128 and kept in the
    content-addressed cache, so `gitrack checkout` brings them back too.

    \b
    Examples:
      gitrack run -- python train.py
      gitrack run --name baseline -p lr=0.1 -p seed=1 -m metrics.json -- python train.py --lr 0.1
      gitrack run -d data/train.parquet -d data/images -o model.pt -- python train.py
      gitrack run -e lr-search -p lr=0.01 -- python train.py --lr 0.01
    """
    from gitrack.tracking import recorder

    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    result = recorder.record_run(
        argv,
        name=name,
        params=recorder.parse_assignments(params, "-p"),
        tags=recorder.parse_assignments(tags, "-t"),
        metrics_file=metrics_file,
        datasets=datasets,
        outputs=outputs,
        experiment=experiment,
    )
    if result.error:
        click.echo(f"gitrack: {printable(result.error)}", err=True)
    _warn_all(result.warnings)
    rec = result.record
    click.echo(
        f"gitrack: recorded run {rec.id} on {result.commit[:10]} "
        f"({rec.status}, exit {rec.exit_code}, {rec.duration_s:.1f} s)",
        err=True,
    )
    return result.exit_code


@cli.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("-n", "limit", type=click.IntRange(min=0), help="Show only the first N runs.")
@click.option("--where", metavar="EXPR", help="Only runs matching EXPR (see examples).")
@click.option("--sort", metavar="[-]KEY", help="Order by KEY; a leading - for descending.")
@click.option("--deleted", is_flag=True, help="List only the runs hidden by `gitrack rm`.")
@click.option("-e", "--experiment", metavar="NAME", help="Only the runs of experiment NAME.")
@click.option("--flat", is_flag=True, help="Do not indent child runs under their parent.")
@click.option(
    "--columns",
    metavar="LIST",
    help="The table's columns, comma-separated: id, name, started, commit, status, "
    "duration, metrics, command, metrics.KEY, params.KEY, tags.KEY.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "markdown"]),
    help="table (default), json (as --json) or markdown (to paste into a pull request).",
)
def list_runs(
    as_json: bool,
    limit: int | None,
    where: str | None,
    sort: str | None,
    deleted: bool,
    experiment: str | None,
    flat: bool,
    fmt: str | None,
    columns: str | None,
) -> None:
    """List every run in the repository, newest first.

    Runs on commits no branch reaches are listed too. A `*` after the status
    marks a run made with uncommitted changes. --where takes MLflow's search
    grammar (metrics.KEY, params.KEY, tags.KEY, datasets.PATH, attributes
    such as status, commit, started, duration_s, dirty; = != < <= > >= LIKE
    ILIKE IN), plus `or`, `not` and parentheses. Numbers compare as numbers.
    The table shows the name, the fields sorted and filtered on, the params
    that differ between the runs listed, and fits the terminal (--columns
    chooses the columns instead).

    \b
    Examples:
      gitrack ls
      gitrack ls -n 5
      gitrack ls --columns id,name,params.C,metrics.test.auc,status
      gitrack ls --where "metrics.auc > 0.9 and params.model = 'tree'" --sort -metrics.auc
      gitrack ls --where "(status = 'failed' or dirty = true) and not tags.team = 'x'"
      gitrack ls -e tuning --flat
      gitrack ls --deleted
      gitrack ls --json | python -m json.tool
      gitrack ls --format markdown --sort -metrics.auc -n 10
    """
    from gitrack.commands.listing import list_runs as select_runs
    from gitrack.views import lstable

    chosen = lstable.parse_columns(columns) if columns is not None else None
    as_json = as_json or fmt == "json"
    listing = select_runs(
        _context(),
        where,
        sort,
        limit,
        deleted=deleted,
        experiment=experiment,
        nested=not (flat or as_json),
    )
    _warn_all(listing.warnings)
    runs = listing.runs
    if fmt == "markdown" and runs:
        from gitrack.views import markdown

        click.echo(markdown.runs_table(runs))
    elif as_json and not sys.stdout.isatty():
        _echo_json_list(run.public_json() for run in runs)
    elif as_json:
        _print_json([r.record.to_public(r.commit) for r in runs])
    elif not runs and deleted:
        click.echo("no hidden runs", err=True)
    elif not runs and (where or experiment is not None):
        wanted = f"--where {where!r}" if where else f"experiment {experiment!r}"
        click.echo(f"no run matches {wanted} ({listing.total} run(s) in all)", err=True)
    elif not runs:
        click.echo("no runs yet: record one with `gitrack run -- COMMAND`", err=True)
    else:
        width = shutil.get_terminal_size((120, 24)).columns
        focus = lstable.focus_fields(where, sort)
        click.echo(lstable.table(runs, width, focus, chosen, listing.depths))


def _echo_json_list(items: Iterable[str]) -> None:
    """``[item,item,…]`` and a newline, compact and fast; C0 controls are escaped by JSON
    itself, DEL and C1 here. Written in pieces, each made as it is written: 100,000 runs
    make 100 MB of JSON, which one string would have copied three times more (joined,
    bracketed, given a newline), and a list of every item held whole 90 MB more (28,000
    page faults of a cold listing)."""
    step = 1000
    left = iter(items)
    opening = "["
    while piece := list(islice(left, step)):
        click.echo(printable_json(opening + ",".join(piece)), nl=False)
        opening = ","
    click.echo("[]" if opening == "[" else "]")


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print the run as a JSON object.")
@click.option("--patch", is_flag=True, help="Print the uncommitted changes the run ran with.")
@click.option("--metric", "metric_key", metavar="KEY", help="Print the step history of a metric.")
def show(run_ref: str, as_json: bool, patch: bool, metric_key: str | None) -> None:
    """Show one run. RUN is a run id, a unique prefix of 4+ characters, or a name.

    \b
    Examples:
      gitrack show 3f2a
      gitrack show 3f2a --json
      gitrack show 3f2a --patch | git apply   # re-apply the run's edits elsewhere
      gitrack show 3f2a --metric loss
    """
    from gitrack.commands.show import show_run
    from gitrack.tracking.steps import metric_history
    from gitrack.views import render

    ctx = _context()
    view = show_run(ctx, run_ref)
    _warn_all(view.warnings)
    if metric_key is not None:
        steps = metric_history(ctx.repo, view.run.record, metric_key)
        if not steps:
            raise GitrackError(f"run {view.run.id} has no metric {metric_key!r}")
        click.echo(render.steps_table(steps))
    elif patch:
        click.echo(view.patch, nl=False)
    elif as_json:
        _print_json(view.run.record.to_public(view.run.commit))
    else:
        click.echo(view.text)


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--worktree",
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Restore into a new linked worktree at PATH; the current one is left alone.",
)
@click.option("--no-data", is_flag=True, help="Restore the code only, not datasets and outputs.")
def checkout(run_ref: str, worktree: Path | None, no_data: bool) -> None:
    """Bring back the exact working state of a run, and verify it.

    HEAD is detached at the run's commit and the working tree becomes the
    snapshot: the run's edits show as uncommitted changes, its untracked files
    as untracked. Refuses, changing nothing, if that would lose uncommitted work.
    The run's datasets and outputs come back from the cache, verified by hash;
    data they replace is kept in the cache first, so nothing is lost.

    \b
    Examples:
      gitrack checkout 3f2a
      gitrack checkout 3f2a --worktree ../best-run
      gitrack checkout 3f2a --no-data
    """
    from gitrack.commands.checkout import checkout as checkout_run

    result = checkout_run(_context(), run_ref, worktree, with_data=not no_data)
    _warn_all(result.warnings)
    data = (
        f"; {result.data_paths} data path(s) restored ({result.data_files_written} file(s) written)"
        if result.data_paths
        else ""
    )
    click.echo(
        f"restored run at {result.root}: HEAD detached at {result.commit[:10]}, "
        f"{result.changed} file(s) as uncommitted changes{data}; verified exact"
    )


@cli.command()
@click.argument("run_refs", metavar="RUN RUN...", nargs=-1, required=True)
@click.option("--code", is_flag=True, help="Also show the code diff between the runs' snapshots.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown"]),
    default="text",
    help="text (default) or markdown: a table to paste into a pull-request comment.",
)
def compare(run_refs: tuple[str, ...], code: bool, fmt: str) -> None:
    """Compare runs side by side: params, metrics, datasets and outputs.

    Rows that differ between the runs are marked with `*`. With --code, the
    diff from the first run's code to each other run's code follows.

    \b
    Examples:
      gitrack compare 3f2a 9c1b
      gitrack compare 3f2a 9c1b 77e0 --code
      gitrack compare 3f2a 9c1b --format markdown   # paste into a pull request
    """
    from gitrack.commands.show import compare_runs
    from gitrack.views import markdown, render

    result = compare_runs(_context(), list(run_refs), with_code=code)
    markdown_out = fmt == "markdown"
    if markdown_out:
        click.echo(markdown.comparison(result.runs, result.rows))
    else:
        click.echo(render.comparison(result.runs, result.rows))
    for first, other, patch in result.code_diffs:
        if markdown_out:
            click.echo(f"\ncode: `{first[:8]}` -> `{other[:8]}`\n")
            click.echo(markdown.code_block(patch, "diff") if patch else "(identical code)")
            continue
        click.echo(f"\n# code: {first[:8]} -> {other[:8]}")
        click.echo(patch or "(identical code)\n", nl=False)


@cli.command()
@click.argument("path", metavar="FILE", type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["parquet", "csv", "jsonl"]), help="Default: by extension."
)
@click.option("--where", metavar="EXPR", help="Only runs matching EXPR (as in gitrack ls).")
@click.option("--sort", metavar="[-]KEY", help="Order by KEY; a leading - for descending.")
def export(path: Path, fmt: str | None, where: str | None, sort: str | None) -> None:
    """Write every run as a table: one row per run, one column per field.

    Columns: id, name, commit, started, duration_s, status, dirty, exit_code,
    user, host, experiment, parent, then params.*, metrics.*, tags.*, datasets.*, outputs.*.

    \b
    Examples:
      gitrack export runs.parquet
      gitrack export runs.csv --where "status = 'ok'" --sort -metrics.auc
      gitrack export runs.txt --format jsonl
    """
    from gitrack.commands.listing import export_runs

    exported = export_runs(_context(), path, fmt, where, sort)
    _warn_all(exported.warnings)
    click.echo(f"wrote {exported.count} run(s) to {path}", err=True)
