"""`--where` and `--sort`: MLflow's search grammar, plus ``or``, ``not`` and parentheses.

    metrics.auc > 0.9 and params.model = 'tree'
    (tags.team != 'x' or status = 'FAILED') and not dirty = true
    params.optimizer LIKE 'ad%'  ·  metrics.`val/loss` <= 0.2  ·  tags.note IS NULL
    attributes.start_time > 1767225600000  ·  attributes.run_id IN ('3f2a9c1b…', '…')

The whole grammar, the field types and what differs from MLflow: docs/search.md. The
fields and typed comparisons live in fields.py and compare.py; this module reads the
text (a hand-written lexer: linear time, whatever the input) into checks of a row.
Nesting is bounded, so no input can exhaust the stack.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from gitrack.errors import GitrackError
from gitrack.views import compare
from gitrack.views.fields import (
    Check,
    Field,
    FieldError,
    Literal,
    Row,
    Truth,
    resolve,
    run_end,
    scan_number,
    short,
)

__all__ = ["Predicate", "QueryError", "Row", "compile_where", "sort_key", "sort_rows", "tokenize"]

Predicate = Callable[[Row], bool]

KEYWORDS = ("and", "or", "not", "like", "ilike", "in", "is", "true", "false", "null")
OPERATORS = ("!=", "<>", ">=", "<=", "==", "=", ">", "<")
MAX_DEPTH = 100  # parentheses and `not`s, one inside the other
_CONTEXT = 60  # characters shown either side of the error pointer


class QueryError(GitrackError):
    def __init__(self, text: str, position: int, message: str, option: str = "--where") -> None:
        before, after = text[:position], text[position:]
        pointer = (
            ("…" if len(before) > _CONTEXT else "")
            + _printable(before[-_CONTEXT:])
            + "▶"
            + _printable(after[:_CONTEXT])
            + ("…" if len(after) > _CONTEXT else "")
        )
        super().__init__(f"cannot read {option} at column {position + 1}: {message}: {pointer}")
        self.position = position
        self.message = message


def _printable(text: str) -> str:
    """One printable line: control characters, NULs and lone surrogates escaped (they
    would break the terminal or the encoder)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class Name(NamedTuple):
    """A field as typed: ``metrics.`val loss``` -> parts (metrics, val loss)."""

    parts: tuple[str, ...]
    quoted: tuple[bool, ...]

    def __str__(self) -> str:
        return ".".join(self.parts)


class Token(NamedTuple):
    kind: str  # name, string, number, op, lparen, rparen, comma, keyword, end
    text: str
    value: Any  # Name | str | float | keyword in lower case
    position: int


# -------------------------------------------------------------------------- lexer
# Only regexes that cannot backtrack: one character class each, repeated.
_SPACE = re.compile(r"\s*")
_BARE = re.compile(r"[\w/:-]*")
_STRING_STOP = {"'": re.compile(r"[\\']"), '"': re.compile(r'[\\"]')}
_PUNCTUATION = {"(": "lparen", ")": "rparen", ",": "comma"}


def tokenize(text: str, start: int = 0, option: str = "--where") -> list[Token]:
    """The tokens of ``text[start:]`` (positions in ``text``)."""
    try:
        return list(_tokens(text, start))
    except QueryError as exc:
        if option == "--where":
            raise
        raise QueryError(text, exc.position, exc.message, option) from None


def _tokens(text: str, position: int) -> Iterator[Token]:
    """Tokens one at a time: the parser stops at the first error, however long the text."""
    size = len(text)
    while True:
        position = run_end(_SPACE, text, position)
        if position >= size:
            yield Token("end", "", None, size)
            return
        char, start = text[position], position
        if char in "'\"":
            value, position = _string(text, position)
            yield Token("string", text[start:position], value, start)
        elif char in "0123456789.+-" and (end := scan_number(text, position)) > 0:
            yield Token("number", text[start:end], float(text[start:end]), start)
            position = end
        elif char == "`" or char.isalpha() or char == "_":
            name, position = _name(text, position)
            yield _word(name, text[start:position], start)
        elif (op := next((o for o in OPERATORS if text.startswith(o, position)), None)) is not None:
            yield Token("op", op, op, start)
            position += len(op)
        elif char in _PUNCTUATION:
            yield Token(_PUNCTUATION[char], char, char, start)
            position += 1
        elif char == ".":
            raise QueryError(text, position, "a '.' must join a prefix and a key")
        else:
            raise QueryError(text, position, f"unexpected character {char!r}")


