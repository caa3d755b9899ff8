"""`gitrack run`: snapshot the working state, run the command, append the run to the note."""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitrack import config, envinfo, runner
from gitrack.errors import UsageError
from gitrack.git import Repo
from gitrack.record import RunRecord, add_line, new_run_id, utc_timestamp
from gitrack.refs import NOTES_REF, PINS_REF


@dataclass
class RunResult:
    record: RunRecord
    commit: str
    exit_code: int
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # the command could not be started


def parse_assignments(pairs: tuple[str, ...] | list[str], flag: str) -> dict[str, str]:
    """``["lr=0.1", "seed=1"]`` -> ``{"lr": "0.1", "seed": "1"}``; the last one wins."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} {pair!r} is not KEY=VALUE (write e.g. {flag} lr=0.1)")
        out[key.strip()] = value
    return out


def record_run(
    argv: list[str],
    *,
    name: str | None = None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    metrics_file: str | None = None,
    cwd: str | os.PathLike[str] = ".",
) -> RunResult:
    """Run ``argv`` and record it on HEAD. Raises before the command starts if it cannot record."""
    if not argv:
        raise UsageError("no command given (write e.g. gitrack run -- python train.py)")
    repo = Repo.discover(cwd)
    head = repo.head()
    settings = config.load(repo.root)
    metrics_path = _metrics_path(metrics_file, settings.metrics, repo.root, Path(cwd))
    run_id = new_run_id()
    started = utc_timestamp()

    state = repo.build_worktree_tree(settings.max_untracked_bytes)
    snapshot = repo.create_commit(state.tree, [head.commit], f"gitrack snapshot of run {run_id}\n")
    env = envinfo.describe()
    packages = envinfo.installed_packages().encode()
    env["packages"] = repo.write_blob(packages)
    payload = repo.tree_from_files({"packages.txt": packages})
    # Pin before the command starts: a `git gc --prune=now` during a long run must not
    # collect the snapshot.
    repo.append_to_chain(PINS_REF, [snapshot], payload, f"gitrack: pin run {run_id}\n")

    outcome = runner.execute(argv, cwd)

    warnings = [
        f"untracked file {path!r} ({size} bytes) is over max_untracked_size and was not captured"
        for path, size in sorted(state.skipped.items())
    ]
    metrics: dict[str, float] = {}
    if metrics_path is not None:
        metrics, problem = read_metrics(metrics_path)
        if problem:
            warnings.append(problem)
    record = RunRecord(
        started=started,
        id=run_id,
        name=name,
        command=list(argv),
        cwd=_relative_cwd(repo.root, Path(cwd)),
        base_commit=head.commit,
        snapshot=snapshot,
        dirty=state.dirty,
        status=outcome.status,
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        duration_s=round(outcome.duration_s, 6),
        cpu_s=None if outcome.cpu_s is None else round(outcome.cpu_s, 6),
        max_rss_bytes=outcome.max_rss_bytes,
        params=params or {},
        metrics=metrics,
        tags=tags or {},
        user=_user(),
        host=socket.gethostname(),
        env=env,
        untracked_skipped=dict(state.skipped),
        warnings=warnings,
    )
    line = record.to_line()
    with runner.signals_deferred():
        repo.update_note(
            NOTES_REF,
            head.commit,
            lambda text: add_line(text, line),
            f"gitrack: record run {run_id}\n",
        )
    return RunResult(record, head.commit, outcome.exit_code, warnings, outcome.error)


def read_metrics(path: Path) -> tuple[dict[str, float], str | None]:
    """Numbers of a JSON file, nested keys joined with '.'; (metrics, warning or None)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, f"metrics file {path} was not written by the command; no metrics recorded"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"metrics file {path} is not valid JSON ({exc}); no metrics recorded"
    if not isinstance(data, dict):
        return {}, f"metrics file {path} holds no JSON object; no metrics recorded"
    return flatten_numbers(data), None


def flatten_numbers(data: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_numbers(value, full + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[full] = value
    return out


def _metrics_path(given: str | None, configured: str | None, root: Path, cwd: Path) -> Path | None:
    # -m paths are as typed, relative to where the user is; config paths to the root.
    if given is not None:
        return cwd.resolve() / given
    if configured is not None:
        return root / configured
    return None


def _relative_cwd(root: Path, cwd: Path) -> str:
    try:
        return Path(os.path.relpath(cwd.resolve(), root.resolve())).as_posix()
    except ValueError:
        return "."


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
