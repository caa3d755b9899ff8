"""The run record: one JSON object per run, one line in the commit's note.

The line starts with the ``started`` timestamp (fixed width, UTC) so that sorting a
note's lines sorts its runs by time; this is what makes `git notes merge -s
cat_sort_uniq` (and our own append) keep every run of two clones, in time order.
See docs/format.md.
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from gitrack import jsonsafe

FORMAT_VERSION = 1


def new_run_id() -> str:
    """16 hex digits: random, so two clones never mint the same id."""
    return os.urandom(8).hex()


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC, microseconds, always the same width (sortable as text)."""
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _metrics(value: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    if not value or type(value) is not dict:
        return out
    for key, raw in value.items():
        if type(raw) is float:
            out[str(key)] = raw
            continue
        try:
            out[key] = decode_number(raw)
        except ValueError:
            continue  # another tool's non-numeric value: not a metric, not fatal
    return out


_HEX = re.compile(r"[0-9a-f]+\Z").match
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z").match


def _is_hex(text: str) -> bool:
    return bool(_HEX(text))


def _dict(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


_ONLY_STR = {str}


def _str_dict(value: Any) -> dict[str, str]:
    """A JSON object's values as text; one of text only (nearly every line's) as it is: a
    JSON object's keys are always text, and ``value`` is the caller's to keep."""
    if not value or type(value) is not dict:
        return {}
    if set(map(type, value.values())) == _ONLY_STR:  # checked in C: 0.5 us a line less
        return value
    return {str(k): v if type(v) is str else str(v) for k, v in value.items()}


def _int_dict(value: Any) -> dict[str, int]:
    out = {}
    for key, number in _dict(value).items():
        if isinstance(number, int) and not isinstance(number, bool):
            out[key] = number
    return out


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_hex(value: Any) -> str | None:
    return value if isinstance(value, str) and _is_hex(value) else None


def _opt_float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _opt_int(value: Any) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return _in_range(value, 2**63, "an integer beyond int64")  # a table column's type


def _exit_code(value: Any) -> int:
    return _in_range(int(value), 2**31, "an exit_code beyond 32 bits")  # as any OS reports


def _in_range(number: int, bound: int, problem: str) -> int:
    """A forged note's 2**63 must not reach an int64 column: export would abort."""
    if not -bound <= number < bound:
        raise ValueError(problem)
    return number


def _str_list(value: Any) -> list[str]:
    return [w for w in value or () if isinstance(w, str)]


def _field(
    default: Any = MISSING,
    *,
    parse: Callable[[Any], Any] | None = None,
    omit_empty: bool = False,
    column: bool = False,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """One field of the record, described once: how a note line's value is read back
    (``parse``; None for the required fields checked in ``from_line``), whether the
    line leaves it out when empty, and whether it is an attribute column of tables."""
    meta = {"parse": parse, "omit_empty": omit_empty, "column": column}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(kw_only=True)
class RunRecord:
    """One run. The field order is the key order of its note line: ``started`` must stay
    first (see the module docstring)."""

    started: str = _field(column=True)
    v: int = _field(FORMAT_VERSION, parse=int)
    id: str = _field(column=True)
    name: str | None = _field(None, parse=_opt_str, omit_empty=True, column=True)
    experiment: str | None = _field(None, parse=_opt_str, omit_empty=True, column=True)
    parent: str | None = _field(None, parse=_opt_hex, omit_empty=True, column=True)  # run id
    # `gitrack rerun`: the id of the run this one re-executed.
    rerun_of: str | None = _field(None, parse=_opt_hex, omit_empty=True, column=True)
    status: str = _field("ok", parse=str, column=True)
    exit_code: int = _field(0, parse=_exit_code, column=True)
    signal: str | None = _field(None, parse=_opt_str, omit_empty=True)
    error: str | None = _field(None, parse=_opt_str, omit_empty=True)  # "ValueError: message"
    duration_s: float = _field(0.0, parse=float, column=True)
    cpu_s: float | None = _field(None, parse=_opt_float, omit_empty=True, column=True)
    max_rss_bytes: int | None = _field(None, parse=_opt_int, omit_empty=True, column=True)
    command: list[str] = _field()
    cwd: str = _field(".", parse=str)
    # The -m file, relative to the root: what `gitrack rerun` reads the metrics from again.
    metrics_file: str | None = _field(None, parse=_opt_str, omit_empty=True)
    base_commit: str = _field(column=True)  # the commit the run was made on
    snapshot: str = _field(column=True)  # the commit holding the working state it used
    dirty: bool = _field(False, parse=bool, column=True)
    params: dict[str, str] = _field(parse=_str_dict, factory=dict)
    metrics: dict[str, float] = _field(parse=_metrics, factory=dict)
    tags: dict[str, str] = _field(parse=_str_dict, factory=dict)
    datasets: dict[str, str] = _field(parse=_str_dict, omit_empty=True, factory=dict)
    outputs: dict[str, str] = _field(parse=_str_dict, omit_empty=True, factory=dict)
    # Big untracked files, kept in the data cache instead of git.
    large_files: dict[str, str] = _field(parse=_str_dict, omit_empty=True, factory=dict)
    links: dict[str, str] = _field(parse=_str_dict, omit_empty=True, factory=dict)
    metric_history: str | None = _field(None, parse=_opt_hex, omit_empty=True)  # parquet blob
    user: str = _field("", parse=str, column=True)
    host: str = _field("", parse=str, column=True)
    env: dict[str, str] = _field(parse=_str_dict, factory=dict)
    untracked_skipped: dict[str, int] = _field(parse=_int_dict, omit_empty=True, factory=dict)
    warnings: list[str] = _field(parse=_str_list, omit_empty=True, factory=list)
    note: str | None = _field(None, parse=_opt_str, omit_empty=True)  # set by `gitrack note`

    def to_line(self) -> str:
        data = {}
        for f in _FIELDS:
            value = getattr(self, f.name)
            # Empty optional fields stay out: the line stays short in `git log`.
            if f.metadata["omit_empty"] and value in (None, {}, []):
                continue
            data[f.name] = value
        data["metrics"] = {k: encode_number(v) for k, v in self.metrics.items()}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_line(cls, line: str) -> RunRecord:
        """Parse one note line. Raises ValueError for anything that is not a run."""
        return cls(**line_fields(line))

    @classmethod
    def from_public(cls, text: str, v: int = FORMAT_VERSION) -> RunRecord:
        """The record whose :func:`public_text` is ``text`` (``v``: its format version,
        which the public form leaves out). The text is gitrack's own, derived from a line
        :func:`line_fields` checked: every value already has its field's type."""
        values = json.loads(text)
        values.pop("commit", None)
        values["metrics"] = {k: decode_number(x) for k, x in values["metrics"].items()}
        return cls(v=v, **values)

    def to_public(self, commit: str) -> dict[str, Any]:
        """The JSON shape of `ls --json` / `show --json`; ``commit`` holds the note."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "commit": commit}
        out.update(public_dict(vars(self)))  # every field is set: no default is shared
        return out

    def columns(self) -> dict[str, Any]:
        """The record's attribute columns (see views.table), in field order."""
        return {name: getattr(self, name) for name in COLUMN_FIELDS}


_FIELDS = fields(RunRecord)
_PARSERS = [(f.name, f.metadata["parse"]) for f in _FIELDS if f.metadata["parse"] is not None]
_PARSE = dict(_PARSERS)
COLUMN_FIELDS = tuple(f.name for f in _FIELDS if f.metadata["column"])
# What a table of runs (gitrack.runs(), views/table.py) shows of each and what `--where`
# and `--sort` compare, besides its commit, base commit and snapshot (which a listed run
# holds): the listing index keeps these apart, so that a table or a search decodes only them.
TABLE_FIELDS = (
    "id", "name", "started", "duration_s", "status", "dirty", "exit_code", "user", "host",
    "experiment", "parent", "params", "metrics", "tags", "datasets", "outputs", "rerun_of",
    "cpu_s", "max_rss_bytes",
)  # fmt: skip
_table_values = operator.itemgetter(*TABLE_FIELDS)
# The public form: "id", "name" (and "commit") first, then every field but "v" in order,
# each with its default.
_PUBLIC_DEFAULTS: dict[str, Any] = {"id": None, "name": None}
_PUBLIC_DEFAULTS.update(
    (f.name, f.default if f.default_factory is MISSING else f.default_factory())
    for f in _FIELDS
    if f.name not in ("id", "name", "v")
)
# The public form as compact JSON, non-ASCII kept: json's C encoder, made once and called
# directly (json.dumps with options makes one per call): 0.8 us a run less, of ~11.
_encode_public = jsonsafe.compact_encoder()


def line_fields(line: str) -> dict[str, Any]:
    """The fields of a run's note line, checked and converted (absent ones left out: their
    defaults apply). Raises ValueError for anything that is not a run.

    Called for every run when the listing index is built: cheap checks (precompiled
    regexes, conversions only for the fields present). The parsers run in the line's key
    order; a line one of them refuses is parsed again in field order, so the error said is
    the first field's whatever the order of the keys.
    """
    data = jsonsafe.loads(line)  # from another clone: bounded depth and size
    if type(data) is not dict:
        raise ValueError("not a JSON object")
    started, run_id = data.get("started"), data.get("id")
    snapshot, base = data.get("snapshot"), data.get("base_commit")
    command = data.get("command")
    if not (isinstance(started, str) and _TIMESTAMP(started)):
        raise ValueError("missing or invalid 'started'")
    datetime.fromisoformat(started[:-1])  # a real date and time, not just digits
    if not (isinstance(run_id, str) and _HEX(run_id)):
        raise ValueError("missing or invalid 'id'")
    if not (isinstance(snapshot, str) and _HEX(snapshot)):
        raise ValueError("missing or invalid 'snapshot'")
    if not (isinstance(base, str) and _HEX(base)):
        raise ValueError("missing or invalid 'base_commit'")
    if not isinstance(command, list):
        raise ValueError("missing or invalid 'command'")
    try:
        values = {k: parse(x) for k, x in data.items() if (parse := _PARSE.get(k)) is not None}
    except (ValueError, TypeError, OverflowError):
        values = {name: parse(data[name]) for name, parse in _PARSERS if name in data}
    values["started"], values["id"], values["base_commit"] = started, run_id, base
    values["snapshot"] = snapshot
    values["command"] = [a if type(a) is str else str(a) for a in command]
    return values


def public_dict(values: dict[str, Any]) -> dict[str, Any]:
    """A run's public form without "commit" (``values``: its fields, as :func:`line_fields`
    gives them or a record holds them), to serialize: the defaults of the fields absent
    are shared (empty dicts and lists), never to be changed."""
    out = _PUBLIC_DEFAULTS.copy()  # in field order, which update() keeps
    out.update(values)
    out.pop("v", None)
    out["metrics"] = {k: encode_number(v) for k, v in out["metrics"].items()}
    return out


def public_text(public: dict[str, Any]) -> str:
    """The JSON of a :func:`public_dict`: what the listing index keeps and `ls --json`
    prints with the commit put first; :meth:`RunRecord.from_public` reads it back."""
    return _encode_public(public)


def table_row(public: dict[str, Any]) -> tuple[Any, ...]:
    """The values of :data:`TABLE_FIELDS` in a :func:`public_dict` (metrics encoded)."""
    return _table_values(public)  # type: ignore[no-any-return]


COMMITTED_TYPE = "committed"


def committed_line(run_id: str, snapshot: str) -> str:
    """A note line saying: this commit holds exactly the code run ``run_id`` used.

    Not a run: it has a ``type``, which run lines never have (readers skip it).
    """
    data = {
        "started": utc_timestamp(),
        "v": FORMAT_VERSION,
        "type": COMMITTED_TYPE,
        "run": run_id,
        "snapshot": snapshot,
    }
    return json.dumps(data, separators=(",", ":"))


def parse_committed_line(line: str) -> str | None:
    """The run id of a ``committed`` line, or None for any other line."""
    if '"type":' not in line:
        return None
    try:
        data = jsonsafe.loads(line)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("type") == COMMITTED_TYPE:
        run = data.get("run")
        return run if isinstance(run, str) and _is_hex(run) else None
    return None


def add_line(note_text: str, line: str) -> str:
    """A note with ``line`` added: sorted, unique lines, what cat_sort_uniq would make."""
    # Split on "\n" only, as git does: str.splitlines() would also split inside a JSON
    # string holding U+2028 or U+0085 (json.dumps leaves them unescaped).
    lines = {ln for ln in note_text.split("\n") if ln.strip()}
    lines.add(line)
    return "\n".join(sorted(lines)) + "\n"


def merge_note_texts(ours: str, theirs: str) -> str:
    """Both sides' lines, each once, sorted: `git notes merge -s cat_sort_uniq`."""
    lines = {ln for ln in (ours + "\n" + theirs).split("\n") if ln.strip()}
    return "\n".join(sorted(lines)) + "\n" if lines else ""


def encode_number(value: float) -> float | str:
    """JSON has no NaN or infinity: keep them as strings that say what they are."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def decode_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a metric")
    if isinstance(value, (int, float)):
        try:
            float(value)  # a forged 10**400 in a note has no float: not a metric
        except OverflowError as exc:
            raise ValueError(f"number out of range: {value}") from exc
        return value  # an int stays an int: the line round-trips byte for byte
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    raise ValueError(f"not a number: {value!r}")
