"""`--where` expressions: MLflow's search grammar, plus ``or``, ``not`` and parentheses.

    metrics.auc > 0.9 and params.model = 'tree'
    (tags.team != 'x' or status = 'failed') and not dirty = true
    params.optimizer LIKE 'ad%'  ·  metrics.`val/loss` <= 0.2  ·  status IN ('ok', 'failed')

Fields: ``metrics.KEY``, ``params.KEY``, ``tags.KEY``, ``datasets.PATH``, ``outputs.PATH``
and attributes (bare or as ``attributes.NAME``): id, name, status, commit, started,
duration_s, dirty, exit_code, user, host. A key with other characters goes in backticks
or double quotes. Numbers compare as numbers (params are text: ``params.lr > 0.01``
compares numerically when both sides are numbers). A run without the field does not match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitrack.errors import GitrackError

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

ATTRIBUTES = (
    "id", "name", "status", "commit", "started", "duration_s", "dirty", "exit_code",
    "user", "host", "base_commit", "snapshot", "cpu_s", "max_rss_bytes",
)  # fmt: skip
PREFIXES = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "datasets": "datasets",
    "dataset": "datasets",
    "outputs": "outputs",
    "output": "outputs",
}
ATTRIBUTE_PREFIXES = ("attributes", "attribute", "attr", "run")
COMPARATORS = ("!=", "<>", ">=", "<=", "=", "==", ">", "<")
KEYWORDS = ("and", "or", "not", "like", "ilike", "in", "true", "false", "null")


class QueryError(GitrackError):
    def __init__(self, text: str, position: int, message: str, option: str = "--where") -> None:
        pointer = f"{text[:position]}▶{text[position:]}"
        super().__init__(f"cannot read {option} at column {position + 1}: {message}: {pointer}")
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # name, string, number, op, lparen, rparen, comma, keyword, end
    text: str
    value: Any
    position: int


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`[^`]*`)
  | (?P<op>!=|<>|>=|<=|==|=|>|<)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<name>[^\W\d][\w./:-]*)
  | (?P<dot>\.)
    """,
    re.VERBOSE | re.IGNORECASE,
)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise QueryError(text, position, f"unexpected character {text[position]!r}")
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "number" and tokens and tokens[-1].kind in ("name", "dot", "quoted"):
            kind, raw = "name", raw  # `metrics.1x` style keys never start a number
        if kind != "space":
            tokens.append(_token(kind, raw, position))
        position = match.end()
    tokens.append(Token("end", "", None, len(text)))
    return _join_dotted_names(tokens, text)


def _token(kind: str, raw: str, position: int) -> Token:
    if kind == "number":
        return Token("number", raw, float(raw), position)
    if kind == "string":
        quote = raw[0]
        body = raw[1:-1].replace(quote * 2, quote)
        return Token("string", raw, re.sub(r"\\(.)", r"\1", body), position)
    if kind == "quoted":
        return Token("quoted", raw, raw[1:-1], position)
    if kind == "name" and raw.lower() in KEYWORDS:
        return Token("keyword", raw, raw.lower(), position)
    return Token(kind, raw, raw, position)


