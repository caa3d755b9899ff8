"""`gitrack gc`: the grace period, leftovers of crashed writers, what it never touches.

The races themselves (gc looping while runs and a pull work) are in test_gc_race.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git, gitrack, gitrack_cmd
from data_helpers import (
    cache_objects,
    default_cache,
    make_data_repo,
    object_path,
    record_data,
    write_files,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from gitrack.data import gc, hashing
from gitrack.data.odb import Cache

DAY = 24 * 3600


@pytest.fixture
def drepo(tmp_path: Path) -> Path:
    repo = make_data_repo(tmp_path / "repo")
    write_files(repo, {"data/train.csv": "a\n1\n"})
    return repo


def _gc(repo: Path, *args: str) -> tuple[str, str]:
    res = gitrack("gc", *args, cwd=repo)
    assert res.code == 0, res.err
    return res.out.strip(), res.err


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def _object(repo: Path, data: bytes, age: float = 0) -> str:
    """An object no run references, last written ``age`` seconds ago."""
    digest = Cache(default_cache(repo)).add_bytes(data, hashing.hash_bytes(data))
    if age:
        _age(object_path(default_cache(repo), digest), age)
    return digest


def _temp(repo: Path, name: str, size: int, age: float) -> Path:
    """What a writer killed with -9 while caching leaves: a partial tmp/incoming-* file."""
    path = default_cache(repo) / "tmp" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    _age(path, age)
    return path


# ------------------------------------------------------------------ grace period
def test_unreferenced_objects_younger_than_the_grace_period_are_kept(drepo: Path) -> None:
    young = _object(drepo, b"written an hour ago", age=3600)
    old = _object(drepo, b"written 15 days ago", age=15 * DAY)
    out, _ = _gc(drepo)
    assert out.splitlines()[0] == "removed 1 object(s), 19 B; kept 0 referenced object(s)"
    assert "kept 1 unreferenced object(s) younger than the grace period (2 weeks)" in out
    assert cache_objects(default_cache(drepo)) == {young}
    assert old not in cache_objects(default_cache(drepo))

    out, _ = _gc(drepo, "--grace", "30m")
    assert out.startswith("removed 1 object(s), 19 B;")
    assert cache_objects(default_cache(drepo)) == set()


def test_gc_now_ignores_the_age_but_never_a_running_runs_marker(drepo: Path) -> None:
    fresh = _object(drepo, b"just written")
    running = _object(drepo, b"a run still going")
    marker = default_cache(drepo) / "pending" / "0123456789abcdef.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f'["{running}"]')
    out, _ = _gc(drepo, "--now")
    assert out.startswith("removed 1 object(s), 12 B;")
    assert cache_objects(default_cache(drepo)) == {running}
    assert fresh not in cache_objects(default_cache(drepo))


@pytest.mark.parametrize("grace", ["soon", "-3d", "3 fortnights", ""])
def test_a_grace_that_is_not_a_duration_is_refused(drepo: Path, grace: str) -> None:
    kept = _object(drepo, b"x", age=30 * DAY)
    res = gitrack("gc", "--grace", grace, cwd=drepo)
    assert res.code == 1
    assert res.err_lines == [
        f"Error: --grace {grace!r} is not a duration; write e.g. '2 weeks', '3d', '12h', "
        "'30m' or 'now'"
    ]
    assert cache_objects(default_cache(drepo)) == {kept}


def test_now_and_grace_together_are_refused(drepo: Path) -> None:
    res = gitrack("gc", "--now", "--grace", "3d", cwd=drepo)
    assert (res.code, res.err_lines) == (
        1,
        ["Error: --now and --grace say the same thing twice; give one of them"],
    )


def test_reusing_a_cached_object_freshens_it(tmp_path: Path) -> None:
    """A writer that finds its object already there touches it, as git freshens objects:
    gc then treats it as just written (kept for the grace period)."""
    cache = Cache(tmp_path / "cache")
    source = tmp_path / "source.bin"
    source.write_bytes(b"reused")
    digest = cache.add_file(source)
    for add in (
        lambda: cache.add_file(source, digest),
        lambda: cache.add_bytes(b"reused", digest),
    ):
        _age(cache.path_for(digest), 30 * DAY)
        add()
        assert time.time() - cache.path_for(digest).stat().st_mtime < 60


def test_a_dataset_the_api_logged_first_stays_protected(drepo: Path) -> None:
    """The Python API's pending marker held only the dataset logged last: a gc while the
    run went on deleted the first one's objects (here: reused from an old object, so the
    grace period does not protect it), and the run was recorded unrestorable."""
    first = b"dataset logged first\n"
    old = _object(drepo, first, age=30 * DAY)
    write_files(drepo, {"data/first.csv": first, "data/second.csv": "second\n"})
    script = drepo / "train_api.py"
    script.write_text(
        "import subprocess, sys\n"
        "import gitrack\n"
        "gitrack.log_dataset('data/first.csv')\n"
        "gitrack.log_dataset('data/second.csv')\n"
        "subprocess.run([sys.executable, '-m', 'gitrack', 'gc'], check=True)\n"
    )
    git("add", "train_api.py", cwd=drepo)
    git("commit", "-q", "-m", "train with the API", cwd=drepo)
    run_id = record_data(drepo, command=(sys.executable, str(script)))
    assert old in cache_objects(default_cache(drepo))
    (drepo / "data/first.csv").unlink()
    res = gitrack("checkout", run_id, cwd=drepo)
    assert res.code == 0, res.err
    assert (drepo / "data/first.csv").read_bytes() == first


# ---------------------------------------------------------------- leftovers
def test_gc_reclaims_temp_files_of_crashed_writers(drepo: Path) -> None:
    """A writer killed with -9 while caching left its tmp/incoming-* file forever (457 MB
    after 12 kills). gc removes those older than the grace period; a younger one may
    belong to a writer still at work and stays."""
    crashed = _temp(drepo, "incoming-k1ll3d", 3 * 1024 * 1024, 15 * DAY)
    live = _temp(drepo, "incoming-l1v3", 100, 60)
    out, _ = _gc(drepo)
    assert "removed 1 temp file(s) of crashed writers, 3.0 MiB" in out
    assert not crashed.exists()
    assert live.exists()
    out, _ = _gc(drepo, "--now")  # no grace for objects; a temp file gets an hour at least
    assert live.exists()
    _age(live, 2 * 3600)
    _gc(drepo, "--now")
    assert not live.exists()


def test_gc_leaves_what_is_not_a_cache_object_alone_and_says_so(drepo: Path) -> None:
    """Only well-formed names (xxh128/<2 hex>/<30 hex>, regular files) are objects; gc
    deleted any file in a shard folder before."""
    cache = default_cache(drepo)
    junk = _object(drepo, b"junk", age=30 * DAY)
    hexpart = hashing.hex_of(junk)
    strangers = [
        cache / "xxh128" / hexpart[:2] / "notes.txt",
        cache / "xxh128" / hexpart[:2] / hexpart[2:].upper(),
        cache / "xxh128" / hexpart[:2] / (hexpart[2:] + ".bak"),
        cache / "xxh128" / "zz" / hexpart[2:],
        cache / "xxh128" / "README",
        cache / "tmp" / "someone-elses-file",
    ]
    for path in strangers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine\n")
        _age(path, 30 * DAY)
    link = cache / "xxh128" / hexpart[:2] / ("0" * 30)
    link.symlink_to(drepo / "train.py")
    out, err = _gc(drepo)
    assert out.startswith("removed 1 object(s), 4 B;")
    assert not object_path(cache, junk).exists()
    for path in [*strangers, link]:
        assert os.path.lexists(path), path
    reported = sorted(str(p) for p in [*strangers, link] if p.parent.name != "zz")
    reported = sorted([*reported, str(cache / "xxh128" / "zz")])  # a folder: as a whole
    warning = [line for line in err.splitlines() if "not gitrack's" in line]
    assert warning == [
        f"gitrack: warning: left alone 7 entries in the cache at {cache} that are not "
        f"gitrack's: {', '.join(reported[:5])} … (remove them by hand if they are yours "
        "to remove)"
    ], err


def test_a_gc_killed_mid_sweep_loses_nothing(drepo: Path) -> None:
    """gc moves what it is about to delete into tmp/gc-quarantine/ first; if it dies there,
    the next gc puts everything back before it decides anything."""
    run_id = record_data(drepo, "-d", "data/train.csv")
    (digest,) = cache_objects(default_cache(drepo))
    quarantine = default_cache(drepo) / "tmp" / "gc-quarantine"
    quarantine.mkdir(parents=True)
    object_path(default_cache(drepo), digest).rename(quarantine / hashing.hex_of(digest))
    out, _ = _gc(drepo, "--now")
    assert out == "removed 0 object(s), 0 B; kept 1 referenced object(s)"
    assert not quarantine.exists()
    (drepo / "data/train.csv").unlink()
    res = gitrack("checkout", run_id, cwd=drepo)
    assert res.code == 0, res.err


def test_one_gc_at_a_time(drepo: Path) -> None:
    junk = _object(drepo, b"junk", age=30 * DAY)
    lock = default_cache(drepo) / "gc.lock"
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        res = gitrack("gc", cwd=drepo)
    assert res.code == 1
    assert res.err_lines == [
        f"Error: another `gitrack gc` is running on the cache at {default_cache(drepo)}; "
        "wait for it to finish"
    ]
    assert junk in cache_objects(default_cache(drepo))


# ------------------------------------------------------------------- dry run
def test_dry_run_reports_objects_and_temp_files_and_removes_nothing(drepo: Path) -> None:
    record_data(drepo, "-d", "data/train.csv")
    _object(drepo, b"old junk", age=30 * DAY)
    _object(drepo, b"new junk")
    temp = _temp(drepo, "incoming-abc", 2048, 15 * DAY)
    before = cache_objects(default_cache(drepo))
    out, _ = _gc(drepo, "--dry-run")
    assert out.splitlines() == [
        "would remove 1 object(s), 8 B; kept 1 referenced object(s)",
        "kept 1 unreferenced object(s) younger than the grace period (2 weeks); "
        "gitrack gc --now removes them",
        "would remove 1 temp file(s) of crashed writers, 2.0 KiB:",
        f"  {temp}",
    ]
    assert cache_objects(default_cache(drepo)) == before
    assert temp.exists()


def test_a_run_killed_while_caching_leaves_a_temp_file_gc_reclaims(drepo: Path) -> None:
    """The reported case itself: `gitrack run` killed with -9 while it copies a dataset
    into the cache. Its partial tmp/incoming-* stays (nothing can clean up after -9);
    gc leaves it while it may still be a live writer's, and reclaims it once old."""
    staging = default_cache(drepo) / "tmp"
    size = 48 * 1024 * 1024
    leftovers: list[Path] = []
    for _attempt in range(20):  # the copy takes a few milliseconds: catch it in the act
        write_files(drepo, {"data/big.bin": os.urandom(1024) * (size // 1024)})
        proc = subprocess.Popen(
            gitrack_cmd("run", "-d", "data/big.bin", "--", "true"),
            cwd=drepo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while proc.poll() is None and not leftovers:
            leftovers = [p for p in _temps(staging) if _size_of(p) > 0]
        proc.kill()
        proc.wait()
        leftovers = [p for p in _temps(staging) if p.exists()]
        if leftovers:
            break
    assert leftovers, "the run was never caught copying"
    out, _ = _gc(drepo)
    assert "temp file" not in out  # young: maybe a writer still at work
    assert all(p.exists() for p in leftovers)
    for path in leftovers:
        _age(path, 15 * DAY)
    out, _ = _gc(drepo)
    assert f"removed {len(leftovers)} temp file(s) of crashed writers" in out
    assert _temps(staging) == []


def _temps(staging: Path) -> list[Path]:
    return sorted(staging.glob("incoming-*")) if staging.is_dir() else []


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@settings(max_examples=50, deadline=None)
@given(
    first=st.lists(st.text(alphabet='ab"\\é\n', max_size=4), max_size=50),
    second=st.lists(st.text(alphabet="abc", max_size=3), max_size=20),
)
def test_a_marker_is_the_json_of_its_sorted_hashes(
    tmp_path_factory: pytest.TempPathFactory, first: list[str], second: list[str]
) -> None:
    """Written a slice at a time, repeats dropped: the bytes ``json.dumps`` of the sorted set
    gives, a second announcement added to the first."""
    cache = Cache(tmp_path_factory.mktemp("cache"))
    marker = gc.mark_pending(cache, "run", first)
    assert marker.read_text() == json.dumps(sorted(set(first)))
    gc.mark_pending(cache, "run", second)
    assert marker.read_text() == json.dumps(sorted(set(first) | set(second)))


def test_a_marker_of_many_hashes_repeated_across_its_slices(tmp_path: Path) -> None:
    hashes = [f"xxh128:{index // 3:032x}" for index in range(13_000)]  # 3 of each
    marker = gc.mark_pending(Cache(tmp_path / "cache"), "run", reversed(hashes))
    assert marker.read_text() == json.dumps(sorted(set(hashes)))
