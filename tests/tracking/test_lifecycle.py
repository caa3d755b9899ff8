"""Runs after they end: hide, restore, tag, rename, annotate (edit lines); experiments;
nested runs. Edit lines merge like runs and converge whatever the merge order."""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from conftest import git, gitrack, record, runs
from hypothesis import given, settings
from hypothesis import strategies as st
from remote_helpers import all_note_lines, clone, gitrack_argv, head, make_origin, start_together

from gitrack.api import RunStateError
from gitrack.tracking import edits
from gitrack.tracking.record import add_line, merge_note_texts


def fold_lines(lines: Iterable[str]) -> dict[str, edits.RunState]:
    """edits.fold over raw note lines (other lines are ignored)."""
    items = (edits.parse_edit_line(line) for line in lines if edits.is_typed_line(line))
    return edits.fold(item for item in items if item is not None)


def ok(*args: str, cwd: Path) -> str:
    res = gitrack(*args, cwd=cwd)
    assert res.code == 0, res.err
    return res.out


def fails(*args: str, cwd: Path) -> str:
    res = gitrack(*args, cwd=cwd)
    assert res.code == 1, (res.out, res.err)
    return res.err


def by_id(repo: Path) -> dict[str, dict[str, object]]:
    return {r["id"]: r for r in runs(repo)}


def state(repo: Path) -> tuple[object, ...]:
    """What a user sees: visible runs with name, tags, note; hidden ids."""
    visible = sorted(
        (r["id"], r["name"], sorted(r["tags"].items()), r.get("note")) for r in runs(repo)
    )
    hidden = sorted(r["id"] for r in json.loads(ok("ls", "--deleted", "--json", cwd=repo)))
    return (visible, hidden)


# ------------------------------------------------------------------ one clone
def test_rm_hides_from_ls_export_and_runs_and_undo_restores(repo: Path) -> None:
    keep, gone = record("true", cwd=repo), record("true", cwd=repo)
    assert f"hidden run {gone}" in ok("rm", gone[:6], cwd=repo)

    assert list(by_id(repo)) == [keep]
    assert [r["id"] for r in json.loads(ok("ls", "--deleted", "--json", cwd=repo))] == [gone]
    ok("export", "runs.jsonl", cwd=repo)
    exported = [json.loads(line)["id"] for line in (repo / "runs.jsonl").read_text().splitlines()]
    assert exported == [keep]
    assert gone in ok("show", gone, cwd=repo)  # still reachable by id
    assert "hidden" in ok("show", gone, cwd=repo)

    assert "already hidden" in gitrack("rm", gone, cwd=repo).err
    assert f"restored run {gone}" in ok("rm", "--undo", gone, cwd=repo)
    assert sorted(by_id(repo)) == sorted([keep, gone])
    assert json.loads(ok("ls", "--deleted", "--json", cwd=repo)) == []


def test_tag_rename_note_apply_and_show(repo: Path) -> None:
    run_id = record("true", cwd=repo, options=("-t", "team=a", "-t", "old=1"))
    ok("tag", run_id, "verdict=best", "reviewed=yes", "--remove", "old", cwd=repo)
    ok("rename", run_id, "baseline", cwd=repo)
    ok("note", run_id, "lr too high\nretry with 0.01", cwd=repo)

    run = by_id(repo)[run_id]
    assert run["tags"] == {"team": "a", "verdict": "best", "reviewed": "yes"}
    assert run["name"] == "baseline"
    assert run["note"] == "lr too high\nretry with 0.01"
    shown = ok("show", "baseline", cwd=repo)  # the new name resolves
    assert "note      lr too high" in shown and "retry with 0.01" in shown
    where = "tags.verdict = 'best'"
    assert [r["id"] for r in json.loads(ok("ls", "--where", where, "--json", cwd=repo))] == [run_id]
    ok("note", run_id, "", cwd=repo)
    assert by_id(repo)[run_id]["note"] is None


