"""gitrack's Python API, with MLflow's verbs: log from inside training code.

    import gitrack

    with gitrack.start_run(params={"lr": 0.1}) as run:
        for epoch in range(10):
            run.log_metric("loss", loss, step=epoch)

Outside `gitrack run`, ``start_run`` records a run of its own: the snapshot is taken when
it starts and the run is recorded when the block ends, under the same rules as
`gitrack run`. Inside a command launched by `gitrack run`, the API attaches to that run
(one run, not two) and its module-level functions work without ``start_run``.
"""

from __future__ import annotations

import atexit
import numbers
import os
import resource
import sys
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

from gitrack.errors import GitrackError
from gitrack.tracking import artifacts, events
from gitrack.tracking.events import Logged

if TYPE_CHECKING:
    from gitrack.tracking.history import Run as HistoryRun
    from gitrack.tracking.recorder import Recording


class RunStateError(GitrackError):
    """An API call at the wrong moment: no active run, a finished run, two at once."""


class ParamConflictError(GitrackError):
    def __init__(self, key: str, old: str, new: str) -> None:
        super().__init__(
            f"param {key!r} is already {old!r} in this run; a param cannot change "
            f"(to {new!r}): log it under another name, or use a metric or tag"
        )


class MetricValueError(GitrackError):
    def __init__(self, key: str, value: object, problem: str | None = None) -> None:
        problem = problem or f"its value must be a number, not {type(value).__name__} {value!r}"
        super().__init__(f"metric {key!r}: {problem}")


_active: Run | None = None


