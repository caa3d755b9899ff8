"""Runs as a table: ``gitrack.runs()`` (pyarrow) and `gitrack export` (parquet, csv, jsonl).

Exports are read back with pyarrow (and json) and compared with ``gitrack.runs()``; an
export that fails leaves an existing file untouched and no temporary file behind.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from api_helpers import api_run, forge_note, note_records
from conftest import chdir, git, gitrack, make_repo, note_lines, record

import gitrack as gitrack_module
from gitrack.errors import GitrackError
from gitrack.git import Repo
from gitrack.tracking import history
from gitrack.views import table as table_view

ATTRIBUTES = [
    "id",
    "name",
    "commit",
    "started",
    "duration_s",
    "status",
    "dirty",
    "exit_code",
    "user",
    "host",
    "experiment",
    "parent",
]


@pytest.fixture
def runs_repo(tmp_path: Path) -> Path:
    """Three runs: API runs with NaN/inf and unicode keys, one failed, one with data.

    Function-scoped: conftest's isolation (HOME, identity, libgit2's search path) is
    per test, and a module fixture would be built before it applies."""
    repo = make_repo(tmp_path / "repo")
    api_run(
        repo,
        name="first",
        params={"lr": 0.1, "model": "tree"},
        metrics={"auc": 0.9, "loss": math.nan},
        tags={"team": "vision"},
    )
    api_run(
        repo,
        params={"lr": 0.01, "model": "linear"},
        metrics={"auc": 0.8, "val/loss ü": math.inf, "loss": -math.inf},
        fail=True,
    )
    (repo / "train.py").write_text("print('edited')\n")
    writer = "open('model.bin', 'wb').write(b'weights')"
    record(
        sys.executable,
        "-c",
        writer,
        cwd=repo,
        options=("-d", "data/values.csv", "-o", "model.bin", "-p", "lr=1e-3"),
    )
    return repo


@pytest.fixture
def table(runs_repo: Path) -> pa.Table:
    return gitrack_module.runs(cwd=runs_repo)


# --------------------------------------------------------------------- gitrack.runs()
def test_columns_in_order(table: pa.Table) -> None:
    assert table.column_names == [
        *ATTRIBUTES,
        "params.lr",
        "params.model",
        "metrics.auc",
        "metrics.loss",
        "metrics.val/loss ü",
        "tags.team",
        "datasets.data/values.csv",
        "outputs.model.bin",
    ]


def test_column_types(table: pa.Table) -> None:
    schema = table.schema
    assert schema.field("started").type == pa.timestamp("us", tz="UTC")
    assert schema.field("duration_s").type == pa.float64()
    assert schema.field("dirty").type == pa.bool_()
    assert schema.field("exit_code").type == pa.int64()
    for name in ("id", "name", "commit", "status", "user", "host"):
        assert schema.field(name).type == pa.string(), name
    for name in table.column_names:
        if name.startswith("metrics."):
            assert schema.field(name).type == pa.float64(), name
        elif "." in name:
            assert schema.field(name).type == pa.string(), name  # params are text


def test_one_row_per_run_newest_first_with_values(table: pa.Table, runs_repo: Path) -> None:
    records = sorted(note_records(runs_repo), key=lambda r: r["started"], reverse=True)
    rows = table.to_pylist()
    assert [row["id"] for row in rows] == [r["id"] for r in records]
    head = git("rev-parse", "HEAD", cwd=runs_repo).strip()
    data_run, failed, first = rows
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert all(r["commit"] == head for r in rows)
    assert first["name"] == "first" and failed["name"] is None
    assert first["params.lr"] == "0.1" and data_run["params.lr"] == "1e-3"
    assert first["params.model"] == "tree" and data_run["params.model"] is None
    assert first["metrics.auc"] == 0.9 and math.isnan(first["metrics.loss"])
    assert failed["metrics.loss"] == -math.inf and failed["metrics.val/loss ü"] == math.inf
    assert data_run["metrics.auc"] is None  # a run lacking a column: null
    assert first["tags.team"] == "vision" and failed["tags.team"] is None
    assert data_run["datasets.data/values.csv"].startswith("xxh128:")
    assert data_run["outputs.model.bin"].startswith("xxh128:")
    assert data_run["dirty"] is True and first["dirty"] is False
    for row, rec in zip(rows, records, strict=True):
        expected = datetime.strptime(rec["started"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert row["started"] == expected.replace(tzinfo=timezone.utc)
        assert row["duration_s"] == rec["duration_s"]
        assert row["exit_code"] == rec["exit_code"]


def test_where_and_sort(runs_repo: Path) -> None:
    ids = gitrack_module.runs(where="metrics.auc > 0.5", sort="metrics.auc", cwd=runs_repo)
    assert ids.column("metrics.auc").to_pylist() == [0.8, 0.9]
    assert gitrack_module.runs(where="params.lr < 0.05", cwd=runs_repo).num_rows == 2
    assert gitrack_module.runs(where="status = 'failed'", cwd=runs_repo).num_rows == 1
    by_lr = gitrack_module.runs(sort="-params.lr", cwd=runs_repo).column("params.lr")
    assert by_lr.to_pylist() == ["0.1", "0.01", "1e-3"]  # numbers as numbers
    with_data = gitrack_module.runs(where="datasets.data/values.csv LIKE 'xxh128:%'", cwd=runs_repo)
    assert with_data.column("outputs.model.bin").to_pylist()[0].startswith("xxh128:")
    nothing = gitrack_module.runs(where="tags.team = 'nobody'", cwd=runs_repo)
    assert nothing.num_rows == 0
    assert nothing.column_names == ATTRIBUTES
    with pytest.raises(GitrackError, match="column"):
        gitrack_module.runs(where="metrics.auc >", cwd=runs_repo)


def _row_of_the_record(run: history.Run) -> dict[str, object]:
    """A run's row as it was built before the index kept table rows: from its record."""
    rec = run.record
    row: dict[str, object] = {"commit": run.commit, **rec.columns()}
    for group in table_view.GROUPS:
        for key, value in getattr(rec, group).items():
            row[f"{group}.{key}"] = value
    return row


