"""`gitrack run`: what a run records, and that it never touches the user's index, HEAD or files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from conftest import (
    git,
    git_dir_of,
    gitrack,
    gitrack_cmd,
    gitrack_proc,
    make_repo,
    note_lines,
    record,
    repo_state,
    run_by_id,
    runs,
    worktree_state,
)
from hypothesis import given
from hypothesis import strategies as st

from gitrack.tracking.metricsfile import flatten_numbers
from gitrack.tracking.recorder import parse_assignments

HEX16 = re.compile(r"^[0-9a-f]{16}$")


def snapshot_files(repo: Path, snapshot: str) -> dict[str, tuple[str, bytes]]:
    """path -> (mode, bytes) of every blob in a snapshot commit, read by git itself."""
    out = {}
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "-z", snapshot], cwd=repo, capture_output=True, check=True
    ).stdout
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, path = entry.split(b"\t", 1)
        mode, _kind, oid = meta.decode().split()
        blob = subprocess.run(
            ["git", "cat-file", "blob", oid], cwd=repo, capture_output=True, check=True
        ).stdout
        out[path.decode()] = (mode, blob)
    return out


def tree_of_git_add_all(repo: Path, tmp_path: Path) -> str:
    """What `git add -A` would stage, in a throwaway index: the snapshot's oracle."""
    env = {**os.environ, "GIT_INDEX_FILE": str(tmp_path / "oracle-index")}
    for args in (["read-tree", "HEAD"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


# ------------------------------------------------------------------ what is recorded
def test_clean_run_records_one_line_on_head(repo: Path) -> None:
    head = git("rev-parse", "HEAD", cwd=repo).strip()

    res = gitrack("run", "--", "true", cwd=repo)

    assert res.code == 0
    assert res.out == ""
    [line] = res.err_lines
    run_id = line.split()[3]
    assert HEX16.match(run_id)
    assert line.startswith(f"gitrack: recorded run {run_id} on {head[:10]} (ok, exit 0, ")
    [note] = note_lines(repo)
    assert note.startswith('{"started":"')
    data = json.loads(note)
    assert data["id"] == run_id
    run = run_by_id(repo, run_id)
    assert run["commit"] == run["base_commit"] == head
    assert run["status"] == "ok" and run["exit_code"] == 0 and run["signal"] is None
    assert run["command"] == ["true"]
    assert run["cwd"] == "."
    assert run["dirty"] is False
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", run["started"])
    assert set(run["env"]) >= {"python", "implementation", "platform", "packages"}
    assert run["env"]["python"] == ".".join(map(str, sys.version_info[:3]))
    # The package list is a blob in the repository, named by the note.
    packages = git("cat-file", "-p", run["env"]["packages"], cwd=repo)
    assert "gitrack==" in packages
    # Clean: the snapshot is HEAD's tree, on top of HEAD, kept alive by the pins ref.
    snap = run["snapshot"]
    assert git("rev-parse", f"{snap}^{{tree}}", cwd=repo) == git(
        "rev-parse", "HEAD^{tree}", cwd=repo
    )
    assert git("rev-parse", f"{snap}^", cwd=repo).strip() == head
    git("merge-base", "--is-ancestor", snap, "refs/gitrack/pins", cwd=repo)


def test_params_tags_and_name_are_recorded_as_typed(repo: Path) -> None:
    run_id = record(
        "true",
        cwd=repo,
        options=(
            "--name",
            "baseline",
            "-p",
            "lr=0.2",
            "-p",
            "expr=a=b",
            "-p",
            "empty=",
            "-t",
            "team=vision",
        ),
    )
    run = run_by_id(repo, run_id)
    assert run["name"] == "baseline"
    assert run["params"] == {"lr": "0.2", "expr": "a=b", "empty": ""}
    assert run["tags"] == {"team": "vision"}


def test_command_arguments_after_double_dash_are_passed_verbatim(repo: Path) -> None:
    script = "import sys, json; open('argv.json', 'w').write(json.dumps(sys.argv[1:]))"
    args = ["--lr", "0.1", "-p", "x", "--", "a b", "ü"]
    run_id = record(sys.executable, "-c", script, *args, cwd=repo)
    assert json.loads((repo / "argv.json").read_text()) == args
    assert run_by_id(repo, run_id)["command"] == [sys.executable, "-c", script, *args]


def test_snapshot_holds_every_kind_of_change_and_nothing_ignored(
    repo: Path, tmp_path: Path
) -> None:
    (repo / ".gitignore").write_text("*.log\nbuild/\n")
    (repo / "tool.sh").write_text("#!/bin/sh\n")
    (repo / "gone.txt").write_text("to delete\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "more", cwd=repo)

    (repo / "train.py").write_text("print('unstaged edit')\n")
    (repo / "data" / "values.csv").write_text("x,y\n9,9\n")
    git("add", "data/values.csv", cwd=repo)  # staged edit
    (repo / "gone.txt").unlink()
    os.chmod(repo / "tool.sh", 0o755)
    os.symlink("train.py", repo / "latest.py")
    (repo / "weights.bin").write_bytes(b"\x00\x01\xfe\xff" * 10)
    (repo / "new" / "deep").mkdir(parents=True)
    (repo / "new" / "deep" / "x.txt").write_text("in a new folder\n")
    (repo / "run.log").write_text("ignored\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.o").write_bytes(b"ignored too")

    run_id = record("true", cwd=repo)
    run = run_by_id(repo, run_id)

    assert run["dirty"] is True
    files = snapshot_files(repo, run["snapshot"])
    assert files["train.py"] == ("100644", b"print('unstaged edit')\n")
    assert files["data/values.csv"] == ("100644", b"x,y\n9,9\n")
    assert files["tool.sh"][0] == "100755"
    assert files["latest.py"] == ("120000", b"train.py")
    assert files["weights.bin"] == ("100644", b"\x00\x01\xfe\xff" * 10)
    assert files["new/deep/x.txt"] == ("100644", b"in a new folder\n")
    assert "gone.txt" not in files
    assert "run.log" not in files and "build/out.o" not in files
    # Exactly what `git add -A` would have staged, no more, no less.
    tree = git("rev-parse", f"{run['snapshot']}^{{tree}}", cwd=repo).strip()
    assert tree == tree_of_git_add_all(repo, tmp_path)


def test_run_leaves_index_head_and_files_untouched(repo: Path) -> None:
    (repo / "train.py").write_text("print('staged')\n")
    git("add", "train.py", cwd=repo)
    (repo / "train.py").write_text("print('staged, then edited again')\n")
    (repo / "new.txt").write_text("staged new file\n")
    git("add", "new.txt", cwd=repo)
    (repo / "data" / "values.csv").unlink()
    (repo / "untracked.txt").write_text("untracked\n")
    index = git_dir_of(repo) / "index"
    index_bytes = index.read_bytes()
    before = repo_state(repo)

    run_id = record("true", cwd=repo)

    assert index.read_bytes() == index_bytes
    after = repo_state(repo)
    assert after["files"] == before["files"]
    assert after["head"] == before["head"]
    assert after["config"] == before["config"]
    new_refs = set(after["refs"].splitlines()) - set(before["refs"].splitlines())
    assert {line.split()[0] for line in new_refs} == {"refs/notes/gitrack", "refs/gitrack/pins"}
    files = snapshot_files(repo, run_by_id(repo, run_id)["snapshot"])
    assert files["train.py"][1] == b"print('staged, then edited again')\n"
    assert files["new.txt"][1] == b"staged new file\n"
    assert "data/values.csv" not in files


def test_index_untouched_when_racily_clean(repo: Path) -> None:
    """An index written in the same second as the files: git would refresh it, gitrack not."""
    (repo / "train.py").write_text("print('v2')\n")
    git("add", "-A", cwd=repo)
    (repo / "train.py").write_text("print('v3')\n")  # same size, same second
    index = git_dir_of(repo) / "index"
    index_bytes = index.read_bytes()
    mtime = index.stat().st_mtime_ns

    record("true", cwd=repo)

    assert index.read_bytes() == index_bytes
    assert index.stat().st_mtime_ns == mtime


# ------------------------------------------------------------------ size limit
def test_untracked_file_over_limit_is_skipped_listed_and_warned(repo: Path) -> None:
    (repo / "gitrack.toml").write_text("max_untracked_size = 100\n")
    (repo / "big.bin").write_bytes(b"x" * 101)
    (repo / "small.bin").write_bytes(b"y" * 100)
    (repo / "train.py").write_text("#" * 500 + "\n")  # tracked: no limit
    (repo / "staged-big.txt").write_text("z" * 500)
    git("add", "staged-big.txt", cwd=repo)  # in the index: not untracked

    res = gitrack("run", "--", "true", cwd=repo)

    assert res.code == 0
    run_id = res.err_lines[-1].split()[3]
    run = run_by_id(repo, run_id)
    assert run["untracked_skipped"] == {"big.bin": 101}
    warnings = [line for line in res.err_lines if "warning" in line]
    assert any("big.bin" in line for line in warnings), res.err
    files = snapshot_files(repo, run["snapshot"])
    assert "big.bin" not in files
    assert files["small.bin"][1] == b"y" * 100
    assert files["train.py"][1] == b"#" * 500 + b"\n"
    assert files["staged-big.txt"][1] == b"z" * 500
    assert files["gitrack.toml"][1] == b"max_untracked_size = 100\n"


def test_size_limit_from_pyproject_with_unit(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[tool.gitrack]\nmax_untracked_size = "1KiB"\n')
    (repo / "over.bin").write_bytes(b"o" * 1025)
    (repo / "under.bin").write_bytes(b"u" * 1024)
    run = run_by_id(repo, record("true", cwd=repo))
    assert run["untracked_skipped"] == {"over.bin": 1025}
    files = snapshot_files(repo, run["snapshot"])
    assert "under.bin" in files and "over.bin" not in files


def test_skipped_path_is_relative_to_root_when_run_from_subdirectory(repo: Path) -> None:
    (repo / "gitrack.toml").write_text("max_untracked_size = 10\n")
    git("add", "gitrack.toml", cwd=repo)
    git("commit", "-q", "-m", "config", cwd=repo)
    (repo / "data" / "big.csv").write_text("0123456789abc")
    run = run_by_id(repo, record("true", cwd=repo / "data"))
    assert run["untracked_skipped"] == {"data/big.csv": 13}
    assert run["cwd"] == "data"


def test_broken_config_stops_before_the_command(repo: Path) -> None:
    (repo / "gitrack.toml").write_text("max_untracked_size = [oops\n")
    before = repo_state(repo)
    res = gitrack("run", "--", "touch", "ran", cwd=repo)
    assert res.code == 1
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith("Error: ")
    assert repo_state(repo) == before
    assert not (repo / "ran").exists()


# ------------------------------------------------------------------ metrics
def write_json(payload: str) -> list[str]:
    return [sys.executable, "-c", f"open('m.json', 'w').write({payload!r})"]


def test_metrics_nested_are_flattened_with_dots(repo: Path) -> None:
    payload = json.dumps(
        {
            "loss": 0.25,
            "val": {"acc": 0.9, "f1": {"macro": 0.8}},
            "epochs": 3,
            "note": "x",
            "ok": True,
        }
    )
    res = gitrack("run", "-m", "m.json", "--", *write_json(payload), cwd=repo)
    assert res.code == 0
    assert not [line for line in res.err_lines if "warning" in line]
    run = run_by_id(repo, res.err_lines[-1].split()[3])
    assert run["metrics"] == {"loss": 0.25, "val.acc": 0.9, "val.f1.macro": 0.8, "epochs": 3}


def test_metrics_file_missing_still_records_with_warning(repo: Path) -> None:
    res = gitrack("run", "-m", "never-written.json", "--", "true", cwd=repo)
    assert res.code == 0
    assert any("warning" in line and "never-written.json" in line for line in res.err_lines)
    run = run_by_id(repo, res.err_lines[-1].split()[3])
    assert run["metrics"] == {}
    assert any("never-written.json" in w for w in run["warnings"])
    assert len(note_lines(repo)) == 1


def test_metrics_file_not_json_still_records_with_warning_and_exit_code(repo: Path) -> None:
    command = [sys.executable, "-c", "open('m.json', 'w').write('{not json'); raise SystemExit(4)"]
    res = gitrack("run", "-m", "m.json", "--", *command, cwd=repo)
    assert res.code == 4
    assert any("warning" in line and "m.json" in line for line in res.err_lines)
    run = run_by_id(repo, res.err_lines[-1].split()[3])
    assert run["metrics"] == {} and run["status"] == "failed" and run["exit_code"] == 4


def test_metrics_path_is_relative_to_where_the_user_is(repo: Path) -> None:
    sub = repo / "data"
    res = gitrack("run", "-m", "m.json", "--", *write_json('{"mse": 1.5}'), cwd=sub)
    assert res.code == 0
    assert (sub / "m.json").exists()  # the command ran in the subdirectory
    run = run_by_id(repo, res.err_lines[-1].split()[3])
    assert run["metrics"] == {"mse": 1.5}
    assert run["cwd"] == "data"


def test_metrics_path_from_config_is_relative_to_root(repo: Path) -> None:
    (repo / "gitrack.toml").write_text('metrics = "m.json"\n')
    command = [sys.executable, "-c", "open('../m.json', 'w').write('{\"acc\": 0.5}')"]
    run = run_by_id(repo, record(*command, cwd=repo / "data"))
    assert run["metrics"] == {"acc": 0.5}


def test_non_finite_metrics_survive_the_round_trip(repo: Path) -> None:
    payload = '{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e308}'
    res = gitrack("run", "-m", "m.json", "--", *write_json(payload), cwd=repo)
    assert res.code == 0
    [line] = note_lines(repo)

    def reject(constant: str) -> None:
        raise AssertionError(f"bare {constant} in the note: not JSON")

    assert json.loads(line, parse_constant=reject)["metrics"]["a"] == "NaN"
    run = run_by_id(repo, res.err_lines[-1].split()[3])
    assert run["metrics"] == {"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": 1e308}


_keys = st.text(alphabet="ab.", max_size=3)
_leaf = st.one_of(
    st.integers(-(10**6), 10**6), st.floats(allow_nan=False), st.text(), st.booleans()
)
_json = st.recursive(_leaf, lambda inner: st.dictionaries(_keys, inner, max_size=3), max_leaves=10)


@given(st.dictionaries(_keys, _json, max_size=4))
def test_flatten_numbers_keeps_every_number_under_its_dotted_path(data: dict[str, object]) -> None:
    def leaves(value: object, prefix: str) -> list[tuple[str, object]]:
        if isinstance(value, dict):
            return [pair for k, v in value.items() for pair in leaves(v, f"{prefix}{k}.")]
        return [(prefix[:-1], value)]

    numbers = [
        (k, v)
        for k, v in leaves(data, "")
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    # Every number is there under its dotted path (a later duplicate path wins), nothing else.
    assert flatten_numbers(data) == dict(numbers)


@given(
    st.dictionaries(
        st.text(min_size=1).filter(lambda s: "=" not in s and s.strip() == s), st.text()
    )
)
def test_parse_assignments_round_trips(pairs: dict[str, str]) -> None:
    parsed = parse_assignments([f"{k}={v}" for k, v in pairs.items()], "-p")
    assert parsed == pairs


# ------------------------------------------------------------------ where it runs
def test_run_from_subdirectory_records_relative_cwd_and_root_paths(repo: Path) -> None:
    sub = repo / "data"
    (sub / "new.csv").write_text("1\n")
    run_id = record(sys.executable, "-c", "open('here.txt', 'w').write('x')", cwd=sub)
    run = run_by_id(repo, run_id)
    assert run["cwd"] == "data"
    assert (sub / "here.txt").exists()
    files = snapshot_files(repo, run["snapshot"])
    assert "data/new.csv" in files and "new.csv" not in files
    # `ls` and `show` work from anywhere in the repository.
    assert [r["id"] for r in runs(sub)] == [run_id]


def test_run_on_detached_head(repo: Path) -> None:
    (repo / "train.py").write_text("print('second')\n")
    git("commit", "-q", "-am", "second", cwd=repo)
    git("checkout", "-q", "--detach", "HEAD~1", cwd=repo)
    detached = git("rev-parse", "HEAD", cwd=repo).strip()

    run_id = record("true", cwd=repo)

    assert run_by_id(repo, run_id)["commit"] == detached
    assert len(note_lines(repo, detached)) == 1
    assert note_lines(repo, "main") == []
    assert git("rev-parse", "HEAD", cwd=repo).strip() == detached
    assert git("symbolic-ref", "-q", "HEAD", cwd=repo, check=False) == ""


def test_run_in_linked_worktree(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git("worktree", "add", "-q", "-b", "exp", str(wt), cwd=repo)
    (wt / "train.py").write_text("print('worktree edit')\n")
    (wt / "only-here.txt").write_text("untracked in the worktree\n")
    expected_files = {"train.py", "only-here.txt", "data/values.csv"}
    main_index = (repo / ".git" / "index").read_bytes()

    run_id = record("true", cwd=wt)

    run = run_by_id(repo, run_id)  # seen from the main worktree too
    assert run["commit"] == git("rev-parse", "exp", cwd=repo).strip()
    assert run["cwd"] == "."
    assert set(snapshot_files(repo, run["snapshot"])) == expected_files
    assert (repo / ".git" / "index").read_bytes() == main_index
    assert not (repo / "only-here.txt").exists()
    # The notes and pins are the repository's, not the worktree's.
    assert git("for-each-ref", "refs/gitrack/", cwd=repo) == git(
        "for-each-ref", "refs/gitrack/", cwd=wt
    )
    # And the run comes back in place inside the linked worktree.
    expected = worktree_state(wt)
    git("stash", "-q", "--include-untracked", cwd=wt)
    main_head = (repo / ".git" / "HEAD").read_text()
    res = gitrack("checkout", run_id, cwd=wt)
    assert res.code == 0, res.err
    assert worktree_state(wt) == expected
    assert git("rev-parse", "HEAD", cwd=wt).strip() == run["commit"]
    assert (repo / ".git" / "HEAD").read_text() == main_head


def test_file_names_with_spaces_unicode_and_newline(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo", {"a b.txt": "1\n", "ünï 名前.txt": "2\n", "tab\there": "3\n"}
    )
    (repo / "a b.txt").write_text("1 edited\n")
    (repo / "ünï 名前.txt").unlink()
    (repo / "new\nline.txt").write_text("newline\n")
    (repo / "dir with space" / "ü").mkdir(parents=True)
    (repo / "dir with space" / "ü" / "名.bin").write_bytes(b"\x00\x01")

    run = run_by_id(repo, record("true", cwd=repo))

    files = snapshot_files(repo, run["snapshot"])
    assert files == {
        "a b.txt": ("100644", b"1 edited\n"),
        "tab\there": ("100644", b"3\n"),
        "new\nline.txt": ("100644", b"newline\n"),
        "dir with space/ü/名.bin": ("100644", b"\x00\x01"),
    }


# ------------------------------------------------------------------ concurrency
def _twelve_at_once(repo: Path, tag: str) -> list[tuple[int, str]]:
    go = repo / f"go-{tag}"
    # Each command waits for the same start signal, so the twelve finish together.
    wait = f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.001)"
    procs = [
        subprocess.Popen(
            gitrack_cmd(
                "run", "-p", f"i={i}", "-t", f"round={tag}", "--", sys.executable, "-c", wait
            ),
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        for i in range(12)
    ]
    time.sleep(0.3)
    go.write_text("go")
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    return [(p.returncode, err) for p, err in zip(procs, errors, strict=True)]


def test_twelve_parallel_runs_on_one_commit_are_all_recorded(repo: Path) -> None:
    """No lost update: three rounds of twelve simultaneous runs, each on its own commit."""
    (repo / "train.py").write_text("print('dirty, so every run snapshots')\n")
    every: set[str] = set()
    for tag in ("a", "b", "c"):
        git("commit", "-q", "--allow-empty", "-m", f"round {tag}", cwd=repo)
        results = _twelve_at_once(repo, tag)
        failures = [err for _, err in results if "recorded run" not in err]
        assert [code for code, _ in results] == [0] * 12, failures

        assert len(note_lines(repo)) == 12
        ids = {err.strip().splitlines()[-1].split()[3] for _, err in results}
        listed = [r for r in runs(repo) if r["tags"] == {"round": tag}]
        assert {r["id"] for r in listed} == ids and len(listed) == 12
        assert sorted(r["params"]["i"] for r in listed) == sorted(str(i) for i in range(12))
        every |= ids
    listed = runs(repo)
    assert len(listed) == len(every) == 36
    for run in listed:  # every snapshot pinned
        git("merge-base", "--is-ancestor", run["snapshot"], "refs/gitrack/pins", cwd=repo)
    assert gitrack_proc("ls", "--json", cwd=repo).json() == listed


def test_a_file_removed_from_the_index_and_now_ignored_is_not_captured(repo: Path) -> None:
    """Regression: after `git rm --cached .env` and ignoring it, the snapshot took the new
    .env from disk (a rotated secret, then pushed to the team); `git add -A` would not."""
    (repo / ".env").write_text("KEY=old\n")
    git("add", ".env", cwd=repo)
    git("commit", "-q", "-m", "env", cwd=repo)
    git("rm", "-q", "--cached", ".env", cwd=repo)
    (repo / ".gitignore").write_text(".env\n")
    git("add", ".gitignore", cwd=repo)
    (repo / ".env").write_text("KEY=NEW-ROTATED-SECRET\n")

    run_id = record("true", cwd=repo)

    snapshot = run_by_id(repo, run_id)["snapshot"]
    names = git("ls-tree", "-r", "--name-only", snapshot, cwd=repo).split("\n")
    assert ".env" not in names and ".gitignore" in names
