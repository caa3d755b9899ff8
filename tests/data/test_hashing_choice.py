"""Large files are hashed by a read loop or through mmap, whichever measured faster in this
process (issue 16 §2): every way, and every switch point, gives the same hash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitrack.data import hashing


@pytest.mark.parametrize(
    ("chosen", "measured"),
    [([], "read"), ([], "map"), (["read"], ""), (["map"], "")],
    ids=["measured-read", "measured-map", "read", "map"],
)
@pytest.mark.parametrize("extra", [0, 1, hashing.CHUNK - 1, 3 * hashing.CHUNK + 5])
def test_every_way_gives_the_same_hash(
    chosen: list[str],
    measured: str,
    extra: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hashing, "MEASURE_MIN", 2 * hashing.CHUNK)
    monkeypatch.setattr(hashing, "PROBE", hashing.CHUNK + 7)  # a probe off the chunk grid
    monkeypatch.setattr(hashing, "_CHOSEN", list(chosen))
    monkeypatch.setattr(hashing, "_faster", lambda _read_s, _map_s: measured)  # either may win
    data = os.urandom(2 * hashing.CHUNK + extra)
    path = tmp_path / "large"
    path.write_bytes(data)
    seen: list[int] = []
    assert hashing.hash_file(path, seen.append) == hashing.hash_bytes(data)
    assert sum(seen) == len(data)  # progress reports every byte once
    assert (chosen or [measured]) == hashing._CHOSEN  # measured once, then remembered
