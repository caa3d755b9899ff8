"""The query side of the command line: `ls --where/--sort`, `show --metric`, `compare`."""

from __future__ import annotations

import math
import sys
from datetime import datetime
from pathlib import Path

import pytest
from api_helpers import api_run, write_script
from conftest import Result, git, gitrack, make_repo, record

import gitrack as gitrack_api
from gitrack.errors import GitrackError

EMIT = """
    import json, sys
    metrics = dict(arg.split("=") for arg in sys.argv[1:] if "=" in arg)
    json.dump({k: float(v) for k, v in metrics.items()}, open("m.json", "w"))
    sys.exit(3 if "fail" in sys.argv else 0)
    """


def emit(repo: Path, *metrics: str, options: tuple[str, ...] = ()) -> str:
    """`gitrack run [options] -m m.json -- python emit.py k=v ...`; returns the run id."""
    return record(sys.executable, "emit.py", *metrics, cwd=repo, options=("-m", "m.json", *options))


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, list[str]]:
    """Three runs from the command line: tree (best), linear (dirty, NaN loss), failed."""
    repo = make_repo(tmp_path / "repo")
    write_script(repo, "emit.py", EMIT)
    git("add", "emit.py", cwd=repo)
    git("commit", "-qm", "emit", cwd=repo)
    tree = emit(
        repo, "auc=0.9", "loss=0.3", options=("-p", "model=tree", "-p", "lr=0.1", "-t", "team=a")
    )
    (repo / "train.py").write_text("print('linear')\n")
    linear = emit(
        repo, "auc=0.8", "loss=nan", options=("-p", "model=linear", "-p", "lr=0.01", "-t", "team=b")
    )
    failed = emit(repo, "fail", options=("-p", "model=tree", "-p", "lr=1"))
    return repo, [tree, linear, failed]


def ls_ids(repo: Path, *args: str) -> list[str]:
    res = gitrack("ls", "--json", *args, cwd=repo)
    assert res.code == 0, res.err
    return [run["id"] for run in res.json()]


# --------------------------------------------------------------------- ls --where
def test_ls_where(project: tuple[Path, list[str]]) -> None:
    repo, (tree, linear, failed) = project
    assert ls_ids(repo, "--where", "metrics.auc > 0.85") == [tree]
    assert ls_ids(repo, "--where", "params.model = 'tree'") == [failed, tree]
    assert ls_ids(repo, "--where", "params.model = 'tree' and not status = 'failed'") == [tree]
    assert ls_ids(repo, "--where", "params.lr > 0.05") == [failed, tree]  # numbers as numbers
    assert ls_ids(repo, "--where", "tags.team != 'x'") == [linear, tree]  # lacking: no match
    assert ls_ids(repo, "--where", "tags.team IN ('a', 'b') or status = 'failed'") == [
        failed,
        linear,
        tree,
    ]
    assert ls_ids(repo, "--where", "params.model LIKE 'lin%'") == [linear]
    assert ls_ids(repo, "--where", "params.model ILIKE 'TREE'") == [failed, tree]
    assert ls_ids(repo, "--where", "status = 'failed' and exit_code = 3") == [failed]
    assert ls_ids(repo, "--where", "dirty = true") == [failed, linear]
    assert ls_ids(repo, "--where", "duration_s >= 0 and started > '2000-01-01'") == [
        failed,
        linear,
        tree,
    ]
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    assert ls_ids(repo, "--where", f"commit = '{head}'") == [failed, linear, tree]
    assert ls_ids(repo, "--where", f"commit LIKE '{head[:7]}%'") == [failed, linear, tree]
    assert ls_ids(repo, "--where", f"id = '{linear}'") == [linear]
    assert ls_ids(repo, "--where", "metrics.loss != 0.3") == [linear]  # NaN != 0.3


def test_ls_where_table_output_and_limit(project: tuple[Path, list[str]]) -> None:
    repo, (tree, _linear, _failed) = project
    res = gitrack("ls", "--where", "status = 'ok'", "--sort", "-metrics.auc", "-n", "1", cwd=repo)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].split()[0] == "ID"
    assert [line.split()[0] for line in lines[1:] if not line.startswith("*")] == [tree[:8]]


def test_ls_where_matching_nothing(project: tuple[Path, list[str]]) -> None:
    repo, _ = project
    assert ls_ids(repo, "--where", "tags.team = 'nobody'") == []


