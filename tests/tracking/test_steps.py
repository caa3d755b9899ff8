"""Step metrics: the parquet encoding (gitrack/steps.py) and how a run stores it in git.

The full history of every logged metric is one parquet blob named by the note line's
``metric_history`` and pinned under refs/gitrack/pins; the line keeps the last values.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from api_helpers import api_run, note_records
from conftest import git, gitrack
from hypothesis import given, settings
from hypothesis import strategies as st

from gitrack.tracking import steps

INT64 = (-(2**63), 2**63 - 1)


def same(a: list[steps.Step], b: list[steps.Step]) -> bool:
    """Equal element by element, NaN equal to NaN."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x[:2] != y[:2] or x[3] != y[3]:
            return False
        if not (x[2] == y[2] or (math.isnan(x[2]) and math.isnan(y[2]))):
            return False
    return True


def test_round_trip_with_nan_infinities_and_odd_keys() -> None:
    history: list[steps.Step] = [
        ("loss", 0, 1.5, 1_700_000_000.25),
        ("loss", 1, math.nan, 1_700_000_001.5),
        ("val/loss", 0, math.inf, 1_700_000_002.0),
        ("train loss", -3, -math.inf, 0.0),
        ("précision 损失", INT64[1], -0.0, 1e-9),
        ("", INT64[0], 5e-324, 1.7976931348623157e308),
    ]
    back = steps.decode(steps.encode(history))
    assert same(back, history)
    assert math.copysign(1.0, back[4][2]) == -1.0  # -0.0 keeps its sign


def test_empty_history() -> None:
    assert steps.decode(steps.encode([])) == []


def test_the_bytes_are_plain_parquet_with_the_documented_schema() -> None:
    data = steps.encode([("loss", 0, 0.5, 1.0), ("acc", 0, 0.25, 2.0)])
    assert data[:4] == b"PAR1" and data[-4:] == b"PAR1"
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.names == ["key", "step", "value", "timestamp"]
    assert [f.type for f in table.schema] == [pa.string(), pa.int64(), pa.float64(), pa.float64()]
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert table.column("key").to_pylist() == ["loss", "acc"]


def test_a_large_history_stays_compact() -> None:
    history = [("loss", i, 1.0 / (i + 1), 1_700_000_000 + i * 0.01) for i in range(100_000)]
    data = steps.encode(history)
    assert len(data) < 2_000_000  # far below one JSON line per step (~60 bytes each)
    assert steps.decode(data)[-1] == history[-1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(max_size=12),
            st.integers(*INT64),
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        max_size=40,
    )
)
def test_round_trip_property(history: list[steps.Step]) -> None:
    assert same(steps.decode(steps.encode(history)), history)


# ------------------------------------------------------------------- in the repository
def test_recorded_history_is_a_pinned_blob(repo: Path) -> None:
    run_id = api_run(
        repo, steps={"loss": [3.0, 2.0, math.nan], "acc": [0.5, math.inf]}, metrics={"x": 1.0}
    )
    (rec,) = note_records(repo)
    assert rec["id"] == run_id
    blob = rec["metric_history"]
    assert git("cat-file", "-t", blob, cwd=repo).strip() == "blob"
    data = subprocess.run(
        ["git", "cat-file", "blob", blob], cwd=repo, capture_output=True, check=True
    ).stdout
    decoded = steps.decode(data)
    assert [(k, s) for k, s, _, _ in decoded] == [
        ("loss", 0),
        ("loss", 1),
        ("loss", 2),
        ("acc", 0),
        ("acc", 1),
        ("x", 0),
    ]
    assert decoded[4][2] == math.inf and math.isnan(decoded[2][2])
    # the note line keeps only the last value per key
    assert rec["metrics"] == {"loss": "NaN", "acc": "Infinity", "x": 1.0}
    # reachable from gitrack's pins, as metrics.parquet in a pin commit's tree
    reachable = git("rev-list", "--objects", "refs/gitrack/pins", cwd=repo)
    assert any(line.split()[:2] == [blob, "metrics.parquet"] for line in reachable.splitlines())


def test_history_survives_gc_prune_now(repo: Path) -> None:
    run_id = api_run(repo, steps={"loss": [float(i) for i in range(300)]})
    blob = note_records(repo)[0]["metric_history"]
    git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    git("gc", "-q", "--prune=now", cwd=repo)
    git("cat-file", "-e", blob, cwd=repo)
    res = gitrack("show", run_id, "--metric", "loss", cwd=repo)
    assert res.code == 0, res.err
    assert len(res.out.splitlines()) == 301


def test_a_run_without_steps_names_no_history(repo: Path) -> None:
    api_run(repo)
    (rec,) = note_records(repo)
    assert "metric_history" not in rec
    assert rec["metrics"] == {}


def forge_history(repo: Path, payload: bytes) -> str:
    """Point the newest run's ``metric_history`` at a blob holding ``payload``."""
    (rec,) = note_records(repo)
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=repo,
        input=payload,
        capture_output=True,
        check=True,
    ).stdout.decode()
    rec["metric_history"] = blob.strip()
    line = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
    git("notes", "--ref=gitrack", "add", "-f", "-m", line, "HEAD", cwd=repo)
    return str(rec["id"])


@pytest.mark.parametrize(
    "payload",
    [
        b"not parquet at all",
        b"PAR1" + b"\0" * 64 + b"PAR1",
        b"",
    ],
    ids=["text", "truncated", "empty"],
)
def test_forged_history_blob_is_a_clean_error(repo: Path, payload: bytes) -> None:
    """Regression: (steps.decode via operations.metric_history): a note from another clone is
    untrusted; when its metric_history names a blob that is not parquet, `gitrack show
    RUN --metric KEY` crashes with pyarrow's ArrowInvalid ('gitrack: unexpected error
    ... please report it', exit 2) instead of an Error: line (exit 1)."""
    api_run(repo, steps={"loss": [1.0, 2.0]})
    run_id = forge_history(repo, payload)
    res = gitrack("show", run_id, "--metric", "loss", cwd=repo)
    assert res.code == 1, res.err
    assert res.err.startswith("Error:")


def test_forged_history_with_other_columns_is_a_clean_error(repo: Path) -> None:
    """Same as above with valid parquet of another schema (KeyError inside decode)."""
    sink = io.BytesIO()
    pq.write_table(pa.table({"a": [1]}), sink)
    api_run(repo, steps={"loss": [1.0]})
    run_id = forge_history(repo, sink.getvalue())
    res = gitrack("show", run_id, "--metric", "loss", cwd=repo)
    assert res.code == 1, res.err
    assert res.err.startswith("Error:")
