"""`--where` against MLflow itself: the same filters, the same runs, the same answers.

Six runs are built once as gitrack records (rows through ``table.row_of``, as `ls` and
``gitrack.runs()`` build them) and once as MLflow ``Run`` entities with the same data;
``mlflow.utils.search_utils.SearchUtils.filter`` (what MLflow's file store and client
use) decides what MLflow answers. The filters come from MLflow's own test suite
(tests/utils/test_search_utils.py and the tracking stores' search tests), adapted to
this data, plus more of the same shapes. Every filter MLflow accepts must select the
same runs in gitrack, except those listed in ``DIFFERENT``, each of which
docs/search.md names. mlflow-skinny is a test-only dependency, imported once here.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from mlflow.entities import (
    Dataset,
    DatasetInput,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from mlflow.exceptions import MlflowException
from mlflow.utils.search_utils import SearchUtils

from gitrack.tracking.history import Run as GitrackRun
from gitrack.tracking.record import RunRecord
from gitrack.views import table
from gitrack.views.query import QueryError, compile_where

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "search.md").read_text()
HASH_A, HASH_B, HASH_C = ("xxh128:" + c * 32 for c in "abc")
MLFLOW_STATUS = {"ok": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}

RUNS = [
    dict(
        id="a000000000000001",
        name="baseline",
        status="ok",
        started="2026-01-01T00:00:00.000000Z",
        duration_s=12.5,
        user="ana",
        params={"model": "LinearRegression", "lr": "0.1", "seed": "1", "p.a.r.a.m": "a"}
        | {"cat dog": "pets", "generic_2": "some value", "m": "tf"},
        metrics={"acc": 0.94, "rmse": 0.5, "legit name": 0.3, "X-Y-Z": 3.0, "key1": 121.0},
        tags={"version": "commit-hash", "team": "vision", "t.a.g": "a"},
        datasets={"data/train.csv": HASH_A},
    ),
    dict(
        id="a000000000000002",
        name="tuned",
        status="failed",
        started="2026-01-01T00:00:01.500000Z",
        duration_s=3.0,
        user="bo",
        params={"model": "LR", "lr": "0.10", "seed": "01", "m": "sk"}
        | {"generic_2": "another value"},
        metrics={"acc": 0.81, "rmse": 1.5, "key1": 123.0, "accuracy.2.0": 6.0},
        tags={"version": "v2", "k e y": "value"},
        datasets={"data/train.csv": HASH_A, "data/valid.csv": HASH_B},
    ),
    dict(
        id="b000000000000003",
        name=None,
        status="interrupted",
        started="2026-01-02T10:00:00.250000Z",
        duration_s=0.75,
        user="ana",
        params={"model": "tree", "generic_2": "another"},
        metrics={"acc": math.nan, "key1": 125.0, "spacey name": 7.0},
        tags={"team": "Vision"},
        datasets={},
    ),
    dict(
        id="b000000000000004",
        name="L'Hosp",
        status="ok",
        started="2025-12-31T23:59:59.999000Z",
        duration_s=100.0,
        user="cy",
        params={"model": "L'Hosp", "lr": "big"},
        metrics={"acc": math.inf, "rmse": -math.inf},
        tags={},
        datasets={"data/test.parquet": HASH_C},
    ),
    dict(
        id="1e11100000000000",
        name="numeric-looking id",
        status="ok",
        started="2026-01-03T00:00:00.000000Z",
        duration_s=1.0,
        user="ana",
        params={"lr": "1e-3", "seed": "9007199254740993"},
        metrics={"acc": 0.0, "rmse": 2.0},
        tags={"version": "NaN"},
        datasets={},
    ),
    dict(
        id="1e11100000000001",
        name="edge",
        status="failed",
        started="2026-01-03T00:00:00.001000Z",
        duration_s=2.0,
        user="bo",
        params={"lr": "0.001", "seed": "9007199254740992"},
        metrics={},
        tags={"version": "commit-hash"},
        datasets={},
    ),
]


def milliseconds(iso: str, plus_seconds: float = 0.0) -> int:
    moment = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    moment += timedelta(seconds=plus_seconds)
    return math.floor(moment.timestamp() * 1000 + 1e-6)


def gitrack_row(data: dict) -> dict:
    record = RunRecord(
        started=data["started"],
        id=data["id"],
        name=data["name"],
        status=data["status"],
        exit_code=0 if data["status"] == "ok" else 1,
        duration_s=data["duration_s"],
        command=["python", "train.py"],
        base_commit="c" * 40,
        snapshot="d" * 40,
        user=data["user"],
        params=data["params"],
        metrics=data["metrics"],
        tags=data["tags"],
        datasets=data["datasets"],
    )
    return table.row_of(GitrackRun(record, "c" * 40))


def mlflow_run(data: dict) -> Run:
    info = RunInfo(
        run_id=data["id"],
        experiment_id="0",
        user_id=data["user"],
        status=MLFLOW_STATUS[data["status"]],
        start_time=milliseconds(data["started"]),
        end_time=milliseconds(data["started"], data["duration_s"]),
        lifecycle_stage="active",
        run_name=data["name"],
    )
    run_data = RunData(
        metrics=[Metric(key, value, 0, 0) for key, value in data["metrics"].items()],
        params=[Param(key, value) for key, value in data["params"].items()],
        tags=[RunTag(key, value) for key, value in data["tags"].items()],
    )
    inputs = RunInputs(
        dataset_inputs=[
            DatasetInput(Dataset(name=path, digest=digest, source_type="local", source=path), [])
            for path, digest in data["datasets"].items()
        ]
    )
    return Run(run_info=info, run_data=run_data, run_inputs=inputs)


ROWS = [gitrack_row(data) for data in RUNS]
MLFLOW_RUNS = [mlflow_run(data) for data in RUNS]
T0 = milliseconds(RUNS[0]["started"])
T1 = milliseconds(RUNS[1]["started"])
T3 = milliseconds(RUNS[3]["started"])
END0 = milliseconds(RUNS[0]["started"], 12.5)


def mlflow_answer(where: str) -> list[str] | None:
    """The ids MLflow selects, or None when MLflow refuses the filter."""
    try:
        return [run.info.run_id for run in SearchUtils.filter(MLFLOW_RUNS, where)]
    except MlflowException:
        return None


def gitrack_answer(where: str) -> list[str] | None:
    try:
        predicate = compile_where(where)
    except QueryError:
        return None
    return [row["id"] for row in ROWS if predicate(row)]


def _numbers(prefix: str, key: str, values: list[str]) -> list[str]:
    return [f"{prefix}.{key} {op} {v}" for op in (">", ">=", "=", "!=", "<", "<=") for v in values]


def _texts(prefix: str, key: str, values: list[str]) -> list[str]:
    ops = ("=", "!=", "LIKE", "ILIKE")
    return [f"{prefix}.{key} {op} {v}" for op in ops for v in values]


# Filters MLflow accepts and answers as gitrack does.
SAME = [
    # metrics: every comparator, the spellings of MLflow's tests, NaN and infinities
    *_numbers("metrics", "acc", ["0.94", "0.0", "0.81", "100", "-1"]),
    *_numbers("metric", "rmse", ["1.5", "0"]),
    "metric.acc >= 0.94",
    "metric.acc>=100",
    "metrics.key1 = 123",
    "metrics.key1 != 123",
    "metrics.key1 >= 123",
    "metrics.XYZ = 3",
    'metric."legit name" >= 0.243',
    'metrics."X-Y-Z" = 3',
    'metrics."accuracy.2.0" > 5',
    "metrics.`spacey name` > 5",
    "`metric`.acc >= 0.1",
    "`metrics`.key1 < 124",
    "metrics.rmse < 1 and params.model = 'LinearRegression'",
    "metrics.acc > 1e10",
    "metrics.acc < -1e10",
    "metrics.acc >= 0.5 AND metrics.rmse <= 1.5",
    # params and tags: text, exactly
    *_texts("params", "model", ["'LR'", "'L%'", "'%R%'", "'l_'", "'tree'", "'%e'"]),
    *_texts("tags", "version", ["'commit-hash'", "'NaN'", "'nan'", "'v_'", "'%-%'"]),
    "params.m!='tf'",
    'params."m"!="tf"',
    "params.m = 'LR'",
    'params.m = "LR"',
    'params.model = "L\'Hosp"',
    "params.model = 'LinearRegression'",
    "params.lr = '0.1'",
    "params.lr = '0.10'",
    "params.lr = '1e-3'",
    "params.seed = '1'",
    "params.seed = '01'",
    "params.seed = '9007199254740993'",
    'params."cat dog" = "pets"',
    'params."p.a.r.a.m" != "a"',
    "`params`.model = 'tree'",
    "param.model != 'tree'",
    "parameter.model = 'LR'",
    "parameters.lr != 'big'",
    "params.generic_2 LIKE '%other%'",
    "params.generic_2 LIKE 'other%'",
    "params.generic_2 LIKE '%other'",
    "params.generic_2 LIKE 'other'",
    "params.generic_2 LIKE '%Other%'",
    "params.generic_2 ILIKE '%Other%'",
    "params.generic_2 = 'some value'",
    "params.random_bad_name = 'p_val' and metrics.acc = 1.0",
    'tags."t.a.g" = "a"',
    "tags.`k e y` = 'value'",
    "tags.\"k e y\" = 'value'",
    "`tags`.team = 'vision'",
    "tags.team ILIKE 'VISION'",
    "tags.team != 'vision'",
    "tag.team LIKE 'V%'",
    "tags.generic_2 ILIKE '%Other%' and tags.team = 'vision'",
    # IS NULL / IS NOT NULL (MLflow: params and tags)
    "tags.version IS NULL",
    "tags.version IS NOT NULL",
    "params.lr IS NULL",
    "params.lr IS NOT NULL",
    "tags.team IS NULL AND params.model = 'tree'",
    "params.m is not null and metrics.acc > 0.5",
    # attributes, with every prefix spelling
    "attributes.status = 'FAILED'",
    "attribute.status = 'RUNNING'",
    "attribute.status != 'SCHEDULED'",
    "attribute.status = 'SCHEDULED'",
    "attribute.status = 'KILLED'",
    "run.status = 'FINISHED'",
    "attr.status != 'FAILED'",
    "status = 'FINISHED'",
    "attributes.status LIKE 'FIN%'",
    "attributes.status ILIKE '%ed'",
    "attributes.run_id = 'a000000000000001'",
    "attributes.run_id != 'a000000000000001'",
    "attributes.run_id = '1e11100000000000'",
    "attributes.run_id IN ('a000000000000001')",
    "attributes.run_id IN ('a000000000000001','1e11100000000001')",
    "attributes.run_id IN ('a000000000000001', 'b000000000000004')",
    "attributes.run_id IN ('a000000000000001',  'b000000000000003')",
    "attributes.run_id NOT IN ('a000000000000001', '1e11100000000000')",
    "run_id LIKE '1e111%'",
    "attributes.run_name = 'baseline'",
    "attributes.run_name != 'baseline'",
    "attributes.`Run name` = 'tuned'",
    "attributes.`run name` = 'tuned'",
    "attributes.`Run Name` LIKE '%e%'",
    "attributes.run_name ILIKE 'BASE%'",
    "run_name = 'baseline' AND run_id IN ('a000000000000001')",
    "attribute.user_id = 'ana'",
    "attributes.user_id != 'ana'",
    "user_id LIKE 'b%'",
    f"attribute.start_time >= {T0}",
    f"attribute.start_time > {T0}",
    f"attribute.start_time = {T1}",
    f"attributes.start_time < {T0}",
    f"attributes.start_time != {T3}",
    "attributes.start_time > 0",
    f"attributes.created > {T0}",
    f"attributes.Created <= {T0}",
    f"attribute.end_time = {END0}",
    f"attribute.end_time > {END0}",
    f"attributes.end_time <= {T1 + 3000}",
    f"attributes.start_time >= {T0} and attributes.end_time < {END0}",
    # datasets: MLflow's name and digest are our path and hash
    "datasets.name = 'data/train.csv'",
    "dataset.name = 'data/valid.csv'",
    "datasets.name = 'name4'",
    "datasets.name != 'data/train.csv'",
    "datasets.name IN ('data/train.csv', 'data/test.parquet')",
    "datasets.name NOT IN ('data/train.csv')",
    "datasets.digest = '" + HASH_B + "'",
    "datasets.digest IN ('" + HASH_A + "', '" + HASH_C + "')",
    "datasets.name LIKE 'data/%'",
    "datasets.name LIKE 'Data/%'",
    "datasets.name ILIKE 'Data/%'",
    "datasets.digest LIKE 'xxh128:c%'",
    "datasets.name = 'data/train.csv' AND datasets.digest = '" + HASH_B + "'",
    "params.lr = '0.1' AND dataset.name = 'data/train.csv'",
]

# Filters MLflow accepts and gitrack answers otherwise, each on purpose and documented
# in docs/search.md (the test checks the filter appears there verbatim).
DIFFERENT = {
    "attributes.status = 'finished'": "status words in any case",
    "attributes.status LIKE 'o%'": "LIKE on status matches either tool's word",
    "attribute.status != 'blah'": "an unknown status word is refused",
    "attributes.run_id = 'a0000000'": "4+ hex digits of an id or commit match by prefix",
    "params.model = 'L''Hosp'": "a doubled quote or a backslash escapes a quote",
    "params.model = 'L\\'Hosp'": "a doubled quote or a backslash escapes a quote",
    "datasets.context = 'train'": "gitrack records no dataset context",
    "attribute.artifact_uri = 'x'": "gitrack runs have no artifact_uri",
}

# Filters MLflow refuses and gitrack accepts: the grammar's extensions (docs/search.md).
EXTENSIONS = [
    "metrics.acc > 0.9 OR params.model = 'LR'",
    "not params.m = 'tf'",
    "(metrics.acc > 0.9 or metrics.rmse > 1) and params.lr IS NOT NULL",
    "metrics.acc IS NULL",
    "attribute.status IS NULL",
    "params.lr = 0.1",
    "tags.version = 5",
    "params.model >= 'LR'",
    "`params`.model >= 'LR'",
    "attributes.status IN ('FAILED', 'KILLED')",
    "attributes.status NOT IN ('FAILED')",
    "dataset.status = 'true'",
    "attributes.start_time > '2026-01-01'",
    "metrics.acc = nan",
    "metrics.acc < inf",
    "started > '2026-01-01T00:00:01Z'",
    "dirty = false",
    "commit = 'cccccccc'",
    "metrics.`acc` <> 0.94",
]

# Filters both refuse (MLflow's error cases), the type errors of issue 11 among them.
BOTH_REFUSE = [
    "metric.model = 'LR'",
    "metric.model = '5'",
    "attribute.status = 1",
    "attributes.run_id = 1",
    "attribute.status = true",
    "params.acc = LR",
    "tags.acc = LR",
    "params.acc = `LR`",
    "params.'acc = LR",
    "params.acc = 'LR",
    "params.acc = LR'",
    "params.acc = \"LR'",
    "tags.acc = = 'LR'",
    "attribute.status IS 'RUNNING'",
    "params.acc LR !=",
    "params.acc LR",
    "metric.acc !=",
    "acc != 1.0",
    "foo is null",
    "1=1",
    "1==2",
    "metrics.acc != metrics.acc",
    "1.0 > metrics.acc",
    "metric.acc >= 0.94; metrics.rmse < 1",
    "m.acc >= 0.94",
    "acc >= 0.94",
    "p.model >= 'LR'",
    "attri.x != 1",
    "a.x != 1",
    "model >= 'LR'",
    "metrics.A > 0.1 NAND params.B = 'LR'",
    "`metrics.A > 0.1",
    "param`.A > 0.1",
    "`dummy.A > 0.1",
    "dummy`.A > 0.1",
    "attribute.start != 1",
    "attribute.experiment_id != 1",
    "attribute.lifecycle_stage = 'ACTIVE'",
    "attribute.time != 1",
    "attribute._status != 'RUNNING'",
    "attributes.start_time LIKE 1234",
    "attributes.start_time = 'soon'",
    "datasets.name = 5",
]


def test_the_filters_are_many_and_distinct() -> None:
    everything = [*SAME, *DIFFERENT, *EXTENSIONS, *BOTH_REFUSE]
    assert len(everything) == len(set(everything))
    assert len(SAME) + len(DIFFERENT) >= 130


@pytest.mark.parametrize("where", SAME)
def test_same_runs_as_mlflow(where: str) -> None:
    expected = mlflow_answer(where)
    assert expected is not None, f"MLflow refuses {where!r}: not a SAME case"
    assert gitrack_answer(where) == expected


def test_same_filters_select_a_variety_of_runs() -> None:
    """The data separates the runs: most filters select some runs, but not all."""
    answers = [mlflow_answer(where) or [] for where in SAME]
    some = [a for a in answers if 0 < len(a) < len(RUNS)]
    assert len(some) > len(SAME) * 2 // 3


@pytest.mark.parametrize("where", sorted(DIFFERENT))
def test_documented_differences_from_mlflow(where: str) -> None:
    assert mlflow_answer(where) is not None, f"MLflow refuses {where!r}"
    assert gitrack_answer(where) != mlflow_answer(where), f"{where!r} is answered alike"
    assert f"`{where}`" in DOCS, f"docs/search.md does not show {where!r}"
    assert DIFFERENT[where] in DOCS


@pytest.mark.parametrize("where", EXTENSIONS)
def test_extensions_mlflow_refuses(where: str) -> None:
    assert mlflow_answer(where) is None, f"MLflow accepts {where!r}: not an extension"
    assert gitrack_answer(where) is not None


@pytest.mark.parametrize("where", BOTH_REFUSE)
def test_both_refuse(where: str) -> None:
    assert mlflow_answer(where) is None, f"MLflow accepts {where!r}"
    with pytest.raises(QueryError) as caught:
        compile_where(where)
    assert re.search(r"at column \d+: ", str(caught.value))


def test_the_rows_are_what_ls_and_runs_filter() -> None:
    """row_of carries what the grammar reads: attribute columns and every group."""
    row = ROWS[1]
    assert row["status"] == "failed" and row["started"] == RUNS[1]["started"]
    assert row["params.lr"] == "0.10" and row["datasets.data/valid.csv"] == HASH_B
    assert MLFLOW_RUNS[1].info.end_time == T1 + 3000
