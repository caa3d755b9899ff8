"""Garbage collection of the data cache, and the announcements that keep it off live data.

What protects an object from `gitrack gc`:

* a **pending marker** (``pending/<run id>.json``, ``….api.json`` for the Python API): every
  hash a run in progress will reference, written *before* the run looks for or writes any
  of those objects, removed only *after* its note is written (a dataset folder is
  announced a slice of files at a time, ``….slice<n>.json``, each slice's marker written
  before that slice's objects are looked for: data/slices.py);
* a **note**: every recorded run's hashes (a folder's manifest names its files). `gitrack
  pull` merges the notes *before* it downloads the objects they name;
* a **preserved list** (``preserved/*.json``): what a checkout replaced, kept PRESERVE_DAYS;
* **age**: like git's ``gc.pruneExpire``, an object whose mtime is younger than the grace
  period is kept even if nothing names it, and so is a temp file of a writer
  (``tmp/incoming-*``). A writer that finds its object already stored freshens it (sets its
  mtime to now, ``Cache.freshen``), as git does.

The sweep, holding ``gc.lock`` (one gc per cache at a time):

1. read the markers, then the notes (a run finishing in between writes its note before its
   marker goes, so it is seen one way or the other), then the preserved lists;
2. candidates: objects none of them needs, with an mtime older than the grace period;
3. move each candidate into ``tmp/gc-quarantine/`` (a rename), and move it back at once if
   its mtime is fresh after all (freshened between 2 and 3);
4. read the markers and the notes again, and move back every quarantined object they need;
5. delete what is left in the quarantine.

Why a run that completes never loses an object O it references, whatever the interleaving.
Let M be when its marker was written (for a pull: when its notes were merged), and F when it
looked for O (finding it, freshening it, or writing a new copy); M comes before F.

* F before step 2, or between steps 2 and 3: O is young when gc looks at it (written or
  freshened at F), never deleted. (Not relied on below: DataStore.store checks presence
  without freshening.)
* M before step 4's read of the markers: the marker is still there then (O is moved back),
  or the run finished and its note, written before its marker was removed, is read in
  step 4 (O is moved back). A marker older than the grace period (never less than
  DEFAULT_GRACE_S) counts as a crashed run's: a run lasting longer than that is not protected.
* M after step 4's read: F is later still, after step 3 moved O away, so the run found no O
  and wrote a new copy, which is not in the quarantine and is never touched.

So the notes and markers alone protect every run, even with no grace period (``--now``).
A run hashing a new dataset writes each small file's object as it reads it
(``DataStore.hash_and_stage``, in place: see odb.py), before its marker exists; after M it
looks for each again (F), and writes again from the source any that gc removed meanwhile
(only `--now` can: they are young). A file that changed size while read is copied into
``tmp/`` instead: a temp file, not an object, until the run renames it into place after M
(a rename is F); a copy gc removed meanwhile (a temp file over TEMP_MIN_AGE_S) is simply
made again from the source. An unfinished object (permissions 0000: a writer killed half
way, or still at work) counts as missing everywhere; gc removes it as any object nothing
needs, and never puts one back from its quarantine (it would replace the whole copy a run
wrote meanwhile): a run that needs it writes it again.
The grace period covers what is not announced beforehand: temp files of live writers, the
copies a checkout makes before it lists them under ``preserved/``, and writers that do not
know this protocol (another tool, an older gitrack). If gc dies after step 3, the next gc
moves the whole quarantine back before it decides anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from gitrack.data import hashing
from gitrack.data.manifest import Manifest
from gitrack.data.odb import Cache, CacheError, is_complete
from gitrack.errors import GitrackError, UsageError

MINUTE, HOUR, DAY, WEEK = 60, 3600, 24 * 3600, 7 * 24 * 3600
DEFAULT_GRACE_S = 2 * WEEK  # git's gc.pruneExpire default
TEMP_MIN_AGE_S = HOUR  # a temp file unwritten this long has no live writer, even with --now
PRESERVE_DAYS = 30  # what a restore replaced stays in the cache this long
QUARANTINE = "gc-quarantine"  # in tmp/: what the running gc is about to delete
TEMP_PREFIX = "incoming-"  # in tmp/: objects and markers being written
SHOWN = 5  # unexpected entries named in the warning
# A child process forked by this one holds the lock too until it execs: wait that long.
LOCK_WAIT_S = 1.0

_SHARD = re.compile(r"[0-9a-f]{2}")
_REST = re.compile(r"[0-9a-f]{30}")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*\.?\s*([a-z]+)\s*", re.IGNORECASE)
_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": MINUTE,
    "min": MINUTE,
    "minute": MINUTE,
    "h": HOUR,
    "hour": HOUR,
    "d": DAY,
    "day": DAY,
    "w": WEEK,
    "week": WEEK,
}

# The hashes of every recorded run, and the warnings of reading them (gathered by the
# command: this module knows the cache, not git).
RunReferences = Callable[[], tuple[list[str], list[str]]]


@dataclass
class GcReport:
    removed: int = 0
    freed_bytes: int = 0
    kept: int = 0  # needed by a run (recorded or in progress) or a recent checkout
    young: int = 0  # needed by nothing, but younger than the grace period
    temps: list[Path] = field(default_factory=list)  # leftovers of crashed writers
    temp_bytes: int = 0
    unexpected: list[Path] = field(default_factory=list)  # not gitrack's: left alone
    warnings: list[str] = field(default_factory=list)
    grace_s: float = DEFAULT_GRACE_S


@dataclass(frozen=True)
class _Candidate:
    hash: str
    path: Path
    size: int


# -------------------------------------------------------------- announcements
def mark_pending(cache: Cache, name: str, hashes: Iterable[str]) -> Path:
    """Announce objects a run in progress will reference, *before* it looks for any.

    Adds to what the marker already lists (the Python API logs datasets one at a time) and
    replaces it atomically: gc never reads half a marker.
    """
    marker = cache.root / "pending" / f"{name}.json"
    # Sorted with their repeats (dropped as written): a list, not a set of 10^6 hashes more.
    ordered = sorted(itertools.chain(_read_marker(marker), hashes))
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        staging = cache.root / "tmp"
        staging.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=staging, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "w") as handle:
                _write_json_list(handle, ordered)
            os.replace(temp, marker)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    except OSError as exc:
        raise CacheError(f"cannot write to the cache at {cache.root}: {exc}") from exc
    return marker


def _write_json_list(handle: TextIO, ordered: list[str]) -> None:
    """What ``json.dumps(sorted(set(ordered)))`` gives (``ordered`` is sorted), written a
    slice at a time: a marker can list the 10^6 hashes of a big folder, and its text need
    not be held whole."""
    handle.write("[")
    for start in range(0, len(ordered), 4096):
        piece = [
            item
            for index, item in enumerate(ordered[start : start + 4096], start)
            if index == 0 or item != ordered[index - 1]
        ]
        if piece:
            handle.write(", " if start else "")
            handle.write(json.dumps(piece)[1:-1])
    handle.write("]")


def pending_hashes(cache: Cache, max_age_s: float = DEFAULT_GRACE_S) -> set[str]:
    """Hashes of runs in progress; a marker older than ``max_age_s`` is a crashed run's."""
    folder = cache.root / "pending"
    out: set[str] = set()
    cutoff = time.time() - max_age_s
    for marker in folder.glob("*.json") if folder.is_dir() else []:
        with contextlib.suppress(OSError):
            if marker.stat().st_mtime >= cutoff:
                out |= _read_marker(marker)
    return out


