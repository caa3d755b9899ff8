"""`gitrack checkout`: the exact working state of a run comes back, verified, or nothing changes."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import (
    fresh_clone,
    git,
    gitrack,
    make_repo,
    note_lines,
    record,
    repo_state,
    run_by_id,
    worktree_state,
)
from hypothesis import HealthCheck, given, settings
from mutations import Op, apply_ops, make_base_repo, mutation_lists


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=mutation_lists)
def test_fresh_clone_restores_exact_working_tree(ops: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = make_base_repo(Path(tmp) / "src")
        apply_ops(src, ops)
        expected = worktree_state(src)
        index_before = (src / ".git" / "index").read_bytes()

        run_id = record("true", cwd=src)

        # gitrack run touched nothing of the user's.
        assert worktree_state(src) == expected
        assert (src / ".git" / "index").read_bytes() == index_before

        clone = fresh_clone(src, Path(tmp) / "clone")
        res = gitrack("checkout", run_id[:8], cwd=clone)
        assert res.code == 0, res.err
        assert worktree_state(clone) == expected

        run = run_by_id(clone, run_id)
        assert git("rev-parse", "HEAD", cwd=clone).strip() == run["base_commit"]
        trees = [git("rev-parse", f"{c}^{{tree}}", cwd=src) for c in (run["snapshot"], "HEAD")]
        assert run["dirty"] == (trees[0] != trees[1])


# ------------------------------------------------------------------ in place
def test_checkout_in_place_detaches_and_leaves_changes_uncommitted(repo: Path) -> None:
    (repo / "train.py").write_text("print('edited')\n")
    (repo / "notes.md").write_text("untracked\n")
    git("add", "train.py", cwd=repo)  # staged: must come back as an uncommitted edit
    expected = worktree_state(repo)
    base = git("rev-parse", "HEAD", cwd=repo).strip()
    run_id = record("true", cwd=repo)

    # Move on: commit the edit, clean up, make another commit on the branch.
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "later", cwd=repo)
    (repo / "train.py").write_text("print('much later')\n")
    git("commit", "-q", "-am", "much later", cwd=repo)

    res = gitrack("checkout", run_id, cwd=repo)

    assert res.code == 0, res.err
    assert worktree_state(repo) == expected
    assert git("rev-parse", "HEAD", cwd=repo).strip() == base
    assert git("symbolic-ref", "-q", "HEAD", cwd=repo, check=False) == ""  # detached
    # The index is the base commit's: the edits show as uncommitted, the file as untracked.
    assert git("diff", "--cached", "--name-only", cwd=repo) == ""
    status = git("status", "--porcelain", cwd=repo).splitlines()
    assert sorted(status) == [" M train.py", "?? notes.md"]
    assert git("rev-parse", "main", cwd=repo).strip() != base  # the branch was not moved
    assert "verified" in res.out


def test_checkout_into_new_worktree_leaves_current_one_alone(repo: Path, tmp_path: Path) -> None:
    (repo / "data" / "values.csv").write_text("x,y\n3,4\n")
    expected = worktree_state(repo)
    run_id = record("true", cwd=repo)
    git("checkout", "-q", "--", ".", cwd=repo)
    before = repo_state(repo)

    target = tmp_path / "restored"
    res = gitrack("checkout", run_id, "--worktree", str(target), cwd=repo)

    assert res.code == 0, res.err
    assert worktree_state(target) == expected
    after = repo_state(repo)
    assert after["files"] == before["files"]
    assert after["head"] == before["head"]
    assert after["index"] == before["index"]
    assert str(target) in git("worktree", "list", cwd=repo)


def test_checkout_worktree_refuses_non_empty_target(repo: Path, tmp_path: Path) -> None:
    run_id = record("true", cwd=repo)
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "keep.txt").write_text("mine\n")
    before = repo_state(repo)

    res = gitrack("checkout", run_id, "--worktree", str(target), cwd=repo)

    assert res.code == 1
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith("Error: ")
    assert (target / "keep.txt").read_text() == "mine\n"
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert repo_state(repo) == before


def _type_change(repo: Path, change: str) -> None:
    if change == "symlink_to_file":
        (repo / "link.py").unlink()
        (repo / "link.py").write_text("now a regular file\n")
    elif change == "file_to_symlink":
        (repo / "data" / "values.csv").unlink()
        os.symlink("../train.py", repo / "data" / "values.csv")
    elif change == "file_to_dir":
        (repo / "train.py").unlink()
        (repo / "train.py").mkdir()
        (repo / "train.py" / "inner.txt").write_text("a folder now\n")
    elif change == "dir_to_file":
        shutil.rmtree(repo / "data")
        (repo / "data").write_text("a file now\n")


@pytest.mark.parametrize(
    "change", ["symlink_to_file", "file_to_symlink", "file_to_dir", "dir_to_file"]
)
def test_checkout_in_place_restores_type_changes(repo: Path, change: str) -> None:
    os.symlink("train.py", repo / "link.py")
    git("add", "link.py", cwd=repo)
    git("commit", "-q", "-m", "a link", cwd=repo)
    _type_change(repo, change)
    expected = worktree_state(repo)
    run_id = record("true", cwd=repo)
    git("stash", "-q", "--include-untracked", cwd=repo)  # back to a clean tree
    git("stash", "drop", "-q", cwd=repo)

    res = gitrack("checkout", run_id, cwd=repo)

    assert res.code == 0, res.err
    assert worktree_state(repo) == expected


# ------------------------------------------------------------------ refusals
def _dirty_run(repo: Path) -> str:
    (repo / "train.py").write_text("print('run state')\n")
    run_id = record("true", cwd=repo)
    git("checkout", "-q", "--", ".", cwd=repo)
    return run_id


def _assert_refused(repo: Path, run_id: str, before: dict[str, object]) -> None:
    res = gitrack("checkout", run_id, cwd=repo)
    assert res.code == 1
    assert len(res.err_lines) == 1, res.err
    assert res.err_lines[0].startswith("Error: ")
    assert res.out == ""
    assert repo_state(repo) == before


def test_checkout_refuses_over_uncommitted_edit(repo: Path) -> None:
    run_id = _dirty_run(repo)
    (repo / "data" / "values.csv").write_text("precious, uncommitted\n")
    _assert_refused(repo, run_id, repo_state(repo))


def test_checkout_refuses_over_staged_edit(repo: Path) -> None:
    run_id = _dirty_run(repo)
    (repo / "data" / "values.csv").write_text("precious, staged\n")
    git("add", "data/values.csv", cwd=repo)
    _assert_refused(repo, run_id, repo_state(repo))


def test_checkout_refuses_over_untracked_file(repo: Path) -> None:
    run_id = _dirty_run(repo)
    (repo / "scratch.txt").write_text("precious, untracked\n")
    _assert_refused(repo, run_id, repo_state(repo))


def test_checkout_refuses_to_overwrite_ignored_file(repo: Path) -> None:
    (repo / "model.bin").write_bytes(b"model of the run")
    run_id = record("true", cwd=repo)
    (repo / "model.bin").unlink()
    (repo / ".git" / "info" / "exclude").write_text("model.bin\n")  # now ignored here
    (repo / "model.bin").write_bytes(b"a newer, better model")
    _assert_refused(repo, run_id, repo_state(repo))


# ------------------------------------------------------------------ broken input
def test_checkout_without_fetched_snapshot_says_what_to_fetch(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('edited')\n")
    run_id = record("true", cwd=repo)
    clone = tmp_path / "clone"
    # --no-local: only what the fetch transfers, as from a real remote.
    git("clone", "-q", "--no-local", str(repo), str(clone), cwd=tmp_path)
    git("fetch", "-q", "origin", "+refs/notes/*:refs/notes/*", cwd=clone)  # pins forgotten
    assert git("cat-file", "-t", run_by_id(repo, run_id)["snapshot"], cwd=clone, check=False) == ""
    before = repo_state(clone)

    res = gitrack("checkout", run_id, cwd=clone)

    assert res.code == 1
    assert res.err_lines[0].startswith("Error: ")
    assert "refs/gitrack" in res.err
    assert repo_state(clone) == before


def test_checkout_refuses_note_whose_snapshot_is_not_on_its_base(
    repo: Path, tmp_path: Path
) -> None:
    """Notes are untrusted: a line pairing a snapshot with a foreign base is refused."""
    (repo / "train.py").write_text("print('edited')\n")
    run_id = record("true", cwd=repo)
    git("checkout", "-q", "--", ".", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "other", cwd=repo)
    [line] = note_lines(repo, "HEAD~1")
    other = git("rev-parse", "HEAD", cwd=repo).strip()
    base = git("rev-parse", "HEAD~1", cwd=repo).strip()
    forged = line.replace(run_id, "f" * 16).replace(base, other)
    git("notes", "--ref=gitrack", "add", "-m", forged, "HEAD", cwd=repo)
    before = repo_state(repo)

    res = gitrack("checkout", "f" * 16, cwd=repo)

    assert res.code == 1
    assert res.err_lines[0].startswith("Error: ")
    assert repo_state(repo) == before


def _tree_with(repo: Path, path: str, blob: str) -> str:
    """HEAD's tree plus ``path`` (any name git mktree takes), built with git plumbing."""
    *dirs, name = path.split("/")
    tree = git("mktree", cwd=repo, input=f"100755 blob {blob}\t{name}\n").strip()
    for parent in reversed(dirs[1:]):
        tree = git("mktree", cwd=repo, input=f"040000 tree {tree}\t{parent}\n").strip()
    top = dirs[0] if dirs else name
    mode, kind = ("040000", "tree") if dirs else ("100755", "blob")
    listing = git("ls-tree", "HEAD", cwd=repo) + f"{mode} {kind} {tree if dirs else blob}\t{top}\n"
    return git("mktree", cwd=repo, input=listing).strip()


