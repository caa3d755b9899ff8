"""JSON from elsewhere is untrusted: note lines (from other clones), the `-m` metrics file
and the Python API's event file (written by the user's command).

Python's json parser recurses: a text nested ~1,000 deep raises RecursionError, an
integer of more than 4,300 digits raises ValueError, and a lone surrogate escape
(``"\\ud800"``) parses into a string no UTF-8 output can hold. None of that may break a
command: a bad note line is skipped with a warning, a bad metrics file or event line is a
warning on a run that is still recorded.
"""

from __future__ import annotations

import csv
import json
import secrets
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from api_helpers import api_run, write_script
from conftest import Result, git, gitrack, gitrack_proc, note_lines, record, run_by_id, runs
from hypothesis import given, settings
from hypothesis import strategies as st
from remote_helpers import clone, make_origin

from gitrack import jsonsafe
from gitrack.tracking.metricsfile import flatten_numbers

DEEP = 1_000  # deeper than the interpreter's recursion limit leaves room for


def deep_list(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def append_note_line(repo: Path, line: str, rev: str = "HEAD") -> None:
    """Add a raw line to the note on ``rev`` with plain git, as another clone could."""
    note = git("notes", "--ref=gitrack", "show", rev, cwd=repo, check=False)
    git("notes", "--ref=gitrack", "add", "-f", "-F", "-", rev, cwd=repo, input=note + line + "\n")


def forged_line(
    repo: Path, edit: Callable[[dict[str, Any]], None], extra: str = ""
) -> tuple[str, str]:
    """(line, run id): a copy of the newest run line on HEAD with a new id, ``edit``
    applied, and the raw JSON text ``extra`` spliced in as the last key (for values
    json.dumps cannot make)."""
    data = json.loads(note_lines(repo)[-1])
    data["id"] = secrets.token_hex(8)
    data["started"] = "2099-01-01T00:00:00.000000Z"
    edit(data)
    text = json.dumps(data, separators=(",", ":"))  # ensure_ascii: lone surrogates as \ud800
    return (text[:-1] + extra + "}" if extra else text), data["id"]


BAD_LINES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "nested-1000-deep": (lambda d: None, f',"extra":{deep_list()}'),
    "nested-params-value": (lambda d: None, f',"params":{{"k":{deep_list(200)}}}'),
    "5000-digit-integer": (lambda d: None, ',"extra":' + "9" * 5000),
    "lone-surrogate": (lambda d: d["params"].update(k="\ud800"), ""),
    "exit-code-beyond-int64": (lambda d: d.update(exit_code=2**63), ""),
    "exit-code-beyond-int32": (lambda d: d.update(exit_code=2**31), ""),
    "max-rss-beyond-int64": (lambda d: d.update(max_rss_bytes=2**64), ""),
}


def ok(res: Result) -> Result:
    assert res.code == 0, res.err
    return res


def warned_skip(res: Result) -> bool:
    return any("skipped note line" in line for line in res.err_lines)


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_note_line_is_skipped_and_every_command_keeps_working(
    repo: Path, tmp_path: Path, case: str
) -> None:
    good = record("true", cwd=repo)
    edit, extra = BAD_LINES[case]
    line, bad = forged_line(repo, edit, extra)
    append_note_line(repo, line)

    listed = ok(gitrack("ls", "--json", cwd=repo))
    assert [r["id"] for r in listed.json()] == [good]
    assert warned_skip(listed), listed.err
    table = ok(gitrack("ls", cwd=repo))
    assert good[:8] in table.out and bad[:8] not in table.out and warned_skip(table)
    assert good in ok(gitrack("show", good, cwd=repo)).out
    assert ok(gitrack("show", good, "--json", cwd=repo)).json()["id"] == good
    assert gitrack("show", bad, cwd=repo).code == 1  # not a run: never resolved
    assert len(ok(gitrack("ls", "--where", "exit_code >= 0", "--json", cwd=repo)).json()) == 1

    for fmt in ("csv", "parquet", "jsonl"):
        out = tmp_path / f"runs.{fmt}"
        res = ok(gitrack("export", str(out), cwd=repo))
        assert warned_skip(res), res.err
        assert exported_ids(out, fmt) == [good]

    # The repository keeps working: a new run records next to the bad line, which stays.
    later = record("true", cwd=repo)
    assert {r["id"] for r in runs(repo)} == {good, later}
    assert line in note_lines(repo)