def _join_dotted_names(tokens: list[Token], text: str) -> list[Token]:
    """``metrics.`a b``` and ``metrics."a b"`` become one name token ``metrics.a b``."""
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if (
            token.kind == "name"
            and token.text.endswith(".")
            and index + 1 < len(tokens)
            and tokens[index + 1].kind in ("quoted", "string")
            and token.text[:-1].lower() in (*PREFIXES, *ATTRIBUTE_PREFIXES)
        ):
            key = tokens[index + 1].value
            out.append(Token("name", token.text + key, token.text + key, token.position))
            index += 2
            continue
        if token.kind == "quoted":
            out.append(Token("name", token.value, token.value, token.position))
        elif token.kind == "dot":
            raise QueryError(text, token.position, "a '.' must join a prefix and a key")
        else:
            out.append(token)
        index += 1
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        if self.current.kind == "keyword" and self.current.value == word:
            self.index += 1
            return True
        return False

    def fail(self, message: str, token: Token | None = None) -> QueryError:
        return QueryError(self.text, (token or self.current).position, message)

    def parse(self) -> Predicate:
        if self.current.kind == "end":
            raise self.fail("the expression is empty")
        predicate = self.disjunction()
        if self.current.kind != "end":
            raise self.fail(f"expected 'and', 'or' or the end, found {self.current.text!r}")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.keyword("and"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def negation(self) -> Predicate:
        if self.keyword("not"):
            inner = self.negation()
            return lambda row: not inner(row)
        if self.current.kind == "lparen":
            self.take()
            inner = self.disjunction()
            if self.current.kind != "rparen":
                raise self.fail("expected ')'")
            self.take()
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        token = self.current
        if token.kind != "name":
            raise self.fail(
                f"expected a field such as metrics.auc, found {token.text or 'the end'!r}"
            )
        self.take()
        field = resolve_field(token.value, lambda msg: self.fail(msg, token))
        if self.current.kind == "op":
            op = self.take().text
            return _compare(field, op, self.value())
        negated = self.keyword("not")
        if self.keyword("like"):
            return _like(field, self.string_value(), False, negated)
        if self.keyword("ilike"):
            return _like(field, self.string_value(), True, negated)
        if self.keyword("in"):
            return _within(field, self.value_list(), negated)
        raise self.fail("expected a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN)")

    def value(self) -> Any:
        token = self.current
        if token.kind in ("number", "string"):
            self.take()
            return token.value
        if token.kind == "keyword" and token.value in ("true", "false"):
            self.take()
            return token.value == "true"
        raise self.fail("expected a value: a number, 'text', true or false")

    def string_value(self) -> str:
        if self.current.kind != "string":
            raise self.fail("expected a quoted pattern such as 'ad%'")
        return str(self.take().value)

    def value_list(self) -> list[Any]:
        if self.current.kind != "lparen":
            raise self.fail("expected '(' to start a list of values")
        self.take()
        values = [self.value()]
        while self.current.kind == "comma":
            self.take()
            values.append(self.value())
        if self.current.kind != "rparen":
            raise self.fail("expected ',' or ')'")
        self.take()
        return values


def resolve_field(name: str, fail: Callable[[str], QueryError]) -> str:
    """``metrics.auc`` -> ``metrics.auc``; ``attributes.status`` and ``status`` -> ``status``."""
    prefix, dot, key = name.partition(".")
    lowered = prefix.lower()
    if dot and lowered in PREFIXES:
        if not key:
            raise fail(f"{prefix}. needs a key, e.g. {prefix}.auc")
        return f"{PREFIXES[lowered]}.{key}"
    if dot and lowered in ATTRIBUTE_PREFIXES:
        name = key
    if name.lower() in ATTRIBUTES:
        return name.lower()
    raise fail(
        f"unknown field {name!r}: use metrics.KEY, params.KEY, tags.KEY, datasets.PATH, "
        f"or one of {', '.join(ATTRIBUTES[:8])}"
    )


def compile_where(text: str) -> Predicate:
    return _Parser(text).parse()


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: bool(a == b),
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<>": lambda a, b: bool(a != b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
}


def _compare(field: str, op: str, literal: Any) -> Predicate:
    check = _OPS[op]

    def predicate(row: Row) -> bool:
        actual = row.get(field)
        if actual is None:
            return False
        if isinstance(literal, bool) or isinstance(actual, bool):
            if op not in ("=", "==", "!=", "<>"):
                return False
            flag_left, flag_right = _as_bool(actual), _as_bool(literal)
            return flag_left is not None and flag_right is not None and check(flag_left, flag_right)
        left, right = _as_number(actual), _as_number(literal)
        if left is not None and right is not None:
            return check(left, right)
        return check(str(actual), str(literal))

    return predicate


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    return True if text == "true" else False if text == "false" else None


def _like(field: str, pattern: str, ignore_case: bool, negated: bool) -> Predicate:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    compiled = re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)

    def predicate(row: Row) -> bool:
        actual = row.get(field)
        if actual is None:
            return False
        return bool(compiled.match(str(actual))) != negated

    return predicate


def _within(field: str, values: list[Any], negated: bool) -> Predicate:
    checks = [_compare(field, "=", value) for value in values]

    def predicate(row: Row) -> bool:
        if row.get(field) is None:
            return False
        return any(check(row) for check in checks) != negated

    return predicate


def sort_key(spec: str) -> tuple[str, bool]:
    """``-metrics.auc`` -> (``metrics.auc``, descending)."""
    text = spec.strip()
    descending = text.startswith("-")
    name = text.lstrip("-+").strip()
    if name.lower().endswith(" desc"):
        name, descending = name[:-5].strip(), True
    elif name.lower().endswith(" asc"):
        name = name[:-4].strip()
    offset = spec.find(name) if name else len(spec)
    try:
        tokens = tokenize(name)
    except QueryError as exc:
        raise QueryError(spec, offset + exc.position, "unexpected character", "--sort") from exc
    if len(tokens) != 2 or tokens[0].kind != "name":
        raise QueryError(spec, offset, "expected a field to sort by, e.g. -metrics.auc", "--sort")

    def fail(message: str) -> QueryError:
        return QueryError(spec, offset, message, "--sort")

    return resolve_field(tokens[0].value, fail), descending


def sort_rows(rows: list[Row], spec: str) -> list[Row]:
    """Sort by one field; numbers as numbers; runs without the field go last."""
    field, descending = sort_key(spec)
    present: list[Row] = []
    last: list[Row] = []
    for row in rows:
        value = row.get(field)
        number = _as_number(value)
        # A run without the field, or with NaN, goes last whichever the direction.
        (last if value is None or (number is not None and number != number) else present).append(
            row
        )

    def key(row: Row) -> tuple[int, float, str]:
        value = row[field]
        number = _as_number(value)
        return (0, number, "") if number is not None else (1, 0.0, str(value))

    present.sort(key=key, reverse=descending)
    return present + last
