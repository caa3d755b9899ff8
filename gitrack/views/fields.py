"""The fields `--where` and `--sort` name, and how each compares with a literal.

Every field has a type, and a comparison is typed (docs/search.md has the table):

- a quoted literal compares as text, exactly (``params.lr = '0.1'`` is not ``'0.10'``);
- an unquoted number compares numerically, with values that are numbers: a param or
  tag that does not read as a number is not comparable with one (unknown, see below);
- ids, commits, names, users and hosts are text, never numbers; metrics and the other
  numeric attributes are numbers, never text: mixing them is refused with the column;
- a time (``started``, ``attributes.start_time``, ``end_time``) compared with a number
  reads it as milliseconds since the epoch, as MLflow stores times; with a quoted
  literal, as an ISO 8601 time (naive means UTC);
- ``status`` takes gitrack's and MLflow's words, in any case.

A comparison on a field the run does not have is *unknown* (SQL's NULL): it matches
neither way, and ``not`` of unknown is unknown. ``IS NULL`` asks for the missing field.
A predicate here returns True, False or None (unknown).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

Row = dict[str, Any]
Truth = bool | None  # None: unknown
Check = Callable[[Row], Truth]

# Field kinds: how values read and which literals they take.
NUMBER = "number"  # metrics, duration_s, exit_code, cpu_s, max_rss_bytes
PARAM = "param"  # params, tags, datasets.PATH, outputs.PATH: text that may read as a number
TEXT = "text"  # name, user, host
OBJECT_ID = "object id"  # id, commit, base_commit, snapshot: text, hex prefixes match
TIME = "time"  # started (start_time, created), end_time
STATUS = "status"
FLAG = "flag"  # dirty
DATASETS = "datasets"  # datasets.name / datasets.digest: one value per dataset

GROUPS = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "parameters": "params",
    "parameter": "params",
    "tags": "tags",
    "tag": "tags",
    "datasets": "datasets",
    "dataset": "datasets",
    "outputs": "outputs",
    "output": "outputs",
}
ATTRIBUTE_PREFIXES = ("attributes", "attribute", "attr", "run")

# Attribute spellings (matched in any case) -> (row column, kind). MLflow's names too.
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "id": ("id", OBJECT_ID),
    "run_id": ("id", OBJECT_ID),
    "name": ("name", TEXT),
    "run_name": ("name", TEXT),
    "run name": ("name", TEXT),
    "status": ("status", STATUS),
    "commit": ("commit", OBJECT_ID),
    "base_commit": ("base_commit", OBJECT_ID),
    "snapshot": ("snapshot", OBJECT_ID),
    "started": ("started", TIME),
    "start_time": ("started", TIME),
    "created": ("started", TIME),
    "end_time": ("end_time", TIME),
    "duration_s": ("duration_s", NUMBER),
    "exit_code": ("exit_code", NUMBER),
    "cpu_s": ("cpu_s", NUMBER),
    "max_rss_bytes": ("max_rss_bytes", NUMBER),
    "dirty": ("dirty", FLAG),
    "user": ("user", TEXT),
    "user_id": ("user", TEXT),
    "host": ("host", TEXT),
    "experiment": ("experiment", TEXT),
    "experiment_name": ("experiment", TEXT),
    "parent": ("parent", TEXT),
    "parent_run_id": ("parent", TEXT),
    "rerun_of": ("rerun_of", TEXT),
}
ATTRIBUTE_NAMES = (
    "id", "name", "status", "commit", "started", "end_time", "duration_s", "dirty",
    "exit_code", "user", "host", "base_commit", "snapshot", "cpu_s", "max_rss_bytes",
    "experiment", "parent", "rerun_of",
)  # fmt: skip

# gitrack's status words and MLflow's (any case) -> gitrack's. RUNNING and SCHEDULED are
# valid words that no recorded run has: a run is recorded when it ends.
STATUS_WORDS = {
    "ok": "ok",
    "finished": "ok",
    "failed": "failed",
    "interrupted": "interrupted",
    "killed": "interrupted",
    "running": "running",
    "scheduled": "scheduled",
}
MLFLOW_STATUS = {"ok": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}

EQUALITY = ("=", "==", "!=", "<>")
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_MS = timedelta(milliseconds=1)
_US = timedelta(microseconds=1)
_DIGIT_RUN = re.compile("[0-9]*")  # one class, repeated: cannot backtrack


class FieldError(Exception):
    """A field or literal the grammar reads but cannot use; the parser adds the column."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | flag
    value: Any  # str | float | bool
    text: str  # as typed (numbers: read exactly from it)
    position: int


@dataclass(frozen=True)
class Field:
    name: str  # canonical: metrics.auc, started, datasets.name
    kind: str
    get: Callable[[Row], Any]  # the run's value, or None when it has none
    position: int


# ------------------------------------------------------------------------- naming
def resolve(parts: Sequence[str], quoted: Sequence[bool], position: int) -> Field:
    """``('metrics', 'auc')`` -> metrics.auc; ``('attributes', 'start_time')`` -> started."""
    prefix = parts[0].lower()
    if len(parts) == 1:
        return _attribute(parts[0], position)
    key = ".".join(parts[1:])
    if prefix in GROUPS:
        group = GROUPS[prefix]
        if group == "datasets" and len(parts) == 2 and not quoted[1]:
            special = _dataset_attribute(parts[1], position)
            if special is not None:
                return special
        column = f"{group}.{key}"
        kind = NUMBER if group == "metrics" else PARAM
        return Field(column, kind, lambda row: row.get(column), position)
    if prefix in ATTRIBUTE_PREFIXES:
        return _attribute(key, position)
    raise FieldError(
        f"unknown prefix {short(parts[0])}: use metrics., params., tags., datasets., outputs. "
        "or attributes.",
        position,
    )


