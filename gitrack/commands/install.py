"""`gitrack install` / `uninstall`: git config and hooks that make runs visible and shared.

Hooks chain, never clobber (pre-commit's way): a hook already in place is moved beside
ours as ``NAME.gitrack-chained`` and runs first, its exit status kept; uninstall moves
it back byte for byte. The hooks go where git runs them (``core.hooksPath`` honoured).

The pre-commit framework (pre-commit.com) has its own chaining: its script runs
``NAME.legacy`` first, and ``pre-commit install`` moves any other hook there. So when
``NAME`` is pre-commit's script, gitrack's hook goes to ``NAME.legacy`` (the hook that
was there chained behind it as usual), never the other way round: a pre-commit script
chained behind gitrack's would run pre-commit inside pre-commit, which it refuses
("installed in migration mode"). Whatever order the two are installed, re-installed
and uninstalled in, each hook runs once, and `gitrack uninstall` leaves no gitrack code.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gitrack.errors import GitrackError
from gitrack.git import Repo
from gitrack.git.refs import DISPLAY_REF, NOTES_REF
from gitrack.paths import write_atomically

HOOK_NAMES = (
    "post-commit",
    "pre-push",
    "post-checkout",
    "post-merge",
    "post-rewrite",
    "reference-transaction",  # merges the runs a plain `git fetch` / `git pull` brought
)
HOOK_MARKER = "# gitrack-hook v"
CHAINED_SUFFIX = ".gitrack-chained"
LEGACY_SUFFIX = ".legacy"  # where pre-commit's script runs the hook it replaced
# What pre-commit's `is_our_script` looks for (pre_commit/commands/install_uninstall.py).
_PRE_COMMIT_IDS = (
    b"138fd403232d2ddd5efb44317e38bf03",
    b"4d9958c90bc262f47553e2c073f14cfe",
    b"d8ee923c46731b42cd95cc869add4062",
    b"49fd668cb42069aa1b6048464be5d395",
    b"79f09a650522a87b0da915d0d983b2de",
    b"e358c9dae00eac5d06b38dfdb1e33a8c",
)

# Multi-valued keys get our value added beside the user's own; single-valued keys are
# set, and the user's previous value is saved under gitrack.saved.* to be put back.
_ADDED = (
    ("notes.displayRef", DISPLAY_REF),  # plain `git log` shows one readable line per run
    ("notes.rewriteRef", NOTES_REF),  # amend and rebase carry the runs to the new commit
    ("notes.rewriteRef", DISPLAY_REF),  # and their readable lines
)
# What earlier versions added (the raw JSON in `git log`): replaced by the display ref.
_REPLACED = ("notes.displayRef", NOTES_REF)
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
    nothing, when a hook cannot be chained safely or could not start gitrack."""
    _hook_template()
    _check_hooks(repo)
    changes = _drop_replaced(repo)
    changes += _install_config(repo)
    changes += _install_fetch_refspecs(repo)
    changes += install_hooks(repo)
    from gitrack.tracking import display

    display.refresh(repo, create=True)
    return changes


def _drop_replaced(repo: Repo) -> list[Change]:
    """An earlier install's notes.displayRef = refs/notes/gitrack (raw JSON in git log)
    goes; only when gitrack set it and the display ref is not there yet (so a value the
    user set later is left alone)."""
    key, value = _REPLACED
    values = repo.local_config.get_all(key)
    installed = key in repo.local_config.get_all(_INSTALLED_KEY)
    if installed and value in values and DISPLAY_REF not in values:
        repo.local_config.unset(key, value)
        return [Change(key, value, "removed")]
    return []


def uninstall(repo: Repo) -> list[Change]:
    """Undo exactly what install did; values and hooks the user had before come back."""
    changes = uninstall_hooks(repo) + _uninstall_fetch_refspecs(repo) + _drop_replaced(repo)
    changes += _uninstall_config(repo)
    if repo.refs.target(DISPLAY_REF) is not None:  # derived from the runs, which stay
        repo.refs.delete(DISPLAY_REF)
        changes.append(Change("ref", DISPLAY_REF, "removed"))
    return changes