def _table_row_by_row(runs: list[history.Run]) -> pa.Table:
    """The table as it was built before: each run's record turned into a row."""
    rows = [_row_of_the_record(run) for run in runs]
    names = table_view.columns_of(rows)
    values = {name: [row.get(name) for row in rows] for name in names}
    return pa.Table.from_arrays(
        [
            pa.array(table_view._column(name, v), type=table_view._arrow_type(name))
            for name, v in values.items()
        ],
        names=names,
    )


def test_the_table_from_the_index_rows_is_the_table_of_the_records(runs_repo: Path) -> None:
    """gitrack.runs() builds its columns from the table rows the listing index keeps: every
    value, column and type as the records give them, after edits, on a note line another
    tool wrote."""

    def odd(data: dict[str, object]) -> None:
        data.update(exit_code="3", duration_s=2, params={"n": 5, "b": True}, metrics={"m": 7})

    forge_note(runs_repo, odd)
    assert gitrack("tag", "first", "verdict=best", cwd=runs_repo).code == 0
    assert gitrack("note", "first", "été", cwd=runs_repo).code == 0
    loaded = history.load_runs(Repo.discover(runs_repo))
    assert len(loaded.runs) == 3
    built = gitrack_module.runs(cwd=runs_repo)
    expected = _table_row_by_row(loaded.runs)
    assert built.schema == expected.schema
    # NaN is not NaN: compared as text
    assert repr(built.to_pylist()) == repr(expected.to_pylist())
    assert built.column("tags.verdict").to_pylist().count("best") == 1
    assert built.column("metrics.m").to_pylist().count(7.0) == 1


