"""Where libgit2 reads the ignore rules otherwise than git (gitrack.git.ignores): a
negation in a .gitignore below the root. git's own answer is the spec: what `git add -A`
stages, what `git status` calls untracked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git, make_repo
from test_snapshot_datasets import expected_without, full_tree_entries, tree_entries

from gitrack.git import Repo


def repo_with_a_negation(root: Path) -> Path:
    """`*.tmp` ignored at the root, `!keep.tmp` re-included by sub/.gitignore (tracked)."""
    repo = make_repo(
        root,
        {".gitignore": "*.tmp\n", "sub/.gitignore": "!keep.tmp\n", "sub/code.py": "x\n"},
    )
    (repo / "sub" / "keep.tmp").write_text("kept by the negation\n")
    (repo / "sub" / "other.tmp").write_text("ignored\n")
    (repo / "sub" / "new" / "deeper").mkdir(parents=True)
    (repo / "sub" / "new" / "deeper" / "keep.tmp").write_text("in an untracked folder\n")
    return repo


def git_untracked(repo: Path) -> list[str]:
    return sorted(git("ls-files", "-o", "--exclude-standard", cwd=repo).split())


@pytest.mark.parametrize("exclude", [[], ["data"], ["sub/new"]])
def test_a_file_a_nested_negation_re_includes_is_in_the_snapshot(
    tmp_path: Path, exclude: list[str]
) -> None:
    repo = repo_with_a_negation(tmp_path / "repo")
    (repo / "data").mkdir()
    (repo / "data" / "d.csv").write_text("1\n")
    assert git_untracked(repo) == ["data/d.csv", "sub/keep.tmp", "sub/new/deeper/keep.tmp"]

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=exclude)

    wanted, left_out = expected_without(repo, tmp_path, exclude[0] if exclude else "-")
    assert tree_entries(repo, state.tree) == wanted
    assert "sub/keep.tmp" in wanted and "sub/other.tmp" not in wanted
    assert state.excluded == ({exclude[0]: left_out} if exclude else {})


def test_a_negation_on_the_first_line_after_a_byte_order_mark_is_seen(tmp_path: Path) -> None:
    """git skips a UTF-8 byte order mark at the start of a .gitignore."""
    repo = repo_with_a_negation(tmp_path / "repo")
    (repo / "sub" / ".gitignore").write_bytes(b"\xef\xbb\xbf!keep.tmp\n")
    git("commit", "-q", "-am", "a byte order mark", cwd=repo)
    assert "sub/keep.tmp" in git_untracked(repo)

    state = Repo.discover(repo).worktree.build_worktree_tree()

    wanted, _ = expected_without(repo, tmp_path, "-")
    assert tree_entries(repo, state.tree) == wanted
    assert "sub/keep.tmp" in wanted
    assert Repo.discover(repo).worktree.pending_changes() == ["sub/keep.tmp", "sub/new/"]


def test_a_negation_in_an_untracked_gitignore_is_seen(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".gitignore": "*.tmp\n", "train.py": "x\n"})
    for folder in ("data", "notes"):  # in a dataset's folder, and in another one
        (repo / folder / "in").mkdir(parents=True)
        (repo / folder / ".gitignore").write_text("!keep.tmp\n")
        (repo / folder / "in" / "keep.tmp").write_text(f"{folder}\n")

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["data"])

    wanted, _ = expected_without(repo, tmp_path, "data")
    assert tree_entries(repo, state.tree) == wanted
    assert "notes/in/keep.tmp" in wanted and state.excluded == {"data": 2}


@pytest.mark.parametrize("excludes", ["info/exclude", "core.excludesFile", "default place"])
@pytest.mark.parametrize("exclude", [[], ["data"]])
def test_a_root_negation_against_a_rule_of_the_excludes_files_is_seen(
    tmp_path: Path, excludes: str, exclude: list[str]
) -> None:
    """libgit2 1.9 does not let the root .gitignore re-include what .git/info/exclude or
    the excludes file excludes; git does."""
    repo = make_repo(tmp_path / "repo", {".gitignore": "!keep.tmp\n", "a.py": "x\n"})
    rules = "# scratch files\n*.tmp\n"
    if excludes == "info/exclude":
        (repo / ".git" / "info" / "exclude").write_text(rules)
    elif excludes == "core.excludesFile":
        (tmp_path / "ignore").write_text(rules)
        git("config", "core.excludesFile", str(tmp_path / "ignore"), cwd=repo)
    else:  # the test's own (conftest: libgit2 looks there too)
        default = Path(os.environ["XDG_CONFIG_HOME"]) / "git" / "ignore"
        default.parent.mkdir(parents=True, exist_ok=True)
        default.write_text(rules)
    for name in ("keep.tmp", "other.tmp", "sub/keep.tmp", "data/keep.tmp", "data/d.csv"):
        (repo / name).parent.mkdir(exist_ok=True)
        (repo / name).write_text(name)
    assert git_untracked(repo) == ["data/d.csv", "data/keep.tmp", "keep.tmp", "sub/keep.tmp"]
    worktree = Repo.discover(repo).worktree

    state = worktree.build_worktree_tree(exclude=exclude)

    wanted, _ = expected_without(repo, tmp_path, exclude[0] if exclude else "-")
    assert tree_entries(repo, state.tree) == wanted
    assert {"keep.tmp", "sub/keep.tmp"} <= set(wanted)
    assert worktree.pending_changes() == ["data/", "keep.tmp", "sub/"]


def test_a_tracked_negation_is_found_in_an_index_of_version_4(tmp_path: Path) -> None:
    """Version 4 names an entry by what differs from the one before: "b/.gitignore"
    after "b/.gitattributes" is stored as "ignore"."""
    repo = repo_with_a_negation(tmp_path / "repo")
    (repo / "sub" / ".gitattributes").write_text("*.bin binary\n")
    git("add", "sub/.gitattributes", cwd=repo)
    git("update-index", "--index-version=4", cwd=repo)

    state = Repo.discover(repo).worktree.build_worktree_tree()

    assert "sub/keep.tmp" in tree_entries(repo, state.tree)


def test_pending_changes_name_a_file_a_nested_negation_re_includes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".gitignore": "*.tmp\n", "sub/.gitignore": "!keep.tmp\n"})
    worktree = Repo.discover(repo).worktree
    (repo / "sub" / "other.tmp").write_text("ignored\n")
    assert worktree.pending_changes() == []

    (repo / "sub" / "keep.tmp").write_text("untracked\n")

    assert worktree.pending_changes() == ["sub/keep.tmp"] == git_untracked(repo)


def test_an_escaped_exclamation_mark_is_no_negation(tmp_path: Path) -> None:
    """`\\!name` names a file starting with "!": libgit2 reads it as git does."""
    repo = make_repo(tmp_path / "repo", {"sub/.gitignore": "\\!bang\n", "a.py": "x\n"})
    (repo / "sub" / "!bang").write_text("ignored\n")
    os.symlink("a.py", repo / "sub" / "link")

    state = Repo.discover(repo).worktree.build_worktree_tree()

    assert sorted(tree_entries(repo, state.tree)) == ["a.py", "sub/.gitignore", "sub/link"]


@pytest.mark.parametrize("exclude", [[], ["data"]])
def test_a_link_to_a_folder_is_judged_as_a_link(tmp_path: Path, exclude: list[str]) -> None:
    """`cache/` is for folders: git stages the link `cache -> elsewhere`; `!*/` lets in
    folders, not a link git's `*` ignores."""
    repo = make_repo(
        tmp_path / "repo", {".gitignore": "cache/\nnotes/*\n!notes/*/\n", "a.py": "x\n"}
    )
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", repo / "cache")  # in a tracked folder
    for folder in ("data/in", "notes/in"):  # untracked folders, in a dataset or not
        (repo / folder).mkdir(parents=True)
        os.symlink(tmp_path / "elsewhere", repo / folder / "cache")
        os.symlink(".", repo / folder.replace("/in", "") / "here")
    (repo / "notes" / "in" / "n.md").write_text("kept\n")

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=exclude)

    wanted, _ = expected_without(repo, tmp_path, exclude[0] if exclude else "-")
    assert tree_entries(repo, state.tree) == wanted
    assert {"cache", "data/in/cache", "data/here", "notes/in/cache"} <= set(wanted)
    assert "notes/here" not in wanted  # a link in notes/, which `notes/*` ignores


