"""Paths read from notes are untrusted: they come from other people's clones.

Nothing is written to a path before it passes :func:`safe_target`: relative, no ``..``,
not inside ``.git``, and no existing component is a symlink leading out of the
repository (so a restore can never write through a link to elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from gitrack.errors import GitrackError


class UnsafePathError(GitrackError):
    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"refusing path {path!r} from a run record: {why}")
        self.path = path


def check_relative(path: str) -> PurePosixPath:
    """A clean repository-relative POSIX path, or UnsafePathError."""
    if not path or "\x00" in path:
        raise UnsafePathError(path, "empty or holds a NUL byte")
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        raise UnsafePathError(path, "it is absolute")
    pure = PurePosixPath(path)
    parts = pure.parts
    if not parts or parts == (".",):
        raise UnsafePathError(path, "it names the whole repository")
    if any(p in ("..", "") for p in parts) or "\\" in path:
        raise UnsafePathError(path, "it leaves its folder ('..' or backslashes)")
    if any(p.lower() == ".git" for p in parts):
        raise UnsafePathError(path, "it points into .git")
    return pure


def safe_target(root: Path, path: str, final_link_ok: bool = False) -> Path:
    """Where ``path`` lands under ``root``, after checking no link leads elsewhere.

    With ``final_link_ok`` the last component may be a link anywhere: the caller reads
    through it but never writes through it.
    """
    pure = check_relative(path)
    real_root = os.path.realpath(root)
    current = Path(root)
    for index, part in enumerate(pure.parts):
        current = current / part
        if final_link_ok and index == len(pure.parts) - 1:
            break
        if os.path.islink(current):
            resolved = os.path.realpath(current)
            if resolved != real_root and not resolved.startswith(real_root + os.sep):
                raise UnsafePathError(path, f"{current} is a symlink out of the repository")
            inside = Path(os.path.relpath(resolved, real_root)).parts
            if any(part.lower() == ".git" for part in inside):  # nested repositories too
                raise UnsafePathError(path, f"{current} is a symlink into a .git folder")
    return Path(root).joinpath(*pure.parts)


def repo_relative(root: Path, path: Path) -> str:
    """A user-given path (absolute or relative to cwd) as a path relative to ``root``.

    Symlinks in the path itself are kept (a dataset may be a link), only the folders
    above it are resolved.
    """
    absolute = Path(os.path.abspath(path))
    parent = Path(os.path.realpath(absolute.parent))
    real_root = Path(os.path.realpath(root))
    try:
        rel = (parent / absolute.name).relative_to(real_root)
    except ValueError as exc:
        raise GitrackError(
            f"{path} is outside the repository {root}; data must live inside it "
            "(a symlink inside the repository to data elsewhere works)"
        ) from exc
    text = rel.as_posix()
    if text in ("", "."):
        raise GitrackError(f"{path} is the repository itself; name a file or folder in it")
    if any(part.lower() == ".git" for part in rel.parts):
        raise GitrackError(f"{path} is inside .git; data must be a file or folder of the work tree")
    return text
