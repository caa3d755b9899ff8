"""The status a snapshot starts from (snapshot.py): what `git status -uall` reports, less
the untracked files of the datasets, which are only counted.

libgit2's status, asked without descending into untracked folders, which are read here
(_UntrackedScan); git's list of untracked files where a .gitignore below the root holds a
negation (ignores.py).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from gitrack.git import ignores
from gitrack.git._pygit2 import FileStatus

if TYPE_CHECKING:
    from gitrack.git.repo import Repo
    from gitrack.git.snapshot import _Changes


class _GitListsThem(Exception):
    """Something in an untracked folder only git should judge, or many files to judge:
    git lists the untracked files (_status_by_git)."""


# Files outside the datasets whose ignore rules the scan asks libgit2 at most (~8 µs each):
# beyond, git lists the untracked files (two or three processes, ~10 ms, then ~1 µs each).
JUDGED_AT_MOST = 2000


def status_for_snapshot(repo: Repo, changes: _Changes) -> dict[str, int]:
    """What `git status` reports, each untracked file on its own (`-uall`) except those of
    the excluded datasets.

    Where a .gitignore below the root holds a negation, libgit2 calls ignored some files
    git stages (see ignores.py): the untracked files are then the ones git lists.
    """
    raw = repo._r
    misjudged = ignores.tracked_negation_below_root(repo.root, Path(raw.path))
    if misjudged or ignores.root_negation_over_excludes(repo):
        return _status_by_git(repo, changes)  # libgit2's untracked files not even asked
    counts: dict[str, int] = {}  # dataset -> its untracked files left out
    ignore_files: list[str] = []  # the .gitignore files the scan of untracked folders read
    if changes.excluding:
        beside = _status_beside_datasets(repo, changes, counts, ignore_files)
        if beside is None:
            return _status_by_git(repo, changes, trusted=True)
        status = beside
    else:
        found = raw.status(untracked_files="all", ignored=True)
        ignore_files += ignores.ignore_files_in(found)
        status = _with_ignored_links(repo, found)
    ignore_files += ignores.ignore_files_in(status)
    if ignores.negation_in(repo.root, ignore_files):  # found only now: asked again, of git
        return _status_by_git(repo, changes)
    changes.count_excluded(counts)
    return status


def _status_by_git(repo: Repo, changes: _Changes, trusted: bool = False) -> dict[str, int]:
    """`_status` with the untracked files git lists (ignores.py: where libgit2 would call
    some ignored). The datasets' folders git names are read here for their links only
    (_read_for_links), as libgit2's would be: their files are not listed one by one.
    ``trusted``: libgit2 reads the ignore rules as git here, so they are read as beside
    libgit2's status (_UntrackedScan: the same counts, folders it ignores not read)."""
    status = dict(repo._r.status(untracked_files="no", ignored=False))
    wt_new = int(FileStatus.WT_NEW)
    # A dataset holding an extra path (a checkout's verification) is listed as any folder.
    datasets = [top for top in changes.exclude_paths if not changes.keeps_within(top)]
    if datasets:
        files, folders = ignores.untracked_beside(repo.root, datasets, _now_folders(repo, status))
    else:
        files, folders = ignores.untracked_files(repo.root), []
    for path in files:
        status[path] = status.get(path, 0) | wt_new
    if trusted and folders:
        before = dict(status)
        scan = _UntrackedScan(repo, changes, status)
        try:
            for folder in folders:
                scan.read(folder)
        except _GitListsThem:
            pass  # a name libgit2 cannot take
        else:
            seen = [*scan.ignore_files, *ignores.nested_ignore_files(files)]
            if not ignores.negation_in(repo.root, seen):
                changes.count_excluded(scan.counts())
                return status
        status.clear()
        status.update(before)  # read again, as below
    _read_for_links(repo, changes, status, folders)
    return status


def _now_folders(repo: Repo, status: dict[str, int]) -> list[str]:
    """The tracked files status says are gone or changed in kind that are folders now."""
    gone = int(FileStatus.WT_DELETED | FileStatus.WT_TYPECHANGE)
    found = []
    for path, flags in status.items():
        if flags & gone:
            with contextlib.suppress(OSError):
                if stat.S_ISDIR(os.lstat(os.path.join(repo.root, path)).st_mode):
                    found.append(path)
    return found