def _string(text: str, start: int) -> tuple[str, int]:
    """A quoted literal; the quote is escaped by doubling it or by a backslash."""
    quote, stop = text[start], _STRING_STOP[text[start]]
    pieces: list[str] = []
    position = start + 1
    while (found := stop.search(text, position)) is not None:
        at = found.start()
        pieces.append(text[position:at])
        if text[at] == "\\" and at + 1 < len(text):
            pieces.append(text[at + 1])
            position = at + 2
        elif text[at] == quote and text.startswith(quote, at + 1):
            pieces.append(quote)
            position = at + 2
        elif text[at] == quote:
            return "".join(pieces), at + 1
        else:
            break  # a backslash at the very end
    raise QueryError(text, start, f"unterminated text: close it with {quote}")


def _name(text: str, start: int) -> tuple[Name, int]:
    """``prefix.key.more`` where each part may be `backticked` and, after the first,
    "double-quoted"; bare parts are letters, digits and ``_ / : -``."""
    parts: list[str] = []
    quoted: list[bool] = []
    position = start
    while True:
        char = text[position : position + 1]
        if char == "`":
            end = text.find("`", position + 1)
            if end < 0:
                raise QueryError(text, position, "unterminated `: close the name with `")
            parts.append(text[position + 1 : end])
            quoted.append(True)
            position = end + 1
        elif char == '"' and parts:
            value, position = _string(text, position)
            parts.append(value)
            quoted.append(True)
        else:
            end = run_end(_BARE, text, position)
            if end == position:
                if len(parts) == 1:
                    raise QueryError(text, start, f"{parts[0]}. needs a key, e.g. {parts[0]}.auc")
                raise QueryError(text, position, "expected a key after '.'")
            parts.append(text[position:end])
            quoted.append(False)
            position = end
        if not text.startswith(".", position):
            return Name(tuple(parts), tuple(quoted)), position
        position += 1


def _word(name: Name, raw: str, position: int) -> Token:
    word = name.parts[0].lower() if len(name.parts) == 1 and not name.quoted[0] else ""
    if word in KEYWORDS:
        return Token("keyword", raw, word, position)
    if word in ("inf", "infinity", "nan"):
        return Token("number", raw, float(raw), position)
    return Token("name", raw, name, position)


