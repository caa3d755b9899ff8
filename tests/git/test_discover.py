"""git.discover: the git common dir found without running git, as git finds it.

The spec is git itself: in each shape, the answer must be what `git rev-parse
--path-format=absolute --git-common-dir` prints there (None where git says "not a git
repository")."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import git, make_repo

from gitrack.git import discover
from gitrack.git.discover import find_common_dir


def git_says(folder: Path, env: dict[str, str] | None = None) -> Path | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return Path(os.path.realpath(proc.stdout.strip())) if proc.returncode == 0 else None


def found(folder: Path) -> Path | None:
    common = find_common_dir(folder)
    return Path(os.path.realpath(common)) if common is not None else None


def _count_git_asks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders git is asked about from now on (it still answers)."""
    asked: list[Path] = []
    ask_git = discover._ask_git

    def counted(start: Path) -> Path | None:
        asked.append(start)
        return ask_git(start)

    monkeypatch.setattr(discover, "_ask_git", counted)
    return asked


@pytest.fixture
def shapes(tmp_path: Path) -> dict[str, Path]:
    """One folder per shape: a work tree and its subfolders, inside its git dir, a linked
    worktree, a submodule, a bare repository, a plain folder outside any repository."""
    main = make_repo(tmp_path / "main", {"a/b/c.txt": "c\n"})
    git("worktree", "add", "-q", str(tmp_path / "linked"), cwd=main)
    (tmp_path / "linked" / "sub").mkdir()
    sub = make_repo(tmp_path / "subsource", {"s.txt": "s\n"})
    git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "mod", cwd=main)
    git("clone", "-q", "--bare", str(main), str(tmp_path / "bare.git"), cwd=tmp_path)
    (tmp_path / "outside" / "deep").mkdir(parents=True)
    return {
        "root": main,
        "subfolder": main / "a" / "b",
        "git dir": main / ".git",
        "inside the git dir": main / ".git" / "refs" / "heads",
        "linked worktree": tmp_path / "linked",
        "inside a linked worktree": tmp_path / "linked" / "sub",
        "the linked worktree's git dir": main / ".git" / "worktrees" / "linked",
        "submodule": main / "mod",
        "the submodule's git dir": main / ".git" / "modules" / "mod",
        "bare": tmp_path / "bare.git",
        "inside a bare repository": tmp_path / "bare.git" / "objects",
        "outside": tmp_path / "outside" / "deep",
    }


def test_every_shape_is_found_where_git_finds_it_the_ordinary_ones_without_git(
    shapes: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = {name: git_says(folder) for name, folder in shapes.items()}
    assert expected["outside"] is None  # the test's own folder is in no repository
    assert expected["submodule"] == expected["the submodule's git dir"]
    asked = _count_git_asks(monkeypatch)
    assert {name: found(folder) for name, folder in shapes.items()} == expected
    # A folder that is a git dir itself, but not a `.git`: git decides (a bare repository
    # may be refused, safe.bareRepository); every other shape is decided without git.
    git_decides = ["the linked worktree's git dir", "the submodule's git dir", "bare"]
    assert asked == [shapes[name] for name in [*git_decides, "inside a bare repository"]]


def test_heads_of_other_shapes_and_bare_repositories_are_left_to_git(tmp_path: Path) -> None:
    """A HEAD git accepts in shapes not checked here (a symbolic link, `ref:` without a
    space, CRLF), and a bare repository inside a work tree (refused by git under
    safe.bareRepository=explicit): what git says, not the work tree around them."""
    outer = make_repo(tmp_path / "outer")
    heads = {"link": None, "nospace": b"ref:refs/heads/main\n", "crlf": b"ref: refs/heads/main\r\n"}
    for name, text in heads.items():
        bare = outer / f"{name}.git"
        git("init", "-q", "--bare", str(bare), cwd=tmp_path)
        (bare / "HEAD").unlink()
        if text is None:
            (bare / "HEAD").symlink_to("refs/heads/main")
        else:
            (bare / "HEAD").write_bytes(text)
        for folder in (bare, bare / "objects"):
            assert found(folder) == git_says(folder) == bare.resolve(), (name, folder)
    git("config", "--global", "safe.bareRepository", "explicit", cwd=tmp_path)
    inside = outer / "crlf.git" / "objects"
    assert git_says(inside) is None
    assert found(inside) is None


def test_shapes_git_alone_decides_are_left_to_git(
    shapes: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A discovery variable, a `.git` file that is not a pointer, a `.git` folder that is
    no repository (git looks further up), a linked worktree whose git dir is gone."""
    root = shapes["root"]
    odd = root / "odd"
    (odd / "pointer").mkdir(parents=True)
    (odd / "pointer" / ".git").write_text("not a pointer\n")
    (odd / "empty" / ".git").mkdir(parents=True)
    shutil.rmtree(root / ".git" / "worktrees" / "linked")
    cases = [odd / "pointer", odd / "empty", shapes["linked worktree"]]
    asked = _count_git_asks(monkeypatch)
    for folder in cases:
        assert found(folder) == git_says(folder), folder
    assert asked == cases
    monkeypatch.setenv("GIT_DIR", str(shapes["bare"]))
    assert found(shapes["outside"]) == git_says(shapes["outside"]) == shapes["bare"].resolve()
    assert len(asked) == 4


def test_a_folder_reached_through_a_symlink_is_in_the_repository_of_its_target(
    shapes: dict[str, Path], tmp_path: Path
) -> None:
    link = tmp_path / "link"
    link.symlink_to(shapes["subfolder"])
    assert found(link) == git_says(link) == (shapes["root"] / ".git").resolve()


def test_the_search_stops_below_a_ceiling_directory(
    shapes: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIT_CEILING_DIRECTORIES (a colon-separated list): git does not look in a ceiling or
    above it, but a start folder that is itself a ceiling is still looked in."""
    root, subfolder = shapes["root"], shapes["subfolder"]
    for ceilings in (f"{root / 'a'}", f"/nowhere:{root}", f"{root}:{subfolder}"):
        monkeypatch.setenv("GIT_CEILING_DIRECTORIES", ceilings)
        assert found(subfolder) == git_says(subfolder), ceilings
        assert found(root) == git_says(root) == (root / ".git").resolve(), ceilings
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(root / "a"))
    assert git_says(subfolder) is None
