"""Paths read from notes are untrusted: they come from other people's clones.

Nothing is written to a path before it passes :func:`safe_target`: relative, no ``..``,
not inside ``.git``, and no existing component is a symlink leading out of the
repository (so a restore can never write through a link to elsewhere).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from gitrack.errors import GitrackError


class UnsafePathError(GitrackError):
    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"refusing path {path!r} from a run record: {why}")
        self.path = path


def check_relative(path: str) -> PurePosixPath:
    """A clean repository-relative POSIX path, or UnsafePathError.

    Refused everywhere, because on some system the name leads out of its folder or into
    a `.git` (a clone is used on Windows and macOS too): backslashes, drive prefixes
    (``c:x``) in any component, and names Windows or macOS read as ``.git``. Names that
    are merely unportable (``aux.c``, ``con``, a trailing dot, a colon elsewhere) are
    legal on Linux and used there, so they are refused only on Windows itself.
    """
    if not path or "\x00" in path:
        raise UnsafePathError(path, "empty or holds a NUL byte")
    if path.startswith(("/", "\\")) or _DRIVE_PREFIX.match(path):
        raise UnsafePathError(path, "it is absolute")
    if "\\" in path:
        raise UnsafePathError(path, "it holds a backslash, a folder separator on Windows")
    pure = PurePosixPath(path)
    parts = pure.parts
    if not parts or parts == (".",):
        raise UnsafePathError(path, "it names the whole repository")
    if ".." in parts:
        raise UnsafePathError(path, "it leaves its folder ('..')")
    for part in parts:
        if _DRIVE_PREFIX.match(part):
            raise UnsafePathError(path, f"{part!r} starts with a drive, absolute on Windows")
        if _reads_as_dot_git(part):
            raise UnsafePathError(path, "it points into .git (as Windows or macOS read it)")
        if os.name == "nt" and (problem := _windows_problem(part)):
            raise UnsafePathError(path, f"{part!r} {problem}")
    return pure


def check_relative_name(path: str) -> None:
    """``check_relative`` without building the PurePosixPath: the same paths accepted and
    refused, plain ones (below) by one regex match (a manifest lists 10^5 paths)."""
    if os.name == "nt" or not _PLAIN.match(path):
        check_relative(path)


# Names of letters, digits, "_", "-" and "." (never first: no ".", "..", ".git"), one "/"
# between them: none can be refused by check_relative outside Windows.
_PLAIN = re.compile(r"(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z")
_DRIVE_PREFIX = re.compile(r"[A-Za-z]:")
# Code points macOS (HFS+) ignores in names, as git's is_hfs_dotgit lists them.
_HFS_IGNORED = dict.fromkeys(
    map(ord, "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
             "\u206a\u206b\u206c\u206d\u206e\u206f\ufeff")
)  # fmt: skip
_WINDOWS_DEVICES = re.compile(r"(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)\Z")
_WINDOWS_BAD_CHARS = re.compile(r'[<>:"|?*\x01-\x1f]')


def _reads_as_dot_git(part: str) -> bool:
    """``.git`` on some file system: any case, macOS' ignored code points, Windows'
    dropped trailing dots and spaces, an NTFS stream (``.git::$INDEX_ALLOCATION``) or
    the 8.3 short name ``git~1``."""
    name = part.translate(_HFS_IGNORED).lower().split(":", 1)[0].rstrip(". ")
    return name in (".git", "git~1")


def _windows_problem(part: str) -> str | None:
    if _WINDOWS_BAD_CHARS.search(part):
        return "holds a character Windows does not allow in names"
    if part.endswith((".", " ")):
        return "ends with a dot or space, which Windows drops"
    if _WINDOWS_DEVICES.match(part.split(".", 1)[0].rstrip(" ").lower()):
        return "is a Windows device name"
    return None


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


# Longest name a temporary file may have: NAME_MAX is 255 bytes on most file systems, but
# only 143 on eCryptfs; the random part mkstemp adds fits in the margin.
_TEMP_NAME_MAX = 128


def temp_prefix(name: str) -> str:
    """A hidden prefix for temporary files beside ``name`` (e.g. ``.model.bin.gitrack-``),
    short enough for any file system: a long name is replaced by a hash of it."""
    prefix = f".{name}.gitrack-"
    if len(os.fsencode(prefix)) <= _TEMP_NAME_MAX - 16:
        return prefix
    import hashlib  # only for names too long to keep: every command imports this module

    return f".{hashlib.sha256(os.fsencode(name)).hexdigest()[:16]}.gitrack-"


_temp_counter = itertools.count()


@contextlib.contextmanager
def atomic_file(path: Path, keep_suffix: bool = False) -> Iterator[Path]:
    """A new temporary path beside ``path`` for the block to write; renamed over ``path``
    when the block ends without an error, removed otherwise.

    A reader (or a crash) sees the old file or the whole new one, never half of it. The
    name is unique to this process and call, so concurrent writers never share a temp
    file; ``keep_suffix`` ends it with ``path``'s extension (matplotlib's ``savefig``
    picks the format by it). Raises OSError if nothing was written to the temp path.
    """
    suffix = path.suffix if keep_suffix else ""
    temp = path.with_name(f"{temp_prefix(path.name)}tmp{os.getpid()}.{next(_temp_counter)}{suffix}")
    try:
        yield temp
        os.replace(temp, path)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


@contextlib.contextmanager
def user_output(path: Path) -> Iterator[Path]:
    """:func:`atomic_file` for a file the user asked for (an export, a report): a failure
    to write it is an error naming it (a full disk, a folder that is not there)."""
    try:
        with atomic_file(path) as temp:
            yield temp
    except OSError as exc:
        raise GitrackError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_atomically(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """``data`` (text as UTF-8) into ``path`` through :func:`atomic_file`; ``mode`` is set
    before the rename, so the file never appears with other permissions."""
    with atomic_file(path) as temp:
        temp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        if mode is not None:
            os.chmod(temp, mode)


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
