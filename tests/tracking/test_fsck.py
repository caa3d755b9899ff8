"""`gitrack fsck`: every kind of damage to gitrack's own state is found, named with its runs,
and what --repair fixes is really fixed (a second fsck passes).

Damage is done the way it happens: a loose object deleted or overwritten, a ref moved
back, a junk line from another tool, a temp file left by a killed write.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from api_helpers import api_run, reset_api
from conftest import Result, git, gitrack, make_repo, record, run_by_id
from remote_helpers import clone, make_origin, write

from gitrack.data.hashing import hash_file

PY = sys.executable
WRITE_OUT = "import pathlib; pathlib.Path('out.txt').write_text('model')"
DATA_FILES: dict[str, str | bytes] = {
    "train.py": "print('training')\n",
    ".gitignore": "data/\nout.txt\n",
}


def fsck(*args: str, cwd: Path) -> Result:
    return gitrack("fsck", *args, cwd=cwd)


def problem_lines(res: Result) -> list[str]:
    """The report's problem lines: everything but the summary and the repairs."""
    lines = [ln for ln in res.out.splitlines() if ln.strip()]
    return [ln for ln in lines[:-1] if not ln.startswith("repaired: ")]


def data_repo(path: Path) -> Path:
    """A repository whose (ignored) data folder holds two files."""
    repo = make_repo(path, dict(DATA_FILES))
    write(repo / "data" / "a.csv", "x,y\n1,2\n")
    write(repo / "data" / "sub" / "b.bin", os.urandom(5000))
    return repo


def data_run(repo: Path) -> str:
    """A run with a folder dataset and a file output."""
    return record(PY, "-c", WRITE_OUT, cwd=repo, options=("-d", "data", "-o", "out.txt"))


def cache_object(repo: Path, digest: str) -> Path:
    hexpart = digest.split(":", 1)[1].removesuffix(".dir")
    return repo / ".git" / "gitrack" / "cache" / "xxh128" / hexpart[:2] / hexpart[2:]


def loose_object(repo: Path, oid: str) -> Path:
    path = repo / ".git" / "objects" / oid[:2] / oid[2:]
    assert path.is_file(), f"{oid} is not a loose object"
    return path


def overwrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)  # cache objects are read-only
    path.write_bytes(data)


# ------------------------------------------------------------------- healthy
def test_a_repository_without_runs_passes(repo: Path) -> None:
    res = fsck(cwd=repo)

    assert res.code == 0, res.out
    assert res.out == "checked 0 run(s) and 0 cache object(s): no problems\n"


def test_a_healthy_repository_passes_every_check(tmp_path: Path) -> None:
    repo = data_repo(tmp_path / "repo")
    data_run(repo)
    reset_api()
    api_run(repo, steps={"loss": [0.5, 0.25]})  # a run with a step-metric blob
    git("commit", "-q", "--allow-empty", "-m", "next", cwd=repo)
    data_run(repo)  # the same data on another commit: objects shared

    res = fsck("--data", cwd=repo)

    assert res.code == 0, res.out
    # a.csv, b.bin, the manifest, out.txt: shared objects are counted once
    assert res.out == "checked 3 run(s) and 4 cache object(s): no problems\n"
    report = fsck("--json", cwd=repo).json()
    assert report["ok"] is True and report["problems"] == []


# ------------------------------------------------------------------ problems
def test_a_forged_note_line_is_named_by_commit_and_line(tmp_path: Path) -> None:
    repo = data_repo(tmp_path / "repo")
    data_run(repo)
    note = git("notes", "--ref=gitrack", "show", "HEAD", cwd=repo)
    forged = '{"started":"2026-01-01T00:00:00.000000Z","id":"zz"}'
    git("notes", "--ref=gitrack", "add", "-f", "-F", "-", "HEAD", cwd=repo, input=note + forged)
    commit = git("rev-parse", "HEAD", cwd=repo).strip()

    res = fsck(cwd=repo)

    assert res.code == 1
    [line] = problem_lines(res)
    assert line.startswith(f"commit {commit[:12]} line 2: not a gitrack run (")
    assert "invalid 'id'" in line
    assert res.out.splitlines()[-1].endswith(": 1 problem(s)")


