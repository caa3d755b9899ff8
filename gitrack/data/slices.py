"""A dataset versioned a slice of files at a time: what `gitrack run -d FOLDER` holds at
once does not grow with the number of files in the folder (issue 16).

Each slice (``hasher.SLICE`` files, in the order of their paths: the manifest's order) is
hashed, each small file's object written as it is read (``DataStore.stage_reader``); then
its hashes are named by a pending marker of their own (``protect``), *before* any of them
is looked for in the cache (gc.py: that order is what keeps `gitrack gc` off them); then
it is stored as ``DataStore.store`` stores a path's files (staged copies published,
objects written in place looked for again, the others freshened); then it is encoded into
the manifest, which is written to a temp file in the cache's ``tmp/`` as it grows, and
renamed into place once a marker names it too. What stays is one slice, the walk's
listing of the folders it is in (each folder's entries are sorted: the largest folder
counts), and 32 bytes of stat stamp.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from gitrack.data import hashing
from gitrack.data.hasher import PathState, Reader, Stamper, entries_of
from gitrack.data.manifest import ManifestWriter
from gitrack.data.progress import Progress
from gitrack.data.store import DataStore
from gitrack.data.walk import FoundFiles, full_path

# Names these hashes in a pending marker (gc.py), before any of them is looked for.
Protect = Callable[[list[str]], None]


def take(store: DataStore, rel: str, label: str, protect: Protect) -> PathState:
    """Hash ``rel`` and keep it in the cache, ``protect`` told of every object first; a
    folder a slice at a time, a file as ``hash_and_stage`` and ``store`` do it."""
    target = store.root / rel
    store.hasher.require(rel)
    try:
        folder = stat.S_ISDIR(os.stat(target).st_mode)
    except OSError:
        folder = False  # a broken link: hash_path says what is wrong
    if folder:
        return _take_folder(store, rel, label, protect)
    state = store.hash_and_stage(rel, label)
    protect([state.hash, *(entry.hash for entry in state.entries)])
    store.store(state, f"caching {rel}")
    return state


def _take_folder(store: DataStore, rel: str, label: str, protect: Protect) -> PathState:
    target = store.root / rel
    link = os.readlink(target) if os.path.islink(target) else None
    top = os.fspath(target)
    empty: list[str] = []
    warnings: list[str] = []
    stamp = Stamper(rel, True)
    temps: list[str] = []
    read = _keeping_alive(store.stage_reader(), temps)
    try:
        with _temp(store, temps) as out, Progress(label, 0) as bar:
            manifest = ManifestWriter(out)
            slices = store.hasher.hash_slices(target, label, empty, warnings, bar, read)
            for found, hashes in slices:
                protect(hashes)
                _store_slice(store, top, found, hashes, bar)
                stamp.add(found)
                manifest.add(entries_of(found, hashes))
            if empty:  # the bytes written assumed none: the right ones go to a second file
                with _temp(store, temps) as rewrite:
                    digest = manifest.finish(empty, rewrite)
            else:
                digest = manifest.finish(empty)
        protect([digest])
        store.cache.add_temp(temps[-1], digest)
    finally:
        for temp in temps:
            with contextlib.suppress(OSError):
                os.unlink(temp)  # published already, or a run that failed
    return PathState(rel, digest, stamp.done(), link, top, (), None, warnings)


def _store_slice(
    store: DataStore, top: str, found: FoundFiles, hashes: list[str], bar: Progress
) -> None:
    """The slice's files into the cache (its hashes named by a marker already)."""
    sources = [
        (full_path(top, name), digest) for name, digest in zip(found.paths, hashes, strict=True)
    ]
    staged, in_place = store.staged, store.written_in_place
    copied = sum(  # what this pass copies: not what was staged or written as it was hashed
        found.size(index)
        for index, (path, digest) in enumerate(sources)
        if path not in staged and digest not in in_place
    )
    bar.grow(copied)
    store.cache.add_files(sources, bar.advance, staged, in_place)
    in_place.clear()  # looked for again: done (a later slice freshens what it shares)


TOUCH_EVERY_S = 600.0  # gc and fsck --repair take a temp file untouched for an hour as dead


def _keeping_alive(read: Reader, temps: list[str]) -> Reader:
    """``read``, which also touches the manifest's temp file now and then: it is written to
    only as its slices are encoded, and one slice of large files on slow storage may take
    longer than the hour after which `gitrack gc` removes a temp file (review)."""
    touched = time.monotonic()

    def reader(path: str | Path, size: int, progress: hashing.Progress) -> str:
        nonlocal touched
        if temps and time.monotonic() - touched > TOUCH_EVERY_S:
            with contextlib.suppress(OSError):
                os.utime(temps[0])
            touched = time.monotonic()
        return read(path, size, progress)

    return reader


@contextlib.contextmanager
def _temp(store: DataStore, temps: list[str]) -> Iterator[BinaryIO]:
    """A new temp file in the cache's ``tmp/`` (named as gc expects of a live writer),
    added to ``temps`` (removed by the caller whatever happens)."""
    cache = store.cache
    try:
        fd, temp = cache.open_temp()
    except OSError as exc:
        raise cache.write_error(exc) from exc
    temps.append(temp)
    try:
        with os.fdopen(fd, "w+b") as handle:
            yield handle
    except OSError as exc:
        raise cache.write_error(exc) from exc
