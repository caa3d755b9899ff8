"""The command line: help, usage errors, bad input (one `Error:` line, nothing changed), show."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import (
    git,
    gitrack,
    gitrack_cmd,
    gitrack_proc,
    record,
    repo_state,
    worktree_state,
)

from gitrack import __version__
from gitrack.cli import cli

PUBLIC_KEYS = {
    "id", "name", "commit", "base_commit", "started", "duration_s", "command", "cwd",
    "exit_code", "signal", "status", "params", "metrics", "tags", "dirty", "snapshot",
    "user", "host", "env", "cpu_s", "max_rss_bytes", "untracked_skipped", "warnings",
}  # fmt: skip


# ------------------------------------------------------------------ help
@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example(name: str, tmp_path: Path) -> None:
    res = gitrack(name, "--help", cwd=tmp_path)
    assert res.code == 0
    assert res.out.startswith(f"Usage: gitrack {name}")
    assert "Example" in res.out
    assert f"gitrack {name}" in res.out.split("Example", 1)[1]
    short = gitrack(name, "-h", cwd=tmp_path)
    assert short.code == 0 and short.out == res.out


def test_group_help_lists_every_command(tmp_path: Path) -> None:
    res = gitrack("--help", cwd=tmp_path)
    assert res.code == 0
    for name in cli.commands:
        assert f"  {name} " in res.out or f"  {name}\n" in res.out


def test_version(tmp_path: Path) -> None:
    res = gitrack_proc("--version", cwd=tmp_path)
    assert res.code == 0
    assert __version__ in res.out


@pytest.mark.parametrize(
    "args",
    [["no-such-command"], ["ls", "-n", "-1"], ["ls", "--no-such-flag"], ["show"], ["checkout"]],
)
def test_usage_errors_exit_2(args: list[str], repo: Path) -> None:
    before = repo_state(repo)
    res = gitrack(*args, cwd=repo)
    assert res.code == 2
    assert "Error:" in res.err
    assert repo_state(repo) == before


# ------------------------------------------------------------------ bad input
def _assert_one_error_line(res_err: str) -> None:
    lines = [line for line in res_err.splitlines() if line.strip()]
    assert len(lines) == 1, res_err
    assert lines[0].startswith("Error: ")


COMMANDS = [
    ["run", "--", "touch", "ran"],
    ["ls"],
    ["show", "abcd"],
    ["checkout", "abcd"],
    ["install"],
    ["uninstall"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_outside_a_repository(args: list[str], tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "file.txt").write_text("mine\n")
    res = gitrack(*args, cwd=plain)
    assert res.code == 1
    _assert_one_error_line(res.err)
    assert "not a git repository" in res.err
    assert worktree_state(plain) == {"file.txt": ("file", b"mine\n", False)}


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_bare_repository(args: list[str], repo: Path, tmp_path: Path) -> None:
    record("true", cwd=repo)
    bare = tmp_path / "bare.git"
    git("clone", "-q", "--bare", str(repo), str(bare), cwd=tmp_path)
    git("fetch", "-q", "origin", "+refs/notes/*:refs/notes/*", cwd=bare, check=False)
    everything = worktree_state(bare)  # every file of the bare repository, objects included
    res = gitrack(*args, cwd=bare)
    assert res.code == 1
    _assert_one_error_line(res.err)
    assert "bare" in res.err
    assert worktree_state(bare) == everything
    assert not (bare / "ran").exists()


def test_repository_without_commit(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    git("init", "-q", str(empty), cwd=tmp_path)
    (empty / "train.py").write_text("print('x')\n")
    before = repo_state(empty)
    res = gitrack("run", "--", "touch", "ran", cwd=empty)
    assert res.code == 1
    _assert_one_error_line(res.err)
    assert "no commit" in res.err
    assert not (empty / "ran").exists()
    assert repo_state(empty) == before
    assert git("for-each-ref", cwd=empty) == ""


@pytest.mark.parametrize(
    "args",
    [
        ["run"],
        ["run", "--"],
        ["run", "-p", "lr", "--", "touch", "ran"],
        ["run", "-p", "=0.1", "--", "touch", "ran"],
        ["run", "-t", "team", "--", "touch", "ran"],
        ["run", "-p", "lr=1", "-p", "seed", "--", "touch", "ran"],
    ],
    ids=["no-command", "only-dashes", "param-no-equals", "param-no-key", "tag-no-equals", "second"],
)
def test_bad_run_arguments_change_nothing(args: list[str], repo: Path) -> None:
    (repo / "train.py").write_text("print('uncommitted')\n")
    before = repo_state(repo)
    res = gitrack(*args, cwd=repo)
    assert res.code == 1
    _assert_one_error_line(res.err)
    assert repo_state(repo) == before
    assert not (repo / "ran").exists()


def test_errors_as_a_subprocess_exit_1_with_one_line(tmp_path: Path) -> None:
    res = gitrack_proc("ls", cwd=tmp_path)
    assert res.code == 1
    assert res.out == ""
    _assert_one_error_line(res.err)


# ------------------------------------------------------------------ show
def test_show_json_has_every_public_key(repo: Path) -> None:
    run_id = record("true", cwd=repo, options=("--name", "base", "-p", "lr=0.1", "-t", "a=b"))
    res = gitrack("show", run_id, "--json", cwd=repo)
    assert res.code == 0
    data = res.json()
    assert set(data) >= PUBLIC_KEYS
    assert data["id"] == run_id and data["name"] == "base"
    assert data["params"] == {"lr": "0.1"} and data["tags"] == {"a": "b"}
    listed = gitrack("ls", "--json", cwd=repo).json()
    assert listed == [data]


def test_show_text_names_the_essentials(repo: Path) -> None:
    (repo / "train.py").write_text("print('edited')\n")
    run_id = record("false", cwd=repo, options=("-p", "lr=0.1"))
    res = gitrack("show", run_id[:6], cwd=repo)
    assert res.code == 0
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    for fragment in (run_id, head, "false", "failed", "lr=0.1", "train.py"):
        assert fragment in res.out


def _apply_in_clean_checkout(repo: Path, base: str, patch: str, where: Path) -> None:
    git("worktree", "add", "-q", "--detach", str(where), base, cwd=repo)
    git("apply", "--check", cwd=where, input=patch)
    git("apply", cwd=where, input=patch)


def test_show_patch_applies_to_a_clean_checkout_of_the_base(repo: Path, tmp_path: Path) -> None:
    (repo / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    (repo / "old name.txt").write_text("to be deleted\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "more files", cwd=repo)
    base = git("rev-parse", "HEAD", cwd=repo).strip()
    (repo / "train.py").write_text("print('training')\nLR = 0.05\n")
    (repo / "old name.txt").unlink()
    (repo / "tool.sh").chmod(0o755)
    (repo / "ünï 名前.txt").write_text("new, with a unicode name\n")
    (repo / 'new\nline "quoted".txt').write_text("odd name\n")
    (repo / "sub dir").mkdir()
    (repo / "sub dir" / "more.txt").write_text("nested\n")
    os.symlink("train.py", repo / "link.py")
    expected = worktree_state(repo)
    run_id = record("true", cwd=repo)

    res = gitrack("show", run_id, "--patch", cwd=repo)

    assert res.code == 0
    assert "+LR = 0.05" in res.out
    target = tmp_path / "applied"
    _apply_in_clean_checkout(repo, base, res.out, target)
    assert worktree_state(target) == expected
    assert os.stat(target / "tool.sh").st_mode & stat.S_IXUSR


def test_show_patch_with_binary_file_applies(repo: Path, tmp_path: Path) -> None:
    base = git("rev-parse", "HEAD", cwd=repo).strip()
    (repo / "weights.bin").write_bytes(bytes(range(256)))
    (repo / "train.py").write_text("print('uses weights.bin')\n")
    expected = worktree_state(repo)
    run_id = record("true", cwd=repo)

    patch = gitrack("show", run_id, "--patch", cwd=repo).out

    target = tmp_path / "applied"
    _apply_in_clean_checkout(repo, base, patch, target)
    assert worktree_state(target) == expected


def test_show_patch_of_clean_run_is_empty(repo: Path) -> None:
    run_id = record("true", cwd=repo)
    res = gitrack("show", run_id, "--patch", cwd=repo)
    assert res.code == 0 and res.out == ""


# ------------------------------------------------------------------ demo
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    res = gitrack_proc("demo", str(target), cwd=tmp_path, timeout=120)
    assert res.code == 0, res.err
    assert "identical" in res.out
    assert "gitrack model get demo-model#prod" in res.out and "v0.0.1, verified" in res.out
    listed = gitrack("ls", "--json", cwd=target).json()
    assert len(listed) >= 4
    assert f"run {listed[0]['id'][:8]}" in git("log", "-1", cwd=target)  # one line per run


@pytest.mark.parametrize("lazy", [False, True], ids=["list", "made-as-written"])
@pytest.mark.parametrize("count", [0, 1, 1000, 1001, 2500])
def test_a_json_list_written_in_pieces_is_the_list_written_at_once(
    count: int, lazy: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitrack.cli import runs
    from gitrack.views.terminal import printable_json

    items = [f'{{"n":{n},"s":"\\u007f\x7f\x85é"}}' for n in range(count)]
    runs._echo_json_list(iter(items) if lazy else items)
    assert capsys.readouterr().out == printable_json("[" + ",".join(items) + "]") + "\n"


def test_ls_json_into_a_pipe_the_reader_closed_early_exits_0(repo: Path) -> None:
    """`gitrack ls --json | head -c 10` with more than 1,000 runs (written in pieces):
    the closed pipe ends gitrack quietly with 0, as it ends a single write (review)."""
    head = git("rev-parse", "HEAD", cwd=repo).strip()
    lines = [
        json.dumps(
            {"started": f"2024-01-01T00:00:00.{i:06d}Z", "v": 1, "id": f"{i:016x}",
             "command": ["python", "train.py"], "base_commit": head, "snapshot": head,
             "params": {"pad": "x" * 300}},
            separators=(",", ":"),
        )
        for i in range(2500)
    ]  # fmt: skip
    note = repo.parent / "note.txt"
    note.write_text("\n".join(lines) + "\n")
    git("notes", "--ref=gitrack", "add", "-F", str(note), "HEAD", cwd=repo)
    proc = subprocess.Popen(
        gitrack_cmd("ls", "--json"),
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10) == b'[{"commit"'
    proc.stdout.close()
    err = proc.stderr.read()
    assert (proc.wait(timeout=60), err) == (0, b"")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["ls", "--json"], ["ls"], ["--version"]])
def test_output_onto_a_full_disk_is_an_error_not_a_crash(repo: Path, args: list[str]) -> None:
    """stdout on a full disk is the user's condition: one line, exit 1, no crash log
    (review: it was exit 3, "a bug in gitrack"; a short output failed in Python's exit
    flush instead, exit 120)."""
    assert gitrack("run", "--", "true", cwd=repo).code == 0
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            gitrack_cmd(*args), cwd=repo, stdout=full, stderr=subprocess.PIPE, check=False
        )
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert err.startswith("Error: No space left on device") and "free some space" in err
    assert "Traceback" not in err and not list(repo.glob(".git/gitrack/*crash*"))