def test_a_missing_snapshot_is_named_with_its_run(tmp_path: Path) -> None:
    repo = data_repo(tmp_path / "repo")
    run_id = data_run(repo)
    snapshot = run_by_id(repo, run_id)["snapshot"]
    loose_object(repo, snapshot).unlink()

    res = fsck(cwd=repo)

    assert res.code == 1
    assert problem_lines(res) == [
        f"run {run_id}: snapshot {snapshot[:12]} is missing from this repository; fetch "
        "gitrack's refs from a clone that has it (gitrack pull)"
    ]


def test_an_unpinned_snapshot_is_pinned_again_and_survives_gc(tmp_path: Path) -> None:
    repo = data_repo(tmp_path / "repo")
    kept = data_run(repo)
    pins_before = git("rev-parse", "refs/gitrack/pins", cwd=repo).strip()
    lost = data_run(repo)
    git("update-ref", "refs/gitrack/pins", pins_before, cwd=repo)  # its pin is gone
    snapshot = run_by_id(repo, lost)["snapshot"]

    found = fsck(cwd=repo)

    assert found.code == 1
    [line] = problem_lines(found)
    assert line.startswith(f"run {lost}: snapshot {snapshot[:12]} is not pinned")
    assert kept not in found.out

    repaired = fsck("--repair", cwd=repo)

    assert repaired.code == 0, repaired.out
    assert f"repaired: pinned snapshot {snapshot[:12]} of run {lost}" in repaired.out
    assert problem_lines(repaired) == []
    assert fsck(cwd=repo).code == 0
    git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    git("gc", "-q", "--prune=now", cwd=repo)
    git("cat-file", "-e", snapshot, cwd=repo)  # kept by the new pin
    pin = git("log", "-1", "--format=%P%n%s", "refs/gitrack/pins", cwd=repo).split("\n")
    assert pin[0].split() == [pins_before, snapshot] and pin[1] == f"gitrack: pin run {lost}"


def test_a_missing_cache_object_is_named_with_run_and_path(tmp_path: Path) -> None:
    repo = data_repo(tmp_path / "repo")
    run_id = data_run(repo)
    run = run_by_id(repo, run_id)
    output = run["outputs"]["out.txt"]
    cache_object(repo, output).unlink()

    res = fsck(cwd=repo)

    assert res.code == 1
    [line] = problem_lines(res)
    assert line.startswith(f"run {run_id}: output 'out.txt': cache object {output} is missing")
    assert "configure a [remote] cache" in line  # the fix, as none is configured


def test_a_missing_file_of_a_folder_dataset_is_named_by_its_path(tmp_path: Path) -> None:
    repo = data_repo(tmp_path / "repo")
    run_id = data_run(repo)
    cache_object(repo, hash_file(repo / "data" / "sub" / "b.bin")).unlink()

    res = fsck(cwd=repo)

    assert res.code == 1
    [line] = problem_lines(res)
    assert line.startswith(f"run {run_id}: dataset 'data' file 'sub/b.bin': cache object ")


def test_a_corrupt_cache_object_is_found_only_by_reading_it(tmp_path: Path) -> None:
    repo = data_repo(tmp_path / "repo")
    run_id = data_run(repo)
    output = run_by_id(repo, run_id)["outputs"]["out.txt"]
    overwrite(cache_object(repo, output), b"mode!")  # same size, other bytes

    assert fsck(cwd=repo).code == 0  # by default objects are only looked up
    res = fsck("--data", cwd=repo)

    assert res.code == 1
    [line] = problem_lines(res)
    assert line.startswith(f"run {run_id}: output 'out.txt': cache object ")
    assert "is corrupt (content xxh128:" in line and f"expected {output})" in line


def test_a_corrupt_manifest_is_found_without_data(tmp_path: Path) -> None:
    repo = data_repo(tmp_path / "repo")
    run_id = data_run(repo)
    manifest = run_by_id(repo, run_id)["datasets"]["data"]
    overwrite(cache_object(repo, manifest), b'{"files":[],"v":1}')

    res = fsck(cwd=repo)

    assert res.code == 1
    [line] = problem_lines(res)
    assert line.startswith(f"run {run_id}: dataset 'data': cache object ")
    assert "is corrupt" in line


