"""The config files libgit2 reads: those git's environment names.

libgit2 ignores ``GIT_CONFIG_NOSYSTEM``, ``GIT_CONFIG_SYSTEM`` and ``GIT_CONFIG_GLOBAL``:
it would read a system-wide filter (git-lfs's, in /etc/gitconfig) or excludes file that
the user's `git add -A` does not, and the snapshot would differ from what git stages.
Its search path is process-wide, so it is changed only while one of them is set and set
back as it was when none is (a user's own pygit2 in their process is left alone).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile

from gitrack.git._pygit2 import pygit2

_VARIABLES = ("GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_GLOBAL")
# level -> (the search path before gitrack changed it, the one gitrack set)
_saved: dict[int, tuple[str, str]] = {}


def follow_git_environment() -> None:
    """Point libgit2's system, global and XDG config search paths where git's environment
    says, before a repository is opened (libgit2 reads a repository's config on open)."""
    env = os.environ
    if not _saved and not any(name in env for name in _VARIABLES):
        return  # the common case: nothing to change, pygit2.settings not even loaded
    from pygit2.enums import ConfigLevel

    system = env.get("GIT_CONFIG_SYSTEM")
    glob = env.get("GIT_CONFIG_GLOBAL")
    wanted = {
        ConfigLevel.SYSTEM: ""
        if _git_true(env.get("GIT_CONFIG_NOSYSTEM"))
        else _folder(system, "gitconfig"),
        ConfigLevel.GLOBAL: _folder(glob, ".gitconfig"),
        ConfigLevel.XDG: None if glob is None else "",  # git then reads neither ~ file
    }
    paths = pygit2.settings.search_path
    for level, path in wanted.items():
        current = paths[level]
        if level in _saved and current != _saved[level][1]:
            del _saved[level]  # changed since by someone else: theirs now, not ours
        if path is None:
            if level in _saved:
                paths[level] = _saved.pop(level)[0]
        else:
            if level not in _saved:
                _saved[level] = (current, "")
            paths[level] = path
            _saved[level] = (_saved[level][0], paths[level])  # as libgit2 gives it back


def _git_true(value: str | None) -> bool:
    """git's reading of a boolean variable (git_env_bool)."""
    if value is None:
        return False
    text = value.strip().lower()
    if text in ("true", "yes", "on"):
        return True
    try:
        return int(text) != 0
    except ValueError:
        return False


def _folder(file: str | None, name: str) -> str | None:
    """A search path (a folder, where libgit2 looks for ``name``) that makes libgit2 read
    ``file``: None for libgit2's default, "" for no file at all."""
    if file is None:
        return None
    if not file or file == os.devnull:
        return ""
    path = os.path.abspath(os.path.expanduser(file))
    if os.path.basename(path) == name:
        return os.path.dirname(path)
    link = os.path.join(_links_folder(), name)  # any other name: through a link named so
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(path, link)
    return os.path.dirname(link)


@functools.cache
def _links_folder() -> str:
    folder = tempfile.mkdtemp(prefix="gitrack-config-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