def _read_marker(marker: Path) -> set[str]:
    try:
        listed = json.loads(marker.read_text())
    except (OSError, ValueError):
        return set()
    return {h for h in listed if isinstance(h, str)} if isinstance(listed, list) else set()


def preserved_hashes(cache: Cache) -> list[str]:
    """Copies kept by recent restores (younger than PRESERVE_DAYS)."""
    folder = cache.root / "preserved"
    cutoff = time.time() - PRESERVE_DAYS * DAY
    out: list[str] = []
    for record in folder.glob("*.json") if folder.is_dir() else []:
        try:
            if record.stat().st_mtime >= cutoff:
                out += [str(h) for h in json.loads(record.read_text()).values()]
        except (OSError, ValueError, AttributeError):
            continue
    return out


def referenced_objects(cache: Cache, hashes: Iterable[str]) -> tuple[set[str], list[str]]:
    """Every object the given hashes need (manifests and their files); warnings."""
    keep: set[str] = set()
    warnings: list[str] = []
    for digest in hashes:
        if not hashing.is_valid(digest):
            continue
        keep.add(hashing.object_name(digest))
        if hashing.is_dir_hash(digest):
            try:
                manifest = Manifest.from_bytes(cache.read_verified(digest))
            except (GitrackError, ValueError) as exc:
                warnings.append(f"manifest {digest} unreadable ({exc}); its files may be collected")
                continue
            keep.update(entry.hash for entry in manifest.files)
    return keep, warnings


