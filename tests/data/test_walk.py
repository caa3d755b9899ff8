"""Walking a dataset folder: its files sorted by path as they are found (no sort of them all
at the end), and the stat stamp that tells whether a folder changed, walked and not kept."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gitrack.data.hasher import stamp_of
from gitrack.data.walk import files_under, walk

_name = st.text(alphabet="a-.0_é名 Z", min_size=1, max_size=3).filter(
    lambda s: s not in {".", ".."}
)
_tree = st.lists(st.lists(_name, min_size=1, max_size=3).map("/".join), max_size=12)


def _make(root: Path, paths: list[str]) -> list[str]:
    """The files made (a path that would go through a file, or be a folder, is left out)."""
    made: list[str] = []
    for rel in paths:
        target = root / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(rel)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue
        made.append(rel)
    return [rel for rel in made if (root / rel).is_file()]


@settings(max_examples=60, deadline=None)
@given(paths=_tree)
def test_files_come_sorted_by_path(paths: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        made = sorted(set(_make(root, paths)))
        found, _, _ = walk(root)
        assert found.paths == made
        assert [rel for rel, *_ in files_under(root, [], [])] == made
        assert [item[0] for item in found] == made
        assert [found[i] for i in range(len(found))] == list(found)
        assert [(found.size(i), found.key(i)) for i in range(len(found))] == [
            (size, key) for _, size, _, key in found
        ]


def test_each_file_keeps_its_size_and_exec_bit(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tool").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "sub" / "tool", 0o755)
    (tmp_path / "a").write_bytes(b"12345")
    found, empty, warnings = walk(tmp_path)
    assert [(rel, size, executable) for rel, size, executable, _ in found] == [
        ("a", 5, False),
        ("sub/tool", 10, True),
    ]
    assert found[-1] == list(found)[-1] and (empty, warnings) == ([], [])


def test_the_stamp_sees_any_change(tmp_path: Path) -> None:
    for name in ("a", "b", "c/d"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(name)
    found, _, _ = walk(tmp_path)
    stamp = stamp_of("x", True, found)
    assert stamp == stamp_of("x", True, files_under(tmp_path, [], []))
    assert stamp != stamp_of("x", True, found[1:])
    (tmp_path / "c" / "d").write_text("other")
    assert stamp != stamp_of("x", True, files_under(tmp_path, [], []))
    (tmp_path / "c" / "d").unlink()
    assert stamp != stamp_of("x", True, files_under(tmp_path, [], []))