def test_a_missing_step_metric_blob_is_named_with_its_run(repo: Path) -> None:
    reset_api()
    run_id = api_run(repo, steps={"loss": [0.5, 0.25]})
    blob = run_by_id(repo, run_id)["metric_history"]
    loose_object(repo, blob).unlink()

    res = fsck(cwd=repo)

    assert res.code == 1
    assert problem_lines(res) == [
        f"run {run_id}: its step metrics (blob {blob[:12]}) are missing from this "
        "repository; fetch gitrack's refs from a clone that has them (gitrack pull)"
    ]


def test_a_stale_lock_on_the_notes_ref_is_reported(repo: Path) -> None:
    record("true", cwd=repo)
    lock = repo / ".git" / "refs" / "notes" / "gitrack.lock"
    lock.write_text("")
    assert fsck(cwd=repo).code == 0  # a writer may hold it right now
    old = time.time() - 120
    os.utime(lock, (old, old))

    res = fsck(cwd=repo)

    assert res.code == 1
    [line] = problem_lines(res)
    assert line.startswith(f"{lock} exists and is 120 s old: a git process that crashed")
    assert f"(rm '{lock}')" in line


def test_fsck_reports_a_lock_as_soon_as_it_stops_a_run(repo: Path) -> None:
    """The same limit as `gitrack run` (gitrack.git.refs.stale_lock), and its message."""
    record("true", cwd=repo)
    lock = repo / ".git" / "refs" / "gitrack" / "pins.lock"
    lock.write_text("")
    old = time.time() - 30  # past the run's limit
    os.utime(lock, (old, old))

    blocked = gitrack("run", "--", "true", cwd=repo)
    res = fsck(cwd=repo)

    assert blocked.code != 0 and str(lock) in blocked.out + blocked.err
    assert res.code == 1
    [line] = problem_lines(res)
    assert line.startswith(f"{lock} exists and is 30 s old")
    assert line.split(" s old")[1] in blocked.err  # the run's message, but for the age


# -------------------------------------------------------------------- repair
def test_repair_removes_only_temp_files_older_than_an_hour(tmp_path: Path) -> None:
    repo = data_repo(tmp_path / "repo")
    data_run(repo)
    tmp = repo / ".git" / "gitrack" / "cache" / "tmp"
    old, young = tmp / "incoming-old", tmp / "incoming-young"
    write(old, b"half an object")
    write(young, b"being written")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))

    found = fsck(cwd=repo)

    assert found.code == 1
    [line] = problem_lines(found)
    assert line.startswith(f"cache: {old} is a temporary file left by an interrupted write")

    repaired = fsck("--repair", cwd=repo)

    assert repaired.code == 0, repaired.out
    assert f"repaired: removed stale temporary file {old}" in repaired.out
    assert not old.exists() and young.exists()
    assert fsck(cwd=repo).code == 0


def test_repair_leaves_alone_what_gc_leaves_alone_in_the_cache_temp_folder(
    tmp_path: Path,
) -> None:
    """Only gc's own temps (incoming-*) are gitrack's to remove; not someone's file."""
    repo = data_repo(tmp_path / "repo")
    data_run(repo)
    tmp = repo / ".git" / "gitrack" / "cache" / "tmp"
    foreign = tmp / "notes-of-a-colleague.txt"
    write(foreign, b"not gitrack's")
    two_hours_ago = time.time() - 7200
    os.utime(foreign, (two_hours_ago, two_hours_ago))

    found = fsck(cwd=repo)
    repaired = fsck("--repair", cwd=repo)

    assert found.code == 0, found.out
    assert repaired.code == 0, repaired.out
    assert foreign.exists()
    assert str(foreign) not in found.out + repaired.out


def test_repair_pins_a_run_as_gitrack_run_pins_it(repo: Path) -> None:
    """The new pin keeps the run's package list and its step metrics, like the lost one."""
    reset_api()
    record("true", cwd=repo)
    pins_before = git("rev-parse", "refs/gitrack/pins", cwd=repo).strip()
    lost = api_run(repo, steps={"loss": [0.5, 0.25]})
    pinned_by_run = pinned_blobs(repo, f"{pins_before}..refs/gitrack/pins")
    assert {name for name, _blob in pinned_by_run} == {"packages.txt", "metrics.parquet"}
    git("update-ref", "refs/gitrack/pins", pins_before, cwd=repo)  # its pins are gone

    repaired = fsck("--repair", cwd=repo)

    assert repaired.code == 0, repaired.out
    subject = git("log", "-1", "--format=%s", "refs/gitrack/pins", cwd=repo).strip()
    assert subject == f"gitrack: pin run {lost}"
    assert pinned_blobs(repo, "-1", "refs/gitrack/pins") == pinned_by_run


