"""`gitrack install` / `uninstall`: git config and hooks that make runs visible and shared.

Hooks chain, never clobber (pre-commit's way): a hook already in place is moved beside
ours as ``NAME.gitrack-chained`` and runs first, its exit status kept; uninstall moves
it back byte for byte. The hooks go where git runs them (``core.hooksPath`` honoured).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gitrack.errors import GitrackError
from gitrack.git import Repo
from gitrack.git.refs import NOTES_REF

HOOK_NAMES = ("post-commit", "pre-push", "post-checkout", "post-merge", "post-rewrite")
HOOK_MARKER = "# gitrack-hook v"
CHAINED_SUFFIX = ".gitrack-chained"

# Multi-valued keys get our value added beside the user's own; single-valued keys are
# set, and the user's previous value is saved under gitrack.saved.* to be put back.
_ADDED = (
    ("notes.displayRef", NOTES_REF),  # plain `git log` shows the runs
    ("notes.rewriteRef", NOTES_REF),  # amend and rebase carry the runs to the new commit
)
_SET = (("notes.rewriteMode", "cat_sort_uniq"),)  # both commits' runs kept, each once
_INSTALLED_KEY = "gitrack.installed"  # what install added or set (multi-valued)


@dataclass(frozen=True)
class Change:
    key: str
    value: str
    action: str  # added, set, already, removed, restored, chained (hooks), kept (hooks)

    def describe(self) -> str:
        verbs = {
            "added": "added",
            "set": "set",
            "already": "already set",
            "removed": "removed",
            "restored": "restored",
            "chained": "chained",
            "kept": "kept",
        }
        return f"{verbs[self.action]:>11}  {self.key} = {self.value}"


def install(repo: Repo) -> list[Change]:
    """Idempotent: a second install changes nothing and says so. Refuses, changing
    nothing, when a hook cannot be chained safely."""
    _check_hooks(repo)
    changes = _install_config(repo)
    changes += install_hooks(repo)
    return changes


def uninstall(repo: Repo) -> list[Change]:
    """Undo exactly what install did; values and hooks the user had before come back."""
    return uninstall_hooks(repo) + _uninstall_config(repo)


def _install_config(repo: Repo) -> list[Change]:
    """Each key gitrack adds or sets is listed under gitrack.installed, so uninstall
    removes exactly those and leaves what the user had before alone."""
    changes = []
    installed = repo.local_config.get_all(_INSTALLED_KEY)
    for key, value in _ADDED:
        if value in repo.local_config.get_all(key):
            changes.append(Change(key, value, "already"))
            continue
        repo.local_config.add(key, value)
        _remember(repo, key, installed)
        changes.append(Change(key, value, "added"))
    for key, value in _SET:
        current = repo.local_config.get_all(key)
        if current == [value]:
            changes.append(Change(key, value, "already"))
            continue
        if current:
            repo.local_config.set(_saved_key(key), current[-1])
        repo.local_config.set(key, value)
        _remember(repo, key, installed)
        changes.append(Change(key, value, "set"))
    return changes


def _remember(repo: Repo, key: str, installed: list[str]) -> None:
    if key not in installed:
        repo.local_config.add(_INSTALLED_KEY, key)
        installed.append(key)


def _uninstall_config(repo: Repo) -> list[Change]:
    changes = []
    installed = repo.local_config.get_all(_INSTALLED_KEY)
    for key, value in _ADDED:
        if key in installed and value in repo.local_config.get_all(key):
            repo.local_config.unset(key, value)
            changes.append(Change(key, value, "removed"))
    for key, value in _SET:
        if key not in installed:
            continue
        saved = repo.local_config.get_all(_saved_key(key))
        if saved:
            repo.local_config.set(key, saved[-1])
            repo.local_config.unset(_saved_key(key))
            changes.append(Change(key, saved[-1], "restored"))
        elif repo.local_config.get_all(key) == [value]:
            repo.local_config.unset(key)
            changes.append(Change(key, value, "removed"))
    repo.local_config.unset(_INSTALLED_KEY)
    return changes


def hook_script(name: str, python: str | None = None) -> str:
    """hooks/hook.sh with the hook's name and the interpreter filled in, each as one
    single-quoted shell word: a venv in a folder named ``$(…)``, with a backtick or a
    quote, must neither run code nor break the hook on every commit and checkout."""
    template = (resources.files("gitrack.hook_scripts") / "hook.sh").read_text()
    values = {"@HOOK@": sh_quote(name), "@PYTHON@": sh_quote(python or sys.executable)}
    # One pass: a value that happens to contain "@HOOK@" is never substituted again.
    return re.sub("@HOOK@|@PYTHON@", lambda match: values[match.group(0)], template)


def sh_quote(value: str) -> str:
    """``value`` as one POSIX sh word, taken literally: single quotes, each ``'`` inside
    written as ``'\\''`` (close, escaped quote, reopen). Nothing is expanded inside."""
    return "'" + value.replace("'", "'\\''") + "'"


def install_hooks(repo: Repo) -> list[Change]:
    """Write gitrack's hooks, chaining any already there; `install` checks first (_check_hooks)
    that none would be lost."""
    folder = repo.hooks_dir()
    plan = [(name, folder / name) for name in HOOK_NAMES]
    folder.mkdir(parents=True, exist_ok=True)
    changes = []
    for name, path in plan:
        script = hook_script(name)
        if _is_ours(path) and path.read_text() == script:
            changes.append(Change(f"hook {name}", str(path), "already"))
            continue
        action = "set"
        if path.exists() and not _is_ours(path):
            os.replace(path, _chained(path))  # keeps the user's hook byte for byte
            action = "chained"
        _write_executable(path, script)
        changes.append(Change(f"hook {name}", str(path), action))
    return changes


def _check_hooks(repo: Repo) -> None:
    """Before anything changes: every hook can be chained without losing one."""
    folder = repo.hooks_dir()
    for name in HOOK_NAMES:
        path = folder / name
        chained = _chained(path)
        if path.exists() and not _is_ours(path) and chained.exists():
            raise GitrackError(
                f"{path} was replaced after gitrack was installed, and {chained.name} still "
                "holds the hook from before; merge the two by hand, remove "
                f"{chained.name}, then run gitrack install again"
            )


def uninstall_hooks(repo: Repo) -> list[Change]:
    folder = repo.hooks_dir()
    changes = []
    for name in HOOK_NAMES:
        path = folder / name
        chained = _chained(path)
        if not _is_ours(path):
            if path.exists():
                changes.append(Change(f"hook {name}", f"{path} (not gitrack's, left)", "kept"))
            continue
        if chained.exists():
            os.replace(chained, path)
            changes.append(Change(f"hook {name}", str(path), "restored"))
        else:
            path.unlink()
            changes.append(Change(f"hook {name}", str(path), "removed"))
    return changes


def _chained(path: Path) -> Path:
    return path.with_name(path.name + CHAINED_SUFFIX)


def _is_ours(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return HOOK_MARKER.encode() in head


def _write_executable(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.gitrack-tmp")
    temp.write_text(text)
    os.chmod(temp, 0o755)
    os.replace(temp, path)


def _saved_key(key: str) -> str:
    return "gitrack." + "saved-" + key.replace(".", "-")
