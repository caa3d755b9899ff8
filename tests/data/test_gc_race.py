"""`gitrack gc` racing real work: runs caching new datasets and outputs, and a pull
downloading from the team's cache, all while gc loops. Nothing a completed run references
may be removed, whatever the interleaving (the brief's invariant 8)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, gitrack, gitrack_cmd, record
from data_helpers import default_cache, make_data_repo, object_path, record_data, write_files
from remote_helpers import clone, make_origin, write

from gitrack.commands.context import Context
from gitrack.commands.gc import collect_garbage
from gitrack.data import hashing
from gitrack.data.odb import Cache
from gitrack.tracking.history import Runs

CONFIG = '[remote]\nurl = "../team-cache"\n'
STREAMS = 4  # `gitrack run`s in flight at once
RUNS_PER_STREAM = 5
PULLED_RUNS = 3


def _aged_object(repo: Path, data: bytes, days: float = 30) -> str:
    """An object no run references, written long ago (a crashed run's, a deleted one's);
    it appears already old, as a gc looping meanwhile may look at it at once."""
    digest = hashing.hash_bytes(data)
    final = object_path(default_cache(repo), digest)
    temp = repo.parent / f"aged-{os.urandom(6).hex()}"  # not in tmp/: gc would reclaim it
    final.parent.mkdir(parents=True, exist_ok=True)
    temp.write_bytes(data)
    then = time.time() - days * 24 * 3600
    os.utime(temp, (then, then))
    os.replace(temp, final)
    return digest


def _team(tmp_path: Path) -> tuple[Path, list[str]]:
    """Our clone, and the runs a teammate pushed (their data in the shared folder cache)."""
    origin = make_origin(tmp_path, {"train.py": "x\n", ".gitignore": "data/\nout/\n"})
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    for repo in (a, b):
        write(repo / "gitrack.toml", CONFIG)
        write(repo / ".git" / "info" / "exclude", "gitrack.toml\n")
    pushed = []
    for i in range(PULLED_RUNS):
        write_files(a, {f"data/t{i}/{j}.bin": os.urandom(3000) for j in range(4)})
        pushed.append(record("true", cwd=a, options=("-d", f"data/t{i}")))
    res = gitrack("push", cwd=a)
    assert res.code == 0, res.err
    return b, pushed


def _run_stream(repo: Path, stream: int) -> list[Result]:
    """Runs one after another, each with a dataset and an output never seen before, except
    for one file of the dataset that is already in the cache, old and unreferenced (as a
    crashed run leaves it): the run reuses it, and gc may be deleting it right then."""
    results = []
    for n in range(RUNS_PER_STREAM):
        name = f"s{stream}r{n}"
        write_files(repo, {f"data/{name}/{j}.bin": os.urandom(2000) for j in range(3)})
        _aged_object(repo, (repo / f"data/{name}/0.bin").read_bytes())
        script = f"mkdir -p out/{name} && head -c 3000 /dev/urandom > out/{name}/model.bin"
        argv = gitrack_cmd("run", "-d", f"data/{name}", "-o", f"out/{name}", "--", "sh", "-c")
        proc = subprocess.run(
            [*argv, script], cwd=repo, capture_output=True, text=True, timeout=120, check=False
        )
        results.append(Result(proc.returncode, proc.stdout, proc.stderr))
    return results


def _gc_loop(repo: Path, stop: threading.Event, counts: list[int]) -> None:
    while not stop.is_set():
        report = collect_garbage(Context.open(repo))
        counts[0] += 1
        counts[1] += report.removed


def _missing_objects(repo: Path, run: dict[str, object]) -> list[str]:
    """What a checkout of the run would lack: its objects, and every file of its folders."""
    cache = default_cache(repo)
    hashes = [
        h
        for key in ("datasets", "outputs", "large_files")
        for h in dict(run.get(key) or {}).values()  # type: ignore[call-overload]
    ]
    missing = []
    for digest in hashes:
        path = object_path(cache, digest)
        if not path.is_file():
            missing.append(digest)
        elif digest.endswith(".dir"):
            files = json.loads(path.read_bytes())["files"]
            missing += [f["hash"] for f in files if not object_path(cache, f["hash"]).is_file()]
    return missing


def test_gc_looping_during_runs_and_a_pull_removes_nothing_they_reference(
    tmp_path: Path,
) -> None:
    """Before the fix, gc read the pending markers and the notes, then scanned the cache: a
    run that wrote its marker in between (or added its outputs to it) had its new objects
    deleted, and so had a pull that merged notes and downloaded in between; up to half the
    runs were recorded unrestorable ("object … is not in the cache"). New objects are
    young (the grace period protects them); the old ones the runs reuse are protected only
    by the markers and notes gc reads again after it moved its candidates away."""
    b, pulled_ids = _team(tmp_path)
    stop = threading.Event()
    counts = [0, 0]  # gc passes, objects removed
    collector = threading.Thread(target=_gc_loop, args=(b, stop, counts))
    collector.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(STREAMS + 1) as pool:
            streams = [pool.submit(_run_stream, b, s) for s in range(STREAMS)]
            time.sleep(1.0)  # the pull lands while runs are caching
            pulled = pool.submit(
                subprocess.run,
                gitrack_cmd("pull", "--data"),  # its downloads race gc
                cwd=b,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            results = [r for s in streams for r in s.result()]
            pull = pulled.result()
    finally:
        stop.set()
        collector.join()
    elapsed = time.monotonic() - started
    assert pull.returncode == 0, pull.stderr
    # (a run of ours finishing during the pull may count as new too)
    assert "pulled from origin:" in pull.stdout and "object(s) fetched" in pull.stdout, pull
    assert all(r.code == 0 for r in results), [r.err for r in results if r.code]
    assert counts[0] >= 5, f"gc ran only {counts[0]} time(s) in {elapsed:.1f}s: no race"

    res = gitrack("ls", "--json", cwd=b)
    assert res.code == 0, res.err
    runs = res.json()
    assert len(runs) == STREAMS * RUNS_PER_STREAM + PULLED_RUNS
    lost = {run["id"]: m for run in runs if (m := _missing_objects(b, run))}
    assert not lost, (
        f"{len(lost)} of {len(runs)} runs lost objects to {counts[0]} gc passes "
        f"({counts[1]} objects removed) in {elapsed:.1f}s: {lost}"
    )
    print(
        f"{len(runs)} runs intact after {counts[0]} gc passes ({counts[1]} removed), {elapsed:.1f}s"
    )
    # End to end, for a run of ours and a pulled one: a checkout restores their data.
    ours = next(run["id"] for run in runs if run["id"] not in pulled_ids)
    by_id = {run["id"]: run for run in runs}
    for run_id in (ours, pulled_ids[-1]):
        res = gitrack("checkout", run_id, "--worktree", str(tmp_path / run_id), cwd=b)
        assert res.code == 0, res.err
        assert all((tmp_path / run_id / path).is_dir() for path in by_id[run_id]["datasets"])


# ------------------------------------------------------- exact interleavings, one at a time
def _after_gc_reads_the_notes(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Run ``action`` once, the instant gc has read the notes (before it sweeps)."""
    real = Context.load_runs
    done: list[bool] = []

    def load_runs_then_act(self: Context) -> Runs:
        runs = real(self)
        if not done:
            done.append(True)
            action()
        return runs

    monkeypatch.setattr(Context, "load_runs", load_runs_then_act)


