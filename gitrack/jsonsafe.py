"""JSON from elsewhere, parsed with bounded depth and size: every failure a ValueError.

Note lines arrive from other people's clones, and a command writes the `-m` metrics
file and the Python API's event file: none of them may break gitrack. Python's json
module fails on them in ways a ``except ValueError`` misses or that surface later:

- it recurses (its C scanner too): a text nested ~1,000 deep raises RecursionError, and
  one nested just below that parses but breaks whatever walks it next (``str()``,
  ``json.dumps``, ``marshal``);
- an integer of more than 4,300 digits raises a plain ValueError (CPython's
  ``int_max_str_digits``), not a JSONDecodeError;
- ``"\\ud800"`` parses into a lone surrogate, a string no UTF-8 output (a note, stdout,
  a CSV file) can hold.

:func:`loads` refuses all of these with a ValueError saying what is wrong, and texts
longer than ``max_chars``. It is on the path of every note line `gitrack ls` parses, so
beyond json.loads the common case costs two ``str.count`` calls and one ``in``; the
exact checks run only when those cannot rule a problem out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 64  # gitrack's own lines nest 2 deep; a metrics file rarely more than 5
MAX_CHARS = 16 * 1024 * 1024  # a note line, an event line, a metrics file

# A JSON string, escapes included (only ever matched in valid JSON: each ends).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
# Bytes to keep only brackets, all of one kind: "{" -> "[", "}" -> "]".
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")
# A \uXXXX escape of a surrogate (maybe preceded by an escaped backslash: rechecked).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# json.loads's own scanner, in C where there is one (typeshed does not declare it).
_scan_once = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads(text: str, *, max_chars: int | None = MAX_CHARS, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)``, or a ValueError if it is not JSON, too long, nested deeper
    than ``max_depth``, or holds a number or string Python cannot carry further."""
    if max_chars is not None and len(text) > max_chars:
        raise ValueError(f"too long ({len(text)} characters, at most {max_chars})")
    try:
        # json.loads's scanner, called directly for a text that is one JSON value and
        # nothing else (a note line: 1 of 7 us less). Any other text, or any failure, goes
        # through json.loads, from this frame as before: it says why a text is not JSON
        # (or takes the whitespace around it), and a deeply nested one fails at the same
        # depth, with the same first error, whatever the scanner met.
        try:
            data, end = _scan_once(text, 0)
        except Exception:  # judged again by json.loads
            end = -1
        if end != len(text):
            data = json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # not a syntax error: int() refused a number's digits
        raise ValueError("holds an integer with too many digits") from exc
    except RecursionError as exc:  # the parser unwinds cleanly; nothing else ran
        raise _too_deep(max_depth) from exc
    # Nesting is at most the number of opening brackets: counted in C, that rules out
    # deep nesting for nearly every text; only the others are measured.
    if text.count("[") + text.count("{") > max_depth and _deeper_than(text, max_depth):
        raise _too_deep(max_depth)
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        _check_unicode(data)
    return data


def compact_encoder(make: Any = None) -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` without the check for
    cycles (for values parsed from JSON, which have none), as fast as it gets: json's C
    encoder, made once and called directly. ``JSONEncoder.encode`` makes one per call, and
    a closure: the public forms of 100,000 runs of 850 bytes, 1.16 -> 1.08 s (CPU, median
    of 5). Where there is no C encoder, or it does not encode a probe
    exactly as ``JSONEncoder.encode`` does (another Python), that method itself.
    ``make``: the C encoder's factory (default: json's own)."""
    plain = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
    make = make or getattr(json.encoder, "c_make_encoder", None)
    try:
        direct = make(  # json.JSONEncoder.iterencode's own call, arguments in its order
            None, plain.default, json.encoder.encode_basestring, None, ":", ",",
            False, False, True,
        )  # fmt: skip
        if "".join(direct(_PROBE, 0)) != plain.encode(_PROBE):
            return plain.encode
    except Exception:  # no C encoder (None is not callable), or one that takes other arguments
        return plain.encode

    def encode(value: Any) -> str:
        return "".join(direct(value, 0))

    return encode


# Every kind of value JSON parses into, and strings that need escapes.
_PROBE = {
    "a": [1, -2.5, 0.1, 1e300, -0.0, 10**30, True, False, None, '\u00e9\x00"\\\u2028/\x7f'],
    "b": {},
    "c": {"d": [], "": "x"},
}


def _too_deep(max_depth: int) -> ValueError:
    return ValueError(f"nested deeper than {max_depth} levels")


def _deeper_than(text: str, max_depth: int) -> bool:
    """Whether valid JSON ``text`` nests deeper than ``max_depth``, at C speed: with
    strings and everything else but brackets gone, each pass removes the innermost
    pairs, so ``max_depth`` passes empty the brackets of anything not deeper."""
    outside_strings = _STRING.sub("", text).encode("utf-8", "replace")
    brackets = outside_strings.translate(_ONE_KIND, _NOT_BRACKET)
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def _check_unicode(data: Any) -> None:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("holds a lone surrogate (\\ud800-\\udfff): not Unicode text") from exc
