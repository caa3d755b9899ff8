"""A data scientist's first day, sharing (issue 10 #7-#10): runs that arrive with a plain
`git pull` or `git fetch`, push saying what data only this machine has, pull that fetches
data on demand, and the post-checkout hook's advice."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, gitrack, record
from remote_helpers import clone, commit_all, git_proc, install, make_origin, note_ids, write


@pytest.fixture
def team(tmp_path: Path) -> tuple[Path, Path, Path]:
    """origin, Alice's clone and Bob's clone, both with `gitrack install`."""
    origin = make_origin(tmp_path)
    alice = clone(origin, tmp_path / "alice")
    bob = clone(origin, tmp_path / "bob")
    install(alice)
    install(bob)
    return origin, alice, bob


# ------------------------------------------------------- 7. runs come with git pull/fetch
@pytest.mark.parametrize(
    "how",
    [("pull",), ("pull", "--rebase"), ("fetch",), ("pull", "--ff-only")],
    ids=" ".join,
)
def test_a_plain_git_pull_or_fetch_brings_the_remotes_runs(
    team: tuple[Path, Path, Path], how: tuple[str, ...]
) -> None:
    _origin, alice, bob = team
    theirs = record("true", cwd=alice)
    write(alice / "more.py", "x = 1\n")
    commit_all(alice, "more")
    theirs_too = record("true", cwd=alice)
    proc = git_proc("push", "-q", "origin", "HEAD", cwd=alice)  # pre-push publishes the runs
    assert proc.returncode == 0, proc.stderr
    mine = record("true", cwd=bob)  # Bob's own run, on the commit Alice's first run is on

    proc = git_proc(*how, cwd=bob)
    assert proc.returncode == 0, proc.stderr
    assert sorted(note_ids(bob)) == sorted([theirs, theirs_too, mine])
    listed = {r["id"] for r in gitrack("ls", "--json", cwd=bob).json()}
    assert listed == {theirs, theirs_too, mine}
    shown = git("log", "--all", cwd=bob)  # git log's run lines follow the merged runs
    assert all(f"run {run[:8]}" in shown for run in (theirs, theirs_too, mine)), shown
    # Never fetched over the local refs: Bob's run is still there, Alice's merged in.
    refspecs = git("config", "--get-all", "remote.origin.fetch", cwd=bob).split()
    assert not [r for r in refspecs if r.partition(":")[2].startswith("refs/notes/")]


def test_fetch_refspecs_work_against_a_remote_without_runs_and_uninstall_removes_them(
    team: tuple[Path, Path, Path],
) -> None:
    _origin, _alice, bob = team
    proc = git_proc("fetch", cwd=bob)  # the remote has no notes yet: fetch still works
    assert proc.returncode == 0, proc.stderr
    before = git("config", "--get-all", "remote.origin.fetch", cwd=bob).split()
    assert len(before) == 3
    assert gitrack("install", cwd=bob).code == 0  # idempotent
    assert git("config", "--get-all", "remote.origin.fetch", cwd=bob).split() == before
    assert gitrack("uninstall", cwd=bob).code == 0
    assert git("config", "--get-all", "remote.origin.fetch", cwd=bob).split() == [
        "+refs/heads/*:refs/remotes/origin/*"
    ]
    assert not (bob / ".git" / "hooks" / "reference-transaction").exists()


# ------------------------------------------------ 8. push says which data stays behind
def test_push_says_how_many_runs_have_data_only_here_and_how_to_share_it(
    team: tuple[Path, Path, Path],
) -> None:
    _origin, alice, _bob = team
    write(alice / "data" / "train.csv", "a,b\n1,2\n")  # data/ is ignored in the seed
    record("true", cwd=alice, options=("-d", "data/train.csv"))
    record("true", cwd=alice, options=("-d", "data/train.csv"))
    record("true", cwd=alice)  # no data: not counted
    res = gitrack("push", cwd=alice)
    assert res.code == 0, res.err
    warned = [line for line in res.err_lines if "only this machine has" in line]
    assert len(warned) == 1 and warned[0].count("2 run(s)") == 1, res.err
    assert "[remote]" in warned[0] and "url" in warned[0]
    # `git push` (the pre-push hook) says the same.
    write(alice / "x.txt", "x")
    commit_all(alice, "x")
    proc = git_proc("push", "-q", "origin", "HEAD", cwd=alice)
    assert proc.returncode == 0, proc.stderr
    assert "2 run(s) reference data that only this machine has" in proc.stderr, proc.stderr
    # With a team cache configured, nothing to say.
    shared = alice.parent / "team-cache"
    write(alice / "gitrack.toml", f'[remote]\nurl = "{shared}"\n')
    res = gitrack("push", cwd=alice)
    assert res.code == 0, res.err
    assert not [line for line in res.err_lines if "only this machine" in line]


# --------------------------------------------------------- 9. pull fetches data on demand
def test_pull_leaves_data_for_checkout_and_pull_data_fetches_it_now(
    team: tuple[Path, Path, Path],
) -> None:
    _origin, alice, bob = team
    shared = alice.parent / "team-cache"
    write(alice / "gitrack.toml", f'[remote]\nurl = "{shared}"\n')
    commit_all(alice, "team cache")
    assert git_proc("push", "-q", "origin", "HEAD", cwd=alice).returncode == 0
    assert git_proc("pull", "-q", cwd=bob).returncode == 0
    write(alice / "data" / "train.csv", "a,b\n1,2\n")
    run_id = record("true", cwd=alice, options=("-d", "data/train.csv"))
    assert gitrack("push", cwd=alice).code == 0
    cache = bob / ".git" / "gitrack" / "cache" / "xxh128"

    res = gitrack("pull", cwd=bob)
    assert res.code == 0, res.err
    assert "1 new run(s)" in res.out and "fetched" not in res.out
    assert not cache.exists() or not any(cache.rglob("*"))  # nothing downloaded
    res = gitrack("checkout", run_id, cwd=bob)  # downloads what it restores
    assert res.code == 0, res.err
    assert (bob / "data" / "train.csv").read_text() == "a,b\n1,2\n"

    carol = clone(_origin, alice.parent / "carol")
    res = gitrack("pull", "--data", cwd=carol)
    assert res.code == 0, res.err
    assert "1 object(s) fetched" in res.out


# ------------------------------------------- 10. the post-checkout hook's advice, and restore-data
def test_post_checkout_says_missing_or_differ_and_restore_data_keeps_head(
    tmp_path: Path,
) -> None:
    files = {"train.py": "print('t')\n", ".gitignore": "data/\n",
             "gitrack.toml": 'data = ["data/train.csv", "data/test.csv"]\n'}  # fmt: skip
    origin = make_origin(tmp_path, files)
    repo = clone(origin, tmp_path / "repo")
    install(repo)
    write(repo / "data" / "train.csv", "train v1\n")
    write(repo / "data" / "test.csv", "test v1\n")
    run_id = record("true", cwd=repo)
    git("checkout", "-q", "-b", "other", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "other", cwd=repo)
    (repo / "data" / "train.csv").unlink()
    write(repo / "data" / "test.csv", "test v2\n")

    proc = git_proc("checkout", "-q", "main", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("gitrack")]
    assert run_id[:8] in line
    assert "missing (data/train.csv)" in line and "differ (data/test.csv)" in line
    assert "gitrack restore-data" in line and "gitrack checkout" not in line

    write(repo / "train.py", "print('my edit')\n")  # uncommitted code: left alone
    res = gitrack("restore-data", cwd=repo)
    assert res.code == 0, res.err
    assert f"restored 2 data path(s) of run {run_id}" in res.out
    assert (repo / "data" / "train.csv").read_text() == "train v1\n"
    assert (repo / "data" / "test.csv").read_text() == "test v1\n"
    assert git("symbolic-ref", "HEAD", cwd=repo).strip() == "refs/heads/main"  # not detached
    assert (repo / "train.py").read_text() == "print('my edit')\n"
    assert any("replaced 1 data file(s)" in ln for ln in res.err_lines)  # test v2, kept

    git("checkout", "-q", "other", cwd=repo)
    res = gitrack("restore-data", cwd=repo)  # no run on this commit
    assert res.code == 1 and "gitrack restore-data RUN" in res.err
    res = gitrack("restore-data", run_id[:6], cwd=repo)
    assert res.code == 0, res.err


def test_a_users_reference_transaction_hook_still_sees_every_update(tmp_path: Path) -> None:
    """gitrack's reference-transaction hook leaves most updates at once, in sh; a chained
    hook of the user's still gets every state and its input."""
    repo = clone(make_origin(tmp_path), tmp_path / "repo")
    seen = tmp_path / "seen.log"
    hook = repo / ".git" / "hooks" / "reference-transaction"
    write(hook, f'#!/bin/sh\nwhile read -r old new ref; do echo "$1 $ref" >> "{seen}"; done\n')
    hook.chmod(0o755)
    install(repo)
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=repo)
    lines = seen.read_text().splitlines()
    assert "prepared HEAD" in lines and "committed HEAD" in lines, lines
    assert "committed refs/heads/main" in lines, lines


def test_checkout_over_uncommitted_work_refuses_before_downloading_anything(
    team: tuple[Path, Path, Path],
) -> None:
    """The dirty working tree is refused first: no download from the team's cache for a
    checkout that cannot happen (review finding)."""
    _origin, alice, bob = team
    shared = alice.parent / "team-cache"
    write(alice / "gitrack.toml", f'[remote]\nurl = "{shared}"\n')
    commit_all(alice, "team cache")
    assert git_proc("push", "-q", "origin", "HEAD", cwd=alice).returncode == 0
    assert git_proc("pull", "-q", cwd=bob).returncode == 0
    write(alice / "data" / "train.csv", "a,b\n1,2\n")
    run_id = record("true", cwd=alice, options=("-d", "data/train.csv"))
    assert gitrack("push", cwd=alice).code == 0
    assert gitrack("pull", cwd=bob).code == 0
    write(bob / "gitrack.toml", (bob / "gitrack.toml").read_text() + "# an edit\n")
    cache = bob / ".git" / "gitrack" / "cache" / "xxh128"

    res = gitrack("checkout", run_id, cwd=bob)

    assert res.code == 1
    assert "uncommitted changes" in res.err
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))
