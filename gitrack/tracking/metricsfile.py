"""The `-m` metrics file a command writes: its numbers become the run's metrics.

The command wrote the file: it may hold anything, of any size or depth; a file that
cannot be read is a warning on a run that is still recorded, never a lost run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gitrack import jsonsafe


def read_metrics(path: Path) -> tuple[dict[str, float], str | None]:
    """Numbers of a JSON file, nested keys joined with '.'; (metrics, warning or None).

    The command wrote the file: it may be anything, of any size or depth.
    """
    try:
        with path.open("rb") as fh:
            raw = fh.read(jsonsafe.MAX_CHARS + 1)
    except FileNotFoundError:
        return {}, f"metrics file {path} was not written by the command; no metrics recorded"
    except OSError as exc:
        return {}, f"metrics file {path} cannot be read ({exc}); no metrics recorded"
    if len(raw) > jsonsafe.MAX_CHARS:
        return {}, (
            f"metrics file {path} is over {jsonsafe.MAX_CHARS // 2**20} MiB; no metrics recorded"
        )
    try:
        data = jsonsafe.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError included
        return {}, f"metrics file {path} is not valid JSON ({exc}); no metrics recorded"
    if not isinstance(data, dict):
        return {}, f"metrics file {path} holds no JSON object; no metrics recorded"
    return flatten_numbers(data), None


def flatten_numbers(data: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of nested objects under their dotted keys, depth first in key order.

    A loop, not recursion: how deep ``data`` is was the command's choice.
    """
    out: dict[str, float] = {}
    pending = [(prefix, iter(data.items()))]
    while pending:
        prefix, items = pending[-1]
        for key, value in items:
            full = f"{prefix}{key}"
            if isinstance(value, dict):
                pending.append((full + ".", iter(value.items())))
                break  # this object's other keys come after the nested ones
            if _is_metric(value):
                out[full] = value
        else:
            pending.pop()
    return out


_FLOAT_MAX = sys.float_info.max


def _is_metric(value: Any) -> bool:
    if isinstance(value, float):
        return True
    # An integer no float can hold is no metric (and a reader could not compare it).
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _FLOAT_MAX