def test_ls_where_matching_nothing_does_not_claim_there_are_no_runs(
    project: tuple[Path, list[str]],
) -> None:
    """Regression: (cli.py list_runs): with a --where that matches nothing, `gitrack ls` prints
    'no runs yet: record one with `gitrack run -- COMMAND`' although the repository
    has runs; it should say that no run matches the filter."""
    repo, _ = project
    res = gitrack("ls", "--where", "tags.team = 'nobody'", cwd=repo)
    assert res.code == 0
    assert "no runs yet" not in res.err
    assert "match" in res.err


@pytest.mark.parametrize(
    ("where", "column"),
    [
        ("metrics.auc >", 14),
        ("metrics.auc > 0.9 and (status = 'ok'", 37),
        ("params.model = tree", 16),
        ("colour = 'red'", 1),
    ],
)
def test_ls_where_error_points_at_the_column(
    project: tuple[Path, list[str]], where: str, column: int
) -> None:
    repo, _ = project
    res = gitrack("ls", "--where", where, cwd=repo)
    assert res.code == 1
    assert res.out == ""
    (line,) = res.err_lines
    assert line.startswith(f"Error: cannot read --where at column {column}:")
    assert line.endswith(f"{where[: column - 1]}▶{where[column - 1 :]}")


def test_ls_where_takes_mlflow_filters_typed(project: tuple[Path, list[str]]) -> None:
    """Regression (issue 11): MLflow's spellings were refused or matched nothing, and
    quoted values compared as numbers."""
    repo, (tree, linear, failed) = project
    assert ls_ids(repo, "--where", "attributes.status = 'FAILED'") == [failed]
    assert ls_ids(repo, "--where", "status = 'FINISHED'") == [linear, tree]
    assert ls_ids(repo, "--where", "tags.team IS NULL") == [failed]
    assert ls_ids(repo, "--where", "`params`.lr = '0.1'") == [tree]
    assert ls_ids(repo, "--where", "params.lr = '0.10'") == []  # text, exactly
    assert ls_ids(repo, "--where", "parameters.lr = 0.10") == [tree]  # a number
    assert ls_ids(repo, "--where", "not tags.team = 'a'") == [linear]  # not unknown: no
    started = {run["id"]: run["started"] for run in gitrack("ls", "--json", cwd=repo).json()}
    moment = datetime.fromisoformat(started[linear].replace("Z", "+00:00"))
    ms = int(moment.timestamp() * 1000)
    assert ls_ids(repo, "--where", f"attributes.start_time >= {ms}") == [failed, linear]
    assert ls_ids(repo, "--where", "attributes.start_time > 1800000000000") == []
    short = git("rev-parse", "--short=7", "HEAD", cwd=repo).strip()
    assert ls_ids(repo, "--where", f"commit = '{short}'") == [failed, linear, tree]
    sorted_ids = ls_ids(repo, "--sort", "attributes.start_time DESC")
    assert sorted_ids == [failed, linear, tree]


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("(" * 331 + "status = 'ok'" + ")" * 331, "nested more than 100 levels"),
        ("not " * 1000 + "status = 'ok'", "nested more than 100 levels"),
        ("metric.auc = 'LR'", "metrics.auc is a number"),
        ("attribute.status = 1", "status is text"),
        ("datasets.context = 'train'", "no dataset context"),
    ],
)
def test_ls_where_refusals_are_one_line_errors(
    project: tuple[Path, list[str]], where: str, words: str
) -> None:
    """Regression (issue 11): deep nesting crashed with RecursionError (exit 2); type
    errors matched nothing, silently."""
    repo, _ = project
    res = gitrack("ls", "--where", where, cwd=repo)
    assert res.code == 1, res.err
    (line,) = res.err_lines
    assert line.startswith("Error: cannot read --where at column") and words in line
    assert len(line) < 400


def test_runs_api_raises_a_gitrack_error_on_deep_nesting(
    project: tuple[Path, list[str]],
) -> None:
    repo, (tree, _linear, _failed) = project
    with pytest.raises(GitrackError, match="nested more than 100 levels"):
        gitrack_api.runs(where="not " * 1000 + "status = 'ok'", cwd=repo)
    table = gitrack_api.runs(where="tags.team = 'a'", sort="attributes.start_time", cwd=repo)
    assert table.column("id").to_pylist() == [tree]


