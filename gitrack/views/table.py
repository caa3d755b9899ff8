"""Runs as rows and columns: `--where` / `--sort`, `gitrack.runs()` and `gitrack export`.

Columns: id, name, commit, started, duration_s, status, dirty, exit_code, user, host,
then ``params.*``, ``metrics.*``, ``tags.*``, ``datasets.*``, ``outputs.*`` in key order.
pyarrow is imported only to build a table.
"""

from __future__ import annotations

import json
import operator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitrack.errors import GitrackError
from gitrack.paths import user_output
from gitrack.tracking import history
from gitrack.tracking.record import COLUMN_FIELDS, TABLE_FIELDS, decode_number
from gitrack.views import query

if TYPE_CHECKING:
    import pyarrow as pa

ATTRIBUTE_COLUMNS = (
    "id", "name", "commit", "started", "duration_s", "status", "dirty", "exit_code",
    "user", "host", "experiment", "parent",
)  # fmt: skip
GROUPS = ("params", "metrics", "tags", "datasets", "outputs")
FORMATS = ("parquet", "csv", "jsonl")
# row_of: the attribute columns a table row holds (a listed run holds the commits).
_ROW_ATTRIBUTES = [name for name in COLUMN_FIELDS if name not in ("base_commit", "snapshot")]
_row_attributes = operator.itemgetter(*map(TABLE_FIELDS.index, _ROW_ATTRIBUTES))
_GROUP_AT = [(group + ".", TABLE_FIELDS.index(group)) for group in GROUPS]
_METRICS_AT = TABLE_FIELDS.index("metrics")


def row_of(run: history.Run) -> query.Row:
    """The columns `--where` and `--sort` compare: the commit, the record's attribute
    columns, then each group's keys (``metrics.auc``). Built from the table row the listing
    index keeps apart, not from the record (a search over 100,000 runs parsed each run's
    whole JSON: 80% of its time)."""
    values = run.table_row()
    row: query.Row = dict(zip(_ROW_ATTRIBUTES, _row_attributes(values), strict=True))
    row["commit"], row["base_commit"], row["snapshot"] = run.commit, run.base_commit, run.snapshot
    for prefix, at in _GROUP_AT:
        if items := values[at]:
            row.update(zip(map(prefix.__add__, items), items.values(), strict=True))
    for key, value in values[_METRICS_AT].items():
        if type(value) is not float:  # "NaN" or "Infinity" as the JSON has them (or an int)
            row["metrics." + key] = decode_number(value)
    return row


def select(runs: list[history.Run], where: str | None, sort: str | None) -> list[history.Run]:
    """The runs matching ``where``, ordered by ``sort`` (default: newest first)."""
    if not where and not sort:
        return runs
    pairs = [(row_of(run), run) for run in runs]
    if where:
        predicate = query.compile_where(where)
        pairs = [(row, run) for row, run in pairs if predicate(row)]
    if sort:
        by_id = {id(row): run for row, run in pairs}
        return [by_id[id(row)] for row in query.sort_rows([row for row, _ in pairs], sort)]
    return [run for _, run in pairs]


def columns_of(rows: list[query.Row]) -> list[str]:
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(k for k in row if "." in k and k.split(".", 1)[0] in GROUPS))
    grouped = sorted(keys, key=lambda k: (GROUPS.index(k.split(".", 1)[0]), k))
    return [*ATTRIBUTE_COLUMNS, *grouped]


def to_arrow(runs: list[history.Run]) -> pa.Table:
    """The runs as a table, built column by column from their table rows (kept apart in
    the listing index: no record built, no row dict per run): the columns and values
    :func:`row_of` gives, metrics' "NaN" and "Infinity" read as the floats they stand for."""
    import pyarrow as pa

    from gitrack.arrow_arrays import column

    rows = [run.table_row() for run in runs]
    at = {name: n for n, name in enumerate(TABLE_FIELDS)}
    columns = {
        name: [run.commit for run in runs] if name == "commit" else [r[at[name]] for r in rows]
        for name in ATTRIBUTE_COLUMNS
    }
    for group in GROUPS:
        values = [row[at[group]] for row in rows]
        for key in sorted({key for value in values for key in value}):
            columns[f"{group}.{key}"] = [value.get(key) for value in values]
    arrays = [column(_column(name, v), _arrow_type(name)) for name, v in columns.items()]
    return pa.Table.from_arrays(arrays, names=list(columns))


def _arrow_type(name: str) -> pa.DataType:
    import pyarrow as pa

    if name == "started":
        return pa.timestamp("us", tz="UTC")
    if name in ("duration_s",) or name.startswith("metrics."):
        return pa.float64()
    if name == "dirty":
        return pa.bool_()
    if name == "exit_code":
        return pa.int64()
    return pa.string()


def _column(name: str, values: list[Any]) -> list[Any]:
    if name == "started":
        from datetime import datetime, timezone

        # fromisoformat is ~30x faster than strptime; the "Z" is dropped for Python 3.10.
        utc = timezone.utc
        return [datetime.fromisoformat(v[:-1]).replace(tzinfo=utc) if v else None for v in values]
    if name.startswith("metrics."):
        return [None if v is None else float(v) for v in values]
    return values


def export(
    all_runs: list[history.Run],
    path: Path,
    fmt: str | None,
    where: str | None = None,
    sort: str | None = None,
) -> int:
    """Write the runs table to ``path``; the format comes from ``fmt`` or the extension."""
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise GitrackError(
            f"cannot tell the export format of {path.name!r}: name it .parquet, .csv or "
            ".jsonl, or pass --format"
        )
    runs = select(all_runs, where, sort)
    with user_output(path) as temp:  # a failed export never leaves half a file there
        if chosen == "jsonl":
            _write_jsonl(temp, runs)
        else:
            _write_arrow(temp, to_arrow(runs), chosen)
    return len(runs)


def _write_jsonl(path: Path, runs: list[history.Run]) -> None:
    rows = [row_of(run) for run in runs]
    names = columns_of(rows)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            record = {name: row.get(name) for name in names}
            # NaN/Infinity literals, as Python's json and pyarrow read them: a metric column
            # stays numeric (strings would make it mixed).
            fh.write(json.dumps(record, ensure_ascii=False, allow_nan=True) + "\n")


def _write_arrow(path: Path, table: pa.Table, fmt: str) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path)
