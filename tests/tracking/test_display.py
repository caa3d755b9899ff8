"""`git log`'s run lines (refs/notes/runs) follow the runs as edited: renamed, hidden."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import git, gitrack, record

PY = sys.executable


def shown_lines(repo: Path) -> list[str]:
    log = git("log", "-1", cwd=repo)
    if "Notes (runs):\n" not in log:
        return []
    return [line.strip() for line in log.split("Notes (runs):\n", 1)[1].strip().splitlines()]


def test_git_log_shows_a_run_renamed_and_drops_it_once_removed(repo: Path) -> None:
    assert gitrack("install", cwd=repo).code == 0
    run_id = record("true", cwd=repo, options=("--name", "first-try"))
    kept = record("true", cwd=repo, options=("--name", "kept"))
    assert any(line.startswith(f"run {run_id[:8]} first-try ") for line in shown_lines(repo))

    assert gitrack("rename", run_id, "baseline", cwd=repo).code == 0
    lines = shown_lines(repo)
    assert any(line.startswith(f"run {run_id[:8]} baseline ") for line in lines), lines
    assert not any("first-try" in line for line in lines), lines

    assert gitrack("rm", run_id, cwd=repo).code == 0
    lines = shown_lines(repo)
    assert not any(line.startswith(f"run {run_id[:8]}") for line in lines), lines
    assert any(line.startswith(f"run {kept[:8]} kept ") for line in lines), lines

    # Shown again once restored, with its new name.
    assert gitrack("rm", "--undo", run_id, cwd=repo).code == 0
    lines = shown_lines(repo)
    assert any(line.startswith(f"run {run_id[:8]} baseline ") for line in lines), lines
