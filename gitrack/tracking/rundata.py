"""The data side of one `gitrack run`: datasets hashed and cached before the command,
outputs after it, big untracked files kept in the cache instead of git."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from gitrack.data import gc, layout
from gitrack.data.hasher import MissingDataError, PathState, StatStamp
from gitrack.data.store import DataStore


class RunData:
    def __init__(self, store: DataStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.datasets: dict[str, str] = {}
        self.outputs: dict[str, str] = {}
        self.large_files: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.warnings: list[str] = []
        self._inputs: list[StatStamp] = []  # the datasets' stat stamps, not their files
        self._marker: Path | None = None
        self._protected: set[str] = set()
        self._slices: list[Path] = []  # markers of the datasets' slices (data/slices.py)

    def take_inputs(self, paths: list[str]) -> None:
        """Hash and cache the datasets; a missing one raises before the command starts,
        and before any is read (hashing writes a new file's object as it reads it). A
        folder is taken a slice of files at a time (data/slices.py), each slice named by
        a pending marker of its own: neither its files' entries nor their hashes are held."""
        from gitrack.data.slices import take

        for path in paths:
            self.store.hasher.require(path)
        inputs: list[StatStamp] = []
        try:
            for path in paths:
                state = take(self.store, path, f"hashing {path}", self._protect_slice)
                self._note(state)
                self.datasets[state.path] = state.hash
                inputs.append(state.stamp)  # what the check after the command needs
        finally:
            self.store.discard_staged()  # copies of files not stored (an error stopped it)
        self._inputs = inputs

    def take_large_files(self, paths: list[str]) -> None:
        for path in paths:
            state = self.store.hasher.hash_path(path, f"hashing {path}")
            self._protect(_all_hashes([state]))
            self.store.store(state, f"caching {path}")
            self.large_files[path] = state.hash

    def take_outputs(self, paths: list[str]) -> None:
        for path in paths:
            try:
                state = self.store.hasher.hash_path(path, f"hashing {path}")
            except MissingDataError:
                self.warnings.append(f"output {path!r} was not written by the command")
                continue
            self._protect(_all_hashes([state]))
            self.store.store(state, f"caching {path}")
            self._note(state)
            self.outputs[path] = state.hash

    def check_inputs_unchanged(self) -> None:
        for stamp in self._inputs:
            if self.store.hasher.changed_since(stamp):
                self.warnings.append(
                    f"dataset {stamp.path!r} changed during the run; "
                    "the recorded hash is of its state when the run started"
                )

    def finish(self) -> None:
        """The run is recorded: its objects are referenced by the note from now on."""
        for marker in [*self._slices, *([self._marker] if self._marker else [])]:
            with contextlib.suppress(OSError):
                marker.unlink()
        self._slices.clear()

    def _protect_slice(self, hashes: list[str]) -> None:
        """A marker of its own for a slice of a dataset's hashes (added to none: a folder of
        10^6 files is not held, nor its marker rewritten for each slice)."""
        name = layout.slice_marker_name(self.run_id, len(self._slices))
        self._slices.append(gc.mark_pending(self.store.cache, name, hashes))

    def _protect(self, hashes: Iterable[str]) -> None:
        """Until the note is written, a pending marker keeps `gitrack gc` off the objects
        (every file's too: a folder's manifest is written only after its files). Written
        before the objects are looked for: see gitrack/data/gc.py for why that matters."""
        self._protected.update(hashes)
        self._marker = gc.mark_pending(self.store.cache, self.run_id, self._protected)

    def _note(self, state: PathState) -> None:
        self.warnings.extend(state.warnings)
        if state.link is not None:
            self.links[state.path] = state.link


def _all_hashes(states: list[PathState]) -> Iterator[str]:
    for state in states:
        yield state.hash
        yield from (entry.hash for entry in state.entries)
