"""Commands that change finished runs (rm, tag, rename, note) and list experiments."""

from __future__ import annotations

import click

from gitrack.cli.base import _context, _print_json, cli
from gitrack.views.terminal import printable


@cli.command()
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option("--undo", is_flag=True, help="Show hidden runs again instead of hiding them.")
def rm(run_refs: tuple[str, ...], undo: bool) -> None:
    """Hide runs: `ls`, `export` and `gitrack.runs()` leave them out.

    Nothing is erased: the runs stay in the notes (a hide is a line added to
    them, shared by push and pull like runs), `gitrack ls --deleted` lists
    them and --undo brings them back. Their data stays in the cache until
    `gitrack gc` runs two weeks (or its --grace, if longer) after the hide.

    \b
    Examples:
      gitrack rm 3f2a 9c1b
      gitrack ls --deleted
      gitrack rm --undo 3f2a
    """
    from gitrack.commands.lifecycle import hide

    result = hide(_context(), list(run_refs), undo=undo)
    for message in result.skipped:
        click.echo(f"gitrack: {message}", err=True)
    verb = "restored" if undo else "hidden"
    for run in result.runs:
        click.echo(f"{verb} run {run.id}")


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("assignments", metavar="KEY=VALUE...", nargs=-1)
@click.option("--remove", "removed", multiple=True, metavar="KEY", help="Remove tag KEY.")
def tag(run_ref: str, assignments: tuple[str, ...], removed: tuple[str, ...]) -> None:
    """Set (or remove) tags of a finished run.

    \b
    Examples:
      gitrack tag 3f2a verdict=best reviewed=yes
      gitrack tag 3f2a --remove verdict
      gitrack ls --where "tags.verdict = 'best'"
    """
    from gitrack.commands.lifecycle import tag as tag_run
    from gitrack.tracking.recorder import parse_assignments

    values = parse_assignments(assignments, "tag")
    run = tag_run(_context(), run_ref, values, removed)
    click.echo(f"tagged run {run.id}")


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("name", metavar="NAME")
def rename(run_ref: str, name: str) -> None:
    """Give a run a new name; names are unique and accepted wherever a run id is.

    \b
    Examples:
      gitrack rename 3f2a baseline
      gitrack show baseline
    """
    from gitrack.commands.lifecycle import rename as rename_run

    run = rename_run(_context(), run_ref, name)
    click.echo(f"renamed run {run.id} to {printable(name)}")


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("text", metavar="TEXT")
def note(run_ref: str, text: str) -> None:
    """Describe a run in free text, shown by `gitrack show`; "" removes it.

    \b
    Examples:
      gitrack note 3f2a "lr too high: diverged after epoch 3"
      gitrack note 3f2a ""
    """
    from gitrack.commands.lifecycle import annotate

    run = annotate(_context(), run_ref, text)
    click.echo(f"noted run {run.id}")


@cli.command()
@click.option(
    "--metric", metavar="[-]KEY", help="Best run by metric KEY (highest; -KEY for lowest)."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def experiments(metric: str | None, as_json: bool) -> None:
    """List experiments: how many runs each has, and its best run by a metric.

    A run belongs to the experiment given by `gitrack run -e NAME`,
    `start_run(experiment=NAME)`, `experiment = "NAME"` in the config or
    GITRACK_EXPERIMENT. Hidden runs are not counted.

    \b
    Examples:
      gitrack experiments
      gitrack experiments --metric auc
      gitrack experiments --metric -loss --json
    """
    from gitrack.commands.experiments import list_experiments
    from gitrack.views.experiments import experiments_table

    found = list_experiments(_context(), metric)
    if as_json:
        _print_json([e.to_public() for e in found])
    elif not found:
        click.echo("no runs yet: record one with `gitrack run -e NAME -- COMMAND`", err=True)
    else:
        click.echo(experiments_table(found, metric))
