"""libgit2 reads the config files git's environment names (GIT_CONFIG_NOSYSTEM,
GIT_CONFIG_SYSTEM, GIT_CONFIG_GLOBAL), so a snapshot is what the user's `git add -A`
stages: a filter configured in a file git does not read is not applied, and one git
reads is."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import git

from gitrack.git import Repo

UPPER = '[filter "up"]\n\tclean = tr a-z A-Z\n\tsmudge = cat\n'


def oracle_tree(repo: Path) -> str:
    """The tree `git add -A` stages, from a copy of the user's index."""
    index = repo.parent / "oracle-index"
    index.write_bytes((repo / ".git" / "index").read_bytes())
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    for args in (["add", "-A"], ["write-tree"]):
        out = subprocess.run(
            ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
        )
    return out.stdout.strip()


def snapshot_tree(repo: Path) -> str:
    return Repo.discover(repo).worktree.build_worktree_tree().tree


@pytest.fixture
def filtered(repo: Path) -> Path:
    (repo / ".gitattributes").write_text("*.txt filter=up\n")
    (repo / "a.txt").write_text("lower case\n")
    return repo


@pytest.mark.parametrize(
    ("variables", "applied"),
    [
        ({"GIT_CONFIG_SYSTEM": "{cfg}"}, True),
        ({"GIT_CONFIG_SYSTEM": "{cfg}", "GIT_CONFIG_NOSYSTEM": "1"}, False),
        ({"GIT_CONFIG_SYSTEM": "{cfg}", "GIT_CONFIG_NOSYSTEM": "false"}, True),
        ({"GIT_CONFIG_GLOBAL": "{cfg}"}, True),
        ({"GIT_CONFIG_GLOBAL": "{home_cfg}"}, True),
        ({"GIT_CONFIG_GLOBAL": os.devnull, "home": True}, False),
        ({"home": True}, True),
    ],
    ids=["system", "nosystem", "nosystem-false", "global", "global-dotname", "global-null",
         "home"],
)  # fmt: skip
def test_the_config_files_git_reads_are_the_ones_read(
    filtered: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    isolated_git: Path,
    variables: dict[str, object],
    applied: bool,
) -> None:
    cfg = tmp_path / "team.cfg"
    cfg.write_text(UPPER)
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    (elsewhere / ".gitconfig").write_text(UPPER)
    monkeypatch.delenv("GIT_CONFIG_NOSYSTEM")
    for name, value in variables.items():
        if name == "home":
            with (isolated_git / ".gitconfig").open("a") as home_config:
                home_config.write(UPPER)
            continue
        text = str(value).format(cfg=cfg, home_cfg=elsewhere / ".gitconfig")
        monkeypatch.setenv(name, text)
    if "GIT_CONFIG_SYSTEM" not in variables:
        monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")  # not the machine's /etc/gitconfig
    expected = oracle_tree(filtered)
    blob = git("rev-parse", f"{expected}:a.txt", cwd=filtered).strip()
    assert git("cat-file", "-p", blob, cwd=filtered) == (
        "LOWER CASE\n" if applied else "lower case\n"
    )  # git's own reading, the spec
    assert snapshot_tree(filtered) == expected
