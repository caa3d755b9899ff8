"""The Python API: `import gitrack`, ``start_run`` and the ``log_*`` verbs, ``get_run``.

Standalone (``start_run`` records a run of its own: snapshot at the start, note at the
end) is exercised both in a real ``python script.py`` subprocess and in-process; attached
mode (the API inside `gitrack run -- python script.py`) always through a real command.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
import xxhash
from api_helpers import API_ENV, api_run, note_records, python, reset_api, write_script
from conftest import fresh_clone, git, gitrack, gitrack_proc, make_repo, record

import gitrack as gitrack_module
from gitrack import api
from gitrack.data.odb import Cache
from gitrack.errors import GitrackError, RunNotFoundError
from gitrack.tracking import events


@pytest.fixture(autouse=True)
def clean_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No run left active, and never attached to a `gitrack run` the suite runs under."""
    for name in API_ENV:
        monkeypatch.delenv(name, raising=False)
    reset_api()
    yield
    reset_api()


def xxh(data: bytes) -> str:
    return "xxh128:" + xxhash.xxh3_128_hexdigest(data)


def only_run(repo: Path) -> dict[str, object]:
    records = note_records(repo)
    assert len(records) == 1, records
    return records[0]


# ------------------------------------------------------------------ import gitrack
def test_import_gitrack_loads_no_api_and_no_heavy_module() -> None:
    code = (
        "import sys, gitrack; "
        "print(sorted(m for m in ('gitrack.api', 'pyarrow', 'pygit2') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_every_exported_name_resolves_lazily() -> None:
    for name in gitrack_module.__all__:
        assert getattr(gitrack_module, name) is not None
    from gitrack import log_metric, start_run

    assert start_run is api.start_run
    assert log_metric is api.log_metric
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = gitrack_module.nope


# ------------------------------------------------------------ standalone, subprocess
STANDALONE = """
    import pathlib
    import gitrack

    with gitrack.start_run(name="sub", params={"lr": 0.1, "layers": 3}, tags={"team": "v"}) as run:
        # after the snapshot: the run must record the code as it was at the start
        pathlib.Path("train.py").write_text("print('edited during the run')\\n")
        run.log_dataset("data/values.csv")
        # after logging: the recorded hash is of the data when it was logged
        pathlib.Path("data/values.csv").write_text("x,y\\n9,9\\n")
        pathlib.Path("model.bin").write_bytes(b"weights-v0")
        run.log_artifact("model.bin")
        for epoch in range(3):
            run.log_metric("loss", 1.0 / (epoch + 1))
        gitrack.log_metric("acc", 0.75)  # module-level: acts on the active run
        gitrack.log_param("seed", 7)
        gitrack.set_tag("stage", "final")
        # before the end: outputs are hashed when the run ends
        pathlib.Path("model.bin").write_bytes(b"weights-v1")
        print(run.id)
    """


def test_start_run_standalone_records_one_run(repo: Path) -> None:
    (repo / "train.py").write_text("print('edited before the run')\n")
    script = write_script(repo, "standalone.py", STANDALONE)
    proc = python(script, repo)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    rec = only_run(repo)
    assert rec["id"] == run_id
    assert rec["name"] == "sub"
    assert rec["status"] == "ok" and rec["exit_code"] == 0
    assert rec["params"] == {"lr": "0.1", "layers": "3", "seed": "7"}
    assert rec["tags"] == {"team": "v", "stage": "final"}
    assert rec["metrics"] == {"loss": pytest.approx(1 / 3), "acc": 0.75}
    assert rec["command"] == [sys.executable, str(script)]
    assert rec["base_commit"] == git("rev-parse", "HEAD", cwd=repo).strip()
    # snapshot taken at the start: the edit made before, not the one made during the run
    assert rec["dirty"] is True
    snapshot_train = git("show", f"{rec['snapshot']}:train.py", cwd=repo)
    assert snapshot_train == "print('edited before the run')\n"
    # a dataset is hashed and cached when logged; an output when the run ends
    assert rec["datasets"] == {"data/values.csv": xxh(b"x,y\n1,2\n")}
    assert rec["outputs"] == {"model.bin": xxh(b"weights-v1")}
    cache = Cache(repo / ".git" / "gitrack" / "cache")
    assert cache.read_verified(xxh(b"x,y\n1,2\n")) == b"x,y\n1,2\n"
    assert cache.read_verified(xxh(b"weights-v1")) == b"weights-v1"
    # nothing left behind: no pending marker, no live event file
    assert not list((repo / ".git" / "gitrack" / "cache" / "pending").glob("*"))
    assert not list((repo / ".git" / "gitrack").glob("live/*"))


def test_start_run_standalone_exception_propagates_and_run_is_failed(repo: Path) -> None:
    script = write_script(
        repo,
        "crash.py",
        """
        import gitrack
        with gitrack.start_run() as run:
            run.log_metric("loss", 0.5)
            raise ValueError("diverged at epoch 3")
        """,
    )
    proc = python(script, repo)
    assert proc.returncode == 1
    assert "ValueError: diverged at epoch 3" in proc.stderr
    rec = only_run(repo)
    assert rec["status"] == "failed"
    assert rec["exit_code"] != 0
    assert rec["metrics"] == {"loss": 0.5}


# ----------------------------------------------------------- standalone, in-process
def test_start_run_in_process_and_get_run(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    with gitrack_module.start_run(params={"lr": 0.01}, tags={"team": "a"}) as run:
        assert gitrack_module.active_run() is run
        assert run.status == "running"
        run.log_params({"model": "tree", "depth": 4})
        run.log_metrics({"auc": 0.5, "loss": 2.0})
        run.log_metrics({"auc": 0.75, "loss": 1.0})
        run.set_tag("note", "first try")
        assert run.params == {"lr": "0.01", "model": "tree", "depth": "4"}
        assert run.metrics == {"auc": 0.75, "loss": 1.0}
        assert [(s, v) for s, v, _ in run.metric_history("auc")] == [(0, 0.5), (1, 0.75)]
    with pytest.raises(api.RunStateError):
        gitrack_module.active_run()

    got = gitrack_module.get_run(run.id)
    assert got.id == run.id
    assert got.status == "ok"
    assert got.commit == git("rev-parse", "HEAD", cwd=repo).strip()
    assert got.params == {"lr": "0.01", "model": "tree", "depth": "4"}
    assert got.metrics == {"auc": 0.75, "loss": 1.0}
    assert got.tags == {"team": "a", "note": "first try"}
    assert got.datasets == {} and got.outputs == {}
    history = got.metric_history("loss")
    assert [(s, v) for s, v, _ in history] == [(0, 2.0), (1, 1.0)]
    assert all(isinstance(t, float) and t > 1e9 for _, _, t in history)
    assert got.metric_history("nope") == []
    assert gitrack_module.get_run(run.id[:6]).id == run.id
    assert repr(got) == f"<gitrack.Run {run.id} ok>"


def test_start_run_records_the_time_the_block_took(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """duration_s and cpu_s are differences: the monotonic clock alone counts from boot,
    getrusage from the process start."""
    monkeypatch.chdir(repo)
    with gitrack_module.start_run() as run:
        time.sleep(0.3)
    rec = only_run(repo)
    assert rec["id"] == run.id
    assert 0.3 <= rec["duration_s"] < 5  # type: ignore[operator]
    assert 0 <= rec["cpu_s"] < 0.25  # type: ignore[operator]  # asleep, not computing


def test_exception_marks_run_failed_and_propagates(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    with pytest.raises(ZeroDivisionError), gitrack_module.start_run() as run:
        run.log_metric("loss", 1.0)
        _ = 1 / 0
    assert gitrack_module.get_run(run.id).status == "failed"
    # the failed run is over: a new one can start
    with gitrack_module.start_run() as second:
        pass
    assert gitrack_module.get_run(second.id).status == "ok"


def test_keyboard_interrupt_marks_run_interrupted(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    with pytest.raises(KeyboardInterrupt), gitrack_module.start_run() as run:
        raise KeyboardInterrupt
    rec = only_run(repo)
    assert rec["id"] == run.id
    assert rec["status"] == "interrupted"
    assert rec["exit_code"] == 130


def test_logging_without_an_active_run_starts_one_ended_at_exit(repo: Path) -> None:
    """As MLflow does: every module-level verb works with no start_run; one run, recorded
    when the script exits (issue 10 #14; they used to raise RunStateError)."""
    script = write_script(
        repo,
        "plain.py",
        """
        import gitrack
        gitrack.log_param("lr", 0.1)
        gitrack.log_params({"seed": 1})
        gitrack.set_tag("a", "b")
        gitrack.log_dataset("data/values.csv")
        gitrack.log_metric("loss", 1.0)
        gitrack.log_metrics({"loss": 0.5, "acc": 0.9})
        open("model.bin", "wb").write(b"m")
        gitrack.log_artifact("model.bin")
        """,
    )
    proc = python(script, repo)
    assert proc.returncode == 0, proc.stderr
    rec = only_run(repo)
    assert rec["status"] == "ok" and "error" not in rec
    assert rec["params"] == {"lr": "0.1", "seed": "1"} and rec["tags"] == {"a": "b"}
    assert rec["metrics"] == {"loss": 0.5, "acc": 0.9}
    assert list(rec["datasets"]) == ["data/values.csv"] and list(rec["outputs"]) == ["model.bin"]


def test_logging_to_a_finished_run_is_an_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    with gitrack_module.start_run() as run:
        run.log_metric("loss", 1.0)
    with pytest.raises(api.RunStateError, match="not active"):
        run.log_metric("loss", 0.5)
    with pytest.raises(api.RunStateError):
        run.log_param("lr", 1)
    assert gitrack_module.get_run(run.id).metrics == {"loss": 1.0}


def test_second_start_run_while_one_is_active_is_an_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    with gitrack_module.start_run() as outer:
        with pytest.raises(api.RunStateError, match="already active"):
            gitrack_module.start_run()
        outer.log_metric("loss", 1.0)  # the outer run is untouched
    records = note_records(repo)
    assert [r["id"] for r in records] == [outer.id]
    assert records[0]["status"] == "ok"


def test_end_run_and_explicit_end(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    run = gitrack_module.start_run()
    gitrack_module.log_metric("loss", 0.1)
    gitrack_module.end_run()
    run.end()  # a second end is a no-op
    assert gitrack_module.get_run(run.id).metrics == {"loss": 0.1}
    assert len(note_records(repo)) == 1


@pytest.mark.parametrize(
    "value", ["0.5", None, b"1", [1.0], {"a": 1}, True, False, complex(1, 2), object()]
)
def test_metric_value_that_is_not_a_number_is_an_error_naming_the_key(
    repo: Path, monkeypatch: pytest.MonkeyPatch, value: object
) -> None:
    monkeypatch.chdir(repo)
    with gitrack_module.start_run() as run:
        with pytest.raises(api.MetricValueError, match="'val/loss'"):
            run.log_metric("val/loss", value)
        with pytest.raises(api.MetricValueError, match="'acc'"):
            gitrack_module.log_metrics({"ok": 1.0, "acc": value})
    assert gitrack_module.get_run(run.id).metrics == {"ok": 1.0}


def test_metric_numbers_of_other_types_are_accepted(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    with gitrack_module.start_run() as run:
        run.log_metric("int", 3)
        run.log_metric("fraction", Fraction(1, 4))
        run.log_metric("big", 2**62)
    assert gitrack_module.get_run(run.id).metrics == {"int": 3.0, "fraction": 0.25, "big": 2.0**62}


def test_huge_integer_metric_is_a_metric_value_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: 10**400 used to raise a bare OverflowError from float()."""
    monkeypatch.chdir(repo)
    with gitrack_module.start_run() as run, pytest.raises(api.MetricValueError, match="'huge'"):
        run.log_metric("huge", 10**400)


@pytest.mark.parametrize(
    ("key", "step", "allowed"),
    [
        ("s", "3", ([], [3])),
        ("s", 1.5, ([],)),
        ("s", 2**70, ([],)),
        (7, None, ([],)),
    ],
    ids=["step-str", "step-float", "step-overflow", "key-int"],
)
def test_invalid_step_or_key_is_refused_when_logged_not_losing_the_run(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    key: object,
    step: object,
    allowed: tuple[list[int], ...],
) -> None:
    """Regression: an invalid step or a non-str key used to be accepted by log_metric;
    at the end steps.encode raised a pyarrow error inside Recording.finish and NO run
    was recorded (and step=1.5 was silently truncated to 1)."""
    monkeypatch.chdir(repo)
    with gitrack_module.start_run() as run:
        run.log_metric("loss", 1.0)
        with contextlib.suppress(GitrackError):  # refused when logged: good
            run.log_metric(key, 1.0, step=step)  # type: ignore[arg-type]
    records = note_records(repo)
    assert [r["id"] for r in records] == [run.id]
    history = gitrack_module.get_run(run.id).metric_history("s")
    assert [s for s, _, _ in history] in allowed


def test_param_logged_twice(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    with gitrack_module.start_run(params={"lr": 0.1}) as run:
        run.log_param("lr", 0.1)  # the same value again: fine
        run.log_param("lr", "0.1")
        with pytest.raises(api.ParamConflictError, match="'lr'"):
            run.log_param("lr", 0.2)
        run.log_param("batch", 32)
        with pytest.raises(api.ParamConflictError, match="'batch'"):
            gitrack_module.log_params({"batch": 64})
        run.log_metric("loss", 1.0)  # the run goes on
    assert gitrack_module.get_run(run.id).params == {"lr": "0.1", "batch": "32"}


def test_nan_and_infinities_are_kept(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    with gitrack_module.start_run() as run:
        run.log_metric("nan", float("nan"))
        run.log_metric("pinf", float("inf"))
        run.log_metric("ninf", float("-inf"))
        run.log_metric("nan", 1.0)
        run.log_metric("nan", float("nan"))
    rec = only_run(repo)
    assert rec["metrics"] == {"nan": "NaN", "pinf": "Infinity", "ninf": "-Infinity"}
    got = gitrack_module.get_run(run.id)
    assert math.isnan(got.metrics["nan"])
    assert got.metrics["pinf"] == math.inf and got.metrics["ninf"] == -math.inf
    values = [v for _, v, _ in got.metric_history("nan")]
    assert math.isnan(values[0]) and values[1] == 1.0 and math.isnan(values[2])


KEYS = ["val/loss", "train loss", "précision", "损失", "a.b.c", "x-y:z"]


def test_keys_with_slashes_spaces_and_unicode(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    with gitrack_module.start_run() as run:
        for number, key in enumerate(KEYS):
            run.log_metric(key, number)
            run.log_metric(key, number + 0.5)
            run.log_param(key, f"p{number}")
            run.set_tag(key, f"t{number}")
    got = gitrack_module.get_run(run.id)
    for number, key in enumerate(KEYS):
        assert got.metrics[key] == number + 0.5
        assert got.params[key] == f"p{number}"
        assert got.tags[key] == f"t{number}"
        assert [v for _, v, _ in got.metric_history(key)] == [number, number + 0.5]
    columns = gitrack_module.runs().column_names
    for key in KEYS:
        assert f"metrics.{key}" in columns and f"params.{key}" in columns


def test_steps_default_to_the_next_step_per_key(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    with gitrack_module.start_run() as run:
        run.log_metric("a", 1.0)  # 0
        run.log_metric("a", 2.0)  # 1
        run.log_metric("b", 3.0)  # 0: its own counter
        run.log_metric("a", 4.0, step=10)
        run.log_metric("a", 5.0)  # 11
        run.log_metrics({"a": 6.0, "b": 7.0}, step=20)
        run.log_metrics({"a": 8.0, "b": 9.0})  # a: 21, b: 21
    got = gitrack_module.get_run(run.id)
    assert [(s, v) for s, v, _ in got.metric_history("a")] == [
        (0, 1.0),
        (1, 2.0),
        (10, 4.0),
        (11, 5.0),
        (20, 6.0),
        (21, 8.0),
    ]
    assert [(s, v) for s, v, _ in got.metric_history("b")] == [(0, 3.0), (20, 7.0), (21, 9.0)]
    assert got.metrics == {"a": 8.0, "b": 9.0}


def test_thousands_of_steps(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    count = 20_000
    with gitrack_module.start_run() as run:
        for step in range(count):
            run.log_metric("loss", 1.0 / (step + 1))
            if step % 10 == 0:
                gitrack_module.log_metric("lr", step * 1e-6, step=step)
    got = gitrack_module.get_run(run.id)
    history = got.metric_history("loss")
    assert len(history) == count
    assert [s for s, _, _ in history] == list(range(count))
    assert history[-1][1] == 1.0 / count
    assert len(got.metric_history("lr")) == count // 10
    timestamps = [t for _, _, t in history]
    assert timestamps == sorted(timestamps)
    # the note line stays small: only the last value per key
    rec = only_run(repo)
    assert rec["metrics"] == {"loss": 1.0 / count, "lr": (count - 10) * 1e-6}
    assert len(json.dumps(rec)) < 4096


def test_get_run_by_name_and_unknown(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = api_run(repo, name="baseline", metrics={"auc": 0.5})
    monkeypatch.chdir(repo)
    assert gitrack_module.get_run("baseline").id == run_id
    with pytest.raises(RunNotFoundError):
        gitrack_module.get_run("ffffffffffff")


def test_get_run_from_another_directory_reads_its_metric_history(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: .metric_history() of get_run(..., cwd=repo) used to look for the
    repository in the process's cwd (operations.metric_history(..., cwd='.'))."""
    run_id = api_run(repo, steps={"loss": [3.0, 2.0, 1.0]})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    got = gitrack_module.get_run(run_id, cwd=repo)
    assert got.metrics == {"loss": 1.0}
    assert [v for _, v, _ in got.metric_history("loss")] == [3.0, 2.0, 1.0]


def test_metric_history_of_a_run_without_steps(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics from a `-m` file have no step history: one value, no step (none is
    invented), the time the run ended."""
    script = write_script(
        repo, "m.py", "import json; json.dump({'auc': 0.9}, open('m.json', 'w'))\n"
    )
    run_id = record(sys.executable, str(script), cwd=repo, options=("-m", "m.json"))
    monkeypatch.chdir(repo)
    got = gitrack_module.get_run(run_id)
    assert got.metrics == {"auc": 0.9}
    [(step, value, moment)] = got.metric_history("auc")
    assert step is None and value == 0.9 and abs(moment - time.time()) < 60
    assert only_run(repo).get("metric_history") is None


def test_runs_is_a_pyarrow_table_and_converts_to_pandas(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa

    api_run(repo, params={"lr": 0.1}, metrics={"auc": 0.9})
    api_run(repo, params={"lr": 0.2}, metrics={"auc": 0.8})
    monkeypatch.chdir(repo)
    table = gitrack_module.runs(where="metrics.auc > 0.85")
    assert isinstance(table, pa.Table)
    assert table.num_rows == 1
    assert table.column("params.lr").to_pylist() == ["0.1"]
    pytest.importorskip("pandas")
    frame = gitrack_module.runs(sort="-metrics.auc").to_pandas()
    assert list(frame["metrics.auc"]) == [0.9, 0.8]


# ------------------------------------------------------- attached, in-process parts
def test_attached_api_writes_events_that_gitrack_run_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The protocol alone: env vars in, event lines out, NaN and unicode included."""
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("GITRACK_RUN_ID", "0123456789abcdef")
    monkeypatch.setenv("GITRACK_EVENTS", str(path))
    monkeypatch.setenv("GITRACK_PARAMS", json.dumps({"lr": "0.1"}))
    run = gitrack_module.active_run()
    assert run.id == "0123456789abcdef"
    assert run.params == {"lr": "0.1"}
    gitrack_module.log_metric("précision", float("nan"))
    gitrack_module.log_metric("précision", float("-inf"))
    gitrack_module.log_param("seed", 3)
    gitrack_module.set_tag("team", "x")
    with pytest.raises(api.ParamConflictError):
        gitrack_module.log_param("lr", 0.5)
    gitrack_module.end_run()
    logged = events.read_events(path)
    assert logged.params == {"seed": "3"}
    assert logged.tags == {"team": "x"}
    assert logged.metrics["précision"] == -math.inf
    (_, s0, v0, _), (_, s1, v1, _) = logged.steps
    assert (s0, s1) == (0, 1) and math.isnan(v0) and v1 == -math.inf
    assert not logged.failed


# --------------------------------------------------------- attached, `gitrack run`
ATTACHED = """
    import gitrack
    gitrack.log_param("seed", 1)
    gitrack.log_params({"optimizer": "adam"})
    for epoch in range(4):
        gitrack.log_metric("loss", 1.0 / (epoch + 1))
    gitrack.log_metric("nan", float("nan"))
    gitrack.set_tag("team", "vision")
    print(gitrack.active_run().id)
    """


def test_attached_run_records_one_run_with_api_and_cli_values(repo: Path) -> None:
    script = write_script(repo, "attached.py", ATTACHED)
    res = gitrack_proc(
        "run", "-p", "lr=0.1", "-t", "owner=me", "--", sys.executable, str(script), cwd=repo
    )
    assert res.code == 0, res.err
    rec = only_run(repo)
    assert res.out.strip() == rec["id"]  # the API attached to this very run
    assert rec["params"] == {"lr": "0.1", "seed": "1", "optimizer": "adam"}
    assert rec["tags"] == {"owner": "me", "team": "vision"}
    assert rec["metrics"] == {"loss": 0.25, "nan": "NaN"}
    assert rec["status"] == "ok"
    history = json.loads(gitrack("ls", "--json", cwd=repo).out)[0]["metric_history"]
    assert history == rec["metric_history"]
    shown = gitrack("show", str(rec["id"]), "--metric", "loss", cwd=repo)
    assert shown.code == 0
    assert [line.split()[:2] for line in shown.out.splitlines()[1:]] == [
        ["0", "1"],
        ["1", "0.5"],
        ["2", "0.333333"],
        ["3", "0.25"],
    ]
    assert not list((repo / ".git" / "gitrack").glob("live/*"))


def test_attached_start_run_block_joins_the_same_run(repo: Path) -> None:
    script = write_script(
        repo,
        "block.py",
        """
        import gitrack
        with gitrack.start_run(params={"depth": 3}, tags={"k": "v"}) as run:
            run.log_metric("acc", 0.5)
            gitrack.log_metric("acc", 0.75)
        """,
    )
    run_id = record(sys.executable, str(script), cwd=repo, options=("-p", "lr=1"))
    rec = only_run(repo)
    assert rec["id"] == run_id
    assert rec["params"] == {"lr": "1", "depth": "3"}
    assert rec["tags"] == {"k": "v"}
    assert rec["metrics"] == {"acc": 0.75}


def test_attached_start_run_name_names_the_run(repo: Path) -> None:
    """Regression: inside `gitrack run`, start_run(name=...) used to become a tag 'name'
    instead of the run's name, so `gitrack show NAME` could not find the run."""
    script = write_script(
        repo,
        "named.py",
        """
        import gitrack
        with gitrack.start_run(name="resnet-baseline"):
            gitrack.log_metric("acc", 0.5)
        """,
    )
    run_id = record(sys.executable, str(script), cwd=repo)
    rec = only_run(repo)
    assert rec.get("name") == "resnet-baseline"
    assert gitrack("show", "resnet-baseline", "--json", cwd=repo).json()["id"] == run_id


def test_attached_param_conflicting_with_cli_param_is_an_error(repo: Path) -> None:
    script = write_script(repo, "conflict.py", "import gitrack\ngitrack.log_param('lr', 0.2)\n")
    res = gitrack_proc("run", "-p", "lr=0.1", "--", sys.executable, str(script), cwd=repo)
    assert res.code == 1
    assert "ParamConflictError" in res.err and "'lr'" in res.err
    rec = only_run(repo)
    assert rec["status"] == "failed"
    assert rec["params"] == {"lr": "0.1"}


def test_attached_same_param_as_cli_is_fine(repo: Path) -> None:
    script = write_script(repo, "same.py", "import gitrack\ngitrack.log_param('lr', '0.1')\n")
    record(sys.executable, str(script), cwd=repo, options=("-p", "lr=0.1"))
    rec = only_run(repo)
    assert rec["status"] == "ok" and rec["params"] == {"lr": "0.1"}


def test_attached_exception_fails_the_run_and_propagates(repo: Path) -> None:
    script = write_script(
        repo,
        "boom.py",
        """
        import gitrack
        with gitrack.start_run() as run:
            run.log_metric("loss", 3.0)
            raise RuntimeError("out of memory")
        """,
    )
    res = gitrack_proc("run", "--", sys.executable, str(script), cwd=repo)
    assert res.code == 1
    assert "RuntimeError: out of memory" in res.err
    rec = only_run(repo)
    assert rec["status"] == "failed"
    assert rec["metrics"] == {"loss": 3.0}


def test_attached_exception_caught_by_the_script_still_marks_the_run_failed(repo: Path) -> None:
    script = write_script(
        repo,
        "caught.py",
        """
        import gitrack
        try:
            with gitrack.start_run():
                raise ValueError("bad batch")
        except ValueError:
            pass
        """,
    )
    record(sys.executable, str(script), cwd=repo)
    assert only_run(repo)["status"] == "failed"


def test_attached_keyboard_interrupt_is_interrupted(repo: Path) -> None:
    script = write_script(
        repo,
        "ctrl_c.py",
        """
        import gitrack
        with gitrack.start_run() as run:
            run.log_metric("loss", 0.5)
            raise KeyboardInterrupt
        """,
    )
    res = gitrack("run", "--", sys.executable, str(script), cwd=repo)
    assert res.code == 130
    rec = only_run(repo)
    assert rec["status"] == "interrupted"
    assert rec["metrics"] == {"loss": 0.5}


def test_attached_many_steps_and_datasets(repo: Path) -> None:
    """More events than one buffer holds; a dataset and an output from a subfolder."""
    script = write_script(
        repo,
        "sub/many.py",
        """
        import pathlib
        import gitrack
        gitrack.log_dataset("../data/values.csv")
        pathlib.Path("model.bin").write_bytes(b"model")
        gitrack.log_artifact("model.bin")
        for step in range(25_000):
            gitrack.log_metric("loss", step / 25_000)
        """,
    )
    record(sys.executable, str(script.name), cwd=repo / "sub")
    rec = only_run(repo)
    assert rec["datasets"] == {"data/values.csv": xxh(b"x,y\n1,2\n")}
    assert rec["outputs"] == {"sub/model.bin": xxh(b"model")}
    assert rec["metrics"] == {"loss": 24_999 / 25_000}
    steps = gitrack("show", str(rec["id"]), "--metric", "loss", cwd=repo).out.splitlines()
    assert len(steps) == 1 + 25_000
    assert steps[-1].split()[:2] == ["24999", "0.99996"]


def test_metric_history_survives_gc_and_a_fresh_clone(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = write_script(
        repo,
        "hist.py",
        """
        import gitrack
        with gitrack.start_run() as run:
            for step in range(50):
                run.log_metric("loss", 1.0 / (step + 1))
            run.log_metric("odd", float("inf"))
        print(run.id)
        """,
    )
    git("add", "hist.py", cwd=repo)
    git("commit", "-qm", "add script", cwd=repo)
    proc = python(script, repo)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    git("gc", "-q", "--prune=now", cwd=repo)
    expected = [(s, 1.0 / (s + 1)) for s in range(50)]
    monkeypatch.chdir(repo)
    got = gitrack_module.get_run(run_id)
    assert [(s, v) for s, v, _ in got.metric_history("loss")] == expected
    assert got.metrics["odd"] == math.inf

    clone = fresh_clone(repo, tmp_path / "clone")
    shown = gitrack("show", run_id[:8], "--metric", "loss", cwd=clone)
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()[1:]
    assert [(int(a), float(b)) for a, b, *_ in (line.split() for line in lines)] == [
        (s, float(f"{v:.6g}")) for s, v in expected
    ]
    odd = gitrack("show", run_id[:8], "--metric", "odd", cwd=clone)
    assert odd.out.splitlines()[1].split()[1] == "inf"


def test_show_metric_in_a_clone_without_gitrack_refs_says_what_is_missing(
    repo: Path, tmp_path: Path
) -> None:
    run_id = api_run(repo, steps={"loss": [1.0, 0.5]})
    clone = tmp_path / "clone"
    git("clone", "-q", "--no-local", str(repo), str(clone), cwd=tmp_path)
    git("fetch", "-q", "origin", "+refs/notes/*:refs/notes/*", cwd=clone)
    res = gitrack("show", run_id, "--metric", "loss", cwd=clone)
    assert res.code == 1  # a GitrackError, not a crash
    assert "missing" in res.err


def test_api_in_a_repository_without_commits_fails_before_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    git("init", "-q", str(empty), cwd=tmp_path)
    monkeypatch.chdir(empty)
    with pytest.raises(GitrackError, match="no commit"):
        gitrack_module.start_run()
    with pytest.raises(api.RunStateError):
        gitrack_module.active_run()  # nothing half-started


def test_two_repositories_do_not_share_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_repo(tmp_path / "one")
    second = make_repo(tmp_path / "two")
    api_run(first, metrics={"a": 1.0})
    api_run(second, metrics={"a": 2.0})
    assert gitrack_module.runs(cwd=first).column("metrics.a").to_pylist() == [1.0]
    assert gitrack_module.runs(cwd=second).column("metrics.a").to_pylist() == [2.0]
