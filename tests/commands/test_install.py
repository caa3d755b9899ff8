"""`gitrack install` / `uninstall`: git config set idempotently, undone exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitrack, record, run_by_id, worktree_state

from gitrack.commands import install

KEYS = {
    "notes.displayref": "refs/notes/runs",  # one readable line per run (derived)
    "notes.rewriteref": "refs/notes/gitrack",
    "notes.rewritemode": "cat_sort_uniq",
}


def local_config(repo: Path) -> list[str]:
    return git("config", "--local", "--list", cwd=repo).splitlines()


def test_install_sets_the_three_keys_and_is_idempotent(repo: Path) -> None:
    first = gitrack("install", cwd=repo)
    assert first.code == 0
    config = local_config(repo)
    for key, value in KEYS.items():
        assert f"{key}={value}" in config
    assert "already" not in first.out

    hooks = worktree_state(repo / ".git" / "hooks")

    second = gitrack("install", cwd=repo)
    assert second.code == 0
    lines = [ln for ln in second.out.splitlines() if ln.strip()]
    assert lines and all("already" in ln for ln in lines), second.out
    for key in ("notes.displayRef", "notes.rewriteRef", "notes.rewriteMode"):
        assert any(key in ln for ln in lines)
    assert local_config(repo) == config  # nothing added twice
    assert worktree_state(repo / ".git" / "hooks") == hooks


@pytest.mark.parametrize(
    "previous",
    [
        [],
        [("notes.rewriteMode", "concatenate"), ("notes.displayRef", "refs/notes/other")],
        [("notes.displayRef", "refs/notes/commits"), ("notes.rewriteRef", "refs/notes/commits")],
        [("notes.rewriteMode", "cat_sort_uniq")],
        [("notes.displayRef", "refs/notes/gitrack")],
    ],
    ids=["fresh", "own-mode-and-display", "other-rewrite-ref", "same-mode", "same-display"],
)
def test_uninstall_restores_the_config_exactly(repo: Path, previous: list[tuple[str, str]]) -> None:
    for key, value in previous:
        git("config", "--local", "--add", key, value, cwd=repo)
    before = local_config(repo)
    hooks = worktree_state(repo / ".git" / "hooks")

    assert gitrack("install", cwd=repo).code == 0
    assert gitrack("install", cwd=repo).code == 0
    installed = local_config(repo)
    assert "notes.rewritemode=cat_sort_uniq" in installed
    assert [ln for ln in installed if ln.startswith("notes.rewritemode=")] == [
        "notes.rewritemode=cat_sort_uniq"
    ]
    for key, value in previous:  # the user's other values stay beside ours
        if key != "notes.rewriteMode":
            assert f"{key.lower()}={value}" in installed

    res = gitrack("uninstall", cwd=repo)

    assert res.code == 0
    assert local_config(repo) == before
    assert worktree_state(repo / ".git" / "hooks") == hooks
    again = gitrack("uninstall", cwd=repo)
    assert again.code == 0
    assert local_config(repo) == before


def test_uninstall_without_install_changes_nothing(repo: Path) -> None:
    before = local_config(repo)
    res = gitrack("uninstall", cwd=repo)
    assert res.code == 0
    assert "nothing to undo" in res.out
    assert local_config(repo) == before


def test_install_in_linked_worktree_configures_the_repository(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git("worktree", "add", "-q", "--detach", str(wt), cwd=repo)
    assert gitrack("install", cwd=wt).code == 0
    assert "notes.displayref=refs/notes/runs" in local_config(repo)


def test_plain_git_log_shows_the_run_after_install(repo: Path) -> None:
    run_id = record("true", cwd=repo, options=("-p", "lr=0.1"))
    assert run_id not in git("log", cwd=repo)  # git does not show these notes on its own

    assert gitrack("install", cwd=repo).code == 0
    log = git("log", cwd=repo)

    assert "Notes (runs):" in log
    [line] = [ln for ln in log.splitlines() if run_id[:8] in ln]
    assert "lr=0.1" in line  # the run on one readable line
    assert git("log", "--oneline", "--notes", cwd=repo).count(run_id[:8]) == 1
    assert '"lr":"0.1"' in git("log", "--notes=gitrack", cwd=repo)  # the JSON, on request


def test_amend_without_install_keeps_the_run_on_the_old_commit(repo: Path) -> None:
    old = git("rev-parse", "HEAD", cwd=repo).strip()
    run_id = record("true", cwd=repo)
    git("commit", "-q", "--amend", "-m", "amended", cwd=repo)
    run = run_by_id(repo, run_id)
    assert run["commit"] == old  # not carried along, but not lost either


def test_amend_after_install_carries_the_run(repo: Path) -> None:
    gitrack("install", cwd=repo)
    run_id = record("true", cwd=repo)
    git("commit", "-q", "--amend", "-m", "amended", cwd=repo)
    new = git("rev-parse", "HEAD", cwd=repo).strip()
    assert run_by_id(repo, run_id)["commit"] == new
    assert run_id[:8] in git("log", "-1", cwd=repo)
    assert run_id in git("log", "-1", "--notes=gitrack", cwd=repo)


def test_users_own_hook_keeps_running_and_comes_back(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text('#!/bin/sh\necho committed >> "$(git rev-parse --git-dir)/user-hook.log"\n')
    hook.chmod(0o755)
    hooks = worktree_state(repo / ".git" / "hooks")

    assert gitrack("install", cwd=repo).code == 0
    git("commit", "-q", "--allow-empty", "-m", "with hooks", cwd=repo)
    assert (repo / ".git" / "user-hook.log").read_text() == "committed\n"

    assert gitrack("uninstall", cwd=repo).code == 0
    assert worktree_state(repo / ".git" / "hooks") == hooks


def _install_from_the_checkout(repo: Path, *, installed: bool) -> subprocess.CompletedProcess[str]:
    """`gitrack install` run from this checkout with no editable finder (PYTHONPATH=CLONE,
    as benchmarks/ runs a baseline). ``installed=False``: no installed gitrack either (its
    dependencies imported first, then every site folder taken off the path)."""
    root = Path(__file__).resolve().parents[2]
    script = f"""
