"""The git binary's runner: its errors name the problem, and its text is what git wrote."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git

from gitrack.errors import GitCommandError
from gitrack.git.binary import run_git, run_git_bytes


def test_a_missing_folder_is_named_not_taken_for_a_missing_git(tmp_path: Path) -> None:
    """Both raise FileNotFoundError; only one is "install git" (review)."""
    gone = tmp_path / "gone"
    with pytest.raises(GitCommandError, match=f"folder {gone} does not exist"):
        run_git(["--version"], cwd=gone)


def test_a_missing_git_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GitCommandError, match="git binary was not found on PATH"):
        run_git(["--version"], cwd=tmp_path)


def test_a_name_that_is_not_utf8_comes_back_as_os_functions_take_it(repo: Path) -> None:
    """Text output with bytes that are not UTF-8 (a file name) is not a crash: it comes
    back as os.fsdecode gives it, so the name opens the file (review: UnicodeDecodeError)."""
    raw = b"caf\xe9.txt"
    (repo / os.fsdecode(raw)).write_bytes(b"x")
    git("add", "-A", cwd=repo)
    listed = run_git(["-c", "core.quotePath=false", "ls-files", "-z"], cwd=repo)
    assert os.fsdecode(raw) in listed.split("\0")
    assert (repo / os.fsdecode(raw)).exists()


def test_git_last_words_are_the_error_even_when_not_utf8(repo: Path) -> None:
    for run in (
        lambda: run_git(["cat-file", "-t", "x\udcff"], cwd=repo),
        lambda: run_git_bytes(["cat-file", "-t", "x\udcff"], cwd=repo, stdin=b""),
    ):
        with pytest.raises(GitCommandError, match="git cat-file failed: fatal: "):
            run()
