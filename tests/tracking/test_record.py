"""The note line: one JSON object per run, one line, timestamp first, strict JSON, round-trips."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import gitrack, note_lines, record, run_by_id
from hypothesis import given
from hypothesis import strategies as st

from gitrack.tracking.record import (
    RunRecord,
    add_line,
    decode_number,
    encode_number,
    parse_timestamp,
    utc_timestamp,
)

hex_text = st.text(alphabet="0123456789abcdef", min_size=1, max_size=40)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
)
number = st.one_of(st.integers(-(2**53), 2**53), st.floats())
strings = st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=3)

records = st.builds(
    RunRecord,
    started=moments.map(utc_timestamp),
    id=hex_text,
    command=st.lists(st.text(max_size=12), min_size=1, max_size=4),
    base_commit=hex_text,
    snapshot=hex_text,
    dirty=st.booleans(),
    status=st.sampled_from(["ok", "failed", "interrupted"]),
    exit_code=st.integers(0, 255),
    signal=st.none() | st.sampled_from(["SIGTERM", "SIGINT"]),
    duration_s=st.floats(0, 1e7),
    cpu_s=st.none() | st.floats(0, 1e7),
    max_rss_bytes=st.none() | st.integers(0, 2**40),
    name=st.none() | st.text(max_size=10),
    cwd=st.text(max_size=10),
    params=strings,
    metrics=st.dictionaries(st.text(max_size=8), number, max_size=4),
    tags=strings,
    user=st.text(max_size=8),
    host=st.text(max_size=8),
    env=strings,
    untracked_skipped=st.dictionaries(st.text(max_size=8), st.integers(0, 2**40), max_size=2),
    warnings=st.lists(st.text(max_size=12), max_size=2),
)


def _strict(line: str) -> dict[str, object]:
    def reject(constant: str) -> None:
        raise ValueError(f"bare {constant}: not JSON")

    data = json.loads(line, parse_constant=reject)
    assert isinstance(data, dict)
    return data


@given(records)
def test_line_is_one_strict_json_line_starting_with_the_timestamp(rec: RunRecord) -> None:
    line = rec.to_line()
    assert "\n" not in line and "\r" not in line
    assert line.startswith('{"started":"' + rec.started + '"')
    assert _strict(line)["id"] == rec.id


@given(records)
def test_line_round_trips(rec: RunRecord) -> None:
    line = rec.to_line()
    back = RunRecord.from_line(line)
    assert back.to_line() == line
    if not any(isinstance(v, float) and math.isnan(v) for v in rec.metrics.values()):
        assert back == rec


@given(st.lists(records, min_size=2, max_size=5))
def test_sorting_lines_sorts_runs_by_time(recs: list[RunRecord]) -> None:
    lines = sorted(r.to_line() for r in recs)
    started = [RunRecord.from_line(line).started for line in lines]
    assert started == sorted(started)
    moments_seen = [parse_timestamp(s) for s in started]
    assert moments_seen == sorted(moments_seen)


@given(st.lists(records, max_size=4), records)
def test_add_line_keeps_every_run_once_sorted(existing: list[RunRecord], new: RunRecord) -> None:
    text = "".join(r.to_line() + "\n" for r in existing)
    once = add_line(text, new.to_line())
    assert once.endswith("\n")
    lines = once[:-1].split("\n")
    assert lines == sorted(set(lines))
    assert set(lines) == {r.to_line() for r in [*existing, new]}
    assert add_line(once, new.to_line()) == once  # idempotent, as cat_sort_uniq


def test_add_line_does_not_split_inside_json_strings() -> None:
    rec = RunRecord(
        started=utc_timestamp(),
        id="ab12",
        command=["x"],
        base_commit="a" * 40,
        snapshot="b" * 40,
        dirty=False,
        params={"note": "line\u2028separator\x85next"},
    )
    text = add_line("", rec.to_line())
    assert text == rec.to_line() + "\n"
    assert RunRecord.from_line(text.rstrip("\n")).params == rec.params


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        '"a string"',
        "{}",
        '{"started": "2026-01-01T00:00:00.000000Z", "id": "abcd", "command": ["x"]}',
        '{"started": "yesterday", "id": "abcd", "command": ["x"], '
        '"base_commit": "aa", "snapshot": "bb"}',
        '{"started": "2026-01-01T00:00:00.000000Z", "id": "../../etc", "command": ["x"], '
        '"base_commit": "aa", "snapshot": "bb"}',
        '{"started": "2026-01-01T00:00:00.000000Z", "id": "abcd", "command": "rm -rf /", '
        '"base_commit": "aa", "snapshot": "bb"}',
    ],
)
def test_from_line_rejects_what_is_not_a_run(line: str) -> None:
    with pytest.raises((ValueError, TypeError)):
        RunRecord.from_line(line)


@given(number)
def test_numbers_encode_to_strict_json_and_back(value: float) -> None:
    encoded = encode_number(value)
    text = json.dumps(encoded, allow_nan=False)
    decoded = decode_number(json.loads(text))
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(decoded)
    else:
        assert decoded == value


def test_timestamps_are_fixed_width_utc() -> None:
    early = utc_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert early == "2026-01-02T03:04:05.000000Z"
    assert len(utc_timestamp()) == len(early)


def test_params_with_line_separators_survive_a_real_run(repo: Path) -> None:
    value = "a\u2028b\u0085c\nd"
    run_id = record("true", cwd=repo, options=("-p", f"note={value}", "--name", "x\ny"))
    assert len(note_lines(repo)) == 1
    run = run_by_id(repo, run_id)
    assert run["params"] == {"note": value}
    assert run["name"] == "x\ny"
    res = gitrack("ls", cwd=repo)
    assert res.code == 0 and "warning" not in res.err