@pytest.mark.parametrize("exclude", [[], ["data"]])
def test_a_link_among_many_ignored_files_is_judged_as_a_link(
    tmp_path: Path, exclude: list[str]
) -> None:
    """Where a folder holds many ignored files, it is read once for its links (the root too)."""
    repo = make_repo(tmp_path / "repo", {".gitignore": "*.pyc\ncache/\n", "a.py": "x\n"})
    (tmp_path / "elsewhere").mkdir()
    for folder in (repo, repo / "out", repo / "data"):
        folder.mkdir(exist_ok=True)
        for i in range(12):
            (folder / f"{i}.pyc").write_text("ignored\n")
        os.symlink(tmp_path / "elsewhere", folder / "cache")
        os.symlink("0.pyc", folder / "l.pyc")  # a link git ignores
        (folder / "n.md").write_text("not ignored\n")

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=exclude)

    wanted, _ = expected_without(repo, tmp_path, exclude[0] if exclude else "-")
    assert tree_entries(repo, state.tree) == wanted
    assert {"cache", "out/cache", "data/cache"} <= set(wanted)
    assert not {"l.pyc", "out/l.pyc", "data/l.pyc"} & set(wanted)


@pytest.mark.parametrize("exclude", [[], ["data"], ["out"]])
def test_a_link_to_a_folder_among_ignored_files_only_is_judged_as_a_link(
    tmp_path: Path, exclude: list[str]
) -> None:
    """An untracked folder where git ignores everything but a link to a folder (which a
    folder-only rule does not name): libgit2 calls the whole folder ignored."""
    repo = make_repo(tmp_path / "repo", {".gitignore": "*.pyc\ncache/\nbuild/\n", "a.py": "x\n"})
    (tmp_path / "elsewhere").mkdir()
    for folder in ("out/deep", "out/build", "data"):
        (repo / folder).mkdir(parents=True, exist_ok=True)
        (repo / folder / "1.pyc").write_text("ignored\n")
        os.symlink(tmp_path / "elsewhere", repo / folder / "cache")
    (repo / "data" / "d.csv").write_text("1\n")

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=exclude)

    wanted, _ = expected_without(repo, tmp_path, exclude[0] if exclude else "-")
    assert tree_entries(repo, state.tree) == wanted
    assert {"out/deep/cache", "data/cache"} <= set(wanted)
    assert "out/build/cache" not in wanted  # in a folder git ignores