import importlib.util, sys
import click, pygit2, pygit2.enums, xxhash  # what gitrack needs, imported while reachable
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")]
if not {installed!r}:
    sys.path[:] = [p for p in sys.path if "-packages" not in p]
sys.path.insert(0, {str(root)!r})
assert importlib.util.find_spec("gitrack.hook_scripts") is None, "installed after all"
from gitrack.cli import main
sys.exit(main(["install"]))
"""
    return subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=False
    )


def test_install_from_a_source_checkout_with_gitrack_installed(repo: Path) -> None:
    """gitrack.hook_scripts exists only once installed (the wheel maps hooks/ to it): from a
    checkout the hook script is read from hooks/; the hooks run the installed gitrack."""
    proc = _install_from_the_checkout(repo, installed=True)
    assert proc.returncode == 0, proc.stderr
    hook = (repo / ".git" / "hooks" / "post-rewrite").read_text()
    assert hook == install.hook_script("post-rewrite")


def test_install_from_a_checkout_not_installed_is_refused(repo: Path) -> None:
    """Hooks that could not import gitrack would print an error on every commit: refused,
    with the fix, and nothing written."""
    proc = _install_from_the_checkout(repo, installed=False)
    assert proc.returncode == 1, proc.stderr
    assert "gitrack is not installed for" in proc.stderr
    assert "python -m pip install -e" in proc.stderr
    assert not (repo / ".git" / "hooks" / "post-rewrite").exists()
    assert git("config", "--get-all", "notes.rewriteRef", cwd=repo, check=False) == ""