def _install_fetch_refspecs(repo: Repo) -> list[Change]:
    """Every remote's `git fetch` also fetches its runs, into tracking refs (never over
    ours): the reference-transaction hook merges them."""
    from gitrack.tracking.sync import fetch_refspecs

    changes = []
    for remote in repo.transport.remotes():
        key = f"remote.{remote}.fetch"
        present = repo.local_config.get_all(key)
        for refspec in fetch_refspecs(remote):
            if refspec in present:
                changes.append(Change(key, refspec, "already"))
            else:
                repo.local_config.add(key, refspec)
                changes.append(Change(key, refspec, "added"))
    return changes


def _uninstall_fetch_refspecs(repo: Repo) -> list[Change]:
    from gitrack.tracking.sync import TRACKING_PREFIX

    changes = []
    for remote in repo.transport.remotes():
        key = f"remote.{remote}.fetch"
        for refspec in repo.local_config.get_all(key):
            if refspec.partition(":")[2].startswith(TRACKING_PREFIX + "/"):
                repo.local_config.unset(key, refspec)
                changes.append(Change(key, refspec, "removed"))
    return changes


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
    template = _hook_template()
    values = {"@HOOK@": sh_quote(name), "@PYTHON@": sh_quote(python or sys.executable)}
    # One pass: a value that happens to contain "@HOOK@" is never substituted again.
    return re.sub("@HOOK@|@PYTHON@", lambda match: values[match.group(0)], template)


@functools.cache  # install checks it first, then fills it in for each hook
def _hook_template() -> str:
    """hooks/hook.sh: package data once installed (``gitrack.hook_scripts``, which the
    wheel maps to hooks/); beside the package in a source checkout run without installing
    it (``PYTHONPATH=CLONE``, as benchmarks/ runs its baselines), where no such module is."""
    try:
        return (resources.files("gitrack.hook_scripts") / "hook.sh").read_text()
    except ModuleNotFoundError:
        checkout = Path(__file__).resolve().parents[2]
        beside = checkout / "hooks" / "hook.sh"
        try:
            template = beside.read_text()
        except OSError as exc:
            raise GitrackError(
                f"gitrack's hook script is missing (not installed, and not at {beside}): "
                "reinstall gitrack"
            ) from exc
        _refuse_hooks_without_gitrack(checkout)
        return template


def _refuse_hooks_without_gitrack(checkout: Path) -> None:
    """The hooks run ``PYTHON -m gitrack.hookrun`` from git, which does not carry this
    process's PYTHONPATH: a gitrack found only through it, in a checkout, would be missing
    on every commit. Another copy installed for this Python serves them."""
    from importlib import metadata

    for dist in metadata.distributions(name="gitrack"):
        if Path(str(dist.locate_file(""))).resolve() != checkout:
            return
    raise GitrackError(
        f"gitrack is not installed for {sys.executable}, only found in {checkout}: the git "
        "hooks start that Python, which would not find it; install it first: "
        f"python -m pip install -e {checkout}"
    )


def sh_quote(value: str) -> str:
    """``value`` as one POSIX sh word, taken literally: single quotes, each ``'`` inside
    written as ``'\\''`` (close, escaped quote, reopen). Nothing is expanded inside."""
    return "'" + value.replace("'", "'\\''") + "'"


def install_hooks(repo: Repo) -> list[Change]:
    """Write gitrack's hooks, chaining any already there; `install` checks first (_check_hooks)
    that none would be lost."""
    folder = repo.hooks_dir()
    folder.mkdir(parents=True, exist_ok=True)
    changes = []
    for name in HOOK_NAMES:
        path = folder / name
        _put_pre_commit_in_front(path)
        target = _target(path)
        script = hook_script(name)
        if _is_ours(target) and target.read_text() == script:
            changes.append(Change(f"hook {name}", str(target), "already"))
            continue
        action = "set"
        if target.exists() and not _is_ours(target):
            os.replace(target, _chained(path))  # keeps the user's hook byte for byte
            action = "chained"
        _write_executable(target, script)
        changes.append(Change(f"hook {name}", str(target), action))
    return changes


