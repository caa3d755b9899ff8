"""The parsed-notes cache: a speed-up that can never change what `gitrack ls` says."""

from __future__ import annotations

import gc
import json
import marshal
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import chdir, fresh_clone, git, gitrack, gitrack_cmd, note_lines, record
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_record import hostile_lines, records

import gitrack as gitrack_api
from gitrack.git import Repo
from gitrack.git import notes as git_notes
from gitrack.tracking import edits, history, notecache
from gitrack.tracking import record as record_module
from gitrack.tracking.record import RunRecord


def cache_file(repo: Path) -> Path:
    return repo / ".git" / "gitrack" / "notes.cache"


def ls_json(repo: Path) -> str:
    res = gitrack("ls", "--json", cwd=repo)
    assert res.code == 0, res.err
    return res.out


def test_warm_cache_lists_exactly_what_a_cold_one_does(repo: Path) -> None:
    ids = {record("true", cwd=repo, options=("-p", f"i={i}")) for i in range(3)}
    cold = ls_json(repo)
    assert cache_file(repo).is_file()
    warm = ls_json(repo)
    assert warm == cold
    cache_file(repo).unlink()
    assert ls_json(repo) == cold
    assert ids <= set(cold.replace('"', " ").split())


def test_a_new_run_shows_up_through_the_cache(repo: Path) -> None:
    first = record("true", cwd=repo)
    ls_json(repo)
    second = record("false", cwd=repo)  # same commit: its note blob changes
    out = ls_json(repo)
    assert first in out and second in out


def test_notes_that_are_gone_leave_the_cache(repo: Path) -> None:
    record("true", cwd=repo)
    ls_json(repo)
    git("notes", "--ref=gitrack", "remove", "HEAD", cwd=repo)
    assert gitrack("ls", "--json", cwd=repo).out.strip() == "[]"
    index = notecache.read(cache_file(repo))
    assert index is not None and index.count() == 0 and index.keys == {}
    assert index.tip == git("rev-parse", "refs/notes/gitrack", cwd=repo).strip()


