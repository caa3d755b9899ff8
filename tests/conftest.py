"""Shared fixtures and helpers: real git repositories in tmp_path, isolated from the host.

Every test runs with a fake HOME (its own ~/.gitconfig), no system git config and a fixed
author and committer, both for the `git` binary the tests type and for libgit2 inside
gitrack (which reads its config search path once, at import: it is reset per test here).

Helpers (import them with ``from conftest import ...``):

- ``git(*args, cwd=...)``: the real git binary; returns stdout, raises with stderr on failure.
- ``gitrack(*args, cwd=...)``: gitrack in-process through ``gitrack.cli.main``; fast.
- ``gitrack_proc(*args, cwd=...)``: gitrack as a real ``python -m gitrack`` subprocess.
- ``worktree_state(root)``: every file under a working tree (not .git): bytes, exec bit,
  symlink target; the thing a restore must reproduce.
- ``repo_state(root)``: refs, HEAD, index bytes, config and files: "nothing changed".
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2  # noqa: TID251 - only to point libgit2's config search path at the fake HOME
import pytest
from pygit2.enums import ConfigLevel  # noqa: TID251

from gitrack.cli import main

# Variables that would point git (or gitrack) somewhere else than the test's repository.
_GIT_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CONFIG",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_NOTES_REF",
    "GIT_NOTES_DISPLAY_REF",
    "GIT_NOTES_REWRITE_REF",
    "GIT_NOTES_REWRITE_MODE",
    "GIT_REFLOG_ACTION",
    "GIT_TRACE",
    "GIT_EXEC_PATH",
    "GIT_PREFIX",
    "GIT_QUARANTINE_PATH",
    "EMAIL",
)

GITCONFIG = """\
[user]
\tname = Test User
\temail = test@example.invalid
[init]
\tdefaultBranch = main
[advice]
\tdetachedHead = false
[core]
\tpager = cat
[gc]
\tauto = 0
"""

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


@pytest.fixture(autouse=True)
def isolated_git(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A fake HOME with its own ~/.gitconfig; no system config; no GIT_* leaking in."""
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(GITCONFIG)
    (home / ".config" / "git").mkdir(parents=True)
    nowhere = home / "no-system-config"
    nowhere.mkdir()
    for name in _GIT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    monkeypatch.setenv("GIT_EDITOR", "true")
    monkeypatch.setenv("GIT_SEQUENCE_EDITOR", "true")
    monkeypatch.setenv("GIT_PAGER", "cat")
    monkeypatch.setenv("PAGER", "cat")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path_factory.getbasetemp()))
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    # libgit2 computed its search path from the real HOME when pygit2 was imported.
    levels = (ConfigLevel.GLOBAL, ConfigLevel.XDG, ConfigLevel.SYSTEM)
    saved = {level: pygit2.settings.search_path[level] for level in levels}
    pygit2.settings.search_path[ConfigLevel.GLOBAL] = str(home)
    pygit2.settings.search_path[ConfigLevel.XDG] = str(home / ".config" / "git")
    pygit2.settings.search_path[ConfigLevel.SYSTEM] = str(nowhere)
    try:
        yield home
    finally:
        for level, value in saved.items():
            pygit2.settings.search_path[level] = value