def test_a_link_removed_from_the_index_is_judged_by_git(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": "x\n"})
    (tmp_path / "elsewhere").mkdir()
    for name in ("kept", "gone"):
        os.symlink(tmp_path / "elsewhere", repo / name)
    git("add", "kept", "gone", cwd=repo)
    git("commit", "-q", "-m", "links", cwd=repo)
    git("rm", "-q", "--cached", "kept", "gone", cwd=repo)
    # `kept/` is for folders: git stages the link again; `gone` names it, so git ignores it.
    (repo / ".gitignore").write_text("kept/\ngone\n")

    state = Repo.discover(repo).worktree.build_worktree_tree()

    wanted, _ = expected_without(repo, tmp_path, "-")
    assert tree_entries(repo, state.tree) == wanted
    assert "kept" in wanted and "gone" not in wanted


def test_an_ignored_link_named_as_an_extra_path_is_taken(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".gitignore": "*.lnk\n", "a.py": "x\n"})
    os.symlink("a.py", repo / "top.lnk")

    state = Repo.discover(repo).worktree.build_worktree_tree(extra_paths=["top.lnk"])

    assert "top.lnk" in tree_entries(repo, state.tree)


def test_links_whose_names_look_like_pathspec_magic_are_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", {".gitignore": "foo\n", "a.py": "x\n"})
    for name in (":(x)l", ":foo", ":!foo"):
        os.symlink("a.py", repo / name)
    monkeypatch.setenv("GIT_LITERAL_PATHSPECS", "1")

    state = Repo.discover(repo).worktree.build_worktree_tree()

    wanted, _ = expected_without(repo, tmp_path, "-")
    assert tree_entries(repo, state.tree) == wanted
    assert {":(x)l", ":foo", ":!foo"} <= set(wanted)


