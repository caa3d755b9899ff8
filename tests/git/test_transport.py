"""git.transport: gitrack's own fetch runs without hooks."""

from __future__ import annotations

from pathlib import Path

from conftest import git, gitrack, record
from remote_helpers import clone, install, make_origin


def test_gitrack_pull_fetches_without_firing_gitracks_own_hook(tmp_path: Path) -> None:
    """The fetch into refs/gitrack-remotes/* runs without hooks: the installed
    reference-transaction hook would start Python and merge what pull merges anyway."""
    origin = make_origin(tmp_path)
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    run_id = record("true", cwd=a)
    assert gitrack("push", cwd=a).code == 0
    install(b)
    hook = Path(git("rev-parse", "--git-path", "hooks", cwd=b).strip())
    if not hook.is_absolute():
        hook = b / hook
    seen = tmp_path / "seen"
    (hook / "reference-transaction").write_text(f'#!/bin/sh\ncat >> "{seen}"\n')

    res = gitrack("pull", cwd=b)
    assert res.code == 0, res.err
    assert "1 new run(s)" in res.out
    assert run_id in git("log", "-1", "--notes=gitrack", cwd=b)
    fired = seen.read_text() if seen.exists() else ""
    assert "refs/gitrack-remotes/" not in fired, fired
