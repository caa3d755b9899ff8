"""`gitrack push` / `gitrack pull`: runs shared through the ordinary git remote.

Clones of one bare "origin" record runs on the same commit and exchange them in every
order: everyone ends with the union, each run exactly once; nothing is forced over anyone's
runs; notes from a remote are untrusted input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git, gitrack, record, repo_state, runs
from data_helpers import forge_run
from remote_helpers import (
    all_note_lines,
    clone,
    commit_all,
    gitrack_argv,
    head,
    make_origin,
    note_ids,
    ref_names,
    remote_refs,
    start_together,
    write,
)

from gitrack.tracking.sync import tracking_ref

NOTES, PINS = "refs/notes/gitrack", "refs/gitrack/pins"


def ok(*args: str, cwd: Path) -> str:
    res = gitrack(*args, cwd=cwd)
    assert res.code == 0, res.err
    return res.out


def ls_ids(repo: Path) -> list[str]:
    return [r["id"] for r in runs(repo)]


def assert_union(where: list[Path], expected: set[str]) -> None:
    """Every repository holds exactly ``expected``, each run once, note lines sorted."""
    for repo in where:
        ids = note_ids(repo)
        assert sorted(ids) == sorted(expected), repo.name
        for entry in git("notes", "--ref=gitrack", "list", cwd=repo).splitlines():
            text = git("cat-file", "blob", entry.split()[0], cwd=repo)
            lines = [line for line in text.split("\n") if line]
            assert lines == sorted(set(lines)), repo.name  # cat_sort_uniq's shape


@pytest.fixture
def team(tmp_path: Path) -> tuple[Path, Path, Path]:
    origin = make_origin(tmp_path)
    return origin, clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")


@pytest.mark.parametrize("order", ["a pushes first", "b pushes first"])
def test_two_clones_end_with_the_union_in_either_order(
    team: tuple[Path, Path, Path], order: str
) -> None:
    origin, a, b = team
    assert head(a) == head(b)  # both record on the same commit
    mine = {record("true", cwd=a, options=("-p", f"n={i}")) for i in range(2)}
    theirs = {record("true", cwd=b, options=("-p", f"n={i}")) for i in range(2)}
    first, second = (a, b) if order == "a pushes first" else (b, a)

    assert "pushed runs to origin" in ok("push", cwd=first)
    assert "pushed runs to origin" in ok("push", cwd=second)  # merges first's, no force
    assert "2 new run(s)" in ok("pull", cwd=first)
    assert "0 new run(s)" in ok("pull", cwd=second)

    assert_union([origin, a, b], mine | theirs)
    for repo in (a, b):
        assert sorted(ls_ids(repo)) == sorted(mine | theirs)
    for repo in (a, b):  # and each can restore every run, pins included
        for run_id in sorted(mine | theirs):
            res = gitrack("checkout", run_id, "--no-data", cwd=repo)
            assert res.code == 0, res.err
        git("checkout", "-q", "main", cwd=repo)


def test_pull_never_loses_a_local_run(team: tuple[Path, Path, Path]) -> None:
    origin, a, b = team
    shared = record("true", cwd=a)
    ok("push", cwd=a)
    local = record("true", cwd=b)  # never pushed
    local_tip = head(b, NOTES)

    out = ok("pull", cwd=b)

    assert "1 new run(s)" in out
    assert sorted(ls_ids(b)) == sorted([shared, local])
    tracking = tracking_ref("origin", NOTES)
    assert head(b, tracking) == remote_refs(origin)[NOTES]  # theirs, in a tracking ref
    parents = git("rev-list", "--parents", "-1", NOTES, cwd=b).split()[1:]
    assert set(parents) == {local_tip, remote_refs(origin)[NOTES]}  # merged, not replaced
    assert note_ids(origin) == [shared]  # pull publishes nothing
    git("gc", "-q", "--prune=now", cwd=b)  # everything both runs need is reachable
    for run_id in (shared, local):
        res = gitrack("checkout", run_id, "--no-data", cwd=b)
        assert res.code == 0, res.err


def test_pull_keeps_local_runs_on_commits_the_remote_never_annotated(
    team: tuple[Path, Path, Path],
) -> None:
    """A real merge (both sides moved): every commit's note is the union of both sides',
    including the notes only we have, not just those on commits the remote annotated."""
    origin, a, b = team
    shared_commit = head(a)
    theirs = record("true", cwd=a)  # on the shared commit
    ok("push", cwd=a)
    mine_shared = record("true", cwd=b)  # on the shared commit too
    write(b / "train.py", "print('training v2')\n")
    own_commit = commit_all(b, "v2")  # a commit the remote has never seen
    mine_own = [record("true", cwd=b, options=("-p", f"n={i}")) for i in range(2)]

    out = ok("pull", cwd=b)

    assert "1 new run(s)" in out
    assert sorted(ls_ids(b)) == sorted([theirs, mine_shared, *mine_own])
    assert_union([b], {theirs, mine_shared, *mine_own})
    on_shared = git("notes", "--ref=gitrack", "show", shared_commit, cwd=b)
    assert theirs in on_shared and mine_shared in on_shared
    on_own = git("notes", "--ref=gitrack", "show", own_commit, cwd=b)
    assert all(run_id in on_own for run_id in mine_own)
    parents = git("rev-list", "--parents", "-1", NOTES, cwd=b).split()[1:]
    assert len(parents) == 2  # a merge, not a fast-forward either way
    ok("push", cwd=b)
    ok("pull", cwd=a)
    assert sorted(ls_ids(a)) == sorted([theirs, mine_shared, *mine_own])
    assert sorted(note_ids(origin)) == sorted([theirs, mine_shared, *mine_own])


def test_a_remote_whose_runs_were_rewritten_loses_nobody_anything(
    team: tuple[Path, Path, Path],
) -> None:
    origin, a, b = team
    kept = record("true", cwd=a)
    ok("push", cwd=a)
    assert "1 new run(s)" in ok("pull", cwd=b)
    # Someone force-pushes an unrelated notes history holding one other run.
    other = record("true", cwd=b)
    lonely = git("notes", "--ref=gitrack", "show", "HEAD", cwd=b).split("\n")
    line = next(ln for ln in lonely if other in ln)
    tree = git("mktree", cwd=b, input=f"100644 blob {blob(b, line)}\t{head(b)}\n").strip()
    rewritten = git("commit-tree", tree, "-m", "rewritten", cwd=b).strip()
    git("push", "-q", "--force", "origin", f"{rewritten}:{NOTES}", cwd=b)

    assert "1 new run(s)" in ok("pull", cwd=a)  # `other`; and `kept` is not lost
    assert sorted(ls_ids(a)) == sorted([kept, other])
    ok("push", cwd=a)  # merges the rewritten history, no force needed

    assert sorted(note_ids(origin)) == sorted([kept, other])
    ancestors = git("rev-list", remote_refs(origin)[NOTES], cwd=origin).split()
    assert rewritten in ancestors


def blob(repo: Path, text: str) -> str:
    return git("hash-object", "-w", "--stdin", cwd=repo, input=text + "\n").strip()


def test_pull_then_pull_again_adds_nothing_twice(team: tuple[Path, Path, Path]) -> None:
    _, a, b = team
    first = record("true", cwd=a)
    ok("push", cwd=a)
    assert "1 new run(s)" in ok("pull", cwd=b)
    second = record("true", cwd=a)
    ok("push", cwd=a)
    mine = record("true", cwd=b)

    assert "1 new run(s)" in ok("pull", cwd=b)
    assert "0 new run(s)" in ok("pull", cwd=b)

    assert_union([b], {first, second, mine})


def test_concurrent_pushes_all_land(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    clones = [clone(origin, tmp_path / f"c{i}") for i in range(2)]
    ids = {record("true", cwd=c) for c in clones}

    results = start_together([(gitrack_argv("push"), c) for c in clones])

    for res in results:
        assert res.code == 0, res.err
    assert_union([origin], ids)


def test_concurrent_pushes_to_a_slow_remote_all_land(tmp_path: Path) -> None:
    """The loser's old value no longer matches inside receive-pack: '[remote rejected]
    ... (cannot lock ref ...: is at X but expected Y)' is a lost race too, retried."""
    origin = make_origin(tmp_path)
    hook = write(origin / "hooks" / "pre-receive", "#!/bin/sh\ncat >/dev/null\nsleep 1\n")
    hook.chmod(0o755)  # both pushes are inside receive-pack together: one wins the ref lock
    clones = [clone(origin, tmp_path / f"c{i}") for i in range(2)]
    ids = {record("true", cwd=c) for c in clones}

    results = start_together([(gitrack_argv("push"), c) for c in clones])

    for res in results:
        assert res.code == 0, res.err
    assert_union([origin], ids)