def test_a_run_reusing_an_old_object_recorded_while_gc_sweeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run finds the object already cached (so writes nothing) and records its note
    after gc read the notes: before the fix gc then deleted the object."""
    repo = make_data_repo(tmp_path / "repo")
    content = os.urandom(500)
    old = _aged_object(repo, content)
    write_files(repo, {"data/reused.bin": content})
    recorded: list[str] = []
    _after_gc_reads_the_notes(
        monkeypatch, lambda: recorded.append(record_data(repo, "-d", "data/reused.bin"))
    )
    report = collect_garbage(Context.open(repo))
    monkeypatch.undo()
    assert recorded
    assert object_path(default_cache(repo), old).is_file(), report
    (repo / "data/reused.bin").unlink()
    res = gitrack("checkout", recorded[0], cwd=repo)
    assert res.code == 0, res.err
    assert (repo / "data/reused.bin").read_bytes() == content


def test_a_run_reusing_an_old_object_started_while_gc_sweeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run writes its pending marker after gc read the markers and the notes, finds its
    dataset already cached, and is still running when gc sweeps: before the fix gc deleted
    the object, and the run was recorded unrestorable."""
    repo = make_data_repo(tmp_path / "repo")
    content = os.urandom(500)
    old = _aged_object(repo, content)
    write_files(repo, {"data/reused.bin": content})
    started, go = tmp_path / "started", tmp_path / "go"
    script = f"touch {started}; while [ ! -e {go} ]; do sleep 0.02; done"
    procs: list[subprocess.Popen[str]] = []

    def start_a_run() -> None:
        argv = gitrack_cmd("run", "-d", "data/reused.bin", "--", "sh", "-c", script)
        procs.append(subprocess.Popen(argv, cwd=repo, stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + 60
        while not started.exists():  # its marker is written and its data cached by now
            assert procs[0].poll() is None and time.monotonic() < deadline
            time.sleep(0.02)

    _after_gc_reads_the_notes(monkeypatch, start_a_run)
    try:
        report = collect_garbage(Context.open(repo))
    finally:
        go.touch()
        _out, err = procs[0].communicate(timeout=60) if procs else ("", "")
    monkeypatch.undo()
    assert procs and procs[0].returncode == 0, err
    assert object_path(default_cache(repo), old).is_file(), report
    run_id = err.strip().splitlines()[-1].split()[3]
    (repo / "data/reused.bin").unlink()
    res = gitrack("checkout", run_id, cwd=repo)
    assert res.code == 0, res.err


def test_an_object_freshened_after_gc_looked_at_its_age_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer finds the old object and freshens it just after gc's scan read its mtime
    (a writer with no marker: a checkout keeping a copy). gc re-reads the mtime once the
    object is moved aside, and puts it back."""
    from gitrack.data import gc as cache_gc

    repo = make_data_repo(tmp_path / "repo")
    content = b"reused by a checkout"
    old = _aged_object(repo, content)
    real_scan = cache_gc._scan

    def scan_then_reuse(*args: Any) -> list[Any]:
        candidates = real_scan(*args)
        assert [c.hash for c in candidates] == [old]
        Cache(default_cache(repo)).add_bytes(content, old)  # finds it: freshens it
        return candidates

    monkeypatch.setattr(cache_gc, "_scan", scan_then_reuse)
    report = collect_garbage(Context.open(repo))
    assert (report.removed, report.young) == (0, 1)
    assert object_path(default_cache(repo), old).is_file()
