"""`gitrack model ...`: register, assign, unassign, deprecate, ls, get."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitrack.cli.base import _context, _print_json, cli
from gitrack.views.terminal import printable


@cli.group()
def model() -> None:
    """The model registry: versions and stages as git tags, in GTO's format.

    \b
    `register` tags the run's exact code as NAME@vX.Y.Z (the tag's message
    names the run, the model's path and hash, and its metrics); `assign`
    puts a version in a stage (NAME#STAGE#N, the latest assignment wins);
    `get` writes the bytes of NAME, NAME@vX.Y.Z, NAME@latest or NAME#STAGE,
    verified by hash. `gitrack push`/`pull` carry the tags; `gto` and
    DVC Studio read them as their own.

    \b
    Examples:
      gitrack model register churn 3f2a9c01
      gitrack model assign churn v0.0.1 prod
      gitrack model get churn#prod -o model.pkl
    """


@model.command()
@click.argument("name")
@click.argument("run")
@click.option(
    "--path",
    "paths",
    multiple=True,
    metavar="OUTPUT",
    help="The run's output that is the model (repeatable; default: its only one).",
)
@click.option(
    "--version",
    "version",
    metavar="vX.Y.Z",
    help="The version to register (must be greater than every existing one).",
)
@click.option("--bump", type=click.Choice(["major", "minor", "patch"]),
              help="Bump the greatest version (default: patch).")  # fmt: skip
def register(
    name: str, run: str, paths: tuple[str, ...], version: str | None, bump: str | None
) -> None:
    """Register a run's model as a new version of NAME.

    The tag, NAME@vX.Y.Z, points at the run's exact code: its snapshot commit when it ran on
    uncommitted edits, else its commit. Refuses a run that did not finish ok,
    a path that is not one of its outputs, and a version that exists or would
    go backwards.

    \b
    Examples:
      gitrack model register churn 3f2a9c01
      gitrack model register churn best-lr --path models/churn.pkl --bump minor
      gitrack model register churn 3f2a9c01 --version v2.0.0
    """
    from gitrack.commands import model as commands

    ctx = _context()
    if not paths and sys.stdin.isatty():
        outputs = commands.outputs_of(ctx, run)
        if len(outputs) > 1:  # ask, rather than guess which output is the model
            choice = click.Choice(outputs)
            paths = (click.prompt("Which output is the model?", type=choice),)
    made = commands.register(ctx, name, run, paths, version, bump)
    where = f"run {made.run}, commit {made.commit[:12]}"
    click.echo(f"registered {made.model}@{made.version} ({where}): tag {made.tag}")


@model.command()
@click.argument("name")
@click.argument("version")
@click.argument("stage")
def assign(name: str, version: str, stage: str) -> None:
    """Put VERSION of NAME in STAGE (tag NAME#STAGE#N).

    VERSION may be `latest`. The latest assignment of a stage wins, as in
    GTO. MLflow's model aliases (`models:/churn@champion`) map onto stages:
    `assign churn v3.0.0 champion`.

    \b
    Examples:
      gitrack model assign churn v1.2.0 prod
      gitrack model assign churn latest staging
    """
    from gitrack.commands import model as commands

    made = commands.assign(_context(), name, version, stage)
    click.echo(f"{made.model}@{made.version} is now in {made.stage}: tag {made.tag}")


@model.command()
@click.argument("name")
@click.argument("stage")
def unassign(name: str, stage: str) -> None:
    """Take STAGE from the version of NAME holding it.

    Tags NAME#STAGE!#N. As in GTO, the stage then falls back to the version
    that held it before, if any.

    \b
    Example:
      gitrack model unassign churn staging
    """
    from gitrack.commands import model as commands

    made = commands.unassign(_context(), name, stage)
    click.echo(f"{made.model}@{made.version} left {made.stage}: tag {made.tag}")


@model.command()
@click.argument("name")
@click.argument("version", required=False)
def deprecate(name: str, version: str | None) -> None:
    """Deprecate one VERSION of NAME, or the whole model.

    Tags NAME@vX.Y.Z! for a version, NAME@deprecated for the model. Nothing
    is deleted: the tags stay, `gitrack model ls` shows the state.

    \b
    Examples:
      gitrack model deprecate churn v1.0.0
      gitrack model deprecate churn
    """
    from gitrack.commands import model as commands

    made = commands.deprecate(_context(), name, version)
    what = f"{made.model}@{made.version}" if made.version else f"model {made.model}"
    click.echo(f"deprecated {what}: tag {made.tag}")


@model.command(name="ls")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every field, every version).")
def ls_command(name: str | None, as_json: bool) -> None:
    """List models, versions and stages.

    Each version with its stages, run, first metric, and when and by whom it
    was registered; --json gives every field.

    \b
    Examples:
      gitrack model ls
      gitrack model ls churn --json
    """
    from gitrack.commands import model as commands

    data = commands.listing(_context(), name)
    if as_json:
        _print_json(data)
        return
    if not data:
        click.echo("no models yet: gitrack model register NAME RUN")
        return
    from gitrack.views.models import model_rows

    for row in model_rows(data):
        click.echo(printable(row))  # names and messages come from other clones' tags


@model.command()
@click.argument("spec", metavar="NAME[@vX.Y.Z|@latest|#STAGE]")
@click.option(
    "-o",
    "--output",
    "dest",
    type=click.Path(path_type=Path),
    help="Where to write it (default: the model's file name, here).",
)
@click.option(
    "--run", "print_run", is_flag=True, help="Print the id of the run that made it instead."
)
def get(spec: str, dest: Path | None, print_run: bool) -> None:
    """Write a model's bytes, verified by hash.

    From the local cache, else the team cache ([remote] in the config). What
    DEST replaces is kept in the cache first.

    \b
    Examples:
      gitrack model get churn#prod -o model.pkl
      gitrack model get churn@v1.2.0
      gitrack checkout $(gitrack model get churn#prod --run)
    """
    from gitrack.commands import model as commands

    ctx = _context()
    if print_run:
        click.echo(commands.run_of(ctx, spec))
        return
    version, written = commands.get(ctx, spec, dest)
    click.echo(f"{version.model}@{version.version} -> {written}", err=True)