# ------------------------------------------------------------------------- parser
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.stream = _tokens(text, 0)
        self.current = next(self.stream)
        self.depth = 0

    def take(self) -> Token:
        token = self.current
        if token.kind != "end":
            self.current = next(self.stream)
        return token

    def keyword(self, word: str) -> bool:
        if self.current.kind == "keyword" and self.current.value == word:
            self.take()
            return True
        return False

    def fail(self, message: str, token: Token | None = None) -> QueryError:
        return QueryError(self.text, (token or self.current).position, message)

    def parse(self) -> Check:
        if self.current.kind == "end":
            raise self.fail("the expression is empty")
        check = self.disjunction()
        if self.current.kind != "end":
            raise self.fail(f"expected 'and', 'or' or the end, found {short(self.current.text)}")
        return check

    def disjunction(self) -> Check:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else _any_of(parts)

    def conjunction(self) -> Check:
        parts = [self.negation()]
        while self.keyword("and"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else _all_of(parts)

    def negation(self) -> Check:
        token = self.current
        if (token.kind == "keyword" and token.value == "not") or token.kind == "lparen":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.fail(
                    f"nested more than {MAX_DEPTH} levels deep (parentheses and 'not'): "
                    "write it flatter"
                )
            self.take()
            if token.kind == "lparen":
                inner = self.disjunction()
                if self.current.kind != "rparen":
                    raise self.fail("expected ')'")
                self.take()
            else:
                inner = _negated(self.negation())
            self.depth -= 1
            return inner
        return self.comparison()

    def comparison(self) -> Check:
        token = self.current
        if token.kind != "name":
            raise self.fail(
                f"expected a field such as metrics.auc, found {short(token.text or 'the end')}"
            )
        self.take()
        try:
            field = resolve(token.value.parts, token.value.quoted, token.position)
            return self.condition(field)
        except FieldError as exc:
            raise QueryError(self.text, exc.position, exc.message) from None

    def condition(self, field: Field) -> Check:
        if self.current.kind == "op":
            op = self.take().text
            return compare.compare(field, op, self.literal())
        if self.keyword("is"):
            negated = self.keyword("not")
            if not self.keyword("null"):
                raise self.fail("expected NULL after IS (or IS NOT)")
            return compare.is_null(field, negated)
        negated = self.keyword("not")
        if self.keyword("like"):
            return compare.like(field, self.pattern(), False, negated)
        if self.keyword("ilike"):
            return compare.like(field, self.pattern(), True, negated)
        if self.keyword("in"):
            return compare.within(field, self.literals(), negated)
        raise self.fail("expected a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL)")

    def literal(self) -> Literal:
        token = self.current
        if token.kind in ("number", "string"):
            self.take()
            return Literal(token.kind, token.value, token.text, token.position)
        if token.kind == "keyword" and token.value in ("true", "false"):
            self.take()
            return Literal("flag", token.value == "true", token.text, token.position)
        hint = " (for a run without the field: IS NULL)" if token.value == "null" else ""
        raise self.fail(f"expected a value: a number, 'text', true or false{hint}")

    def pattern(self) -> Literal:
        if self.current.kind != "string":
            raise self.fail("expected a quoted pattern such as 'ad%'")
        return self.literal()

    def literals(self) -> list[Literal]:
        if self.current.kind != "lparen":
            raise self.fail("expected '(' to start a list of values")
        self.take()
        values = [self.literal()]
        while self.current.kind == "comma":
            self.take()
            values.append(self.literal())
        if self.current.kind != "rparen":
            raise self.fail("expected ',' or ')'")
        self.take()
        return values


def _all_of(parts: list[Check]) -> Check:
    def check(row: Row) -> Truth:
        outcome: Truth = True
        for part in parts:
            result = part(row)
            if result is False:
                return False
            if result is None:
                outcome = None
        return outcome

    return check


def _any_of(parts: list[Check]) -> Check:
    def check(row: Row) -> Truth:
        outcome: Truth = False
        for part in parts:
            result = part(row)
            if result:
                return True
            if result is None:
                outcome = None
        return outcome

    return check


def _negated(inner: Check) -> Check:
    def check(row: Row) -> Truth:
        result = inner(row)
        return None if result is None else not result

    return check


def compile_where(text: str) -> Predicate:
    """The rows ``text`` matches: those for which it is true (not false, not unknown)."""
    check = _Parser(text).parse()
    return lambda row: check(row) is True


# --------------------------------------------------------------------------- sort
def _sort_field(spec: str) -> tuple[Field, bool]:
    """``-metrics.auc``, ``metrics.auc DESC``, ``attributes.start_time asc`` -> field."""

    def fail(position: int, message: str) -> QueryError:
        return QueryError(spec, position, message, "--sort")

    start = len(spec) - len(spec.lstrip())
    sign = spec[start : start + 1] if spec[start : start + 1] in ("-", "+") else ""
    start += len(sign)
    stream = _sort_tokens(spec, start)
    first = next(stream)
    if first.kind != "name":
        raise fail(first.position, "expected a field to sort by, e.g. -metrics.auc")
    if first.position != start:
        raise fail(start, f"no space after {sign!r}: write {sign}{first.text}")
    after = next(stream)
    word = str(after.value).lower() if after.kind == "name" else ""
    if word in ("asc", "desc"):
        if sign and (word == "desc") != (sign == "-"):
            raise fail(after.position, f"{sign!r} and {after.text!r} disagree: give one")
        after = next(stream)
    else:
        word = ""
    if after.kind != "end":
        raise fail(after.position, "expected ASC, DESC or the end")
    try:
        field = resolve(first.value.parts, first.value.quoted, first.position)
    except FieldError as exc:
        raise fail(exc.position, exc.message) from None
    return field, word == "desc" if word else sign == "-"


def _sort_tokens(spec: str, start: int) -> Iterator[Token]:
    try:
        yield from _tokens(spec, start)
    except QueryError as exc:
        raise QueryError(spec, exc.position, exc.message, "--sort") from None


def sort_key(spec: str) -> tuple[str, bool]:
    """``-metrics.auc`` -> (``metrics.auc``, descending)."""
    field, descending = _sort_field(spec)
    return field.name, descending


def sort_rows(rows: list[Row], spec: str) -> list[Row]:
    """Sort by one field: numbers as numbers, then text; missing values and NaN last
    in both directions (as MLflow)."""
    field, descending = _sort_field(spec)
    try:
        value_of = compare.sort_value(field)
    except FieldError as exc:
        raise QueryError(spec, exc.position, exc.message, "--sort") from None
    present: list[tuple[tuple[int, float, str], Row]] = []
    last: list[Row] = []
    for row in rows:
        value = value_of(row)
        if value is None or value != value:  # missing, or NaN
            last.append(row)
        elif isinstance(value, float):
            present.append(((0, value, ""), row))
        else:
            present.append(((1, 0.0, value), row))
    present.sort(key=lambda pair: pair[0], reverse=descending)
    return [row for _, row in present] + last
