"""The snapshot's tree never names an object that is not in the repository, nor keeps one
for a file it leaves out."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import git

from gitrack.git import Repo, snapshot
from gitrack.git._pygit2 import pygit2
from gitrack.git.transient import ObjectMissingError


def test_a_blob_removed_before_the_tree_is_written_fails_the_snapshot(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `git gc --prune=now` may remove a blob just written (unreachable until the
    snapshot is pinned): the snapshot must fail, to be written again, not name it."""
    (repo / "new.txt").write_text("bytes no other object of this repository holds\n")
    removed: list[str] = []
    write_blob = snapshot._blob_of_file

    def written_then_pruned(of: Repo, path: str) -> object:
        oid = write_blob(of, path)
        (repo / ".git" / "objects" / str(oid)[:2] / str(oid)[2:]).unlink()  # as gc would
        removed.append(str(oid))
        return oid

    monkeypatch.setattr(snapshot, "_blob_of_file", written_then_pruned)
    with pytest.raises(ObjectMissingError) as caught:
        Repo.discover(repo).worktree.build_worktree_tree()
    assert removed and caught.value.oid == removed[0]


def test_a_snapshot_of_edits_in_a_big_folder_names_only_objects_that_exist(repo: Path) -> None:
    """The trees of changed folders are written without libgit2 reading every entry's
    object: they hold HEAD's entries and the new blobs, all of them in the repository."""
    folder = repo / "many"
    folder.mkdir()
    for number in range(60):
        (folder / f"f{number}.txt").write_text(f"{number}\n")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "many", cwd=repo)
    (folder / "f7.txt").write_text("edited\n")
    (folder / "new.txt").write_text("untracked\n")

    state = Repo.discover(repo).worktree.build_worktree_tree()

    listed = git("ls-tree", "-r", state.tree, "many", cwd=repo).splitlines()
    assert len(listed) == 61
    for line in listed:
        oid = line.split()[2]
        assert git("cat-file", "-t", oid, cwd=repo).strip() == "blob"


def git_add_all_tree(repo: Path, index: Path) -> str:
    """The tree `git add -A` would stage, built in a throwaway index."""
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    for args in (["read-tree", "HEAD"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.parametrize(
    ("attributes", "config"),
    [
        ("*.txt text eol=lf\n", ()),  # CRLF -> LF when stored
        ("", ("core.autocrlf", "true")),
        ("*.c ident\n", ()),  # $Id: ...$ -> $Id$ when stored
    ],
)
def test_libgit2s_own_filters_apply_to_snapshot_files(
    repo: Path, tmp_path: Path, attributes: str, config: tuple[str, ...]
) -> None:
    """Files an eol or ident rule applies to are stored as `git add` stores them (edited,
    untracked, under a folder)."""
    if config:
        git("config", *config, cwd=repo)
    (repo / ".gitattributes").write_text(attributes)
    (repo / "src").mkdir()
    (repo / "src" / "notes.txt").write_bytes(b"one\r\ntwo\r\n")
    (repo / "src" / "main.c").write_bytes(b"/* $Id: old id $ */\r\nint x;\r\n")
    (repo / "plain.bin").write_bytes(b"\x00\x01 binary\r\n")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "filtered files", cwd=repo)
    (repo / "src" / "notes.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    (repo / "src" / "main.c").write_bytes(b"/* $Id: stale $ */\r\nint y;\r\n")
    (repo / "src" / "new.txt").write_bytes(b"untracked\r\n")

    state = Repo.discover(repo).worktree.build_worktree_tree()

    assert state.tree == git_add_all_tree(repo, tmp_path / "oracle-index")


@pytest.mark.parametrize("claimed", [False, True], ids=["users-process", "gitrack-program"])
def test_the_strict_object_check_is_on_again_after_a_snapshot(
    repo: Path, monkeypatch: pytest.MonkeyPatch, claimed: bool
) -> None:
    """gitrack's program writes a snapshot's trees with libgit2's strict check off (a
    user's process never changes it); either way it is on again afterwards: a tree
    naming a missing blob is refused."""
    from gitrack.git import _pygit2

    monkeypatch.setattr(_pygit2, "_claimed", claimed)
    (repo / "edited.txt").write_text("a change, so the snapshot writes a tree\n")
    Repo.discover(repo).worktree.build_worktree_tree()
    raw = pygit2.Repository(str(repo))
    index = pygit2.Index()
    index.add(pygit2.IndexEntry("ghost", pygit2.Oid(hex="1" * 40), pygit2.enums.FileMode.BLOB))
    with pytest.raises(pygit2.GitError):
        index.write_tree(raw)


def test_a_file_removed_from_the_index_and_now_too_large_is_left_out_as_untracked(
    repo: Path,
) -> None:
    """`git rm --cached`, then written again over the size limit: an untracked file over the
    limit (left out, reported), so HEAD's copy is not in the tree either."""
    (repo / "big.bin").write_text("small at first\n")
    git("add", "big.bin", cwd=repo)
    git("commit", "-q", "-m", "big.bin", cwd=repo)
    git("rm", "-q", "--cached", "big.bin", cwd=repo)
    (repo / "big.bin").write_bytes(b"x" * 5000)
    (repo / "new.bin").write_bytes(b"y" * 5000)  # untracked all along: the same case

    state = Repo.discover(repo).worktree.build_worktree_tree(max_untracked_bytes=1000)

    assert state.skipped == {"big.bin": 5000, "new.bin": 5000}
    listed = git("ls-tree", "-r", "--name-only", state.tree, cwd=repo).split()
    assert "big.bin" not in listed and "new.bin" not in listed