class Run:
    """A run: being logged (from ``start_run``) or recorded (from ``get_run``)."""

    def __init__(
        self,
        run_id: str,
        logged: Logged,
        history: HistoryRun | None = None,
        where: str | os.PathLike[str] = ".",
    ) -> None:
        self._id = run_id
        self._where = where
        self._logged = logged
        self._history = history
        self._recording: Recording | None = None
        self._writer: events.EventWriter | None = None
        self._steps: dict[str, int] = {}
        self._started = time.monotonic()
        self._usage = resource.getrusage(resource.RUSAGE_SELF)
        self._open = False
        self._fixed_params: dict[str, str] = {}
        self._outer: Run | None = None  # the run active before this nested one
        self._experiment: str | None = None

    # ----------------------------------------------------------------- reading
    @property
    def id(self) -> str:
        return self._id

    @property
    def params(self) -> dict[str, str]:
        if self._history is not None:
            return dict(self._history.record.params)
        return {**self._fixed_params, **self._logged.params}

    @property
    def metrics(self) -> dict[str, float]:
        if self._history is not None:
            return dict(self._history.record.metrics)
        return dict(self._logged.metrics)

    @property
    def tags(self) -> dict[str, str]:
        if self._history is not None:
            return dict(self._history.record.tags)
        return dict(self._logged.tags)

    @property
    def datasets(self) -> dict[str, str]:
        if self._history is not None:
            return dict(self._history.record.datasets)
        return dict(self._logged.datasets)

    @property
    def outputs(self) -> dict[str, str]:
        if self._history is not None:
            return dict(self._history.record.outputs)
        return {path: "" for path in self._logged.outputs}  # hashed when the run ends

    @property
    def status(self) -> str:
        return self._history.record.status if self._history is not None else "running"

    @property
    def commit(self) -> str | None:
        return self._history.commit if self._history is not None else None

    @property
    def name(self) -> str | None:
        return self._history.record.name if self._history is not None else None

    @property
    def experiment(self) -> str | None:
        return self._history.record.experiment if self._history is not None else self._experiment

    @property
    def parent(self) -> str | None:
        """The id of the run this one ran inside (``start_run(nested=True)``), if any."""
        return self._history.record.parent if self._history is not None else None

    @property
    def note(self) -> str | None:
        return self._history.record.note if self._history is not None else None

    @property
    def hidden(self) -> bool:
        """Hidden by `gitrack rm` / ``gitrack.delete_run``."""
        return self._history.hidden if self._history is not None else False

    def metric_history(self, key: str) -> list[tuple[int | None, float, float]]:
        """``(step, value, timestamp)`` for every value logged under ``key``, in order.

        A metric recorded as one value (from a metrics file) is ``[(None, value, end)]``:
        no step, the time the run ended.
        """
        if self._history is None:
            return [(s, v, t) for k, s, v, t in self._logged.steps if k == key]
        from gitrack.git import Repo
        from gitrack.tracking.steps import metric_history

        return metric_history(Repo.discover(self._where), self._history.record, key)

    def open(self, path: str) -> BinaryIO:
        """A file of the recorded run as a binary stream: a dataset, an output or a code
        file (PATH relative to the root, as `gitrack ls-files` lists it), verified."""
        if self._history is None:
            raise RunStateError("open() reads a recorded run: use gitrack.get_run(ID).open(PATH)")
        from gitrack.commands.context import Context
        from gitrack.tracking.runfiles import RunFiles

        ctx = Context.open(self._where)
        return RunFiles(ctx.repo, ctx.store, self._history, ctx.settings.remote).open(path)

    def __repr__(self) -> str:
        return f"<gitrack.Run {self._id} {self.status}>"

    # ----------------------------------------------------------------- logging
    def log_param(self, key: str, value: Any) -> None:
        self._check_open()
        text = str(value)
        old = self.params.get(key)
        if old is not None and old != text:
            if _same_number(old, text):
                return  # `-p C=1` then log_params(vars(args)) with C=1.0: one param, as typed
            raise ParamConflictError(key, old, text)
        self._logged.params[key] = text
        self._emit({"e": "param", "k": key, "v": text})

    def log_params(self, params: dict[str, Any]) -> None:
        for key, value in params.items():
            self.log_param(key, value)

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Microseconds: values are buffered and written when the run ends (or each second).

        On a recorded run (``get_run``) the value is added as an edit line: it becomes the
        run's metric ``key``; its step history is not extended (``step`` is not kept)."""
        if not self._open and self._history is None:
            self._check_open()
        if not isinstance(key, str) or not key:
            raise MetricValueError(str(key), value, "its key must be a non-empty string")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise MetricValueError(key, value)
        try:
            number = float(value)
        except (OverflowError, ValueError) as exc:
            raise MetricValueError(key, value) from exc
        if self._history is not None:
            from gitrack.commands import lifecycle

            self._change_recorded(lambda ctx: lifecycle.log_metrics(ctx, self._id, {key: number}))
            return
        if step is None:
            step = self._steps.get(key, -1) + 1
        elif isinstance(step, bool) or not isinstance(step, numbers.Integral):
            raise MetricValueError(key, value, f"its step must be a whole number, not {step!r}")
        elif not -(2**63) <= int(step) < 2**63:
            raise MetricValueError(key, value, f"its step {step} does not fit in 64 bits")
        step = int(step)
        self._steps[key] = step
        now = time.time()
        self._logged.metrics[key] = number
        self._logged.steps.append((key, step, number, now))
        if self._writer is not None:
            self._writer.add({"e": "metric", "k": key, "v": number, "s": step, "t": now})

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step)

    def set_tag(self, key: str, value: Any) -> None:
        """A tag; on a recorded run (``get_run``), added as an edit line."""
        if self._history is not None:
            from gitrack.commands import lifecycle

            values = {str(key): str(value)}
            self._change_recorded(lambda ctx: lifecycle.tag(ctx, self._id, values))
            return
        self._check_open()
        self._logged.tags[key] = str(value)
        self._emit({"e": "tag", "k": key, "v": str(value)})

    def log_artifact(self, path: str | os.PathLike[str]) -> None:
        """An output: hashed and cached when the run ends."""
        self._check_open()
        rel = _repo_path(path)
        self._logged.outputs.append(rel)
        self._emit({"e": "output", "k": rel})

    def log_dataset(self, path: str | os.PathLike[str]) -> None:
        """A dataset: hashed and cached now, so later changes do not alter the record."""
        self._check_open()
        rel = _repo_path(path)
        digest = _cache_dataset(rel, self._id)
        self._logged.datasets[rel] = digest
        self._emit({"e": "dataset", "k": rel, "h": digest})

    def delete_tag(self, key: str) -> None:
        """Remove a tag of a recorded run (an edit line)."""
        from gitrack.commands import lifecycle

        self._need_recorded("delete_tag")
        self._change_recorded(lambda ctx: lifecycle.tag(ctx, self._id, {}, [key]))

    def set_name(self, name: str) -> None:
        """Rename a recorded run (`gitrack rename`)."""
        from gitrack.commands import lifecycle

        self._need_recorded("set_name")
        self._change_recorded(lambda ctx: lifecycle.rename(ctx, self._id, name))

    def set_note(self, text: str) -> None:
        """Describe a recorded run in free text (`gitrack note`); "" removes it."""
        from gitrack.commands import lifecycle

        self._need_recorded("set_note")
        self._change_recorded(lambda ctx: lifecycle.annotate(ctx, self._id, text))

    def _need_recorded(self, what: str) -> None:
        if self._history is None:
            raise RunStateError(f"{what} changes a recorded run: use gitrack.get_run(id).{what}")

    def _change_recorded(self, change: Any) -> None:
        """Append an edit line for this recorded run, then read the run back."""
        from gitrack.commands.context import Context
        from gitrack.tracking import history

        ctx = Context.open(self._where)
        change(ctx)
        self._history = history.resolve(ctx.load_runs(), self._id)

    # -------------------------------------------------------------- lifecycle
    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.end()
        else:  # the exception propagates: we only record it
            self.end(_status_of(kind), _error_text(kind, exc))

    def end(self, status: str = "ok", error: str | None = None) -> None:
        """Record the run (``start_run``'s ``with`` block does it for you); ``error``:
        what made it fail, e.g. ``"ValueError: bad input"``."""
        global _active
        if not self._open:
            return
        self._open = False
        if _active is self:
            _active = self._outer  # a nested run hands back to the run around it
        if self._writer is not None:
            if status != "ok":
                self._writer.add({"e": "failed", "m": error})
            self._writer.flush()
            return  # `gitrack run` records the run when the command exits
        assert self._recording is not None
        self._logged.failed = status != "ok"
        self._logged.error = error
        try:
            self._recording.finish(self._outcome(status), self._logged)
        finally:
            self._recording.close()

    def _outcome(self, status: str) -> Any:
        from gitrack.tracking.runner import Outcome

        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (usage.ru_utime - self._usage.ru_utime) + (usage.ru_stime - self._usage.ru_stime)
        rss = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
        code = {"ok": 0, "interrupted": 130}.get(status, 1)
        return Outcome(code, status, None, time.monotonic() - self._started, cpu, rss)

    def _emit(self, event: dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.add(event)

    def _check_open(self) -> None:
        if not self._open:
            raise RunStateError(
                f"run {self._id} is not active: log inside `with gitrack.start_run():`"
            )


def start_run(
    name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    experiment: str | None = None,
    nested: bool = False,
) -> Run:
    """Start a run (a context manager); inside `gitrack run`, attach to that run.

    ``nested=True`` inside an active run (or under `gitrack run`) records a run of its
    own whose ``parent`` is the run around it, as MLflow's ``start_run(nested=True)``.
    ``experiment`` defaults to the enclosing run's, $GITRACK_EXPERIMENT, then the config's.
    """
    global _active
    problem = events.experiment_problem(experiment) if experiment is not None else None
    if problem:
        raise GitrackError(problem)
    if _active is not None and not nested:
        raise RunStateError(
            f"run {_active.id} is already active; end it before starting another, "
            "or start a child run with start_run(nested=True)"
        )
    attached = events.attached_run()
    if attached is not None and not nested:
        run_id, path, fixed = attached
        run = Run(run_id, Logged())
        run._writer = events.EventWriter(path)
        run._fixed_params = fixed
        run._open = True
        if name:
            from gitrack.tracking.names import check_name

            check_name(name)
            run._emit({"e": "name", "v": name})
        if experiment:
            run._experiment = experiment
            run._emit({"e": "experiment", "v": experiment})
    else:
        from gitrack.tracking.recorder import Recording

        outer = _active
        parent = outer.id if outer is not None else (attached[0] if attached else None)
        recording = Recording.begin(
            [sys.executable, *sys.argv],
            name=name,
            params={k: str(v) for k, v in (params or {}).items()},
            tags={k: str(v) for k, v in (tags or {}).items()},
            experiment=experiment or (outer._experiment if outer is not None else None),
            parent=parent if nested else None,
        )
        run = Run(recording.run_id, Logged())
        run._outer = outer
        run._experiment = recording.experiment
        run._recording = recording
        run._fixed_params = dict(recording.params)
        run._logged.tags.update(recording.tags)
        run._open = True
        _active = run
        return run
    _active = run
    for key, value in (params or {}).items():
        run.log_param(key, value)
    for key, value in (tags or {}).items():
        run.set_tag(key, value)
    return run


def end_run(status: str = "ok") -> None:
    if _active is not None:
        _active.end(status)


def active_run() -> Run:
    """The active run: started here, or the `gitrack run` this process runs under."""
    if _active is None:
        if events.attached_run() is None:
            raise RunStateError(
                "no active run: use `with gitrack.start_run():`, or run the script with "
                "gitrack run -- python script.py"
            )
        return _start_for_logging()
    return _active


def _logging_run() -> Run:
    """As in MLflow, logging with no active run starts one (outside `gitrack run`: a run
    of its own, snapshot taken now), ended when the process exits; an exception nobody
    catches ends it as failed, with the exception's type and message."""
    return _active or _start_for_logging()


def _start_for_logging() -> Run:
    run = start_run()
    atexit.register(end_run)
    _end_on_uncaught_exception(run)
    return run


def _end_on_uncaught_exception(run: Run) -> None:
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        try:
            run.end(_status_of(kind), _error_text(kind, exc))
        except Exception as problem:  # never hide the script's own traceback
            print(f"gitrack: the run was not recorded: {problem}", file=sys.stderr)
        previous(kind, exc, tb)

    sys.excepthook = hook


def _status_of(kind: type[BaseException]) -> str:
    return "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed"


def _error_text(kind: type[BaseException], exc: BaseException | None) -> str:
    message = str(exc) if exc is not None else ""
    text = f"{kind.__name__}: {message}" if message else kind.__name__
    return text if len(text) <= 1000 else text[:999] + "…"


def log_param(key: str, value: Any) -> None:
    _logging_run().log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    _logging_run().log_params(params)


def log_metric(key: str, value: Any, step: int | None = None) -> None:
    _logging_run().log_metric(key, value, step)


def log_metrics(metrics: dict[str, Any], step: int | None = None) -> None:
    _logging_run().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    _logging_run().set_tag(key, value)


def log_artifact(path: str | os.PathLike[str]) -> None:
    _logging_run().log_artifact(path)


def log_dataset(path: str | os.PathLike[str]) -> None:
    _logging_run().log_dataset(path)


def log_figure(figure: Any, path: str | os.PathLike[str]) -> None:
    """A figure (matplotlib, or anything with ``savefig``) saved at PATH: an output."""
    _log_file(artifacts.write_figure, figure, path)


def log_dict(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """A dict saved as JSON at PATH: an output of the active run."""
    _log_file(artifacts.write_dict, data, path)


def log_text(text: str, path: str | os.PathLike[str]) -> None:
    """Text saved at PATH (UTF-8): an output of the active run."""
    _log_file(artifacts.write_text, text, path)


def log_table(table: Any, path: str | os.PathLike[str]) -> None:
    """A pyarrow Table or pandas DataFrame saved as parquet at PATH: an output."""
    _log_file(artifacts.write_table, table, path)


def _log_file(write: Any, value: Any, path: str | os.PathLike[str]) -> None:
    run = active_run()  # no run: refused before anything is written
    write(value, Path(path))
    run.log_artifact(path)


def get_run(id_or_prefix: str, cwd: str | os.PathLike[str] = ".") -> Run:
    """A recorded run by id, unique prefix (4+ characters) or name."""
    from gitrack.git import Repo
    from gitrack.tracking import history

    loaded = history.load_runs(Repo.discover(cwd))
    found = history.resolve(loaded, id_or_prefix)
    for message in loaded.warnings:
        warnings.warn(message, stacklevel=2)
    return Run(found.id, Logged(), found, where=os.path.abspath(cwd))


def _same_number(old: str, new: str) -> bool:
    """Both read as the same number ("1" and "1.0", "1e-3" and "0.001")."""
    try:
        return float(old) == float(new)
    except ValueError:
        return False


def _repo_path(path: str | os.PathLike[str]) -> str:
    from gitrack.git import Repo
    from gitrack.paths import repo_relative

    return repo_relative(Repo.discover(".").root, Path(path))


def _cache_dataset(rel: str, run_id: str) -> str:
    from gitrack import config
    from gitrack.data import gc
    from gitrack.data.store import DataStore
    from gitrack.git import Repo

    repo = Repo.discover(".")
    settings = config.load(repo.root)
    store = DataStore.open(repo.root, repo.common_dir, settings.cache)
    state = store.hasher.hash_path(rel, f"hashing {rel}")
    gc.mark_pending(store.cache, f"{run_id}.api", [state.hash, *(e.hash for e in state.entries)])
    store.store(state, f"caching {rel}")
    return state.hash
