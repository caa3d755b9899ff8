"""`gitrack run`: snapshot the working state, run the command, append the run to the note."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitrack import config, envinfo, runner
from gitrack.errors import UsageError
from gitrack.git import Repo
from gitrack.paths import check_relative, repo_relative
from gitrack.record import RunRecord, add_line, new_run_id, utc_timestamp
from gitrack.refs import NOTES_REF, PINS_REF

if TYPE_CHECKING:
    from gitrack.rundata import RunData


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
    datasets: list[str] | tuple[str, ...] = (),
    outputs: list[str] | tuple[str, ...] = (),
    cwd: str | os.PathLike[str] = ".",
) -> RunResult:
    """Run ``argv`` and record it on HEAD. Raises before the command starts if it cannot record.

    ``datasets`` and ``outputs`` are paths as the user typed them (relative to ``cwd``);
    the ones in the config (relative to the repository root) are added.
    """
    if not argv:
        raise UsageError("no command given (write e.g. gitrack run -- python train.py)")
    here = Path(cwd)
    repo = Repo.discover(here)
    head = repo.head()
    settings = config.load(repo.root)
    metrics_path = _metrics_path(metrics_file, settings.metrics, repo.root, here)
    data_paths = _data_paths(repo.root, here, datasets, settings.data)
    output_paths = _data_paths(repo.root, here, outputs, settings.outputs)
    run_id = new_run_id()
    started = utc_timestamp()

    data = _open_data(repo, settings, run_id) if data_paths or output_paths else None
    try:
        if data is not None:
            data.take_inputs(data_paths)  # a missing dataset stops us here, nothing recorded
        state = repo.build_worktree_tree(settings.max_untracked_bytes)
        if state.skipped:
            data = data or _open_data(repo, settings, run_id)
            data.take_large_files(sorted(state.skipped))
        snapshot = repo.create_commit(
            state.tree, [head.commit], f"gitrack snapshot of run {run_id}\n"
        )
        env = envinfo.describe()
        packages = envinfo.installed_packages().encode()
        env["packages"] = repo.write_blob(packages)
        payload = repo.tree_from_files({"packages.txt": packages})
        # Pin before the command starts: a `git gc --prune=now` during a long run must not
        # collect the snapshot.
        repo.append_to_chain(PINS_REF, [snapshot], payload, f"gitrack: pin run {run_id}\n")

        outcome = runner.execute(argv, here)

        warnings = [
            f"untracked file {path!r} ({size} bytes) is over max_untracked_size: "
            "kept in the data cache instead of git"
            for path, size in sorted(state.skipped.items())
        ]
        if data is not None:
            data.check_inputs_unchanged()
            data.take_outputs(output_paths)
            warnings.extend(data.warnings)
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
            cwd=_relative_cwd(repo.root, here),
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
            host=os.uname().nodename,
            env=env,
            untracked_skipped=dict(state.skipped),
            warnings=warnings,
            datasets=data.datasets if data else {},
            outputs=data.outputs if data else {},
            large_files=data.large_files if data else {},
            links=data.links if data else {},
        )
        line = record.to_line()
        with runner.signals_deferred():
            repo.update_note(
                NOTES_REF,
                head.commit,
                lambda text: add_line(text, line),
                f"gitrack: record run {run_id}\n",
            )
    finally:
        if data is not None:
            data.finish()  # the pending marker goes, recorded or not
    return RunResult(record, head.commit, outcome.exit_code, warnings, outcome.error)


def _open_data(repo: Repo, settings: config.Config, run_id: str) -> RunData:
    # sqlite and thread pools are imported only by runs that use data.
    from gitrack.data import DataStore
    from gitrack.rundata import RunData

    return RunData(DataStore.open(repo.root, repo.common_dir, settings.cache), run_id)


def _data_paths(
    root: Path, cwd: Path, typed: list[str] | tuple[str, ...], configured: tuple[str, ...]
) -> list[str]:
    """Typed paths are relative to where the user is; configured ones to the root."""
    found = [repo_relative(root, cwd / p) for p in typed]
    found += [str(check_relative(p)) for p in configured]
    return list(dict.fromkeys(found))


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