# ------------------------------------------------------------------ durations
def parse_grace(text: str) -> float:
    """``"2 weeks"``, ``"2.weeks"`` (git's spelling), ``"3d"``, ``"12h"``, ``"now"`` -> seconds."""
    if text.strip().lower() == "now":
        return 0.0
    match = _DURATION.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if unit not in _UNITS and unit.endswith("s"):
        unit = unit[:-1]  # "weeks", "days", "mins"
    if match is None or unit not in _UNITS:
        raise UsageError(
            f"--grace {text!r} is not a duration; write e.g. '2 weeks', '3d', '12h', '30m' or 'now'"
        )
    return float(match.group(1)) * _UNITS[unit]


def describe_grace(seconds: float) -> str:
    """2 weeks, 3 days, 90 minutes: the largest unit that divides it."""
    if seconds <= 0:
        return "none"
    for name, size in (("week", WEEK), ("day", DAY), ("hour", HOUR), ("minute", MINUTE)):
        count = seconds / size
        if count >= 1 and count == int(count):
            return f"{int(count)} {name}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


# ---------------------------------------------------------------------- sweep
def collect(
    cache: Cache,
    run_references: RunReferences,
    grace_s: float = DEFAULT_GRACE_S,
    dry_run: bool = False,
) -> GcReport:
    """Remove objects nothing needs that are older than ``grace_s``, and old temp files.

    See the module's docstring for why nothing a run that completes references is removed.
    """
    report = GcReport(grace_s=grace_s)
    if not cache.root.is_dir():
        return report
    started = time.time()
    cutoff = started - grace_s
    with contextlib.nullcontext() if dry_run else _one_gc_at_a_time(cache):
        if not dry_run:
            _recover_quarantine(cache)
        keep = _needed(cache, run_references, grace_s, report.warnings)
        candidates = _scan(cache, keep, cutoff, report)
        _remove_temps(cache, started - max(grace_s, TEMP_MIN_AGE_S), report, dry_run)
        if dry_run:
            report.removed = len(candidates)
            report.freed_bytes = sum(c.size for c in candidates)
        else:
            held = _quarantine(cache, candidates, cutoff, report)
            try:
                _release_needed(cache, held, run_references, grace_s, report)
            except BaseException:
                for digest, (path, _size) in held.items():
                    with contextlib.suppress(OSError):  # else the next gc puts it back
                        _put_back(cache, digest, path)
                raise
            _delete(cache, held, report)
    if report.unexpected:
        report.warnings.append(_unexpected_warning(cache, report.unexpected))
    report.warnings = list(dict.fromkeys(report.warnings))  # the notes are read twice
    return report


