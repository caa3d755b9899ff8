"""The command line: parse, call one library function, print. Nothing else lives here."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gitrack import __version__
from gitrack.errors import GitrackError
from gitrack.views.terminal import printable, printable_json

if TYPE_CHECKING:
    from gitrack.commands.context import Context
    from gitrack.data.gc import GcReport

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="gitrack")
def cli() -> None:
    """gitrack: every experiment run recorded in git itself.

    \b
    A run's code (uncommitted edits and untracked files included), command,
    params, metrics and environment go into a git note on the current commit;
    `git log` shows them and `gitrack checkout RUN` brings the exact state back.

    \b
    Start with:
      gitrack install
      gitrack run -p lr=0.1 -m metrics.json -- python train.py --lr 0.1
      git log            # or: gitrack ls
    """


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


@cli.command(
    context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option("--name", help="A name for the run (also accepted where a run id is).")
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
def list_runs(as_json: bool, limit: int | None, where: str | None, sort: str | None) -> None:
    """List every run in the repository, newest first.

    Runs on commits no branch reaches are listed too. A `*` after the status
    marks a run made with uncommitted changes. --where takes MLflow's search
    grammar (metrics.KEY, params.KEY, tags.KEY, datasets.PATH, attributes
    such as status, commit, started, duration_s, dirty; = != < <= > >= LIKE
    ILIKE IN), plus `or`, `not` and parentheses. Numbers compare as numbers.

    \b
    Examples:
      gitrack ls
      gitrack ls -n 5
      gitrack ls --where "metrics.auc > 0.9 and params.model = 'tree'" --sort -metrics.auc
      gitrack ls --where "(status = 'failed' or dirty = true) and not tags.team = 'x'"
      gitrack ls --json | python -m json.tool
    """
    from gitrack.commands.listing import list_runs as select_runs
    from gitrack.views import render

    listing = select_runs(_context(), where, sort, limit)
    _warn_all(listing.warnings)
    runs = listing.runs
    if as_json and not sys.stdout.isatty():
        # Compact and fast; C0 controls are escaped by JSON itself, DEL and C1 here.
        click.echo(printable_json("[" + ",".join(run.public_json() for run in runs) + "]"))
    elif as_json:
        _print_json([r.record.to_public(r.commit) for r in runs])
    elif not runs and where:
        click.echo(f"no run matches --where {where!r} ({listing.total} run(s) in all)", err=True)
    elif not runs:
        click.echo("no runs yet: record one with `gitrack run -- COMMAND`", err=True)
    else:
        click.echo(render.table(runs, shutil.get_terminal_size((120, 24)).columns))


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
def compare(run_refs: tuple[str, ...], code: bool) -> None:
    """Compare runs side by side: params, metrics, datasets and outputs.

    Rows that differ between the runs are marked with `*`. With --code, the
    diff from the first run's code to each other run's code follows.

    \b
    Examples:
      gitrack compare 3f2a 9c1b
      gitrack compare 3f2a 9c1b 77e0 --code
    """
    from gitrack.commands.show import compare_runs
    from gitrack.views import render

    result = compare_runs(_context(), list(run_refs), with_code=code)
    click.echo(render.comparison(result.runs, result.rows))
    for first, other, patch in result.code_diffs:
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
    user, host, then params.*, metrics.*, tags.*, datasets.*, outputs.*.

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
    from gitrack.commands.context import Context
    from gitrack.commands.fsck import check_state

    report = check_state(Context.open(), verify_data, check_remote, repair)
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
@click.option("--no-data", is_flag=True, help="Runs only; leave the data for checkout to fetch.")
def pull(remote: str | None, no_data: bool) -> None:
    """Fetch and merge the runs of a remote (default: the branch's remote, else origin).

    The remote's notes are fetched into a tracking ref and merged with yours:
    both sides' runs are kept, each once, in time order; nothing is
    force-fetched over your runs. The data the new runs reference comes from
    the remote cache (`[remote] url = ...` in the config), verified by hash.

    \b
    Examples:
      gitrack pull
      gitrack pull upstream --no-data
    """
    from gitrack.commands import sync

    report = sync.pull(_context(), remote, with_data=not no_data)
    _warn_all(report.warnings)
    data = f", {report.objects} object(s) fetched ({_size(report.bytes)})" if report.objects else ""
    click.echo(f"pulled from {report.remote}: {report.new_runs} new run(s){data}")


@cli.command()
@click.argument("remote", required=False)
@click.option("--no-data", is_flag=True, help="Runs only; do not upload data to the remote cache.")
def push(remote: str | None, no_data: bool) -> None:
    """Publish your runs to a remote (default: the branch's remote, else origin).

    Uploads the data your runs reference to the remote cache first (if one is
    configured), then merges the remote's runs, pushes without force, and
    retries when another push wins a race. `gitrack install` makes `git push`
    do this too.

    \b
    Examples:
      gitrack push
      gitrack push origin --no-data
    """
    from gitrack.commands import sync

    report = sync.push(_context(), remote, with_data=not no_data)
    _warn_all(report.warnings)
    sent = f", {report.objects} object(s) uploaded ({_size(report.bytes)})"
    data = sent if report.objects else ""
    verb = "pushed runs to" if report.pushed else "nothing pushed to"
    click.echo(f"{verb} {report.remote}{data}")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1024
    return f"{count} B"


@cli.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path))
def demo(directory: Path | None) -> None:
    """Try gitrack on a throwaway repository with a tiny training script.

    Builds the repository in DIRECTORY (default: a new temporary folder),
    records a few runs with different params (one on an uncommitted edit),
    shows them with `git log`, and restores the best one, checking it is exact.

    \b
    Example:
      gitrack demo /tmp/gitrack-demo
    """
    from gitrack.commands import demo as demo_module

    demo_module.run_demo(directory, echo=click.echo)


def _print_json(data: Any) -> None:
    # Indented for people; compact for pipes and scripts (Python's C encoder, 2x faster).
    if sys.stdout.isatty():
        click.echo(printable_json(json.dumps(data, indent=2, ensure_ascii=False)))
    else:
        click.echo(printable_json(json.dumps(data, ensure_ascii=False, separators=(",", ":"))))


def _context() -> Context:
    """The repository, config and store of this invocation; config warnings shown once."""
    from gitrack.commands.context import Context

    ctx = Context.open()
    _warn_all(list(ctx.settings.warnings))
    return ctx


def _warn_all(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"gitrack: warning: {printable(warning)}", err=True)  # may quote notes


def main(argv: list[str] | None = None) -> int:
    try:
        result = cli.main(args=argv, prog_name="gitrack", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except GitrackError as exc:
        click.echo(f"Error: {printable(str(exc))}", err=True)  # may quote notes
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0  # `gitrack ls | head`
    except Exception as exc:
        from gitrack import crash

        click.echo(crash.report(exc, list(sys.argv[1:] if argv is None else argv)), err=True)
        return crash.CRASH_EXIT
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
