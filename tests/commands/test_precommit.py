"""gitrack's hooks beside the pre-commit framework (pre-commit.com), the real package.

Every order of installing, re-installing and uninstalling both leaves hooks that work,
each framework's hook running once per push, and no gitrack code after `gitrack
uninstall` (issue 10 #6). What runs is counted, not inferred from the files: pre-commit's
hook appends to a log, and a ``sitecustomize`` on the hooks' PYTHONPATH logs every start
of ``python -m gitrack.hookrun``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import gitrack, record
from remote_helpers import clone, commit_all, make_origin, write

from gitrack.commands.install import HOOK_MARKER, hook_script

pytest.importorskip("pre_commit")

SITE = """\
import os, sys
argv = getattr(sys, "orig_argv", [])
if "gitrack.hookrun" in argv:
    with open(os.environ["GITRACK_TEST_HOOK_LOG"], "a") as fh:
        fh.write(argv[argv.index("gitrack.hookrun") + 1] + "\\n")
"""

CONFIG = """\
repos:
- repo: local
  hooks:
  - id: count
    name: count
    entry: sh -c 'echo pre-commit >> "$0"' {log}
    language: system
    pass_filenames: false
    always_run: true
    stages: [pre-push]
"""


class Project:
    def __init__(self, tmp_path: Path) -> None:
        self.repo = clone(make_origin(tmp_path), tmp_path / "work")
        self.hooks = self.repo / ".git" / "hooks"
        self.pc_log = tmp_path / "pre-commit.log"
        self.gt_log = tmp_path / "gitrack-hooks.log"
        site = tmp_path / "site"
        write(site / "sitecustomize.py", SITE)
        self.env = {
            **os.environ,
            "GITRACK_TEST_HOOK_LOG": str(self.gt_log),
            "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        }
        write(self.repo / ".pre-commit-config.yaml", CONFIG.format(log=self.pc_log))
        commit_all(self.repo, "pre-commit config")
        self.pushes = 0

    def pre_commit(self, *args: str) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "pre_commit", *args, "-t", "pre-push"],
            cwd=self.repo,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def gitrack(self, command: str) -> None:
        res = gitrack(command, cwd=self.repo)
        assert res.code == 0, res.err

    def step(self, action: str) -> None:
        {
            "pc": lambda: self.pre_commit("install"),
            "gt": lambda: self.gitrack("install"),
            "pc-": lambda: self.pre_commit("uninstall"),
            "gt-": lambda: self.gitrack("uninstall"),
        }[action]()

    def push(self) -> tuple[int, int]:
        """One push of a new commit with a new run: (pre-commit runs, gitrack pre-push runs)."""
        self.pushes += 1
        record("true", cwd=self.repo)
        write(self.repo / f"change{self.pushes}.txt", "x")
        commit_all(self.repo, f"change {self.pushes}")
        before = (_lines(self.pc_log), _lines(self.gt_log))
        proc = subprocess.run(
            ["git", "push", "-q", "origin", "HEAD:main"],
            cwd=self.repo,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "bug:" not in proc.stderr, proc.stderr
        pc = _lines(self.pc_log)[len(before[0]) :]
        gt = [name for name in _lines(self.gt_log)[len(before[1]) :] if name == "pre-push"]
        return len(pc), len(gt)

    def files_with_gitrack(self) -> list[str]:
        return sorted(
            p.name
            for p in self.hooks.iterdir()
            if p.is_file() and HOOK_MARKER.encode() in p.read_bytes()
        )

    def files_with_pre_commit(self, name: str = "pre-push") -> list[str]:
        return sorted(
            p.name
            for p in self.hooks.glob(f"{name}*")
            if b"# ID: 138fd403232d2ddd5efb44317e38bf03" in p.read_bytes()
        )


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


ORDERS = [
    ("pc", "gt", "pc"),  # the issue's: a teammate re-runs pre-commit's setup
    ("gt", "pc"),
    ("pc", "gt"),
    ("gt", "pc", "gt"),
    ("pc", "gt", "pc", "gt", "pc"),
]


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
@pytest.mark.parametrize("last", ["gt-", "pc-"])
def test_every_order_runs_each_hook_once_and_uninstall_leaves_no_gitrack(
    tmp_path: Path, order: tuple[str, ...], last: str
) -> None:
    project = Project(tmp_path)
    for action in order:
        project.step(action)
    assert project.push() == (1, 1)
    assert len(project.files_with_pre_commit()) == 1
    project.step(last)
    if last == "gt-":
        assert project.files_with_gitrack() == []
        assert not list(project.hooks.glob("*.gitrack-chained"))
        assert project.push() == (1, 0)
        project.step("pc-")
    else:
        assert project.push() == (0, 1)
        project.step("gt-")
    assert project.files_with_gitrack() == []
    assert not list(project.hooks.glob("*.gitrack-chained"))
    assert not list(project.hooks.glob("*.legacy"))
    assert project.push() == (0, 0)


def test_a_users_hook_under_both_runs_once_and_comes_back(tmp_path: Path) -> None:
    project = Project(tmp_path)
    user_log = tmp_path / "user.log"
    mine = f'#!/bin/sh\ncat > /dev/null\necho mine >> "{user_log}"\n'
    write(project.hooks / "pre-push", mine).chmod(0o755)
    project.step("pc")  # mine -> pre-push.legacy
    project.step("gt")  # gitrack -> pre-push.legacy, mine chained behind it
    project.step("pc")
    assert project.push() == (1, 1)
    assert _lines(user_log) == ["mine"]
    project.step("gt-")
    assert (project.hooks / "pre-push.legacy").read_text() == mine
    assert project.files_with_gitrack() == []
    project.step("pc-")
    assert (project.hooks / "pre-push").read_text() == mine
    assert project.push() == (0, 0)
    assert _lines(user_log) == ["mine", "mine"]


def test_an_older_gitrack_install_is_repaired_and_works_meanwhile(tmp_path: Path) -> None:
    """What an earlier gitrack left: pre-commit's script chained behind gitrack's, then
    `pre-commit install` moved gitrack's to pre-push.legacy. Pushes work even before
    `gitrack install` runs again, which removes the stray copy."""
    project = Project(tmp_path)
    project.step("pc")
    project.step("gt")
    legacy = project.hooks / "pre-push.legacy"
    chained = project.hooks / "pre-push.gitrack-chained"
    os.replace(legacy, project.hooks / "saved")
    os.replace(project.hooks / "pre-push", chained)
    write(project.hooks / "pre-push", hook_script("pre-push")).chmod(0o755)
    project.step("pc")  # the state: gitrack's hook in .legacy, chaining pre-commit
    assert project.files_with_pre_commit() == ["pre-push", "pre-push.gitrack-chained"]
    (project.hooks / "saved").unlink()
    assert project.push() == (1, 1)
    project.step("gt")
    assert project.files_with_pre_commit() == ["pre-push"]
    assert project.push() == (1, 1)
    project.step("gt-")
    assert project.files_with_gitrack() == [] and not chained.exists()
    assert project.push() == (1, 0)


def test_gitrack_uninstall_removes_a_stray_pre_commit_copy(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.step("pc")
    # An older gitrack's install: pre-commit's script chained behind gitrack's hook.
    os.replace(project.hooks / "pre-push", project.hooks / "pre-push.gitrack-chained")
    write(project.hooks / "pre-push", hook_script("pre-push")).chmod(0o755)
    assert project.push() == (1, 1)
    project.step("pc")  # moves gitrack's hook to .legacy
    project.step("gt-")
    assert project.files_with_gitrack() == []
    assert project.files_with_pre_commit() == ["pre-push"]
    assert project.push() == (1, 0)


def test_a_dry_run_push_under_pre_commit_publishes_nothing(tmp_path: Path) -> None:
    """gitrack's pre-push hook, run by pre-commit's (NAME.legacy), finds `git push` one
    process further up: a --dry-run still publishes no runs."""
    project = Project(tmp_path)
    project.step("pc")
    project.step("gt")
    record("true", cwd=project.repo)
    write(project.repo / "dry.txt", "x")
    commit_all(project.repo, "dry")
    proc = subprocess.run(
        ["git", "push", "--dry-run", "origin", "HEAD:main"],
        cwd=project.repo,
        env=project.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert [n for n in _lines(project.gt_log) if n == "pre-push"] == []
    assert project.push() == (1, 1)  # a real push still publishes
