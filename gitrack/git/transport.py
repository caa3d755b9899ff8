"""Talking to the user's git remotes through the git binary: their transport, their
credentials, their config. Never a force-fetch over local refs, never a forced push."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from gitrack.errors import GitCommandError, GitrackError
from gitrack.git.binary import run_git

if TYPE_CHECKING:
    from gitrack.git.repo import Repo

# What git says when the remote moved between our fetch and our push: merge, retry.
_LOST_RACE = (
    "non-fast-forward",
    "fetch first",
    "[rejected]",
    "cannot lock ref",  # the remote moved while receive-pack was updating it
    "but expected",
    "incorrect old value",
)


class Transport:
    def __init__(self, repo: Repo) -> None:
        self._repo = repo

    def default_remote(self) -> str:
        """The current branch's remote, else ``origin``; it must exist."""
        raw = self._repo._r
        remotes = list(raw.remotes.names())
        name = "origin"
        if not raw.head_is_detached and not raw.head_is_unborn:
            configured = self._repo.config_value(f"branch.{raw.head.shorthand}.remote")
            if configured and configured != ".":
                name = configured
        if name not in remotes:
            raise GitrackError(
                f"no remote named {name!r} (remotes: {', '.join(remotes) or 'none'}); "
                "name one, e.g. gitrack pull upstream, or add it with git remote add"
            )
        return name

    def remotes(self) -> list[str]:
        """The names of the repository's remotes."""
        return list(self._repo._r.remotes.names())

    def remote_refs(self, remote: str, refs: list[str]) -> dict[str, str]:
        """`git ls-remote`: which of ``refs`` the remote has, and where they point."""
        out = run_git(["ls-remote", "--quiet", remote, *refs], cwd=self._repo.root)
        found = {}
        for line in out.splitlines():
            oid, _, name = line.partition("\t")
            if name in refs:
                found[name] = oid
        return found

    def fetch(self, remote: str, refspecs: list[str]) -> None:
        """`git fetch` with the user's own transport and credentials.

        ``--no-tags``: git would otherwise follow every tag on the fetched commits, and
        refuse the whole fetch over one that clashes with a local tag; the registry's
        tags are fetched on their own (tracking.registry.share), clashes reported.
        Without hooks: gitrack's own reference-transaction hook would merge the fetched
        refs (a Python start, a merge) before the caller checks and merges them itself.
        """
        quiet = ["--quiet", "--no-tags", "--no-write-fetch-head"]
        run_git(
            ["-c", "core.hooksPath=/dev/null", "fetch", *quiet, remote, *refspecs],
            cwd=self._repo.root,
        )

    def push(self, remote: str, refspecs: list[str]) -> bool:
        """`git push` without force and without hooks (ours would recurse).

        True when pushed; False when the remote moved meanwhile (fetch, merge, retry).
        """
        proc = subprocess.run(
            ["git", "push", "--quiet", "--no-verify", remote, *refspecs],
            cwd=self._repo.root,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            return True
        if any(w in proc.stderr for w in _LOST_RACE):
            return False
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        # The reason (e.g. "[remote rejected] … (pre-receive hook declined)") beats git's
        # closing "failed to push some refs".
        reasons = [ln for ln in lines if "rejected" in ln or ln.startswith(("fatal:", "remote:"))]
        detail = (reasons or lines or [f"exit {proc.returncode}"])[-1]
        raise GitCommandError(f"git push failed: {detail}")