def test_edits_are_lines_not_runs_and_git_log_stays_readable(repo: Path) -> None:
    run_id = record("true", cwd=repo)
    ok("tag", run_id, "verdict=best", cwd=repo)
    ok("rm", run_id, cwd=repo)
    lines = all_note_lines(repo)
    assert len(lines) == 3 and all(line.startswith('{"started":"') for line in lines)
    assert lines == sorted(lines)
    kinds = [json.loads(line).get("type") for line in lines]
    assert sorted(k for k in kinds if k) == ["delete", "edit"]
    res = gitrack("ls", "--deleted", cwd=repo)
    assert res.code == 0 and "warning" not in res.err  # an edit is not a bad run line
    log = git("log", "--notes=gitrack", "--format=%N", cwd=repo)
    assert sum('"type":"edit"' in line for line in log.splitlines()) == 1
    message = git("log", "-1", "--format=%s", "refs/notes/gitrack", cwd=repo)
    assert message == f"gitrack: delete run {run_id}\n"
    checked = gitrack("fsck", cwd=repo)  # edit lines are not bad lines
    assert checked.code == 0 and "not a gitrack run" not in checked.out + checked.err


def test_bad_edits_fail_clearly_and_append_nothing(repo: Path) -> None:
    first = record("true", cwd=repo, options=("--name", "taken"))
    second = record("true", cwd=repo)
    before = git("rev-parse", "refs/notes/gitrack", cwd=repo)

    assert "no run" in fails("tag", "deadbeef", "a=b", cwd=repo).lower()
    assert "tag key" in fails("tag", second, "bad\x07key=1", cwd=repo)
    assert "tag key" in fails("tag", second, "../x=1", cwd=repo)
    assert "already taken" in fails("rename", second, "taken", cwd=repo)
    assert "looks like a run id" in fails("rename", second, "abcd1234", cwd=repo)
    assert "no run" in fails("rm", first, "deadbeef", cwd=repo).lower()  # all or nothing
    assert "nothing to change" in fails("tag", second, cwd=repo)
    assert git("rev-parse", "refs/notes/gitrack", cwd=repo) == before
    assert sorted(by_id(repo)) == sorted([first, second])


def test_an_edit_right_after_another_always_takes_effect(repo: Path) -> None:
    run_id = record("true", cwd=repo)
    for i in range(5):  # rm/undo within microseconds: each line must sort after the last
        ok("rm", run_id, cwd=repo)
        ok("rm", "--undo", run_id, cwd=repo)
        ok("tag", run_id, f"i={i}", cwd=repo)
    assert by_id(repo)[run_id]["tags"] == {"i": "4"}


def test_an_edit_after_a_seen_edit_wins_even_if_that_ones_clock_was_ahead(repo: Path) -> None:
    from gitrack.commands.context import Context
    from gitrack.git.refs import NOTES_REF

    run_id = record("true", cwd=repo)
    ahead = edits.edit_line(run_id, edits.EDIT, "2999-01-01T00:00:00.000000Z", {"tags.x": "1"})
    ctx = Context.open(repo)
    commit = ctx.load_runs().runs[0].commit
    ctx.repo.notes.update(NOTES_REF, commit, lambda t: add_line(t, ahead), "teammate\n")
    assert by_id(repo)[run_id]["tags"] == {"x": "1"}
    ok("tag", run_id, "x=2", cwd=repo)  # made after seeing x=1: must win
    assert by_id(repo)[run_id]["tags"] == {"x": "2"}
    assert edits.next_timestamp("2999-01-01T00:00:00.999999Z") == "2999-01-01T00:00:01.000000Z"


def test_concurrent_edits_of_one_commit_are_all_kept(repo: Path) -> None:
    run_id = record("true", cwd=repo)
    commands = [(gitrack_argv("tag", run_id, f"k{i}=v"), repo) for i in range(4)]
    commands.append((gitrack_argv("note", run_id, "busy"), repo))
    results = start_together(commands)
    assert all(res.code == 0 for res in results), [r.err for r in results if r.code]
    run = by_id(repo)[run_id]
    assert run["tags"] == {f"k{i}": "v" for i in range(4)} and run["note"] == "busy"