@pytest.mark.parametrize("dataset", ["F/D", "F", "data", "a.txt"])
def test_beside_a_keep_folder_file_the_datasets_are_read_and_the_rest_listed_by_git(
    tmp_path: Path, dataset: str
) -> None:
    """A tracked "keep this folder" .gitignore (`*`, `!.gitignore`): git lists the untracked
    files, less the datasets', whose folders are read: in a folder with no tracked file,
    in one holding tracked files, in a tracked file turned into a folder."""
    repo = make_repo(
        tmp_path / "repo",
        {
            ".gitignore": "*.log\nign/\n",
            "logs/.gitignore": "*\n!.gitignore\n",
            "a.txt": "a\n",
            "data/t.csv": "t\n",
        },
    )
    (repo / "a.txt").unlink()
    names = ("F/D/1.csv", "F/D/sub/2.csv", "F/D/x.log", "F/D/ign/3.csv", "F/other/o.py", "F/f.py",
             "data/new.csv", "data/sub/n.csv", "a.txt/in/b.csv", "logs/l.txt")  # fmt: skip
    for name in names:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(name)
    (tmp_path / "elsewhere").mkdir()
    for link, target in {"F/D/ign/lnk": "../1.csv", "F/D/lnk": "1.csv", "data/sub/lnk": "n.csv",
                         "a.txt/in/lnk": "b.csv", "F/lnk": "f.py"}.items():  # fmt: skip
        os.symlink(target, repo / link)
    os.symlink(tmp_path / "elsewhere", repo / "F" / "D" / "sub" / "ign")  # a link, not ign/
    make_repo(repo / "F" / "D" / "inner", {"code.py": "y\n"})

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=[dataset])

    wanted, left_out = expected_without(repo, tmp_path, dataset)
    del wanted["F/D/inner"]  # `git add -A` embeds a repository; a snapshot leaves it out
    assert tree_entries(repo, state.tree) == wanted
    assert {"F/D/lnk", "F/D/sub/ign", "data/sub/lnk", "a.txt/in/lnk"} <= set(wanted)
    assert "F/D/ign/lnk" not in wanted and "logs/l.txt" not in wanted
    # Counted: the dataset's untracked files, and those git ignores in the folders read.
    assert state.excluded[dataset] >= left_out > 0


GIT_MODES = ["keep-folder-file", "past-the-limit", "not-utf8-beside"]


def into_git_mode(repo: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each way the snapshot beside datasets comes to have git list the untracked files."""
    from gitrack.git import untracked

    if mode == "keep-folder-file":
        (repo / "logs").mkdir()
        (repo / "logs" / ".gitignore").write_text("*\n!.gitignore\n")
        git("add", "logs/.gitignore", cwd=repo)
        git("commit", "-qm", "keep logs", cwd=repo)
    elif mode == "past-the-limit":
        monkeypatch.setattr(untracked, "JUDGED_AT_MOST", 0)
    else:
        (repo / "up" / os.fsdecode(b"caf\xe9")).write_text("x\n")


@pytest.mark.parametrize("mode", GIT_MODES)
def test_a_dataset_that_is_a_link_in_an_untracked_folder_is_staged_as_a_link(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git names a link as a file: a pathspec `up/data/` never matched it (review)."""
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n"})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.csv").write_text("1\n")
    (repo / "up").mkdir()
    (repo / "up" / "notes.md").write_text("n\n")
    os.symlink(tmp_path / "elsewhere", repo / "up" / "data")
    into_git_mode(repo, mode, monkeypatch)
    wanted, _ = expected_without(repo, tmp_path, "up/data")
    assert "up/data" in wanted
    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["up/data"])
    assert tree_entries(repo, state.tree) == wanted