def _wanted(
    cache: Cache, run_references: RunReferences, grace_s: float
) -> tuple[list[str], list[str]]:
    """Markers first, then the notes: a run that finishes in between is seen either way."""
    wanted = list(pending_hashes(cache, max(grace_s, DEFAULT_GRACE_S)))
    hashes, warnings = run_references()
    return [*wanted, *hashes, *preserved_hashes(cache)], warnings


def _needed(
    cache: Cache, run_references: RunReferences, grace_s: float, warnings: list[str]
) -> set[str]:
    wanted, read_warnings = _wanted(cache, run_references, grace_s)
    keep, manifest_warnings = referenced_objects(cache, wanted)
    warnings += [*read_warnings, *manifest_warnings]
    return keep


def _scan(cache: Cache, keep: set[str], cutoff: float, report: GcReport) -> list[_Candidate]:
    """Objects neither needed nor young; whatever is not a well-formed object is noted."""
    candidates: list[_Candidate] = []
    for shard in _entries(cache.root / hashing.ALGORITHM):
        if not (_SHARD.fullmatch(shard.name) and shard.is_dir(follow_symlinks=False)):
            report.unexpected.append(Path(shard.path))
            continue
        for entry in _entries(Path(shard.path)):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # just removed by someone else
            if not (_REST.fullmatch(entry.name) and stat.S_ISREG(st.st_mode)):
                report.unexpected.append(Path(entry.path))
                continue
            digest = hashing.PREFIX + shard.name + entry.name
            if digest in keep:
                report.kept += 1
            elif st.st_mtime >= cutoff:
                report.young += 1
            else:
                candidates.append(_Candidate(digest, Path(entry.path), st.st_size))
    return candidates


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as listing:
            return sorted(listing, key=lambda entry: entry.name)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CacheError(f"cannot read {folder}: {exc.strerror}; check its permissions") from exc


@dataclass(frozen=True)
class TempFile:
    path: Path
    size: int


def stale_temps(
    cache: Cache, cutoff: float | None = None, unexpected: list[Path] | None = None
) -> list[TempFile]:
    """gitrack's temp files in ``tmp/`` (``incoming-*``) unwritten since ``cutoff``
    (default: TEMP_MIN_AGE_S ago): their writers died (kill -9), so they may go.

    Anything else there (gc's quarantine aside) is not gitrack's: it is left alone, and
    listed in ``unexpected``. `gitrack gc` and `gitrack fsck --repair` both ask this.
    """
    if cutoff is None:
        cutoff = time.time() - TEMP_MIN_AGE_S
    stale: list[TempFile] = []
    for entry in _entries(cache.root / "tmp"):
        if entry.name == QUARANTINE and entry.is_dir(follow_symlinks=False):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # renamed into place by its writer
        if not (entry.name.startswith(TEMP_PREFIX) and stat.S_ISREG(st.st_mode)):
            if unexpected is not None:
                unexpected.append(Path(entry.path))
            continue
        if st.st_mtime < cutoff:
            stale.append(TempFile(Path(entry.path), st.st_size))
    return stale


def _remove_temps(cache: Cache, cutoff: float, report: GcReport, dry_run: bool) -> None:
    """Temp files unwritten since ``cutoff`` belong to writers that died (kill -9)."""
    for temp in stale_temps(cache, cutoff, report.unexpected):
        report.temps.append(temp.path)
        report.temp_bytes += temp.size
        if not dry_run:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp.path)


