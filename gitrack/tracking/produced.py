"""Did the command write this file during the run? Invariant 9: a run is credited only
with the metrics and outputs its command produced, never with what an earlier run left.

A path's *fingerprint* is taken before the command starts and again after it exits; a
path that existed before with the same fingerprint was not written by the command. The
fingerprint is the stat fields a write changes (inode: a rename over it; size; mtime_ns
and ctime_ns: any write, even of the same bytes), of every entry below a folder.
"""

from __future__ import annotations

import os
from pathlib import Path

Fingerprint = tuple[tuple[str, int, int, int, int], ...]


def fingerprint(path: Path) -> Fingerprint | None:
    """The stat fields of ``path`` (and of everything below it, for a folder); None if absent."""
    try:
        top = os.stat(path)
    except OSError:
        return None
    entries = [_entry("", top)]
    if os.path.isdir(path):
        for folder, dirnames, filenames in os.walk(path):
            dirnames.sort()
            rel = os.path.relpath(folder, path)
            for name in sorted(dirnames + filenames):
                try:
                    entries.append(_entry(os.path.join(rel, name), os.stat(Path(folder, name))))
                except OSError:
                    entries.append((os.path.join(rel, name), -1, -1, -1, -1))
    return tuple(entries)


def written_since(path: Path, before: Fingerprint | None) -> bool:
    """True if the command wrote ``path``: absent before and present now, or changed."""
    if before is None:
        return True  # whether it exists now is for the caller to find out
    return fingerprint(path) != before


def _entry(rel: str, st: os.stat_result) -> tuple[str, int, int, int, int]:
    return (rel, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
