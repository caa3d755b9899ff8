"""Paths from notes are untrusted: relative, no '..', not in .git, no symlink out of the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitrack.errors import GitrackError
from gitrack.paths import (
    UnsafePathError,
    check_relative,
    check_relative_name,
    repo_relative,
    safe_target,
)


@pytest.mark.parametrize(
    "path",
    [
        "data/train.csv",
        "data",
        "a b/c d.txt",
        "名前/ünï.bin",
        "-leading-dash",
        "data/.hidden",
        "data/..hidden",
        "data/.gitignore",  # a file *named* like git's, not the .git folder
        "x.git",
    ],
)
def test_check_relative_accepts_ordinary_paths(path: str) -> None:
    assert check_relative(path).as_posix() == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "//server/share",
        "\\windows\\path",
        "C:/Windows",
        "c:relative",
        "..",
        "../x",
        "data/../../x",
        "data/..",
        "a\\..\\b",
        ".git",
        ".git/config",
        "sub/.git/hooks/pre-commit",
        ".GIT/config",  # case-insensitive file systems
        "data/.Git",
        "a\x00b",
    ],
)
def test_check_relative_refuses(path: str) -> None:
    with pytest.raises(UnsafePathError):
        check_relative(path)


@pytest.mark.parametrize("path", [".", "./", "./."])
def test_check_relative_refuses_dot_paths(path: str) -> None:
    """'.' names the repository root itself (PurePosixPath('.').parts == ()).

    As a dataset path in a forged note, `gitrack checkout` restored the *whole working
    tree* as that folder, deleting every file not in the manifest (fixed in 2cf6816; see
    test_data.py::test_forged_dot_dataset_does_not_wipe_the_working_tree).
    """
    with pytest.raises(UnsafePathError):
        check_relative(path)


def test_unsafe_path_error_names_the_path() -> None:
    with pytest.raises(UnsafePathError) as info:
        check_relative("../secret")
    assert info.value.path == "../secret"
    assert "'../secret'" in str(info.value)
    assert isinstance(info.value, GitrackError)


# ------------------------------------------------------------------ safe_target
@pytest.fixture
def root(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "data" / "real").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return repo


def test_safe_target_of_plain_and_missing_paths(root: Path) -> None:
    assert safe_target(root, "data/real/x") == root / "data" / "real" / "x"
    assert safe_target(root, "not/yet/there") == root / "not" / "yet" / "there"


def test_symlink_inside_the_repository_is_allowed(root: Path) -> None:
    os.symlink("data/real", root / "inside")
    assert safe_target(root, "inside/x") == root / "inside" / "x"


@pytest.mark.parametrize("link", ["../outside", "ABSOLUTE", "data/../../outside", "/"])
def test_symlink_out_of_the_repository_is_refused(root: Path, link: str) -> None:
    target = str(root.parent / "outside") if link == "ABSOLUTE" else link
    os.symlink(target, root / "escape")
    with pytest.raises(UnsafePathError, match="symlink out of the repository"):
        safe_target(root, "escape/file")
    with pytest.raises(UnsafePathError):
        safe_target(root, "escape")


def test_symlink_chain_out_of_the_repository_is_refused(root: Path) -> None:
    os.symlink("../../outside", root / "data" / "hop")
    os.symlink("data/hop", root / "first")
    with pytest.raises(UnsafePathError):
        safe_target(root, "first/file")


def test_nested_symlink_out_is_refused(root: Path) -> None:
    os.symlink(str(root.parent / "outside"), root / "data" / "real" / "deep")
    with pytest.raises(UnsafePathError):
        safe_target(root, "data/real/deep/x")


@pytest.mark.parametrize("link", [".git", ".git/hooks", "data/../.git"])
def test_symlink_into_the_git_dir_is_refused(root: Path, link: str) -> None:
    """A link inside the repository to .git does not *leave* the root, yet writing through
    it is code execution: the snapshot of a forged run can hold such a link, and a data
    path 'foo/config' then wrote .git/config (core.fsmonitor, core.hooksPath). Fixed in
    2cf6816; see test_data.py::test_forged_symlink_into_git_dir_cannot_write_git_config.
    """
    (root / ".git" / "hooks").mkdir()
    os.symlink(link, root / "foo")
    with pytest.raises(UnsafePathError):
        safe_target(root, "foo/config")


def test_symlink_into_a_nested_repositorys_git_dir_is_refused(root: Path) -> None:
    """Regression: safe_target refuses a link whose target's *first* part is .git only
    (`inside[0].lower() == ".git"`, gitrack/paths.py). A link to 'vendor/lib/.git' (an
    embedded repository in the work tree) passes, so a forged data path 'foo/config'
    writes vendor/lib/.git/config: code execution at the next `git` in vendor/lib.
    check_relative refuses '.git' as *any* part; the link check should too."""
    (root / "vendor" / "lib" / ".git").mkdir(parents=True)
    os.symlink("vendor/lib/.git", root / "foo")
    with pytest.raises(UnsafePathError):
        safe_target(root, "foo/config")


# ----------------------------------------------------------------- repo_relative
def test_repo_relative_of_relative_and_absolute_paths(root: Path) -> None:
    assert repo_relative(root, root / "data" / "real") == "data/real"
    assert repo_relative(root, root / "data" / "real" / ".." / "x") == "data/x"


def test_repo_relative_keeps_the_last_symlink(root: Path) -> None:
    os.symlink(str(root.parent / "outside"), root / "link")
    assert repo_relative(root, root / "link") == "link"  # a dataset may be a link


def test_repo_relative_through_a_symlinked_repository_path(root: Path, tmp_path: Path) -> None:
    os.symlink(root, tmp_path / "alias")
    assert repo_relative(root, tmp_path / "alias" / "data" / "x") == "data/x"


@pytest.mark.parametrize("where", ["outside/x", "repo", "repo/."])
def test_repo_relative_refuses_outside_and_the_root(root: Path, where: str) -> None:
    with pytest.raises(GitrackError):
        repo_relative(root, root.parent / where)


def test_repo_relative_refuses_a_path_through_a_link_out(root: Path) -> None:
    os.symlink(str(root.parent / "outside"), root / "link")
    with pytest.raises(GitrackError, match="outside the repository"):
        repo_relative(root, root / "link" / "file")


def test_atomic_file_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    from gitrack.paths import atomic_file, write_atomically

    target = tmp_path / "out.txt"
    write_atomically(target, "old")
    with pytest.raises(RuntimeError), atomic_file(target) as temp:
        temp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"  # untouched, and no temp file left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    write_atomically(target, b"new", mode=0o751)
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o751
    with atomic_file(target, keep_suffix=True) as first, atomic_file(target) as second:
        assert first != second and first.suffix == ".txt"  # never one temp for two writers
        first.write_text("1")
        second.write_text("2")
    assert target.read_text() == "1"


def test_check_relative_name_decides_as_check_relative() -> None:
    """The regex fast path accepts and refuses exactly what check_relative does."""
    import itertools

    alphabet = ["a", "G", "git", ".", "..", "/", "-", "_", ":", "\\", " ", "~1", "é", "\x00"]
    for size in range(1, 5):
        for parts in itertools.product(alphabet, repeat=size):
            path = "".join(parts)
            try:
                check_relative(path)
                refused = False
            except UnsafePathError:
                refused = True
            if refused:
                with pytest.raises(UnsafePathError):
                    check_relative_name(path)
            else:
                check_relative_name(path)
