"""`gitrack status` (do the datasets match the newest run on HEAD?) and `gitrack gc`
(remove cache objects no run references; never those of a run still in progress)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import git, gitrack, gitrack_cmd
from data_helpers import (
    cache_objects,
    default_cache,
    forge_run,
    make_data_repo,
    object_path,
    record_data,
    reference_file_hash,
    show,
    write_files,
)

from gitrack.commands import gc
from gitrack.commands.context import Context
from gitrack.data import hashing
from gitrack.data.odb import Cache


@pytest.fixture
def drepo(tmp_path: Path) -> Path:
    repo = make_data_repo(
        tmp_path / "repo", {"gitrack.toml": 'data = ["data/train.csv", "data/images"]\n'}
    )
    write_files(
        repo,
        {"data/train.csv": "a\n1\n", "data/images/x.png": b"x", "data/images/y/z.png": b"z"},
    )
    return repo


def _status(repo: Path) -> list[str]:
    res = gitrack("status", cwd=repo)
    assert res.code == 0, res.err
    return [line.strip() for line in res.out.splitlines()]


# ------------------------------------------------------------------------- status
def test_status_without_a_run(drepo: Path) -> None:
    assert _status(drepo) == [
        "no run on HEAD yet",
        "not in run  data/train.csv",
        "not in run  data/images",
    ]


def test_status_unchanged_changed_missing(drepo: Path) -> None:
    run_id = record_data(drepo)
    assert _status(drepo) == [
        f"newest run on HEAD: {run_id}",
        "unchanged  data/train.csv",
        "unchanged  data/images",
    ]
    (drepo / "data/images/y/z.png").write_bytes(b"Z")
    (drepo / "data/train.csv").unlink()
    assert _status(drepo)[1:] == ["missing  data/train.csv", "changed  data/images"]


def test_status_sees_an_exec_bit_and_an_empty_folder(drepo: Path) -> None:
    record_data(drepo)
    (drepo / "data/images/x.png").chmod(0o755)
    assert _status(drepo)[2] == "changed  data/images"
    (drepo / "data/images/x.png").chmod(0o644)
    assert _status(drepo)[2] == "unchanged  data/images"
    (drepo / "data/images/new-empty").mkdir()
    assert _status(drepo)[2] == "changed  data/images"


def test_status_lists_datasets_recorded_but_not_configured(drepo: Path) -> None:
    write_files(drepo, {"data/extra.bin": b"e"})
    record_data(drepo, "-d", "data/extra.bin")
    assert "unchanged  data/extra.bin" in _status(drepo)


def test_status_uses_the_newest_run_on_head(drepo: Path) -> None:
    record_data(drepo)
    (drepo / "data/train.csv").write_text("a\n2\n")
    newest = record_data(drepo)
    assert _status(drepo)[:2] == [f"newest run on HEAD: {newest}", "unchanged  data/train.csv"]


def test_status_does_not_read_paths_from_notes_outside_the_repository(
    drepo: Path, tmp_path: Path
) -> None:
    """Before 2cf6816 `gitrack status` hashed every dataset path of the newest run's note
    unvalidated: a forged '../secret.txt' or '/etc/...' was read, and 'unchanged' revealed
    whether it matched a guessed hash."""
    (tmp_path / "secret.txt").write_text("hunter2\n")
    record_data(drepo)
    guess = reference_file_hash(b"hunter2\n")
    forge_run(
        drepo, lambda d: d.update(datasets={"../secret.txt": guess, str(tmp_path / "s"): guess})
    )
    res = gitrack("status", cwd=drepo)
    assert "unchanged  ../secret.txt" not in res.out
    assert "../secret.txt" in res.out + res.err  # reported as refused, not silently dropped


def test_status_of_a_symlinked_dataset(drepo: Path, tmp_path: Path) -> None:
    """Regression: (regression of 2cf6816): status now runs safe_target on every path, which
    refuses a final symlink out of the repository, so a legitimately symlinked dataset
    (data/linked -> /mnt/big, recorded with its link noted) shows 'refused' instead of
    unchanged/changed. checkout accepts it (safe_target(..., final_link_ok=True)); status
    only reads, so it can pass final_link_ok=True as well."""
    outside = tmp_path / "big-disk"
    write_files(outside, {"shard": b"s"})
    os.symlink(outside, drepo / "data/linked")
    run_id = record_data(drepo, "-d", "data/linked")
    assert _status(drepo) == [
        f"newest run on HEAD: {run_id}",
        "unchanged  data/train.csv",
        "unchanged  data/images",
        "unchanged  data/linked",
    ]
    (outside / "shard").write_bytes(b"t")
    assert _status(drepo)[3] == "changed  data/linked"


# ----------------------------------------------------------------------------- gc
def _gc(repo: Path, *args: str) -> str:
    res = gitrack("gc", *args, cwd=repo)
    assert res.code == 0, res.err
    return res.out.strip()


def _unreferenced(repo: Path, data: bytes) -> str:
    """An object no run references, written a month ago (past gc's grace period)."""
    digest = Cache(default_cache(repo)).add_bytes(data, hashing.hash_bytes(data))
    _age(object_path(default_cache(repo), digest), 30 * 24 * 3600)
    return digest


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_gc_with_nothing_to_do(drepo: Path) -> None:
    assert _gc(drepo) == "removed 0 object(s), 0 B; kept 0 referenced object(s)"


def test_gc_dry_run_reports_and_keeps_then_gc_removes(drepo: Path) -> None:
    run_id = record_data(drepo, "-o", "data/train.csv", command=("touch", "data/train.csv"))
    referenced = cache_objects(default_cache(drepo))
    assert len(referenced) == 4  # train.csv (also the output), the manifest, two images
    junk = [_unreferenced(drepo, b"1" * 1000), _unreferenced(drepo, b"22")]
    assert _gc(drepo, "--dry-run") == (
        "would remove 2 object(s), 1002 B; kept 4 referenced object(s)"
    )
    assert set(junk) <= cache_objects(default_cache(drepo))
    assert _gc(drepo) == "removed 2 object(s), 1002 B; kept 4 referenced object(s)"
    assert cache_objects(default_cache(drepo)) == referenced
    # Everything the run needs survived: a full restore still works.
    (drepo / "data/images/x.png").unlink()
    (drepo / "data/train.csv").write_text("other\n")
    res = gitrack("checkout", run_id, cwd=drepo)
    assert res.code == 0, res.err


def test_gc_reports_sizes_in_binary_units(drepo: Path) -> None:
    _unreferenced(drepo, b"\0" * (3 * 1024 * 1024 + 512 * 1024))
    assert _gc(drepo, "--dry-run").startswith("would remove 1 object(s), 3.5 MiB;")


def test_gc_keeps_what_a_restore_preserved_for_thirty_days(drepo: Path) -> None:
    """Files a checkout replaced stay in the cache, listed under preserved/, and gc keeps
    them until the list is 30 days old: nothing a checkout touched is lost right away."""
    run_id = record_data(drepo)
    (drepo / "data/train.csv").write_text("my precious edit\n")
    res = gitrack("checkout", run_id, cwd=drepo)
    assert res.code == 0, res.err
    assert "data/train.csv" in res.err and "preserved" in res.err
    precious = reference_file_hash(b"my precious edit\n")
    assert precious in cache_objects(default_cache(drepo))
    assert _gc(drepo).startswith("removed 0 object(s)")
    assert precious in cache_objects(default_cache(drepo))

    for listing in (default_cache(drepo) / "preserved").glob("*.json"):
        _age(listing, 31 * 24 * 3600)
    assert _gc(drepo).startswith("removed 0 object(s)")  # the copy itself is still young
    _age(object_path(default_cache(drepo), precious), 31 * 24 * 3600)
    assert _gc(drepo).startswith("removed 1 object(s), 17 B;")
    assert precious not in cache_objects(default_cache(drepo))


def test_gc_keeps_large_files_and_outputs(drepo: Path) -> None:
    (drepo / "gitrack.toml").write_text("max_untracked_size = 10\n")
    git("add", "-A", cwd=drepo)
    git("commit", "-q", "-m", "limit", cwd=drepo)
    (drepo / "big.txt").write_text("more than ten bytes\n")
    cmd = ("sh", "-c", "mkdir -p out/m && printf w > out/m/weights")
    run = show(drepo, record_data(drepo, "-o", "out/m", command=cmd))
    assert run["large_files"]
    before = cache_objects(default_cache(drepo))
    assert _gc(drepo).startswith("removed 0 object(s)")
    assert cache_objects(default_cache(drepo)) == before


def test_gc_keeps_objects_named_by_pending_markers(drepo: Path) -> None:
    kept = _unreferenced(drepo, b"in progress")
    stale = _unreferenced(drepo, b"crashed long ago")
    pending = default_cache(drepo) / "pending"
    pending.mkdir(parents=True, exist_ok=True)
    (pending / "aaaa.json").write_text(json.dumps([kept]))
    (pending / "bbbb.json").write_text(json.dumps([stale]))
    old = time.time() - 15 * 24 * 3600
    os.utime(pending / "bbbb.json", (old, old))
    (pending / "garbage.json").write_text("{not json")
    assert _gc(drepo).startswith("removed 1 object(s)")
    assert kept in cache_objects(default_cache(drepo))
    assert stale not in cache_objects(default_cache(drepo))


def test_gc_during_a_run_keeps_its_objects(drepo: Path, tmp_path: Path) -> None:
    """A real `gitrack run` blocked in its command while `gitrack gc` runs."""
    write_files(drepo, {"data/images/new.png": os.urandom(2000)})
    go = tmp_path / "go"
    started = tmp_path / "started"
    script = f"touch {started}; while [ ! -e {go} ]; do sleep 0.02; done"
    proc = subprocess.Popen(
        gitrack_cmd("run", "--", "sh", "-c", script),
        cwd=drepo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        objects = cache_objects(default_cache(drepo))
        assert len(objects) == 5  # train.csv, manifest, three images
        assert list((default_cache(drepo) / "pending").iterdir())
        report = _gc(drepo)
        assert report.startswith("removed 0 object(s)"), report
        assert cache_objects(default_cache(drepo)) == objects
    finally:
        go.touch()
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert list((default_cache(drepo) / "pending").iterdir()) == []  # the note now protects
    assert _gc(drepo).startswith("removed 0 object(s), 0 B; kept 5")


def test_gc_between_caching_files_and_writing_the_manifest(
    drepo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data loss before 2cf6816: the pending marker named a folder only by its manifest
    hash, and the manifest is written *after* the folder's files; a `gitrack gc` in that
    window deleted the file objects the run had just cached, and the run was recorded
    unrestorable. (Deterministic here: gc runs at the instant the manifest is stored, with
    no grace period: the pending marker alone must protect the files.)"""
    write_files(drepo, {"data/images/fresh.png": os.urandom(100)})
    real_add_temp = Cache.add_temp  # a dataset folder's manifest, written as it grew
    reports: list[gc.GcReport] = []

    def add_temp_after_a_concurrent_gc(self: Cache, temp: str, digest: str) -> None:
        reports.append(gc.collect_garbage(Context.open(drepo), grace_s=0))
        real_add_temp(self, temp, digest)

    monkeypatch.setattr(Cache, "add_temp", add_temp_after_a_concurrent_gc)
    run_id = record_data(drepo)
    monkeypatch.setattr(Cache, "add_temp", real_add_temp)
    assert reports, "the folder's manifest was never stored"
    (drepo / "data/images/x.png").unlink()
    res = gitrack("checkout", run_id, cwd=drepo)
    assert res.code == 0, f"gc meanwhile: {reports}\ncheckout: {res.err}"


def test_gc_survives_a_forged_manifest(drepo: Path) -> None:
    """A manifest holding an unsafe path ('../x') raised UnsafePathError through
    referenced_objects: one bad note from a teammate's clone stopped `gitrack gc` entirely
    (fixed in 2cf6816)."""
    record_data(drepo)
    entry = {"path": "../evil", "size": 1, "exec": False, "hash": "xxh128:" + "0" * 32}
    manifest = json.dumps(
        {"v": 1, "files": [entry], "dirs": []}, sort_keys=True, separators=(",", ":")
    ).encode()
    digest = Cache(default_cache(drepo)).add_bytes(
        manifest, hashing.hash_bytes(manifest) + hashing.DIR_SUFFIX
    )
    forge_run(drepo, lambda d: d.update(datasets={"data/images": digest}))
    junk = _unreferenced(drepo, b"junk")
    res = gitrack("gc", cwd=drepo)
    assert res.code == 0, res.err
    assert junk not in cache_objects(default_cache(drepo))


def test_gc_ignores_invalid_hashes_in_notes(drepo: Path) -> None:
    record_data(drepo)
    forge_run(drepo, lambda d: d.update(datasets={"data/x": "md5:abc", "data/y": "xxh128:zz"}))
    junk = _unreferenced(drepo, b"junk")
    assert _gc(drepo).startswith("removed 1 object(s)")
    assert junk not in cache_objects(default_cache(drepo))


def test_gc_keeps_shard_folders_and_the_layout(drepo: Path) -> None:
    """gc once removed a shard folder it had emptied: a writer between its mkdir of that
    folder and its rename into it then failed ("cannot write to the cache")."""
    record_data(drepo)
    cache = default_cache(drepo)
    referenced = cache_objects(cache)
    junk = _unreferenced(drepo, b"only object in its shard")
    shard = object_path(cache, junk).parent
    assert list(shard.iterdir()) == [object_path(cache, junk)]  # alone in its shard
    assert _gc(drepo).startswith("removed 1 object(s)")
    assert not object_path(cache, junk).exists()
    assert shard.is_dir()  # emptied, and kept
    assert cache_objects(cache) == referenced  # the others stay
