"""``log_figure``, ``log_dict``, ``log_text``, ``log_table``: outputs of the run, cached,
shown by `gitrack show`, read back by ``get_run(id).open``."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from api_helpers import write_script
from conftest import chdir, gitrack, record

import gitrack as api
from gitrack.errors import UsageError

SCRIPT = """
    import pyarrow as pa
    import gitrack
    from gitrack.errors import UsageError

    class Figure:  # what log_figure needs: savefig(path), the format by its extension
        def savefig(self, path):
            assert path.endswith(".png")
            open(path, "wb").write(b"\\x89PNG not really")

    gitrack.log_figure(Figure(), "plots/roc.png")
    gitrack.log_dict({"lr": 0.1, "layers": [64, 32], "name": "é"}, "config.json")
    gitrack.log_text("first line\\nsecond\\n", "notes.txt")
    gitrack.log_table(pa.table({"y": [0, 1], "p": [0.25, 0.75]}), "preds.parquet")
    try:
        gitrack.log_figure(object(), "nope.png")
    except UsageError as exc:
        print("refused:", exc)
"""


def test_logged_objects_round_trip_as_outputs(
    repo: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_script(repo, "log.py", SCRIPT)
    run_id = record(sys.executable, "log.py", cwd=repo)
    assert (
        "refused: log_figure needs a figure with a savefig(path) method" in capfd.readouterr().out
    )

    shown = gitrack("show", run_id, cwd=repo).out
    for path in ("plots/roc.png", "config.json", "notes.txt", "preds.parquet"):
        assert path in shown
    assert "nope.png" not in shown
    for path in ("plots/roc.png", "config.json", "notes.txt", "preds.parquet"):
        (repo / path).unlink()  # read back from the cache, not the working tree
    with chdir(repo):
        run = api.get_run(run_id)
        assert set(run.outputs) == {"plots/roc.png", "config.json", "notes.txt", "preds.parquet"}
        with run.open("plots/roc.png") as fh:
            assert fh.read() == b"\x89PNG not really"
        with run.open("config.json") as fh:
            assert json.load(fh) == {"lr": 0.1, "layers": [64, 32], "name": "é"}
        with run.open("notes.txt") as fh:
            assert fh.read() == b"first line\nsecond\n"
        with run.open("preds.parquet") as fh:
            table = pq.read_table(io.BytesIO(fh.read()))
    assert table.equals(pa.table({"y": [0, 1], "p": [0.25, 0.75]}))


def test_a_dataframe_is_written_as_parquet(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    from gitrack.tracking.artifacts import write_table

    write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "t.parquet")
    assert pq.read_table(tmp_path / "t.parquet").column("a").to_pylist() == [1, 2]


@pytest.mark.parametrize(
    ("writer", "value", "problem"),
    [
        ("write_dict", [1, 2], "log_dict needs a dict"),
        ("write_dict", {"x": object()}, "is not JSON"),
        ("write_text", b"bytes", "log_text needs a str"),
        ("write_table", {"a": [1]}, "pyarrow Table or a pandas DataFrame"),
    ],
)
def test_what_cannot_be_written_is_refused_and_nothing_is_left(
    tmp_path: Path, writer: str, value: object, problem: str
) -> None:
    from gitrack.tracking import artifacts

    with pytest.raises(UsageError, match=problem):
        getattr(artifacts, writer)(value, tmp_path / "out.file")
    assert list(tmp_path.iterdir()) == []
