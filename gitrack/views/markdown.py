"""Markdown tables to paste into a pull-request comment: `ls` and `compare --format markdown`.

Values come from notes (untrusted): control characters are escaped as in the terminal,
and Markdown's own punctuation (``|`` that would split a cell, ``<`` that GitHub would
read as HTML, ``*``, ``[`` ...) is backslash-escaped, so a cell shows exactly its text.
"""

from __future__ import annotations

import re

from gitrack.tracking.history import Run
from gitrack.views import table
from gitrack.views.render import format_number, local_time
from gitrack.views.terminal import printable

_PUNCTUATION = re.compile(r"([\\`*_\[\]<>|~&])")


def escape(text: str) -> str:
    return _PUNCTUATION.sub(r"\\\1", printable(text))


def render(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """A GitHub-flavoured Markdown table; columns in ``numeric`` are right-aligned."""
    right = numeric or set()
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    lines = [headers, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format_number(value)
    return escape(str(value))


def runs_table(runs: list[Run]) -> str:
    """`gitrack ls --format markdown`: one row per run, params and metrics as columns."""
    rows = [table.row_of(run) for run in runs]
    groups = [c for c in table.columns_of(rows) if c.startswith(("params.", "metrics."))]
    headers = ["id", "name", "started", "commit", "status", "duration", *map(escape, groups)]
    body = []
    for run, row in zip(runs, rows, strict=True):
        rec = run.record
        body.append(
            [
                f"`{run.id[:8]}`",
                cell(rec.name),
                local_time(rec.started),
                f"`{run.commit[:7]}`" + ("\\*" if rec.dirty else ""),
                escape(rec.status),
                f"{rec.duration_s:.1f} s",
                *(cell(row.get(name)) for name in groups),
            ]
        )
    numeric = {i for i, name in enumerate(groups, start=6) if name.startswith("metrics.")}
    text = render(headers, body, numeric | {5})
    if any(run.record.dirty for run in runs):
        text += "\n\n\\* ran with uncommitted changes"
    return text


def comparison(runs: list[Run], rows: list[tuple[str, list[str], bool]]) -> str:
    """`gitrack compare --format markdown`: fields down, runs across, differences marked."""
    headers = [
        "",
        "field",
        *(
            f"`{run.id[:8]}`" + (f" {escape(run.record.name)}" if run.record.name else "")
            for run in runs
        ),
    ]
    body = [
        ["≠" if differs else "", escape(name), *(escape(v) for v in values)]
        for name, values, differs in rows
    ]
    return render(headers, body) + "\n\n≠ differs between the runs"


def code_block(text: str, language: str = "") -> str:
    """``text`` fenced: the fence is longer than any run of backticks inside it."""
    fence = "`" * max([3, *(len(run) + 1 for run in re.findall("`+", text))])
    return f"{fence}{language}\n{text.rstrip(chr(10))}\n{fence}"