# --------------------------------------------------------------------------- git
def git(
    *args: str, cwd: str | os.PathLike[str], check: bool = True, input: str | None = None
) -> str:
    """Run the real git binary in ``cwd``; return stdout (text)."""
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, input=input, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def make_repo(path: Path, files: dict[str, str | bytes] | None = None) -> Path:
    """`git init` plus one commit holding ``files`` (default: a tiny training project)."""
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", str(path), cwd=path.parent)
    if files is None:
        files = {"train.py": "print('training')\n", "data/values.csv": "x,y\n1,2\n"}
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "init", cwd=path)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit: train.py and data/values.csv."""
    return make_repo(tmp_path / "repo")


# ----------------------------------------------------------------------- gitrack
@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@contextlib.contextmanager
def chdir(path: str | os.PathLike[str]) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def gitrack(*args: str, cwd: str | os.PathLike[str]) -> Result:
    """gitrack in-process (``gitrack.cli.main``) in ``cwd``; stdout and stderr captured.

    The command gitrack runs is a real child process; its own output goes to the test's
    file descriptors, not into the result.
    """
    out, err = io.StringIO(), io.StringIO()
    with chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Result(code, out.getvalue(), err.getvalue())


def fresh_clone(src: Path, dst: Path) -> Path:
    """A clone as a teammate makes it: branches by `git clone`, gitrack's refs fetched."""
    # --no-local: objects travel as from a real remote (a local clone copies them all).
    git("clone", "-q", "--no-local", str(src), str(dst), cwd=src.parent)
    git("fetch", "-q", "origin", "+refs/notes/*:refs/notes/*", "+refs/gitrack/*:refs/gitrack/*",
        cwd=dst)  # fmt: skip
    return dst


def gitrack_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gitrack", *args]


def gitrack_proc(*args: str, cwd: str | os.PathLike[str], timeout: float = 60) -> Result:
    """gitrack as a real subprocess: exit codes, signals, stdio as a user sees them."""
    proc = subprocess.run(
        gitrack_cmd(*args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def record(*command: str, cwd: str | os.PathLike[str], options: tuple[str, ...] = ()) -> str:
    """`gitrack run [options] -- command...` in-process; returns the new run's id."""
    res = gitrack("run", *options, "--", *command, cwd=cwd)
    line = res.err_lines[-1]
    assert line.startswith("gitrack: recorded run "), res.err
    return line.split()[3]


def runs(cwd: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """`gitrack ls --json`, asserted to succeed."""
    res = gitrack("ls", "--json", cwd=cwd)
    assert res.code == 0, res.err
    data = res.json()
    assert isinstance(data, list)
    return data


def run_by_id(cwd: str | os.PathLike[str], run_id: str) -> dict[str, Any]:
    matches = [r for r in runs(cwd) if r["id"] == run_id]
    assert len(matches) == 1, matches
    return matches[0]


def note_lines(cwd: str | os.PathLike[str], rev: str = "HEAD") -> list[str]:
    """The lines of the gitrack note on ``rev``, read by git itself ([] when none)."""
    text = git("notes", "--ref=gitrack", "show", rev, cwd=cwd, check=False)
    # "\n" only, as git splits: str.splitlines() would also split at U+2028 inside JSON.
    return [line for line in text.split("\n") if line.strip()]


# ------------------------------------------------------------------------- state
def worktree_state(root: str | os.PathLike[str]) -> dict[str, tuple[str, bytes | str, bool]]:
    """path -> ("file", bytes, executable) or ("link", target, False); .git left out.

    Directories are not entries (git does not track them), symlinks are not followed.
    """
    root = Path(root)
    out: dict[str, tuple[str, bytes | str, bool]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            filenames = [f for f in filenames if f != ".git"]
        keep = []
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                filenames.append(name)  # a symlink to a directory: an entry, not a walk
            else:
                keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = (rel_dir / name).as_posix()
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full), False)
            else:
                with open(full, "rb") as fh:
                    out[rel] = ("file", fh.read(), bool(st.st_mode & stat.S_IXUSR))
    return out


def git_dir_of(root: Path) -> Path:
    return Path(git("rev-parse", "--absolute-git-dir", cwd=root).strip())


def repo_state(root: Path) -> dict[str, Any]:
    """Everything a failed command must leave alone."""
    gdir = git_dir_of(root)
    common = Path(git("rev-parse", "--git-common-dir", cwd=root).strip())
    if not common.is_absolute():
        common = (root / common).resolve()
    index = gdir / "index"
    return {
        "refs": git("for-each-ref", "--format=%(refname) %(objectname)", cwd=root),
        "head": (gdir / "HEAD").read_text(),
        "index": index.read_bytes() if index.exists() else None,
        "config": (common / "config").read_bytes(),
        "files": worktree_state(root),
    }
