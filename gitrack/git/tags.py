"""Annotated tags: read them, create one without ever moving an existing one, and exchange
them with a remote (never forced). The model registry lives on them (GTO's format)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gitrack.errors import GitCommandError, GitrackError
from gitrack.git._pygit2 import pygit2
from gitrack.git.binary import run_git
from gitrack.git.cas import TryAgain
from gitrack.git.types import TagInfo

if TYPE_CHECKING:
    from gitrack.git.repo import Repo

TAGS_PREFIX = "refs/tags/"


class TagExistsError(GitrackError):
    def __init__(self, name: str) -> None:
        super().__init__(f"tag {name!r} already exists; tags are never moved: pick another name")
        self.name = name


class TagConflictError(GitrackError):
    """The remote has a tag of the same name pointing elsewhere (someone else made it)."""


def _ident(value: str) -> str:
    """A name or email as git writes it in an identity line (no brackets, no newline)."""
    return " ".join(value.replace("<", "").replace(">", "").split())


class Tags:
    def __init__(self, repo: Repo) -> None:
        self._repo = repo

    # ----------------------------------------------------------------- reading
    def names(self) -> list[str]:
        return sorted(
            ref[len(TAGS_PREFIX) :]
            for ref in self._repo._r.references
            if ref.startswith(TAGS_PREFIX)
        )

    def ids(self, wanted: Callable[[str], bool]) -> dict[str, str]:
        """Tag name -> the object its ref points at, for the names ``wanted`` accepts."""
        found = {}
        for ref in self._repo._r.references:
            name = ref[len(TAGS_PREFIX) :]
            if ref.startswith(TAGS_PREFIX) and wanted(name):
                found[name] = str(self._repo._r.references[ref].target)
        return found

    def annotated(self, wanted: Callable[[str], bool]) -> list[TagInfo]:
        """Every annotated tag whose name ``wanted`` accepts (lightweight tags: skipped)."""
        found = []
        for name in self.names():
            if wanted(name):
                info = self.get(name)
                if info is not None:
                    found.append(info)
        return found

    def get(self, name: str) -> TagInfo | None:
        """The annotated tag ``name``; None if there is none (or it is lightweight)."""
        ref = self._repo._r.references.get(TAGS_PREFIX + name)
        if ref is None:
            return None
        try:
            obj = self._repo._r[ref.target]
            if not isinstance(obj, pygit2.Tag) or obj.tagger is None:
                return None
            commit = obj.peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            return None  # points at a missing object, or at no commit: not ours to read
        return TagInfo(
            name=name,
            id=str(obj.id),
            target=str(commit.id),
            message=obj.message or "",
            tagger=obj.tagger.name,
            tagger_email=obj.tagger.email,
            time=obj.tagger.time,
        )

    @staticmethod
    def is_valid_name(name: str) -> bool:
        return bool(pygit2.reference_is_valid_name(TAGS_PREFIX + name))

    # ----------------------------------------------------------------- writing
    def create(self, name: str, target: str, message: str, not_before: int = 0) -> TagInfo:
        """Create annotated tag ``name`` on commit ``target``; refuse if it exists.

        The check happens under the ref's lock, so two writers creating the same tag at
        once cannot both succeed. The tagger time is at least ``not_before`` (seconds).
        """
        refname = TAGS_PREFIX + name
        if not self.is_valid_name(name):
            raise GitrackError(f"{name!r} is not a valid git tag name")
        sig = self._repo._signature()
        when = max(int(time.time()), not_before)
        sign = "-" if sig.offset < 0 else "+"
        offset = f"{sign}{abs(sig.offset) // 60:02d}{abs(sig.offset) % 60:02d}"
        who, email = _ident(sig.name), _ident(sig.email)
        raw = (
            f"object {target}\ntype commit\ntag {name}\n"
            f"tagger {who} <{email}> {when} {offset}\n\n{message}"
        )
        oid = self._repo._r.odb.write(pygit2.enums.ObjectType.TAG, raw.encode("utf-8"))
        try:
            self._repo.refs.set_if_unmoved(refname, None, str(oid), "gitrack: model registry")
        except (TryAgain, GitCommandError, pygit2.GitError, OSError) as exc:
            # Another writer holds the ref's lock: it is creating this very tag.
            raise TagExistsError(name) from exc
        created = self.get(name)
        assert created is not None
        return created

    # ----------------------------------------------------------------- remotes
    def remote_tags(self, remote: str) -> dict[str, str]:
        """`git ls-remote --tags`: tag name -> tag object id on the remote."""
        out = run_git(["ls-remote", "--quiet", "--tags", remote], cwd=self._repo.root)
        found = {}
        for line in out.splitlines():
            oid, _, ref = line.partition("\t")
            if ref.startswith(TAGS_PREFIX) and not ref.endswith("^{}"):
                found[ref[len(TAGS_PREFIX) :]] = oid
        return found

    def fetch(self, remote: str, names: list[str]) -> None:
        """Fetch tags the local repository lacks (never over an existing one: no force)."""
        if names:
            specs = [f"{TAGS_PREFIX}{n}:{TAGS_PREFIX}{n}" for n in names]
            run_git(
                ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, *specs],
                cwd=self._repo.root,
            )

    def push(self, remote: str, names: list[str]) -> None:
        """Push tags the remote lacks, without force; a tag someone else pushed meanwhile
        under the same name is a TagConflictError."""
        if not names:
            return
        specs = [f"{TAGS_PREFIX}{n}:{TAGS_PREFIX}{n}" for n in names]
        if not self._repo.transport.push(remote, specs):
            raise TagConflictError(
                f"{remote} refused tag(s) {', '.join(names)}: someone else pushed a tag of the "
                "same name meanwhile; run gitrack pull to see theirs, then register again"
            )