def test_past_a_few_hundred_untracked_folders_git_lists_all_but_the_datasets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One pathspec a folder costs git a match of each against each path: past the limit,
    one list less the datasets, the same tree and the same datasets left out (review)."""
    from gitrack.git import ignores

    monkeypatch.setattr(ignores, "_FOLDER_SPECS_AT_MOST", 2)
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "*.log\n"})
    into_git_mode(repo, "keep-folder-file", monkeypatch)
    for n in range(5):
        (repo / f"u{n}" / "deep").mkdir(parents=True)
        (repo / f"u{n}" / "deep" / "f.txt").write_text(f"{n}\n")
        (repo / f"u{n}" / "x.log").write_text("ignored\n")
    (repo / "u0" / "data").mkdir()
    for n in range(3):
        (repo / "u0" / "data" / f"{n}.csv").write_text(f"{n}\n")
    wanted, _ = expected_without(repo, tmp_path, "u0/data")
    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["u0/data"])
    assert tree_entries(repo, state.tree) == wanted
    assert not any(path.startswith("u0/data") for path in wanted)


def test_a_negation_in_info_exclude_against_the_excludes_file_is_git_s(tmp_path: Path) -> None:
    """git ranks .git/info/exclude above core.excludesFile (review)."""
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n"})
    (tmp_path / "global-ignore").write_text("*.log\n")
    git("config", "core.excludesFile", str(tmp_path / "global-ignore"), cwd=repo)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("!keep.log\n")
    (repo / "keep.log").write_text("k\n")
    (repo / "other.log").write_text("o\n")
    wanted, _ = expected_without(repo, tmp_path, "data")
    assert "keep.log" in wanted and "other.log" not in wanted
    worktree = Repo.discover(repo).worktree
    assert tree_entries(repo, worktree.build_worktree_tree().tree) == wanted
    assert "keep.log" in worktree.pending_changes()


@pytest.mark.parametrize("exclude", [[], ["data"]], ids=["alone", "beside-a-dataset"])
def test_a_negation_in_an_ignored_untracked_gitignore_is_git_s(
    tmp_path: Path, exclude: list[str]
) -> None:
    """A whitelist ignores src/.gitignore itself; git reads its rules all the same
    (review)."""
    files = {"train.py": "x\n", "src/a.py": "", ".gitignore": "*\n!*/\n!*.py\n!/.gitignore\n"}
    repo = make_repo(tmp_path / "repo", files)
    (repo / "src" / ".gitignore").write_text("!keep.txt\n")
    (repo / "src" / "keep.txt").write_text("k\n")
    (repo / "data").mkdir()
    (repo / "data" / "a.py").write_text("1\n")
    wanted = (
        expected_without(repo, tmp_path, "data")[0]
        if exclude
        else full_tree_entries(repo, tmp_path)
    )
    assert "src/keep.txt" in wanted
    worktree = Repo.discover(repo).worktree
    state = worktree.build_worktree_tree(exclude=exclude)
    assert tree_entries(repo, state.tree) == wanted
    assert "src/keep.txt" in worktree.pending_changes()


def test_pending_changes_judge_untracked_links_as_git_does(tmp_path: Path) -> None:
    """`data/` ignores a folder, not the link data -> elsewhere, which git stages: a
    checkout over it would lose it (review). `!*/` does not let in a link git ignores."""
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "data/\n*.l\n!*/\n"})
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", repo / "data")
    os.symlink(tmp_path / "elsewhere", repo / "folder.l")
    worktree = Repo.discover(repo).worktree
    staged = tree_entries(repo, worktree.build_worktree_tree().tree)
    assert "data" in staged and "folder.l" not in staged
    pending = worktree.pending_changes()
    assert "data" in pending and "folder.l" not in pending
