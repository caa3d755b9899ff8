"""Walking dataset folders, and the folder chores a restore needs.

Plain strings and ``os.scandir``: a dataset can hold 100,000 files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NoReturn

from gitrack.data.state import StatKey, stat_key
from gitrack.errors import GitrackError

# (path relative to the top, path, size, executable, stat key): what is kept of a file's
# stat, not the whole stat result (a dataset of 10^5 files holds 10^5 of these at once).
Found = tuple[str, str, int, bool, StatKey]


def walk(top: Path) -> tuple[list[Found], list[str], list[str]]:
    """Files under ``top`` (links to files followed), sorted; empty folders; warnings."""
    found: list[Found] = []
    empty: list[str] = []
    warnings: list[str] = []
    stack = [(os.fspath(top), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as entries:
                listing = list(entries)
        except OSError as exc:
            walk_error(exc)
        if not listing and prefix:
            empty.append(prefix[:-1])
        for entry in listing:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name != ".git":
                    stack.append((entry.path, rel + "/"))
                continue
            try:
                st = entry.stat()  # follows a link to a file: its content is hashed
            except OSError:
                warnings.append(f"{entry.path}: a broken symlink is skipped")
                continue
            if stat.S_ISDIR(st.st_mode):
                warnings.append(f"{entry.path}: a symlink to a folder inside a dataset is skipped")
            elif stat.S_ISREG(st.st_mode):
                executable = bool(st.st_mode & stat.S_IXUSR)
                found.append((rel, entry.path, st.st_size, executable, stat_key(st)))
    found.sort(key=lambda item: item[0])
    return found, sorted(empty), warnings


def walk_error(exc: OSError) -> NoReturn:
    raise GitrackError(
        f"cannot read folder {exc.filename}: {exc.strerror}; check its permissions"
    ) from exc


def refuse_unkeepable(rel: str, target: Path) -> None:
    """A folder that a file must replace may hold only what a restore can keep a copy of."""
    if os.path.islink(target) or not target.is_dir():
        return
    for folder, dirnames, filenames in os.walk(target):
        for name in dirnames:
            path = os.path.join(folder, name)
            if name == ".git" or os.path.islink(path):
                raise GitrackError(
                    f"cannot restore {rel!r}: the folder there holds {path}, which a restore "
                    "cannot keep a copy of; move the folder away, or use --no-data"
                )
        for name in filenames:
            path = os.path.join(folder, name)
            if not os.path.isfile(path) or os.path.islink(path):
                raise GitrackError(
                    f"cannot restore {rel!r}: the folder there holds {path} (a link or special "
                    "file), which a restore cannot keep a copy of; move the folder away, or "
                    "use --no-data"
                )


def remove_empty_dirs(top: Path, keep: set[str]) -> None:
    """Remove empty folders under ``top``, except ``keep`` (relative) and their parents."""
    for dirpath, _dirnames, _filenames in os.walk(top, topdown=False):
        base = Path(dirpath)
        if base == top or any(base.iterdir()):
            continue
        rel = base.relative_to(top).as_posix()
        if rel not in keep and not any(k.startswith(rel + "/") for k in keep):
            try:
                base.rmdir()
            except OSError:
                continue
