"""`gitrack sweep`: one command over a grid (or random draws) of parameters.

Each point is a `gitrack run` of its own (a child process, so it records itself whatever
happens to the others, Ctrl-C included), with ``{name}`` replaced in the command and in
the -d/-o/-m paths, its values as params and in ``GITRACK_PARAM_<NAME>``, and
``GITRACK_PARENT_RUN`` naming the sweep's own run: every point is a child of it. The
sweep's run is begun (snapshot pinned) before the first point and recorded after the
last, with the summary of the points (how many, how many failed, the best value).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from gitrack.errors import UsageError
from gitrack.git import Repo
from gitrack.tracking import events, runner
from gitrack.tracking.events import Logged
from gitrack.tracking.record import RunRecord
from gitrack.tracking.runner import Outcome

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DISTRIBUTION = re.compile(r"(uniform|loguniform|randint|choice)\((.*)\)\Z")
POLL_S = 0.05


@dataclass(frozen=True)
class Distribution:
    """A range to draw from: uniform(a,b), loguniform(a,b), randint(a,b), choice(x,y,…)."""

    kind: str
    args: tuple[str, ...]

    def draw(self, rng: random.Random) -> str:
        if self.kind == "choice":
            return rng.choice(self.args)
        if self.kind == "randint":
            return str(rng.randint(int(self.args[0]), int(self.args[1])))
        low, high = float(self.args[0]), float(self.args[1])
        if self.kind == "loguniform":
            return _number(math.exp(rng.uniform(math.log(low), math.log(high))))
        return _number(rng.uniform(low, high))


Space = dict[str, "list[str] | Distribution"]


def parse_space(specs: list[str] | tuple[str, ...]) -> Space:
    """``["lr=0.1,0.01", "depth=randint(3,8)"]`` -> the values or range of each parameter."""
    space: Space = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name) or not values.strip():
            raise UsageError(
                f"-p {spec!r} is not NAME=V1,V2,… or NAME=RANGE (write e.g. -p lr=0.1,0.01 "
                "or -p lr=loguniform(1e-4,1e-1))"
            )
        if name in space:
            raise UsageError(f"-p {name} is given twice; list all its values in one -p")
        space[name] = _values(name, values.strip())
    if not space:
        raise UsageError("no parameter to sweep (write e.g. -p lr=0.1,0.01)")
    return space


def _values(name: str, text: str) -> list[str] | Distribution:
    found = _DISTRIBUTION.match(text)
    if found is None:
        return [v.strip() for v in text.split(",")]
    kind, args = found.group(1), tuple(a.strip() for a in found.group(2).split(","))
    try:
        if kind != "choice":
            if len(args) != 2:
                raise ValueError("two bounds")
            low, high = (int(a) if kind == "randint" else float(a) for a in args)
            if not low <= high or (kind == "loguniform" and low <= 0):
                raise ValueError("bounds in order" + (", above 0" if kind == "loguniform" else ""))
        elif not all(args):
            raise ValueError("values")
    except ValueError as exc:
        raise UsageError(f"-p {name}={text}: {kind}(…) needs {exc} (e.g. {kind}(1,10))") from exc
    return Distribution(kind, args)


def grid(space: Space) -> list[dict[str, str]]:
    """The Cartesian product of the listed values, in the order they were given."""
    ranged = [name for name, v in space.items() if isinstance(v, Distribution)]
    if ranged:
        raise UsageError(
            f"-p {ranged[0]} is a range: draw from it with --random K (a grid needs values)"
        )
    names = list(space)
    lists = [space[n] for n in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*lists)]  # type: ignore[arg-type]


def draws(space: Space, count: int, seed: int | None) -> list[dict[str, str]]:
    """``count`` points, each parameter drawn on its own (a list is a uniform choice)."""
    rng = random.Random(seed)
    points = []
    for _ in range(count):
        point = {}
        for name, values in space.items():
            point[name] = (
                values.draw(rng) if isinstance(values, Distribution) else rng.choice(values)
            )
        points.append(point)
    return points


def substitute(text: str, params: dict[str, str]) -> str:
    """``{name}`` of a swept parameter replaced by its value; other braces stay."""
    return _PLACEHOLDER.sub(lambda m: params.get(m.group(1), m.group(0)), text)


def unknown_placeholders(texts: list[str], space: Space) -> list[str]:
    """Warnings for ``{name}`` placeholders that name no swept parameter (a typo?)."""
    found = {m.group(1) for text in texts for m in _PLACEHOLDER.finditer(text)}
    return [
        f"{{{name}}} names no -p parameter ({', '.join(space)}): left as it is"
        for name in sorted(found - set(space))
    ]


def check_isolated(points: list[dict[str, str]], paths: dict[str, list[str]], jobs: int) -> None:
    """Points running at once must not share an output or metrics file: one would
    overwrite, or read, another's. ``paths``: option (-o, -m, config) -> its paths."""
    if jobs <= 1 or len(points) <= 1:
        return
    for option, templates in paths.items():
        for template in templates:
            made = {substitute(template, point) for point in points}
            if len(made) < len(points):
                raise UsageError(
                    f"{option} {template!r} is the same file for several points, which --jobs "
                    f"{jobs} runs at once (one would overwrite or read another's): put the "
                    f"swept parameters in it, e.g. {_suggest(template, points[0])}, or use "
                    "--jobs 1"
                )


