"""Where libgit2's ignore rules are not git's, and git's own answer there.

A snapshot built on libgit2's answers alone would not be what `git add -A` stages:

* libgit2 (1.9) does not let a negation (``!pattern``) re-include a path that a rule from
  another ignore file excludes: with ``*.tmp`` at the root and ``!keep.tmp`` in
  ``sub/.gitignore``, git stages ``sub/keep.tmp`` and libgit2's status and
  ``path_is_ignored`` call it ignored (libgit2 issue #7284). Where a .gitignore below the
  root holds a negation, git lists the untracked files (``git ls-files --others
  --exclude-standard``; beside datasets, a folder with no tracked file as one, and those
  outside the datasets in one more call: see untracked_beside). Finding those .gitignore
  files costs one read of the index file in a repository where no tracked .gitignore lies
  below the root (the common case); otherwise one `git ls-files` lists them. The tracked
  ones are looked at before any status is asked (a "keep this folder" .gitignore, ``*``
  and ``!.gitignore``, is common), the untracked ones in what the status found, ignored
  ones too (git reads the rules of a .gitignore a whitelist ignores). The same for a
  negation in the root .gitignore where ``.git/info/exclude`` or the excludes file
  (``core.excludesFile``) holds a rule, and in ``.git/info/exclude`` where the excludes
  file does: libgit2 1.9 misjudges them too. Not covered: a .gitignore in an untracked
  folder that libgit2 reports as one ignored folder (git does not read it either unless a
  negation elsewhere re-includes the folder).
* libgit2 judges a symbolic link to a folder as the folder: ``data/`` in .gitignore hides
  the link ``data -> /mnt/datasets`` from it, which git stages (a folder-only pattern does
  not match a link), and ``!*/`` lets in a link git ignores. So git judges every untracked
  link (``git check-ignore``), in one call, made only when there is one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gitrack.git._pygit2 import FileStatus
from gitrack.git.binary import run_git_bytes

if TYPE_CHECKING:
    from gitrack.git.repo import Repo

# "\!x" is a name starting with "!"; git skips a UTF-8 byte order mark starting the file.
_NEGATION = re.compile(rb"^!|\A\xef\xbb\xbf!", re.MULTILINE)
_NESTED = b"/.gitignore\x00"  # how a tracked .gitignore below the root is named in the index
IGNORE_FILE = ".gitignore"
_BELOW = "/" + IGNORE_FILE
# Pathspecs as gitrack writes them, whatever the user's environment says (check-ignore
# refuses GIT_LITERAL_PATHSPECS; a name starting with ":" is kept a name by "./").
_PATTERNS = {"GIT_LITERAL_PATHSPECS": "0", "GIT_GLOB_PATHSPECS": "0", "GIT_ICASE_PATHSPECS": "0"}


def ignore_files_in(status: Mapping[str, int]) -> list[str]:
    """The untracked .gitignore files below the root that a status names, those it ignores
    too: git reads the rules of an ignored .gitignore (a whitelist's `*`) all the same."""
    untracked = int(FileStatus.WT_NEW | FileStatus.IGNORED)
    return nested_ignore_files(path for path, flags in status.items() if flags & untracked)


def nested_ignore_files(paths: Iterable[str]) -> list[str]:
    """Those of ``paths`` that are .gitignore files below the root."""
    return [path for path in paths if path.endswith(_BELOW)]


def negation_below_root(root: Path, git_dir: Path, untracked: Iterable[str]) -> bool:
    """Does a .gitignore below the root hold a negation? ``untracked``: the untracked
    .gitignore files seen (relative paths); the tracked ones are found here."""
    return negation_in(root, untracked) or negation_in(root, _tracked_ignore_files(root, git_dir))


def root_negation_over_excludes(repo: Repo) -> bool:
    """Does the root .gitignore hold a negation while .git/info/exclude or the excludes file
    (core.excludesFile) holds a rule? libgit2 does not let the one re-include what the
    others exclude either."""
    info_exclude = repo.common_dir / "info" / "exclude"
    if _negates(repo.root / IGNORE_FILE):
        return any(_has_rule(path) for path in (info_exclude, _excludes(repo)))
    # git ranks .git/info/exclude above the excludes file too (review)
    return _negates(info_exclude) and _has_rule(_excludes(repo))


def _excludes(repo: Repo) -> Path:
    """The excludes file git reads: core.excludesFile, or its default place."""
    configured = repo.config_value("core.excludesFile")
    if configured:
        return repo.root / os.path.expanduser(configured)  # relative: to the top, as git
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return Path(xdg or os.path.expanduser("~/.config")) / "git" / "ignore"


def _has_rule(path: Path) -> bool:
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return False
    return any(line.strip() and not line.startswith(b"#") for line in lines)


def negation_in(root: Path, ignore_files: Iterable[str]) -> bool:
    """Does one of ``ignore_files`` below the root (relative paths) hold a negation?"""
    return any(_negates(root / path) for path in ignore_files if "/" in path)


def tracked_negation_below_root(root: Path, git_dir: Path) -> bool:
    """Does a tracked .gitignore below the root hold a negation? (Known before any status is
    asked: one read of the index file, in most repositories.)"""
    return negation_in(root, _tracked_ignore_files(root, git_dir))


def _tracked_ignore_files(root: Path, git_dir: Path) -> list[str]:
    try:
        data = (git_dir / "index").read_bytes()
    except OSError:
        return []  # no index yet (or unreadable: status has failed already)
    # Versions 2 and 3 name each entry in full; version 4 by what differs from the last.
    if data[4:8] in (b"\0\0\0\2", b"\0\0\0\3") and _NESTED not in data:
        return []
    args = ["ls-files", "-z", "--cached", "--", f":(glob)**/{IGNORE_FILE}"]
    listed = run_git_bytes(args, cwd=root, stdin=b"", env=_PATTERNS)
    return [os.fsdecode(path) for path in listed.split(b"\0") if path]


def _negates(path: Path) -> bool:
    try:
        return _NEGATION.search(path.read_bytes()) is not None
    except OSError:
        return False  # gone or unreadable: git reads no rule from it either


def untracked_files(
    root: Path, directories: bool = False, pathspecs: Iterable[str] = ()
) -> list[str]:
    """The untracked files git does not ignore, as `git status -uall` lists them (a folder
    holding a repository of its own as ``folder/``); ``directories``: a folder with no
    tracked file as one ``folder/``, as `git status -unormal` lists it. ``pathspecs``:
    only those (magic as written: see _literal)."""
    args = ["ls-files", "-z", "--others", "--exclude-standard"]
    if directories:
        args += ["--directory", "--no-empty-directory"]
    listed = run_git_bytes([*args, "--", *pathspecs], cwd=root, stdin=b"", env=_PATTERNS)
    return [os.fsdecode(path) for path in listed.split(b"\0") if path]


def untracked_beside(
    root: Path, datasets: Sequence[str], replaced: Iterable[str]
) -> tuple[list[str], list[str]]:
    """git's untracked files, as `untracked_files` lists them, less those under
    ``datasets`` (folders whose untracked files the caller reads itself): for those, the
    untracked folders git names in them (``untracked_files(directories=True)``, with no
    ``/`` at the end), where git found a file it does not ignore.

    git lists a folder with no tracked file as one; one more `git ls-files` lists the files
    of those outside the datasets, less the datasets inside them, so that the files of a
    dataset git does not ignore (10^4-10^6) are never listed one by one. ``replaced``:
    tracked files that are folders now, which git leaves out of that list (git 2.39:
    `--directory` names no folder where the index has a file) but not out of the full one.
    """
    files: list[str] = []
    folders: list[str] = []
    expand: list[str] = []  # folders outside the datasets
    inner: list[str] = []  # the datasets inside those
    for path in [*untracked_files(root, directories=True), *(f"{p}/" for p in replaced)]:
        folder = path[:-1]
        if not path.endswith("/"):
            files.append(path)
        elif any(_within(folder, top) for top in datasets):
            folders.append(folder)
        else:
            expand.append(folder)
            inner += [top for top in datasets if _within(top, folder) and top != folder]
    if len(expand) > _FOLDER_SPECS_AT_MOST:
        # git matches each path against each pathspec: past a few hundred folders, one list
        # of everything but the datasets costs less, though git walks them to leave them out
        specs = [_literal(top, "exclude") for top in datasets]
        files = untracked_files(root, pathspecs=specs)
    elif expand:
        specs = [_literal(f"{folder}/") for folder in expand]
        specs += [_literal(top, "exclude") for top in inner]
        files += untracked_files(root, pathspecs=specs)
    if inner:  # wholly untracked: git names each as one folder, or not at all (all ignored)
        # no "/" at the end: a dataset that is a link is named by git as a file
        for path in untracked_files(root, True, [_literal(top) for top in inner]):
            if path.endswith("/") and any(_within(path[:-1], top) for top in datasets):
                folders.append(path[:-1])
            else:
                files.append(path)
    return files, folders


_FOLDER_SPECS_AT_MOST = 256  # untracked folders named one by one to git (review: 4,000 took 0.6 s)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def _literal(path: str, magic: str = "") -> str:
    """A pathspec naming ``path`` itself from the top, whatever characters it holds (with
    _PATTERNS in the environment, which lets magic through)."""
    return f":(top,literal{',' + magic if magic else ''}){path}"


def ignored_by_git(root: Path, paths: list[str]) -> set[str]:
    """Those of ``paths`` (untracked) that git ignores; it looks at each, so a link is
    judged as a link."""
    stdin = b"".join(b"./" + os.fsencode(path) + b"\0" for path in paths)
    # Exit code 1: none is ignored.
    args = ["check-ignore", "--stdin", "-z"]
    out = run_git_bytes(args, cwd=root, stdin=stdin, ok=(0, 1), env=_PATTERNS)
    return {os.fsdecode(path.removeprefix(b"./")) for path in out.split(b"\0") if path}