def _target(path: Path) -> Path:
    """Where gitrack's hook goes: behind pre-commit's script if that is the hook."""
    return _legacy(path) if _is_pre_commits(path) else path


def _put_pre_commit_in_front(path: Path) -> None:
    """Undo what an earlier gitrack did: pre-commit's script chained behind gitrack's.

    It ran once then, but `pre-commit install` moves gitrack's hook to NAME.legacy, and
    pre-commit would then run itself from there. The chained copy is pre-commit's
    generated script (nothing of the user's): it goes back in front, or goes away if
    pre-commit's script is in front already.
    """
    chained = _chained(path)
    if not _is_pre_commits(chained):
        return
    if _is_pre_commits(path):
        chained.unlink()
    elif _is_ours(path):
        os.replace(chained, path)  # gitrack's hook is rewritten at NAME.legacy


def _check_hooks(repo: Repo) -> None:
    """Before anything changes: every hook can be chained without losing one."""
    folder = repo.hooks_dir()
    for name in HOOK_NAMES:
        path = folder / name
        chained = _chained(path)
        pre_commit_in_front = _is_pre_commits(path) or (_is_ours(path) and _is_pre_commits(chained))
        target = _legacy(path) if pre_commit_in_front else path
        if (
            target.exists()
            and not _is_ours(target)
            and chained.exists()
            and not _is_pre_commits(chained)
        ):
            raise GitrackError(
                f"{target} was replaced after gitrack was installed, and {chained.name} still "
                "holds the hook from before; merge the two by hand, remove "
                f"{chained.name}, then run gitrack install again"
            )


def uninstall_hooks(repo: Repo) -> list[Change]:
    folder = repo.hooks_dir()
    changes = []
    for name in HOOK_NAMES:
        path = folder / name
        found = [p for p in (path, _legacy(path)) if _is_ours(p)]
        for target in found:
            changes.append(_remove_hook(name, path, target))
        if not found and path.exists():
            changes.append(Change(f"hook {name}", f"{path} (not gitrack's, left)", "kept"))
        if _chained(path).exists():
            changes.append(_put_back_stranded(name, path))
    return changes


def _remove_hook(name: str, path: Path, target: Path) -> Change:
    """gitrack's hook at ``target`` (NAME, or NAME.legacy behind pre-commit) goes; the hook
    it chained takes its place."""
    chained = _chained(path)
    if _is_pre_commits(chained) and (target != path or _is_pre_commits(path)):
        chained.unlink()  # a copy of pre-commit's script, which runs from NAME already
    if chained.exists():
        os.replace(chained, target)
        return Change(f"hook {name}", str(target), "restored")
    target.unlink()
    return Change(f"hook {name}", str(target), "removed")


def _put_back_stranded(name: str, path: Path) -> Change:
    """A chained hook whose gitrack hook is gone (e.g. `pre-commit install -f` deleted
    NAME.legacy): back where it runs again, if that place is free."""
    chained = _chained(path)
    if _is_pre_commits(chained) and _is_pre_commits(path):
        chained.unlink()
        return Change(f"hook {name}", str(chained), "removed")
    target = _legacy(path) if _is_pre_commits(path) else path
    if target.exists():
        return Change(f"hook {name}", f"{chained} (the place is taken, left)", "kept")
    os.replace(chained, target)
    return Change(f"hook {name}", str(target), "restored")


def _chained(path: Path) -> Path:
    return path.with_name(path.name + CHAINED_SUFFIX)


def _legacy(path: Path) -> Path:
    return path.with_name(path.name + LEGACY_SUFFIX)


def _is_pre_commits(path: Path) -> bool:
    """pre-commit's generated hook script (any version)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return any(marker in head for marker in _PRE_COMMIT_IDS)


def _is_ours(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return HOOK_MARKER.encode() in head


def _write_executable(path: Path, text: str) -> None:
    write_atomically(path, text, mode=0o755)


def _saved_key(key: str) -> str:
    return "gitrack." + "saved-" + key.replace(".", "-")
