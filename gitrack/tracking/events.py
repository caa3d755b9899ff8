"""How the Python API inside a `gitrack run` command talks to that run: an event file.

`gitrack run` puts ``GITRACK_RUN_ID`` and ``GITRACK_EVENTS`` (a path in the git common
dir) in the command's environment; the API appends JSON lines there, buffered, and
`gitrack run` reads them when the command has exited. One run, not two.

Event lines: ``{"e":"param","k":KEY,"v":VALUE}``, ``{"e":"tag",…}``,
``{"e":"metric","k":KEY,"v":NUMBER,"s":STEP,"t":EPOCH}``, ``{"e":"dataset","k":PATH,"h":HASH}``,
``{"e":"output","k":PATH}``, ``{"e":"failed"}``.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_ID_VAR = "GITRACK_RUN_ID"
EVENTS_VAR = "GITRACK_EVENTS"
PARAMS_VAR = "GITRACK_PARAMS"  # the -p params, so the API can refuse a conflicting value
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
    name: str | None = None  # start_run(name=...) inside `gitrack run`


def child_environment(run_id: str, path: Path, params: dict[str, str]) -> dict[str, str]:
    return {RUN_ID_VAR: run_id, EVENTS_VAR: str(path), PARAMS_VAR: json.dumps(params)}


def attached_run() -> tuple[str, Path, dict[str, str]] | None:
    """(run id, event file, params) when this process runs under `gitrack run`."""
    run_id = os.environ.get(RUN_ID_VAR)
    path = os.environ.get(EVENTS_VAR)
    if not run_id or not path:
        return None
    try:
        params = json.loads(os.environ.get(PARAMS_VAR, "{}"))
    except ValueError:
        params = {}
    return run_id, Path(path), {str(k): str(v) for k, v in dict(params).items()}


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
    """Everything the command logged; unreadable lines (a crash mid-write) are skipped."""
    logged = Logged()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return logged
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            _apply(logged, json.loads(line))
        except (ValueError, TypeError, KeyError):
            continue
    return logged


def _apply(logged: Logged, event: dict[str, Any]) -> None:
    kind = event["e"]
    if kind == "param":
        logged.params[str(event["k"])] = str(event["v"])
    elif kind == "tag":
        logged.tags[str(event["k"])] = str(event["v"])
    elif kind == "metric":
        value = float(event["v"])
        key = str(event["k"])
        logged.metrics[key] = value
        logged.steps.append((key, int(event["s"]), value, float(event["t"])))
    elif kind == "dataset":
        logged.datasets[str(event["k"])] = str(event["h"])
    elif kind == "output":
        logged.outputs.append(str(event["k"]))
    elif kind == "failed":
        logged.failed = True
    elif kind == "name":
        logged.name = str(event["v"])