def exported_ids(path: Path, fmt: str) -> list[str]:
    if fmt == "jsonl":
        return [json.loads(row)["id"] for row in path.read_text().splitlines()]
    if fmt == "csv":
        with path.open(newline="") as fh:
            return [row["id"] for row in csv.DictReader(fh)]
    import pyarrow.parquet as pq

    return [str(v) for v in pq.read_table(path).column("id").to_pylist()]


def test_a_huge_exit_code_is_refused_at_parse_time_and_export_works(
    repo: Path, tmp_path: Path
) -> None:
    """exit_code is an int64 column: a forged 2**63 used to abort every export."""
    good = record("sh", "-c", "exit 3", cwd=repo)
    append_note_line(repo, forged_line(repo, lambda d: d.update(exit_code=2**63))[0])
    append_note_line(repo, forged_line(repo, lambda d: d.update(exit_code=-(2**31)))[0])  # fits

    for fmt in ("csv", "parquet", "jsonl"):
        out = tmp_path / f"runs.{fmt}"
        res = ok(gitrack("export", str(out), cwd=repo))
        assert len(exported_ids(out, fmt)) == 2 and good in exported_ids(out, fmt)
        assert sum("skipped note line" in line for line in res.err_lines) == 1, res.err
        assert "exit_code" in res.err
    import pyarrow.parquet as pq

    codes = pq.read_table(tmp_path / "runs.parquet").column("exit_code").to_pylist()
    assert sorted(codes) == [-(2**31), 3]


def test_a_deeply_nested_line_arriving_with_pull_leaves_both_clones_working(
    tmp_path: Path,
) -> None:
    origin = make_origin(tmp_path)
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    theirs = record("true", cwd=a)
    append_note_line(a, forged_line(a, lambda d: None, f',"extra":{deep_list()}')[0])
    git("push", "-q", "origin", "refs/notes/gitrack", cwd=a)  # plain git: no gitrack check
    mine = record("true", cwd=b)

    pulled = ok(gitrack("pull", cwd=b))
    assert "1 new run(s)" in pulled.out
    assert warned_skip(pulled), pulled.err

    listed = ok(gitrack("ls", "--json", cwd=b))
    assert sorted(r["id"] for r in listed.json()) == sorted([theirs, mine])
    assert warned_skip(listed)
    assert ok(gitrack("show", theirs, cwd=b))
    assert ok(gitrack("push", cwd=b))
    assert ok(gitrack("pull", cwd=a))
    assert sorted(r["id"] for r in runs(a)) == sorted([theirs, mine])


def test_a_bad_committed_line_is_skipped(repo: Path) -> None:
    good = record("true", cwd=repo)
    committed = '{"started":"2099-01-01T00:00:00.000000Z","type":"committed","run":'
    append_note_line(repo, committed + deep_list() + "}")
    listed = ok(gitrack("ls", "--json", cwd=repo))
    assert [r["id"] for r in listed.json()] == [good]


# --------------------------------------------------------------------- metrics file
BAD_METRICS: dict[str, bytes] = {
    "nested-1000-deep": b'{"acc":' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}",
    "array-1000-deep": b'{"acc":' + deep_list().encode() + b"}",
    "5000-digit-integer": b'{"acc":' + b"9" * 5000 + b"}",
    "ends-mid-utf8": '{"précision":'.encode()[:3],
    "ends-mid-utf8-character": '{"é'.encode()[:-1],
    "lone-surrogate-key": b'{"acc\\ud800":1}',
    "lone-surrogate-in-ignored-value": b'{"acc":1,"note":"\\udc00"}',
}


@pytest.mark.parametrize("case", list(BAD_METRICS))
def test_a_bad_metrics_file_is_a_warning_on_a_recorded_run(repo: Path, case: str) -> None:
    (repo / ".gitignore").write_text("m.json\n")
    payload = BAD_METRICS[case]
    command = [sys.executable, "-c", f"open('m.json', 'wb').write({payload!r})"]

    res = gitrack_proc("run", "-m", "m.json", "--", *command, cwd=repo)

    assert res.code == 0, res.err
    assert res.err_lines[-1].startswith("gitrack: recorded run "), res.err
    assert any("warning" in line and "m.json" in line for line in res.err_lines), res.err
    run = run_by_id(repo, res.err_lines[-1].split()[3])
    assert run["metrics"] == {}
    assert any("m.json" in w for w in run["warnings"])
    assert len(note_lines(repo)) == 1
    assert ok(gitrack("ls", cwd=repo)).err == ""


