"""`gitrack sweep`: grids and random draws, each point a child run of the sweep's run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import gitrack, gitrack_cmd, make_repo, runs

from gitrack.errors import UsageError
from gitrack.tracking import sweep as sweeps

PY = sys.executable

POINT = """\
import json, os, pathlib, sys, time
lr, depth = sys.argv[1], sys.argv[2]
assert os.environ["GITRACK_PARAM_LR"] == lr and os.environ["GITRACK_PARAM_DEPTH"] == depth
start = time.time()
time.sleep(float(os.environ.get("NAP", "0")))
if lr == "bad":
    sys.exit(3)
json.dump({"score": float(lr) * int(depth)}, open(f"m-{lr}-{depth}.json", "w"))
with open(os.environ["LOG"], "a") as log:
    log.write(f"{start} {time.time()}\\n")
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOG", str(tmp_path / "times.log"))
    return make_repo(tmp_path / "repo", {"point.py": POINT, ".gitignore": "m-*.json\n"})


def _most_at_once(log: Path) -> int:
    spans = [tuple(map(float, line.split())) for line in log.read_text().splitlines()]
    return max(sum(s <= start < e for s, e in spans) for start, _ in spans)


def test_a_grid_of_four_runs_two_at_a_time_each_point_recorded(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAP", "1.5")
    res = gitrack(
        "sweep",
        "-p",
        "lr=0.1,0.2",
        "-p",
        "depth=3,5",
        "--jobs",
        "2",
        "-m",
        "m-{lr}-{depth}.json",
        "--",
        PY,
        "point.py",
        "{lr}",
        "{depth}",
        cwd=project,
    )

    assert res.code == 0, res.err
    assert _most_at_once(tmp_path / "times.log") == 2  # two at a time, never more
    found = runs(project)
    parent = next(r for r in found if r["command"][:2] == ["gitrack", "sweep"])
    children = [r for r in found if r["parent"] == parent["id"]]
    assert len(found) == 5 and len(children) == 4
    got = {(c["params"]["lr"], c["params"]["depth"]): c["metrics"]["score"] for c in children}
    assert got == {
        ("0.1", "3"): 0.30000000000000004,
        ("0.1", "5"): 0.5,
        ("0.2", "3"): 0.6000000000000001,
        ("0.2", "5"): 1.0,
    }
    assert all(c["status"] == "ok" for c in children)
    assert {c["snapshot"] for c in children} == {parent["snapshot"]}  # taken once
    assert parent["status"] == "ok" and parent["metrics"] == {
        "points": 4,
        "points_failed": 0,
        "score": 1.0,
    }
    # The table: best score first.
    rows = [line.split() for line in res.out.splitlines()[1:]]
    assert [r[2:4] for r in rows] == [["0.2", "5"], ["0.2", "3"], ["0.1", "5"], ["0.1", "3"]]
    assert gitrack("ls", cwd=project).code == 0


def test_a_failing_point_makes_the_sweep_fail(project: Path) -> None:
    res = gitrack(
        "sweep",
        "-p",
        "lr=0.5,bad",
        "-p",
        "depth=2",
        "--sort",
        "score",
        "--",
        PY,
        "point.py",
        "{lr}",
        "{depth}",
        cwd=project,
    )

    assert res.code == 1
    assert "(1 failed)" in res.err
    assert "{depth}" not in res.err  # every placeholder names a parameter: no warning
    found = runs(project)
    parent = next(r for r in found if r["command"][:2] == ["gitrack", "sweep"])
    statuses = sorted((r["params"]["lr"], r["status"]) for r in found if r["parent"])
    assert statuses == [("0.5", "ok"), ("bad", "failed")]
    assert parent["status"] == "failed" and parent["metrics"]["points_failed"] == 1


def test_points_running_at_once_may_not_share_an_output(project: Path) -> None:
    res = gitrack(
        "sweep",
        "-p",
        "lr=1,2",
        "-p",
        "depth=1",
        "--jobs",
        "2",
        "-o",
        "model.pt",
        "--",
        PY,
        "point.py",
        "{lr}",
        "{depth}",
        cwd=project,
    )

    assert res.code == 1
    assert "-o 'model.pt' is the same file for several points" in res.err
    assert "model-{lr}-{depth}.pt" in res.err
    assert runs(project) == []  # nothing ran, nothing recorded


def test_random_draws_are_recorded_with_their_values(project: Path) -> None:
    res = gitrack(
        "sweep",
        "--random",
        "3",
        "--seed",
        "7",
        "-p",
        "lr=loguniform(1e-4,1e-1)",
        "-p",
        "depth=randint(2,4)",
        "--",
        PY,
        "point.py",
        "{lr}",
        "{depth}",
        cwd=project,
    )

    assert res.code == 0, res.err
    children = [r for r in runs(project) if r["parent"]]
    assert len(children) == 3
    for child in children:
        assert 1e-4 <= float(child["params"]["lr"]) <= 1e-1
        assert child["params"]["depth"] in {"2", "3", "4"}
    again = sweeps.draws(sweeps.parse_space(["lr=loguniform(1e-4,1e-1)"]), 3, 7)
    assert again == sweeps.draws(sweeps.parse_space(["lr=loguniform(1e-4,1e-1)"]), 3, 7)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("lr", "is not NAME=V1,V2"),
        ("lr=loguniform(0,1)", "above 0"),
        ("depth=randint(5,2)", "bounds in order"),
        ("lr=uniform(1)", "two bounds"),
    ],
)
def test_a_bad_parameter_space_is_refused(spec: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        sweeps.parse_space([spec])


def test_a_range_needs_random_draws() -> None:
    with pytest.raises(UsageError, match="--random K"):
        sweeps.grid(sweeps.parse_space(["lr=uniform(0,1)"]))


def test_ctrl_c_stops_every_point_and_records_them_interrupted(
    project: Path, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    started.mkdir()
    script = (
        "import os, sys, time; open(os.path.join(sys.argv[1], sys.argv[2]), 'w'); time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        gitrack_cmd(
            "sweep", "-p", "x=1,2,3", "--jobs", "2", "--", PY, "-c", script, str(started), "{x}"
        ),
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(list(started.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)

    assert proc.returncode == 130, err
    found = runs(project)
    children = [r for r in found if r["parent"]]
    assert len(children) == 2  # the third point never started
    assert all(r["status"] == "interrupted" for r in children)
    parent = next(r for r in found if not r["parent"])
    assert parent["status"] == "interrupted"


def test_a_placeholder_naming_no_parameter_is_warned_about(project: Path) -> None:
    res = gitrack(
        "sweep", "-p", "lr=1", "-p", "depth=2", "--", PY, "point.py", "{lr}", "{depht}", cwd=project
    )
    assert "warning: {depht} names no -p parameter (lr, depth): left as it is" in res.err


def test_a_point_run_after_an_edit_takes_its_own_snapshot(project: Path) -> None:
    edit = "import sys, pathlib; sys.argv[1] == '1' and pathlib.Path('point.py').write_text('x')"
    res = gitrack("sweep", "-p", "x=1,2", "--", PY, "-c", edit, "{x}", cwd=project)

    assert res.code == 0, res.err
    found = runs(project)
    parent = next(r for r in found if not r["parent"])
    snapshots = {r["params"]["x"]: r["snapshot"] for r in found if r["parent"]}
    assert snapshots["1"] == parent["snapshot"]  # the code the sweep started with
    assert snapshots["2"] != parent["snapshot"]  # point.py was edited by then: its own
    assert (
        gitrack(
            "checkout", found[0]["id"], "--worktree", str(project.parent / "w"), cwd=project
        ).code
        == 0
    )
