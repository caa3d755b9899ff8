"""The snapshot's tree never names an object that is not in the repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git

from gitrack.git import Repo, snapshot
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