def _attribute(name: str, position: int) -> Field:
    spec = ATTRIBUTES.get(name.lower())
    if spec is None:
        if name.lower() == "artifact_uri":
            raise FieldError(
                "gitrack runs have no artifact_uri: a run's files are outputs.PATH", position
            )
        raise FieldError(
            f"unknown field {short(name)}: use metrics.KEY, params.KEY, tags.KEY, datasets.PATH, "
            f"or one of {', '.join(ATTRIBUTE_NAMES)}",
            position,
        )
    column, kind = spec
    if column == "end_time":
        return Field(column, kind, _end_time, position)
    if kind == TIME:
        return Field(column, kind, lambda row: _time(row.get(column)), position)
    return Field(column, kind, lambda row: row.get(column), position)


def _dataset_attribute(key: str, position: int) -> Field | None:
    """MLflow's ``datasets.name`` / ``.digest``: our datasets' paths and hashes."""
    if key == "name":
        return Field("datasets.name", DATASETS, _dataset_paths, position)
    if key == "digest":
        return Field("datasets.digest", DATASETS, _dataset_hashes, position)
    if key == "context":
        raise FieldError(
            "gitrack records no dataset context: filter on datasets.name (the path), "
            "datasets.digest (the hash) or datasets.`PATH`",
            position,
        )
    return None


def _dataset_paths(row: Row) -> list[str] | None:
    return [key[9:] for key in row if key.startswith("datasets.")] or None


def _dataset_hashes(row: Row) -> list[str] | None:
    return [str(v) for key, v in row.items() if key.startswith("datasets.")] or None


# -------------------------------------------------------------------- values
def scan_number(text: str, start: int) -> int:
    """The end of the number at ``start`` (sign, digits, point, exponent, or inf/nan),
    or -1. Linear: a long run of digits is read once."""
    end, size = start, len(text)
    if end < size and text[end] in "+-":
        end += 1
    for word in ("infinity", "inf", "nan"):
        if text[end : end + len(word)].lower() == word:
            after = end + len(word)
            return after if after == size or not _continues(text[after]) else -1
    digits = end
    end = run_end(_DIGIT_RUN, text, end)
    count = end - digits
    if end < size and text[end] == ".":
        fraction = end + 1
        end = run_end(_DIGIT_RUN, text, fraction)
        count += end - fraction
    if count == 0:
        return -1
    if end < size and text[end] in "eE":
        first = end + 2 if text[end + 1 : end + 2] in ("+", "-") else end + 1
        exponent = run_end(_DIGIT_RUN, text, first)
        if exponent > first:
            end = exponent
    return end if end == size or not _continues(text[end]) else -1


def run_end(pattern: re.Pattern[str], text: str, position: int) -> int:
    """Where a run of ``pattern`` (a repeated class, which always matches) ends."""
    found = pattern.match(text, position)
    return found.end() if found else position


def _continues(char: str) -> bool:
    return char.isalnum() or char in "_."


def exact_number(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:  # an exponent beyond Decimal's range: inf or 0 as a float
        return Decimal(float(text))


def number_of_text(value: str) -> Decimal | None:
    """A param's text as a number, if all of it is one (``'0.10'``; not ``'1_0'``, ``' 1'``)."""
    if not value or scan_number(value, 0) != len(value):
        return None
    return exact_number(value)


def _time(value: Any) -> datetime | None:
    """A run's ``started`` (ISO 8601, UTC) as a datetime in UTC; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value[:-1] if value.endswith("Z") else value)
        return moment.replace(tzinfo=_UTC) if moment.tzinfo is None else moment.astimezone(_UTC)
    except (ValueError, OverflowError):  # not a time, or out of range once in UTC
        return None


def _end_time(row: Row) -> datetime | None:
    start, duration = _time(row.get("started")), row.get("duration_s")
    if start is None or not isinstance(duration, (int, float)) or isinstance(duration, bool):
        return None
    try:
        return start + timedelta(seconds=duration)
    except (OverflowError, ValueError):  # NaN or an absurd duration from a hostile note
        return None


def epoch_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch, as MLflow's start_time and end_time."""
    return (moment - _EPOCH) // _MS


def epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _US


def iso(moment: datetime) -> str:
    return moment.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def short(text: str) -> str:
    """``text`` quoted for a message, cut to a readable length."""
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "…"


def parse_time(literal: Literal) -> datetime:
    text = literal.value
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_UTC)
        return moment.astimezone(_UTC)
    except (ValueError, OverflowError):
        raise FieldError(
            f"{short(text)} is not a time: write ISO 8601 such as '2026-01-31' or "
            "'2026-01-31T12:00:00Z', or milliseconds since the epoch unquoted",
            literal.position,
        ) from None


def status_of(value: Any) -> str:
    """A run's status in gitrack's words (another tool's word, lower-cased)."""
    text = str(value).lower()
    return STATUS_WORDS.get(text, text)


def flag_of(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    return True if text == "true" else False if text == "false" else None


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
