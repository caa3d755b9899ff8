"""Text shown to people: the `ls` table and the `show` page. No click here.

Every value that comes from a note goes through ``printable``: notes are untrusted input,
and an escape sequence in a run name must be shown, not executed by the terminal.
"""

from __future__ import annotations

import math
import shlex
from datetime import datetime

from gitrack.tracking.history import Run
from gitrack.tracking.record import parse_timestamp
from gitrack.views.terminal import printable

STATUS_MARK = {"ok": "ok", "failed": "FAILED", "interrupted": "interrupted"}


def local_time(started: str) -> str:
    try:
        return parse_timestamp(started).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return started


def format_number(value: float) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return str(value)


def command_text(argv: list[str]) -> str:
    return shlex.join(argv)


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def size_text(size: int | None) -> str:
    if size is None:
        return "size unknown: not in the local cache"
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def _data_lines(run: Run, sizes: dict[str, int | None]) -> list[str]:
    """One line per dataset, output and big file: path, size, hash."""
    rec = run.record
    lines = []
    for title, items in (("dataset", rec.datasets), ("output", rec.outputs),
                         ("big file", rec.large_files)):  # fmt: skip
        for path, digest in sorted(items.items()):
            kind = "folder, " if digest.endswith(".dir") else ""
            size = size_text(sizes.get(digest))
            lines.append(f"{title:<9} {path}  ({kind}{size})  {digest}")
    return lines


def show(
    run: Run,
    commit_summary: str,
    changed_files: list[str],
    sizes: dict[str, int | None] | None = None,
) -> str:
    rec = run.record
    lines = [f"run       {rec.id}" + (f"  ({rec.name})" if rec.name else "")]
    if run.hidden:
        lines.append(f"hidden    since {local_time(run.hidden_at or '')} (gitrack rm --undo)")
    if rec.experiment:
        lines.append(f"experiment {rec.experiment}")
    if rec.parent:
        lines.append(f"parent    {rec.parent}")
    if rec.rerun_of:
        lines.append(f"rerun of  {rec.rerun_of}")
    lines.append(f"commit    {run.commit}  {commit_summary}".rstrip())
    if rec.base_commit != run.commit:
        lines.append(f"ran on    {rec.base_commit}  (rewritten since)")
    lines.append(f"started   {local_time(rec.started)}  ({rec.started})")
    extra = []
    if rec.cpu_s is not None:
        extra.append(f"cpu {rec.cpu_s:.2f} s")
    if rec.max_rss_bytes is not None:
        extra.append(f"peak memory {rec.max_rss_bytes / 2**20:.1f} MiB")
    lines.append(f"duration  {rec.duration_s:.3f} s" + (f"  ({', '.join(extra)})" if extra else ""))
    lines.append(
        f"command   {command_text(rec.command)}" + (f"  (in {rec.cwd})" if rec.cwd != "." else "")
    )
    status = f"{rec.status} (exit {rec.exit_code}" + (f", {rec.signal}" if rec.signal else "") + ")"
    lines.append(f"status    {status}")
    if rec.error:
        lines.append(f"error     {rec.error}")
    if rec.dirty:
        lines.append(f"dirty     yes: {len(changed_files)} file(s) differ from the commit")
        lines.extend(f"            {p}" for p in changed_files[:20])
        if len(changed_files) > 20:
            lines.append(f"            … {len(changed_files) - 20} more (--patch shows all)")
    else:
        lines.append("dirty     no")
    lines.append(f"snapshot  {rec.snapshot}")
    for title, values in (("params", rec.params), ("tags", rec.tags)):
        if values:
            lines.append(f"{title:<9} " + "  ".join(f"{k}={v}" for k, v in sorted(values.items())))
    if rec.metrics:
        lines.append(
            "metrics   "
            + "  ".join(f"{k}={format_number(v)}" for k, v in sorted(rec.metrics.items()))
        )
    lines.extend(_data_lines(run, sizes or {}))
    lines.append(f"by        {rec.user}@{rec.host}")
    env = rec.env
    if env:
        lines.append(
            f"env       Python {env.get('python', '?')} ({env.get('implementation', '?')}), "
            f"{env.get('platform', '?')}; packages: git show {env.get('packages', '?')[:12]}"
        )
    for path, size in sorted(rec.untracked_skipped.items()):
        lines.append(f"skipped   {path} ({size} bytes, over max_untracked_size)")
    for warning in rec.warnings:
        lines.append(f"warning   {warning}")
    if rec.note:
        for number, text in enumerate(rec.note.split("\n")):
            lines.append(("note      " if number == 0 else " " * 10) + text)
    # Line by line: a newline inside a value is escaped too, so it cannot forge a line.
    return "\n".join(printable(line) for line in lines)


def steps_table(steps: list[tuple[int | None, float, float]]) -> str:
    """One row per logged value; a metric with no steps shows ``-`` as its step."""
    lines = [f"{'STEP':>8}  {'VALUE':>14}  LOGGED"]
    for step, value, moment in steps:
        when = (
            datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if moment else "-"
        )
        shown = "-" if step is None else str(step)
        lines.append(f"{shown:>8}  {format_number(value):>14}  {when}")
    return "\n".join(lines)


def comparison(runs: list[Run], rows: list[tuple[str, list[str], bool]]) -> str:
    headers = ["", "FIELD", *(run.id[:8] for run in runs)]
    table_rows = [
        ["*" if differs else "", printable(name), *map(printable, values)]
        for name, values, differs in rows
    ]
    widths = [max(len(r[i]) for r in [headers, *table_rows]) for i in range(len(headers))]
    widths = [min(w, 40) for w in widths]
    out = [_row(tuple(headers), widths)]
    out.extend(_row(tuple(r), widths) for r in table_rows)
    out.append("* differs between the runs")
    return "\n".join(line.rstrip() for line in out)


def _row(cells: tuple[str, ...], widths: list[int]) -> str:
    out = []
    for cell, width in zip(cells, widths, strict=True):
        text = cell if len(cell) <= width else cell[: max(1, width - 1)] + "…"
        out.append(text.ljust(width))
    return "  ".join(out)