def test_api_set_tag_log_metric_after_the_run_and_delete_run(repo: Path) -> None:
    import gitrack

    run_id = record("true", cwd=repo)
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        run = gitrack.get_run(run_id)
        run.set_tag("verdict", "best")
        run.log_metric("auc", 0.93)
        run.set_name("winner")
        assert run.tags == {"verdict": "best"} and run.metrics == {"auc": 0.93}
        assert gitrack.get_run("winner").id == run_id
        table = gitrack.runs()
        assert table.column("metrics.auc").to_pylist() == [0.93]
        gitrack.delete_run(run_id)
        assert gitrack.runs().num_rows == 0
        assert gitrack.get_run(run_id).hidden
        gitrack.restore_run(run_id)
        assert gitrack.runs().num_rows == 1
        with gitrack.start_run() as live:
            live.set_tag("phase", "train")
        with pytest.raises(RunStateError, match="not active"):
            live.log_metric("late", 0.5)  # the live object stays closed (test_api says so)
        late = gitrack.get_run(live.id)  # a recorded run takes changes: edit lines
        late.log_metric("test_auc", 0.5)
        late.set_tag("phase", "tested")
        assert gitrack.get_run(live.id).tags == {"phase": "tested"}
        assert gitrack.get_run(live.id).metrics == {"test_auc": 0.5}
    finally:
        os.chdir(cwd)


def test_gc_keeps_hidden_runs_data_for_the_grace_period(repo: Path) -> None:
    from gitrack.commands.context import Context
    from gitrack.commands.gc import kept_hidden
    from gitrack.tracking.record import parse_timestamp

    (repo / "data.bin").write_bytes(b"x" * 100)
    run_id = record("true", cwd=repo, options=("-d", "data.bin"))
    ok("rm", run_id, cwd=repo)
    ok("gc", "--now", cwd=repo)  # hidden just now: its data stays
    restored = str(repo.parent / "restored")
    assert "verified exact" in ok("checkout", run_id, "--worktree", restored, cwd=repo)

    hidden = Context.open(repo).load_runs().hidden
    assert [r.id for r in hidden] == [run_id] and hidden[0].hidden_at
    at = parse_timestamp(hidden[0].hidden_at).timestamp()
    two_weeks = 14 * 24 * 3600
    assert kept_hidden(hidden, 0, now=at + two_weeks - 60) == hidden
    assert kept_hidden(hidden, 0, now=at + two_weeks + 60) == []
    assert kept_hidden(hidden, 2 * two_weeks, now=at + two_weeks + 60) == hidden