def test_a_metric_with_no_float_value_is_dropped_the_others_kept(repo: Path) -> None:
    payload = '{"acc": 0.5, "huge": ' + "9" * 400 + ', "n": 3}'
    command = [sys.executable, "-c", f"open('m.json', 'w').write({payload!r})"]
    res = gitrack("run", "-m", "m.json", "--", *command, cwd=repo)
    assert res.code == 0, res.err
    assert run_by_id(repo, res.err_lines[-1].split()[3])["metrics"] == {"acc": 0.5, "n": 3}


def test_flatten_numbers_does_not_recurse() -> None:
    data: dict[str, Any] = {"leaf": 1}
    for _ in range(5 * sys.getrecursionlimit()):
        data = {"a": data}
    flat = flatten_numbers({"top": 2, "deep": data, "z": 3.5})
    assert list(flat) == ["top", "deep." + "a." * 5 * sys.getrecursionlimit() + "leaf", "z"]


# ----------------------------------------------------------------- API event file
EVENTS_SCRIPT = r"""
import os
import gitrack

path = os.environ["GITRACK_EVENTS"]
with open(path, "ab") as fh:
    fh.write(b'{"e":"param","k":"deep","v":' + b"[" * 1000 + b"]" * 1000 + b"}\n")
    fh.write(b'{"e":"metric","k":"digits","v":' + b"9" * 5000 + b',"s":0,"t":0}\n')
    fh.write(b'{"e":"metric","k":"nofloat","v":' + b"9" * 400 + b',"s":0,"t":0}\n')
    fh.write(b'{"e":"metric","k":"farstep","v":1,"s":' + b"9" * 30 + b',"t":0}\n')
    fh.write(b'{"e":"tag","k":"surrogate","v":"\\ud800"}\n')
    fh.write('{"e":"tag","k":"cut","v":"é"}'.encode()[:-3] + b"\n")
gitrack.log_metric("acc", 0.5)
gitrack.log_param("seed", 1)
gitrack.end_run()
with open(path, "ab") as fh:
    fh.write('{"e":"tag","k":"last","v":"é'.encode()[:-1])  # a crash mid-write
"""


def test_bad_event_lines_are_skipped_with_a_warning_and_the_run_recorded(repo: Path) -> None:
    (repo / ".gitignore").write_text("events.py\n")
    script = write_script(repo, "events.py", EVENTS_SCRIPT)

    res = gitrack_proc("run", "--", sys.executable, str(script), cwd=repo)

    assert res.code == 0, res.err
    assert res.err_lines[-1].startswith("gitrack: recorded run "), res.err
    run = run_by_id(repo, res.err_lines[-1].split()[3])
    assert run["metrics"] == {"acc": 0.5}
    assert run["params"] == {"seed": "1"}
    assert run["tags"] == {}
    [warning] = [w for w in run["warnings"] if "event" in w]
    assert "7 unreadable line(s)" in warning, warning
    assert any("event" in line and "warning" in line for line in res.err_lines), res.err
    assert ok(gitrack("show", str(run["id"]), "--metric", "acc", cwd=repo))
    assert not list((repo / ".git" / "gitrack").glob("live/*"))


# ------------------------------------------------------- lines gitrack itself writes
def test_a_run_too_big_for_a_readable_note_line_is_recorded_without_its_values(
    repo: Path,
) -> None:
    """gitrack never writes a line it would refuse to read back (jsonsafe.MAX_CHARS)."""
    huge = "x" * (jsonsafe.MAX_CHARS + 1)
    run_id = api_run(repo, params={"config": huge, "lr": 0.1}, metrics={"acc": 0.5})

    [run] = runs(repo)
    assert run["id"] == run_id
    assert run["params"] == {} and run["metrics"] == {}
    assert any("params, metrics and tags not recorded" in w for w in run["warnings"])
    assert all(len(line) < jsonsafe.MAX_CHARS for line in note_lines(repo))


# --------------------------------------------------------------------- the helper
@pytest.mark.parametrize(
    "text",
    [
        deep_list(),
        deep_list(jsonsafe.MAX_DEPTH + 1),
        '{"a":' * 100_000,  # unbalanced: invalid anyway
        "9" * 5000,
        '"\\ud800"',
        '{"k":["\\udfff"]}',
        '"\\ud83d"',  # high surrogate with no low one
    ],
)
def test_loads_raises_value_error_for_what_json_cannot_hold(text: str) -> None:
    with pytest.raises(ValueError):
        jsonsafe.loads(text)


