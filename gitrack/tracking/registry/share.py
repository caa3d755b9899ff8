"""The registry's tags through `gitrack pull` / `push` (and so the pre-push hook).

Only tags in the registry's format travel, each in its own refspec, never forced: a tag
the other side lacks is copied, an identical one is left alone, and a tag of the same name
pointing elsewhere is a conflict (two people registered or assigned under one name), which
is reported, never resolved by moving either tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitrack.git import Repo
from gitrack.git.tags import TagConflictError
from gitrack.tracking.registry.names import is_registry_tag


@dataclass
class TagSync:
    fetched: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def conflict_message(self, remote: str) -> str:
        first = self.conflicts[0]
        more = f" (and {len(self.conflicts) - 1} more)" if len(self.conflicts) > 1 else ""
        return (
            f"{remote} has another tag {first!r}{more}: someone else registered or assigned "
            f"under that name first; keep theirs with git tag -d '{first}' && gitrack pull, "
            "then register or assign again"
        )


def pull_tags(repo: Repo, remote: str) -> TagSync:
    """Fetch the remote's registry tags that are not here; name the conflicting ones."""
    return _pull(repo, remote)[0]


def _pull(repo: Repo, remote: str) -> tuple[TagSync, set[str]]:
    theirs = {n: oid for n, oid in repo.tags.remote_tags(remote).items() if is_registry_tag(n)}
    ours = repo.tags.ids(is_registry_tag)
    result = TagSync()
    result.fetched = sorted(n for n in theirs if n not in ours)
    result.conflicts = sorted(n for n in theirs if n in ours and ours[n] != theirs[n])
    repo.tags.fetch(remote, result.fetched)
    return result, set(theirs)


def push_tags(repo: Repo, remote: str) -> TagSync:
    """Fetch theirs, refuse on a conflict, then push the ones the remote lacks."""
    result, theirs = _pull(repo, remote)
    if result.conflicts:
        raise TagConflictError(result.conflict_message(remote))
    # Annotated ones only: a lightweight tag is no registry event (GTO skips them too).
    mine = repo.tags.annotated(is_registry_tag)
    result.pushed = sorted(tag.name for tag in mine if tag.name not in theirs)
    repo.tags.push(remote, result.pushed)
    return result
