"""Notes are untrusted input: escape sequences in them never reach the terminal raw.

A teammate's clone (or anyone who can push notes) can put ESC, BEL, CSI or C1 controls in
a run's name, params, command or warnings. Printed raw they retitle the terminal, clear
the screen or overwrite lines already shown. Text output shows them escaped; JSON output
stays exact (same decoded values) and holds no raw control character either.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitrack_proc, record
from data_helpers import forge_run

TITLE = "\x1b]0;pwned\x07"  # OSC: set the window title
CLEAR = "\x1b[2J\x1b[1;1H"  # CSI: clear the screen, cursor home
C1_CSI = "\x9b31m"  # the 8-bit CSI
NAME = f"{TITLE}innocent"
RAW = ("\x1b", "\x07", "\x9b", "\x7f", "\r")


def forge(data: dict[str, Any]) -> None:
    data["name"] = NAME
    data["params"] = {"lr": f"{CLEAR}0.1", f"seed{C1_CSI}": "1\x7f", "tabbed": "a\tb\nc"}
    data["metrics"] = {f"acc{TITLE}": 0.5}
    data["tags"] = {"owner": f"ada\r{CLEAR}"}
    data["command"] = ["python", f"train.py{TITLE}"]
    data["status"] = f"ok{CLEAR}"
    data["user"] = f"eve{TITLE}"
    data["warnings"] = [f"look here{TITLE}"]
    data["cwd"] = f"sub{C1_CSI}"


@pytest.fixture
def forged(repo: Path) -> tuple[Path, str, str]:
    honest = record("true", cwd=repo, options=("--name", "honest", "-p", "lr=0.2"))
    return repo, honest, forge_run(repo, forge)


def assert_no_raw_controls(text: str) -> None:
    found = sorted({repr(c) for c in RAW if c in text})
    assert found == [], f"raw control characters reached the terminal: {found}\n{text!r}"


@pytest.mark.parametrize(
    "args",
    [("ls",), ("show", "{forged}"), ("show", NAME), ("compare", "{honest}", "{forged}")],
    ids=["ls", "show", "show-by-name", "compare"],
)
def test_text_output_escapes_control_characters(
    forged: tuple[Path, str, str], args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # every column of the ls table, none fitted away
    repo, honest, forged_id = forged
    argv = [a.format(honest=honest, forged=forged_id) for a in args]

    res = gitrack_proc(*argv, cwd=repo)

    assert res.code == 0, res.err
    assert_no_raw_controls(res.out + res.err)
    if argv[0] == "show":
        assert "\\x1b]0;pwned\\x07innocent" in res.out  # shown, visibly, not executed
        assert "tabbed=a\\tb\\nc" in res.out  # a newline cannot forge a line of the page
    if argv[0] == "ls":
        assert "acc\\x1b]0;pwned\\x07=0.5" in res.out


def test_json_output_is_exact_and_holds_no_raw_control_character(
    forged: tuple[Path, str, str],
) -> None:
    repo, _, forged_id = forged

    listed = gitrack_proc("ls", "--json", cwd=repo)
    shown = gitrack_proc("show", forged_id, "--json", cwd=repo)

    for res in (listed, shown):
        assert res.code == 0, res.err
        assert_no_raw_controls(res.out)
    run = next(r for r in json.loads(listed.out) if r["id"] == forged_id)
    assert run == json.loads(shown.out)
    assert run["name"] == NAME  # the exact values, escapes decoded
    assert run["params"] == {"lr": f"{CLEAR}0.1", f"seed{C1_CSI}": "1\x7f", "tabbed": "a\tb\nc"}
    assert run["cwd"] == f"sub{C1_CSI}"


def test_paths_from_notes_in_status_and_hook_lines_are_escaped(repo: Path) -> None:
    (repo / "gitrack.toml").write_text("push_runs = true\n")  # the hooks act on configured repos
    git("add", "gitrack.toml", cwd=repo)
    git("commit", "-q", "-m", "config", cwd=repo)
    record("true", cwd=repo)
    path = f"data/{TITLE}{C1_CSI}.csv"
    forge_run(repo, lambda data: data.update(datasets={path: "xxh128:" + "0" * 32}))

    status = gitrack_proc("status", cwd=repo)

    assert status.code == 0, status.err
    assert "missing" in status.out and "data/\\x1b]0;pwned\\x07\\x9b31m.csv" in status.out
    assert_no_raw_controls(status.out + status.err)

    assert gitrack_proc("install", cwd=repo).code == 0
    git("commit", "-q", "--allow-empty", "-m", "later", cwd=repo)
    hook = subprocess.run(
        ["git", "checkout", "-q", "HEAD~1"], cwd=repo, capture_output=True, text=True
    )  # back to the run's commit: post-checkout compares its datasets
    assert hook.returncode == 0, hook.stderr
    assert "missing (data/" in hook.stderr  # the post-checkout hook's line
    assert_no_raw_controls(hook.stderr)
