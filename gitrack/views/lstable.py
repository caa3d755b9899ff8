"""The `gitrack ls` table: columns chosen for the runs listed, fitted to the terminal.

By default: ID, NAME (when a listed run has one), STARTED, COMMIT, STATUS, DUR, then the
metrics, params and tags that ``--sort`` and ``--where`` name, then the params whose
values differ between the listed runs (a grid's knobs), METRICS (the others, in short)
and COMMAND. On a narrow terminal COMMAND gives way first, then whole columns go, least
useful first; the ID, the status and the fields sorted or filtered on always stay.
``--columns`` names the columns exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gitrack.errors import UsageError
from gitrack.tracking.history import Run
from gitrack.views.render import (
    STATUS_MARK,
    command_text,
    duration_text,
    format_number,
    local_time,
)
from gitrack.views.terminal import printable

MAX_CELL = 40  # a long param value or name is cut, not allowed to push the others away
MIN_COMMAND = 12
_FIELD = re.compile(r"\b(metrics|params|tags)\.(`[^`]*`|[\w./\-]+)")
# Dropped in this order when the table is wider than the terminal (after COMMAND shrank).
_DROP_ORDER = ("command", "started", "metrics", "duration", "*params", "commit", "name")
FIXED_COLUMNS = ("id", "name", "started", "commit", "status", "duration", "metrics", "command")


@dataclass
class Column:
    key: str
    header: str
    cells: list[str]

    @property
    def width(self) -> int:
        return max([len(self.header), *(len(c) for c in self.cells)])


def focus_fields(where: str | None, sort: str | None) -> list[str]:
    """The metrics/params/tags named by ``--sort`` and ``--where``, in that order."""
    found = [
        f"{kind}.{name.strip('`')}"
        for text in (sort or "", where or "")
        for kind, name in _FIELD.findall(text)
    ]
    return list(dict.fromkeys(found))


def differing_params(runs: Sequence[Run]) -> list[str]:
    keys = sorted({k for run in runs for k in run.record.params})
    return [f"params.{k}" for k in keys if len({run.record.params.get(k) for run in runs}) > 1]


def table(
    runs: Sequence[Run],
    width: int,
    focus: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    depths: Mapping[str, int] | None = None,
) -> str:
    """The table as text, at most ``width`` wide where the columns allow it; ``depths``
    (run id -> nesting level) indents child runs under their parent."""
    keys = list(columns) if columns is not None else _default_keys(runs, focus)
    droppable = [] if columns is not None else _droppable(keys, focus)
    own_metrics = {k.split(".", 1)[1] for k in keys if k.startswith("metrics.")}
    built = [_column(key, runs, own_metrics) for key in keys]
    for column in built:
        if column.key == "id" and depths:
            indents = ["  " * depths.get(run.id, 0) for run in runs]
            column.cells = [pad + cell for pad, cell in zip(indents, column.cells, strict=True)]
    built = _fit(built, width, droppable)
    widths = [c.width for c in built]
    lines = [_row([c.header for c in built], widths)]
    lines.extend(_row([c.cells[i] for c in built], widths) for i in range(len(runs)))
    if any(run.record.dirty for run in runs):
        lines.append("* ran with uncommitted changes (gitrack show ID --patch)")
    return "\n".join(line.rstrip() for line in lines)


def parse_columns(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    for key in keys:
        if key not in FIXED_COLUMNS and not _FIELD.fullmatch(key):
            raise UsageError(
                f"--columns: no column {key!r}; choose from {', '.join(FIXED_COLUMNS)}, "
                "metrics.KEY, params.KEY, tags.KEY (e.g. --columns id,name,metrics.auc)"
            )
    if not keys:
        raise UsageError("--columns is empty (write e.g. --columns id,name,metrics.auc)")
    return keys


def _default_keys(runs: Sequence[Run], focus: Sequence[str]) -> list[str]:
    named = any(run.record.name for run in runs)
    head = ["id", *(["name"] if named else []), "started", "commit", "status", "duration"]
    params = [p for p in differing_params(runs) if p not in focus]
    return [*head, *focus, *params, "metrics", "command"]


def _droppable(keys: list[str], focus: Sequence[str]) -> list[str]:
    out: list[str] = []
    for item in _DROP_ORDER:
        if item == "*params":
            out += [k for k in reversed(keys) if k.startswith("params.") and k not in focus]
        elif item in keys:
            out.append(item)
    return out


def _column(key: str, runs: Sequence[Run], own_metrics: set[str]) -> Column:
    if key == "command":  # not cut here: it gives way to fit the terminal instead
        return Column(key, "COMMAND", [printable(command_text(r.record.command)) for r in runs])
    if key == "metrics":
        return Column(key, "METRICS", [_cut(_metrics_summary(r, own_metrics)) for r in runs])
    if key in _FIXED:
        header, render = _FIXED[key]
        return Column(key, header, [_cut(render(run)) for run in runs])
    kind, name = key.split(".", 1)
    return Column(key, printable(key), [_cut(_field_value(run, kind, name)) for run in runs])


def _metrics_summary(run: Run, hidden: set[str], limit: int = 3) -> str:
    """The metrics without a column of their own: the first few, then how many more."""
    items = sorted((k, v) for k, v in run.record.metrics.items() if k not in hidden)
    shown = [f"{k}={format_number(v)}" for k, v in items[:limit]]
    if len(items) > limit:
        shown.append(f"+{len(items) - limit}")
    return " ".join(shown)


def _status(run: Run) -> str:
    rec = run.record
    return STATUS_MARK.get(rec.status, rec.status) + ("*" if rec.dirty else "")


_FIXED: dict[str, tuple[str, Callable[[Run], str]]] = {
    "id": ("ID", lambda r: r.id[:8]),
    "name": ("NAME", lambda r: r.record.name or ""),
    "started": ("STARTED", lambda r: local_time(r.record.started)),
    "commit": ("COMMIT", lambda r: r.commit[:7]),
    "status": ("STATUS", _status),
    "duration": ("DUR", lambda r: duration_text(r.record.duration_s)),
}


def _field_value(run: Run, kind: str, name: str) -> str:
    rec = run.record
    if kind == "metrics":
        value = rec.metrics.get(name)
        return "-" if value is None else format_number(value)
    source = rec.params if kind == "params" else rec.tags
    return source.get(name, "-")


def _fit(columns: list[Column], width: int, droppable: list[str]) -> list[Column]:
    """COMMAND gives way first (down to a few characters), then whole columns go."""

    def total(cols: list[Column]) -> int:
        return sum(c.width for c in cols) + 2 * (len(cols) - 1)

    command = next((c for c in columns if c.key == "command"), None)
    if command is not None and total(columns) > width:
        _shrink(command, max(MIN_COMMAND, width - (total(columns) - command.width)))
    for key in droppable:
        if total(columns) <= width:
            break
        columns = [c for c in columns if c.key != key]
    return columns


def _shrink(column: Column, width: int) -> None:
    column.cells = [_cut(c, width) for c in column.cells]


def _cut(text: str, limit: int = MAX_CELL) -> str:
    text = printable(text)
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
