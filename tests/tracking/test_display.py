"""`git log`'s run lines (refs/notes/runs) follow the runs as edited: renamed, hidden."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import git, gitrack, record

PY = sys.executable


def shown_lines(repo: Path) -> list[str]:
    log = git("log", "-1", cwd=repo)
    if "Notes (runs):\n" not in log:
        return []
    return [line.strip() for line in log.split("Notes (runs):\n", 1)[1].strip().splitlines()]


def _display_notes(repo: Path) -> dict[str, str]:
    listed = git("notes", "--ref=runs", "list", cwd=repo).split()
    return {
        c: git("cat-file", "-p", b, cwd=repo)
        for b, c in zip(listed[::2], listed[1::2], strict=True)
    }


def _from_scratch(repo: Path) -> dict[str, str]:
    from gitrack.git import Repo
    from gitrack.tracking import display

    kept = git("rev-parse", "refs/notes/runs", cwd=repo).strip()
    git("update-ref", "-d", "refs/notes/runs", cwd=repo)
    assert display.refresh(Repo.discover(repo), create=True)
    built = _display_notes(repo)
    git("update-ref", "refs/notes/runs", kept, cwd=repo)
    return built


def test_git_log_shows_a_run_renamed_and_drops_it_once_removed(repo: Path) -> None:
    assert gitrack("install", cwd=repo).code == 0
    run_id = record("true", cwd=repo, options=("--name", "first-try"))
    kept = record("true", cwd=repo, options=("--name", "kept"))
    assert any(line.startswith(f"run {run_id[:8]} first-try ") for line in shown_lines(repo))

    assert gitrack("rename", run_id, "baseline", cwd=repo).code == 0
    lines = shown_lines(repo)
    assert any(line.startswith(f"run {run_id[:8]} baseline ") for line in lines), lines
    assert not any("first-try" in line for line in lines), lines

    assert gitrack("rm", run_id, cwd=repo).code == 0
    lines = shown_lines(repo)
    assert not any(line.startswith(f"run {run_id[:8]}") for line in lines), lines
    assert any(line.startswith(f"run {kept[:8]} kept ") for line in lines), lines

    # Shown again once restored, with its new name.
    assert gitrack("rm", "--undo", run_id, cwd=repo).code == 0
    lines = shown_lines(repo)
    assert any(line.startswith(f"run {run_id[:8]} baseline ") for line in lines), lines


def test_a_new_run_is_added_to_the_display_not_rebuilt_and_matches_a_rebuild(repo: Path) -> None:
    """Each `gitrack run` adds its own line (a rebuild lists every run: seconds at 10,000
    runs, on every run); the result is what a full rebuild gives."""
    assert gitrack("install", cwd=repo).code == 0
    ids = [record("true", cwd=repo, options=("--name", f"n{i}")) for i in range(3)]
    tip = git("rev-parse", "refs/notes/runs", cwd=repo).strip()
    parent = git("rev-parse", "-q", "--verify", f"{tip}^", cwd=repo, check=False).strip()
    assert parent, "the last run was added to the display commit before it, not rebuilt"
    assert git("log", "-1", "--format=%s", tip, cwd=repo).strip() == (
        "gitrack: display of " + git("rev-parse", "refs/notes/gitrack", cwd=repo).strip()
    )
    added = shown_lines(repo)
    assert [line.split()[1] for line in added] == [run_id[:8] for run_id in ids]

    from gitrack.git import Repo
    from gitrack.tracking import display

    git("update-ref", "-d", "refs/notes/runs", cwd=repo)
    assert display.refresh(Repo.discover(repo), create=True)
    assert shown_lines(repo) == added


def test_an_edit_rewrites_only_its_commits_display_and_matches_a_rebuild(repo: Path) -> None:
    """`tag`, `rename`, `note`, `rm` rewrite the display note of the edited run's commit
    only (a rebuild lists every run: seconds at 10,000 runs, on every edit); the display
    is then what a full rebuild gives. A restored run (`rm --undo`) takes the rebuild."""
    from gitrack.git import Repo
    from gitrack.tracking import display

    assert gitrack("install", cwd=repo).code == 0
    first, second = (record("true", cwd=repo, options=("--name", n)) for n in ("a", "b"))
    (repo / "more.txt").write_text("more\n")
    git("add", "more.txt", cwd=repo)
    git("commit", "-qm", "more", cwd=repo)
    other = record("true", cwd=repo, options=("--name", "c"))

    def display_tip() -> str:
        return git("rev-parse", "refs/notes/runs", cwd=repo).strip()

    def all_lines() -> list[str]:
        out = git("log", "--format=%H%n%N", "--notes=runs", cwd=repo)
        return [line for line in out.splitlines() if line.startswith("run ")]

    edits = [
        ("tag", first, "verdict=best"),
        ("rename", second, "b2"),
        ("note", other, "a note"),
        ("rm", first),
    ]
    for edit in edits:
        before = display_tip()
        assert gitrack(*edit, cwd=repo).code == 0
        parent = git("rev-parse", "-q", "--verify", f"{display_tip()}^", cwd=repo, check=False)
        assert parent.strip() == before, f"{edit[0]}: the display was rebuilt, not patched"
        patched = all_lines()
        git("update-ref", "-d", "refs/notes/runs", cwd=repo)
        assert display.refresh(Repo.discover(repo), create=True)
        assert all_lines() == patched, edit[0]
    assert not any(line.startswith(f"run {first[:8]}") for line in all_lines())
    assert any(" b2 " in line for line in all_lines())

    assert gitrack("rm", "--undo", first, cwd=repo).code == 0  # rebuilt: matches too
    assert any(line.startswith(f"run {first[:8]} a ") for line in all_lines())


def test_a_rebuild_edits_the_old_display_and_matches_one_from_scratch(repo: Path) -> None:
    """A rebuild after the runs changed under gitrack (plain `git notes` here, a merge from
    a teammate in life) keeps the unchanged notes and writes the others; what it gives is
    what a display built from nothing gives, and anything but notes in the old display
    (not written by gitrack) is dropped."""
    from gitrack.git import Repo
    from gitrack.tracking import display

    assert gitrack("install", cwd=repo).code == 0
    commits = []
    for name in ("a", "b", "c"):
        record("true", cwd=repo, options=("--name", name))
        commits.append(git("rev-parse", "HEAD", cwd=repo).strip())
        (repo / f"{name}.txt").write_text(name)
        git("add", ".", cwd=repo)
        git("commit", "-qm", name, cwd=repo)

    git("notes", "--ref=gitrack", "remove", commits[0], cwd=repo)
    renamed = git("notes", "--ref=gitrack", "show", commits[1], cwd=repo).replace(
        '"b"', '"b\\u001b[2J"'
    )
    git("notes", "--ref=gitrack", "add", "-f", "-m", renamed, commits[1], cwd=repo)
    assert display.refresh(Repo.discover(repo))
    shown = _display_notes(repo)
    assert sorted(shown) == sorted(commits[1:])
    assert " b\\x1b[2J " in shown[commits[1]] and shown[commits[2]].startswith("run ")
    assert shown == _from_scratch(repo)

    # An old display gitrack did not write: a stray file, a fan-out folder, the right
    # text with the wrong mode. What a display built from nothing has, no more.
    blob = git("hash-object", "-w", "--stdin", cwd=repo, input="stray\n").strip()
    right = git("rev-parse", f"refs/notes/runs:{commits[1]}", cwd=repo).strip()
    folder = git("mktree", cwd=repo, input=f"100644 blob {blob}\t{commits[2][2:]}\n").strip()
    entries = f"100644 blob {blob}\tREADME\n040000 tree {folder}\t{commits[2][:2]}\n"
    tree = git("mktree", cwd=repo, input=entries + f"100755 blob {right}\t{commits[1]}\n")
    stray = git("commit-tree", tree.strip(), "-m", "not a display", cwd=repo).strip()
    git("update-ref", "refs/notes/runs", stray, cwd=repo)
    assert display.refresh(Repo.discover(repo))
    listed = git("ls-tree", "refs/notes/runs", cwd=repo).splitlines()
    assert [line.split()[0] for line in listed] == ["100644", "100644"]
    assert [line.split("\t")[1] for line in listed] == sorted(commits[1:])
    assert _display_notes(repo) == shown


def test_runs_changed_under_gitrack_patch_the_display_of_their_commits_only(repo: Path) -> None:
    """After the runs changed under gitrack (a teammate's runs merged by a fetch, an amend's
    copy, a note removed: plain `git notes` here), the display is patched on the commits
    whose runs may show differently: a commit whose note changed, and every commit holding
    a copy of a run it names. What it shows is what a display built from nothing shows."""
    from gitrack.git import Repo
    from gitrack.tracking import display

    assert gitrack("install", cwd=repo).code == 0
    commits, ids = [], []
    for name in ("a", "b", "c"):
        ids.append(record("true", cwd=repo, options=("--name", name)))
        commits.append(git("rev-parse", "HEAD", cwd=repo).strip())
        (repo / f"{name}.txt").write_text(name)
        git("add", ".", cwd=repo)
        git("commit", "-qm", name, cwd=repo)
    head = git("rev-parse", "HEAD", cwd=repo).strip()

    def all_lines() -> list[str]:
        out = git("log", "--format=%H%n%N", "--notes=runs", cwd=repo)
        return [line for line in out.splitlines() if line and not line.startswith("#")]

    def scratch() -> list[str]:
        kept = git("rev-parse", "refs/notes/runs", cwd=repo).strip()
        git("update-ref", "-d", "refs/notes/runs", cwd=repo)
        assert display.refresh(Repo.discover(repo), create=True)
        built = all_lines()
        git("update-ref", "refs/notes/runs", kept, cwd=repo)
        return built

    changes = [
        ["notes", "--ref=gitrack", "copy", commits[0], head],  # a's run, copied onward
        ["notes", "--ref=gitrack", "remove", commits[2]],
        ["notes", "--ref=gitrack", "append", "-m", "not a run", commits[1]],
    ]
    for change in changes:
        before = git("rev-parse", "refs/notes/runs", cwd=repo).strip()
        git(*change, cwd=repo)
        assert display.refresh(Repo.discover(repo))
        tip = git("rev-parse", "refs/notes/runs", cwd=repo).strip()
        assert git("rev-parse", f"{tip}^", cwd=repo).strip() == before, change
        assert all_lines() == scratch(), change
    shown = git("notes", "--ref=runs", "list", cwd=repo)
    assert commits[0] not in shown and commits[2] not in shown  # a moved on, c removed
    assert f"run {ids[0][:8]} a " in git("notes", "--ref=runs", "show", head, cwd=repo)


def test_a_run_copied_to_a_commit_no_branch_reaches_moves_back_at_the_next_patch(
    repo: Path,
) -> None:
    """Which copy of a run shows depends on the branches: after the branch moved away
    from the newer copy, the next patch (a note changed anywhere) shows the run where a
    display built from nothing shows it."""
    from gitrack.git import Repo
    from gitrack.tracking import display

    assert gitrack("install", cwd=repo).code == 0
    a = git("rev-parse", "HEAD", cwd=repo).strip()
    record("true", cwd=repo, options=("--name", "r"))
    git("commit", "-q", "--allow-empty", "-m", "later", cwd=repo)
    b = git("rev-parse", "HEAD", cwd=repo).strip()
    git("notes", "--ref=gitrack", "copy", a, b, cwd=repo)  # as a rewrite carries it
    assert display.refresh(Repo.discover(repo))
    assert list(_display_notes(repo)) == [b]
    git("reset", "-q", "--hard", a, cwd=repo)  # b: reached by no branch now
    git("commit", "-q", "--allow-empty", "-m", "other", cwd=repo)
    git("notes", "--ref=gitrack", "add", "-m", "not a run", "HEAD", cwd=repo)
    assert display.refresh(Repo.discover(repo))
    assert list(_display_notes(repo)) == [a]
    assert _display_notes(repo) == _from_scratch(repo)


def test_a_refresh_labels_its_display_with_the_notes_it_read(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's note lands while a refresh loads the runs: the display says it was built
    from that newer notes commit (it holds the run), so the run's own line, added after,
    is not added twice, and no later patch leaves it so."""
    from gitrack.git import Repo
    from gitrack.tracking import display, history
    from gitrack.tracking.record import RunRecord

    assert gitrack("install", cwd=repo).code == 0
    x = git("rev-parse", "HEAD", cwd=repo).strip()
    record("true", cwd=repo, options=("--name", "r1"))
    r2 = record("true", cwd=repo, options=("--name", "r2"))
    lines = git("notes", "--ref=gitrack", "show", x, cwd=repo).splitlines()
    r2_line = next(line for line in lines if r2 in line)
    git("notes", "--ref=gitrack", "add", "-f", "-m", lines[0], x, cwd=repo)  # r1 only
    display.refresh(Repo.discover(repo))
    git("notes", "--ref=gitrack", "append", "-m", "not a run", x, cwd=repo)
    real = history.load_runs

    def racing(found: Repo) -> history.Runs:
        monkeypatch.setattr(history, "load_runs", real)
        git("notes", "--ref=gitrack", "append", "-m", r2_line, x, cwd=repo)  # r2 lands now
        return real(found)

    monkeypatch.setattr(history, "load_runs", racing)
    display.refresh(Repo.discover(repo))
    tip = git("rev-parse", "refs/notes/gitrack", cwd=repo).strip()
    display.add_run(Repo.discover(repo), tip, x, RunRecord.from_line(r2_line))  # r2's own add
    git("commit", "-q", "--allow-empty", "-m", "y", cwd=repo)
    git("notes", "--ref=gitrack", "add", "-m", "other", "HEAD", cwd=repo)
    display.refresh(Repo.discover(repo))
    assert _display_notes(repo)[x].count(f"run {r2[:8]}") == 1
    assert _display_notes(repo) == _from_scratch(repo)
