"""`gitrack rerun`: a run re-executed at its exact state, recorded, compared."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from conftest import git, gitrack, make_repo, record, run_by_id, runs, worktree_state

PY = sys.executable

TRAIN = """\
import json, os, pathlib, sys
lr = float(sys.argv[1])
data = pathlib.Path("../data/values.csv").read_text()
out = pathlib.Path("../out")
out.mkdir(exist_ok=True)
(out / "model.txt").write_text(f"{data}|{lr}|VERSION\\n")
json.dump({"acc": len(data) * lr, "loss": 1 / 3}, open("metrics.json", "w"))
"""


def _project(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo",
        {
            "src/train.py": TRAIN,
            "data/values.csv": "x,y\n1,2\n",
            ".gitignore": "out/\nmetrics.json\ndata/\n",  # data: only in the cache
        },
    )


def test_a_dirty_run_is_reproduced_from_another_working_tree_state(tmp_path: Path) -> None:
    root = _project(tmp_path)
    src = root / "src"
    # The run: uncommitted edit, an untracked file, data, an output, a metrics file.
    (src / "train.py").write_text(TRAIN.replace("VERSION", "edited") + "import helper\n")
    (src / "helper.py").write_text("X = 1\n")
    options = (
        "-p",
        "lr=0.5",
        "-d",
        "../data/values.csv",
        "-o",
        "../out/model.txt",
        "-m",
        "metrics.json",
    )
    run_id = record(PY, "train.py", "0.5", cwd=src, options=options)
    original = run_by_id(root, run_id)
    assert original["dirty"] and original["metrics_file"] == "src/metrics.json"
    # Meanwhile the working tree moves on: edit reverted, helper gone, new data, a commit.
    git("checkout", "--", "src/train.py", cwd=root)
    (src / "helper.py").unlink()
    (root / "data" / "values.csv").write_text("x,y\n9,9\n9,9\n")
    (root / "README").write_text("later\n")
    git("add", "README", cwd=root)
    git("commit", "-qm", "later", cwd=root)
    (root / "out" / "model.txt").write_text("something else\n")
    before = worktree_state(root)

    res = gitrack("rerun", run_id, "--yes", cwd=root)

    assert res.code == 0, res.err + res.out
    assert "reproduced: 1/1 outputs identical, 2/2 metrics equal" in res.out
    assert "exit status 0 as recorded" in res.out
    assert f"{PY} train.py 0.5" in res.err  # the command was shown
    assert worktree_state(root) == before  # the user's working tree untouched
    assert git("worktree", "list", cwd=root).count("\n") == 1  # the temporary one is gone
    found = gitrack("ls", "--json", "--where", f"rerun_of = '{run_id}'", cwd=root).json()
    assert len(found) == 1
    rerun = found[0]
    assert rerun["params"] == {"lr": "0.5"} and rerun["cwd"] == "src"
    assert rerun["outputs"] == original["outputs"]
    assert rerun["datasets"] == original["datasets"]
    assert rerun["snapshot"] != original["snapshot"]
    assert git("rev-parse", f"{rerun['snapshot']}^{{tree}}", cwd=root) == git(
        "rev-parse", f"{original['snapshot']}^{{tree}}", cwd=root
    )  # the same code exactly


NOISY = """\
import json, os, pathlib, random
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/weights.bin").write_bytes(os.urandom(16))
pathlib.Path("out/config.txt").write_text("fixed\\n")
json.dump({"score": 1 + random.random() * 1e-9, "n": 3}, open("metrics.json", "w"))
"""


def test_a_nondeterministic_script_is_caught_naming_what_differs(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"noisy.py": NOISY, ".gitignore": "out/\nmetrics.json\n"})
    options = ("-o", "out/weights.bin", "-o", "out/config.txt", "-m", "metrics.json")
    run_id = record(PY, "noisy.py", cwd=root, options=options)

    res = gitrack("rerun", run_id, "--yes", "--keep", "--worktree", str(tmp_path / "wt"), cwd=root)

    assert res.code == 1, res.err + res.out
    assert "NOT reproduced: 1/2 outputs identical (out/weights.bin differs)" in res.out
    assert "1/2 metrics equal (score differs)" in res.out
    assert "≠  output out/weights.bin" in res.out and "=  output out/config.txt" in res.out
    assert (tmp_path / "wt" / "out" / "weights.bin").exists()  # --keep left it
    # Within a relative tolerance the metric counts as equal; the bytes still differ.
    again = gitrack("rerun", run_id, "--yes", "--rtol", "1e-6", cwd=root)
    assert again.code == 1
    assert "2/2 metrics equal" in again.out and "weights.bin differs" in again.out
    assert len([r for r in runs(root) if r.get("rerun_of") == run_id]) == 2


def test_the_recorded_command_runs_only_when_the_user_agrees(repo: Path) -> None:
    marker = repo / "ran.txt"
    run_id = record(PY, "-c", f"open({str(marker)!r}, 'a').write('x')", cwd=repo)
    marker.unlink()

    res = gitrack("rerun", run_id, cwd=repo)  # no terminal to ask on, no --yes

    assert res.code == 1 and "pass --yes" in res.err
    assert "open(" in res.err  # shown all the same
    assert not marker.exists()
    assert len(runs(repo)) == 1


def test_a_forged_path_in_the_note_is_refused_before_anything_runs(repo: Path) -> None:
    from gitrack.errors import CorruptRecordError
    from gitrack.tracking.history import Run
    from gitrack.tracking.record import RunRecord
    from gitrack.tracking.rerun import plan

    record_ = RunRecord(
        started="2026-01-01T00:00:00.000000Z",
        id="ab" * 8,
        command=["true"],
        base_commit="a" * 40,
        snapshot="b" * 40,
        cwd="../../etc",
    )
    try:
        plan(Run(record_, "c" * 40))
    except CorruptRecordError as exc:
        assert "refusing to rerun" in str(exc)
    else:
        raise AssertionError("a cwd outside the repository was accepted")


def test_missing_data_stops_the_rerun_before_anything_runs(tmp_path: Path) -> None:
    import shutil

    root = _project(tmp_path)
    src = root / "src"
    options = ("-d", "../data/values.csv", "-o", "../out/model.txt", "-m", "metrics.json")
    run_id = record(PY, "train.py", "0.5", cwd=src, options=options)
    shutil.rmtree(root / ".git" / "gitrack" / "cache")
    leftovers = set(Path(tempfile.gettempdir()).glob("gitrack-rerun-*"))

    res = gitrack("rerun", run_id, "--yes", cwd=root)

    assert res.code == 1 and "data/values.csv" in res.err
    assert len(runs(root)) == 1  # nothing ran
    assert git("worktree", "list", cwd=root).count("\n") == 1
    assert set(Path(tempfile.gettempdir()).glob("gitrack-rerun-*")) == leftovers
