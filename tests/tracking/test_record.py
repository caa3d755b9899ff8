"""The note line: one JSON object per run, one line, timestamp first, strict JSON, round-trips."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import gitrack, note_lines, record, run_by_id
from hypothesis import given, settings
from hypothesis import strategies as st

from gitrack import jsonsafe
from gitrack.tracking import record as record_module
from gitrack.tracking.record import (
    RunRecord,
    add_line,
    decode_number,
    encode_number,
    line_fields,
    parse_timestamp,
    public_dict,
    public_text,
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


# ------------------------------------------- the listing index's way of reading lines
def _reference_from_line(line: str) -> RunRecord:
    """from_line as it was before its fast path: every parser in field order."""
    data = jsonsafe.loads(line)
    if type(data) is not dict:
        raise ValueError("not a JSON object")
    fast = RunRecord.from_line(line)  # the required fields' checks are shared
    values = {name: parse(data[name]) for name, parse in record_module._PARSERS if name in data}
    required = ("started", "id", "command", "base_commit", "snapshot")
    return RunRecord(**{name: getattr(fast, name) for name in required}, **values)


def _outcome(read: Callable[[], RunRecord]) -> tuple[str, str]:
    try:
        rec = read()
    except (ValueError, TypeError, OverflowError) as exc:
        return (type(exc).__name__, str(exc))
    return ("run", repr(vars(rec)))  # as text: NaN equals NaN, 1 is not 1.0


json_values = st.recursive(
    st.none() | st.booleans() | number | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
good_values = {
    "started": moments.map(utc_timestamp),
    "id": hex_text,
    "command": st.lists(st.text(max_size=6), max_size=3),
    "base_commit": hex_text,
    "snapshot": hex_text,
}
field_names = [name for name, _parse in record_module._PARSERS] + list(good_values)


@st.composite
def hostile_lines(draw: st.DrawFn) -> str:
    """A run line a teammate's tool (or an attacker) could write: any value in any field,
    a few fields wrong or missing, keys in any order, unknown keys."""
    data = {name: draw(strategy) for name, strategy in good_values.items()}
    for name in draw(st.lists(st.sampled_from(field_names), max_size=6)):
        data[name] = draw(json_values)
    data.update(draw(st.dictionaries(st.text(max_size=5), json_values, max_size=2)))
    for name in draw(st.lists(st.sampled_from(list(good_values)), max_size=1)):
        data.pop(name, None)
    keys = draw(st.permutations(list(data)))
    return json.dumps({key: data[key] for key in keys}, ensure_ascii=draw(st.booleans()))


@settings(max_examples=300)
@given(hostile_lines() | records.map(RunRecord.to_line))
def test_from_line_reads_any_line_as_every_parser_in_field_order_does(line: str) -> None:
    """The parsers run in the line's key order (no pass over absent fields); a line refused
    that way is read again in field order: the same record, or the same error said."""
    assert _outcome(lambda: RunRecord.from_line(line)) == _outcome(
        lambda: _reference_from_line(line)
    )


@settings(max_examples=300)
@given(hostile_lines() | records.map(RunRecord.to_line))
def test_the_public_json_reads_back_as_the_record(line: str) -> None:
    """The listing index keeps a run's public JSON only (no second copy of its fields): read
    back, it is the record the line gives, and what to_public says of it."""
    try:
        values = line_fields(line)
    except (ValueError, TypeError, OverflowError):
        return
    rec = RunRecord.from_line(line)
    text = public_text(public_dict(values))
    assert _outcome(lambda: RunRecord.from_public(text, rec.v)) == _outcome(lambda: rec)
    public = rec.to_public("c0ffee")
    del public["commit"]
    assert text == json.dumps(public, ensure_ascii=False, separators=(",", ":"))
    assert public_text(public_dict(vars(rec))) == text


def test_a_line_wrong_in_two_fields_is_refused_for_the_first_in_field_order() -> None:
    """The warning a bad line gets names the same field whatever the order of its keys."""
    good = json.loads(
        RunRecord(started=utc_timestamp(), id="ab12", command=["x"], base_commit="aa",
                  snapshot="bb").to_line()
    )  # fmt: skip
    bad = {"warnings": 5, "duration_s": "slow", "exit_code": "one", "v": "two"}
    good = {key: value for key, value in good.items() if key not in bad}  # bad ones go last
    expected = _outcome(lambda: RunRecord.from_line(json.dumps({**good, **bad})))
    assert expected[0] == "ValueError" and "'two'" in expected[1]  # v: the first field
    for keys in (list(bad), list(reversed(bad))):
        line = json.dumps({**good, **{key: bad[key] for key in keys}})
        assert _outcome(lambda line=line: RunRecord.from_line(line)) == expected


@given(st.dictionaries(st.text(max_size=4), json_values, max_size=4) | json_values)
def test_a_dict_of_text_is_read_as_text_whether_or_not_all_of_it_already_is(value: object) -> None:
    """_str_dict gives a dict of text values back as it is: the same as converting each."""
    reference = (
        {str(k): v if type(v) is str else str(v) for k, v in value.items()}
        if value and type(value) is dict
        else {}
    )
    assert repr(record_module._str_dict(value)) == repr(reference)
