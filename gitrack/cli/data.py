"""Commands about a run's data in the working tree (beside `status` and `checkout`)."""

from __future__ import annotations

import click

from gitrack.cli.base import _context, _warn_all, cli


@cli.command(name="restore-data")
@click.argument("run_ref", metavar="[RUN]", required=False)
@click.option("--outputs", is_flag=True, help="Also restore the run's outputs (model, plots).")
def restore_data(run_ref: str | None, outputs: bool) -> None:
    """Restore the datasets of the newest run on HEAD (or of RUN), in place.

    Only data changes: HEAD stays on your branch, and your code, index and
    edits stay as they are (`gitrack checkout` restores a run's code too).
    Files come from the cache, or from the team's cache (`[remote]`), and are
    verified by hash; data files they replace are kept in the cache first.

    \b
    Examples:
      gitrack restore-data
      gitrack restore-data 3f2a --outputs
    """
    from gitrack.commands.status import restore_data as restore

    done = restore(_context(), run_ref, outputs)
    if done.preserved:
        shown = ", ".join(done.preserved[:5]) + (" …" if len(done.preserved) > 5 else "")
        _warn_all(
            [f"replaced {len(done.preserved)} data file(s) ({shown}); copies are in the cache"]
        )
    click.echo(
        f"restored {done.paths} data path(s) of run {done.run.id} "
        f"({done.files_written} file(s) written)"
    )