def test_search_rows_from_the_index_are_the_rows_of_the_records(runs_repo: Path) -> None:
    """--where and --sort compare rows built from the index's table rows, not from each
    run's JSON: the same keys with the same values as the record gives,
    for every attribute a search names (cpu_s, max_rss_bytes and rerun_of included), after
    edits, on a forged line, and for runs built from a record rather than the index."""

    def odd(data: dict[str, object]) -> None:
        data.update(exit_code="3", duration_s=2, params={"n": 5}, metrics={"m": 7, "x": "NaN"})
        data.update(experiment="exp", parent="ab" * 8, cpu_s=1.5, max_rss_bytes=2**40)

    forge_note(runs_repo, odd)
    assert gitrack("tag", "first", "verdict=best", cwd=runs_repo).code == 0
    assert gitrack("rename", "first", "renamed", cwd=runs_repo).code == 0
    newest = history.load_runs(Repo.discover(runs_repo)).runs[0].id  # recorded by the CLI
    assert "recorded rerun" in gitrack("rerun", newest, "--yes", cwd=runs_repo).err
    loaded = history.load_runs(Repo.discover(runs_repo))
    assert len(loaded.runs) == 4
    rows = [table_view.row_of(run) for run in loaded.runs]
    records = [history.Run(run.record, run.commit) for run in loaded.runs]
    for row, run, built in zip(rows, loaded.runs, records, strict=True):
        expected = _row_of_the_record(run)
        assert repr(sorted(row.items())) == repr(sorted(expected.items()))  # NaN: as text
        assert repr(table_view.row_of(built)) == repr(row)
    named = {row["name"]: row for row in rows}
    assert named["renamed"]["tags.verdict"] == "best"
    assert [row["rerun_of"] for row in rows] == [newest, None, None, None]
    assert any(row.get("max_rss_bytes") == 2**40 for row in rows)
    assert all(row["cpu_s"] is not None for row in rows if row["rerun_of"])
    found = gitrack_module.runs(where="attributes.max_rss_bytes > 1e12", cwd=runs_repo)
    assert found.num_rows == 1


def test_no_runs_is_an_empty_table(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "empty")
    empty = gitrack_module.runs(cwd=repo)
    assert empty.num_rows == 0
    assert empty.column_names == ATTRIBUTES
    assert empty.schema.field("started").type == pa.timestamp("us", tz="UTC")


# --------------------------------------------------------------------------- export
def export(repo: Path, target: Path, *args: str) -> None:
    res = gitrack("export", str(target), *args, cwd=repo)
    assert res.code == 0, res.err
    assert res.err.startswith("wrote ")


def test_export_parquet_round_trips(runs_repo: Path, table: pa.Table, tmp_path: Path) -> None:
    target = tmp_path / "runs.parquet"
    export(runs_repo, target)
    back = pq.read_table(target)
    assert back.schema == table.schema
    assert _same(back, table)


def _same(a: pa.Table, b: pa.Table) -> bool:
    """Equal, NaN equal to NaN (pyarrow's equals treats NaN as unequal)."""
    if a.column_names != b.column_names or a.num_rows != b.num_rows:
        return False
    for name in a.column_names:
        for x, y in zip(a.column(name).to_pylist(), b.column(name).to_pylist(), strict=True):
            both_nan = isinstance(x, float) and isinstance(y, float) and math.isnan(x)
            if not (x == y or (both_nan and math.isnan(y))):
                return False
    return True


