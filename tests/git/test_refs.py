"""Moving gitrack's refs: compare-and-swap, transient lock and rename failures, stale locks.

Deterministic races: a transform (the step that builds the new note) moves the ref itself,
through a second handle or the git binary, between the writer's read and its write.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git, gitrack, gitrack_cmd, note_lines, record

from gitrack.git import GitCli, Repo
from gitrack.git.refs import NOTES_REF, PINS_REF, STALE_LOCK_SECONDS, StaleLockError
from gitrack.tracking.record import add_line

FIRST = '{"started":"2026-01-01T00:00:00.000000Z","id":"first"}'
THEIRS = '{"started":"2026-01-01T00:00:01.000000Z","id":"theirs"}'
MINE = '{"started":"2026-01-01T00:00:02.000000Z","id":"mine"}'


def head(repo: Path) -> str:
    return git("rev-parse", "HEAD", cwd=repo).strip()


def moving_the_ref_once(move: Callable[[], None]) -> tuple[Callable[[str], str], list[str]]:
    """A transform adding MINE that, on its first call only (after the writer has read
    the ref), lets another writer move the ref; and the texts it was called with."""
    seen: list[str] = []

    def transform(text: str) -> str:
        seen.append(text)
        if len(seen) == 1:
            move()
        return add_line(text, MINE)

    return transform, seen


@pytest.fixture(params=["transaction", "update-ref"])
def ref_updates(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways gitrack moves a ref under its lock: a libgit2 transaction, and, where
    pygit2 has none (before 1.19, the last for Python 3.10 being 1.18), `git update-ref`."""
    if request.param == "update-ref":
        from gitrack.git._pygit2 import pygit2

        for owner in pygit2.Repository.__mro__:  # none on an old pygit2: already so
            if "transaction" in vars(owner):
                monkeypatch.delattr(owner, "transaction")
    return str(request.param)


# ------------------------------------------------------------- the run path (pygit2)
def test_a_note_written_between_read_and_write_survives(repo: Path, ref_updates: str) -> None:
    """Notes.update (how `gitrack run` records): the ref moved after it was read, so the
    write must not land; the note is read again and both lines are kept."""
    commit = head(repo)
    mine, theirs = Repo.discover(repo), Repo.discover(repo)
    mine.notes.update(NOTES_REF, commit, lambda text: add_line(text, FIRST), "first")

    def other_writer() -> None:
        theirs.notes.update(NOTES_REF, commit, lambda text: add_line(text, THEIRS), "theirs")

    transform, seen = moving_the_ref_once(other_writer)
    mine.notes.update(NOTES_REF, commit, transform, "mine")

    assert note_lines(repo) == [FIRST, THEIRS, MINE]
    assert seen == [FIRST + "\n", f"{FIRST}\n{THEIRS}\n"]  # rebuilt on the new tip


def test_a_note_created_by_another_writer_meanwhile_survives(repo: Path, ref_updates: str) -> None:
    """The same race when the notes ref does not exist yet: creation checks too."""
    commit = head(repo)
    mine, theirs = Repo.discover(repo), Repo.discover(repo)

    def other_writer() -> None:
        theirs.notes.update(NOTES_REF, commit, lambda text: add_line(text, THEIRS), "theirs")

    transform, seen = moving_the_ref_once(other_writer)
    mine.notes.update(NOTES_REF, commit, transform, "mine")

    assert note_lines(repo) == [THEIRS, MINE]
    assert seen == ["", THEIRS + "\n"]