# ---------------------------------------------------------------------- ls --sort
def test_ls_sort(project: tuple[Path, list[str]]) -> None:
    repo, (tree, linear, failed) = project
    assert ls_ids(repo, "--sort", "-metrics.auc") == [tree, linear, failed]  # lacking: last
    assert ls_ids(repo, "--sort", "metrics.auc") == [linear, tree, failed]
    assert ls_ids(repo, "--sort", "metrics.auc DESC") == [tree, linear, failed]
    assert ls_ids(repo, "--sort", "params.lr") == [linear, tree, failed]  # 0.01 < 0.1 < 1
    assert ls_ids(repo, "--sort", "-params.lr") == [failed, tree, linear]
    assert ls_ids(repo, "--sort", "started") == [tree, linear, failed]
    assert ls_ids(repo, "--sort", "-started") == [failed, linear, tree]
    assert ls_ids(repo, "--sort", "params.model") == [linear, failed, tree]  # stable
    assert ls_ids(repo, "--sort", "-metrics.auc", "-n", "1") == [tree]


def test_ls_sort_keeps_nan_and_missing_last_both_ways(project: tuple[Path, list[str]]) -> None:
    """MLflow's order: NaN and missing values after every number, in both directions."""
    repo, (tree, linear, failed) = project
    for spec in ("-metrics.loss", "metrics.loss"):
        ordered = ls_ids(repo, "--sort", spec)
        assert ordered[0] == tree
        assert set(ordered[1:]) == {linear, failed}


def test_ls_sort_error_names_the_sort_option(project: tuple[Path, list[str]]) -> None:
    """Regression: (query.py QueryError): a bad --sort says 'cannot read --where at column 1'."""
    repo, _ = project
    res = gitrack("ls", "--sort", "bogus", cwd=repo)
    assert res.code == 1
    assert "unknown field 'bogus'" in res.err
    assert "--where" not in res.err and "--sort" in res.err


# ------------------------------------------------------------------ show --metric
def steps_of(res: Result) -> list[tuple[str, str, str]]:
    lines = res.out.splitlines()
    assert lines[0].split() == ["STEP", "VALUE", "LOGGED"]
    out = []
    for line in lines[1:]:
        step, value, *logged = line.split()
        out.append((step, value, " ".join(logged)))
    return out