@pytest.mark.parametrize("path", [".git/hooks/post-checkout", "..", ".GIT/config", "sub/../.."])
def test_checkout_refuses_snapshot_with_unsafe_path(repo: Path, tmp_path: Path, path: str) -> None:
    """Notes are untrusted: a snapshot naming a path into .git or out of the tree is refused."""
    run_id = record("true", cwd=repo)
    [line] = note_lines(repo)
    blob = git("hash-object", "-w", "--stdin", cwd=repo, input="#!/bin/sh\necho pwned\n").strip()
    tree = _tree_with(repo, path, blob)
    evil = git("commit-tree", tree, "-p", "HEAD", "-m", "evil", cwd=repo).strip()
    snapshot = run_by_id(repo, run_id)["snapshot"]
    git("update-ref", "refs/gitrack/evil", evil, cwd=repo)  # as if fetched with the pins
    git("notes", "--ref=gitrack", "append", "-m",
        line.replace(snapshot, evil).replace(run_id, "e" * 16), cwd=repo)  # fmt: skip
    before = repo_state(repo)
    around = sorted(os.listdir(tmp_path))

    for extra in ([], ["--worktree", str(tmp_path / "wt")]):
        res = gitrack("checkout", "e" * 16, *extra, cwd=repo)
        assert repo_state(repo) == before
        assert not (repo / ".git" / "hooks" / "post-checkout").exists()
        assert sorted(os.listdir(tmp_path)) == around
        # A refusal a user can act on, not a crash report.
        assert res.code == 1, res.err
        assert len(res.err_lines) == 1 and res.err_lines[0].startswith("Error: "), res.err


