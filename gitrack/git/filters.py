"""Clean and smudge filters only the git binary can run (git-lfs, git-crypt, your own).

A `.gitattributes` line such as ``*.bin filter=lfs`` makes `git add` store what the
driver's clean command prints (an LFS pointer), and `git checkout` write back what its
smudge command prints (the real bytes). libgit2 runs none of these external commands: it
would store the raw bytes and write the stored blob as it is. So for the paths that name a
configured driver, gitrack asks the git binary: `git hash-object` to clean, `git restore`
to smudge. Repositories with no driver configured pay one config read and nothing more.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gitrack.errors import GitrackError
from gitrack.git._pygit2 import pygit2
from gitrack.git.binary import run_git_bytes

if TYPE_CHECKING:
    from gitrack.git.repo import Repo

_COMMANDS = ("clean", "smudge", "process")


class Filters:
    """The filter drivers configured in a repository (``filter.<name>.clean`` and co)."""

    def __init__(self, repo: Repo, drivers: frozenset[str]) -> None:
        self._repo = repo
        self._drivers = drivers

    @classmethod
    def configured(cls, repo: Repo) -> Filters | None:
        """The configured drivers, or None when there are none (the common, cheap case)."""
        drivers = set()
        for entry in repo._r.config:
            section, _, rest = entry.name.partition(".")
            name, _, key = rest.rpartition(".")
            if section == "filter" and name and key in _COMMANDS and entry.value:
                drivers.add(name)
        return cls(repo, frozenset(drivers)) if drivers else None

    def applies(self, path: str) -> bool:
        """Does git run a driver on ``path`` (its `filter` attribute names a configured one)?"""
        try:
            # As bytes: a name that is not UTF-8 (surrogate escapes) is matched as git does.
            value = self._repo._r.get_attr(os.fsencode(path), "filter")
        except pygit2.GitError:
            return False
        return isinstance(value, str) and value in self._drivers

    def clean_blobs(self, paths: list[str]) -> dict[str, str]:
        """Store each working file as `git add` would (cleaned): path -> blob id."""
        if not paths:
            return {}
        # --stdin-paths reads one name a line: a name holding a newline goes as an argument.
        by_line = [p for p in paths if "\n" not in p]
        by_arg = [p for p in paths if "\n" in p]
        ids: list[str] = []
        if by_line:
            stdin = b"".join(os.fsencode(p) + b"\n" for p in by_line)
            ids += self._hash_objects(["--stdin-paths"], stdin)
        for path in by_arg:
            ids += self._hash_objects(["--", path], b"")
        if len(ids) != len(paths):
            raise GitrackError(f"git hash-object returned {len(ids)} ids for {len(paths)} files")
        return dict(zip([*by_line, *by_arg], ids, strict=True))

    def _hash_objects(self, args: list[str], stdin: bytes) -> list[str]:
        out = run_git_bytes(["hash-object", "-w", *args], cwd=self._repo.root, stdin=stdin)
        return out.decode().split()

    def smudge_into_worktree(self, tree: str, paths: Iterable[str]) -> None:
        """Write ``paths`` from ``tree`` into the working tree through their smudge filters;
        the index stays as it is."""
        chosen = [p for p in paths if self.applies(p)]
        if not chosen:
            return
        stdin = b"".join(os.fsencode(p) + b"\0" for p in chosen)
        args = ["--literal-pathspecs", "restore", f"--source={tree}", "--worktree",
                "--pathspec-from-file=-", "--pathspec-file-nul"]  # fmt: skip
        run_git_bytes(args, cwd=self._repo.root, stdin=stdin)