def _quarantine(
    cache: Cache, candidates: list[_Candidate], cutoff: float, report: GcReport
) -> dict[str, tuple[Path, int]]:
    """Move the candidates out of the object store: from now on a writer looking for one
    finds nothing and writes a new copy, which this gc never touches."""
    if not candidates:
        return {}
    folder = _quarantine_folder(cache)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"cannot write to the cache at {cache.root}: {exc.strerror}") from exc
    held: dict[str, tuple[Path, int]] = {}
    for candidate in candidates:
        target = folder / hashing.hex_of(candidate.hash)
        try:
            os.rename(candidate.path, target)
        except FileNotFoundError:
            continue
        st = os.lstat(target)
        if st.st_mtime >= cutoff:  # freshened since the scan: a writer is using it
            _put_back(cache, candidate.hash, target)
            report.young += 1
            continue
        held[candidate.hash] = (target, st.st_size)
    return held


def _release_needed(
    cache: Cache,
    held: dict[str, tuple[Path, int]],
    run_references: RunReferences,
    grace_s: float,
    report: GcReport,
) -> None:
    """Read the markers and notes again: whatever a run announced meanwhile goes back."""
    if not held:
        return
    wanted, warnings = _wanted(cache, run_references, grace_s)
    named = {hashing.object_name(h) for h in wanted if hashing.is_valid(h)}
    # Manifests first, so the files they list can be read from them.
    _put_back_all(cache, held, named, report)
    keep, manifest_warnings = referenced_objects(cache, wanted)
    _put_back_all(cache, held, keep, report)
    report.warnings += [*warnings, *manifest_warnings]


def _put_back_all(
    cache: Cache, held: dict[str, tuple[Path, int]], needed: set[str], report: GcReport
) -> None:
    for digest in [h for h in held if h in needed]:
        path, _size = held.pop(digest)
        _put_back(cache, digest, path)
        report.kept += 1


def _put_back(cache: Cache, digest: str, path: Path) -> None:
    """Move a quarantined object back, unless a writer stored a whole copy meanwhile (the
    same bytes), or it is unfinished (counted as missing: put back over a writer's new
    copy, it would undo that copy)."""
    final = cache.path_for(digest)
    if is_complete(os.fspath(final)) or not is_complete(os.fspath(path)):
        path.unlink(missing_ok=True)
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, final)


def _delete(cache: Cache, held: dict[str, tuple[Path, int]], report: GcReport) -> None:
    for path, size in held.values():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        report.removed += 1
        report.freed_bytes += size
    with contextlib.suppress(OSError):
        _quarantine_folder(cache).rmdir()


def _recover_quarantine(cache: Cache) -> None:
    """A gc that died mid-sweep left its quarantine: everything goes back, to be judged
    again (some of it may have been needed by a run that started meanwhile)."""
    folder = _quarantine_folder(cache)
    for entry in _entries(folder):
        if _REST.fullmatch(entry.name[2:]) and _SHARD.fullmatch(entry.name[:2]):
            _put_back(cache, hashing.PREFIX + entry.name, Path(entry.path))
    with contextlib.suppress(OSError):
        folder.rmdir()  # only if empty: anything else in it is not ours, and stays


def _quarantine_folder(cache: Cache) -> Path:
    return cache.root / "tmp" / QUARANTINE


@contextlib.contextmanager
def _one_gc_at_a_time(cache: Cache) -> Iterator[None]:
    try:
        handle = open(cache.root / "gc.lock", "a")  # noqa: SIM115 - held for the whole gc
    except OSError as exc:
        raise CacheError(f"cannot write to the cache at {cache.root}: {exc.strerror}") from exc
    with handle:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GitrackError(
                        f"another `gitrack gc` is running on the cache at {cache.root}; "
                        "wait for it to finish"
                    ) from None
                time.sleep(0.01)
        yield


def _unexpected_warning(cache: Cache, paths: list[Path]) -> str:
    shown = sorted(str(p) for p in paths)
    more = " …" if len(shown) > SHOWN else ""
    count = "1 entry" if len(shown) == 1 else f"{len(shown)} entries"
    verb = "is" if len(shown) == 1 else "are"
    return (
        f"left alone {count} in the cache at {cache.root} that {verb} not gitrack's: "
        f"{', '.join(shown[:SHOWN])}{more} (remove them by hand if they are yours to remove)"
    )