def test_failed_verification_puts_everything_back(repo: Path) -> None:
    """A snapshot that cannot be written back exactly (a legacy 100664 mode, which every
    checkout writes as 100644) fails verification; the in-place checkout is rolled back."""
    os.symlink("train.py", repo / "link.py")
    (repo / "keep.txt").write_text("tracked\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "link and file", cwd=repo)
    run_id = record("true", cwd=repo)
    [line] = note_lines(repo)
    odd = git("hash-object", "-w", "--stdin", cwd=repo, input="odd mode\n").strip()
    plain = git("hash-object", "-w", "--stdin", cwd=repo, input="link, now a file\n").strip()
    listing = [
        entry
        for entry in git("ls-tree", "HEAD", cwd=repo).splitlines()
        if not entry.endswith(("\tlink.py", "\tkeep.txt"))
    ]
    listing += [f"100644 blob {plain}\tlink.py", f"100664 blob {odd}\todd.txt"]
    tree = git("mktree", cwd=repo, input="\n".join(listing) + "\n").strip()
    forged = git("commit-tree", tree, "-p", "HEAD", "-m", "forged", cwd=repo).strip()
    git("update-ref", "refs/gitrack/forged", forged, cwd=repo)
    snapshot = run_by_id(repo, run_id)["snapshot"]
    git("notes", "--ref=gitrack", "append", "-m",
        line.replace(snapshot, forged).replace(run_id, "d" * 16), cwd=repo)  # fmt: skip
    git("checkout", "-q", "-b", "later", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "later", cwd=repo)
    before = repo_state(repo)
    staged = git("ls-files", "--stage", cwd=repo)

    res = gitrack("checkout", "d" * 16, cwd=repo)

    assert res.code == 1
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith("Error: "), res.err
    assert "odd.txt" in res.err
    after = repo_state(repo)
    # HEAD on its branch, every file as it was; the index holds the same entries (its
    # stat data may be refreshed by the checkout and its undoing).
    assert {k: v for k, v in after.items() if k != "index"} == {
        k: v for k, v in before.items() if k != "index"
    }
    assert git("ls-files", "--stage", cwd=repo) == staged
    assert git("status", "--porcelain", cwd=repo) == ""
    assert (repo / "link.py").is_symlink()


def test_checkout_twice_is_exact_both_times(repo: Path, tmp_path: Path) -> None:
    """Restoring, going back, restoring again: the same bytes each time."""
    (repo / "train.py").write_text("print('A')\n")
    first = record("true", cwd=repo)
    (repo / "train.py").write_text("print('B')\n")
    (repo / "extra.txt").write_text("B only\n")
    state_b = worktree_state(repo)
    second = record("true", cwd=repo)
    git("checkout", "-q", "--", ".", cwd=repo)
    (repo / "extra.txt").unlink()

    assert gitrack("checkout", first, cwd=repo).code == 0
    assert (repo / "train.py").read_text() == "print('A')\n"
    assert not (repo / "extra.txt").exists()
    git("stash", "-q", "-u", cwd=repo)
    res = gitrack("checkout", second, cwd=repo)
    assert res.code == 0, res.err
    assert worktree_state(repo) == state_b


def test_restore_of_file_named_with_newline_and_unicode(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"plain.txt": "p\n", "ünï 名前.txt": "u\n"})
    (repo / "ünï 名前.txt").write_text("u edited\n")
    (repo / "new\nline.txt").write_text("newline in the name\n")
    (repo / "sp ace" / "f i l e").parent.mkdir()
    (repo / "sp ace" / "f i l e").write_bytes(b"\x00bin\xff")
    expected = worktree_state(repo)
    run_id = record("true", cwd=repo)

    target = tmp_path / "restored"
    res = gitrack("checkout", run_id, "--worktree", str(target), cwd=repo)

    assert res.code == 0, res.err
    assert worktree_state(target) == expected


def test_checkout_never_overwrites_an_ignored_file_the_base_commit_tracks(repo: Path) -> None:
    """Regression: secret.txt was tracked at the run's commit, deleted in its snapshot, and
    is now ignored and local-only: checking the run out must refuse, not delete it."""
    (repo / "secret.txt").write_text("v1\n")
    git("add", "secret.txt", cwd=repo)
    git("commit", "-q", "-m", "track secret", cwd=repo)
    (repo / "secret.txt").unlink()
    run_id = record("true", cwd=repo)
    git("rm", "-q", "--cached", "--ignore-unmatch", "secret.txt", cwd=repo)
    (repo / ".gitignore").write_text("secret.txt\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "ignore it", cwd=repo)
    (repo / "secret.txt").write_text("PRECIOUS local-only\n")
    before = repo_state(repo)

    res = gitrack("checkout", run_id, cwd=repo)

    assert res.code == 1 and "secret.txt" in res.err
    assert (repo / "secret.txt").read_text() == "PRECIOUS local-only\n"
    assert repo_state(repo) == before
