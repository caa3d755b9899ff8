"""`gitrack run`: snapshot the working state, run the command, append the run to the note."""

from __future__ import annotations

import contextlib
import getpass
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitrack import config, jsonsafe
from gitrack.data.layout import cache_root, pending_markers
from gitrack.errors import CorruptRecordError, UsageError
from gitrack.git import Repo, WorktreeTree
from gitrack.git.refs import NOTES_REF, PINS_REF
from gitrack.git.transient import ObjectMissingError
from gitrack.paths import check_relative, repo_relative
from gitrack.tracking import envinfo, events, pins, produced, runner
from gitrack.tracking import steps as step_store
from gitrack.tracking.cache_folder import writable_cache_root
from gitrack.tracking.events import Logged
from gitrack.tracking.metricsfile import read_metrics
from gitrack.tracking.names import check_name
from gitrack.tracking.record import RunRecord, add_line, new_run_id, utc_timestamp

if TYPE_CHECKING:
    from gitrack.tracking.rundata import RunData

PAUSE_S = 60  # pause_for_test: long enough for any test to kill us
PIN_ATTEMPTS = 3  # writing the snapshot again after a `git gc` removed it


@dataclass
class RunResult:
    record: RunRecord
    commit: str
    exit_code: int
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # the command could not be started


def parse_assignments(pairs: tuple[str, ...] | list[str], flag: str) -> dict[str, str]:
    """``["lr=0.1", "seed=1"]`` -> ``{"lr": "0.1", "seed": "1"}``.

    A key given twice with two values is refused: which one the run used is not known.
    """
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} {pair!r} is not KEY=VALUE (write e.g. {flag} lr=0.1)")
        key = key.strip()
        if key in out and out[key] != value:
            raise UsageError(
                f"{flag} {key} is given twice ({out[key]!r} and {value!r}): give it once"
            )
        out[key] = value
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
    experiment: str | None = None,
    parent: str | None = None,
    rerun_of: str | None = None,
) -> RunResult:
    """Run ``argv`` and record it on HEAD. Raises before the command starts if it cannot record.

    ``datasets`` and ``outputs`` are paths as the user typed them (relative to ``cwd``);
    the ones in the config (relative to the repository root) are added. A command that
    uses gitrack's Python API logs into this same run.
    """
    if not argv:
        raise UsageError("no command given (write e.g. gitrack run -- python train.py)")
    recording = Recording.begin(
        list(argv),
        name=name,
        params=params,
        tags=tags,
        metrics_file=metrics_file,
        datasets=datasets,
        outputs=outputs,
        cwd=cwd,
        experiment=experiment,
        parent=parent,
    )
    recording.rerun_of = rerun_of
    try:
        events_path = recording.events_path()
        env = events.child_environment(
            recording.run_id, events_path, recording.params, recording.experiment
        )
        outcome = runner.execute(argv, recording.here, env)
        logged = events.read_events(events_path)
        return recording.finish(outcome, logged)
    finally:
        recording.close()


def _experiment(given: str | None, settings: config.Config) -> str | None:
    chosen = given or os.environ.get(events.EXPERIMENT_VAR) or settings.experiment
    if chosen is None:
        return None
    problem = events.experiment_problem(chosen)
    if problem:
        raise UsageError(problem)
    return chosen


def _parent(given: str | None) -> str | None:
    """The enclosing run's id; an unreadable $GITRACK_PARENT_RUN is ignored (not ours)."""
    chosen = given or os.environ.get(events.PARENT_VAR) or None
    if chosen is None or not (4 <= len(chosen) <= 64) or chosen.strip("0123456789abcdef"):
        return None
    return chosen


