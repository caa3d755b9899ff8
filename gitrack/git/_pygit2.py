"""pygit2, imported on first use.

pygit2 costs ~60 ms to import: commands that never open a repository through it
(`gitrack hash`, `--help`, most hooks' fast paths) should not pay for it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.machinery
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from gitrack.errors import GitrackError


class _LazyModule:
    def __init__(self, name: str, member: str | None = None) -> None:
        self._name = name
        self._member = member

    def __getattr__(self, attr: str) -> Any:
        target: Any = importlib.import_module(self._name)
        if self._member is not None:
            target = getattr(target, self._member)
        value = getattr(target, attr)
        setattr(self, attr, value)  # later lookups skip __getattr__ (hot loops use these)
        return value


if TYPE_CHECKING:
    import pygit2
    from pygit2.enums import CheckoutStrategy, DiffOption, FileMode, FileStatus
else:
    pygit2 = _LazyModule("pygit2")
    CheckoutStrategy = _LazyModule("pygit2.enums", "CheckoutStrategy")
    DiffOption = _LazyModule("pygit2.enums", "DiffOption")
    FileMode = _LazyModule("pygit2.enums", "FileMode")
    FileStatus = _LazyModule("pygit2.enums", "FileStatus")

__all__ = [
    "OBJECT_ID",
    "CheckoutStrategy",
    "DiffOption",
    "FileMode",
    "FileStatus",
    "claim_process",
    "pygit2",
    "reading_the_index",
    "skip_worktree",
    "strict_objects_off",
]


_claimed = False


def claim_process() -> None:
    """This process is gitrack's own program (the command line run as a command, a hook):
    pygit2 is set up for gitrack alone. Never called in a user's process (the Python API,
    ``cli.main(argv)`` from their code), whose own pygit2 stays as they set it.

    * pygit2 is imported without pointing libgit2 at the CA certificates: OpenSSL parses
      the whole bundle there, once for pygit2's settings and once more when
      $SSL_CERT_FILE names it (10-20 ms of every start each), and gitrack never uses
      libgit2's network (remotes go through the git binary).
    * libgit2's process-wide strict object check may be switched off around one tree
      write (see ``strict_objects_off``)."""
    global _claimed
    _claimed = True
    if "pygit2" in sys.modules or any(isinstance(f, _NoTlsSetup) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _NoTlsSetup())


def process_claimed() -> bool:
    """Whether this process is gitrack's own program (``claim_process``)."""
    return _claimed


@contextlib.contextmanager
def strict_objects_off() -> Iterator[None]:
    """libgit2's strict object creation off for the block, in gitrack's own process only
    (the setting is process-wide and cannot be read back: in a user's process it is left
    as they set it). Through ``pygit2.option``, which every pygit2 gitrack supports has."""
    if not _claimed:
        yield
        return
    pygit2.option(pygit2.GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0)
    try:
        yield
    finally:
        pygit2.option(pygit2.GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1)  # libgit2's default


class _NoTlsSetup:
    """Finds pygit2's modules as usual, then: the C extension initializes libgit2 (and
    its OpenSSL context) with $SSL_CERT_FILE hidden for that moment, and pygit2's
    Settings skip the certificates (pygit2's own path when its TLS backend has no
    certificate locations)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in ("pygit2._pygit2", "pygit2.settings"):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader: Any = spec.loader if spec is not None else None
        if fullname == "pygit2._pygit2" and callable(getattr(loader, "create_module", None)):
            loader.create_module = _without_cert_file(loader.create_module)
        if fullname == "pygit2.settings" and callable(getattr(loader, "exec_module", None)):
            loader.exec_module = _then_no_certificates(loader.exec_module)
        return spec


def _without_cert_file(create: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def create_module(spec: Any) -> Any:
        saved = os.environ.pop("SSL_CERT_FILE", None)
        try:
            return create(spec)
        finally:
            if saved is not None:
                os.environ["SSL_CERT_FILE"] = saved  # as it was, for the commands gitrack runs

    return create_module


def _then_no_certificates(run: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
    def exec_module(module: ModuleType) -> None:
        with _ssl_deferred():
            run(module)
        settings: Any = getattr(module, "Settings", None)
        if callable(getattr(settings, "_initialize_tls_certificate_locations", None)):
            settings._initialize_tls_certificate_locations = _no_certificates

    return exec_module


@contextlib.contextmanager
def _ssl_deferred() -> Iterator[None]:
    """pygit2's settings import two names from ``ssl`` only to find the certificates,
    which gitrack's own process skips: importing ``ssl`` (and ``socket``, ``selectors``:
    ~6 ms of every start) is put off by a stand-in for the moment the module runs. The
    stand-in's function imports the real module when called; later imports of ``ssl``
    get the real one."""
    if "ssl" in sys.modules:
        yield
        return
    stand_in = ModuleType("ssl")

    class DefaultVerifyPaths:  # only an annotation in pygit2.settings
        pass

    def get_default_verify_paths() -> Any:
        if sys.modules.get("ssl") is stand_in:  # called while the settings load
            del sys.modules["ssl"]
        return importlib.import_module("ssl").get_default_verify_paths()

    stand_in.DefaultVerifyPaths = DefaultVerifyPaths  # type: ignore[attr-defined]
    stand_in.get_default_verify_paths = get_default_verify_paths  # type: ignore[attr-defined]
    sys.modules["ssl"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("ssl") is stand_in:
            del sys.modules["ssl"]


def _no_certificates(settings: Any) -> None:
    settings._default_tls_verify_paths = None
    settings._ssl_cert_file = None
    settings._ssl_cert_dir = None


OBJECT_ID = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z").match


# libgit2's GIT_INDEX_ENTRY_SKIP_WORKTREE, in an entry's extended flags.
_SKIP_WORKTREE = 1 << 14


def skip_worktree(index: pygit2.Index, path: str) -> bool:
    """Is ``path`` marked skip-worktree in ``index`` (outside a sparse checkout's cone, or
    `git update-index --skip-worktree`)? git then ignores the working file, present or not.

    pygit2's IndexEntry drops the flags, so this reads libgit2's entry directly.
    """
    from pygit2.ffi import C, ffi

    entry = C.git_index_get_bypath(index._index, os.fsencode(path), 0)
    return entry != ffi.NULL and bool(entry.flags_extended & _SKIP_WORKTREE)


@contextlib.contextmanager
def reading_the_index() -> Iterator[None]:
    """libgit2 cannot read a sparse index (`index.sparse`): say so, and how to turn it off."""
    try:
        yield
    except pygit2.GitError as exc:
        if "sdir" not in str(exc):
            raise
        raise GitrackError(
            "this sparse checkout uses a sparse index, which gitrack cannot read; turn it off "
            "(git sparse-checkout init --no-sparse-index) and try again"
        ) from exc


@functools.cache
def wt_changed() -> Any:
    """Status flags meaning: the working file differs from the index."""
    status = FileStatus
    return (
        status.WT_NEW
        | status.WT_MODIFIED
        | status.WT_DELETED
        | status.WT_TYPECHANGE
        | status.WT_RENAMED
        | status.WT_UNREADABLE
        | status.CONFLICTED
    )