def test_show_metric_prints_the_step_history(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    run_id = api_run(
        repo,
        steps={
            "loss": [1.0, 0.5, math.nan, math.inf, -math.inf, 1e-7],
            "val loss/ü": [2.0, 1.0],
        },
    )
    res = gitrack("show", run_id[:6], "--metric", "loss", cwd=repo)
    assert res.code == 0, res.err
    rows = steps_of(res)
    assert [(s, v) for s, v, _ in rows] == [
        ("0", "1"),
        ("1", "0.5"),
        ("2", "NaN"),
        ("3", "inf"),
        ("4", "-inf"),
        ("5", "1e-07"),
    ]
    assert all(len(logged) == len("2026-01-01 00:00:00.000") for _, _, logged in rows)
    other = gitrack("show", run_id, "--metric", "val loss/ü", cwd=repo)
    assert [(s, v) for s, v, _ in steps_of(other)] == [("0", "2"), ("1", "1")]
    # the run page shows the last values, NaN and infinities as such
    page = gitrack("show", run_id, cwd=repo).out
    assert "loss=1e-07" in page and "val loss/ü=1" in page


def test_show_metric_without_steps_and_unknown_key(project: tuple[Path, list[str]]) -> None:
    repo, (tree, linear, _failed) = project
    res = gitrack("show", tree, "--metric", "auc", cwd=repo)
    assert res.code == 0, res.err
    # from a metrics file: no history, no step invented; logged when the run ended
    assert [row[:2] for row in steps_of(res)] == [("-", "0.9")]
    nan = gitrack("show", linear, "--metric", "loss", cwd=repo)
    assert [row[:2] for row in steps_of(nan)] == [("-", "NaN")]
    missing = gitrack("show", tree, "--metric", "nope", cwd=repo)
    assert missing.code == 1
    assert missing.err_lines == [f"Error: run {tree} has no metric 'nope'"]


# ------------------------------------------------------------------------ compare
def compare_rows(res: Result) -> dict[str, tuple[bool, list[str]]]:
    """field -> (marked as differing, values)."""
    lines = res.out.splitlines()
    assert lines[-1] == "* differs between the runs"
    rows = {}
    for line in lines[1:-1]:
        if not line.strip() or line.startswith("#"):
            break
        marked = line.startswith("*")
        field, *values = line[1:].split()
        rows[field] = (marked, values)
    return rows


def test_compare_marks_differences(project: tuple[Path, list[str]]) -> None:
    repo, (tree, linear, failed) = project
    res = gitrack("compare", tree, linear[:6], cwd=repo)
    assert res.code == 0, res.err
    header = res.out.splitlines()[0].split()
    assert header == ["FIELD", tree[:8], linear[:8]]
    rows = compare_rows(res)
    assert rows["status"] == (False, ["ok", "ok"])
    assert rows["commit"][0] is False
    assert rows["dirty"] == (True, ["no", "yes"])
    assert rows["params.model"] == (True, ["tree", "linear"])
    assert rows["params.lr"] == (True, ["0.1", "0.01"])
    assert rows["metrics.auc"] == (True, ["0.9", "0.8"])
    assert rows["metrics.loss"] == (True, ["0.3", "NaN"])
    assert rows["tags.team"] == (True, ["a", "b"])

    three = compare_rows(gitrack("compare", tree, linear, failed, cwd=repo))
    assert three["status"] == (True, ["ok", "ok", "failed"])
    assert three["metrics.auc"] == (True, ["0.9", "0.8", "-"])  # missing: '-'
    assert three["params.model"] == (True, ["tree", "linear", "tree"])


def test_compare_same_values_and_nan_are_not_marked(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    one = api_run(repo, params={"lr": 0.1}, metrics={"auc": 0.5, "loss": math.nan})
    two = api_run(repo, params={"lr": 0.1}, metrics={"auc": 0.5, "loss": math.nan})
    rows = compare_rows(gitrack("compare", one, two, cwd=repo))
    assert rows["params.lr"] == (False, ["0.1", "0.1"])
    assert rows["metrics.auc"] == (False, ["0.5", "0.5"])
    assert rows["metrics.loss"] == (False, ["NaN", "NaN"])


def test_compare_marks_metrics_that_differ_beyond_six_digits(tmp_path: Path) -> None:
    """Regression: (operations.py compare_runs): 'differs' is computed on the rendered cells
    (format_number's 6 significant digits), so auc 0.91234561 vs 0.91234562 — or
    two durations equal to 6 digits — are shown as identical and not marked."""
    repo = make_repo(tmp_path / "repo")
    one = api_run(repo, metrics={"auc": 0.91234561})
    two = api_run(repo, metrics={"auc": 0.91234562})
    rows = compare_rows(gitrack("compare", one, two, cwd=repo))
    assert rows["metrics.auc"][0] is True


def test_compare_code(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    clean = api_run(repo)
    (repo / "train.py").write_text("print('lr 0.5')\n")
    (repo / "new.py").write_text("x = 1\n")
    edited = api_run(repo)
    again = api_run(repo)  # the code is unchanged since `edited`
    res = gitrack("compare", clean, edited, again, "--code", cwd=repo)
    assert res.code == 0, res.err
    text = res.out
    first = text.index(f"# code: {clean[:8]} -> {edited[:8]}")
    second = text.index(f"# code: {clean[:8]} -> {again[:8]}")
    diff = text[first:second]
    assert "-print('training')" in diff and "+print('lr 0.5')" in diff
    assert "+x = 1" in diff and "new.py" in diff
    ident = gitrack("compare", edited, again, "--code", cwd=repo)
    assert ident.out.rstrip().endswith("(identical code)")


def test_compare_errors(project: tuple[Path, list[str]]) -> None:
    repo, (tree, _linear, _failed) = project
    one = gitrack("compare", tree, cwd=repo)
    assert one.code == 1 and "at least two runs" in one.err
    unknown = gitrack("compare", tree, "ffffffff", cwd=repo)
    assert unknown.code == 1 and "no run matches 'ffffffff'" in unknown.err
    none = gitrack("compare", cwd=repo)
    assert none.code == 2  # click: RUN RUN... is required
