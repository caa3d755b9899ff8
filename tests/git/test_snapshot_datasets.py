"""A snapshot leaves a run's datasets out (their untracked regular files: the data cache
holds them) and is otherwise exactly what `git add -A` stages.

The snapshot reads the untracked folders git reports itself instead of having status list
each file (untracked.status_for_snapshot), and has git list the untracked files for what
it cannot judge (a name that is not UTF-8) and where libgit2 misjudges the ignore rules (a
negation below the root): each way must give the same tree, whatever the ignore rules,
links, nested folders and tracked files there, in the datasets and beside them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import git, make_repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import Op, apply_ops, make_base_repo, mutation_lists

from gitrack.git import Repo, untracked

IGNORES = (
    *("", "*.tmp\n", "ign/\n", "*.tmp\nign/\n", "/data/\n", "data/a/\n", "*.tmp\n!k.tmp\n"),
    "a/\n",
    "a/\n!a/b/*\n",  # a folder excluded: nothing below it comes back (libgit2 #7283)
    "*\n!*/\n!f\n!.gitignore\n",  # only what is let in
)
DATASETS = ("data", "dir", "dir/sub", "data/a")
_name = st.sampled_from(["f", "k.tmp", "x.tmp", "é 名", "g.bin"])
_folder = st.sampled_from(["", "a/", "a/b/", "ign/", "ign/c/", "sub/"])
_kind = st.sampled_from(
    ["file", "file", "exec", "link", "broken link", "folder link", "empty", "rules", "negations"]
)
dataset_entries = st.lists(st.tuples(_kind, _folder, _name), max_size=12)
# A tracked .gitignore below the root holding a negation (so git lists the untracked files,
# see ignores.py): none, a "keep this folder" file, one re-including what others exclude.
NESTED_RULES = ("", "*\n!.gitignore\n", "!k.tmp\n!x.tmp\n!a/\n")
nested_negation = st.tuples(st.sampled_from(NESTED_RULES), st.sampled_from(["logs", *DATASETS]))


def full_tree_entries(repo: Path, scratch: Path) -> dict[str, str]:
    """path -> "mode oid" of the tree `git add -A` would stage (in a copy of the index)."""
    env = {**os.environ, "GIT_INDEX_FILE": str(scratch / "oracle-index")}
    shutil.copyfile(repo / ".git" / "index", scratch / "oracle-index")
    subprocess.run(["git", "add", "-A"], cwd=repo, env=env, check=True, capture_output=True)
    tree = subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    return tree_entries(repo, tree)


def tree_entries(repo: Path, tree: str) -> dict[str, str]:
    listing = subprocess.run(["git", "ls-tree", "-r", "-z", tree], cwd=repo, capture_output=True)
    out = {}
    for line in os.fsdecode(listing.stdout).split("\0"):  # a name need not be UTF-8
        if line:
            meta, path = line.split("\t", 1)
            mode, _, oid = meta.split()
            out[path] = f"{mode} {oid}"
    return out


def expected_without(repo: Path, scratch: Path, dataset: str) -> tuple[dict[str, str], int]:
    """`git add -A`'s tree less the dataset's untracked regular files; how many those are."""
    full = full_tree_entries(repo, scratch)
    indexed = set(git("ls-files", "-z", cwd=repo).split("\0"))
    left_out = {
        path
        for path, meta in full.items()
        if (path == dataset or path.startswith(dataset + "/"))
        and meta.split()[0] in ("100644", "100755")
        and path not in indexed
    }
    return {p: m for p, m in full.items() if p not in left_out}, len(left_out)


def write_dataset(repo: Path, dataset: str, entries: list[tuple[str, str, str]]) -> None:
    for kind, folder, name in entries:
        path = repo / dataset / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            continue
        if kind == "empty":
            path.mkdir()
        elif kind in ("rules", "negations"):  # the folder's own .gitignore
            rules = "g.bin\nb/\n/f\n" if kind == "rules" else "!x.tmp\n!a/\n"
            path.with_name(".gitignore").write_text(rules)
        elif kind.endswith("link"):
            target = {"link": "../f", "broken link": "nowhere", "folder link": "."}[kind]
            os.symlink(target, path)
        else:
            path.write_text(f"{kind} {folder}{name}\n")
            if kind == "exec":
                os.chmod(path, 0o755)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.one_of(st.just([]), mutation_lists),  # none: nothing untracked beside the dataset
    dataset=st.sampled_from(DATASETS),
    entries=dataset_entries,
    beside=dataset_entries,
    ignore=st.sampled_from(IGNORES),
    nested=nested_negation,
)
def test_a_snapshot_without_a_dataset_is_git_add_all_less_its_untracked_files(
    ops: list[Op],
    dataset: str,
    entries: list[tuple[str, str, str]],
    beside: list[tuple[str, str, str]],
    ignore: str,
    nested: tuple[str, str],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_base_repo(Path(tmp) / "src")
        apply_ops(repo, ops)
        if ignore:
            (repo / ".gitignore").write_text(ignore)
        if (repo / dataset).is_file() or (repo / dataset).is_symlink():
            return  # the mutations left a file where the dataset would be
        rules, folder = nested
        on_the_way = [repo / "/".join(folder.split("/")[:n]) for n in (1, 2)]
        if rules and not any(p.is_file() or p.is_symlink() for p in on_the_way):
            (repo / folder).mkdir(parents=True, exist_ok=True)
            (repo / folder / ".gitignore").write_text(rules)
            git("add", "-f", f"{folder}/.gitignore", cwd=repo)  # tracked: in the index
        write_dataset(repo, dataset, entries)
        write_dataset(repo, "new", beside)  # untracked, outside the dataset

        state = Repo.discover(repo).worktree.build_worktree_tree(exclude=[dataset])

        wanted, left_out = expected_without(repo, Path(tmp), dataset)
        assert tree_entries(repo, state.tree) == wanted
        counted = state.excluded.get(dataset, 0)
        # Files that git ignores, in a folder git reports as untracked, are counted too (in
        # the folders below it that git ignores as well, where git lists the untracked files).
        ignores_some = bool(ignore or nested[0]) or any(kind == "rules" for kind, _, _ in entries)
        assert counted >= left_out if ignores_some else counted == left_out
        entries, excluded = built_beside_an_untracked_folder(repo, dataset)
        assert entries == wanted  # the same tree whichever way status was asked
        assert bool(excluded) == bool(state.excluded)


def built_beside_an_untracked_folder(
    repo: Path, dataset: str, extra_paths: tuple[str, ...] = ()
) -> tuple[dict[str, str], dict[str, int]]:
    """The snapshot's entries and counts, built while an untracked folder outside the
    dataset holds a file whose name is not UTF-8 (so git lists the untracked files),
    less that folder."""
    beside = repo / "zz beside"
    beside.mkdir()
    (beside / "f.txt").write_text("beside\n")
    Path(os.fsdecode(os.fsencode(beside) + b"/\xff.txt")).write_text("not UTF-8\n")
    try:
        built = Repo.discover(repo).worktree.build_worktree_tree(
            extra_paths=extra_paths, exclude=[dataset]
        )
    finally:
        shutil.rmtree(beside)
    entries = tree_entries(repo, built.tree)
    for name in (b"zz beside/f.txt", b"zz beside/\xff.txt"):  # unless the rules ignore them
        entries.pop(os.fsdecode(name), None)
    return entries, built.excluded


def test_a_dataset_folder_holding_a_repository_of_its_own_is_left_alone(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n"})
    make_repo(repo / "data" / "inner", {"code.py": "y\n"})
    (repo / "data" / "f.csv").write_text("1,2\n")
    os.symlink("f.csv", repo / "data" / "link")
    os.symlink("code.py", repo / "data" / "inner" / "link")

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["data"])

    assert sorted(tree_entries(repo, state.tree)) == ["data/link", "train.py"]
    assert state.excluded == {"data": 1}


def test_an_untracked_folder_beside_the_dataset_is_captured_file_by_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n"})
    for name in ("data/a.csv", "data/b/c.csv", "scripts/new.py", "scripts/lib/util.py"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(name)

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["data"])

    paths = sorted(tree_entries(repo, state.tree))
    assert paths == ["scripts/lib/util.py", "scripts/new.py", "train.py"]
    assert state.excluded == {"data": 2}


def tree_paths(repo: Path, tree: str) -> set[bytes]:
    """The paths of a tree as git has them (bytes: a name need not be UTF-8)."""
    out = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--name-only", tree], cwd=repo, capture_output=True
    ).stdout
    return set(out.split(b"\0")) - {b""}


def test_links_in_a_dataset_whose_names_are_not_utf8_stay_in_the_snapshot(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n"})
    folder = os.fsencode(repo / "data")
    os.makedirs(os.path.join(folder, b"\xfd dir"))
    (repo / "data" / "f.csv").write_text("1\n")
    os.symlink(b"../f.csv", os.path.join(folder, b"\xfd dir", b"link"))
    os.symlink(b"f.csv", os.path.join(folder, b"\xfelink"))
    os.symlink(b"f.csv", os.path.join(folder, b"ok"))
    (repo / "data" / "g.csv").write_text("2\n")

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["data"])

    assert tree_paths(repo, state.tree) == {
        b"data/\xfd dir/link",
        b"data/\xfelink",
        b"data/ok",
        b"train.py",
    }
    assert state.warnings == [] and state.excluded == {"data": 2}
    assert built_beside_an_untracked_folder(repo, "data")[0] == tree_entries(repo, state.tree)


def test_a_folder_whose_git_link_leads_nowhere_is_read_as_git_reads_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n"})
    (repo / "data" / "x" / "d").mkdir(parents=True)
    (repo / "data" / "x" / "f").write_text("f\n")
    os.symlink("nowhere", repo / "data" / "x" / "d" / ".git")
    os.symlink("../f", repo / "data" / "x" / "d" / "lnk")

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["data"])

    assert sorted(tree_entries(repo, state.tree)) == ["data/x/d/lnk", "train.py"]
    assert built_beside_an_untracked_folder(repo, "data")[0] == tree_entries(repo, state.tree)


def test_a_file_removed_from_the_index_in_a_dataset_gives_one_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", "data/x/t.csv": "t\n"})
    git("rm", "-r", "-q", "--cached", "data/x", cwd=repo)

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["data"])

    assert built_beside_an_untracked_folder(repo, "data")[0] == tree_entries(repo, state.tree)
    assert state.excluded == {"data": 1}


def test_a_dataset_whose_files_git_all_ignores_is_not_said_to_be_unignored(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "*.csv\n"})
    write = {f"data/{i}.csv": f"{i}\n" for i in range(5)}
    for name, text in write.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    os.symlink("0.csv", repo / "data" / "latest")

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["data"])

    assert sorted(tree_entries(repo, state.tree)) == [".gitignore", "data/latest", "train.py"]
    assert state.excluded == {}


def test_a_folder_named_as_an_extra_path_inside_a_dataset_is_read(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n"})
    (repo / "data" / "x" / "d").mkdir(parents=True)
    (repo / "data" / "x" / "f").write_text("f\n")
    os.symlink("../f", repo / "data" / "x" / "d" / "lnk")

    worktree = Repo.discover(repo).worktree
    state = worktree.build_worktree_tree(extra_paths=["data/x/d"], exclude=["data"])

    assert "data/x/d/lnk" in tree_entries(repo, state.tree)
    beside, _ = built_beside_an_untracked_folder(repo, "data", extra_paths=("data/x/d",))
    assert beside == tree_entries(repo, state.tree)


def test_an_untracked_folder_holding_the_dataset_is_read_beside_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "*.log\n"})
    files = ("data/a/1.csv", "data/a/2.csv", "data/notes.md", "data/b/c.py", "data/b/d.log")
    for name in files:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(name)
    os.symlink("1.csv", repo / "data" / "a" / "latest")
    os.symlink("a", repo / "data" / "current")
    make_repo(repo / "data" / "inner", {"code.py": "y\n"})

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["data/a"])

    wanted, left_out = expected_without(repo, tmp_path, "data/a")
    del wanted["data/inner"]  # `git add -A` embeds a repository; a snapshot leaves it out
    assert tree_entries(repo, state.tree) == wanted
    assert sorted(wanted) == [
        ".gitignore",
        "data/a/latest",
        "data/b/c.py",
        "data/current",
        "data/notes.md",
        "train.py",
    ]
    assert state.excluded == {"data/a": 2} and left_out == 2
    assert built_beside_an_untracked_folder(repo, "data/a")[0] == wanted


def test_a_dataset_file_removed_from_the_index_is_not_kept_as_head_had_it(tmp_path: Path) -> None:
    """`git rm` of a committed file in the dataset, then written again: an untracked file of
    the dataset (in the data cache), so neither its new bytes nor HEAD's are in the tree."""
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", "data/c.csv": "old\n"})
    git("rm", "-q", "data/c.csv", cwd=repo)
    (repo / "data").mkdir()
    (repo / "data" / "c.csv").write_text("new\n")

    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["data"])

    assert sorted(tree_entries(repo, state.tree)) == ["train.py"]
    assert state.excluded == {"data": 1}