def _read_for_links(
    repo: Repo, changes: _Changes, status: dict[str, int], folders: list[str], hidden: bool = False
) -> None:
    """Untracked folders read for their links, added as new, which git judges later
    (_Changes.settle_links: so a folder below that git ignores may be read too, whose links
    git then ignores). A folder holding a repository of its own is skipped, as git skips it.

    The folders git names in the datasets (so each holds a file git does not ignore): their
    regular files counted; a file status names there (`git rm --cached`) is removed
    (_Changes.take). ``hidden``: folders where libgit2 ignores everything, so only a link to
    a folder can be git's (see ignores.py); folders below libgit2 ignores are not read."""
    ignored = repo._r.path_is_ignored if hidden else None
    root, wt_new = os.fspath(repo.root), int(FileStatus.WT_NEW)
    counts: dict[str, int] = {}
    stack = list(folders)
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel)) as found:
                entries = list(found)
        except OSError:
            continue  # gone since it was listed, or unreadable: git could not read it either
        if any(entry.name == ".git" and os.path.exists(entry.path) for entry in entries):
            continue
        for entry in entries:
            path = f"{rel}/{entry.name}"
            if entry.name == ".git":
                continue  # a link or file of that name: git never takes one
            if entry.is_dir(follow_symlinks=False):
                if ignored is None or _not_utf8(path) or not ignored(path + "/"):
                    stack.append(path)
            elif entry.is_symlink():
                if not hidden or entry.is_dir():
                    status[path] = status.get(path, 0) | wt_new
            elif not hidden and entry.is_file(follow_symlinks=False):
                top = changes.excluded_by(path)
                if top is not None:
                    counts[top] = counts.get(top, 0) + 1
    changes.count_excluded(counts)


def _status_beside_datasets(
    repo: Repo, changes: _Changes, counts: dict[str, int], ignore_files: list[str]
) -> dict[str, int] | None:
    """`_status` as libgit2 sees it, with datasets to leave out; their files counted in
    ``counts``. None: git should list the untracked files instead (_status_by_git).

    A dataset git does not ignore holds 10^4-10^6 untracked files that the snapshot leaves
    out: listing each through libgit2 and looking at it again cost ~10 µs a file (10 s a
    run beside 10^6 files). So status is asked first without descending into untracked
    folders (`-unormal`), and the untracked folders it reports are read here
    (_UntrackedScan). What that cannot judge as git does, and a scan that would ask
    libgit2's rules of many files outside the datasets (~8 µs each, where git's own list
    costs a process and ~1 µs a file), have git list them (the datasets' folders still
    read, not listed).
    """
    raw = repo._r
    found = raw.status(untracked_files="normal", ignored=True)
    ignore_files += ignores.ignore_files_in(found)  # ignored ones too
    status = _with_ignored_links(repo, found)
    # libgit2 calls ignored an untracked folder where it ignores everything, links to
    # folders too, which git may stage (ignores.py): read for those, unless a rule names
    # the folder itself (then git ignores all of it too).
    hidden = [path[:-1] for path, flags in found.items() if path.endswith("/")
              and int(flags) == int(FileStatus.IGNORED) and path[:-1] not in status
              and (_not_utf8(path) or not raw.path_is_ignored(path))]  # fmt: skip
    _read_for_links(repo, changes, status, hidden, hidden=True)
    folders = [path[:-1] for path in status if path.endswith("/")]
    if not folders:
        return status
    scan = _UntrackedScan(repo, changes, status)
    try:
        for folder in folders:
            del status[folder + "/"]
            scan.read(folder)
    except _GitListsThem:
        return None
    counts.update(scan.counts())
    ignore_files += scan.ignore_files
    return dict(sorted(status.items()))  # in libgit2's order, as `-uall` gives them


def with_links_judged_by_git(repo: Repo, status: dict[str, int]) -> dict[str, int]:
    """``status`` (asked with the ignored files) without them, its untracked links judged
    by git: those git ignores left out, those it does not ignore in."""
    out = _with_ignored_links(repo, status)
    wt_new = int(FileStatus.WT_NEW)
    root = os.fspath(repo.root)
    links = [p for p, flags in out.items() if flags == wt_new and os.path.islink(f"{root}/{p}")]
    for path in ignores.ignored_by_git(repo.root, links) if links else ():
        del out[path]
    return out


def _with_ignored_links(repo: Repo, status: dict[str, int]) -> dict[str, int]:
    """``status`` as asked without the ignored files, but for the links: those git judges
    again (_Changes.settle_links; libgit2 judges a link to a folder as the folder)."""
    ignored, wt_new = int(FileStatus.IGNORED), int(FileStatus.WT_NEW)
    out: dict[str, int] = {}
    # As plain ints: each operation on pygit2's enum flags builds an enum object.
    found = [(path, int(flags)) for path, flags in status.items()]
    hidden = [path for path, flags in found if flags & ignored]
    links = _links_among(os.fspath(repo.root), hidden) if hidden else set()
    for path, flags in found:
        if not flags & ignored:
            out[path] = flags
            continue
        rest = flags & ~ignored  # a staged deletion (`git rm --cached`) of what is ignored now
        if path.rstrip("/") in links:
            out[path.rstrip("/")] = rest | wt_new
        elif rest:
            out[path] = rest
    return out


_READ_FOLDER_FROM = 8  # ignored paths in one folder from which the folder is read at once


def _links_among(root: str, paths: list[str]) -> set[str]:
    """Those of ``paths`` (a trailing ``/`` dropped) that are symbolic links.

    A status with ignored files names each ignored file of an untracked folder (`-uall`):
    30,000 `*.pyc` are 30,000 lstat calls (0.14 s). Where a folder holds several, it is
    read once instead (the kind of each entry comes with its name: no stat), as libgit2
    has just read it for the status."""
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        folder, _, _ = path.rstrip("/").rpartition("/")
        by_folder.setdefault(folder, []).append(path.rstrip("/"))
    links: set[str] = set()
    for folder, named in by_folder.items():
        if len(named) < _READ_FOLDER_FROM:
            links.update(p for p in named if os.path.islink(os.path.join(root, p)))
            continue
        prefix = f"{folder}/" if folder else ""
        try:
            with os.scandir(os.path.join(root, folder)) as found:
                in_folder = {prefix + entry.name for entry in found if entry.is_symlink()}
        except OSError:
            continue  # gone meanwhile: so are its links
        links.update(in_folder.intersection(named))
    return links


