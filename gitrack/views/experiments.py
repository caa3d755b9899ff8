"""Experiments: their run counts and best runs (`gitrack experiments`), as data and text.

Names come from notes: everything shown goes through ``printable``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gitrack.tracking import history
from gitrack.views.render import format_number, local_time
from gitrack.views.terminal import printable

NO_EXPERIMENT = ""  # runs recorded without one are listed under this key


@dataclass
class Experiment:
    name: str  # "" for the runs of no experiment
    runs: int
    latest: str  # start time of its newest run
    best: history.Run | None = None  # by the chosen metric
    best_value: float | None = None

    def to_public(self) -> dict[str, Any]:
        return {
            "experiment": self.name or None,
            "runs": self.runs,
            "latest": self.latest,
            "best_run": self.best.id if self.best is not None else None,
            "best_value": self.best_value,
        }


def summarize(runs: list[history.Run], metric: str | None = None) -> list[Experiment]:
    """Experiments by name (the runs of none last); ``metric``: ``KEY`` for the highest
    value, ``-KEY`` for the lowest. NaN never wins; runs without the metric are skipped."""
    key, lowest = (metric[1:], True) if metric and metric.startswith("-") else (metric, False)
    found: dict[str, Experiment] = {}
    for run in runs:  # newest first: the first seen is the latest
        name = run.record.experiment or NO_EXPERIMENT
        entry = found.get(name)
        if entry is None:
            entry = found[name] = Experiment(name, 0, run.started)
        entry.runs += 1
        value = run.record.metrics.get(key) if key else None
        if value is None or math.isnan(value):
            continue
        if entry.best_value is None or (
            value < entry.best_value if lowest else value > entry.best_value
        ):
            entry.best, entry.best_value = run, float(value)
    return sorted(found.values(), key=lambda e: (e.name == NO_EXPERIMENT, e.name))


def experiments_table(experiments: list[Experiment], metric: str | None) -> str:
    best = f"BEST {metric.lstrip('-')}" if metric else "BEST"
    headers = ("EXPERIMENT", "RUNS", "LATEST", best, "RUN")
    rows = [headers, *(_row(e) for e in experiments)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if not metric:
        lines.append("(pick the best run by a metric with --metric KEY, or --metric -KEY)")
    return "\n".join(line.rstrip() for line in lines)


def _row(e: Experiment) -> tuple[str, str, str, str, str]:
    run = "-"
    if e.best is not None:
        run = e.best.id[:8] + (f" ({e.best.record.name})" if e.best.record.name else "")
    value = format_number(e.best_value) if e.best_value is not None else "-"
    return (printable(e.name or "(none)"), str(e.runs), local_time(e.latest), value, printable(run))
