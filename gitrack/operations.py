"""Library entry points behind `gitrack show` and `gitrack checkout`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gitrack import history, render, restore
from gitrack.git import Repo


@dataclass
class RunView:
    run: history.Run
    text: str
    patch: str
    warnings: list[str] = field(default_factory=list)


def show_run(ref: str, cwd: str | Path = ".") -> RunView:
    repo = Repo.discover(cwd)
    loaded = history.load_runs(repo)
    run = history.resolve(loaded, ref)
    summary = repo.commit_info(run.commit).summary if repo.has_object(run.commit) else ""
    base_tree, snap_tree = _trees(repo, run)
    changed = [c.path for c in repo.tree_changes(base_tree, snap_tree)] if snap_tree else []
    patch = repo.diff_patch(base_tree, snap_tree) if snap_tree else ""
    warnings = list(loaded.warnings)
    if not snap_tree:
        warnings.append(
            f"the snapshot of run {run.id} is not in this repository; fetch gitrack's refs "
            "(git fetch origin '+refs/gitrack/*:refs/gitrack/*')"
        )
    return RunView(run, render.show(run, summary, changed), patch, warnings)


def checkout(
    ref: str, worktree: Path | None = None, cwd: str | Path = "."
) -> restore.CheckoutResult:
    repo = Repo.discover(cwd)
    run = history.resolve(history.load_runs(repo), ref)
    return restore.checkout_run(repo, run, worktree)


def _trees(repo: Repo, run: history.Run) -> tuple[str, str]:
    rec = run.record
    if not (repo.has_object(rec.snapshot) and repo.has_object(rec.base_commit)):
        return "", ""
    return repo.commit_info(rec.base_commit).tree, repo.commit_info(rec.snapshot).tree