class _UntrackedScan:
    """Makes a status asked `-unormal` what `-uall` reports in the untracked folders it
    names, less the regular files of the excluded datasets, which are only counted.

    Outside the datasets, each file and link git does not ignore is added as new; inside
    them, only the links (their regular files are in the data cache). A path status
    already names (a file removed from the index with `git rm --cached`) gets the
    new-in-the-working-tree flag `-uall` gives it. A folder holding a repository of its own
    is skipped, as git skips it (`-uall` names it, and the snapshot leaves it out); a
    folder git ignores is not read. A dataset's count is 0 when git ignores every file
    counted (nothing to say of it then); otherwise it includes the files git ignores in
    the folders read (checking each would cost what was saved). Raises _GitListsThem
    for a folder it cannot read, a name that is not UTF-8 (libgit2's ignore rules take
    UTF-8) other than a dataset's file, a folder of a dataset named in ``keep``, or more
    than JUDGED_AT_MOST files to judge outside the datasets.
    """

    def __init__(self, repo: Repo, changes: _Changes, status: dict[str, int]) -> None:
        self.is_ignored = repo._r.path_is_ignored
        self.root = os.fspath(repo.root)
        self.changes = changes
        self.status = status
        self.wt_new = int(FileStatus.WT_NEW)
        self.files: dict[str, int] = {}  # dataset -> regular files counted
        self.not_ignored: set[str] = set()  # datasets with a file git does not ignore
        self.ignore_files: list[str] = []  # every one read, whether git ignores it or not
        self.judged = 0  # files outside the datasets whose rules libgit2 was asked

    def counts(self) -> dict[str, int]:
        return {top: n for top, n in self.files.items() if top in self.not_ignored}

    def read(self, folder: str) -> None:
        stack = [(folder, self.changes.excluded_by(folder))]
        while stack:
            rel, top = stack.pop()
            try:
                with os.scandir(os.path.join(self.root, rel)) as found:
                    entries = list(found)
            except OSError as exc:
                raise _GitListsThem(rel) from exc
            if any(entry.name == ".git" and os.path.exists(entry.path) for entry in entries):
                continue  # libgit2 looks for .git through a link, as here
            for entry in entries:
                if entry.name == ".git":
                    continue  # a link or file of that name: git never takes one either
                path = f"{rel}/{entry.name}"
                # Outside a dataset, a path may be one (or hold one): asked of each.
                within = top if top is not None else self.changes.excluded_by(path)
                if entry.name == ignores.IGNORE_FILE:
                    self.ignore_files.append(path)  # its rules may be some libgit2 misreads
                if entry.is_dir(follow_symlinks=False):
                    if not path.isprintable() and _not_utf8(path):
                        raise _GitListsThem(path)
                    if within is not None and path in self.changes.keep:
                        raise _GitListsThem(path)
                    if not self.is_ignored(path + "/"):
                        stack.append((path, within))  # its links are looked at one by one
                elif within is None:
                    self._take(path, entry)
                else:
                    self._take_in_dataset(path, entry, within)

    def _take(self, path: str, entry: os.DirEntry[str]) -> None:
        """A file outside the datasets, new unless git ignores it; a link, new (git judges
        it later, see _Changes.settle_links)."""
        if not path.isprintable() and _not_utf8(path):
            raise _GitListsThem(path)
        if entry.is_symlink():
            self.status[path] = self.status.get(path, 0) | self.wt_new
        elif entry.is_file(follow_symlinks=False):
            self.judged += 1
            if self.judged > JUDGED_AT_MOST:
                raise _GitListsThem(path)  # git lists them faster
            if not self.is_ignored(path):
                self.status[path] = self.status.get(path, 0) | self.wt_new

    def _take_in_dataset(self, path: str, entry: os.DirEntry[str], top: str) -> None:
        is_file = entry.is_file(follow_symlinks=False)
        if not path.isprintable() and _not_utf8(path):
            if not is_file or path in self.status:
                raise _GitListsThem(path)
            self.files[top] = self.files.get(top, 0) + 1  # counted only: no rule asked
            return
        if path in self.changes.keep:
            return  # read on its own, as an extra path
        if path in self.status or not is_file:
            self._take(path, entry)
            return
        self.files[top] = self.files.get(top, 0) + 1
        if top not in self.not_ignored and not self.is_ignored(path):
            self.not_ignored.add(top)


def _not_utf8(path: str) -> bool:
    """A name os.scandir decoded with surrogate escapes, which pygit2's path_is_ignored cannot
    take."""
    try:
        path.encode()
    except UnicodeEncodeError:
        return True
    return False
