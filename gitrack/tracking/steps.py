"""Step metrics (the full history of each logged metric) as parquet bytes.

One row per logged value: ``key`` (string), ``step`` (int64), ``value`` (float64, NaN and
±inf kept), ``timestamp`` (float64, seconds since the epoch). Stored as a git blob that
the run's note line names (``metric_history``); see docs/format.md.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from gitrack.errors import CorruptRecordError

if TYPE_CHECKING:
    from gitrack.git import Repo
    from gitrack.tracking.record import RunRecord

FILE_NAME = "metrics.parquet"

Step = tuple[str, int, float, float]


def encode(steps: list[Step]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gitrack.arrow_arrays import column

    keys, numbers, values, times = zip(*steps, strict=True) if steps else ((), (), (), ())
    table = pa.Table.from_arrays(
        [
            column(keys, pa.string()),
            column(numbers, pa.int64()),
            column(values, pa.float64()),
            column(times, pa.float64()),
        ],
        names=["key", "step", "value", "timestamp"],
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def decode(data: bytes) -> list[Step]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # No Arrow threads here, on purpose (issue 17): pq.read_table leaves Arrow worker threads
    # running (some even with use_threads=False), and a process that exits with them alive
    # aborts now and then with SIGABRT, "terminate called without an active exception".
    # Upstream: apache/arrow#34314, still open. A ParquetFile over a BufferReader read with
    # use_threads=False starts none (tests/test_steps_exit.py counts them); a blob this
    # small gains nothing from threads anyway.
    with pq.ParquetFile(pa.BufferReader(data)) as parquet:
        table = parquet.read(use_threads=False)
    columns = [table.column(name).to_pylist() for name in ("key", "step", "value", "timestamp")]
    return [(str(k), int(s), float(v), float(t)) for k, s, v, t in zip(*columns, strict=True)]


def metric_history(
    repo: Repo, record: RunRecord, key: str
) -> list[tuple[int | None, float, float]]:
    """``(step, value, timestamp)`` of one metric, from the parquet blob the run names.

    A metric with no steps (from the ``-m`` file, or a run without a step history) is its
    one value: step ``None`` (no step was logged: none is invented), timestamp the run's
    end, when the file was read. ``[]`` if the run has no such metric.
    """
    found: list[tuple[int | None, float, float]] = []
    blob = record.metric_history
    if blob is not None:
        data = repo.read_blob(blob)
        try:
            decoded = decode(data)
        except Exception as exc:  # the blob is named by a note: untrusted input
            raise CorruptRecordError(
                f"the step metrics of run {record.id} ({blob[:12]}) are unreadable: {exc}"
            ) from exc
        found = [(step, value, t) for k, step, value, t in decoded if k == key]
    if not found and key in record.metrics:
        return [(None, record.metrics[key], _ended(record))]
    return found


def _ended(record: RunRecord) -> float:
    from gitrack.tracking.record import parse_timestamp

    return parse_timestamp(record.started).timestamp() + record.duration_s


def store_history(repo: Repo, steps: list[Step], run_id: str) -> str:
    """Step metrics as parquet in git, pinned, so the history travels with the runs."""
    from gitrack.git.refs import PINS_REF

    blob = repo.write_blob(encode(steps))
    tree = repo.tree_from_blobs({FILE_NAME: blob})
    repo.refs.append_to_chain(PINS_REF, [], tree, f"gitrack: metrics of run {run_id}\n")
    return blob