def test_push_and_pull_default_to_the_branchs_remote(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    git("remote", "rename", "origin", "upstream", cwd=a)  # main now tracks upstream
    run_id = record("true", cwd=a)

    assert "pushed runs to upstream" in ok("push", cwd=a)
    assert note_ids(origin) == [run_id]
    assert "pulled from upstream: 0 new run(s)" in ok("pull", cwd=a)

    alone = tmp_path / "alone"
    git("init", "-q", str(alone), cwd=tmp_path)
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=alone)
    res = gitrack("pull", cwd=alone)
    assert res.code == 1
    assert res.err_lines == [
        "Error: no remote named 'origin' (remotes: none); name one, e.g. gitrack pull "
        "upstream, or add it with git remote add"
    ]


def test_push_with_no_runs_pushes_nothing(team: tuple[Path, Path, Path]) -> None:
    origin, a, _ = team
    res = gitrack("push", cwd=a)
    assert res.code == 0, res.err
    assert "nothing pushed to origin" in res.out
    assert NOTES not in remote_refs(origin)


def test_pull_no_data_fetches_runs_only(tmp_path: Path) -> None:
    config = 'data = ["data/train.csv"]\n[remote]\nurl = "../team-cache"\n'
    origin = make_origin(tmp_path, {"train.py": "x\n", ".gitignore": "data/\n"})
    a = clone(origin, tmp_path / "a")
    b = clone(origin, tmp_path / "b")
    for repo in (a, b):
        write(repo / "gitrack.toml", config)
        write(repo / ".git" / "info" / "exclude", "gitrack.toml\n")
    write(a / "data" / "train.csv", "1\n")
    run_id = record("true", cwd=a)
    assert "1 object(s) uploaded" in ok("push", cwd=a)

    out = ok("pull", "--no-data", cwd=b)

    assert out.strip() == "pulled from origin: 1 new run(s)"
    assert ls_ids(b) == [run_id]
    assert not (b / ".git" / "gitrack" / "cache" / "xxh128").exists()


