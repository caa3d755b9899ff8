"""How the Python API inside a `gitrack run` command talks to that run: an event file.

`gitrack run` puts ``GITRACK_RUN_ID`` and ``GITRACK_EVENTS`` (a path in the git common
dir) in the command's environment; the API appends JSON lines there, buffered, and
`gitrack run` reads them when the command has exited. One run, not two.

Event lines: ``{"e":"param","k":KEY,"v":VALUE}``, ``{"e":"tag",…}``,
``{"e":"metric","k":KEY,"v":NUMBER,"s":STEP,"t":EPOCH}``, ``{"e":"dataset","k":PATH,"h":HASH}``,
``{"e":"output","k":PATH}``, ``{"e":"failed","m":"ValueError: message"}`` (``m`` optional).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitrack import jsonsafe

RUN_ID_VAR = "GITRACK_RUN_ID"
EVENTS_VAR = "GITRACK_EVENTS"
PARAMS_VAR = "GITRACK_PARAMS"  # the -p params, so the API can refuse a conflicting value
PARENT_VAR = "GITRACK_PARENT_RUN"  # runs recorded inside a run are its children
EXPERIMENT_VAR = "GITRACK_EXPERIMENT"
FLUSH_EVERY_S = 1.0
FLUSH_EVERY_EVENTS = 10_000


@dataclass
class Logged:
    """What the Python API logged during a run: what `gitrack run` reads from the event file."""

    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # last value per key
    steps: list[tuple[str, int, float, float]] = field(default_factory=list)  # key, step, value, t
    datasets: dict[str, str] = field(default_factory=dict)  # path -> hash, taken when logged
    outputs: list[str] = field(default_factory=list)  # paths, hashed when the run ends
    failed: bool = False  # an exception left a start_run() block
    error: str | None = None  # its type and message, "ValueError: bad input"
    name: str | None = None  # start_run(name=...) inside `gitrack run`
    experiment: str | None = None  # start_run(experiment=...) inside `gitrack run`
    warnings: list[str] = field(default_factory=list)  # lines of the event file skipped


def experiment_problem(name: str) -> str | None:
    """Why ``name`` cannot be an experiment's name, or None."""
    if not name.strip() or len(name) > 250 or any(ord(c) < 32 or c == "\x7f" for c in name):
        return (
            f"experiment name {name[:40]!r} is not valid: 1 to 250 characters, "
            "no control characters (e.g. -e lr-search)"
        )
    return None


def child_environment(
    run_id: str, path: Path, params: dict[str, str], experiment: str | None = None
) -> dict[str, str]:
    """What the command of run ``run_id`` gets: the API attaches to the run, and a
    `gitrack run` (or ``start_run(nested=True)``) inside it records a child run of it, in
    the same experiment."""
    env = {
        RUN_ID_VAR: run_id,
        EVENTS_VAR: str(path),
        PARAMS_VAR: json.dumps(params),
        PARENT_VAR: run_id,
    }
    if experiment:
        env[EXPERIMENT_VAR] = experiment
    return env


def attached_run() -> tuple[str, Path, dict[str, str]] | None:
    """(run id, event file, params) when this process runs under `gitrack run`."""
    run_id = os.environ.get(RUN_ID_VAR)
    path = os.environ.get(EVENTS_VAR)
    if not run_id or not path:
        return None
    try:
        params = jsonsafe.loads(os.environ.get(PARAMS_VAR, "{}"))
    except ValueError:
        params = {}
    if not isinstance(params, dict):
        params = {}
    return run_id, Path(path), {str(k): str(v) for k, v in params.items()}


class EventWriter:
    """Buffered appends: logging a metric costs a list append, not a write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._buffer: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()

    def add(self, event: dict[str, Any]) -> None:
        self._buffer.append(event)
        if len(self._buffer) >= FLUSH_EVERY_EVENTS or (
            time.monotonic() - self._last_flush > FLUSH_EVERY_S
        ):
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            text = "".join(_line(event) for event in self._buffer)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(text)
            self._buffer.clear()
        self._last_flush = time.monotonic()


def _line(event: dict[str, Any]) -> str:
    value = event.get("v")
    if isinstance(value, float) and not math.isfinite(value):
        event = {**event, "v": repr(value)}  # 'nan', 'inf', '-inf': JSON has no literal
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"


def read_events(path: Path) -> Logged:
    """Everything the command logged.

    The command can write anything to this file, or die mid-line (maybe mid-character):
    a line that is not a whole event is skipped, and the run says so in a warning.
    """
    logged = Logged()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return logged
    except OSError as exc:
        logged.warnings.append(f"cannot read the Python API's event file {path}: {exc}")
        return logged
    skipped: list[str] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            # Line by line: one cut character must not cost every other event.
            _apply(logged, jsonsafe.loads(line.decode("utf-8")))
        except KeyError as exc:
            skipped.append(f"line {number}: no {exc} key")
        except (ValueError, TypeError, OverflowError) as exc:
            skipped.append(f"line {number}: {exc}")
    if skipped:
        logged.warnings.append(
            f"skipped {len(skipped)} unreadable line(s) of the Python API's event file "
            f"({skipped[0]})"
        )
    return logged


def _apply(logged: Logged, event: dict[str, Any]) -> None:
    kind = event["e"]
    if kind == "param":
        logged.params[str(event["k"])] = str(event["v"])
    elif kind == "tag":
        logged.tags[str(event["k"])] = str(event["v"])
    elif kind == "metric":
        key, value, step = str(event["k"]), float(event["v"]), _step(event["s"])
        moment = float(event["t"])
        logged.metrics[key] = value  # only once the whole event has been read
        logged.steps.append((key, step, value, moment))
    elif kind == "dataset":
        logged.datasets[str(event["k"])] = str(event["h"])
    elif kind == "output":
        logged.outputs.append(str(event["k"]))
    elif kind == "failed":
        logged.failed = True
        if event.get("m") is not None:
            logged.error = str(event["m"])
    elif kind == "name":
        logged.name = str(event["v"])
    elif kind == "experiment":
        logged.experiment = str(event["v"])


def _step(value: Any) -> int:
    step = int(value)
    if not -(2**63) <= step < 2**63:  # steps are stored as int64
        raise ValueError("a step beyond int64")
    return step
