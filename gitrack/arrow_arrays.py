"""Arrow arrays from Python lists, built from their buffers: what ``pa.array`` gives,
without importing pandas.

``pa.array(a_list)`` first asks pandas whether the list is one of pandas' own arrays, and
imports pandas to ask when it is installed, as it is beside most data science code: 0.47 s
on one Intel VM, added to every run that logs step metrics (the encoding runs as the user's
script exits) and to every ``gitrack.runs()`` and ``gitrack export`` in a process that has
not imported pandas itself. ``pa.Array.from_buffers`` asks nobody. Values this module does
not expect (a type the fast path refuses) go to ``pa.array``, which gives the same array
or raises the same error as before.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from itertools import accumulate, repeat
from operator import is_not
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_DIGITS = bytes.maketrans(b"\x00\x01", b"01")
_STRING_BYTES_AT_MOST = 2**31 - 2  # pa.array's own limit for one string array


def column(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    """``pa.array(values, arrow_type)`` for float64, int64, bool, string and UTC timestamp(us)."""
    import pyarrow as pa

    try:
        return _from_buffers(values, arrow_type)
    except (TypeError, ValueError, OverflowError, UnicodeError):
        return pa.array(values, arrow_type)  # its own conversion, or its own error


def _from_buffers(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    import pyarrow as pa

    present = bytes(map(is_not, values, repeat(None)))
    nulls = present.count(0)
    validity = _bitmap(present) if nulls else None
    if arrow_type == pa.string():
        data, offsets = _utf8(values)
        buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(data)]
    elif arrow_type == pa.bool_():
        _only(values, bool)
        buffers = [validity, _bitmap(bytes(map(bool, values)))]
    else:
        buffers = [validity, pa.py_buffer(_fixed_width(values, arrow_type, nulls))]
    return pa.Array.from_buffers(arrow_type, len(values), buffers, null_count=nulls)


def _fixed_width(values: Sequence[Any], arrow_type: pa.DataType, nulls: int) -> array[Any]:
    import pyarrow as pa

    if arrow_type == pa.float64():
        _only(values, float)  # an int, a bool or a numpy scalar: pa.array's own rules
        return array("d", [0.0 if v is None else v for v in values] if nulls else values)
    if arrow_type == pa.int64():
        _only(values, int)
        return array("q", [0 if v is None else v for v in values] if nulls else values)
    if arrow_type == pa.timestamp("us", tz="UTC"):
        _only(values, datetime)
        return array("q", [0 if v is None else _micros(v) for v in values])
    raise ValueError(f"no fast path for {arrow_type}")


def _only(values: Sequence[Any], kind: type) -> None:
    """Refuse (to ``pa.array``) values of any other exact type than ``kind`` or None."""
    if not set(map(type, values)) <= {kind, type(None)}:
        raise TypeError(f"not only {kind.__name__}")


def _micros(value: datetime) -> int:
    if value.tzinfo is not timezone.utc:  # pa.array's reading of other zones is its own
        raise TypeError("not a UTC datetime")
    return (value - _EPOCH) // _MICROSECOND


def _utf8(values: Sequence[Any]) -> tuple[bytes, array[int]]:
    """The values' UTF-8 bytes end to end, and where each starts (Arrow's int32 offsets)."""
    _only(values, str)
    encoded = [b"" if v is None else v.encode() for v in values]
    data = b"".join(encoded)
    if len(data) > _STRING_BYTES_AT_MOST:  # pa.array splits it into chunks, or refuses
        raise OverflowError("too much text for one string array")
    return data, array("i", accumulate(map(len, encoded), initial=0))


def _bitmap(flags: bytes) -> pa.Buffer:
    """One byte per value (0 or 1) as Arrow's bitmap: value i is bit i % 8 (least
    significant first) of byte i // 8. Read as a binary number written backwards, the
    flags are that bitmap as one little-endian integer."""
    import pyarrow as pa

    number = int(flags.translate(_DIGITS)[::-1], 2) if flags else 0
    return pa.py_buffer(number.to_bytes((len(flags) + 7) // 8, "little"))
