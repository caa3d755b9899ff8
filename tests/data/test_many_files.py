"""Datasets of many small files (issue 16 §1): stored once, in batches, restored exactly.

A dataset declared with -d (or ``data = [...]``) that git does not ignore is kept out of
the code snapshot: its bytes are in the data cache, not twice in git. A checkout still
verifies the code tree id for tree id, and the data file by file.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from conftest import git, gitrack, make_repo
from data_helpers import (
    cache_objects,
    default_cache,
    forge_run,
    record_data,
    reference_dir_hash,
    show,
    tree_state,
    write_files,
)

FILES: dict[str, str | bytes] = {
    f"data/part{i % 3}/item{i:03d}.txt": f"sample {i}\n" * (1 + i % 4) for i in range(40)
}


def _snapshot_paths(repo: Path, run_id: str) -> set[str]:
    snapshot = show(repo, run_id)["snapshot"]
    listing = git("ls-tree", "-r", "--name-only", snapshot, cwd=repo)
    return set(listing.split())


def _plain_repo(path: Path) -> Path:
    """A repository that does not ignore data/: its files show as untracked."""
    repo = make_repo(path, {"train.py": "print('training')\n"})
    write_files(repo, FILES)
    (repo / "notes.txt").write_text("an untracked file that is not data\n")
    return repo


def test_a_dataset_that_git_does_not_ignore_stays_out_of_the_snapshot(tmp_path: Path) -> None:
    repo = _plain_repo(tmp_path / "repo")
    res = gitrack("run", "-d", "data", "--", "true", cwd=repo)
    assert res.code == 0, res.err
    run_id = res.err_lines[-1].split()[3]
    paths = _snapshot_paths(repo, run_id)
    assert not [p for p in paths if p.startswith("data/")]
    assert "notes.txt" in paths  # other untracked files are captured as before
    said = [line for line in res.err_lines if "kept out of the code snapshot" in line]
    assert len(said) == 1 and "'data'" in said[0] and "40 untracked" in said[0], res.err
    assert show(repo, run_id)["datasets"] == {"data": reference_dir_hash(repo / "data")}


def test_a_git_ignored_dataset_says_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "/data/\n"})
    write_files(repo, FILES)
    res = gitrack("run", "-d", "data", "--", "true", cwd=repo)
    assert res.code == 0, res.err
    assert "snapshot" not in res.err


def test_tracked_files_of_a_dataset_stay_in_the_snapshot(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", "data/committed.txt": "c\n"})
    write_files(repo, {"data/new.txt": "n\n"})
    run_id = record_data(repo, "-d", "data")
    paths = _snapshot_paths(repo, run_id)
    assert "data/committed.txt" in paths and "data/new.txt" not in paths


def test_a_dataset_kept_out_of_the_snapshot_is_restored_and_verified(tmp_path: Path) -> None:
    repo = _plain_repo(tmp_path / "repo")
    wanted = tree_state(repo / "data")
    run_id = record_data(repo, "-d", "data")
    res = gitrack("checkout", run_id, "--worktree", str(tmp_path / "wt"), cwd=repo)
    assert res.code == 0, res.out + res.err
    assert tree_state(tmp_path / "wt" / "data") == wanted
    assert (tmp_path / "wt" / "notes.txt").is_file()


def test_a_run_recorded_with_its_dataset_in_the_snapshot_still_checks_out(
    tmp_path: Path,
) -> None:
    """Runs recorded before datasets were kept out have them in the snapshot too."""
    repo = _plain_repo(tmp_path / "repo")
    digest = reference_dir_hash(repo / "data")
    record_data(repo, "-d", "data")
    plain = record_data(repo)  # no -d: data/ goes into the snapshot, as it used to
    assert any(p.startswith("data/") for p in _snapshot_paths(repo, plain))
    old_style = forge_run(repo, lambda run: run.update(data={"data": digest}))
    res = gitrack("checkout", old_style, "--worktree", str(tmp_path / "wt"), cwd=repo)
    assert res.code == 0, res.out + res.err
    assert tree_state(tmp_path / "wt" / "data") == tree_state(repo / "data")


def test_many_files_are_cached_read_only_and_reused_objects_are_freshened(
    tmp_path: Path,
) -> None:
    repo = _plain_repo(tmp_path / "repo")
    write_files(repo, {f"data/more/{i:04d}.bin": os.urandom(64) for i in range(600)})
    record_data(repo, "-d", "data")
    cache = default_cache(repo)
    objects = sorted((cache / "xxh128").glob("*/*"))
    assert len(cache_objects(cache)) == len(objects) >= 600
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in objects)
    assert not [p for p in (cache / "tmp").iterdir() if p.name.startswith("incoming-")]
    old = time.time() - 10 * 86400
    for path in objects:
        os.utime(path, (old, old))
    record_data(repo, "-d", "data")  # the same objects again: each one freshened
    assert all(p.stat().st_mtime > old + 86400 for p in objects)


def test_a_folder_of_many_files_restores_exactly_in_place(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "/data/\n"})
    write_files(repo, {f"data/{i % 7}/{i:04d}.bin": os.urandom(i % 50) for i in range(700)})
    os.chmod(repo / "data" / "3" / "0003.bin", 0o755)
    wanted = tree_state(repo / "data")
    run_id = record_data(repo, "-d", "data")
    os.rename(repo / "data", tmp_path / "moved")
    res = gitrack("checkout", run_id, cwd=repo)
    assert res.code == 0, res.out + res.err
    assert tree_state(repo / "data") == wanted
    leftovers = [n for _, _, names in os.walk(repo / "data") for n in names if "gitrack-" in n]
    assert not leftovers


def test_a_corrupt_object_stops_a_folder_restore_naming_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "/data/\n"})
    write_files(repo, {f"data/{i:03d}.txt": f"file {i}\n" for i in range(300)})
    run_id = record_data(repo, "-d", "data")
    digest = show(repo, run_id)["datasets"]["data"]
    assert digest.endswith(".dir")
    obj = next(p for p in (default_cache(repo) / "xxh128").glob("*/*") if p.stat().st_size == 9)
    os.chmod(obj, 0o644)
    obj.write_bytes(b"corrupt!\n")  # same size, other bytes
    os.rename(repo / "data", tmp_path / "moved")
    res = gitrack("checkout", run_id, cwd=repo)
    assert res.code == 1
    assert "is corrupt" in res.err and obj.name in res.err, res.err
    assert not (repo / "data").exists()  # rolled back: nothing half-restored
