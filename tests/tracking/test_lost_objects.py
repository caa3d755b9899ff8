"""Objects lost to `git gc --prune=now` racing runs: gitrack keeps working.

A prune that races a run can remove a snapshot, or the commit refs/gitrack/pins points at,
before the ref keeping it alive moved. Simulated deterministically: runs are recorded,
then the loose object file is deleted from .git/objects. Every command keeps working
(exit 0, or 1 with one clear line for what cannot be done), and says which runs lost
their snapshot; the runs that still have theirs stay restorable, through a later
`git gc --prune=now` too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import git, gitrack, record, run_by_id, runs, worktree_state
from remote_helpers import clone, make_origin, write

PINS = "refs/gitrack/pins"


def delete_loose(repo: Path, oid: str) -> None:
    path = repo / ".git" / "objects" / oid[:2] / oid[2:]
    assert path.is_file(), f"{oid} is not a loose object"
    path.chmod(0o644)
    path.unlink()
    assert git("cat-file", "-e", oid, cwd=repo, check=False) == ""
    assert git("cat-file", "-t", oid, cwd=repo, check=False) == ""


def two_runs(repo: Path) -> tuple[str, str]:
    """Two runs of different code on HEAD, left clean afterwards: (lost, kept)."""
    ids = []
    for code in ("print('lr 0.1')\n", "print('lr 0.2')\n"):
        write(repo / "train.py", code)
        ids.append(record("true", cwd=repo))
    git("checkout", "--", "train.py", cwd=repo)
    return ids[0], ids[1]


def ok(*args: str, cwd: Path) -> tuple[str, list[str]]:
    res = gitrack(*args, cwd=cwd)
    assert res.code == 0, res.err
    return res.out, res.err_lines


def snapshot_warnings(lines: list[str]) -> list[str]:
    return [line for line in lines if "snapshot" in line]


# ------------------------------------------------------------- a snapshot is gone
def test_a_run_whose_snapshot_is_gone_is_named_and_nothing_else_breaks(
    repo: Path, tmp_path: Path
) -> None:
    lost, kept = two_runs(repo)
    delete_loose(repo, run_by_id(repo, lost)["snapshot"])

    for args in (("ls",), ("ls", "--json"), ("show", lost)):
        _, err = ok(*args, cwd=repo)
        [warning] = snapshot_warnings(err)
        assert lost in warning and kept not in warning, warning
        assert "cannot be restored" in warning, warning
    _, err = ok("show", kept, cwd=repo)
    assert snapshot_warnings(err) == []

    restored = tmp_path / "kept"
    ok("checkout", kept, "--worktree", str(restored), cwd=repo)
    assert (restored / "train.py").read_text() == "print('lr 0.2')\n"

    res = gitrack("checkout", lost, "--worktree", str(tmp_path / "lost"), cwd=repo)
    assert res.code == 1, res.err
    [line] = res.err_lines
    assert line.startswith("Error:") and lost in line and "snapshot" in line, line
    assert "git gc" in line, line  # says what probably happened
    assert not (tmp_path / "lost").exists()

    new = record("true", cwd=repo)
    assert {r["id"] for r in runs(repo)} == {lost, kept, new}


def test_checkout_in_place_of_a_run_whose_snapshot_is_gone_changes_nothing(repo: Path) -> None:
    lost, _ = two_runs(repo)
    delete_loose(repo, run_by_id(repo, lost)["snapshot"])
    before = worktree_state(repo)

    res = gitrack("checkout", lost, cwd=repo)

    assert res.code == 1 and lost in res.err, res.err
    assert worktree_state(repo) == before


# ------------------------------------------------- the pins ref's tip commit is gone
def test_a_pins_ref_pointing_at_a_missing_commit_is_rebuilt_by_the_next_run(
    repo: Path, tmp_path: Path
) -> None:
    first, second = two_runs(repo)
    tip = git("rev-parse", PINS, cwd=repo).strip()
    delete_loose(repo, tip)

    ok("ls", cwd=repo)
    ok("show", first, cwd=repo)
    ok("checkout", first, "--worktree", str(tmp_path / "first"), cwd=repo)

    res = gitrack("run", "--", "true", cwd=repo)

    assert res.code == 0, res.err
    [warning] = [line for line in res.err_lines if PINS in line]
    assert tip[:12] in warning and "rebuilt" in warning, warning
    third = res.err_lines[-1].split()[3]
    # Every snapshot is reachable from the pins again: a prune now keeps them all.
    git("gc", "--quiet", "--prune=now", cwd=repo)
    for run_id in (first, second, third):
        snapshot = run_by_id(repo, run_id)["snapshot"]
        git("merge-base", "--is-ancestor", snapshot, PINS, cwd=repo)
    restored = tmp_path / "second"
    ok("checkout", second, "--worktree", str(restored), cwd=repo)
    assert (restored / "train.py").read_text() == "print('lr 0.2')\n"


def test_the_rebuilt_pins_keep_packages_and_step_metrics(repo: Path) -> None:
    write(repo / "log.py", "import gitrack\ngitrack.log_metric('loss', 0.5, step=1)\n")
    git("add", "log.py", cwd=repo)
    git("commit", "-q", "-m", "log", cwd=repo)
    logged = record("python", "log.py", cwd=repo)
    delete_loose(repo, git("rev-parse", PINS, cwd=repo).strip())

    ok("run", "--", "true", cwd=repo)
    git("gc", "--quiet", "--prune=now", cwd=repo)

    run = run_by_id(repo, logged)
    for blob in (run["env"]["packages"], run["metric_history"]):
        assert git("cat-file", "-t", blob, cwd=repo).strip() == "blob"
    out, _ = ok("show", logged, "--metric", "loss", cwd=repo)
    assert "0.5" in out


@pytest.mark.parametrize("command", ["push", "pull"])
def test_push_and_pull_rebuild_a_pins_ref_pointing_at_a_missing_commit(
    tmp_path: Path, command: str
) -> None:
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    first, second = two_runs(a)
    delete_loose(a, git("rev-parse", PINS, cwd=a).strip())

    _, err = ok(command, cwd=a)

    assert any(PINS in line and "rebuilt" in line for line in err), err
    ok("push", cwd=a)
    for run_id in (first, second):
        snapshot = run_by_id(a, run_id)["snapshot"]
        git("merge-base", "--is-ancestor", snapshot, PINS, cwd=origin)


def test_a_notes_ref_pointing_at_a_missing_commit_says_how_to_recover(repo: Path) -> None:
    """Without the notes commit the runs cannot be read: every command says so in one
    line, with the way back (the notes ref has a reflog), and no run starts to be lost."""
    record("true", cwd=repo)
    tip = git("rev-parse", "refs/notes/gitrack", cwd=repo).strip()
    delete_loose(repo, tip)

    for args in (
        ("run", "--", sys.executable, "-c", "open('ran', 'w').close()"),
        ("ls",),
        ("ls", "--json"),
    ):
        res = gitrack(*args, cwd=repo)

        assert res.code == 1, res.err
        [line] = res.err_lines
        assert "refs/notes/gitrack" in line and tip[:12] in line and "reflog" in line, line
    assert not (repo / "ran").exists()
