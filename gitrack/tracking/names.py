"""Run names: what `--name` (and ``start_run(name=...)``) accepts.

Light on purpose: the Python API checks a name inside a training process, which must not
load git.
"""

from __future__ import annotations

from gitrack.errors import UsageError

MIN_PREFIX = 4  # the shortest id prefix that names a run


def check_name(name: str | None) -> None:
    """Refuse a run name that could be read as a run id or id prefix (or is blank)."""
    if name is None:
        return
    if not name.strip():
        raise UsageError("a run name cannot be empty (write e.g. --name baseline)")
    if len(name.strip()) >= MIN_PREFIX and looks_like_id(name.strip().lower()):
        raise UsageError(
            f"run name {name!r} could be read as a run id (it is all hex digits): "
            "choose a name with another letter, e.g. --name run-" + name
        )


def looks_like_id(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
