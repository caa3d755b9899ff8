"""A data scientist's first day (issue 10): runs credited only with what they produced,
names that cannot hide runs, params as `log_params(vars(args))` logs them, metrics shown
as they were logged."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import API_ENV, forge_note, python, reset_api, write_script
from conftest import chdir, fresh_clone, git, gitrack, gitrack_proc, record, run_by_id

from gitrack import api
from gitrack.errors import GitrackError
from gitrack.git import Repo
from gitrack.tracking import history

PY = sys.executable
TRAIN = (
    "import json, sys; json.dump({'auc': 0.99}, open('metrics.json', 'w')); "
    "open('model.pkl', 'wb').write(b'model'); sys.exit(int(sys.argv[1]) if sys.argv[1:] else 0)"
)


@pytest.fixture(autouse=True)
def clean_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in API_ENV:
        monkeypatch.delenv(name, raising=False)
    reset_api()
    yield
    reset_api()


def configured(repo: Path) -> Path:
    (repo / "gitrack.toml").write_text('metrics = "metrics.json"\noutputs = ["model.pkl"]\n')
    return repo


# ------------------------------------------------------------ 1. credit what was produced
def test_a_run_that_writes_nothing_is_not_credited_with_the_last_runs_results(
    repo: Path,
) -> None:
    configured(repo)
    trained = run_by_id(repo, record(PY, "-c", TRAIN, cwd=repo))
    assert trained["metrics"] == {"auc": 0.99} and list(trained["outputs"]) == ["model.pkl"]

    res = gitrack("run", "--", PY, "-c", "print('preparing data')", cwd=repo)
    assert res.code == 0, res.err
    prepared = run_by_id(repo, res.err_lines[-1].split()[3])
    assert prepared["metrics"] == {} and not prepared.get("outputs")
    warned = [line for line in res.err_lines if "warning" in line]
    assert len([w for w in warned if "metrics.json" in w]) == 1, warned
    assert len([w for w in warned if "model.pkl" in w]) == 1, warned
    assert any("metrics.json" in w and "not written" in w for w in prepared["warnings"])

    # A crash before writing anything (an argparse error) is not credited either.
    res = gitrack("run", "--", PY, "-c", "raise SystemExit(2)", cwd=repo)
    crashed = run_by_id(repo, res.err_lines[-1].split()[3])
    assert crashed["status"] == "failed" and crashed["metrics"] == {}
    hits = gitrack("ls", "--json", "--where", "metrics.auc > 0.9", cwd=repo).json()
    assert [r["id"] for r in hits] == [trained["id"]]


def test_rewriting_the_same_bytes_counts_as_produced(repo: Path) -> None:
    first = run_by_id(repo, record(PY, "-c", TRAIN, cwd=configured(repo)))
    again = run_by_id(repo, record(PY, "-c", TRAIN, cwd=repo))
    assert again["metrics"] == first["metrics"] == {"auc": 0.99}
    assert again["outputs"] == first["outputs"]


def test_an_output_folder_counts_only_if_something_in_it_changed(repo: Path) -> None:
    write = "import os; os.makedirs('out/m', exist_ok=True); open('out/m/w', 'w').write('w')"
    made = run_by_id(repo, record(PY, "-c", write, cwd=repo, options=("-o", "out")))
    assert list(made["outputs"]) == ["out"]
    res = gitrack("run", "-o", "out", "--", "true", cwd=repo)
    assert not run_by_id(repo, res.err_lines[-1].split()[3]).get("outputs")
    assert any("'out'" in line and "not written" in line for line in res.err_lines)


def test_a_metrics_file_given_with_m_is_checked_too(repo: Path) -> None:
    (repo / "m.json").write_text('{"acc": 0.5}')
    res = gitrack("run", "-m", "m.json", "--", "true", cwd=repo)
    assert run_by_id(repo, res.err_lines[-1].split()[3])["metrics"] == {}
    assert any("m.json" in line and "not written" in line for line in res.err_lines)


def test_the_api_credits_only_what_the_script_wrote(repo: Path) -> None:
    configured(repo)
    (repo / "metrics.json").write_text('{"auc": 0.99}')
    (repo / "model.pkl").write_bytes(b"old model")
    script = write_script(
        repo,
        "prepare.py",
        """
        import gitrack
        with gitrack.start_run() as run:
            run.log_param("step", "prepare")
        """,
    )
    proc = python(script, repo)
    assert proc.returncode == 0, proc.stderr
    out = gitrack("ls", "--json", cwd=repo).json()
    assert len(out) == 1
    assert out[0]["metrics"] == {} and not out[0].get("outputs")
    assert sum("not written" in w for w in out[0]["warnings"]) == 2, out[0]["warnings"]


# ------------------------------------------------------------------- 2. names and ids
def test_an_id_or_prefix_wins_over_a_name_spelled_like_it(repo: Path) -> None:
    (repo / "train.py").write_text("mine\n")
    mine = record("true", cwd=repo)
    (repo / "train.py").write_text("theirs\n")
    record("true", cwd=repo, options=("--name", "theirs"))
    # A teammate's run (older gitrack, or a forged note) named like my id, then its prefix.
    for alias in (mine, mine[:6]):
        forge_note(repo, lambda rec, alias=alias: rec.update(name=alias))
        res = gitrack("show", alias, "--json", cwd=repo)
        assert res.code == 0, res.err
        assert res.json()["id"] == mine
        assert history.resolve(_loaded(repo), alias).id == mine
    (repo / "train.py").write_text("print('training')\n")
    res = gitrack("checkout", mine[:6], cwd=repo)
    assert res.code == 0, res.err
    assert (repo / "train.py").read_text() == "mine\n"


def test_a_name_that_reads_as_an_id_is_refused_when_recorded(repo: Path) -> None:
    for bad in ("cafe", "0123abcd", "DEADBEEF"):
        res = gitrack("run", "--name", bad, "--", "true", cwd=repo)
        assert res.code == 1 and "could be read as a run id" in res.err, res.err
    assert gitrack("ls", "--json", cwd=repo).json() == []
    record("true", cwd=repo, options=("--name", "cafe-2"))  # not all hex: fine
    with chdir(repo), pytest.raises(GitrackError, match="could be read as a run id"):
        api.start_run(name="beef")


def test_a_duplicate_name_names_the_newest_run_with_a_warning(repo: Path) -> None:
    older = record("true", cwd=repo, options=("--name", "baseline"))
    newer = record("true", cwd=repo, options=("--name", "baseline"))
    res = gitrack("show", "baseline", "--json", cwd=repo)
    assert res.code == 0, res.err
    assert res.json()["id"] == newer
    assert any("2 runs are named 'baseline'" in ln and older in ln for ln in res.err_lines)
    res = gitrack("checkout", "baseline", cwd=repo)
    assert res.code == 0, res.err
    assert any("named 'baseline'" in line for line in res.err_lines)


def _loaded(repo: Path) -> history.Runs:
    return history.load_runs(Repo.discover(repo))


# ------------------------------------------------------------------------ 3. params
def test_a_param_given_twice_with_two_values_is_refused(repo: Path) -> None:
    res = gitrack("run", "-p", "C=1", "-p", "C=2", "--", "true", cwd=repo)
    assert res.code == 1 and "C is given twice" in res.err, res.err
    assert gitrack("ls", "--json", cwd=repo).json() == []
    run = run_by_id(repo, record("true", cwd=repo, options=("-p", "C=1", "-p", "C=1")))
    assert run["params"] == {"C": "1"}


def test_log_params_of_vars_args_agrees_with_the_typed_param(repo: Path) -> None:
    script = write_script(
        repo,
        "grid.py",
        """
        import argparse, gitrack
        parser = argparse.ArgumentParser()
        parser.add_argument("--C", type=float, default=1.0)
        parser.add_argument("--kernel", default="rbf")
        args = parser.parse_args()
        gitrack.log_params(vars(args))
        """,
    )
    run_id = record(PY, str(script), "--C", "1", cwd=repo, options=("-p", "C=1"))
    run = run_by_id(repo, run_id)
    assert run["status"] == "ok"
    assert run["params"] == {"C": "1", "kernel": "rbf"}
    # A different number is still a conflict.
    res = gitrack_proc("run", "-p", "C=2", "--", PY, str(script), "--C", "1", cwd=repo)
    assert res.code == 1 and "ParamConflictError" in res.err


# ----------------------------------------------------------------- 4. show --metric
def test_show_metric_of_a_single_value_beside_step_metrics(repo: Path) -> None:
    script = write_script(
        repo,
        "fit.py",
        """
        import json, gitrack
        for epoch in range(3):
            gitrack.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
        json.dump({"test": {"auc": 0.97}}, open("metrics.json", "w"))
        """,
    )
    run_id = record(PY, str(script), cwd=repo, options=("-m", "metrics.json"))
    res = gitrack("show", run_id, "--metric", "test.auc", cwd=repo)
    assert res.code == 0, res.err
    rows = [line.split() for line in res.out.splitlines()[1:]]
    assert [row[:2] for row in rows] == [["-", "0.97"]]  # one value, no invented step 0
    loss = gitrack("show", run_id, "--metric", "loss", cwd=repo)
    assert [line.split()[:2] for line in loss.out.splitlines()[1:]] == [
        ["0", "1"],
        ["1", "0.5"],
        ["2", "0.333333"],
    ]
    with chdir(repo):
        got = api.get_run(run_id)
    [(step, value, _moment)] = got.metric_history("test.auc")
    assert (step, value) == (None, 0.97)
    assert [s for s, _, _ in got.metric_history("loss")] == [0, 1, 2]
    assert got.metric_history("nope") == []


# ------------------------------------------------------------ 5. the short hash ls prints
def test_where_commit_matches_the_short_hash_ls_prints(repo: Path) -> None:
    run_id = record("true", cwd=repo)
    listing = gitrack("ls", cwd=repo).out
    short = git("rev-parse", "--short=7", "HEAD", cwd=repo).strip()
    assert short in listing
    res = gitrack("ls", "--json", "--where", f"commit = '{short}'", cwd=repo)
    assert res.code == 0, res.err
    assert [r["id"] for r in res.json()] == [run_id]
    assert gitrack("ls", "--json", "--where", "commit = 'ffff000'", cwd=repo).json() == []


# ---------------------------------------------------- 13. show: datasets and outputs
def test_show_lists_datasets_and_outputs_with_sizes(repo: Path, tmp_path: Path) -> None:
    (repo / "data" / "train.csv").write_text("a,b\n1,2\n")  # 8 bytes
    write = (
        "import os; os.makedirs('out', exist_ok=True); "
        "open('out/model.bin', 'wb').write(b'w' * 3000); open('out/roc.png', 'wb').write(b'p' * 72)"
    )
    run_id = record(PY, "-c", write, cwd=repo, options=("-d", "data/train.csv", "-o", "out"))
    page = gitrack("show", run_id, cwd=repo).out
    data = run_by_id(repo, run_id)
    [dataset] = [line for line in page.splitlines() if line.startswith("dataset")]
    assert dataset.split() == [
        "dataset",
        "data/train.csv",
        "(8",
        "B)",
        data["datasets"]["data/train.csv"],
    ]
    [output] = [line for line in page.splitlines() if line.startswith("output")]
    assert "out  (folder, 3.0 KiB)" in output and data["outputs"]["out"] in output
    clone = fresh_clone(repo, tmp_path / "clone")  # no data fetched there
    page = gitrack("show", run_id, cwd=clone).out
    assert "data/train.csv  (size unknown: not in the local cache)" in page


# ------------------------------------------- 14. no start_run needed; failures say why
def test_a_script_failing_after_logging_without_start_run_is_a_failed_run_saying_why(
    repo: Path,
) -> None:
    script = write_script(
        repo,
        "crash.py",
        """
        import gitrack
        gitrack.log_metric("loss", 0.7)
        raise ValueError("bad input")
        """,
    )
    proc = python(script, repo)
    assert proc.returncode == 1 and "ValueError: bad input" in proc.stderr  # traceback kept
    [run] = gitrack("ls", "--json", cwd=repo).json()
    assert run["status"] == "failed" and run["error"] == "ValueError: bad input"
    assert run["metrics"] == {"loss": 0.7}


def test_a_run_failing_inside_start_run_records_the_exception(repo: Path) -> None:
    script = write_script(
        repo,
        "block.py",
        """
        import gitrack
        with gitrack.start_run(name="x-block"):
            raise KeyError("missing column")
        """,
    )
    assert python(script, repo).returncode == 1
    attached = write_script(
        repo,
        "attached.py",
        """
        import gitrack
        with gitrack.start_run():
            raise RuntimeError("diverged")
        """,
    )
    res = gitrack("run", "--", PY, str(attached), cwd=repo)
    assert res.code == 1
    by_cmd = {Path(r["command"][-1]).name: r for r in gitrack("ls", "--json", cwd=repo).json()}
    assert by_cmd["block.py"]["error"] == "KeyError: 'missing column'"
    assert by_cmd["attached.py"]["error"] == "RuntimeError: diverged"
    assert by_cmd["attached.py"]["status"] == "failed"
    page = gitrack("show", "x-block", cwd=repo).out
    assert "KeyError: 'missing column'" in page


# ------------------------------------------------------------------- 12. the ls table
@pytest.fixture
def grid(repo: Path) -> tuple[Path, list[str]]:
    """A 3-run grid over C, with a long command and metrics alphabetically before test.auc."""
    ids = []
    for c, auc in (("0.1", 0.81), ("1", 0.93), ("10", 0.88)):
        metrics = json.dumps({"a_loss": 0.5, "b_loss": 0.4, "c_loss": 0.3, "test": {"auc": auc}})
        command = (PY, "-c", f"open('m.json', 'w').write({metrics!r})", "--lr", "0.01")
        options = ("--name", f"svm-C{c}", "-p", f"C={c}", "-p", "kernel=rbf", "-m", "m.json")
        ids.append(record(*command, cwd=repo, options=options))
    return repo, ids


def _header(out: str) -> list[str]:
    return out.splitlines()[0].split()


def test_ls_shows_names_the_sorted_metric_and_the_params_that_differ(
    grid: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ids = grid
    monkeypatch.setenv("COLUMNS", "80")
    res = gitrack("ls", "--sort", "-metrics.test.auc", cwd=repo)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    header = _header(res.out)
    assert header[:2] == ["ID", "NAME"]
    assert "metrics.test.auc" in header and "params.C" in header
    assert "params.kernel" not in header  # the same for every run
    rows = [line.split() for line in lines[1:4]]
    assert [row[1] for row in rows] == ["svm-C1", "svm-C10", "svm-C0.1"]
    auc = header.index("metrics.test.auc")
    assert [row[auc] for row in rows] == ["0.93", "0.88", "0.81"]
    # --where names a param: it gets a column too.
    res = gitrack("ls", "--where", "params.kernel = 'rbf'", cwd=repo)
    assert "params.kernel" in _header(res.out)


def test_ls_columns_chooses_them(grid: tuple[Path, list[str]]) -> None:
    repo, ids = grid
    res = gitrack("ls", "--columns", "id,params.C,metrics.test.auc", cwd=repo)
    assert res.code == 0, res.err
    assert _header(res.out) == ["ID", "params.C", "metrics.test.auc"]
    assert res.out.splitlines()[1].split() == [ids[2][:8], "10", "0.88"]
    bad = gitrack("ls", "--columns", "id,bogus", cwd=repo)
    assert bad.code == 1 and "no column 'bogus'" in bad.err


# ------------------------------------------------------- 11. git log: one line per run
def test_plain_git_log_shows_one_readable_line_per_run(repo: Path) -> None:
    assert gitrack("install", cwd=repo).code == 0
    write_metrics = "open('m.json', 'w').write('{\"auc\": 0.93, \"loss\": 0.21}')"
    (repo / "train.py").write_text("print('edited')\n")
    first = record(PY, "-c", write_metrics, cwd=repo,
                   options=("--name", "baseline", "-p", "C=1", "-m", "m.json"))  # fmt: skip
    second = record("false", cwd=repo)
    log = git("log", "-1", cwd=repo)
    notes = log.split("Notes (runs):\n", 1)[1].strip().splitlines()
    assert len(notes) == 2, log
    by_id = {line.split()[1]: line.strip() for line in notes}
    line = by_id[first[:8]]
    assert line.startswith(f"run {first[:8]} baseline  ok*  ")
    assert "auc=0.93 loss=0.21" in line and "C=1" in line
    assert by_id[second[:8]].startswith(f"run {second[:8]}  FAILED*")
    assert "{" not in log  # no raw JSON
    raw = git("log", "-1", "--notes=gitrack", cwd=repo)
    assert f'"id":"{first}"' in raw  # the JSON is still there, on request

    # A forged name cannot drive the terminal through git log.
    forge_note(repo, lambda rec: rec.update(name="x\x1b[2Jy"))
    record("true", cwd=repo)  # any change to the JSON ref rebuilds the lines
    assert "\x1b" not in git("log", "-1", cwd=repo)

    # amend carries the lines along with the runs
    git("commit", "-q", "--amend", "-m", "amended", cwd=repo)
    assert f"run {first[:8]} baseline" in git("log", "-1", cwd=repo)


def test_install_replaces_an_earlier_installs_json_display_and_uninstall_removes_the_ref(
    repo: Path,
) -> None:
    # What an earlier gitrack install left: the raw JSON as git log's notes.
    git("config", "--local", "--add", "notes.displayRef", "refs/notes/gitrack", cwd=repo)
    git("config", "--local", "--add", "gitrack.installed", "notes.displayRef", cwd=repo)
    record("true", cwd=repo)
    assert gitrack("install", cwd=repo).code == 0
    shown = git("config", "--local", "--get-all", "notes.displayRef", cwd=repo).split()
    assert shown == ["refs/notes/runs"]
    assert "{" not in git("log", "-1", cwd=repo)
    assert gitrack("uninstall", cwd=repo).code == 0
    assert git("for-each-ref", "refs/notes/runs", cwd=repo) == ""
    assert git("config", "--local", "--get-all", "notes.displayRef", cwd=repo, check=False) == ""
