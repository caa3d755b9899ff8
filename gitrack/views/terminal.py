"""Text from notes, made safe to print (no imports beyond ``re``: the hooks use it too).

Notes come from other people's clones. A run name, a param or a path holding an escape
sequence must not reach the terminal raw: ``\\x1b]0;…\\x07`` retitles the window, CSI
sequences move the cursor, hide or rewrite lines already printed (a forged "ok").
"""

from __future__ import annotations

import functools
import re

# C0 controls (tab and newline too: every field is printed on one line), DEL, C1 controls,
# and lone surrogates (from JSON "\ud800" escapes; they cannot even be encoded as UTF-8).
_UNSAFE = "[\x00-\x1f\x7f-\x9f\ud800-\udfff]"
# In JSON text, C0 controls are already escaped by json.dumps; DEL, C1 and lone surrogates
# are not when ensure_ascii is off. Escaped, the JSON still decodes to the same values.
_UNSAFE_IN_JSON = "[\x7f-\x9f\ud800-\udfff]"


@functools.cache
def _pattern(chars: str) -> re.Pattern[str]:
    # Compiled on first use: every command imports this module, few print unsafe text.
    return re.compile(chars)


_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def printable(text: str) -> str:
    """``text`` with each control character shown as an escape (``\\x1b``), not sent."""
    if text.isprintable():  # the common case, checked in C: nothing to escape
        return text
    return _pattern(_UNSAFE).sub(_escaped, text)


def printable_json(text: str) -> str:
    """JSON text (from json.dumps) that prints safely and decodes to the same values."""
    if text.isascii():  # checked in C: DEL is the only unsafe ASCII character left
        return text.replace("\x7f", "\\u007f") if "\x7f" in text else text
    return _pattern(_UNSAFE_IN_JSON).sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
