"""Changes to finished runs (hide, restore, tag, rename, annotate, late metrics) as note lines.

A note is a set of lines merged by union (`cat_sort_uniq`), so a change is never a rewrite
of the run's line: it is a new line of its own, with a ``type``::

    {"started":"…","v":1,"type":"edit","run":ID,"set":{"tags.verdict":"best"},"unset":["note"]}
    {"started":"…","v":1,"type":"delete","run":ID}
    {"started":"…","v":1,"type":"undelete","run":ID}

When runs load, every such line of every note is applied in the order of
``(started, line text)``: the last writer by timestamp wins, and two lines with the same
timestamp are ordered by their bytes. That order depends only on the *set* of lines, which
is the same on every clone once they have exchanged notes, so every clone computes the same
state whatever order it merged in (docs/format.md, "Edit lines").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from gitrack import jsonsafe
from gitrack.tracking.record import (
    FORMAT_VERSION,
    RunRecord,
    decode_number,
    encode_number,
    parse_timestamp,
    utc_timestamp,
)

EDIT, DELETE, UNDELETE = "edit", "delete", "undelete"
KINDS = (EDIT, DELETE, UNDELETE)
# Keys an edit may set: the run's name and description, one tag, one metric.
PLAIN_KEYS = ("name", "note")
PREFIXES = ("tags.", "metrics.")

_HEX_ID = re.compile(r"[0-9a-f]{4,64}\Z").match
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z").match

# ("edit", run id, started, line, kind, set, unset): what the note cache keeps per line.
EditItem = tuple[str, str, str, str, str, dict[str, Any], tuple[str, ...]]


def edit_line(
    run_id: str,
    kind: str,
    started: str,
    values: dict[str, Any] | None = None,
    unset: Iterable[str] = (),
) -> str:
    """One edit line; ``started`` first, so sorted note lines stay in time order."""
    data: dict[str, Any] = {"started": started, "v": FORMAT_VERSION, "type": kind, "run": run_id}
    if values:
        data["set"] = {
            k: encode_number(v) if k.startswith("metrics.") else v for k, v in values.items()
        }
    removed = sorted(set(unset))
    if removed:
        data["unset"] = removed
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def is_typed_line(line: str) -> bool:
    """A line that is not a run (runs never have a ``type``): cheap pre-check."""
    return '"type":' in line


def parse_edit_line(line: str) -> EditItem | None:
    """The parsed edit of a line, or None if it is not a valid edit line.

    Notes come from other clones: everything is checked, and a key or value that is not
    one an edit may carry is dropped (the rest of the line still applies).
    """
    try:
        data = jsonsafe.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") not in KINDS:
        return None
    started, run_id = data.get("started"), data.get("run")
    if not (isinstance(started, str) and _TIMESTAMP(started)):
        return None
    if not (isinstance(run_id, str) and _HEX_ID(run_id)):
        return None
    kind = str(data["type"])
    values: dict[str, Any] = {}
    unset: tuple[str, ...] = ()
    if kind == EDIT:
        raw = data.get("set")
        for key, value in raw.items() if isinstance(raw, dict) else ():
            checked = _checked_value(str(key), value)
            if checked is not None:
                values[str(key)] = checked
        raw_unset = data.get("unset")
        if isinstance(raw_unset, list):
            unset = tuple(k for k in raw_unset if isinstance(k, str) and _editable(k))
    return ("edit", run_id, started, line, kind, values, unset)


def has_type(line: str) -> bool:
    """Whether a line is a JSON object with a top-level ``type``: not a run (a line type of
    a later format, or an edit line too damaged to apply); readers skip it silently."""
    try:
        data = jsonsafe.loads(line)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("type"), str)


def _editable(key: str) -> bool:
    return key in PLAIN_KEYS or any(key.startswith(p) and len(key) > len(p) for p in PREFIXES)


def _checked_value(key: str, value: Any) -> Any:
    if not _editable(key):
        return None
    if key.startswith("metrics."):
        try:
            return decode_number(value)
        except ValueError:
            return None
    return value if isinstance(value, str) else None


@dataclass
class RunState:
    """What the edit lines of one run add up to."""

    hidden: bool = False
    hidden_at: str | None = None  # timestamp of the delete line in force
    changes: dict[str, Any] = field(default_factory=dict)  # key -> value, None = removed
    latest: str = ""  # timestamp of the newest edit line of this run

    def apply_to(self, record: RunRecord) -> RunRecord:
        """The record with these changes applied (a new object; the original is unchanged)."""
        if not self.changes:
            return record
        tags, metrics = dict(record.tags), dict(record.metrics)
        plain: dict[str, Any] = {}
        for key, value in self.changes.items():
            if key in PLAIN_KEYS:
                plain[key] = value
            elif key.startswith("tags."):
                _put(tags, key[len("tags.") :], value)
            elif key.startswith("metrics."):
                _put(metrics, key[len("metrics.") :], value)
        return replace(record, tags=tags, metrics=metrics, **plain)


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


def fold(items: Iterable[EditItem]) -> dict[str, RunState]:
    """Run id -> state, applying the edits in ``(started, line)`` order.

    The order is a function of the set of lines only, so it does not matter which clone
    merged first or in which order the notes were read.
    """
    states: dict[str, RunState] = {}
    # One line on two commits (a note copied by an amend or rebase) applies once.
    unique = {(item[2], item[3]): item for item in items}
    for _tag, run_id, started, _line, kind, values, unset in (
        unique[key] for key in sorted(unique)
    ):
        state = states.setdefault(run_id, RunState())
        state.latest = started
        if kind == DELETE:
            state.hidden, state.hidden_at = True, started
        elif kind == UNDELETE:
            state.hidden, state.hidden_at = False, None
        else:
            for key in unset:
                state.changes[key] = None
            state.changes.update(values)
    return states


def next_timestamp(after: str) -> str:
    """Now, but strictly after ``after``: on one clone, a new edit always takes effect,
    even when the clock stepped back or two edits fall in one microsecond."""
    now = utc_timestamp()
    if not after or now > after:
        return now
    return utc_timestamp(parse_timestamp(after) + timedelta(microseconds=1))
