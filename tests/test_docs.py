"""Docs where users look: every command and option of the CLI is in the README (in its
command's section), and every command's --help has an example (sqlite-utils does this)."""

from __future__ import annotations

import re
from pathlib import Path

import click  # noqa: TID251 - reads the command line's options
import pytest

from gitrack.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
COMMANDS = sorted(cli.commands)


def _section(name: str) -> str:
    """The README text under the `### ` heading that names `gitrack NAME`."""
    parts = re.split(r"^(### .*)$", README, flags=re.MULTILINE)
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        if f"`gitrack {name}`" in heading:
            return body.split("\n## ")[0]
    return ""


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_a_readme_section(name: str) -> None:
    assert _section(name), f"README.md has no '### `gitrack {name}`' section"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_is_in_its_readme_section(name: str) -> None:
    section = _section(name)
    command = cli.commands[name]
    missing = [
        opt
        for param in command.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--") and opt not in section
    ]
    assert missing == [], f"README's `gitrack {name}` section does not mention {missing}"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_has_an_example(name: str) -> None:
    help_text = cli.commands[name].help or ""
    assert "Example" in help_text and f"gitrack {name}" in help_text