# ------------------------------------------------------------- untrusted notes
@pytest.mark.parametrize("path", ["../evil", "data/../../evil", "/tmp/gitrack-evil"])
def test_junk_and_forged_lines_from_a_remote_are_kept_but_never_trusted(
    team: tuple[Path, Path, Path], path: str, tmp_path: Path
) -> None:
    _, a, b = team
    honest = record("true", cwd=a)
    forged = forge_run(a, lambda run: run.update(datasets={path: "xxh128:" + "ab" * 16}))
    junk = "this line is not JSON {"
    note = git("notes", "--ref=gitrack", "show", "HEAD", cwd=a)
    git("notes", "--ref=gitrack", "add", "-f", "-F", "-", "HEAD", cwd=a, input=note + junk + "\n")
    ok("push", cwd=a)

    pulled = gitrack("pull", cwd=b)

    assert pulled.code == 0, pulled.err
    assert "2 new run(s)" in pulled.out
    lines = all_note_lines(b)
    assert junk in lines  # kept: it is someone else's note, merged as is
    assert any(forged in line and json.dumps(path) in line for line in lines)
    listed = gitrack("ls", "--json", cwd=b)
    assert listed.code == 0
    assert any("skipped note line" in line for line in listed.err_lines), listed.err
    assert sorted(r["id"] for r in listed.json()) == sorted([honest, forged])

    before = repo_state(b)
    res = gitrack("checkout", forged, cwd=b)

    assert res.code == 1
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith("Error:"), res.err
    assert path in res.err
    assert repo_state(b) == before  # refused before anything was written
    assert not (tmp_path / "evil").exists()
    assert not Path("/tmp/gitrack-evil").exists()
    assert {NOTES, PINS} <= ref_names(b)


# ------------------------------------------------------- a remote ref gone wrong
@pytest.mark.parametrize("kind", ["blob", "tree"])
@pytest.mark.parametrize("ref", [NOTES, PINS])
def test_a_remote_ref_that_is_not_a_commit_fails_pull_and_push_clearly(
    team: tuple[Path, Path, Path], ref: str, kind: str
) -> None:
    """Someone set the remote's refs/notes/gitrack (or pins) to a blob or a tree: no
    traceback, one line naming the remote and the ref; the local runs stay as they are."""
    origin, a, b = team
    record("true", cwd=a)
    ok("push", cwd=a)
    mine = record("true", cwd=b)
    if kind == "blob":
        wrong = git("hash-object", "-w", "--stdin", cwd=origin, input="not runs\n").strip()
    else:
        wrong = git("rev-parse", "HEAD^{tree}", cwd=origin).strip()
    git("update-ref", ref, wrong, cwd=origin)
    local = {name: git("rev-parse", name, cwd=b).strip() for name in (NOTES, PINS)}

    for command in ("pull", "push"):
        res = gitrack(command, cwd=b)

        assert res.code == 1, res.err
        [line] = res.err_lines
        assert line.startswith("Error:") and "Traceback" not in res.err, res.err
        assert "'origin'" in line and ref in line and f"a {kind}" in line, line
        assert {name: git("rev-parse", name, cwd=b).strip() for name in (NOTES, PINS)} == local
    assert ls_ids(b) == [mine]
    assert remote_refs(origin)[ref] == wrong  # never forced over


def _git_commands(trace: Path) -> list[str]:
    """The git commands run while GIT_TRACE2_EVENT pointed at ``trace`` (their names)."""
    names = []
    for line in trace.read_text().splitlines() if trace.exists() else []:
        event = json.loads(line)
        if event.get("event") == "cmd_name":
            names.append(event["name"])
    return names


def test_a_push_fetches_only_when_the_remote_has_something_new(
    team: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The remote holds what our last push left there: the next push of a new run does
    not fetch (nothing to merge); once a teammate pushed, it fetches and merges again."""
    _origin, a, b = team
    record("true", cwd=a)
    ok("push", cwd=a)
    mine = record("true", cwd=a)
    trace = tmp_path / "trace.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))

    ok("push", cwd=a)

    assert "push" in _git_commands(trace) and "fetch" not in _git_commands(trace)
    monkeypatch.delenv("GIT_TRACE2_EVENT")
    theirs = record("true", cwd=b)
    ok("push", cwd=b)
    record("true", cwd=a)
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    ok("push", cwd=a)
    assert "fetch" in _git_commands(trace)
    assert {mine, theirs} <= set(ls_ids(a))
