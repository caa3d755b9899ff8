"""`gitrack install` / `uninstall`: the git config that makes runs visible and durable."""

from __future__ import annotations

from dataclasses import dataclass

from gitrack.git import Repo
from gitrack.refs import NOTES_REF

# Multi-valued keys get our value added beside the user's own; single-valued keys are
# set, and the user's previous value is saved under gitrack.saved.* to be put back.
_ADDED = (
    ("notes.displayRef", NOTES_REF),  # plain `git log` shows the runs
    ("notes.rewriteRef", NOTES_REF),  # amend and rebase carry the runs to the new commit
)
_SET = (("notes.rewriteMode", "cat_sort_uniq"),)  # both commits' runs kept, each once
_SAVED_PREFIX = "gitrack.saved-"


@dataclass(frozen=True)
class Change:
    key: str
    value: str
    action: str  # "added", "set", "already", "removed", "restored"

    def describe(self) -> str:
        verbs = {
            "added": "added",
            "set": "set",
            "already": "already set",
            "removed": "removed",
            "restored": "restored",
        }
        return f"{verbs[self.action]:>11}  {self.key} = {self.value}"


def install(repo: Repo) -> list[Change]:
    """Idempotent: a second install changes nothing and says so."""
    changes = []
    for key, value in _ADDED:
        if value in repo.local_config_get_all(key):
            changes.append(Change(key, value, "already"))
        else:
            repo.local_config_add(key, value)
            changes.append(Change(key, value, "added"))
    for key, value in _SET:
        current = repo.local_config_get_all(key)
        if current == [value]:
            changes.append(Change(key, value, "already"))
            continue
        saved_key = _saved_key(key)
        if current and not repo.local_config_get_all(saved_key):
            repo.local_config_set(saved_key, current[-1])
        repo.local_config_set(key, value)
        changes.append(Change(key, value, "set"))
    return changes


def uninstall(repo: Repo) -> list[Change]:
    """Undo exactly what install did; values the user had before stay or come back."""
    changes = []
    for key, value in _ADDED:
        if value in repo.local_config_get_all(key):
            repo.local_config_unset(key, value)
            changes.append(Change(key, value, "removed"))
    for key, value in _SET:
        saved_key = _saved_key(key)
        saved = repo.local_config_get_all(saved_key)
        if saved:
            repo.local_config_set(key, saved[-1])
            repo.local_config_unset(saved_key)
            changes.append(Change(key, saved[-1], "restored"))
        elif repo.local_config_get_all(key) == [value]:
            repo.local_config_unset(key)
            changes.append(Change(key, value, "removed"))
    return changes


def _saved_key(key: str) -> str:
    return "gitrack." + "saved-" + key.replace(".", "-")
