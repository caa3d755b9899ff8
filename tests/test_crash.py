"""A bug (an exception that is not a GitrackError) exits 3 and logs its traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git_dir_of, gitrack

from gitrack.commands import listing


def _boom(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("planted bug")


def test_unexpected_exception_exits_3_and_names_the_log(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "list_runs", _boom)
    res = gitrack("ls", cwd=repo)
    assert res.code == 3
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1, res.err
    log = git_dir_of(repo) / "gitrack" / "gitrack-crash.log"
    assert "RuntimeError: planted bug" in lines[0]
    assert str(log) in lines[0]
    text = log.read_text()
    assert "command: gitrack ls" in text
    assert "Traceback (most recent call last)" in text
    assert 'raise RuntimeError("planted bug")' in text


def test_crash_outside_a_repository_logs_to_the_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    from gitrack import crash

    path = crash.write_log(RuntimeError("x"), ["ls"], cwd=tmp_path)
    assert path == tmp_path / "gitrack-crash.log"
    assert "RuntimeError: x" in path.read_text()
