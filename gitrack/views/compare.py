"""Typed comparisons, LIKE, IN and IS NULL on one field (rules: gitrack/views/fields.py).

Each builder checks the literal against the field's type once, when the expression is
read (a mismatch is a FieldError with the literal's column), and returns a check of a
row giving True, False or None (unknown: the run lacks the field, or its value is not
comparable, e.g. a param ``'big'`` against a number).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from gitrack.views.fields import (
    DATASETS,
    EQUALITY,
    FLAG,
    MLFLOW_STATUS,
    NUMBER,
    OBJECT_ID,
    OPS,
    PARAM,
    STATUS,
    STATUS_WORDS,
    TEXT,
    TIME,
    Check,
    Field,
    FieldError,
    Literal,
    Row,
    Truth,
    epoch_ms,
    epoch_us,
    exact_number,
    flag_of,
    is_number,
    iso,
    number_of_text,
    parse_time,
    short,
    status_of,
)

Test = Callable[[Any], Truth]  # one present value -> True / False / unknown
_HEX = frozenset("0123456789abcdefABCDEF")
_NOT_EQUAL = ("!=", "<>")


def compare(field: Field, op: str, literal: Literal) -> Check:
    return _atom(field, _tester(field, op, literal))


def within(field: Field, literals: list[Literal], negated: bool) -> Check:
    """``IN (…)``: equal to one of the values; NOT IN: to none (unknown stays unknown)."""
    tests = [_tester(field, "=", literal) for literal in literals]

    def test(value: Any) -> Truth:
        found = _any(check(value) for check in tests)
        return None if found is None else found != negated

    return _atom(field, test)


def like(field: Field, pattern: Literal, ignore_case: bool, negated: bool) -> Check:
    if field.kind == NUMBER:
        raise FieldError(
            f"LIKE matches text, and {field.name} is a number: compare it with =, <, >",
            field.position,
        )
    if field.kind == FLAG:
        raise FieldError(
            f"LIKE matches text, and {field.name} is true or false: write {field.name} = true",
            field.position,
        )
    matches = like_matcher(pattern.value, ignore_case)
    texts = _texts(field)

    def test(value: Any) -> Truth:
        return any(matches(text) for text in texts(value)) != negated

    return _atom(field, test)


def is_null(field: Field, negated: bool) -> Check:
    get = field.get
    return lambda row: (get(row) is None) != negated


def sort_value(field: Field) -> Callable[[Row], float | str | None]:
    """The value ``--sort`` orders by: a number, a text, or None (last)."""
    if field.kind == DATASETS:
        raise FieldError(
            f"{field.name} has one value per dataset: sort by datasets.`PATH` instead",
            field.position,
        )
    get, kind = field.get, field.kind

    def value(row: Row) -> float | str | None:
        found = get(row)
        if found is None:
            return None
        if kind == TIME:
            return float(epoch_us(found))  # exact in a float until the year 2255
        if kind == FLAG:
            flag = flag_of(found)
            return None if flag is None else float(flag)
        if kind == STATUS:
            return status_of(found)
        if is_number(found):
            return _float(found)
        if kind == PARAM:
            number = number_of_text(str(found))
            return str(found) if number is None else _float(number)
        return None if kind == NUMBER else str(found)

    return value


def _float(number: float | Decimal) -> float:
    try:
        return float(number)
    except OverflowError:  # an integer past float's range, from a hostile note
        return math.inf if number > 0 else -math.inf


# ----------------------------------------------------------------------- one value
def _atom(field: Field, test: Test) -> Check:
    get = field.get
    if field.kind == DATASETS:  # as MLflow: true when some dataset of the run satisfies it

        def some(row: Row) -> Truth:
            values = get(row)
            return None if values is None else _any(test(v) for v in values)

        return some

    def check(row: Row) -> Truth:
        value = get(row)
        return None if value is None else test(value)

    return check


def _any(results: Iterable[Truth]) -> Truth:
    outcome: Truth = False
    for result in results:
        if result:
            return True
        if result is None:
            outcome = None
    return outcome


def _tester(field: Field, op: str, literal: Literal) -> Test:
    if literal.kind == "flag" and op not in EQUALITY:
        raise FieldError("true and false compare only with = or !=", literal.position)
    return _TESTERS[field.kind](field, op, literal)


def _number_test(field: Field, op: str, literal: Literal) -> Test:
    if literal.kind != "number":
        raise FieldError(
            f"{field.name} is a number: compare it with a number, unquoted, "
            f"e.g. {field.name} > 0.5",
            literal.position,
        )
    check, approx, exact = OPS[op], float(literal.value), _exact(literal)

    def test(value: Any) -> Truth:
        if isinstance(value, float):
            return check(value, approx)  # as MLflow: metrics are floats
        if is_number(value):
            return _exact_check(op, Decimal(value), exact)
        return None

    return test


def _param_test(field: Field, op: str, literal: Literal) -> Test:
    check = OPS[op]
    if literal.kind == "string":
        text = literal.value
        return lambda value: check(str(value), text)
    if literal.kind == "flag":
        flag = literal.value

        def same_flag(value: Any) -> Truth:
            found = flag_of(value)
            return None if found is None else check(found, flag)

        return same_flag
    exact = _exact(literal)

    def numerically(value: Any) -> Truth:
        number = number_of_text(str(value))
        return None if number is None else _exact_check(op, number, exact)

    return numerically


def _text_test(field: Field, op: str, literal: Literal) -> Test:
    if literal.kind != "string":
        example = "id = '3f2a9c1b'" if field.kind == OBJECT_ID else f"{field.name} = 'x'"
        raise FieldError(
            f"{field.name} is text, never a number: quote the value, e.g. {example}",
            literal.position,
        )
    check, text = OPS[op], literal.value
    if field.kind == OBJECT_ID and op in EQUALITY and _abbreviation(text):
        prefix = text.lower()  # a short id or commit, as `ls` prints it, matches by prefix
        return lambda value: str(value).startswith(prefix) != (op in _NOT_EQUAL)
    return lambda value: check(str(value), text)


def _abbreviation(text: str) -> bool:
    return 4 <= len(text) <= 64 and all(char in _HEX for char in text)


def _time_test(field: Field, op: str, literal: Literal) -> Test:
    check = OPS[op]
    if literal.kind == "number":
        milliseconds = float(literal.value)
        return lambda moment: check(epoch_ms(moment), milliseconds)
    if literal.kind == "string":
        wanted = parse_time(literal)
        return lambda moment: check(moment, wanted)
    raise FieldError(
        f"{field.name} is a time: compare it with '2026-01-31T12:00:00Z' or with "
        "milliseconds since the epoch",
        literal.position,
    )


def _status_test(field: Field, op: str, literal: Literal) -> Test:
    if literal.kind != "string":
        raise FieldError(
            "status is text: quote it, e.g. status = 'failed' or status = 'FINISHED'",
            literal.position,
        )
    word = STATUS_WORDS.get(literal.value.lower())
    if word is None:
        raise FieldError(
            f"unknown status {short(literal.value)}: use ok, failed, interrupted, or MLflow's "
            "FINISHED, FAILED, KILLED, RUNNING, SCHEDULED",
            literal.position,
        )
    if op not in EQUALITY:
        raise FieldError("status compares with =, !=, IN or LIKE", literal.position)
    check = OPS[op]
    return lambda value: check(status_of(value), word)


def _flag_test(field: Field, op: str, literal: Literal) -> Test:
    wanted = flag_of(literal.value) if literal.kind in ("flag", "string") else None
    if wanted is None:
        raise FieldError(
            f"{field.name} is true or false: e.g. {field.name} = true", literal.position
        )
    if op not in EQUALITY:
        raise FieldError(f"{field.name} compares with = or != only", literal.position)
    check = OPS[op]

    def test(value: Any) -> Truth:
        found = flag_of(value)
        return None if found is None else check(found, wanted)

    return test


def _datasets_test(field: Field, op: str, literal: Literal) -> Test:
    if literal.kind != "string":
        raise FieldError(
            f"{field.name} is text: quote the value, e.g. {field.name} = 'data/train.csv'",
            literal.position,
        )
    check, text = OPS[op], literal.value
    return lambda value: check(value, text)


_TESTERS: dict[str, Callable[[Field, str, Literal], Test]] = {
    NUMBER: _number_test,
    PARAM: _param_test,
    TEXT: _text_test,
    OBJECT_ID: _text_test,
    TIME: _time_test,
    STATUS: _status_test,
    FLAG: _flag_test,
    DATASETS: _datasets_test,
}


def _exact(literal: Literal) -> Decimal | None:
    """The literal as an exact number; None for NaN (equal to nothing)."""
    number = exact_number(literal.text)
    return None if number.is_nan() else number


def _exact_check(op: str, left: Decimal, right: Decimal | None) -> bool:
    if right is None or left.is_nan():
        return op in _NOT_EQUAL  # NaN: only "not equal" holds, as for floats
    return OPS[op](left, right)


def _texts(field: Field) -> Callable[[Any], tuple[str, ...]]:
    """What LIKE matches: the text; a time's ISO 8601; a status in either tool's word."""
    if field.kind == TIME:
        return lambda moment: (iso(moment),)
    if field.kind == STATUS:
        return lambda value: (str(value), MLFLOW_STATUS.get(status_of(value), str(value)))
    return lambda value: (str(value),)


# ------------------------------------------------------------------------- LIKE
def like_matcher(pattern: str, ignore_case: bool) -> Callable[[str], bool]:
    """SQL LIKE (``%`` any run of characters, ``_`` one character) in time linear in the
    text: no backtracking regex, which takes exponential time on ``%a%a%a…b``."""
    if ignore_case:
        pattern = pattern.lower()
    if "_" in pattern:
        match = _bit_parallel(pattern)
    elif "%" in pattern:
        segments = pattern.split("%")
        match = lambda text: _segments_match(text, segments)  # noqa: E731
    else:
        match = pattern.__eq__
    if ignore_case:
        return lambda text: match(text.lower())
    return match


def _segments_match(text: str, segments: list[str]) -> bool:
    """``a%b%c``: starts with a, ends with c, b in between; leftmost is always right."""
    first, last = segments[0], segments[-1]
    if len(text) < len(first) + len(last) or not text.startswith(first):
        return False
    if not text.endswith(last):
        return False
    position, end = len(first), len(text) - len(last)
    for segment in segments[1:-1]:
        found = text.find(segment, position, end)
        if found < 0:
            return False
        position = found + len(segment)
    return True


def _bit_parallel(pattern: str) -> Callable[[str], bool]:
    """Shift-and over the pattern's positions: bit i set when pattern[:i] matches the
    text read so far; one pass over the text, a few integer operations a character."""
    collapsed: list[str] = []
    for char in pattern:
        if not (char == "%" and collapsed and collapsed[-1] == "%"):
            collapsed.append(char)
    masks: dict[str, int] = {}
    one = percent = 0
    for index, char in enumerate(collapsed):
        if char == "%":
            percent |= 1 << index
        elif char == "_":
            one |= 1 << index
        else:
            masks[char] = masks.get(char, 0) | 1 << index
    accept = 1 << len(collapsed)
    start = 1 | ((1 & percent) << 1)

    def match(text: str) -> bool:
        state = start
        for char in text:
            moved = ((state & (masks.get(char, 0) | one)) << 1) | (state & percent)
            state = moved | ((moved & percent) << 1)  # % also matches nothing
            if not state:
                return False
        return bool(state & accept)

    return match