def pinned_blobs(repo: Path, *revisions: str) -> set[tuple[str, str]]:
    """(file name, blob) of every pin commit in ``revisions``."""
    commits = git("log", "--first-parent", "--format=%H", *revisions, cwd=repo).split()
    listed = "".join(git("ls-tree", commit, cwd=repo) for commit in commits)
    return {(ln.split("\t")[1], ln.split()[2]) for ln in listed.splitlines()}


def test_repair_leaves_what_it_cannot_fix_and_still_fails(tmp_path: Path) -> None:
    repo = data_repo(tmp_path / "repo")
    run_id = data_run(repo)
    output = run_by_id(repo, run_id)["outputs"]["out.txt"]
    cache_object(repo, output).unlink()  # no remote cache to fetch it from

    res = fsck("--repair", cwd=repo)

    assert res.code == 1
    assert "repaired:" not in res.out
    assert len(problem_lines(res)) == 1
    assert res.out.splitlines()[-1].endswith(": 1 problem(s)")


# -------------------------------------------------------------------- remote
@pytest.fixture
def shared(tmp_path: Path) -> tuple[Path, Path, str]:
    """A clone of a git remote, a folder remote cache, one run pushed to both."""
    origin = make_origin(tmp_path, dict(DATA_FILES))
    repo = clone(origin, tmp_path / "a")
    team_cache = tmp_path / "team-cache"
    write(repo / "gitrack.toml", f'[remote]\nurl = "{team_cache}"\n')
    write(repo / ".git" / "info" / "exclude", "gitrack.toml\n")
    write(repo / "data" / "a.csv", "x,y\n1,2\n")
    write(repo / "data" / "sub" / "b.bin", os.urandom(5000))
    run_id = data_run(repo)
    pushed = gitrack("push", cwd=repo)
    assert pushed.code == 0, pushed.err
    return repo, team_cache, run_id


def test_remote_check_finds_an_object_missing_from_the_remote_cache(
    shared: tuple[Path, Path, str],
) -> None:
    repo, team_cache, run_id = shared
    assert fsck("--remote", cwd=repo).code == 0
    output = run_by_id(repo, run_id)["outputs"]["out.txt"]
    hexpart = output.split(":")[1]
    (team_cache / "xxh128" / hexpart[:2] / hexpart[2:]).unlink()

    assert fsck(cwd=repo).code == 0  # the local cache is fine
    res = fsck("--remote", cwd=repo)

    assert res.code == 1
    [line] = problem_lines(res)
    assert line.startswith(
        f"run {run_id}: output 'out.txt': object {output} is missing from the remote cache"
    )
    assert line.endswith("upload it with `gitrack push`")


def test_remote_check_ignores_runs_not_pushed_yet(shared: tuple[Path, Path, str]) -> None:
    repo, _, _ = shared
    write(repo / "data" / "new.csv", "3,4\n")  # new data, not uploaded yet
    data_run(repo)

    res = fsck("--remote", cwd=repo)

    assert res.code == 0, res.out


def test_remote_check_needs_a_remote_cache(repo: Path) -> None:
    res = fsck("--remote", cwd=repo)

    assert res.code == 1
    assert res.err_lines == [
        "Error: --remote: no remote cache is configured; add [remote] url = ... to the config"
    ]


def test_repair_fetches_missing_objects_from_the_remote_cache(
    shared: tuple[Path, Path, str],
) -> None:
    repo, _, run_id = shared
    run = run_by_id(repo, run_id)
    manifest, output = run["datasets"]["data"], run["outputs"]["out.txt"]
    a_file = hash_file(repo / "data" / "sub" / "b.bin")
    for digest in (manifest, a_file, output):
        cache_object(repo, digest).unlink()
    found = fsck(cwd=repo)
    assert found.code == 1 and len(problem_lines(found)) == 2  # a folder's files need its manifest

    res = fsck("--repair", cwd=repo)

    assert res.code == 0, res.out
    assert "repaired: fetched 3 object(s)" in res.out  # the manifest, b.bin, out.txt
    assert fsck("--data", cwd=repo).code == 0