def _suggest(template: str, point: dict[str, str]) -> str:
    """The template with the placeholders it lacks added before its extension."""
    missing = "-".join("{" + name + "}" for name in point if "{" + name + "}" not in template)
    folder, slash, base = template.rpartition("/")
    stem, dot, ext = base.rpartition(".")
    named = f"{stem}-{missing}.{ext}" if dot and stem else f"{base}-{missing}"
    return f"{folder}{slash}{named}"


@dataclass
class Point:
    params: dict[str, str]
    argv: list[str]  # the `gitrack run …` command line of the point
    exit_code: int | None = None  # None: never started (the sweep was stopped first)
    run_id: str | None = None
    status: str = "not started"
    metrics: dict[str, float] = field(default_factory=dict)


def environment(params: dict[str, str], parent: str, snapshot: str) -> dict[str, str]:
    from gitrack.tracking.recorder import SHARED_SNAPSHOT_VAR

    env = {k: v for k, v in os.environ.items() if not k.startswith("GITRACK_PARAM_")}
    env.update({f"GITRACK_PARAM_{name.upper()}": value for name, value in params.items()})
    env[events.PARENT_VAR] = parent
    env[SHARED_SNAPSHOT_VAR] = snapshot
    return env


def run_points(points: list[Point], jobs: int, parent: str, cwd: str, snapshot: str = "") -> bool:
    """Run every point, ``jobs`` at a time; False when stopped by Ctrl-C or a signal.

    Ctrl-C from the terminal reaches every point's process group member directly (each
    `gitrack run` records its run as interrupted); a signal sent to the sweep alone is
    passed on to the running points. Either way no new point starts.
    """
    pending = list(points)
    running: dict[int, tuple[Point, subprocess.Popen[bytes]]] = {}
    received: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if signum == signal.SIGINT and runner.in_terminal_foreground():
            return  # the terminal sent it to the points already
        for _point, proc in running.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)

    with runner.stop_handlers(stop):
        while running or (pending and not received):
            while pending and not received and len(running) < jobs:
                point = pending.pop(0)
                env = environment(point.params, parent, snapshot)
                proc = subprocess.Popen(point.argv, cwd=cwd, env=env)
                point.status = "running"
                running[proc.pid] = (point, proc)
            for pid, (point, proc) in list(running.items()):
                code = proc.poll()
                if code is not None:
                    point.exit_code = code if code >= 0 else 128 - code
                    del running[pid]
            time.sleep(POLL_S)
    return not received


