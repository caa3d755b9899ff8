"""`gitrack report`: the runs as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import click

from gitrack.cli.base import _context, _size, _warn_all, cli
from gitrack.views.terminal import printable


@cli.command()
@click.argument("run_refs", metavar="[RUN]...", nargs=-1)
@click.option("--where", metavar="EXPR", help="Only runs matching EXPR (as in gitrack ls).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Where to write the page (default: gitrack-report.html).",
)
@click.option("--open", "open_page", is_flag=True, help="Open the page in the web browser.")
def report(
    run_refs: tuple[str, ...], where: str | None, output: Path | None, open_page: bool
) -> None:
    """Write one HTML page to look at and compare runs: every run, or RUNs.

    The page is a single file that works offline (nothing is fetched): a
    sortable, filterable runs table with checkboxes to pick runs to compare,
    step-metric charts, parallel coordinates and a scatter of params and
    metrics, and a section per run with its params, metrics, datasets,
    outputs (images inline), environment, command and code change.

    \b
    Examples:
      gitrack report -o report.html --open
      gitrack report --where "metrics.auc > 0.9" -o best.html
      gitrack report 3f2a 9c1b -o two-runs.html
    """
    from gitrack.commands.report import write_report

    written = write_report(_context(), list(run_refs), where, output)
    _warn_all(written.warnings)
    click.echo(
        f"wrote {printable(str(written.path))}: {written.runs} run(s), {_size(written.size)}"
    )
    if open_page:
        import webbrowser  # honours $BROWSER, else the desktop's default browser

        if not webbrowser.open(written.path.resolve().as_uri()):
            click.echo("gitrack: no web browser found to open it; open the file yourself", err=True)
