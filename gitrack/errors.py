"""gitrack's one error root. Every failure a user can cause is a GitrackError.

The CLI prints ``Error: <message>`` and exits 1 for these; anything else is a bug
(exit 3, its traceback logged: see gitrack.crash).
"""

from __future__ import annotations


class GitrackError(Exception):
    """A failure the user can understand and fix; the message names the fix."""


class NotARepositoryError(GitrackError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"not a git repository: {path} (run gitrack inside a repository, or `git init` first)"
        )
        self.path = path


class BareRepositoryError(GitrackError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is a bare repository; gitrack needs a working tree (clone it and run there)"
        )
        self.path = path


class NoCommitError(GitrackError):
    def __init__(self) -> None:
        super().__init__(
            "this repository has no commit yet; make one first (git add -A && git commit -m init)"
        )


class UsageError(GitrackError):
    """Bad arguments that click itself cannot catch (e.g. ``-p`` without ``=``)."""


class RunNotFoundError(GitrackError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no run matches {ref!r} (list runs with `gitrack ls`)")
        self.ref = ref


class AmbiguousRunError(GitrackError):
    def __init__(self, ref: str, candidates: list[str]) -> None:
        shown = ", ".join(candidates[:5]) + (" …" if len(candidates) > 5 else "")
        super().__init__(
            f"run prefix {ref!r} is ambiguous ({len(candidates)} runs: {shown}); "
            "type more characters"
        )
        self.ref = ref
        self.candidates = candidates


class DirtyWorktreeError(GitrackError):
    def __init__(
        self, paths: list[str], what: str = "uncommitted changes or untracked files"
    ) -> None:
        shown = ", ".join(repr(p) for p in paths[:5]) + (" …" if len(paths) > 5 else "")
        super().__init__(
            f"the working tree has {what} that would be lost ({shown}); commit or stash them, "
            "or use --worktree PATH"
        )
        self.paths = paths


class VerificationError(GitrackError):
    def __init__(self, where: str, differences: list[str]) -> None:
        shown = ", ".join(differences[:5]) + (" …" if len(differences) > 5 else "")
        super().__init__(f"restored state in {where} differs from the recorded run: {shown}")
        self.differences = differences


class ConcurrentUpdateError(GitrackError):
    def __init__(self, ref: str, reason: str = "") -> None:
        last = f"; last: {reason}" if reason else ""
        super().__init__(
            f"could not update {ref}: other writers kept moving it{last}; try again "
            f"(if it persists, check for a stale {ref}.lock file)"
        )
        self.ref = ref


class CorruptRecordError(GitrackError):
    """A note or object that gitrack needs is missing or unreadable."""


class GitCommandError(GitrackError):
    """The git binary failed; the message carries git's own first line."""
