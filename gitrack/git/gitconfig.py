"""The repository's own config file (`git config --local`), through the git binary so
that git's locking and file format apply exactly."""

from __future__ import annotations

import contextlib
from pathlib import Path

from gitrack.errors import GitCommandError
from gitrack.git.binary import run_git


class LocalConfig:
    def __init__(self, root: Path) -> None:
        self._root = root

    def get_all(self, name: str) -> list[str]:
        try:
            out = run_git(["config", "--local", "--get-all", name], cwd=self._root)
        except GitCommandError:
            return []  # git exits 1 when the key is absent
        return out.splitlines()

    def add(self, name: str, value: str) -> None:
        run_git(["config", "--local", "--add", name, value], cwd=self._root)

    def set(self, name: str, value: str) -> None:
        run_git(["config", "--local", "--replace-all", name, value], cwd=self._root)

    def unset(self, name: str, value: str | None = None) -> None:
        args = ["config", "--local", "--unset-all", name]
        if value is not None:
            args.append("^" + _regex_escape(value) + "$")
        with contextlib.suppress(GitCommandError):  # already absent
            run_git(args, cwd=self._root)


def _regex_escape(value: str) -> str:
    return "".join("\\" + c if c in r".^$*+?()[]{}|\/" else c for c in value)