# ----------------------------------------------------------------- two clones
def test_two_clones_converge_on_hide_tag_rename(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    first, second, third = (record("true", cwd=a, options=("-p", f"n={i}")) for i in range(3))
    ok("push", cwd=a)
    b = clone(origin, tmp_path / "b")
    ok("pull", cwd=b)
    assert sorted(by_id(b)) == sorted([first, second, third])

    ok("rm", first, cwd=a)
    ok("tag", second, "verdict=best", cwd=a)
    ok("rename", third, "baseline", cwd=a)
    ok("push", cwd=a)
    # B still has the first run as it was; it records a run on the same commit and pushes.
    assert head(a) == head(b)
    fourth = record("true", cwd=b)
    ok("push", cwd=b)
    ok("pull", cwd=a)
    ok("pull", cwd=b)

    assert state(a) == state(b)
    visible, hidden = state(a)
    assert hidden == [first]
    seen = {run_id: (name, tags) for run_id, name, tags, _ in visible}
    assert seen == {
        second: (None, [("verdict", "best")]),
        third: ("baseline", []),
        fourth: (None, []),
    }


def test_edits_made_on_two_clones_converge_in_either_merge_order(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    run_id = record("true", cwd=a)
    ok("push", cwd=a)
    b = clone(origin, tmp_path / "b")
    ok("pull", cwd=b)
    ok("tag", run_id, "who=a", cwd=a)
    ok("rm", run_id, cwd=a)
    ok("tag", run_id, "who=b", cwd=b)  # later: B's tag wins everywhere
    ok("push", cwd=b)
    ok("push", cwd=a)  # merges B's lines first
    ok("pull", cwd=b)
    assert state(a) == state(b) == ([], [run_id])
    hidden = json.loads(ok("ls", "--deleted", "--json", cwd=a))
    assert hidden[0]["tags"] == {"who": "b"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_edits_on_two_real_clones_converge(tmp_path: Path, seed: int) -> None:
    """Real git: random edits on two clones, pushed and pulled in a random order."""
    rng = random.Random(seed)
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    ids = [record("true", cwd=a, options=("-p", f"n={i}")) for i in range(2)]
    ok("push", cwd=a)
    b = clone(origin, tmp_path / "b")
    ok("pull", cwd=b)
    for step in range(10):
        where = rng.choice([a, b])
        run_id = rng.choice(ids)
        action = rng.choice(["rm", "undo", "tag", "untag", "note", "rename", "sync"])
        if action == "sync":
            ok(rng.choice(["push", "pull"]), cwd=where)
        elif action in ("rm", "undo"):
            gitrack("rm", *(["--undo"] if action == "undo" else []), run_id, cwd=where)
        elif action in ("tag", "untag"):
            values = [f"k={step}"] if action == "tag" else ["--remove", "k"]
            ok("tag", run_id, *values, cwd=where)
        elif action == "note":
            ok("note", run_id, f"note {step}", cwd=where)
        else:
            gitrack("rename", run_id, f"name-{step % 3}", cwd=where)  # may be taken: fine
    ok("push", cwd=a)
    ok("push", cwd=b)
    ok("pull", cwd=a)
    assert all_note_lines(a) == all_note_lines(b)
    assert state(a) == state(b)
    expected = fold_lines(all_note_lines(a))
    hidden = sorted(run_id for run_id, s in expected.items() if s.hidden)
    assert state(a)[1] == hidden


def test_edits_survive_an_amend_and_apply_once(repo: Path) -> None:
    ok("install", cwd=repo)
    run_id = record("true", cwd=repo)
    ok("tag", run_id, "x=1", cwd=repo)
    git("commit", "-q", "--amend", "-m", "amended", cwd=repo)  # copies the note, edits too
    assert by_id(repo)[run_id]["tags"] == {"x": "1"}
    assert by_id(repo)[run_id]["commit"] == head(repo)
    ok("tag", run_id, "y=2", cwd=repo)  # written to the amended commit's note
    ok("rm", run_id, cwd=repo)
    assert runs(repo) == []
    hidden = json.loads(ok("ls", "--deleted", "--json", cwd=repo))
    assert [r["tags"] for r in hidden] == [{"x": "1", "y": "2"}]


# ---------------------------------------------------------------- convergence
RUN_IDS = ["a" * 16, "b" * 16]
TIMES = [f"2026-01-01T00:00:0{s}.00000{u}Z" for s in range(3) for u in range(2)]


def _edit(data: st.DataObject) -> str:
    run_id = data.draw(st.sampled_from(RUN_IDS))
    at = data.draw(st.sampled_from(TIMES))  # few times: many ties
    kind = data.draw(st.sampled_from(edits.KINDS))
    if kind != edits.EDIT:
        return edits.edit_line(run_id, kind, at)
    key = data.draw(st.sampled_from(["name", "note", "tags.x", "tags.y", "metrics.m"]))
    if data.draw(st.booleans()):
        return edits.edit_line(run_id, kind, at, unset=[key])
    value: object = (
        data.draw(st.integers(0, 3))
        if key == "metrics.m"
        else data.draw(st.sampled_from(["p", "q", "r"]))
    )
    return edits.edit_line(run_id, kind, at, {key: value})


def _summary(states: dict[str, edits.RunState]) -> dict[str, tuple[object, ...]]:
    return {k: (s.hidden, s.hidden_at, sorted(s.changes.items())) for k, s in states.items()}


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_edits_merged_in_random_orders_converge(data: st.DataObject) -> None:
    lines = data.draw(st.lists(st.builds(lambda: None), min_size=1, max_size=12))
    made = [_edit(data) for _ in lines]
    # Two clones, each writing its own share, exchanging notes in random chunks and orders.
    seed = data.draw(st.integers(0, 2**32))
    rng = random.Random(seed)
    clone_a, clone_b = "", ""
    for line in made:
        if rng.random() < 0.5:
            clone_a = add_line(clone_a, line)
        else:
            clone_b = add_line(clone_b, line)
        if rng.random() < 0.3:  # a partial exchange, in one direction or the other
            if rng.random() < 0.5:
                clone_a = merge_note_texts(clone_a, clone_b)
            else:
                clone_b = merge_note_texts(clone_b, clone_a)
    final_a = merge_note_texts(clone_a, clone_b)
    final_b = merge_note_texts(clone_b, clone_a)
    assert final_a == final_b
    expected = fold_lines(sorted(set(made)))
    shuffled = list(made)
    rng.shuffle(shuffled)
    assert _summary(fold_lines(final_a.split("\n"))) == _summary(expected)
    assert _summary(fold_lines(shuffled)) == _summary(expected)  # read order: no matter
    assert _summary(expected) == _summary(_reference(made))


def _reference(lines: list[str]) -> dict[str, edits.RunState]:
    """Last writer wins, written the slow, obvious way: for each key, the greatest
    (started, line) among the lines that touch it."""
    parsed = [(json.loads(line), line) for line in set(lines)]
    out: dict[str, edits.RunState] = {}
    for run_id in {data["run"] for data, _ in parsed}:
        mine = [(d["started"], line, d) for d, line in parsed if d["run"] == run_id]
        state = out[run_id] = edits.RunState(latest=max(mine)[0])
        hides = [m for m in mine if m[2]["type"] != "edit"]
        if hides and max(hides)[2]["type"] == "delete":
            state.hidden, state.hidden_at = True, max(hides)[0]
        keys = {k for _, _, d in mine for k in [*d.get("set", {}), *d.get("unset", [])]}
        for key in keys:
            last = max(
                m for m in mine if key in m[2].get("set", {}) or key in m[2].get("unset", [])
            )
            state.changes[key] = last[2].get("set", {}).get(key)
    return out


def test_fold_is_last_writer_by_time_with_ties_by_line() -> None:
    run = "c" * 16
    early = edits.edit_line(run, edits.EDIT, TIMES[0], {"tags.x": "late-in-bytes"})
    late = edits.edit_line(run, edits.EDIT, TIMES[1], {"tags.x": "b"})
    assert fold_lines([late, early])[run].changes == {"tags.x": "b"}
    tie_1 = edits.edit_line(run, edits.EDIT, TIMES[2], {"tags.x": "a"})
    tie_2 = edits.edit_line(run, edits.EDIT, TIMES[2], {"tags.x": "z"})
    assert fold_lines([tie_2, tie_1])[run].changes == {"tags.x": "z"}
    assert fold_lines([tie_1, tie_2])[run].changes == {"tags.x": "z"}


def test_forged_edit_lines_are_ignored_or_trimmed() -> None:
    run = "d" * 16
    good = edits.edit_line(run, edits.EDIT, TIMES[0], {"tags.ok": "1"})
    forged = [
        '{"started":"x","v":1,"type":"edit","run":"' + run + '","set":{"name":"n"}}',
        '{"started":"' + TIMES[1] + '","v":1,"type":"edit","run":"../x","set":{"name":"n"}}',
        '{"started":"' + TIMES[1] + '","v":1,"type":"edit","run":"' + run
        + '","set":{"command":"rm -rf /","tags.ok":5,"metrics.m":"huge","name":"n"}}',
        '{"started":"' + TIMES[1] + '","v":1,"type":"explode","run":"' + run + '"}',
        "[" * 100 + "]" * 100,
    ]  # fmt: skip
    states = fold_lines([good, *forged])
    assert states[run].changes == {"tags.ok": "1", "name": "n"}
    assert not states[run].hidden


def test_forged_and_future_typed_lines_in_a_note_change_nothing(repo: Path) -> None:
    from gitrack.commands.context import Context
    from gitrack.git.refs import NOTES_REF

    run_id = record("true", cwd=repo)
    later = '{"started":"' + TIMES[0] + '","v":2,"type":"archive","run":"' + run_id + '"}'
    forged = '{"started":"' + TIMES[0] + '","v":1,"type":"delete","run":"../' + run_id + '"}'
    ctx = Context.open(repo)
    commit = ctx.load_runs().runs[0].commit
    for line in (later, forged):
        ctx.repo.notes.update(NOTES_REF, commit, lambda t, x=line: add_line(t, x), "forge\n")
    res = gitrack("ls", "--json", cwd=repo)
    assert res.code == 0 and res.err == ""  # skipped silently: no warning on every ls
    assert [r["id"] for r in res.json()] == [run_id]


# ---------------------------------------------------------------- experiments
def test_experiments_from_flag_env_and_config(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flagged = record("true", cwd=repo, options=("-e", "lr-search", "-p", "lr=1"))
    (repo / "gitrack.toml").write_text('experiment = "from-config"\n')
    configured = record("true", cwd=repo)
    monkeypatch.setenv("GITRACK_EXPERIMENT", "from-env")
    from_env = record("true", cwd=repo)
    monkeypatch.delenv("GITRACK_EXPERIMENT")
    (repo / "gitrack.toml").unlink()
    plain = record("true", cwd=repo)

    seen = {r["id"]: r["experiment"] for r in runs(repo)}
    assert seen == {flagged: "lr-search", configured: "from-config", from_env: "from-env",
                    plain: None}  # fmt: skip
    listed = json.loads(ok("ls", "-e", "lr-search", "--json", cwd=repo))
    assert [r["id"] for r in listed] == [flagged]
    where = "experiment = 'from-env'"
    assert [r["id"] for r in json.loads(ok("ls", "--where", where, "--json", cwd=repo))] == [
        from_env
    ]
    ok("export", "runs.csv", cwd=repo)
    assert "experiment" in (repo / "runs.csv").read_text().splitlines()[0]


def test_experiments_lists_counts_and_best_run(repo: Path) -> None:
    ids = {}
    for auc in (0.5, 0.9, 0.7):
        # The command writes the metrics file: a run is credited only with what it wrote.
        write = f"open('m.json', 'w').write('{{\"auc\": {auc}}}')"
        ids[auc] = record(
            sys.executable, "-c", write, cwd=repo, options=("-e", "search", "-m", "m.json")
        )
    record("true", cwd=repo)
    ok("rm", ids[0.9], cwd=repo)  # hidden runs do not count
    found = json.loads(ok("experiments", "--metric", "auc", "--json", cwd=repo))
    assert found[0] == {
        "experiment": "search", "runs": 2, "latest": found[0]["latest"],
        "best_run": ids[0.7], "best_value": 0.7,
    }  # fmt: skip
    assert found[1]["experiment"] is None and found[1]["runs"] == 1
    lowest = json.loads(ok("experiments", "--metric", "-auc", "--json", cwd=repo))
    assert lowest[0]["best_run"] == ids[0.5]
    text = ok("experiments", "--metric", "auc", cwd=repo)
    assert "search" in text and ids[0.7][:8] in text


def test_start_run_experiment_under_gitrack_run(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = repo / "exp.py"
    script.write_text("import gitrack\nwith gitrack.start_run(experiment='from-code'):\n    pass\n")
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    chosen = record(sys.executable, str(script), cwd=repo)
    forced = record(sys.executable, str(script), cwd=repo, options=("-e", "flag"))
    seen = {r["id"]: r["experiment"] for r in runs(repo)}
    assert seen == {chosen: "from-code", forced: "flag"}  # -e wins over the script


# ---------------------------------------------------------------- nested runs
def test_gitrack_run_inside_gitrack_run_nests(repo: Path) -> None:
    inner = f"{sys.executable} -m gitrack run -- true"
    outer = record("sh", "-c", inner, cwd=repo, options=("-e", "sweep"))
    found = runs(repo)
    child = next(r for r in found if r["id"] != outer)
    assert child["parent"] == outer and child["experiment"] == "sweep"
    where = f"parent = '{outer}'"
    assert [r["id"] for r in json.loads(ok("ls", "--where", where, "--json", cwd=repo))] == [
        child["id"]
    ]
    table = ok("ls", cwd=repo).splitlines()
    rows = [line for line in table if line.lstrip()[:8] in (outer[:8], child["id"][:8])]
    assert rows[0].startswith(outer[:8]) and rows[1].startswith("  " + child["id"][:8])
    flat = ok("ls", "--flat", cwd=repo).splitlines()
    assert all(not line.startswith(" ") for line in flat)


def test_api_nested_runs_record_their_parent(repo: Path) -> None:
    script = repo / "search.py"
    script.write_text(
        "import gitrack\n"
        "with gitrack.start_run(experiment='grid') as outer:\n"
        "    for lr in (0.1, 0.2):\n"
        "        with gitrack.start_run(nested=True, params={'lr': lr}) as child:\n"
        "            child.log_metric('loss', lr)\n"
        "    outer.log_metric('best', 0.1)\n"
        "print(outer.id)\n"
    )
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=repo, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    outer_id = proc.stdout.split()[-1]
    found = runs(repo)
    assert len(found) == 3
    children = [r for r in found if r["parent"] == outer_id]
    assert sorted(r["params"]["lr"] for r in children) == ["0.1", "0.2"]
    assert {r["experiment"] for r in found} == {"grid"}
    assert next(r for r in found if r["id"] == outer_id)["metrics"] == {"best": 0.1}
