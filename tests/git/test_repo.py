"""gitrack/git.py against the git binary: snapshots equal `git add -A`, notes git can read."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git, gitrack, make_repo, note_lines, record, runs
from hypothesis import HealthCheck, given, settings
from mutations import Op, apply_ops, make_base_repo, mutation_lists

from gitrack.git import Repo
from gitrack.git.notes import NoteMissingError


def git_add_all_tree(repo: Path, scratch: Path) -> str:
    """The tree `git add -A` would stage, built in a throwaway index."""
    env = {**os.environ, "GIT_INDEX_FILE": str(scratch / "oracle-index")}
    for args in (["read-tree", "HEAD"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=mutation_lists)
def test_worktree_tree_is_what_git_add_all_would_stage(ops: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = make_base_repo(Path(tmp) / "src")
        apply_ops(src, ops)
        index = (src / ".git" / "index").read_bytes()

        state = Repo.discover(src).worktree.build_worktree_tree()

        assert (src / ".git" / "index").read_bytes() == index
        assert state.tree == git_add_all_tree(src, Path(tmp))
        head_tree = git("rev-parse", "HEAD^{tree}", cwd=src).strip()
        assert state.base_tree == head_tree
        assert state.dirty == (state.tree != head_tree)


def test_notes_in_a_fanned_out_tree_stay_readable(tmp_path: Path) -> None:
    """Past a few hundred notes git stores them as ab/cdef...; gitrack must keep that readable."""
    repo = make_repo(tmp_path / "repo")
    base = git("rev-parse", "HEAD", cwd=repo).strip()
    count = 300
    stream = []
    for i in range(count):
        stream.append(f"commit refs/heads/main\nmark :{i + 1}\n")
        stream.append("committer T <t@e> 1700000000 +0000\ndata 2\nc\n")
        stream.append(f"from {base}\n" if i == 0 else "")
        stream.append(f"M 100644 inline f{i}.txt\ndata 2\n{i % 10}\n\n")
    for i in range(count):
        line = json.dumps(
            {
                "started": f"2020-01-01T00:00:{i % 60:02d}.{i:06d}Z",
                "id": f"{i:016x}",
                "command": ["old"],
                "base_commit": "0" * 40,
                "snapshot": "0" * 40,
            }
        )
        data = (line + "\n").encode()
        stream.append(
            "commit refs/notes/gitrack\ncommitter T <t@e> 1700000000 +0000\ndata 5\nnotes\n"
            + (f"N inline :{i + 1}\ndata {len(data)}\n{line}\n\n")
        )
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=repo, input="".join(stream).encode(), check=True
    )
    git("reset", "-q", "--hard", "main", cwd=repo)
    top = git("ls-tree", "refs/notes/gitrack", cwd=repo).splitlines()
    assert all(len(entry.split("\t")[1]) == 2 for entry in top)  # fanned out: ab/cdef...

    on_noted = record("true", cwd=repo)  # HEAD already has a note (in a subtree)
    git("commit", "-q", "--allow-empty", "-m", "new", cwd=repo)
    on_new = record("true", cwd=repo)  # HEAD has none yet

    assert len(git("notes", "--ref=gitrack", "list", cwd=repo).splitlines()) == count + 1
    assert json.loads(note_lines(repo)[0])["id"] == on_new
    assert [json.loads(x)["id"] for x in note_lines(repo, "HEAD~1")] == [
        f"{count - 1:016x}",
        on_noted,
    ]
    listed = runs(repo)
    assert len(listed) == count + 2
    assert git("fsck", "--no-progress", cwd=repo, check=False).count("error") == 0
    assert gitrack("show", on_noted, "--json", cwd=repo).json()["id"] == on_noted


def test_commit_trees_names_only_revisions_that_are_commits(tmp_path: Path) -> None:
    from gitrack.git import GitCli

    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    tree = git("rev-parse", "HEAD^{tree}", cwd=repo).strip()
    blob = git("rev-parse", "HEAD:a.txt", cwd=repo).strip()
    asked = ["HEAD", "HEAD^", tree, blob, "f" * 40, head, "not a rev\nHEAD"]

    found = GitCli(repo).commit_trees(asked)

    assert found == {"HEAD": (head, tree), head: (head, tree)}


@pytest.mark.parametrize("batch_from", [1, 10**9], ids=["git-cat-file", "libgit2"])
def test_read_texts_gives_each_blob_as_read_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_from: int
) -> None:
    """Blobs read in bulk (through `git cat-file --batch` from BATCH_READ_MIN on) come out
    in the order asked, whole, as read_text gives each: empty, binary, large, larger than
    what git's output is read by at a time, repeated, a tree (no text); an object that is
    missing is refused as read_text refuses it."""
    from gitrack.git import notes as git_notes

    repo = make_repo(tmp_path / "repo")
    texts = ["", "one line\n", "é\n" * 100_000, "no newline", "\x00\xff bytes", "y\n" * 1_500_000]
    blobs = [git("hash-object", "-w", "--stdin", cwd=repo, input=t).strip() for t in texts]
    tree = git("rev-parse", "HEAD^{tree}", cwd=repo).strip()
    asked = [blobs[2], blobs[0], tree, blobs[1], blobs[2], blobs[5], blobs[4], blobs[5], blobs[3]]
    monkeypatch.setattr(git_notes, "BATCH_READ_MIN", batch_from)
    # `git replace` changes what git shows for a blob, never what gitrack reads.
    git("replace", blobs[1], blobs[3], cwd=repo)
    notes = Repo.discover(repo).notes
    read = list(notes.read_texts(asked))
    assert read[3] == texts[1]
    assert read == [notes.read_text(blob) for blob in asked]
    assert read[0] == texts[2]
    assert read[5] == read[7] == texts[5]
    with pytest.raises(NoteMissingError, match="not in this repository"):
        list(notes.read_texts([blobs[1], "0123" * 10]))


def test_notes_edited_together_keep_the_fan_out_and_drop_emptied_folders(tmp_path: Path) -> None:
    """update_if_built_from with several notes: in a fanned-out notes tree (as git writes
    a large one) a note is added to a folder and another to a new one, two are removed and
    a folder left empty goes; in a flat tree, the same in one pass. git reads the result."""
    repo = make_repo(tmp_path / "repo")
    a, b, c, d, e = (
        "ab" + "1" * 38,
        "ab" + "2" * 38,
        "cd" + "3" * 38,
        "ab" + "4" * 38,
        "ef" + "5" * 38,
    )
    blob = git("hash-object", "-w", "--stdin", cwd=repo, input="old\n").strip()
    for fanned in (True, False):
        if fanned:
            ab = git(
                "mktree",
                cwd=repo,
                input=f"100644 blob {blob}\t{a[2:]}\n100644 blob {blob}\t{d[2:]}\n",
            )
            ef = git("mktree", cwd=repo, input=f"100644 blob {blob}\t{e[2:]}\n")
            top = f"040000 tree {ab.strip()}\tab\n040000 tree {ef.strip()}\tef\n"
        else:
            top = "".join(f"100644 blob {blob}\t{name}\n" for name in (a, d, e))
        tree = git("mktree", cwd=repo, input=top).strip()
        tip = git("commit-tree", tree, "-m", "built from X", cwd=repo).strip()
        git("update-ref", "refs/notes/test", tip, cwd=repo)
        notes = Repo.discover(repo).notes
        edits: dict[str, Callable[[str], str | None]] = {
            a: lambda _old: None,
            b: lambda old: old + "b\n",
            e: lambda _old: None,
            c: lambda _old: "c\n",
        }
        assert not notes.update_if_built_from("refs/notes/test", edits, "m\n", "built from Y")
        assert notes.update_if_built_from("refs/notes/test", edits, "m\n", "built from X")
        listed = git("notes", "--ref=test", "list", cwd=repo).split()
        assert sorted(listed[1::2]) == sorted([b, c, d]), fanned
        assert git("notes", "--ref=test", "show", b, cwd=repo) == "b\n"
        names = git("ls-tree", "-r", "--name-only", "refs/notes/test", cwd=repo).split()
        wanted = sorted([b, c, d])
        assert names == ([f"{n[:2]}/{n[2:]}" for n in wanted] if fanned else wanted), fanned
        top_names = git("ls-tree", "--name-only", "refs/notes/test", cwd=repo).split()
        assert top_names == (["ab", "cd"] if fanned else wanted), fanned  # ef/ went
        assert git("rev-parse", "refs/notes/test^", cwd=repo).strip() == tip
