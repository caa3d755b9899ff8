"""Objects written as files for the Python API's ``log_figure``, ``log_dict``,
``log_text`` and ``log_table``: each file then becomes an output of the run.

Every file is written to a temporary name beside it and renamed, so an output is never
half written; the heavy writers (pyarrow) are imported only when used.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gitrack.errors import UsageError
from gitrack.paths import atomic_file


def write_figure(figure: Any, path: Path) -> None:
    """A matplotlib figure (or anything with ``savefig(path)``), in the format of PATH's
    extension."""
    savefig = getattr(figure, "savefig", None)
    if not callable(savefig):
        raise UsageError(
            f"log_figure needs a figure with a savefig(path) method, such as a matplotlib "
            f"Figure (pip install matplotlib); got {type(figure).__name__}"
        )
    with _atomic(path) as temp:
        savefig(str(temp))


def write_dict(data: Any, path: Path) -> None:
    """A dict as JSON (keys sorted, indented: it diffs well)."""
    if not isinstance(data, dict):
        raise UsageError(f"log_dict needs a dict; got {type(data).__name__}")
    try:
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"log_dict: the dict is not JSON ({exc}); convert the values") from exc
    _write(path, lambda temp: temp.write_text(text + "\n", encoding="utf-8"))


def write_text(text: Any, path: Path) -> None:
    if not isinstance(text, str):
        raise UsageError(f"log_text needs a str; got {type(text).__name__}")
    _write(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def write_table(table: Any, path: Path) -> None:
    """A pyarrow Table or a pandas DataFrame, as parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        if type(table).__name__ != "DataFrame" or not hasattr(table, "columns"):
            raise UsageError(
                f"log_table needs a pyarrow Table or a pandas DataFrame; got {type(table).__name__}"
            )
        table = pa.Table.from_pandas(table)
    _write(path, lambda temp: pq.write_table(table, temp))


def _write(path: Path, write: Callable[[Path], object]) -> None:
    with _atomic(path) as temp:
        write(temp)


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temporary file beside PATH (same extension: savefig picks the format by it),
    renamed over PATH once written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, keep_suffix=True) as temp:
        yield temp
        if not temp.is_file():
            raise UsageError(f"nothing was written to {path}")