def test_loads_accepts_shallow_texts_with_many_brackets_and_surrogate_pairs() -> None:
    assert jsonsafe.loads("[" + "[]," * 50_000 + "[]]") == [[]] * 50_001
    assert jsonsafe.loads(deep_list(jsonsafe.MAX_DEPTH)) is not None
    brackets_in_strings = json.dumps({"k": "[" * 500, "j": ["{" * 500]})
    assert jsonsafe.loads(brackets_in_strings) == {"k": "[" * 500, "j": ["{" * 500]}
    assert jsonsafe.loads('"\\ud83d\\ude00"') == "\U0001f600"
    assert jsonsafe.loads('"\\\\ud800"') == "\\ud800"  # an escaped backslash: plain text


def test_loads_bounds_the_size() -> None:
    with pytest.raises(ValueError, match="long"):
        jsonsafe.loads("[" + "0," * 100 + "0]", max_chars=100)
    assert len(jsonsafe.loads("[" + "0," * 100 + "0]", max_chars=1000)) == 101


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_around = st.sampled_from(["", " ", "\n", "\ufeff", "x", ",", "]", "}", "0", "\t\r"])


@st.composite
def _json_like(draw: st.DrawFn) -> str:
    """JSON as json.dumps writes it or not, with whitespace, a BOM or garbage around it,
    cut short or not: every way a note line can fail to be exactly one value."""
    text = json.dumps(draw(_json_values), ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return draw(_around) + text + draw(_around)


def _outcome(read: Callable[[], Any]) -> tuple[str, str]:
    try:
        return ("value", repr(read()))  # as text: NaN equals NaN, 1 is not 1.0
    except Exception as exc:
        return (type(exc).__name__, str(exc))


def _no_scanner(_text: str, _index: int) -> Any:
    raise StopIteration(0)  # as the scanner says "no value here": json.loads decides


@settings(max_examples=500)
@given(_json_like() | st.text(max_size=20))
def test_the_scanner_called_directly_decodes_as_json_loads(text: str) -> None:
    """jsonsafe calls json.loads's scanner itself for a text that is one value and nothing
    else: the same value, and for any other text the same error, as through json.loads."""
    new = _outcome(lambda: jsonsafe.loads(text))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonsafe, "_scan_once", _no_scanner)
        assert new == _outcome(lambda: jsonsafe.loads(text))


def _reference_loads(text: str) -> object:
    """jsonsafe.loads up to its parse, as before the scanner was called directly:
    json.loads one frame below the caller, RecursionError said as too deep."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("nested deeper than 64 levels") from exc


@pytest.mark.parametrize(
    "make",
    [
        lambda n: "[" * n + "x",  # cut short: "Expecting value"
        lambda n: "[" * n + "]" * n + " x",  # "Extra data"
        lambda n: "[" * n + "1 x",  # "Expecting ',' delimiter"
        lambda n: '{"a":' * n + "x",
    ],
    ids=["cut-short", "extra-data", "delimiter", "object"],
)
def test_a_hostile_deep_line_gets_the_error_json_loads_gave_at_any_depth(
    make: Callable[[int], str],
) -> None:
    """Near the recursion limit, where a parse fails depends on the frames below it: the
    scanner's failure is judged again by json.loads, called as before (review)."""
    differ = []
    for n in range(900, 1100):
        text = make(n)
        old = _outcome(partial(_reference_loads, text))
        new = _outcome(partial(jsonsafe.loads, text))
        if "JSONDecodeError" in (old[0], new[0]) and old != new:
            differ.append((n, old[1][:60], new[1][:60]))
    assert differ == []


@settings(max_examples=500)
@given(_json_values)
def test_the_compact_encoder_writes_what_json_dumps_writes(value: object) -> None:
    """jsonsafe.compact_encoder calls json's C encoder directly (the public form of every
    run the listing index holds): the same text as json.dumps, for any JSON value."""
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert jsonsafe.compact_encoder()(value) == expected


def test_the_compact_encoder_falls_back_to_json_where_its_c_encoder_differs() -> None:
    def other_arguments(*args: object) -> object:
        raise TypeError("takes 10 arguments")

    def other_output(*args: object) -> object:
        return lambda value, level: ["{}"]

    def kept(*args: object) -> object:
        return json.encoder.c_make_encoder(*args)  # type: ignore[attr-defined]

    for make in (other_arguments, other_output):
        assert jsonsafe.compact_encoder(make)({"a": [1.5, "é"]}) == '{"a":[1.5,"é"]}'
    assert jsonsafe.compact_encoder(kept)({"a": [1.5, "é"]}) == '{"a":[1.5,"é"]}'
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json.encoder, "c_make_encoder", None)  # no C encoder (PyPy)
        assert jsonsafe.compact_encoder()({"a": None}) == '{"a":null}'
