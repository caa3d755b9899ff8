"""`gitrack rerun`: re-execute a recorded run at its exact state, record it, compare.

The run's code is restored into a new linked worktree (verified, as `gitrack checkout
--worktree` does), its datasets and big files from the cache (verified by hash), not
its outputs: the rerun must make its own. The recorded command then runs there, in the
same folder relative to the root, with the same params, datasets, outputs and metrics
file, and is recorded as a new run whose ``rerun_of`` is the original. The user's own
working tree is never touched.

The note is untrusted input (it may come from a teammate's clone): every recorded path
is checked before anything happens, the command is run without a shell, and the caller
(the CLI) shows it to the user before :func:`execute` runs it.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gitrack.config import RemoteSettings
from gitrack.errors import CorruptRecordError, GitrackError
from gitrack.git import Repo
from gitrack.paths import check_relative
from gitrack.tracking.checkout import checkout_run
from gitrack.tracking.history import Run
from gitrack.tracking.recorder import RunResult, record_run


@dataclass(frozen=True)
class RerunPlan:
    """What will be executed, checked; shown to the user before it runs."""

    run: Run
    command: list[str]
    cwd: str  # relative to the root
    datasets: list[str]  # relative to the root
    outputs: list[str]
    metrics_file: str | None


@dataclass(frozen=True)
class Row:
    kind: str  # output | metric | dataset | exit
    name: str
    recorded: str
    rerun: str
    same: bool


@dataclass
class RerunResult:
    original: Run
    rerun: RunResult
    worktree: Path
    kept: bool
    rows: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return all(row.same for row in self.rows)


def plan(run: Run) -> RerunPlan:
    """The rerun of ``run``, every recorded path checked (no absolute path, no ``..``)."""
    rec = run.record
    if not rec.command:
        raise CorruptRecordError(f"run {run.id} has no recorded command: nothing to rerun")
    try:
        paths = [rec.cwd, *rec.datasets, *rec.outputs, *filter(None, [rec.metrics_file])]
        for path in paths:
            if path != ".":
                check_relative(path)
    except GitrackError as exc:
        raise CorruptRecordError(f"run {run.id}: refusing to rerun it: {exc}") from exc
    return RerunPlan(
        run=run,
        command=list(rec.command),
        cwd=rec.cwd,
        datasets=sorted(rec.datasets),
        outputs=sorted(rec.outputs),
        metrics_file=rec.metrics_file,
    )


def execute(
    repo: Repo,
    rerun: RerunPlan,
    worktree: Path | None = None,
    keep: bool = False,
    rtol: float = 0.0,
    cache_setting: str | None = None,
    remote: RemoteSettings | None = None,
) -> RerunResult:
    """Restore, run, record, compare. The worktree goes unless ``keep``."""
    path = worktree if worktree is not None else _temporary_folder()
    try:
        restored = checkout_run(
            repo, rerun.run, path, True, cache_setting, remote, with_outputs=False
        )
    except BaseException:
        if worktree is None:
            shutil.rmtree(path, ignore_errors=True)  # ours, and empty: the checkout failed
        raise
    root = restored.root
    try:
        here = root / rerun.cwd
        here.mkdir(parents=True, exist_ok=True)  # an ignored folder (build/) is not restored
        recorded = record_run(
            rerun.command,
            params=dict(rerun.run.record.params),
            metrics_file=str(root / rerun.metrics_file) if rerun.metrics_file else None,
            datasets=[str(root / p) for p in rerun.datasets],
            outputs=[str(root / p) for p in rerun.outputs],
            cwd=here,
            experiment=rerun.run.record.experiment,
            rerun_of=rerun.run.id,
        )
    finally:
        if not keep:
            _remove(repo, root)
    result = RerunResult(rerun.run, recorded, root, keep, warnings=list(restored.warnings))
    result.rows = compare(rerun.run, recorded, rtol)
    return result


def compare(original: Run, rerun: RunResult, rtol: float) -> list[Row]:
    """One row per output, metric and dataset of either run, and the exit status."""
    old, new = original.record, rerun.record
    rows = []
    for kind, before, after in (
        ("dataset", old.datasets, new.datasets),
        ("output", old.outputs, new.outputs),
    ):
        for name in sorted({*before, *after}):
            a, b = before.get(name), after.get(name)
            rows.append(Row(kind, name, a or "(none)", b or "(not written)", a == b))
    for name in sorted({*old.metrics, *new.metrics}):
        x, y = old.metrics.get(name), new.metrics.get(name)
        same = x is not None and y is not None and metric_equal(x, y, rtol)
        rows.append(Row("metric", name, _number(x), _number(y), same))
    same_exit = old.exit_code == new.exit_code
    rows.append(Row("exit", "exit status", str(old.exit_code), str(new.exit_code), same_exit))
    return rows


def metric_equal(recorded: float, rerun: float, rtol: float) -> bool:
    """Exactly equal (NaN equals NaN: the same outcome), or within the relative tolerance."""
    if math.isnan(recorded) or math.isnan(rerun):
        return math.isnan(recorded) and math.isnan(rerun)
    return recorded == rerun or math.isclose(recorded, rerun, rel_tol=rtol, abs_tol=0.0)


def summary(rows: list[Row]) -> str:
    """ "reproduced: 3/3 outputs identical, 5/5 metrics equal, exit status 0 as recorded"."""
    parts = []
    for kind, word in (("output", "identical"), ("metric", "equal"), ("dataset", "identical")):
        mine = [row for row in rows if row.kind == kind]
        if not mine:
            continue
        same = sum(row.same for row in mine)
        differ = [row.name for row in mine if not row.same]
        text = f"{same}/{len(mine)} {kind}s {word}"
        if differ:
            shown = ", ".join(differ[:5]) + (" …" if len(differ) > 5 else "")
            text += f" ({shown} differ{'s' if len(differ) == 1 else ''})"
        parts.append(text)
    for row in rows:
        if row.kind == "exit":
            parts.append(
                f"exit status {row.rerun} as recorded"
                if row.same
                else f"exit status {row.rerun}, recorded {row.recorded}"
            )
    verdict = "reproduced" if all(row.same for row in rows) else "NOT reproduced"
    return f"{verdict}: {', '.join(parts)}"


def _number(value: float | None) -> str:
    return "(none)" if value is None else repr(value)


def _temporary_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="gitrack-rerun-"))


def _remove(repo: Repo, root: Path) -> None:
    """The worktree and its folder go; a failure here must not hide the run's outcome."""
    with contextlib.suppress(GitrackError):
        repo.remove_worktree(root)
    shutil.rmtree(root, ignore_errors=True)