def test_export_parquet_keeps_nan_and_infinities(runs_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "runs.parquet"
    export(runs_repo, target)
    back = pq.read_table(target, columns=["metrics.loss", "metrics.val/loss ü"])
    loss = back.column("metrics.loss").to_pylist()
    assert loss[0] is None and loss[1] == -math.inf and math.isnan(loss[2])
    assert back.column("metrics.val/loss ü").to_pylist() == [None, math.inf, None]


def test_export_csv_round_trips(runs_repo: Path, table: pa.Table, tmp_path: Path) -> None:
    target = tmp_path / "runs.csv"
    export(runs_repo, target)
    header = target.read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == [f'"{name}"' for name in table.column_names]
    # Read with the table's own types; only an empty cell is null, so 'nan' stays NaN.
    options = pacsv.ConvertOptions(
        column_types=table.schema, null_values=[""], strings_can_be_null=True
    )
    back = pacsv.read_csv(target, convert_options=options)
    assert _same(back, table)


def test_export_jsonl_round_trips_with_json(
    runs_repo: Path, table: pa.Table, tmp_path: Path
) -> None:
    target = tmp_path / "runs.jsonl"
    export(runs_repo, target)
    lines = target.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == table.num_rows
    assert all(list(row) == table.column_names for row in rows)
    for row, expected in zip(rows, table.to_pylist(), strict=True):
        for name, value in expected.items():
            got = row[name]
            if name == "started":
                assert got == value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            elif isinstance(value, float) and not math.isfinite(value):
                assert got in ("NaN", "Infinity", "-Infinity", value) or math.isnan(got)
            else:
                assert got == value, name


def test_export_jsonl_metric_column_reads_back_as_numbers_with_pyarrow(
    runs_repo: Path, tmp_path: Path
) -> None:
    """Regression: (table.py _write_jsonl/_json_value): NaN and ±inf are written as the strings
    "NaN"/"Infinity", so a metric column holding both numbers and NaN cannot be read back:
    pyarrow.json.read_json fails with 'Column(/metrics.loss) changed from number to
    string'. pyarrow, pandas and Python's json all read the bare tokens NaN / Infinity /
    -Infinity (json.dumps(..., allow_nan=True)) as floats."""
    repo = make_repo(tmp_path / "mixed")
    api_run(repo, metrics={"loss": 0.5})
    api_run(repo, metrics={"loss": math.nan})
    api_run(repo, metrics={"loss": math.inf})
    target = tmp_path / "runs.jsonl"
    export(repo, target)
    back = pajson.read_json(target)
    assert back.schema.field("metrics.loss").type == pa.float64()
    loss = back.column("metrics.loss").to_pylist()
    assert loss[0] == math.inf and math.isnan(loss[1]) and loss[2] == 0.5


def test_export_format_option_overrides_the_extension(runs_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "runs.txt"
    export(runs_repo, target, "--format", "jsonl")
    assert len(target.read_text().splitlines()) == 3
    target = tmp_path / "runs.data"
    export(runs_repo, target, "--format", "parquet")
    assert pq.read_table(target).num_rows == 3
    export(runs_repo, tmp_path / "RUNS.CSV")
    assert pacsv.read_csv(tmp_path / "RUNS.CSV").num_rows == 3


def test_export_where_and_sort(runs_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "ok.parquet"
    export(runs_repo, target, "--where", "status = 'ok'", "--sort", "metrics.auc")
    back = pq.read_table(target)
    assert back.column("status").to_pylist() == ["ok", "ok"]
    assert back.column("metrics.auc").to_pylist() == [0.9, None]  # missing last


def test_export_of_nothing_writes_the_header(runs_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "none.csv"
    export(runs_repo, target, "--where", "tags.team = 'nobody'")
    assert target.read_text().splitlines() == [",".join(f'"{c}"' for c in ATTRIBUTES)]


def test_export_unknown_extension_is_an_error(runs_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "runs.xlsx"
    res = gitrack("export", str(target), cwd=runs_repo)
    assert res.code == 1
    assert "--format" in res.err
    assert not target.exists()
    bad = gitrack("export", str(tmp_path / "x.csv"), "--format", "xml", cwd=runs_repo)
    assert bad.code == 2  # click rejects the choice


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "gitrack-tmp" in p.name)


@pytest.mark.parametrize(
    "args",
    [("--where", "metrics.auc >"), ("--sort", "bogus"), ("--where", "nope = 1")],
    ids=["bad-where", "bad-sort", "unknown-field"],
)
def test_failed_export_leaves_the_existing_file_alone(
    runs_repo: Path, tmp_path: Path, args: tuple[str, str]
) -> None:
    for name in ("runs.parquet", "runs.csv", "runs.jsonl"):
        target = tmp_path / name
        target.write_bytes(b"precious earlier export\n")
        res = gitrack("export", str(target), *args, cwd=runs_repo)
        assert res.code == 1
        assert "column" in res.err
        assert target.read_bytes() == b"precious earlier export\n"
    assert leftovers(tmp_path) == []


def test_export_onto_a_directory_fails_cleanly(runs_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken.csv"
    target.mkdir()
    (target / "inside").write_text("keep")
    res = gitrack("export", str(target), cwd=runs_repo)
    assert res.code == 1
    assert "cannot write" in res.err
    assert (target / "inside").read_text() == "keep"
    assert leftovers(tmp_path) == []


def test_export_into_a_missing_folder_fails_cleanly(runs_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "runs.parquet"
    res = gitrack("export", str(target), cwd=runs_repo)
    assert res.code == 1
    assert "cannot write" in res.err
    assert not (tmp_path / "no").exists()


def test_export_replaces_an_existing_file(runs_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "runs.jsonl"
    target.write_text("old\n" * 100)
    export(runs_repo, target)
    assert len(target.read_text().splitlines()) == 3
    assert leftovers(tmp_path) == []


def test_export_relative_path_from_a_subfolder(runs_repo: Path) -> None:
    sub = runs_repo / "data"
    res = gitrack("export", "runs.parquet", cwd=sub)
    assert res.code == 0, res.err
    assert pq.read_table(sub / "runs.parquet").num_rows == 3


def test_export_through_the_library(runs_repo: Path, tmp_path: Path) -> None:
    from gitrack.commands.context import Context
    from gitrack.commands.listing import export_runs

    with chdir(runs_repo):
        ctx = Context.open()
        exported = export_runs(ctx, tmp_path / "lib.parquet", None, "status = 'ok'", None)
    assert exported.count == 2 and exported.warnings == []
    assert pq.read_table(tmp_path / "lib.parquet").num_rows == 2


# ------------------------------------------------------------- untrusted note lines
def huge_metric(data: dict[str, object]) -> None:
    data["metrics"] = {"auc": 0.5, "huge": 10**400}  # a JSON integer: valid JSON


def infinite_exit_code(data: dict[str, object]) -> None:
    data["exit_code"] = 1e999  # json.dumps writes Infinity, json.loads reads it back


@pytest.mark.parametrize("edit", [huge_metric, infinite_exit_code])
def test_a_forged_number_in_a_note_never_crashes_listing(
    tmp_path: Path, edit: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: notes are untrusted (they come from other clones). A run line holding an
    integer metric too big for a float (record.decode_number returns ints unchanged),
    or an exit_code of Infinity (RunRecord.from_line's int(...) raises OverflowError,
    which history.load_runs does not catch), makes `gitrack ls` / `ls --where` /
    `export` exit 2 ('unexpected error: OverflowError ... please report it') and
    gitrack.runs() raise OverflowError. Expected: the value (or the line, with a
    warning) is skipped, like any other invalid note line."""
    repo = make_repo(tmp_path / "repo")
    api_run(repo, metrics={"auc": 0.5})
    api_run(repo, metrics={"auc": 0.9})
    forge_note(repo, edit)  # type: ignore[arg-type]
    for args in (
        ("ls",),
        ("ls", "--where", "metrics.auc > 0.1"),
        ("ls", "--where", "metrics.huge > 1"),
        ("export", "o.parquet"),
    ):
        res = gitrack(*args, cwd=repo)
        assert res.code == 0, (args, res.err)
    monkeypatch.chdir(repo)
    assert gitrack_module.runs().num_rows >= 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "5"), ("name", '["x"]'), ("started", '"2026-13-45T99:99:99.000000Z"')],
    ids=["name-number", "name-list", "impossible-date"],
)
def test_odd_note_lines_never_crash_export(
    repo_for_odd_lines: Path, field: str, value: str
) -> None:
    """Regression: a note line with a non-string name, or a date that only looks like one,
    made `gitrack export` and `gitrack.runs()` exit 2."""
    repo = repo_for_odd_lines
    line = json.loads(note_lines(repo)[0])
    forged = json.dumps({**line, "id": "f" * 16}, separators=(",", ":"))
    forged = forged.replace(f'"{field}":' + json.dumps(line.get(field)), f'"{field}":{value}')
    if f'"{field}":' not in forged:
        forged = forged[:-1] + f',"{field}":{value}}}'
    git("notes", "--ref=gitrack", "append", "-m", forged, "HEAD", cwd=repo)

    res = gitrack("export", str(repo / "runs.csv"), cwd=repo)

    assert res.code == 0, res.err


@pytest.fixture
def repo_for_odd_lines(repo: Path) -> Path:
    record("true", cwd=repo)
    return repo