@pytest.mark.parametrize(
    "damage",
    [
        lambda _good: b"not marshal at all",
        lambda _good: marshal.dumps(("another version", {})),
        lambda good: good[: len(good) // 2],  # cut short
        lambda good: good.replace(b'"status":"ok"', b'"status":"ko"'),  # still decodes
        lambda good: good.replace(notecache._KEY[2].encode(), b"0.0.0-other"),  # other version
        lambda _good: b"",
    ],
    ids=["garbage", "old-format", "truncated", "changed-bytes", "other-version", "empty"],
)
def test_a_damaged_cache_is_ignored_and_rewritten(
    repo: Path, damage: Callable[[bytes], bytes]
) -> None:
    run_id = record("true", cwd=repo, options=("-p", "lr=0.1"))
    expected = ls_json(repo)
    cache_file(repo).write_bytes(damage(cache_file(repo).read_bytes()))
    assert ls_json(repo) == expected
    assert gitrack("ls", "--where", "params.lr = '0.1'", cwd=repo).out.count(run_id[:8]) == 1
    assert ls_json(repo) == expected
    assert run_id in ls_json(repo)


# -------------------------------------------------- the index follows the notes ref
def from_scratch(repo: Path, *args: str) -> tuple[str, str]:
    """What `gitrack ls` says with no cache at all (the cache is left as it was)."""
    saved = cache_file(repo).read_bytes()
    cache_file(repo).unlink()
    res = gitrack("ls", *args, cwd=repo)
    cache_file(repo).write_bytes(saved)
    return res.out, res.err


def listed(repo: Path, *args: str) -> tuple[str, str]:
    res = gitrack("ls", *args, cwd=repo)
    assert res.code == 0, res.err
    return res.out, res.err


def patched_only(repo: Path, monkeypatch: pytest.MonkeyPatch) -> history.Runs:
    """Runs loaded with a rebuild forbidden: the index must have been patched."""

    def no_rebuild(_repo: object, _tip: str) -> None:
        raise AssertionError("the index was rebuilt from every note instead of patched")

    with monkeypatch.context() as patch:
        patch.setattr(notecache, "build", no_rebuild)
        return history.load_runs(Repo.discover(repo))


def assert_same_as_rebuilt(repo: Path) -> None:
    for args in (("--json",), ("-n", "2", "--json"), ("--deleted", "--json"), ("-n", "1")):
        assert listed(repo, *args) == from_scratch(repo, *args), args


def test_a_run_added_by_plain_git_notes_in_another_clone(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = record("true", cwd=repo)
    listed(repo, "--json")
    other = fresh_clone(repo, tmp_path / "other")
    git("fetch", "-q", "origin", "refs/notes/gitrack:refs/notes/gitrack", cwd=other)
    line = json.loads(note_lines(other)[0])
    line["id"], line["started"] = "ab" * 8, "2099-01-01T00:00:00.000000Z"
    git("commit", "-q", "--allow-empty", "-m", "theirs", cwd=other)
    git("notes", "--ref=gitrack", "add", "-m", json.dumps(line), "HEAD", cwd=other)
    git("fetch", "-q", str(other), "refs/notes/gitrack:refs/notes/theirs", cwd=repo)
    git("notes", "--ref=gitrack", "merge", "-q", "-s", "cat_sort_uniq", "theirs", cwd=repo)

    runs = patched_only(repo, monkeypatch)
    assert [run.id for run in runs.runs] == ["ab" * 8, first]
    assert_same_as_rebuilt(repo)
    assert json.loads(listed(repo, "-n", "1", "--json")[0])[0]["id"] == "ab" * 8


def test_edit_lines_reach_the_index(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = record("true", cwd=repo)
    second = record("true", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "later", cwd=repo)
    third = record("true", cwd=repo)
    listed(repo, "--json")
    assert gitrack("rename", first, "baseline", cwd=repo).code == 0
    assert gitrack("rm", third, cwd=repo).code == 0
    runs = patched_only(repo, monkeypatch)
    assert [run.id for run in runs.runs] == [second, first]
    assert [run.id for run in runs.hidden] == [third]
    assert runs.runs[1].record.name == "baseline"
    assert_same_as_rebuilt(repo)
    assert '"name":"baseline"' in listed(repo, "--json")[0]
    assert gitrack("rm", "--undo", third, cwd=repo).code == 0
    assert [run.id for run in patched_only(repo, monkeypatch).runs] == [third, second, first]
    assert_same_as_rebuilt(repo)


def test_an_edit_line_on_another_commit_reaches_the_index(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Edit lines apply wherever they sit: the run's own note is unchanged."""
    run_id = record("true", cwd=repo)
    listed(repo, "--json")
    git("commit", "-q", "--allow-empty", "-m", "elsewhere", cwd=repo)
    line = edits.edit_line(run_id, edits.EDIT, "2099-01-01T00:00:00.000000Z", {"tags.v": "best"})
    git("notes", "--ref=gitrack", "add", "-m", line, "HEAD", cwd=repo)
    runs = patched_only(repo, monkeypatch)
    assert [(run.id, run.record.tags.get("v")) for run in runs.runs] == [(run_id, "best")]
    assert_same_as_rebuilt(repo)
    git("notes", "--ref=gitrack", "remove", "HEAD", cwd=repo)
    assert patched_only(repo, monkeypatch).runs[0].record.tags.get("v") is None
    assert_same_as_rebuilt(repo)


def test_an_amend_moves_the_run_in_the_index(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert gitrack("install", cwd=repo).code == 0
    run_id = record("true", cwd=repo)
    listed(repo, "--json")
    git("commit", "-q", "--amend", "--allow-empty", "-m", "amended", cwd=repo)
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    runs = patched_only(repo, monkeypatch)
    assert [(run.id, run.commit) for run in runs.runs] == [(run_id, head)]
    assert_same_as_rebuilt(repo)
    assert json.loads(listed(repo, "-n", "5", "--json")[0])[0]["commit"] == head


def test_a_bad_line_added_later_is_still_reported(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record("true", cwd=repo)
    listed(repo, "--json")
    git("notes", "--ref=gitrack", "append", "-m", '{"not": "a run"}', "HEAD", cwd=repo)
    runs = patched_only(repo, monkeypatch)
    assert len(runs.warnings) == 1 and "not a gitrack run" in runs.warnings[0]
    assert_same_as_rebuilt(repo)
    assert "not a gitrack run" in listed(repo, "-n", "1")[1]


def test_a_new_run_on_a_busy_commit_is_newest_in_the_index(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [record("true", cwd=repo) for _ in range(3)]
    listed(repo, "--json")
    ids.append(record("true", cwd=repo))
    runs = patched_only(repo, monkeypatch)
    assert [run.id for run in runs.runs] == ids[::-1]
    assert_same_as_rebuilt(repo)


def test_chunks_stay_ordered_through_patches(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many runs, few per chunk: patches split chunks and keep newest first."""
    monkeypatch.setattr(notecache, "CHUNK_RUNS", 2)
    record("true", cwd=repo)
    template = json.loads(note_lines(repo)[0])
    real = Repo.discover(repo)
    history.load_runs(real)
    for number in (5, 1, 9, 3, 7):
        line = dict(template, id=f"{number:016x}", started=f"2090-01-0{number}T00:00:00.000000Z")
        git("notes", "--ref=gitrack", "append", "-m", json.dumps(line), "HEAD", cwd=repo)
        runs = patched_only(repo, monkeypatch)
        started = [run.started for run in runs.runs]
        assert started == sorted(started, reverse=True)
    index = notecache.read(cache_file(repo))
    assert index is not None and len(index.visible) >= 2
    assert [run.id for run in history.load_runs(real).runs][:5] == [
        f"{n:016x}" for n in (9, 7, 5, 3, 1)
    ]


def test_concurrent_listings_after_a_change_agree(repo: Path) -> None:
    """Several processes patch and replace the index at once: each prints the right runs
    and the index left behind is whole, of the ref's tip, with no temp file."""
    first = record("true", cwd=repo)
    listed(repo, "--json")
    second = record("true", cwd=repo)
    procs = [
        subprocess.Popen(gitrack_cmd("ls", "--json"), cwd=repo, stdout=subprocess.PIPE)
        for _ in range(4)
    ]
    outputs = {proc.communicate(timeout=60)[0] for proc in procs}
    assert len(outputs) == 1
    assert [run["id"] for run in json.loads(outputs.pop())] == [second, first]
    index = notecache.read(cache_file(repo))
    assert index is not None
    assert index.tip == git("rev-parse", "refs/notes/gitrack", cwd=repo).strip()
    assert [p.name for p in cache_file(repo).parent.glob(".notes.cache*")] == []
    assert_same_as_rebuilt(repo)


def test_the_garbage_collector_is_back_on_after_loading(repo: Path) -> None:
    record("true", cwd=repo)
    assert gc.isenabled()
    history.load_runs(Repo.discover(repo))
    with chdir(repo):
        assert gitrack_api.runs().num_rows == 1
    assert gc.isenabled()


# --------------------------------------------- notes trees that git did not write
def _notes_commit(repo: Path, entries: dict[str, str]) -> str:
    """A notes commit whose tree holds ``entries`` (path -> note text), made by hand, in
    any layout (git notes reads 2-character fan-out folders only), parent the ref's tip."""
    tree: dict[str, object] = {}
    for path, text in entries.items():
        *folders, name = path.split("/")
        node = tree
        for folder in folders:
            node = node.setdefault(folder, {})  # type: ignore[assignment]
        blob = git("hash-object", "-w", "--stdin", cwd=repo, input=text).strip()
        node[name] = blob

    def write(node: dict[str, object]) -> str:
        rows = []
        for name, value in node.items():
            if isinstance(value, dict):
                rows.append(f"040000 tree {write(value)}\t{name}\n")
            else:
                rows.append(f"100644 blob {value}\t{name}\n")
        return git("mktree", cwd=repo, input="".join(rows)).strip()

    parent = git("rev-parse", "refs/notes/gitrack", cwd=repo).strip()
    commit = git("commit-tree", write(tree), "-p", parent, "-m", "by hand", cwd=repo).strip()
    git("update-ref", "refs/notes/gitrack", commit, cwd=repo)
    return commit


def test_a_note_git_does_not_read_is_not_a_run_before_or_after_a_patch(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 3-character folder is not a fan-out to git (`git notes show` finds no note): not
    to the listing either, built or patched, or the two would disagree after an edit."""
    first = record("true", cwd=repo)
    template = json.loads(note_lines(repo)[0])
    git("commit", "-q", "--allow-empty", "-m", "other", cwd=repo)
    other = git("rev-parse", "HEAD", cwd=repo).strip()
    base = git("rev-parse", "HEAD~1", cwd=repo).strip()
    hidden_id = "cd" * 8
    line = json.dumps(dict(template, id=hidden_id, started="2099-01-01T00:00:00.000000Z"))
    _notes_commit(
        repo, {base: "\n".join(note_lines(repo, base)) + "\n", f"{other[:3]}/{other[3:]}": line}
    )
    assert note_lines(repo, other) == []  # git sees no note there
    assert [run["id"] for run in json.loads(listed(repo, "--json")[0])] == [first]
    edit = edits.edit_line(hidden_id, edits.EDIT, "2099-02-01T00:00:00.000000Z", {"tags.v": "x"})
    git("notes", "--ref=gitrack", "append", "-m", edit, base, cwd=repo)
    assert [run.id for run in patched_only(repo, monkeypatch).runs] == [first]
    assert_same_as_rebuilt(repo)


def test_two_copies_of_one_note_are_read_as_git_reads_them(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree with one commit's note both flat and fanned out (made by hand, or by a tool
    other than git): git concatenates them, so both runs are listed, built or patched."""
    record("true", cwd=repo)
    template = json.loads(note_lines(repo)[0])
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    one, two, three = (
        json.dumps(dict(template, id=c * 16, started=f"2099-01-0{n}T00:00:00.000000Z"))
        for n, c in ((1, "a"), (2, "b"), (3, "c"))
    )
    _notes_commit(repo, {head: one + "\n", f"{head[:2]}/{head[2:]}": two + "\n"})
    assert {"a" * 16, "b" * 16} <= {
        json.loads(line)["id"] for line in note_lines(repo) if line.startswith("{")
    }
    assert [run["id"] for run in json.loads(listed(repo, "--json")[0])] == ["b" * 16, "a" * 16]
    _notes_commit(repo, {head: one + "\n", f"{head[:2]}/{head[2:]}": two + "\n" + three + "\n"})
    ids = [run.id for run in patched_only(repo, monkeypatch).runs]
    assert ids == ["c" * 16, "b" * 16, "a" * 16]
    assert_same_as_rebuilt(repo)


def test_a_temp_file_a_crashed_writer_left_goes_once_it_is_old(repo: Path) -> None:
    import os
    import time

    from gitrack.paths import temp_prefix

    record("true", cwd=repo)
    ls_json(repo)
    folder = cache_file(repo).parent
    old, young = (folder / f"{temp_prefix('notes.cache')}tmp{n}.0" for n in (1, 2))
    for left in (old, young):
        left.write_bytes(b"half an index")
    aged = time.time() - notecache.TEMP_GRACE_S - 60
    os.utime(old, (aged, aged))
    record("true", cwd=repo)  # the index is written again
    ls_json(repo)
    assert not old.exists() and young.exists()  # a young one may be another writer's


def test_a_header_changed_where_it_still_decodes_is_caught_by_its_check(repo: Path) -> None:
    """The header (warnings, edits, `committed` lines) is checked like every section."""
    record("true", cwd=repo)
    git("notes", "--ref=gitrack", "append", "-m", "not a run at all", "HEAD", cwd=repo)
    expected = gitrack("ls", cwd=repo)
    assert "skipped note line" in expected.err
    good = cache_file(repo).read_bytes()
    at = good.rfind(b"Expecting")  # in the header: the reason the bad line was skipped
    assert at > 0
    cache_file(repo).write_bytes(good[:at] + b"Expectinx" + good[at + len(b"Expecting") :])
    again = gitrack("ls", cwd=repo)
    assert (again.out, again.err) == (expected.out, expected.err)


def test_notes_read_through_git_cat_file_list_what_libgit2_reads(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build reads many notes through one `git cat-file --batch` (Notes.read_texts): the
    same listing, warnings and runs at several fan-outs included, as one note at a time."""
    record("true", cwd=repo)
    template = json.loads(note_lines(repo)[0])
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    git("commit", "-q", "--allow-empty", "-m", "other", cwd=repo)
    other = git("rev-parse", "HEAD", cwd=repo).strip()
    one, two, three = (
        json.dumps(dict(template, id=c * 16, started=f"2099-01-0{n}T00:00:00.000000Z"))
        for n, c in ((1, "a"), (2, "b"), (3, "c"))
    )
    entries = {
        head: one + "\nnot a run\n",
        f"{head[:2]}/{head[2:]}": two + "\n",
        other: three + "\n" + "é" * 3000 + "\n",  # longer than a pipe read, not ASCII
    }
    _notes_commit(repo, entries)
    one_by_one = listed(repo, "--json")
    assert one_by_one[0].count('"id"') == 3 and one_by_one[1].count("skipped note line") == 2
    monkeypatch.setattr(git_notes, "BATCH_READ_MIN", 1)
    assert from_scratch(repo, "--json") == one_by_one


def test_an_index_of_an_older_format_is_rebuilt_never_read(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Format 9 keeps each run's public JSON and table row (7 kept all its fields beside,
    8 no row): an index written by an older gitrack is not read, whatever it holds; the
    listing rebuilds it."""
    run_id = record("true", cwd=repo, options=("-p", "lr=0.1"))
    expected = ls_json(repo)
    key = notecache._KEY
    with monkeypatch.context() as patch:
        patch.setattr(notecache, "_KEY", (key[0], notecache.CACHE_FORMAT - 1, *key[2:]))
        cache_file(repo).unlink()
        notecache.current(Repo.discover(repo), cache_file(repo))
    assert notecache.read(cache_file(repo)) is None
    assert ls_json(repo) == expected
    index = notecache.read(cache_file(repo))
    assert index is not None and [entry[0] for entry in index.runs()] == [run_id]


def test_a_partial_clone_lists_runs_whose_notes_its_remote_still_has(
    repo: Path, tmp_path: Path
) -> None:
    """A `--filter=blob:none` clone has the notes tree but not the note blobs: they are
    fetched as git fetches them for `git log --notes` (libgit2 cannot), however few, to
    list, check or add a run to a note; once the remote is gone, the listing says what is
    missing instead of crashing."""
    ids = [record("true", cwd=repo) for _ in range(3)]
    git("config", "uploadpack.allowFilter", "true", cwd=repo)
    clone = tmp_path / "partial"
    git("clone", "-q", "--filter=blob:none", f"file://{repo}", str(clone), cwd=tmp_path)
    git("fetch", "-q", "origin", "refs/notes/gitrack:refs/notes/gitrack", cwd=clone)
    offline, writer = tmp_path / "offline", tmp_path / "writer"
    for copy in (offline, writer):
        subprocess.run(["cp", "-a", str(clone), str(copy)], check=True)
    missing = git("rev-list", "--objects", "--missing=print", "refs/notes/gitrack", cwd=clone)
    assert any(line.startswith("?") for line in missing.splitlines())  # blobs left behind

    listed = gitrack("ls", "--json", cwd=clone)
    assert listed.code == 0, listed.err
    assert sorted(run["id"] for run in json.loads(listed.out)) == sorted(ids)
    checked = gitrack("fsck", cwd=clone).out  # every note read, fetched where missing
    assert "checked 3 run(s)" in checked and "note blob" not in checked, checked
    mine = record("true", cwd=writer)  # added to a note whose blob is not here yet
    listed_there = json.loads(gitrack("ls", "--json", cwd=writer).out)
    assert {mine, *ids} == {run["id"] for run in listed_there}

    (repo / ".git").rename(repo / "gone.git")  # the remote can no longer send anything
    failed = gitrack("ls", "--json", cwd=offline)
    assert failed.code == 1
    assert "is not in this repository" in failed.err and "Traceback" not in failed.err


@pytest.mark.parametrize("relative_url", [False, True], ids=["url", "relative-url"])
def test_a_partial_clone_fetches_the_note_blobs_it_lacks_in_one_fetch(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative_url: bool
) -> None:
    """git would fetch each missing note blob in a fetch of its own (one request each).
    A remote named by a path relative to the work tree (as `git remote add team
    ../shared.git` stores it) is resolved from there, as git resolves it."""
    ids = []
    for number in range(5):  # a note blob per commit
        (repo / f"step{number}.txt").write_text(f"{number}\n")
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", f"step {number}", cwd=repo)
        ids.append(record("true", cwd=repo))
    git("config", "uploadpack.allowFilter", "true", cwd=repo)
    clone = tmp_path / "partial"
    git("clone", "-q", "--filter=blob:none", f"file://{repo}", str(clone), cwd=tmp_path)
    git("fetch", "-q", "origin", "refs/notes/gitrack:refs/notes/gitrack", cwd=clone)
    if relative_url:
        git("config", "remote.origin.url", os.path.relpath(repo, clone), cwd=clone)
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    listed = gitrack("ls", "--json", cwd=clone)
    assert listed.code == 0, listed.err
    assert sorted(run["id"] for run in json.loads(listed.out)) == sorted(ids)
    fetches = [line for line in trace.read_text().splitlines() if "built-in: git fetch" in line]
    assert len(fetches) == 1, fetches
    monkeypatch.delenv("GIT_TRACE")
    missing = git("rev-list", "--objects", "--missing=print", "refs/notes/gitrack", cwd=clone)
    assert not any(line.startswith("?") for line in missing.splitlines())


# ------------------------------------------------- fast paths against their slow paths
def _parse_note_before(text: str) -> list[notecache.Item]:
    """parse_note as it was before one scan for a type ruled out committed and edit lines."""
    items: list[notecache.Item] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        committed = record_module.parse_committed_line(line)
        if committed is not None:
            items.append(("committed", committed))
            continue
        if edits.is_typed_line(line):
            edit = edits.parse_edit_line(line)
            if edit is not None:
                items.append(edit)
                continue
            if edits.has_type(line):
                continue
        try:
            values = record_module.line_fields(line)
        except (ValueError, TypeError, OverflowError) as exc:
            items.append(("bad", number, str(exc)))
            continue
        summary = (values["id"], values["started"], values["base_commit"], values["snapshot"])
        public = record_module.public_dict(values)
        row = marshal.dumps(record_module.table_row(public))
        v = values.get("v", record_module.FORMAT_VERSION)
        items.append(("run", summary, record_module.public_text(public), row, v))
    return items


_typed_lines = st.sampled_from(
    [
        record_module.committed_line("ab12", "cd34"),
        '{"type":"committed","run":"XYZ"}',
        edits.edit_line("ab12", edits.EDIT, "2099-01-01T00:00:00.000000Z", {"tags.x": "y"}),
        edits.edit_line("ab12", edits.DELETE, "2099-01-01T00:00:00.000000Z"),
        '{"type":"edit","run":5}',
        '{"type": 3, "started": "x"}',
        '{"type":"a later kind"}',
        '"type": not JSON',
    ]
)
_any_line = (
    hostile_lines()
    | records.map(RunRecord.to_line)
    | _typed_lines
    | st.sampled_from(["", " ", "\t", "\u2028", "\x85", "\r", "[]", "null", "{"])
    | st.text(max_size=12)
)


@settings(max_examples=300)
@given(st.lists(_any_line, max_size=5))
def test_a_note_is_parsed_as_before_its_fast_paths(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert repr(notecache.parse_note(text)) == repr(_parse_note_before(text))


@settings(max_examples=100)
@given(hostile_lines() | records.map(RunRecord.to_line))
def test_an_entry_of_one_unedited_copy_is_made_as_any_entry_is(line: str) -> None:
    """_entry's shortcut for one copy and no edit gives what its general path gives (an edit
    state that changes nothing takes that path)."""
    items = [item for item in notecache.parse_note(line) if item[0] == "run"]
    assume(items)
    found = {"c0ffee": items[0]}
    run_id = items[0][1][0]
    general = notecache._entry(run_id, found, edits.RunState())
    assert notecache._entry(run_id, found, None) == general


def test_an_index_saved_section_by_section_is_read_back_whole(tmp_path: Path) -> None:
    """Index.save writes each section as it makes it and the header's offset last: what
    it wrote reads back as the index it saved, chunk by chunk."""
    index = notecache.Index("c0ffee" * 6)
    for n in range(3 * notecache.CHUNK_RUNS + 5):
        copy = ("ab" * 20, f"2026-01-01T00:00:00.{n:06d}Z", "aa", "bb", f'{{"n":{n}}}', 1, b"")
        index.place((f"{n:04x}", copy[1], None, (copy,)))
    index.bad_lines = [("cd" * 20, 3, "not a JSON object")]
    path = tmp_path / "notes.cache"
    index.save(path)
    back = notecache.read(path)
    assert back is not None and back.tip == index.tip
    assert list(back.runs()) == list(index.runs())
    assert back.bad_lines == index.bad_lines
    back.load_patch_state()
    assert back.keys == index.keys


def test_a_damaged_index_found_while_saving_is_raised_not_taken_for_a_failed_write(
    tmp_path: Path,
) -> None:
    """A chunk read from disk that is too big is split (so decoded) before the file is
    opened: damage there is raised (history rebuilds the index), never swallowed with the
    errors of a cache that cannot be written."""
    index = notecache.Index("c0ffee" * 6)
    damaged = b"\0\0\0\0" + marshal.dumps([])  # its check does not match
    index.visible = [notecache.Chunk(damaged, ((0, len(damaged)), 2 * notecache.CHUNK_RUNS + 1))]
    path = tmp_path / "notes.cache"
    with pytest.raises(ValueError, match="damaged section"):
        index.save(path)
    assert not path.exists()


def test_a_value_the_index_cannot_pack_is_raised_not_taken_for_a_full_disk(
    tmp_path: Path,
) -> None:
    """Only an OSError means "the cache cannot be written" (it then costs time only); a
    value marshal cannot pack is a bug, raised, as before sections were streamed (review)."""
    index = notecache.Index("aa" * 20)
    index.committed_as = {"x": [object()]}  # type: ignore[list-item]
    path = tmp_path / "notes.cache"
    with pytest.raises(ValueError, match="unmarshallable"):
        index.save(path)
    assert not path.exists() and list(tmp_path.iterdir()) == []
