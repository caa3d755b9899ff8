"""Reading runs back: `ls`, RUN resolution, broken note lines, and runs across git rewrites."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import (
    git,
    gitrack,
    note_lines,
    record,
    repo_state,
    run_by_id,
    runs,
    worktree_state,
)


def _append_note_line(repo: Path, line: str, rev: str = "HEAD") -> None:
    git("notes", "--ref=gitrack", "append", "-m", line, rev, cwd=repo)


def _one_error_line(res_err: str) -> str:
    lines = [line for line in res_err.splitlines() if line.strip()]
    assert len(lines) == 1, res_err
    assert lines[0].startswith("Error: ")
    return lines[0]


# ------------------------------------------------------------------ ls
def test_ls_lists_newest_first_and_limits(repo: Path) -> None:
    ids = [record("true", cwd=repo, options=("-p", f"n={n}")) for n in range(3)]
    assert [r["id"] for r in runs(repo)] == ids[::-1]
    res = gitrack("ls", "--json", "-n", "2", cwd=repo)
    assert [r["id"] for r in res.json()] == ids[:0:-1]
    assert gitrack("ls", "--json", "-n", "0", cwd=repo).json() == []


def test_ls_table_shows_ids_commit_and_dirty_mark(repo: Path) -> None:
    clean = record("true", cwd=repo)
    (repo / "train.py").write_text("print('dirty')\n")
    dirty = record("false", cwd=repo)
    res = gitrack("ls", cwd=repo)
    assert res.code == 0
    lines = res.out.splitlines()
    head = git("rev-parse", "--short=7", "HEAD", cwd=repo).strip()
    [dirty_row] = [ln for ln in lines if ln.startswith(dirty[:8])]
    [clean_row] = [ln for ln in lines if ln.startswith(clean[:8])]
    assert head in dirty_row and "FAILED*" in dirty_row
    assert head in clean_row and " ok " in clean_row
    assert lines.index(dirty_row) < lines.index(clean_row)


def test_ls_on_repository_without_runs(repo: Path) -> None:
    res = gitrack("ls", cwd=repo)
    assert res.code == 0 and res.out == ""
    assert "no runs yet" in res.err
    assert gitrack("ls", "--json", cwd=repo).json() == []


def test_ls_lists_runs_on_commits_no_branch_reaches_even_after_gc(repo: Path) -> None:
    (repo / "train.py").write_text("print('abandoned idea')\n")
    git("commit", "-q", "-am", "abandoned", cwd=repo)
    (repo / "scratch.txt").write_text("untracked at run time\n")
    expected = worktree_state(repo)
    run_id = record("true", cwd=repo)
    (repo / "scratch.txt").unlink()
    git("reset", "-q", "--hard", "HEAD~1", cwd=repo)
    git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    git("gc", "-q", "--prune=now", cwd=repo)

    assert [r["id"] for r in runs(repo)] == [run_id]
    target = repo.parent / "restored"
    res = gitrack("checkout", run_id, "--worktree", str(target), cwd=repo)
    assert res.code == 0, res.err
    assert worktree_state(target) == expected


# ------------------------------------------------------------------ broken note lines
def test_invalid_note_lines_are_skipped_with_a_warning(repo: Path) -> None:
    first = record("true", cwd=repo)
    _append_note_line(repo, "this is {not json")
    _append_note_line(repo, '{"another": "tool"}')
    second = record("true", cwd=repo)  # a run after them still records, keeping them

    res = gitrack("ls", "--json", cwd=repo)

    assert res.code == 0
    assert {r["id"] for r in res.json()} == {first, second}
    warnings = [ln for ln in res.err.splitlines() if ln.strip()]
    assert len(warnings) == 2
    assert all(ln.startswith("gitrack: warning: ") for ln in warnings)
    assert "this is {not json" in note_lines(repo)
    # The table and show say the same.
    table = gitrack("ls", cwd=repo)
    assert table.code == 0 and first[:8] in table.out and second[:8] in table.out
    assert "warning" in table.err
    assert gitrack("show", first, cwd=repo).code == 0


# ------------------------------------------------------------------ RUN resolution
def test_run_resolves_by_full_id_prefix_and_name(repo: Path) -> None:
    run_id = record("true", cwd=repo, options=("--name", "baseline"))
    other = record("true", cwd=repo)
    refs = [run_id, run_id[:9], run_id.upper()[:6], "baseline"]
    if other[:4] != run_id[:4]:  # (1 in 65536 they share it)
        refs.append(run_id[:4])
    for ref in refs:
        res = gitrack("show", ref, "--json", cwd=repo)
        assert res.code == 0, (ref, res.err)
        assert res.json()["id"] == run_id


def test_short_name_resolves(repo: Path) -> None:
    """RUN is an id, a prefix of 4+ characters, or an exact --name, whatever its length."""
    run_id = record("true", cwd=repo, options=("--name", "v1"))
    res = gitrack("show", "v1", "--json", cwd=repo)
    assert res.code == 0, res.err
    assert res.json()["id"] == run_id


def test_unknown_run(repo: Path) -> None:
    record("true", cwd=repo)
    before = repo_state(repo)
    for command in ("show", "checkout"):
        res = gitrack(command, "ffffzzzz", cwd=repo)
        assert res.code == 1
        assert "ffffzzzz" in _one_error_line(res.err)
        assert repo_state(repo) == before


def test_prefix_shorter_than_four_is_refused(repo: Path) -> None:
    run_id = record("true", cwd=repo)
    before = repo_state(repo)
    for command in ("show", "checkout"):
        res = gitrack(command, run_id[:3], cwd=repo)
        assert res.code == 1
        assert "4" in _one_error_line(res.err)
        assert repo_state(repo) == before


def test_ambiguous_prefix_is_refused_and_lists_candidates(repo: Path) -> None:
    (repo / "train.py").write_text("print('edited')\n")
    run_id = record("true", cwd=repo)
    git("checkout", "-q", "--", ".", cwd=repo)
    [line] = note_lines(repo)
    twin = run_id[:4] + ("0" if run_id[4] != "0" else "1") + run_id[5:]
    _append_note_line(repo, line.replace(run_id, twin))
    assert {r["id"] for r in runs(repo)} == {run_id, twin}
    before = repo_state(repo)

    for command in ("show", "checkout"):
        res = gitrack(command, run_id[:4], cwd=repo)
        assert res.code == 1
        message = _one_error_line(res.err)
        assert "ambiguous" in message and run_id in message and twin in message
        assert repo_state(repo) == before
    # One more character is enough.
    assert gitrack("show", run_id[:5], "--json", cwd=repo).json()["id"] == run_id


# ------------------------------------------------------------------ rewrites
def test_runs_follow_amend_and_rebase_and_survive_gc(repo: Path, tmp_path: Path) -> None:
    assert gitrack("install", cwd=repo).code == 0
    git("checkout", "-q", "-b", "feature", cwd=repo)
    (repo / "model.py").write_text("LAYERS = 2\n")
    git("add", "model.py", cwd=repo)
    git("commit", "-q", "-m", "model", cwd=repo)

    # Run A on the commit, with an uncommitted edit and an untracked file.
    (repo / "model.py").write_text("LAYERS = 3\n")
    (repo / "notes.txt").write_text("try 3 layers\n")
    state_a = worktree_state(repo)
    run_a = record("true", cwd=repo)
    (repo / "notes.txt").unlink()
    git("checkout", "-q", "--", ".", cwd=repo)

    # Amend it; run B on the amended commit.
    git("commit", "-q", "--amend", "-m", "model, amended", cwd=repo)
    (repo / "model.py").write_text("LAYERS = 4\n")
    state_b = worktree_state(repo)
    run_b = record("true", cwd=repo)
    git("checkout", "-q", "--", ".", cwd=repo)

    # main moves on; feature is rebased onto it.
    git("checkout", "-q", "main", cwd=repo)
    (repo / "data" / "values.csv").write_text("x,y\n5,6\n")
    git("commit", "-q", "-am", "more data", cwd=repo)
    git("checkout", "-q", "feature", cwd=repo)
    git("rebase", "-q", "main", cwd=repo)
    git("reflog", "expire", "--expire=now", "--all", cwd=repo)
    git("gc", "-q", "--prune=now", cwd=repo)
    rewritten = git("rev-parse", "HEAD", cwd=repo).strip()

    listed = runs(repo)
    assert sorted(r["id"] for r in listed) == sorted([run_a, run_b])
    assert {r["commit"] for r in listed} == {rewritten}
    # Both runs are in the note of the rewritten commit, once each.
    ids_in_note = [json.loads(line)["id"] for line in note_lines(repo, rewritten)]
    assert sorted(ids_in_note) == sorted([run_a, run_b])
    shown = gitrack("show", run_a, "--json", cwd=repo).json()
    assert shown["commit"] == rewritten

    for run_id, state in ((run_a, state_a), (run_b, state_b)):
        target = tmp_path / f"restored-{run_id}"
        res = gitrack("checkout", run_id, "--worktree", str(target), cwd=repo)
        assert res.code == 0, res.err
        assert worktree_state(target) == state


def test_runs_of_two_clones_merge_with_cat_sort_uniq(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git("clone", "-q", "--no-local", str(repo), str(clone), cwd=tmp_path)
    mine = [record("true", cwd=repo), record("true", cwd=repo)]
    theirs = record("true", cwd=clone)
    mine.append(record("true", cwd=repo))

    git("fetch", "-q", "origin", "refs/notes/gitrack:refs/notes/origin-gitrack", cwd=clone)
    git(
        "notes", "--ref=gitrack", "merge", "-q", "-s", "cat_sort_uniq",
        "refs/notes/origin-gitrack", cwd=clone,
    )  # fmt: skip

    listed = runs(clone)
    assert sorted(r["id"] for r in listed) == sorted([*mine, theirs])
    lines = note_lines(clone)
    assert len(lines) == 4
    started = [json.loads(line)["started"] for line in lines]
    assert started == sorted(started)  # one line per run, in time order
    assert [r["id"] for r in listed] == [mine[2], theirs, mine[1], mine[0]]
    assert run_by_id(clone, theirs)["commit"] == git("rev-parse", "HEAD", cwd=clone).strip()