def gitrack_run_argv(
    command: list[str],
    params: dict[str, str],
    datasets: list[str],
    outputs: list[str],
    metrics_file: str | None,
    experiment: str | None,
) -> list[str]:
    """The `gitrack run` command line of one point, placeholders replaced."""
    argv = [sys.executable, "-m", "gitrack", "run"]
    for name, value in params.items():
        argv += ["-p", f"{name}={value}"]
    argv += [a for path in datasets for a in ("-d", substitute(path, params))]
    argv += [a for path in outputs for a in ("-o", substitute(path, params))]
    if metrics_file is not None:
        argv += ["-m", substitute(metrics_file, params)]
    if experiment is not None:
        argv += ["-e", experiment]
    return [*argv, "--", *(substitute(arg, params) for arg in command)]


def _number(value: float) -> str:
    return f"{value:.6g}"


@dataclass
class SweepResult:
    parent: RunRecord
    points: list[Point]
    completed: bool  # False: stopped by Ctrl-C or a signal
    sort_key: str | None  # the metric the points are ordered by
    descending: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if not self.completed:
            return 130
        return 0 if all(p.status == "ok" for p in self.points) else 1


def record_sweep(
    sweep_argv: list[str],
    points: list[Point],
    space_specs: dict[str, str],
    jobs: int,
    *,
    name: str | None = None,
    experiment: str | None = None,
    sort: str | None = None,
    cwd: str = ".",
) -> SweepResult:
    """The sweep's run begun, its points run (children of it), the sweep's run recorded."""
    from gitrack.tracking.recorder import Recording

    started = time.monotonic()
    recording = Recording.begin(
        sweep_argv,
        name=name,
        params=space_specs,
        experiment=experiment,
        cwd=cwd,
        own_outputs=False,  # the points have them
    )
    try:
        # Taken once: every point whose code is still exactly this records it as its own.
        shared = f"{recording.snapshot}:{recording.env.get('packages', '')}"
        completed = run_points(points, jobs, recording.run_id, cwd, shared)
        _collect_points(recording.repo, recording.run_id, points)
        key, descending = _sort_key(sort, points)
        points.sort(key=lambda p: _order(p, key, descending))
        outcome = _outcome(points, completed, time.monotonic() - started)
        summary = _summary(points, key, descending)
        result = recording.finish(outcome, Logged(metrics=summary))
    finally:
        recording.close()
    return SweepResult(result.record, points, completed, key, descending, result.warnings)


def _collect_points(repo: Repo, parent: str, points: list[Point]) -> None:
    """Each point's recorded run: the sweep's children, matched by their params."""
    from gitrack.tracking.history import load_runs

    children = [r for r in load_runs(repo).runs if r.record.parent == parent]
    children.sort(key=lambda r: r.started)
    for point in points:
        if point.exit_code is None:
            continue
        for child in children:
            rec = child.record
            if all(rec.params.get(k) == v for k, v in point.params.items()):
                point.run_id, point.status, point.metrics = rec.id, rec.status, rec.metrics
                children.remove(child)
                break
        else:
            point.status = "failed"  # `gitrack run` itself failed: nothing recorded


def _sort_key(sort: str | None, points: list[Point]) -> tuple[str | None, bool]:
    """``-KEY`` highest first, ``KEY`` lowest first; default: the first metric, highest first."""
    if sort:
        key = sort.removeprefix("-")
        return key.removeprefix("metrics."), sort.startswith("-")
    for point in points:
        if point.metrics:
            return next(iter(point.metrics)), True
    return None, True


def _order(point: Point, key: str | None, descending: bool) -> tuple[bool, float]:
    value = point.metrics.get(key) if key else None
    if value is None or math.isnan(value):
        return True, 0.0  # no value: last
    return False, -value if descending else value


def _outcome(points: list[Point], completed: bool, duration: float) -> Outcome:
    if not completed:
        return Outcome(130, "interrupted", "SIGINT", duration, None, None)
    failed = any(p.status != "ok" for p in points)
    return Outcome(1 if failed else 0, "failed" if failed else "ok", None, duration, None, None)


def _summary(points: list[Point], key: str | None, descending: bool) -> dict[str, float]:
    """The sweep run's metrics: how many points, how many did not succeed, the best value."""
    out: dict[str, float] = {
        "points": len(points),
        "points_failed": sum(p.status != "ok" for p in points),
    }
    best = points[0].metrics.get(key) if points and key else None
    if key and best is not None:
        out[key] = best
    return out
