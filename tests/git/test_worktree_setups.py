"""Snapshots and checkouts in repositories set up beyond the plain case: sparse checkouts,
clean/smudge filters (a toy pair and the real git-lfs), submodules.

The oracle is always git itself: the snapshot's tree must be the tree `git add -A` followed
by `git write-tree` gives on a copy of the user's own index, and a checkout in a fresh clone
must give back the user's exact bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import (
    fresh_clone,
    git,
    gitrack,
    make_repo,
    record,
    repo_state,
    run_by_id,
    worktree_state,
)

from gitrack.git import Repo


def tree_of_git_add_all(repo: Path, scratch: Path) -> str:
    """What `git add -A` then `git write-tree` give, run on a copy of the user's index."""
    git_dir = Path(git("rev-parse", "--absolute-git-dir", cwd=repo).strip())
    index = scratch / "oracle-index"
    shutil.copyfile(git_dir / "index", index)
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    for args in (["add", "-A"], ["write-tree"]):
        proc = subprocess.run(
            ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def snapshot_tree(repo: Path, run_id: str) -> str:
    return git("rev-parse", f"{run_by_id(repo, run_id)['snapshot']}^{{tree}}", cwd=repo).strip()


# ------------------------------------------------------------------ sparse checkouts
SPARSE_FILES: dict[str, str | bytes] = {
    "train.py": "print('training')\n",
    "dir/a.txt": "a\n",
    "other/b.txt": "b\n",
    "other/deep/c.txt": "c\n",
}


def test_sparse_checkout_snapshot_keeps_files_outside_the_cone(tmp_path: Path) -> None:
    """Files outside the sparse cone are absent from disk but not deleted: `git add -A`
    leaves skip-worktree entries alone, and so must the snapshot."""
    repo = make_repo(tmp_path / "repo", SPARSE_FILES)
    git("sparse-checkout", "set", "--cone", "dir", cwd=repo)
    assert not (repo / "other").exists()
    (repo / "dir" / "a.txt").write_text("a, edited\n")
    (repo / "dir" / "new.txt").write_text("new\n")
    outside = {
        p: ("file", str(SPARSE_FILES[p]).encode(), False)
        for p in SPARSE_FILES
        if p.startswith("other/")
    }
    expected = {**worktree_state(repo), **outside}

    run_id = record("true", cwd=repo)

    assert snapshot_tree(repo, run_id) == tree_of_git_add_all(repo, tmp_path)
    listed = git("ls-tree", "-r", "--name-only", run_by_id(repo, run_id)["snapshot"], cwd=repo)
    assert {"other/b.txt", "other/deep/c.txt", "dir/new.txt"} <= set(listed.split())
    clone = fresh_clone(repo, tmp_path / "clone")
    res = gitrack("checkout", run_id, cwd=clone)
    assert res.code == 0, res.err
    assert worktree_state(clone) == expected


@pytest.mark.parametrize("into_worktree", [False, True])
def test_checkout_inside_a_sparse_checkout_restores_the_cone(
    tmp_path: Path, into_worktree: bool
) -> None:
    """Checking a run out in the sparse checkout it was recorded in: the edits come back,
    the files outside the cone stay out, and git still sees a sparse checkout."""
    repo = make_repo(tmp_path / "repo", SPARSE_FILES)
    git("sparse-checkout", "set", "--cone", "dir", cwd=repo)
    (repo / "dir" / "a.txt").write_text("a, edited\n")
    (repo / "dir" / "new.txt").write_text("new\n")
    expected = worktree_state(repo)
    run_id = record("true", cwd=repo)
    git("stash", "-q", "-u", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "later", cwd=repo)
    target = tmp_path / "wt" if into_worktree else repo

    extra = ["--worktree", str(target)] if into_worktree else []
    res = gitrack("checkout", run_id, *extra, cwd=repo)

    assert res.code == 0, res.err
    assert worktree_state(target) == expected
    assert not (target / "other").exists()
    status = git("status", "--porcelain", cwd=target).splitlines()
    assert status == [" M dir/a.txt", "?? dir/new.txt"]
    assert git("ls-files", "-t", "other/b.txt", cwd=target).startswith("S ")


def test_checkout_refuses_a_run_that_changed_files_outside_the_sparse_cone(
    tmp_path: Path,
) -> None:
    """Recorded in a full clone, restored in a sparse one: a changed file outside the cone
    would land where git never looks. Refused, and nothing changes."""
    repo = make_repo(tmp_path / "repo", SPARSE_FILES)
    (repo / "other" / "b.txt").write_text("b, edited\n")
    run_id = record("true", cwd=repo)
    clone = fresh_clone(repo, tmp_path / "clone")
    git("sparse-checkout", "set", "--cone", "dir", cwd=clone)
    git("commit", "-q", "--allow-empty", "-m", "later", cwd=clone)
    before = repo_state(clone)

    res = gitrack("checkout", run_id, cwd=clone)

    assert res.code == 1
    assert "other/b.txt" in res.err and "sparse" in res.err, res.err
    assert len(res.err_lines) == 1, res.err
    assert repo_state(clone) == before


def test_a_sparse_index_is_refused_with_the_way_out(tmp_path: Path) -> None:
    """libgit2 cannot read a sparse index: a clear refusal naming the fix, not a crash."""
    repo = make_repo(tmp_path / "repo", SPARSE_FILES)
    git("sparse-checkout", "set", "--cone", "--sparse-index", "dir", cwd=repo)

    res = gitrack("run", "--", "true", cwd=repo)

    assert res.code == 1
    assert res.err_lines == [
        "Error: this sparse checkout uses a sparse index, which gitrack cannot read; turn it "
        "off (git sparse-checkout init --no-sparse-index) and try again"
    ]
    git("sparse-checkout", "init", "--no-sparse-index", cwd=repo)
    run_id = record("true", cwd=repo)
    assert snapshot_tree(repo, run_id) == tree_of_git_add_all(repo, tmp_path)


# ------------------------------------------------------------------ clean/smudge filters
def _clone_with(src: Path, dst: Path, *config: str) -> Path:
    """A teammate's clone with the same filter drivers configured before its checkout."""
    options = [arg for item in config for arg in ("-c", item)]
    git("clone", "-q", "--no-local", *options, str(src), str(dst), cwd=src.parent)
    git("fetch", "-q", "origin", "+refs/notes/*:refs/notes/*", "+refs/gitrack/*:refs/gitrack/*",
        cwd=dst)  # fmt: skip
    return dst


def _filtered_repo(repo: Path, suffix: str, *setup: tuple[str, ...]) -> Path:
    """A repository whose ``*SUFFIX`` files go through a filter (``setup``: git commands
    that configure it), then edited: files the filter applies to (edited, unchanged, new,
    deleted) and files it does not."""
    git("init", "-q", str(repo), cwd=repo.parent)
    for args in setup:
        git(*args, cwd=repo)
    for name in ("model", "keep", "gone"):
        (repo / f"{name}{suffix}").write_bytes(f"{name} v1\x00\x01\x02".encode() * 20)
    (repo / "train.py").write_text("print('training')\n")
    (repo / "old.py").write_text("print('old')\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "init", cwd=repo)
    (repo / f"model{suffix}").write_bytes(bytes(range(256)) * 3 + b"edited\x00")
    (repo / "sub").mkdir()
    (repo / "sub" / f"new{suffix}").write_bytes(b"\xffnew\nfile\x00" * 50)
    (repo / f"gone{suffix}").unlink()
    (repo / "train.py").write_text("print('edited, no filter')\n")
    (repo / "old.py").unlink()
    return repo


def _check_snapshot_and_restores(repo: Path, tmp_path: Path, *clone_config: str) -> str:
    """The snapshot is what `git add -A` stores; checkouts give back the user's bytes."""
    expected = worktree_state(repo)
    run_id = record("true", cwd=repo)
    assert worktree_state(repo) == expected

    assert snapshot_tree(repo, run_id) == tree_of_git_add_all(repo, tmp_path)
    # A fresh clone, checked out in place; and a new worktree of the user's repository.
    clone = _clone_with(repo, tmp_path / "clone", *clone_config)
    res = gitrack("checkout", run_id, cwd=clone)
    assert res.code == 0, res.err
    assert worktree_state(clone) == expected
    suffix = next(p for p in expected if p.startswith("model"))[5:]
    assert sorted(git("status", "--porcelain", cwd=clone).splitlines()) == [
        f" D gone{suffix}",
        " D old.py",
        f" M model{suffix}",
        " M train.py",
        "?? sub/",
    ]
    res = gitrack("checkout", run_id, "--worktree", str(tmp_path / "wt"), cwd=repo)
    assert res.code == 0, res.err
    assert worktree_state(tmp_path / "wt") == expected
    return str(run_by_id(repo, run_id)["snapshot"])


TOY_FILTER = ("filter.b64.clean=base64", "filter.b64.smudge=base64 -d")


def test_snapshot_and_checkout_go_through_a_clean_smudge_filter(tmp_path: Path) -> None:
    """A toy driver (base64 in the repository, raw bytes on disk) that only git runs: the
    snapshot holds what `git add` stores, a checkout writes back the user's bytes."""
    config = [("config", *item.split("=", 1)) for item in TOY_FILTER]
    repo = _filtered_repo(tmp_path / "repo", ".dat", *config)
    (repo / ".gitattributes").write_text("*.dat filter=b64\n")
    git("add", ".gitattributes", cwd=repo)
    git("commit", "-q", "-m", "filter", "--", ".gitattributes", cwd=repo)
    # (committed before the filter: re-stage so that HEAD holds what `git add` stores)
    git("add", "--renormalize", "keep.dat", cwd=repo)
    git("commit", "-q", "-m", "renormalize", "--", "keep.dat", cwd=repo)
    assert git("cat-file", "blob", "HEAD:keep.dat", cwd=repo).startswith("a2VlcCB2")

    snapshot = _check_snapshot_and_restores(repo, tmp_path, *TOY_FILTER)
    assert git("cat-file", "blob", f"{snapshot}:sub/new.dat", cwd=repo).startswith("/25ld")


def test_snapshot_and_checkout_of_git_lfs_files(tmp_path: Path) -> None:
    """The real git-lfs: the snapshot holds LFS pointers, a checkout the real bytes."""
    if shutil.which("git-lfs") is None:
        pytest.skip("git-lfs is not installed (apt-get install git-lfs)")
    git("lfs", "install", "--skip-repo", cwd=tmp_path)  # into the test's own ~/.gitconfig
    repo = _filtered_repo(tmp_path / "repo", ".bin", ("lfs", "track", "*.bin"))
    assert git("cat-file", "blob", "HEAD:keep.bin", cwd=repo).startswith("version https://git-lfs")

    snapshot = _check_snapshot_and_restores(repo, tmp_path)
    pointer = git("cat-file", "blob", f"{snapshot}:sub/new.bin", cwd=repo)
    assert pointer.startswith("version https://git-lfs")


def test_a_name_that_is_not_utf8_goes_through_the_filter_as_in_git(tmp_path: Path) -> None:
    config = [("config", *item.split("=", 1)) for item in TOY_FILTER]
    repo = make_repo(tmp_path / "repo", {".gitattributes": "*.dat filter=b64\n"})
    for args in config:
        git(*args, cwd=repo)
    untracked = os.fsencode(repo) + b"/new \xff.dat"
    with open(untracked, "wb") as fh:
        fh.write(b"raw bytes\n")
    worktree = Repo.discover(repo).worktree

    state = worktree.build_worktree_tree()

    assert state.tree == tree_of_git_add_all(repo, tmp_path)
    assert worktree.pending_changes() == [os.fsdecode(b"new \xff.dat")]


# ------------------------------------------------------------------ submodules
def _repo_with_submodule(tmp_path: Path) -> tuple[Path, Path]:
    """(repository, the submodule's upstream): lib/ is a submodule at its first commit."""
    upstream = make_repo(tmp_path / "upstream", {"s.txt": "1\n"})
    repo = make_repo(tmp_path / "repo")
    git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(upstream), "lib",
        cwd=repo)  # fmt: skip
    git("commit", "-q", "-m", "add lib", cwd=repo)
    return repo, upstream


def _head(path: Path) -> str:
    return git("rev-parse", "HEAD", cwd=path).strip()


def test_snapshot_records_the_commit_a_submodule_has_checked_out(tmp_path: Path) -> None:
    """A new commit in the submodule is recorded as its gitlink (as `git add -A` stages
    it), the run is dirty, and what the snapshot cannot hold (edits inside) is a warning."""
    repo, _ = _repo_with_submodule(tmp_path)
    lib = repo / "lib"
    committed = _head(lib)
    (lib / "s.txt").write_text("2\n")
    git("commit", "-q", "-am", "s2", cwd=lib)
    moved = _head(lib)
    (lib / "s.txt").write_text("3, not committed\n")
    (lib / "scratch.txt").write_text("untracked in the submodule\n")

    run_id = record("true", cwd=repo)

    run = run_by_id(repo, run_id)
    assert snapshot_tree(repo, run_id) == tree_of_git_add_all(repo, tmp_path)
    assert git("rev-parse", f"{run['snapshot']}:lib", cwd=repo).strip() == moved
    assert run["dirty"] is True
    warnings = run.get("warnings", [])
    assert any("'lib'" in w and moved[:10] in w and committed[:10] in w for w in warnings)
    assert any("'lib'" in w and "uncommitted" in w and "s.txt" in w for w in warnings)


def test_checkout_moves_an_initialized_submodule_to_the_runs_commit(tmp_path: Path) -> None:
    repo, upstream = _repo_with_submodule(tmp_path)
    lib = repo / "lib"
    (lib / "s.txt").write_text("2\n")
    git("commit", "-q", "-am", "s2", cwd=lib)
    moved = _head(lib)
    run_id = record("true", cwd=repo)
    git("submodule", "update", "-q", cwd=repo)  # back to the committed gitlink
    git("commit", "-q", "--allow-empty", "-m", "later", cwd=repo)
    assert _head(lib) != moved

    res = gitrack("checkout", run_id, cwd=repo)

    assert res.code == 0, res.err
    assert _head(lib) == moved
    assert git("status", "--porcelain", cwd=repo).splitlines() == [" M lib"]

    # A clone without the submodule initialized: restored, with a warning naming it.
    git("push", "-q", str(upstream), f"{moved}:refs/heads/feature", cwd=lib)
    clone = fresh_clone(repo, tmp_path / "clone")
    res = gitrack("checkout", run_id, cwd=clone)
    assert res.code == 0, res.err
    assert "submodule 'lib' is not initialized" in res.err and moved[:10] in res.err
    # Initialized, the commit fetched with it: moved, verified.
    git("checkout", "-q", "main", cwd=clone)
    git("-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init", cwd=clone)
    res = gitrack("checkout", run_id, cwd=clone)
    assert res.code == 0, res.err
    assert _head(clone / "lib") == moved


def test_checkout_refuses_when_the_submodule_lacks_the_runs_commit(tmp_path: Path) -> None:
    repo, _ = _repo_with_submodule(tmp_path)
    lib = repo / "lib"
    (lib / "s.txt").write_text("2\n")
    git("commit", "-q", "-am", "s2, never pushed", cwd=lib)
    run_id = record("true", cwd=repo)
    clone = fresh_clone(repo, tmp_path / "clone")
    git("-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init", cwd=clone)
    before = repo_state(clone)
    lib_head = _head(clone / "lib")

    res = gitrack("checkout", run_id, cwd=clone)

    assert res.code == 1
    assert "submodule 'lib'" in res.err and "fetch" in res.err, res.err
    assert repo_state(clone) == before
    assert _head(clone / "lib") == lib_head


# ------------------------------------------------------------------ a separate git dir
def test_a_run_and_its_checkout_in_a_repository_with_a_separate_git_dir(tmp_path: Path) -> None:
    """`git init --separate-git-dir`: the work tree holds a .git file naming a git dir
    elsewhere, which names no work tree itself; libgit2 opened from that git dir guessed
    its parent as the work tree (review: every snapshot failed)."""
    repo, git_dir = tmp_path / "work", tmp_path / "elsewhere.git"
    git("init", "-q", f"--separate-git-dir={git_dir}", str(repo), cwd=tmp_path)
    (repo / "train.py").write_text("print('v1')\n")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "first", cwd=repo)
    (repo / "sub").mkdir()
    (repo / "train.py").write_text("print('edited, not committed')\n")
    (repo / "sub" / "new.txt").write_text("untracked\n")
    expected = worktree_state(repo)
    run_id = record("true", cwd=repo / "sub")
    assert snapshot_tree(repo, run_id) == tree_of_git_add_all(repo, tmp_path)
    git("stash", "-u", "-q", cwd=repo)
    assert gitrack("checkout", run_id, cwd=repo).code == 0
    assert worktree_state(repo) == expected
