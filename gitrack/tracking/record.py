"""The run record: one JSON object per run, one line in the commit's note.

The line starts with the ``started`` timestamp (fixed width, UTC) so that sorting a
note's lines sorts its runs by time; this is what makes `git notes merge -s
cat_sort_uniq` (and our own append) keep every run of two clones, in time order.
See docs/format.md.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

FORMAT_VERSION = 1
STATUSES = ("ok", "failed", "interrupted")

# Key order of the note line; ``started`` must stay first (see module docstring).
_LINE_KEYS = (
    "started",
    "v",
    "id",
    "name",
    "status",
    "exit_code",
    "signal",
    "duration_s",
    "cpu_s",
    "max_rss_bytes",
    "command",
    "cwd",
    "base_commit",
    "snapshot",
    "dirty",
    "params",
    "metrics",
    "tags",
    "datasets",
    "outputs",
    "large_files",
    "links",
    "metric_history",
    "user",
    "host",
    "env",
    "untracked_skipped",
    "warnings",
)


def new_run_id() -> str:
    """16 hex digits: random, so two clones never mint the same id."""
    return os.urandom(8).hex()


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC, microseconds, always the same width (sortable as text)."""
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


@dataclass
class RunRecord:
    started: str
    id: str
    command: list[str]
    base_commit: str  # the commit the run was made on (the snapshot's parent)
    snapshot: str  # the commit holding the working state the run used
    dirty: bool
    status: str = "ok"
    exit_code: int = 0
    signal: str | None = None
    duration_s: float = 0.0
    cpu_s: float | None = None
    max_rss_bytes: int | None = None
    name: str | None = None
    cwd: str = "."
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    user: str = ""
    host: str = ""
    env: dict[str, str] = field(default_factory=dict)
    untracked_skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    datasets: dict[str, str] = field(default_factory=dict)  # path -> xxh128 hash
    outputs: dict[str, str] = field(default_factory=dict)
    large_files: dict[str, str] = field(default_factory=dict)  # big untracked files, cached
    links: dict[str, str] = field(default_factory=dict)  # data path -> symlink target
    metric_history: str | None = None  # blob id of the step metrics (parquet)
    v: int = FORMAT_VERSION

    def to_line(self) -> str:
        data = {key: getattr(self, key) for key in _LINE_KEYS}
        # Leave out empty optional fields: the line stays short in `git log`.
        optional = ("name", "signal", "untracked_skipped", "warnings", "cpu_s", "max_rss_bytes")
        for key in (*optional, "datasets", "outputs", "large_files", "links", "metric_history"):
            if data[key] in (None, {}, []):
                del data[key]
        data["metrics"] = {k: encode_number(v) for k, v in self.metrics.items()}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_line(cls, line: str) -> RunRecord:
        """Parse one note line. Raises ValueError for anything that is not a run.

        Called for every run on every `gitrack ls`: cheap checks (precompiled regexes,
        conversions only for fields that are present).
        """
        data = json.loads(line)
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
        get = data.get
        return cls(
            started=started,
            id=run_id,
            command=[a if type(a) is str else str(a) for a in command],
            base_commit=base,
            snapshot=snapshot,
            dirty=bool(get("dirty", False)),
            status=str(get("status", "ok")),
            exit_code=int(get("exit_code", 0)),
            signal=_opt_str(get("signal")),
            duration_s=float(get("duration_s", 0.0)),
            cpu_s=_opt_float(get("cpu_s")),
            max_rss_bytes=_opt_int(get("max_rss_bytes")),
            name=_opt_str(get("name")),
            cwd=str(get("cwd", ".")),
            params=_str_dict(get("params")),
            metrics=_metrics(get("metrics")),
            tags=_str_dict(get("tags")),
            user=str(get("user", "")),
            host=str(get("host", "")),
            env=_str_dict(get("env")),
            untracked_skipped=_int_dict(get("untracked_skipped")),
            warnings=[w for w in get("warnings") or () if isinstance(w, str)],
            datasets=_str_dict(get("datasets")),
            outputs=_str_dict(get("outputs")),
            large_files=_str_dict(get("large_files")),
            links=_str_dict(get("links")),
            metric_history=_opt_hex(get("metric_history")),
            v=int(get("v", FORMAT_VERSION)),
        )

    def to_public(self, commit: str) -> dict[str, Any]:
        """The JSON shape of `ls --json` / `show --json`; ``commit`` holds the note."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "commit": commit,
            "base_commit": self.base_commit,
            "started": self.started,
            "duration_s": self.duration_s,
            "command": self.command,
            "cwd": self.cwd,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "status": self.status,
            "params": self.params,
            "metrics": {k: encode_number(v) for k, v in self.metrics.items()},
            "tags": self.tags,
            "dirty": self.dirty,
            "snapshot": self.snapshot,
            "user": self.user,
            "host": self.host,
            "env": self.env,
            "cpu_s": self.cpu_s,
            "max_rss_bytes": self.max_rss_bytes,
            "untracked_skipped": self.untracked_skipped,
            "warnings": self.warnings,
            "datasets": self.datasets,
            "outputs": self.outputs,
            "large_files": self.large_files,
            "links": self.links,
            "metric_history": self.metric_history,
        }
        return out


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
        data = json.loads(line)
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


def _str_dict(value: Any) -> dict[str, str]:
    if not value or type(value) is not dict:
        return {}
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
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None
