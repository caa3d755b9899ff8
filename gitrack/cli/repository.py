"""Commands about the repository: install, data, cache, integrity, sharing, the demo."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitrack.cli.base import _context, _print_json, _size, _warn_all, cli
from gitrack.views.terminal import printable

if TYPE_CHECKING:
    from gitrack.data.gc import GcReport


@cli.command()
def install() -> None:
    """Set up this repository: runs shown by `git log`, kept across amend and rebase.

    \b
    Adds notes.displayRef and notes.rewriteRef = refs/notes/gitrack and sets
    notes.rewriteMode = cat_sort_uniq in the repository's own config. Safe to
    run again; `gitrack uninstall` undoes exactly this.

    \b
    Example:
      gitrack install
    """
    from gitrack.commands import install as installer

    for change in installer.install(_context().repo):
        click.echo(change.describe())


@cli.command()
def uninstall() -> None:
    """Undo `gitrack install`; recorded runs are kept.

    \b
    Example:
      gitrack uninstall
    """
    from gitrack.commands import install as installer

    changes = installer.uninstall(_context().repo)
    for change in changes:
        click.echo(change.describe())
    if not changes:
        click.echo("nothing to undo: gitrack is not installed here")


@cli.command(name="hash")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def hash_command(paths: tuple[Path, ...]) -> None:
    """Print the xxh128 hash of files and folders, as runs record them.

    For a file it is exactly the digest `xxh128sum` prints; a folder's hash is
    that of its manifest, marked `.dir` (see docs/format.md). Unchanged files
    are not read again (a stat cache in the repository).

    \b
    Examples:
      gitrack hash data/train.parquet
      gitrack hash data/images
    """
    from gitrack.data.hasher import hash_paths

    for digest, path in hash_paths(list(paths)):
        click.echo(f"{digest}  {path}")


@cli.command()
def status() -> None:
    """Do the configured datasets match the newest run on HEAD?

    Datasets come from `data = [...]` in the config and from that run. Fast:
    unchanged files are checked by stat, not read.

    \b
    Example:
      gitrack status
    """
    from gitrack.commands.status import data_status

    report = data_status(_context())
    if report.run is None:
        click.echo("no run on HEAD yet")
    else:
        click.echo(f"newest run on HEAD: {report.run.id}")
    for state, path in report.rows:
        click.echo(f"{state:>11}  {printable(path)}")  # paths come from notes too
    if not report.rows:
        click.echo("no datasets configured or recorded")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@click.option(
    "--grace",
    metavar="DURATION",
    help="Keep unreferenced objects and temp files younger than this (default: 2 weeks), "
    "e.g. '3 days', '12h'.",
)
@click.option(
    "--now",
    is_flag=True,
    help="No grace period for objects (runs in progress stay protected). Only when no "
    "checkout and no other tool writes to the cache.",
)
def gc(dry_run: bool, grace: str | None, now: bool) -> None:
    """Remove cache objects that no recorded run references.

    Objects of runs still in progress are kept, and so are objects and temp files
    younger than the grace period (like git's gc.pruneExpire). Temp files that
    writers killed mid-write left are removed once older than it. Only this
    repository's runs count: do not run it on a cache folder that other
    repositories share.

    \b
    Examples:
      gitrack gc --dry-run
      gitrack gc
      gitrack gc --grace 3d
    """
    from gitrack.commands.gc import collect_garbage
    from gitrack.data.gc import DEFAULT_GRACE_S, parse_grace
    from gitrack.errors import UsageError

    if now and grace is not None:
        raise UsageError("--now and --grace say the same thing twice; give one of them")
    grace_s = 0.0 if now else DEFAULT_GRACE_S if grace is None else parse_grace(grace)
    report = collect_garbage(_context(), dry_run, grace_s)
    _warn_all(report.warnings)
    for line in _gc_summary(report, dry_run):
        click.echo(line)


def _gc_summary(report: GcReport, dry_run: bool) -> list[str]:
    from gitrack.data.gc import describe_grace

    verb = "would remove" if dry_run else "removed"
    lines = [
        f"{verb} {report.removed} object(s), {_size(report.freed_bytes)}; "
        f"kept {report.kept} referenced object(s)"
    ]
    if report.young:
        lines.append(
            f"kept {report.young} unreferenced object(s) younger than the grace period "
            f"({describe_grace(report.grace_s)}); gitrack gc --now removes them"
        )
    if report.temps:
        lines.append(
            f"{verb} {len(report.temps)} temp file(s) of crashed writers, "
            f"{_size(report.temp_bytes)}{':' if dry_run else ''}"
        )
        if dry_run:
            lines += [f"  {path}" for path in report.temps[:10]]
            lines += ["  …"] if len(report.temps) > 10 else []
    return lines


@cli.command()
@click.option("--data", "verify_data", is_flag=True, help="Also re-hash every cache object.")
@click.option(
    "--remote",
    "check_remote",
    is_flag=True,
    help="Also check the remote cache holds the data of the runs on the git remote.",
)
@click.option("--repair", is_flag=True, help="Fix what is safe to fix, and say what was done.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def fsck(verify_data: bool, check_remote: bool, repair: bool, as_json: bool) -> int:
    """Check gitrack's own state, as `git fsck` checks git's objects.

    Every note line parses; every run's snapshot is present and pinned by
    refs/gitrack/pins; every cache object a run references (datasets, outputs,
    large files, folder manifests and their files) is present, and with --data
    hashes to its name; every step-metric blob is present. --remote checks the
    team's cache holds the data of the runs pushed to the git remote.
    Prints one line per problem, naming the runs, then a summary; exits 1 if
    any problem is left. --repair only does what loses nothing: pins snapshots
    that exist but are unpinned, removes cache temp files over an hour old,
    fetches missing objects from the remote cache.

    \b
    Examples:
      gitrack fsck
      gitrack fsck --data --remote
      gitrack fsck --repair
      gitrack fsck --json | python -m json.tool
    """
    from gitrack.commands.fsck import check_state

    report = check_state(_context(), verify_data, check_remote, repair)
    if as_json:
        _print_json(report.to_public())
    else:
        for done in report.repairs:
            click.echo(f"repaired: {done}")
        for problem in report.remaining:
            click.echo(problem.message)
        click.echo(report.summary())
    return 0 if report.ok else 1


@cli.command()
@click.argument("remote", required=False)
@click.option(
    "--data/--no-data",
    "with_data",
    default=False,
    help="Also download now the data of every new run (default --no-data: checkout "
    "fetches what it restores, when it restores it).",
)
def pull(remote: str | None, with_data: bool) -> None:
    """Fetch and merge the runs of a remote (default: the branch's remote, else origin).

    The remote's notes are fetched into a tracking ref and merged with yours:
    both sides' runs are kept, each once, in time order; nothing is
    force-fetched over your runs. Data comes on demand: `gitrack checkout`
    downloads from the remote cache (`[remote] url = ...` in the config) what
    it restores, verified by hash; --data downloads every new run's data now.

    \b
    Examples:
      gitrack pull
      gitrack pull upstream --data
    """
    from gitrack.commands import sync
    from gitrack.data.remote import bytes_only_process

    bytes_only_process()
    report = sync.pull(_context(), remote, with_data=with_data)
    _warn_all(report.warnings)
    data = f", {report.objects} object(s) fetched ({_size(report.bytes)})" if report.objects else ""
    tags = f", {report.tags} registry tag(s)" if report.tags else ""
    click.echo(f"pulled from {report.remote}: {report.new_runs} new run(s){data}{tags}")


@cli.command()
@click.argument("remote", required=False)
@click.option("--no-data", is_flag=True, help="Runs only; do not upload data to the remote cache.")
@click.option(
    "--recheck",
    is_flag=True,
    help="Check every object in the remote cache, not only those this clone has not seen there.",
)
def push(remote: str | None, no_data: bool, recheck: bool) -> None:
    """Publish your runs to a remote (default: the branch's remote, else origin).

    Uploads the data your runs reference to the remote cache first (if one is
    configured), then merges the remote's runs, pushes without force, and
    retries when another push wins a race. `gitrack install` makes `git push`
    do this too.

    \b
    Examples:
      gitrack push
      gitrack push origin --no-data
      gitrack push --recheck
    """
    from gitrack.commands import sync
    from gitrack.data.remote import bytes_only_process

    bytes_only_process()
    report = sync.push(_context(), remote, with_data=not no_data, recheck=recheck)
    _warn_all(report.warnings)
    sent = f", {report.objects} object(s) uploaded ({_size(report.bytes)})"
    data = sent if report.objects else ""
    verb = "pushed runs to" if report.pushed else "nothing pushed to"
    tags = f", {report.tags} registry tag(s)" if report.tags else ""
    click.echo(f"{verb} {report.remote}{data}{tags}")


@cli.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path))
def demo(directory: Path | None) -> None:
    """Try gitrack on a throwaway repository with a tiny training script.

    Builds the repository in DIRECTORY (default: a new temporary folder),
    records a few runs with different params (one on an uncommitted edit),
    shows them with `git log`, restores the best one, checking it is exact,
    then registers its model, puts it in prod and fetches it back by stage.

    \b
    Example:
      gitrack demo /tmp/gitrack-demo
    """
    from gitrack.commands import demo as demo_module

    demo_module.run_demo(directory, echo=click.echo)