# --------------------------------------------------------- the hook path (git binary)
def test_the_post_commit_note_write_keeps_a_note_written_meanwhile(repo: Path) -> None:
    """GitCli.update_note (the post-commit hook, git binary only): the real git moves
    refs/notes/gitrack after the hook read it; `update-ref REF NEW OLD` must refuse the
    stale write, and the retry keeps the other writer's line."""
    commit = head(repo)
    cli = GitCli(repo)
    cli.update_note(NOTES_REF, commit, lambda text: add_line(text, FIRST), "first")

    def other_writer() -> None:
        text = add_line(FIRST + "\n", THEIRS)
        git("notes", "--ref=gitrack", "add", "-f", "-F", "-", commit, cwd=repo, input=text)

    transform, seen = moving_the_ref_once(other_writer)
    cli.update_note(NOTES_REF, commit, transform, "mine")

    assert note_lines(repo) == [FIRST, THEIRS, MINE]
    assert seen == [FIRST + "\n", f"{FIRST}\n{THEIRS}\n"]
    assert git("for-each-ref", "refs/notes/gitrack-tmp", cwd=repo) == ""  # no private ref left


# ------------------------------------------- transient failures: retried, never fatal
def blob_id(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def line_with_a_new_fanout_dir(repo: Path) -> str:
    """A run line whose note blob (the line alone) would go into an objects/ab/ folder
    that does not exist yet: the write has to create it."""
    objects = repo / ".git" / "objects"
    for nonce in range(10_000):
        line = f'{{"started":"2026-01-01T00:00:02.000000Z","id":"mine{nonce}"}}'
        if not (objects / blob_id(add_line("", line))[:2]).exists():
            return line
    raise AssertionError("every fan-out folder exists")


def blocking_the_object_write_once(repo: Path, line: str) -> Callable[[str], str]:
    """A transform adding ``line`` whose first result cannot be written: a file stands
    where the object's fan-out folder must be created (as when `git gc` removes that
    folder between its creation and the rename into it). Gone on the second call."""
    calls: list[str] = []

    def transform(text: str) -> str:
        calls.append(text)
        new = add_line(text, line)
        obstacle = repo / ".git" / "objects" / blob_id(new)[:2]
        if len(calls) == 1:
            obstacle.write_text("in the way\n")
        else:
            obstacle.unlink(missing_ok=True)
        return new

    return transform


def test_a_failed_object_write_while_building_the_note_is_retried(repo: Path) -> None:
    commit = head(repo)
    line = line_with_a_new_fanout_dir(repo)

    Repo.discover(repo).notes.update(
        NOTES_REF, commit, blocking_the_object_write_once(repo, line), "mine"
    )

    assert note_lines(repo) == [line]


def test_a_failed_git_notes_add_in_the_hook_is_retried(repo: Path) -> None:
    commit = head(repo)
    line = line_with_a_new_fanout_dir(repo)

    GitCli(repo).update_note(NOTES_REF, commit, blocking_the_object_write_once(repo, line), "m")

    assert note_lines(repo) == [line]
    assert git("for-each-ref", "refs/notes/gitrack-tmp", cwd=repo) == ""


def _loop(stop: threading.Event, repo: Path, *commands: tuple[str, ...]) -> threading.Thread:
    def body() -> None:
        while not stop.is_set():
            for args in commands:
                subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def test_parallel_runs_during_git_gc_are_all_recorded(repo: Path) -> None:
    """Runs starting and finishing together while `git gc` and `git pack-refs --all`
    loop: gc packs refs (taking their locks, deleting loose ref files) and objects, and
    prune-packed removes the objects/ab/ folders it empties, under libgit2's feet (a
    folder created for a new object can vanish before the object is renamed into it; a
    commit just written can be gone before the ref moves). Every such failure passes:
    every run is recorded, every snapshot pinned. Before the fix 1 to 4 of these 16
    runs failed ("OSError: failed to rename lockfile", "object not found")."""
    (repo / "train.py").write_text("print('dirty, so every run snapshots')\n")
    go = repo.parent / "go"
    wait = f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.001)"
    stop = threading.Event()
    loops = [
        # gc's own steps, more often than gc runs them: the races come within seconds.
        _loop(stop, repo, ("gc", "--quiet"), *[("repack", "-d", "-q"), ("pack-refs", "--all")] * 3),
        _loop(stop, repo, ("prune-packed",)),
    ]
    results = []
    try:
        for round_ in range(2):
            go.unlink(missing_ok=True)
            procs = [
                subprocess.Popen(
                    gitrack_cmd("run", "-p", f"i={round_}-{i}", "--", sys.executable, "-c", wait),
                    cwd=repo,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                    text=True,
                )
                for i in range(8)
            ]
            time.sleep(0.5)
            go.write_text("go")
            results += [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    finally:
        stop.set()
        for thread in loops:
            thread.join(timeout=60)

    failures = [err for code, err in results if code != 0 or "recorded run" not in err]
    assert failures == []
    lines = note_lines(repo)
    assert len(lines) == len(results) == 16
    params = sorted(json.loads(line)["params"]["i"] for line in lines)
    assert params == sorted(f"{r}-{i}" for r in range(2) for i in range(8))
    for line in lines:
        snapshot = json.loads(line)["snapshot"]
        git("merge-base", "--is-ancestor", snapshot, "refs/gitrack/pins", cwd=repo)


# ------------------------------------------------------------------- stale locks
def leave_lock(repo: Path, refname: str, age_s: float) -> Path:
    """A ref's lock file as a git process that crashed leaves it, ``age_s`` seconds old."""
    lock = repo / ".git" / f"{refname}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    then = time.time() - age_s
    os.utime(lock, (then, then))
    return lock


@pytest.mark.parametrize("refname", [NOTES_REF, PINS_REF])
def test_a_stale_lock_stops_the_run_before_the_command(repo: Path, refname: str) -> None:
    """Without the check the command ran, then ~10 s of retries lost the run."""
    lock = leave_lock(repo, refname, age_s=STALE_LOCK_SECONDS + 60)
    started = time.monotonic()

    res = gitrack("run", "--", sys.executable, "-c", "open('ran', 'w').close()", cwd=repo)

    assert time.monotonic() - started < 5  # at once, not after the retries
    assert res.code == 1, res.err
    [line] = res.err_lines
    assert str(lock) in line and "stale" in line, line
    assert f"remove it (rm '{lock}')" in line and "no git" in line, line
    assert not (repo / "ran").exists()
    assert lock.exists()  # gitrack never removes it itself: a git may still be at work
    assert note_lines(repo) == []


def test_a_fresh_lock_is_a_writer_at_work_and_is_waited_for(repo: Path, ref_updates: str) -> None:
    record("true", cwd=repo)  # the ref exists: its update (not its creation) waits
    lock = leave_lock(repo, NOTES_REF, age_s=0)
    threading.Timer(0.5, lock.unlink).start()  # the other writer finishes

    res = gitrack("run", "--", "true", cwd=repo)

    assert res.code == 0, res.err
    assert len(note_lines(repo)) == 2


def test_a_lost_snapshot_pin_is_replaced_only_while_still_lost(
    repo: Path, ref_updates: str
) -> None:
    refs = Repo.discover(repo).refs
    lost, now = "1" * 40, head(repo)
    git("update-ref", "refs/gitrack/test", head(repo), cwd=repo)
    assert not refs.replace_missing("refs/gitrack/test", lost, now, "repair")  # not lost
    (repo / ".git" / "refs" / "gitrack" / "test").write_text(lost + "\n")  # as a gc leaves it
    assert refs.replace_missing("refs/gitrack/test", lost, now, "repair")
    assert git("rev-parse", "refs/gitrack/test", cwd=repo).strip() == now


def test_check_unlocked_names_only_old_locks(repo: Path) -> None:
    refs = Repo.discover(repo).refs
    refs.check_unlocked(NOTES_REF)  # no lock at all
    leave_lock(repo, NOTES_REF, age_s=1)
    refs.check_unlocked(NOTES_REF)  # young: a writer at work
    leave_lock(repo, NOTES_REF, age_s=STALE_LOCK_SECONDS + 1)
    with pytest.raises(StaleLockError, match="likely left it"):
        refs.check_unlocked(NOTES_REF)
