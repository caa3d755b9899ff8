"""Arrow arrays built from buffers: the same arrays ``pa.array`` builds, and pandas never
imported to build them.

The spec is pyarrow's own conversion: for any list of the types gitrack's tables hold,
with nulls anywhere, ``arrow_arrays.column`` equals ``pa.array`` (values, nulls, NaN,
infinities, non-ASCII text); values outside the fast path get ``pa.array``'s own answer,
its error included. Then, in fresh processes with a stand-in ``pandas`` on the path that
logs its import: recording step metrics, ``gitrack.runs()`` and ``gitrack export`` never
import it (``pa.array`` on a list would, to ask whether the list is a pandas array).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet
import pytest
from api_helpers import api_run
from conftest import make_repo
from hypothesis import given, settings
from hypothesis import strategies as st

from gitrack.arrow_arrays import column

TIMESTAMP = pa.timestamp("us", tz="UTC")
AWARE = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)
)
VALUES = {
    "float": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "int": (pa.int64(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    "bool": (pa.bool_(), st.booleans()),
    "string": (pa.string(), st.text()),
    "timestamp": (TIMESTAMP, AWARE),
}


def same(built: pa.Array, expected: pa.Array) -> None:
    built.validate(full=True)
    assert built.type == expected.type
    assert built.null_count == expected.null_count
    # NaN != NaN in to_pylist's floats: compare their reprs
    assert repr(built.to_pylist()) == repr(expected.to_pylist())


@pytest.mark.parametrize("kind", sorted(VALUES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_column_is_what_pa_array_builds(kind: str, data: st.DataObject) -> None:
    arrow_type, values = VALUES[kind]
    items = data.draw(st.lists(st.one_of(st.none(), values), max_size=70))
    same(column(items, arrow_type), pa.array(items, arrow_type))


def test_long_columns_and_their_bitmaps() -> None:
    """Bitmaps across many bytes: nulls every third value, none, and all nulls."""
    n = 100_003
    floats = [None if i % 3 == 0 else i / 7 for i in range(n)]
    same(column(floats, pa.float64()), pa.array(floats, pa.float64()))
    texts = [f"é{i}" for i in range(n)]
    same(column(texts, pa.string()), pa.array(texts, pa.string()))
    nothing: list[Any] = [None] * n
    same(column(nothing, pa.bool_()), pa.array(nothing, pa.bool_()))


@pytest.mark.parametrize(
    ("items", "arrow_type"),
    [
        ([1, None, 2.5], pa.float64()),  # an int among floats: pa.array converts it
        ([True, 2], pa.int64()),
        ([datetime(2026, 1, 1), None], TIMESTAMP),  # naive: pa.array's own reading
        ([datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5)))], TIMESTAMP),
        ([datetime(2020, 1, 1, tzinfo=timezone(timedelta(seconds=30, microseconds=7)))], TIMESTAMP),
        ([1.5, 2.5], pa.int64()),  # refused by pa.array too
        (["a", 1], pa.string()),
        (["\udc80"], pa.string()),  # a lone surrogate: not UTF-8
        (["a"], pa.int32()),  # a type with no fast path
    ],
)
def test_other_values_get_pa_arrays_answer(items: list[Any], arrow_type: pa.DataType) -> None:
    try:
        expected = pa.array(items, arrow_type)
    except Exception as exc:
        with pytest.raises(type(exc)):
            column(items, arrow_type)
    else:
        same(column(items, arrow_type), expected)


FAKE_PANDAS = """
import os, traceback
with open(os.environ["PANDAS_IMPORT_LOG"], "a") as log:
    log.write("".join(traceback.format_stack(limit=12)))
raise ImportError("a stand-in: tests/test_arrow_arrays.py")
"""


def run_without_pandas(tmp_path: Path, repo: Path, script: str) -> None:
    """``script`` in a fresh process whose ``import pandas`` is logged (then refused)."""
    fake = tmp_path / "fake"
    (fake / "pandas").mkdir(parents=True)
    (fake / "pandas" / "__init__.py").write_text(FAKE_PANDAS)
    log = tmp_path / "pandas-imports.log"
    env = {**os.environ, "PYTHONPATH": f"{fake}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env["PANDAS_IMPORT_LOG"] = str(log)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=repo, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not log.exists(), f"pandas was imported:\n{log.read_text()}"


def test_stand_in_pandas_is_seen_when_imported(tmp_path: Path) -> None:
    """The check below can fail: pa.array on a list does import the stand-in."""
    repo = make_repo(tmp_path / "repo")
    with pytest.raises(AssertionError, match="pandas was imported"):
        run_without_pandas(tmp_path, repo, "import pyarrow as pa; pa.array([1.0], pa.float64())")


def test_step_metrics_runs_and_exports_import_no_pandas(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    api_run(repo, params={"lr": 0.1}, metrics={"auc": 0.9}, tags={"team": "a"})
    run_without_pandas(
        tmp_path,
        repo,
        """
        import math, gitrack
        with gitrack.start_run(params={"model": "tree"}) as run:
            for step in range(50):
                run.log_metric("loss", 1 / (step + 1) if step % 7 else math.nan, step=step)
        table = gitrack.runs()
        assert table.num_rows == 2, table
        assert sorted(table.column("metrics.auc").to_pylist(), key=str) == [0.9, None]
        loss = gitrack.get_run(run.id).metric_history("loss")
        assert len(loss) == 50 and math.isnan(loss[0][1]) and loss[1][1] == 0.5, loss
        from gitrack.cli import main
        for name in ("runs.parquet", "runs.csv"):
            try:
                main(["export", name])
            except SystemExit as exit:
                assert exit.code in (0, None), exit
        """,
    )
    assert pa.parquet.read_table(repo / "runs.parquet").num_rows == 2
    assert (repo / "runs.csv").read_text().count("\n") == 3  # the header and two runs