def past_the_limit_as_git(
    repo: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch, left_out: int
) -> dict[str, str]:
    """The snapshot less ``data`` past JUDGED_AT_MOST is `git add -A`'s tree less the
    dataset's ``left_out`` untracked files, counted; that tree."""
    wanted, counted = expected_without(repo, scratch, "data")
    monkeypatch.setattr(untracked, "JUDGED_AT_MOST", 1)
    state = Repo.discover(repo).worktree.build_worktree_tree(exclude=["data"])
    assert tree_entries(repo, state.tree) == wanted
    assert state.excluded == {"data": counted} and counted == left_out
    return wanted


def test_many_files_to_judge_beside_a_dataset_are_listed_by_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past JUDGED_AT_MOST files to judge outside the datasets, git lists the untracked
    files (the datasets' folders still read): the same tree."""
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "*.log\ncache/\n"})
    (tmp_path / "elsewhere").mkdir()
    for name in ("notes/a.md", "notes/b.log", "notes/sub/c.md", "data/1.csv", "data/d/2.csv"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(name)
    os.symlink(tmp_path / "elsewhere", repo / "notes" / "cache")  # a link: git stages it
    os.symlink("1.csv", repo / "data" / "latest")
    wanted = past_the_limit_as_git(repo, tmp_path, monkeypatch, left_out=2)
    assert {"notes/a.md", "notes/sub/c.md", "notes/cache", "data/latest"} <= set(wanted)


def test_past_the_limit_a_negation_in_an_untracked_gitignore_is_still_git_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git lists the untracked files past JUDGED_AT_MOST; libgit2's rules still read the
    datasets' folders, unless an untracked .gitignore holds a negation, which libgit2
    misjudges (`!ign/` re-includes data/ign/ for git, not for libgit2)."""
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "ign/\n"})
    for name in ("notes/a.md", "notes/b.md", "data/1.csv", "data/ign/2.csv"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(name)
    (repo / "data" / ".gitignore").write_text("!ign/\n")
    os.symlink("2.csv", repo / "data" / "ign" / "latest")
    wanted = past_the_limit_as_git(repo, tmp_path, monkeypatch, left_out=3)
    assert "data/ign/latest" in wanted


def test_past_the_limit_the_datasets_are_counted_as_below_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dataset git lists for a link, whose only file is in a folder git ignores: nothing
    said of it, whichever way the untracked files were found."""
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "data/a/\n"})
    for name in ("notes/a.md", "notes/b.md", "data/a/f.csv"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(name)
    os.symlink("../train.py", repo / "data" / "link")
    worktree = Repo.discover(repo).worktree
    below = worktree.build_worktree_tree(exclude=["data"])
    monkeypatch.setattr(untracked, "JUDGED_AT_MOST", 1)

    past = worktree.build_worktree_tree(exclude=["data"])

    assert past.tree == below.tree and "data/link" in tree_entries(repo, past.tree)
    assert past.excluded == below.excluded == {}