class Recording:
    """One run being recorded: begun (snapshot pinned, data cached), then finished."""

    def __init__(
        self,
        repo: Repo,
        settings: config.Config,
        here: Path,
        command: list[str],
        name: str | None,
        params: dict[str, str],
        tags: dict[str, str],
        metrics_path: Path | None,
        output_paths: list[str],
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.here = here
        self.command = command
        self.name = name
        self.params = params
        self.tags = tags
        self.metrics_path = metrics_path
        self.output_paths = output_paths
        self.run_id = new_run_id()
        self.started = utc_timestamp()
        self.head = repo.head()
        self.data: RunData | None = None
        self.snapshot = ""
        self.state: WorktreeTree | None = None
        self.env: dict[str, str] = {}
        self.notices: list[str] = []  # said to the user, not recorded in the run
        self.experiment: str | None = None
        self.experiment_given = False  # -e: the script's start_run(experiment=) does not win
        self.parent: str | None = None  # the run this one runs inside (nested runs)
        self._before: dict[Path, produced.Fingerprint | None] = {}
        self.rerun_of: str | None = None  # the run this one re-executes (gitrack rerun)

    @classmethod
    def begin(
        cls,
        command: list[str],
        *,
        name: str | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        metrics_file: str | None = None,
        datasets: list[str] | tuple[str, ...] = (),
        outputs: list[str] | tuple[str, ...] = (),
        cwd: str | os.PathLike[str] = ".",
        experiment: str | None = None,
        parent: str | None = None,
        own_outputs: bool = True,
    ) -> Recording:
        """Everything before the command: data hashed and cached, snapshot taken and pinned.

        ``experiment`` defaults to $GITRACK_EXPERIMENT, then the config's; ``parent`` to
        $GITRACK_PARENT_RUN (set by an enclosing `gitrack run`). Without ``own_outputs``
        (a sweep's own run) the config's metrics file and outputs are not this run's: its
        points record them."""
        check_name(name)
        here = Path(cwd)
        repo = Repo.discover(here)
        notices = _check_refs(repo)
        settings = config.load(repo.root)
        # Before anything is written: a run with data (or one whose command logs outputs
        # through the API) must not find out after the command that its cache is unusable.
        writable_cache_root(repo, settings.cache)
        recording = cls(
            repo,
            settings,
            here,
            command,
            name,
            dict(params or {}),
            dict(tags or {}),
            _metrics_path(metrics_file, settings.metrics, repo.root, here) if own_outputs else None,
            _data_paths(repo.root, here, outputs, settings.outputs) if own_outputs else [],
        )
        recording.notices = notices
        recording.experiment = _experiment(experiment, settings)
        recording.experiment_given = experiment is not None
        recording.parent = _parent(parent)
        data_paths = _data_paths(repo.root, here, datasets, settings.data)
        recording._remember_what_is_there()
        try:
            recording._take_snapshot(data_paths)
        except BaseException:
            recording.close()
            raise
        return recording

    def _remember_what_is_there(self) -> None:
        """Fingerprints of the metrics file and outputs before the command: what is
        unchanged after it was left by someone else, and not credited to this run."""
        paths = [self.repo.root / p for p in self.output_paths]
        if self.metrics_path is not None:
            paths.append(self.metrics_path)
        self._before = {path: produced.fingerprint(path) for path in paths}

    def _written(self, path: Path) -> bool:
        return produced.written_since(path, self._before.get(path))

    def _produced_outputs(self, warnings: list[str]) -> list[str]:
        kept = []
        for path in self.output_paths:
            if self._written(self.repo.root / path):
                kept.append(path)
            else:
                warnings.append(
                    f"output {path!r} was not written during this run (it is as an earlier "
                    "command left it); not recorded"
                )
        return kept

    def _take_snapshot(self, data_paths: list[str]) -> None:
        repo, run_id = self.repo, self.run_id
        if data_paths or self.output_paths:
            self.data = _open_data(repo, self.settings, run_id)
            self.data.take_inputs(data_paths)  # a missing dataset stops us here
            pause_for_test("caching")
        # A dataset is in the data cache: its untracked files stay out of the snapshot, or
        # the same bytes would be hashed and stored twice (links stay: they are tiny).
        links = self.data.links if self.data is not None else {}
        excluded = [p for p in data_paths if p not in links]
        state = repo.worktree.build_worktree_tree(
            self.settings.max_untracked_bytes, exclude=excluded
        )
        if state.skipped:
            self.data = self.data or _open_data(repo, self.settings, run_id)
            self.data.take_large_files(sorted(state.skipped))
        self.state = state
        self.env = envinfo.describe()
        shared = _shared_snapshot(repo, self.head.commit, state.tree)
        if shared is not None:  # a sweep's point: the sweep's snapshot, already pinned
            self.snapshot, self.env["packages"] = shared
            return
        packages = envinfo.installed_packages().encode()
        for attempt in range(PIN_ATTEMPTS):
            try:
                self._write_and_pin(packages)
                return
            except ObjectMissingError:
                # A `git gc` running meanwhile removed what was just written (it happens
                # under load): write it all again, the tree too if it went.
                if attempt == PIN_ATTEMPTS - 1:
                    raise
                if not repo.has_object(self.state.tree):  # built as above, datasets left out
                    self.state = repo.worktree.build_worktree_tree(
                        self.settings.max_untracked_bytes, exclude=excluded
                    )

    def _write_and_pin(self, packages: bytes) -> None:
        repo, run_id = self.repo, self.run_id
        assert self.state is not None
        self.snapshot = repo.create_commit(
            self.state.tree, [self.head.commit], f"gitrack snapshot of run {run_id}\n"
        )
        pause_for_test("snapshot")  # the snapshot exists, not pinned yet
        self.env["packages"] = repo.write_blob(packages)
        payload = repo.tree_from_files({"packages.txt": packages})
        # Pin before the command starts: a `git gc --prune=now` during a long run must not
        # collect the snapshot.
        repo.refs.append_to_chain(
            PINS_REF, [self.snapshot], payload, f"gitrack: pin run {run_id}\n"
        )

    def events_path(self) -> Path:
        """Where the Python API inside the command logs to (removed when the run ends)."""
        folder = self.repo.common_dir / "gitrack" / "live"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{self.run_id}.jsonl"

    def finish(self, outcome: runner.Outcome, logged: Logged | None = None) -> RunResult:
        """Everything after the command: outputs, metrics, and the note line (atomically)."""
        assert self.state is not None
        logged = logged or Logged()
        warnings = (
            [*self.state.warnings]
            + [
                f"untracked file {path!r} ({size} bytes) is over max_untracked_size: "
                "kept in the data cache instead of git"
                for path, size in sorted(self.state.skipped.items())
            ]
            + [
                f"dataset {path!r} is not git-ignored: its {count} untracked file(s) are kept out "
                "of the code snapshot (the data cache has them); add it to .gitignore"
                for path, count in sorted(self.state.excluded.items())
            ]
        )
        warnings.extend(logged.warnings)
        # Outputs named with -o or in the config count only if the command wrote them;
        # an output the API logged is one the script says it made.
        outputs = self._produced_outputs(warnings)
        if logged.outputs or logged.datasets:
            self.data = self.data or _open_data(self.repo, self.settings, self.run_id)
        if self.data is not None:
            self.data.check_inputs_unchanged()
            self.data.datasets.update(logged.datasets)
            self.data.take_outputs(list(dict.fromkeys([*outputs, *logged.outputs])))
            warnings.extend(self.data.warnings)
        metrics: dict[str, float] = {}
        if self.metrics_path is not None and not self._written(self.metrics_path):
            warnings.append(
                f"metrics file {self.metrics_path} was not written during this run (it is as "
                "an earlier command left it); no metrics recorded"
            )
        elif self.metrics_path is not None:
            metrics, problem = read_metrics(self.metrics_path)
            if problem:
                warnings.append(problem)
        metrics.update(logged.metrics)
        params = {**self.params, **logged.params}
        history = None
        if logged.steps:
            try:
                history = step_store.store_history(self.repo, logged.steps, self.run_id)
            except Exception as exc:  # never lose the run over its step history
                warnings.append(f"step metrics not stored: {exc}")
        if logged.name and not self.name:
            self.name = logged.name
        if logged.experiment and not self.experiment_given:
            problem = events.experiment_problem(logged.experiment)
            if problem:  # never lose the run over it
                warnings.append(f"start_run(experiment=…): {problem}")
            else:
                self.experiment = logged.experiment
        status = outcome.status
        if logged.failed and status == "ok":
            status = "failed"
        record = self._record(outcome, status, params, {**self.tags, **logged.tags}, metrics)
        record.warnings = warnings
        record.metric_history = history
        record.error = logged.error
        line = record.to_line()
        if len(line) > jsonsafe.MAX_CHARS:
            line = _without_logged_values(record, len(line))
        with runner.signals_deferred():
            pause_for_test("recording")
            notes_commit = self.repo.notes.update(
                NOTES_REF,
                self.head.commit,
                lambda text: add_line(text, line),
                f"gitrack: record run {self.run_id}\n",
            )
        shown = [*self.notices, *self.settings.warnings, *warnings]  # not the run's own
        shown.extend(_add_to_display(self.repo, notes_commit, self.head.commit, record))
        return RunResult(record, self.head.commit, outcome.exit_code, shown, outcome.error)

    def _record(
        self,
        outcome: runner.Outcome,
        status: str,
        params: dict[str, str],
        tags: dict[str, str],
        metrics: dict[str, float],
    ) -> RunRecord:
        assert self.state is not None
        data = self.data
        return RunRecord(
            started=self.started,
            id=self.run_id,
            name=self.name,
            experiment=self.experiment,
            parent=self.parent,
            rerun_of=self.rerun_of,
            command=list(self.command),
            cwd=_relative_cwd(self.repo.root, self.here),
            metrics_file=_root_relative(self.repo.root, self.metrics_path),
            base_commit=self.head.commit,
            snapshot=self.snapshot,
            dirty=self.state.dirty,
            status=status,
            exit_code=outcome.exit_code,
            signal=outcome.signal,
            duration_s=round(outcome.duration_s, 6),
            cpu_s=None if outcome.cpu_s is None else round(outcome.cpu_s, 6),
            max_rss_bytes=outcome.max_rss_bytes,
            params=params,
            metrics=metrics,
            tags=tags,
            user=_user(),
            host=os.uname().nodename,
            env=self.env,
            untracked_skipped=dict(self.state.skipped),
            datasets=data.datasets if data else {},
            outputs=data.outputs if data else {},
            large_files=data.large_files if data else {},
            links=data.links if data else {},
        )

    def close(self) -> None:
        """The pending data marker and the API's event file go, recorded or not."""
        if self.data is not None:
            self.data.finish()
        live = self.repo.common_dir / "gitrack" / "live" / f"{self.run_id}.jsonl"
        folder = cache_root(self.repo.common_dir, self.settings.cache, self.repo.root)
        for leftover in [live, *pending_markers(folder, self.run_id)]:
            with contextlib.suppress(OSError):  # an unreadable folder: nothing of ours there
                leftover.unlink(missing_ok=True)


def _add_to_display(repo: Repo, notes_commit: str, commit: str, record: RunRecord) -> list[str]:
    """`git log`'s readable run lines; the run is recorded whatever happens here."""
    from gitrack.tracking import display

    try:
        display.add_run(repo, notes_commit, commit, record)
    except Exception as exc:  # derived data: rebuilt by the next run, never worth a run
        return [f"git log's run lines (refs/notes/runs) not updated: {exc}"]
    return []


def pause_for_test(phase: str) -> None:
    """Test-only: stop at a known phase of a run, so a test can kill -9 gitrack there.

    With ``GITRACK_TEST_PAUSE=<phase>:<marker file>`` in the environment, reaching
    ``phase`` writes the marker file and sleeps (until the test kills the process, or
    PAUSE_S pass). Phases: ``caching`` (datasets hashed and cached, before the snapshot),
    ``snapshot`` (snapshot commit written, not pinned yet), ``recording`` (outputs
    cached, note not written yet). Unset, it costs one environment lookup per phase.
    Used by tests/test_faults.py; never set it otherwise.
    """
    wanted = os.environ.get("GITRACK_TEST_PAUSE")
    if not wanted:
        return
    name, _, marker = wanted.partition(":")
    if name == phase and marker:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(PAUSE_S)


SHARED_SNAPSHOT_VAR = "GITRACK_SHARED_SNAPSHOT"  # "<snapshot commit>:<packages blob>"


def _shared_snapshot(repo: Repo, head: str, tree: str) -> tuple[str, str] | None:
    """The snapshot (and packages list) an enclosing `gitrack sweep` took and pinned, when
    this run's working state is exactly it: same commit, same tree. Otherwise None, and
    the run takes its own (the code changed since the sweep started)."""
    snapshot, _, packages = os.environ.get(SHARED_SNAPSHOT_VAR, "").partition(":")
    if not (_full_id(snapshot) and _full_id(packages)):
        return None  # unset, or not ours: ignored
    try:
        info = repo.commit_info(snapshot)
    except CorruptRecordError:  # not a commit here
        return None
    if info.tree != tree or info.parents[:1] != (head,) or not repo.has_object(packages):
        return None
    return snapshot, packages


def _full_id(text: str) -> bool:
    return len(text) in (40, 64) and not text.strip("0123456789abcdef")


def _check_refs(repo: Repo) -> list[str]:
    """Before the command: whatever would stop the note write after it (and lose the run)
    stops the run now; pins a `git gc --prune=now` broke are rebuilt (said, not fatal)."""
    for refname in (NOTES_REF, PINS_REF):
        repo.refs.check_unlocked(refname)  # a stale lock a crashed git left
    repo.refs.target(NOTES_REF)  # a notes tip that is gone or not a commit
    notice = pins.repair(repo)
    return [notice] if notice else []


def _open_data(repo: Repo, settings: config.Config, run_id: str) -> RunData:
    # sqlite and thread pools are imported only by runs that use data.
    from gitrack.data.store import DataStore
    from gitrack.tracking.rundata import RunData

    return RunData(DataStore.open(repo.root, repo.common_dir, settings.cache), run_id)


def _data_paths(
    root: Path, cwd: Path, typed: list[str] | tuple[str, ...], configured: tuple[str, ...]
) -> list[str]:
    """Typed paths are relative to where the user is; configured ones to the root."""
    found = [repo_relative(root, cwd / p) for p in typed]
    found += [str(check_relative(p)) for p in configured]
    return list(dict.fromkeys(found))


def _without_logged_values(record: RunRecord, length: int) -> str:
    """A note line gitrack can read back (jsonsafe.MAX_CHARS), without the params,
    metrics and tags that made it longer: the run is recorded all the same."""
    record.warnings.append(
        f"params, metrics and tags not recorded: they made the note line {length} "
        f"characters long, over the {jsonsafe.MAX_CHARS} gitrack reads back"
    )
    record.params, record.metrics, record.tags = {}, {}, {}
    return record.to_line()


def _metrics_path(given: str | None, configured: str | None, root: Path, cwd: Path) -> Path | None:
    # -m paths are as typed, relative to where the user is; config paths to the root.
    if given is not None:
        return cwd.resolve() / given
    if configured is not None:
        return root / configured
    return None


def _root_relative(root: Path, path: Path | None) -> str | None:
    """``path`` relative to the root, or None when there is none or it lies outside."""
    if path is None:
        return None
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
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
