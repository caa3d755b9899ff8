"""The code style the project holds itself to, checked with the suite: ruff and mypy --strict."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> list[str]:
    if shutil.which(name) is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return [name]


@pytest.mark.parametrize(
    "args",
    [["check", "."], ["format", "--check", "."]],
    ids=["ruff-check", "ruff-format"],
)
def test_ruff(args: list[str]) -> None:
    proc = subprocess.run([*_tool("ruff"), *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_only_the_git_package_imports_pygit2() -> None:
    """scmrepo's rule: one package owns git access (ruff's banned-api enforces it too)."""
    imports = re.compile(r"^\s*(import pygit2|from pygit2)", re.MULTILINE)
    git_package = ROOT / "gitrack" / "git"
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "gitrack").rglob("*.py")
        if git_package not in p.parents and imports.search(p.read_text())
    ]
    assert offenders == []
