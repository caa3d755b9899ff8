"""Helpers for the Python API, query, table and step-metric tests.

Kept apart from conftest.py (owned by the core tests). Import with
``from api_helpers import ...``.

- ``api_run(repo, ...)``: one run recorded in-process through ``gitrack.start_run`` (no
  child process at all: the fastest way to get a run with given params/metrics/tags).
- ``write_script(repo, name, body)``: a Python file in the repository, dedented.
- ``python(script, cwd, *args)``: that script as a real ``python`` subprocess, in the
  test's isolated environment.
- ``note_records(repo)``: every run line of every note, parsed, read by git itself.
- ``forge_note(repo, edit)``: rewrite the HEAD note's newest run line with plain
  ``git notes`` after ``edit(record)`` (notes are untrusted input from other clones).
- ``reset_api()``: forget an active run a failed test left behind (module state).
- ``like_oracle(text, pattern, ignore_case)``: SQL LIKE by dynamic programming,
  independent of gitrack's regex translation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from conftest import chdir, git

from gitrack import api

API_ENV = ("GITRACK_RUN_ID", "GITRACK_EVENTS", "GITRACK_PARAMS")


def reset_api() -> None:
    """No run left active by an earlier test (the API keeps one in a module global)."""
    api._active = None


def api_run(
    repo: Path,
    *,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, Any] | None = None,
    steps: Mapping[str, list[float]] | None = None,
    name: str | None = None,
    fail: bool = False,
) -> str:
    """Record one run in-process with ``gitrack.start_run``; returns its id."""
    with chdir(repo):
        try:
            with api.start_run(name=name, params=dict(params or {}), tags=dict(tags or {})) as run:
                for key, values in (steps or {}).items():
                    for value in values:
                        run.log_metric(key, value)
                for key, value in (metrics or {}).items():
                    run.log_metric(key, value)
                if fail:
                    raise RuntimeError("the training failed")
        except RuntimeError:
            if not fail:
                raise
    return run.id


def write_script(repo: Path, name: str, body: str) -> Path:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def python(
    script: Path, cwd: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python SCRIPT ARGS`` in ``cwd`` as a real process (never attached to a run)."""
    env = {k: v for k, v in os.environ.items() if k not in API_ENV}
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def note_records(repo: Path) -> list[dict[str, Any]]:
    """Every run line of every gitrack note, parsed (committed lines left out)."""
    listing = git("notes", "--ref=gitrack", "list", cwd=repo, check=False)
    out = []
    for entry in listing.splitlines():
        _note, commit = entry.split()
        text = git("notes", "--ref=gitrack", "show", commit, cwd=repo)
        for line in text.split("\n"):
            if line.strip():
                data = json.loads(line)
                if "type" not in data:
                    out.append(data)
    return out


def forge_note(repo: Path, edit: Callable[[dict[str, Any]], None]) -> str:
    """Edit the newest run line on HEAD as another clone (or tool) might have; the other
    lines stay as they are. Returns the edited run's id."""
    text = git("notes", "--ref=gitrack", "show", "HEAD", cwd=repo)
    lines = sorted(ln for ln in text.split("\n") if ln.strip())
    data = json.loads(lines[-1])
    edit(data)
    lines[-1] = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    git("notes", "--ref=gitrack", "add", "-f", "-F", "-", "HEAD", cwd=repo, input="\n".join(lines))
    return str(data["id"])


def like_oracle(text: str, pattern: str, ignore_case: bool) -> bool:
    """SQL LIKE: ``%`` any run of characters, ``_`` exactly one; no escapes."""
    if ignore_case:
        text, pattern = text.lower(), pattern.lower()
    # matches[j]: pattern[:i] matches text[:j]
    matches = [True] + [False] * len(text)
    for char in pattern:
        if char == "%":
            seen = False
            row = []
            for cell in matches:
                seen = seen or cell
                row.append(seen)
        else:
            row = [False] + [
                matches[j] and (char == "_" or char == text[j]) for j in range(len(text))
            ]
        matches = row
    return matches[-1]
