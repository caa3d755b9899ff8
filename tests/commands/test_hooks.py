"""gitrack's git hooks: chained with the user's own, and what each one does.

Real repositories, a bare "origin", the real git binary running the installed hooks (which
start gitrack as ``python -m gitrack.hookrun``). Install/uninstall of the git config is
covered by test_install.py; here: the hook files and the hooks' behaviour.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git, gitrack, make_repo, record, repo_state, run_by_id, worktree_state
from remote_helpers import (
    SEED_FILES,
    clone,
    closed_port,
    entry_state,
    file_modes,
    git_proc,
    gitrack_lines,
    head,
    install,
    make_origin,
    note_ids,
    remote_refs,
    set_aws_env,
    write,
)

from gitrack.commands.install import HOOK_MARKER, HOOK_NAMES, hook_script

MARKER = HOOK_MARKER.encode()


def hooks_of(repo: Path) -> Path:
    return repo / ".git" / "hooks"


def write_hook(path: Path, text: str | bytes, mode: int = 0o755) -> Path:
    write(path, text)
    path.chmod(mode)
    return path


def is_ours(path: Path) -> bool:
    return path.is_file() and MARKER in path.read_bytes()[:200]


def data_repo(tmp_path: Path, config: str) -> Path:
    """A repository whose gitrack.toml (committed) declares data/train.csv a dataset."""
    files = {**SEED_FILES, "gitrack.toml": 'data = ["data/train.csv"]\n' + config}
    return make_repo(tmp_path / "repo", files)


# ------------------------------------------------------------------------ chaining
def test_chained_pre_push_runs_first_with_the_same_args_and_stdin(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "my clone")  # a space in the path, as on many laptops
    log = tmp_path / "user-hook.log"
    write_hook(
        hooks_of(a) / "pre-push",
        f'#!/bin/sh\necho "user pre-push ran" >&2\nprintf "arg:%s\\n" "$@" >> "{log}"\n'
        f'cat >> "{log}"\n',
    )
    res = install(a)
    assert any("chained" in line and "pre-push" in line for line in res.out.splitlines())
    run_id = record("true", cwd=a)
    git("commit", "-q", "--allow-empty", "-m", "more", cwd=a)
    old, new = head(origin, "main"), head(a)

    proc = git_proc("push", "origin", "main", cwd=a)

    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines() == [
        "arg:origin",
        f"arg:{origin}",
        f"refs/heads/main {new} refs/heads/main {old}",
    ]
    refs = remote_refs(origin)
    assert refs["refs/heads/main"] == new
    assert {"refs/notes/gitrack", "refs/gitrack/pins"} <= refs.keys()
    assert note_ids(origin) == [run_id]
    user_at = proc.stderr.index("user pre-push ran")
    assert user_at < proc.stderr.index("gitrack: published runs")  # the user's hook first


def test_a_chained_pre_push_that_fails_still_blocks_the_push(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    write_hook(hooks_of(a) / "pre-push", '#!/bin/sh\necho "blocked by policy" >&2\nexit 1\n')
    install(a)
    record("true", cwd=a)
    git("commit", "-q", "--allow-empty", "-m", "more", cwd=a)
    before = remote_refs(origin)

    proc = git_proc("push", "origin", "main", cwd=a)

    assert proc.returncode != 0
    assert "blocked by policy" in proc.stderr
    assert remote_refs(origin) == before  # neither the branch nor the runs went out
    assert gitrack_lines(proc.stderr) == []


@pytest.mark.parametrize("name", ["post-checkout", "post-commit", "post-merge"])
@pytest.mark.parametrize("status", [0, 7])
def test_the_hook_exits_with_the_chained_hooks_status(
    repo: Path, name: str, status: int, tmp_path: Path
) -> None:
    log = tmp_path / "args.log"
    write_hook(hooks_of(repo) / name, f'#!/bin/sh\necho "$@" > "{log}"\nexit {status}\n')
    install(repo)
    args = ["0" * 40, head(repo), "1"] if name == "post-checkout" else ["0"]

    proc = git_proc("hook", "run", name, "--", *args, cwd=repo)

    assert proc.returncode == status, proc.stderr
    assert log.read_text().split() == args


def test_uninstall_puts_every_hook_back_byte_for_byte_with_its_mode(
    repo: Path, tmp_path: Path
) -> None:
    hooks = hooks_of(repo)
    write_hook(hooks / "post-commit", b"#!/bin/sh\r\necho crlf \xff\xfe\r\nexit 0\r\n", 0o700)
    write_hook(hooks / "pre-push", "#!/usr/bin/env python3\nimport sys\nsys.exit(0)\n", 0o755)
    write_hook(hooks / "post-merge", "#!/bin/sh\nexit 0\n", 0o644)  # not executable
    target = write_hook(tmp_path / "elsewhere" / "rewrite.sh", "#!/bin/sh\nexit 0\n", 0o750)
    os.symlink(target, hooks / "post-rewrite")  # a hook manager's symlink
    before = file_modes(hooks)

    install(repo)
    install(repo)
    for name in HOOK_NAMES:
        assert is_ours(hooks / name), name
    for name in ("post-commit", "pre-push", "post-merge", "post-rewrite"):
        assert entry_state(hooks / f"{name}.gitrack-chained") == before[name], name
    res = gitrack("uninstall", cwd=repo)

    assert res.code == 0, res.err
    assert file_modes(hooks) == before


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_core_hooks_path_is_where_the_hooks_go(repo: Path, tmp_path: Path, where: str) -> None:
    if where == "relative":
        folder, setting = repo / ".githooks", ".githooks"
        write(repo / ".git" / "info" / "exclude", ".githooks/\n")  # not part of the runs
    else:
        folder = tmp_path / "team-hooks"
        setting = str(folder)
    git("config", "core.hooksPath", setting, cwd=repo)
    log = tmp_path / "user-hook.log"
    write_hook(folder / "post-commit", f'#!/bin/sh\necho "user post-commit" >> "{log}"\n')
    default_hooks = file_modes(hooks_of(repo))

    install(repo)

    assert all(is_ours(folder / name) for name in HOOK_NAMES)
    assert file_modes(hooks_of(repo)) == default_hooks  # .git/hooks is not where git looks
    write(repo / "train.py", "print('tuned')\n")
    run_id = record("true", cwd=repo)
    proc = git_proc("commit", "-q", "-am", "tuned", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text() == "user post-commit\n"  # chained, and run by git
    gitracks_part = git("log", "-1", "--notes=gitrack", cwd=repo)
    assert f'"run":"{run_id}"' in gitracks_part  # and gitrack's part too


def test_install_twice_changes_no_hook(repo: Path) -> None:
    hooks = hooks_of(repo)
    original = "#!/bin/sh\necho mine\n"
    write_hook(hooks / "pre-push", original)
    install(repo)
    state = file_modes(hooks)
    mtimes = {p.name: os.lstat(p).st_mtime_ns for p in hooks.iterdir()}

    res = install(repo)

    hook_lines = [line for line in res.out.splitlines() if "hook " in line]
    assert len(hook_lines) == len(HOOK_NAMES)
    assert all("already" in line for line in hook_lines), res.out
    assert file_modes(hooks) == state
    assert {p.name: os.lstat(p).st_mtime_ns for p in hooks.iterdir()} == mtimes
    assert (hooks / "pre-push.gitrack-chained").read_text() == original  # not chained twice


def test_install_refuses_when_a_hook_was_replaced_and_the_chained_one_remains(
    repo: Path,
) -> None:
    hooks = hooks_of(repo)
    write_hook(hooks / "pre-push", "#!/bin/sh\necho first\n")
    install(repo)
    write_hook(hooks / "pre-push", "#!/bin/sh\necho replaced by another tool\n")
    before, hooks_before = repo_state(repo), file_modes(hooks)

    res = gitrack("install", cwd=repo)

    assert res.code == 1
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith("Error:")
    assert "pre-push.gitrack-chained" in res.err
    assert file_modes(hooks) == hooks_before
    assert repo_state(repo) == before


def test_a_refused_install_leaves_the_git_config_alone(repo: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared-hooks"  # core.hooksPath shared by several repositories
    write_hook(shared / "pre-push", "#!/bin/sh\necho new\n")
    write_hook(shared / "pre-push.gitrack-chained", "#!/bin/sh\necho old\n")
    git("config", "core.hooksPath", str(shared), cwd=repo)
    before, hooks_before = repo_state(repo), file_modes(shared)

    res = gitrack("install", cwd=repo)

    assert res.code == 1
    assert file_modes(shared) == hooks_before
    assert repo_state(repo) == before


HUSKY_H = """#!/usr/bin/env sh
n=$(basename "$0")
s=$(dirname "$(dirname "$0")")/$n
[ ! -f "$s" ] && exit 0
sh -e "$s" "$@"
"""


def test_a_husky_hook_keeps_running_once_chained(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "husky.log"
    husky = repo / ".husky"
    write_hook(husky / "_" / "h", HUSKY_H)
    write_hook(husky / "_" / "post-commit", '#!/usr/bin/env sh\n. "$(dirname "$0")/h"\n')
    write(husky / "post-commit", f'echo "husky post-commit" >> "{log}"\n')
    git("config", "core.hooksPath", ".husky/_", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "husky alone", cwd=repo)
    assert log.read_text() == "husky post-commit\n"  # husky's layout works without gitrack

    install(repo)
    git("commit", "-q", "--allow-empty", "-m", "husky and gitrack", cwd=repo)

    assert log.read_text() == "husky post-commit\n" * 2


# -------------------------------------------------------------- never break git
def test_hooks_never_fail_git_with_a_broken_config(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    install(a)
    record("true", cwd=a)  # post-commit then has work to do
    write(a / "gitrack.toml", "[remote\nurl = \n")  # not TOML
    write(a / "train.py", "print('edited')\n")

    steps = [
        ("commit", "-q", "-am", "edit"),  # post-commit (does not need the config)
        ("checkout", "-q", "-b", "other"),  # post-checkout
        ("push", "-q", "origin", "other"),  # pre-push
        ("commit", "-q", "--allow-empty", "-m", "ahead"),
        ("checkout", "-q", "main"),
        ("merge", "-q", "--ff-only", "other"),  # post-merge
    ]
    for args in steps:
        proc = git_proc(*args, cwd=a)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        lines = gitrack_lines(proc.stderr)
        assert len(lines) <= 1, (args, proc.stderr)
        if args[0] == "push":  # checkouts stay silent here: no run on the new HEAD
            assert len(lines) == 1 and "gitrack.toml" in lines[0], (args, proc.stderr)
    assert remote_refs(origin)["refs/heads/other"] == head(a, "other~1")
    assert head(a) == head(a, "other")


def venv_like(folder: Path) -> Path:
    """An interpreter at ``folder/bin/python`` that imports what this one does: a symlink to
    it, with this virtualenv's pyvenv.cfg and packages beside it (as `python -m venv` lays
    out a venv), so that ``folder`` may be named anything."""
    (folder / "bin").mkdir(parents=True)
    python = folder / "bin" / "python"
    python.symlink_to(sys.executable)
    config = Path(sys.prefix) / "pyvenv.cfg"
    if config.is_file():
        shutil.copy(config, folder / "pyvenv.cfg")
        (folder / "lib").symlink_to(Path(sys.prefix) / "lib")
    return python


HOSTILE_NAMES = {
    "command substitution": "venv $(touch PWNED)",
    "backtick": "venv `touch PWNED`",
    "double quote": 'venv "quoted',
    "single quote": "venv's",
    "all at once": "v $(touch PWNED) `touch PWNED` \"q' $HOME ; touch PWNED",
}


@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_hooks_work_with_an_interpreter_path_the_shell_would_parse(
    tmp_path: Path, name: str
) -> None:
    """The interpreter's path is written into the hook scripts: it must stay one word,
    never run as shell code, whatever its folder is called."""
    python = venv_like(tmp_path / name)
    repo = data_repo(tmp_path, "")
    train = write(repo / "data" / "train.csv", "x,y\n1,2\n")
    installed = subprocess.run(
        [str(python), "-m", "gitrack", "install"], cwd=repo, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr
    [assignment] = [
        line
        for line in (hooks_of(repo) / "post-commit").read_text().splitlines()
        if line.startswith("gitrack_python=")
    ]
    read_back = subprocess.run(
        ["sh", "-c", f'{assignment}\nprintf %s "$gitrack_python"'], capture_output=True, text=True
    )
    assert read_back.stdout == str(python), read_back.stderr  # sh reads the path as written
    write(repo / "train.py", "print('lr 0.1')\n")
    run_id = record("true", cwd=repo)
    write(train, "x,y\n1,2\n9,9\n")

    switched = git_proc("checkout", "-q", "-b", "other", cwd=repo)  # post-checkout
    committed = git_proc("commit", "-q", "-am", "the good one", cwd=repo)  # post-commit

    assert switched.returncode == 0, switched.stderr
    [line] = gitrack_lines(switched.stderr)
    assert "data/train.csv" in line and run_id[:8] in line, switched.stderr
    assert committed.returncode == 0, committed.stderr
    assert gitrack_lines(committed.stderr) == [
        f"gitrack: this commit holds exactly the code of run {run_id}"
    ], committed.stderr
    assert sorted(tmp_path.rglob("PWNED")) == []
    assert sorted(Path.home().rglob("PWNED")) == []


def test_a_hook_whose_python_is_gone_prints_one_line(repo: Path) -> None:
    write(repo / "gitrack.toml", 'data = ["data/x.csv"]\n')
    write(repo / "data" / "x.csv", "1\n")
    install(repo)
    record("true", cwd=repo)  # a run on HEAD: the hook has something to compare
    write_hook(hooks_of(repo) / "post-checkout", hook_script("post-checkout", "/nowhere/python3"))

    proc = git_proc("checkout", "-q", "-b", "other", cwd=repo)

    assert proc.returncode == 0
    assert gitrack_lines(proc.stderr) == [
        "gitrack: post-checkout hook skipped: /nowhere/python3 is gone (run gitrack install again)"
    ]


# ------------------------------------------------------------------- post-commit
def test_committing_exactly_a_runs_code_marks_the_commit(repo: Path) -> None:
    install(repo)
    write(repo / "train.py", "print('lr 0.1')\n")
    run_id = record("true", cwd=repo)

    proc = git_proc("commit", "-q", "-am", "the good one", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert gitrack_lines(proc.stderr) == [
        f"gitrack: this commit holds exactly the code of run {run_id}"
    ]
    log = git("log", "-1", "--notes=gitrack", cwd=repo)  # plain git log, as the user sees it
    [line] = [ln for ln in log.splitlines() if '"type":"committed"' in ln]
    assert f'"run":"{run_id}"' in line
    assert [r["id"] for r in gitrack("ls", "--json", cwd=repo).json()] == [run_id]  # not a run


@pytest.mark.parametrize("difference", ["edited after the run", "untracked file in the run"])
def test_a_commit_with_other_content_gets_no_mark(repo: Path, difference: str) -> None:
    install(repo)
    write(repo / "train.py", "print('lr 0.1')\n")
    if difference == "untracked file in the run":
        write(repo / "notes.txt", "not committed by commit -a\n")
    record("true", cwd=repo)
    if difference == "edited after the run":
        write(repo / "train.py", "print('lr 0.2')\n")

    proc = git_proc("commit", "-q", "-am", "something else", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert gitrack_lines(proc.stderr) == []
    assert "committed" not in git("log", "-1", "--notes=gitrack", cwd=repo)
    assert git("notes", "--ref=gitrack", "list", "HEAD", cwd=repo, check=False) == ""


def committed_marks(repo: Path) -> list[str]:
    """The run ids the `committed` lines of HEAD's note name."""
    text = git("notes", "--ref=gitrack", "show", "HEAD", cwd=repo, check=False)
    return [json.loads(line)["run"] for line in text.split("\n") if '"type":"committed"' in line]


@pytest.mark.parametrize("committed", ["first", "second", "neither"])
@pytest.mark.parametrize("hook", ["git commit", "python alone"])
def test_committing_one_runs_code_marks_only_that_run(
    repo: Path, hook: str, committed: str
) -> None:
    """Two runs of different code on the parent: the commit holds one run's code (or
    neither), and only that run is marked. "git commit": hook.sh's fast path, then
    python; "python alone": gitrack's post-commit without the shell's filter."""
    install(repo)
    code = {"first": "print('lr 0.1')\n", "second": "print('lr 0.2')\n", "neither": "pass\n"}
    run_ids = {}
    for which in ("first", "second"):
        write(repo / "train.py", code[which])
        run_ids[which] = record("true", cwd=repo)
    write(repo / "train.py", code[committed])

    if hook == "git commit":
        proc = git_proc("commit", "-q", "-am", committed, cwd=repo)
    else:
        git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-am", committed, cwd=repo)
        proc = subprocess.run(
            [sys.executable, "-m", "gitrack.hookrun", "post-commit"],
            cwd=repo,
            capture_output=True,
            text=True,
        )

    assert proc.returncode == 0, proc.stderr
    expected = [run_ids[committed]] if committed in run_ids else []
    assert committed_marks(repo) == expected
    assert gitrack_lines(proc.stderr) == [
        f"gitrack: this commit holds exactly the code of run {run_id}" for run_id in expected
    ]


@pytest.mark.parametrize("runs", [1, 4])
def test_the_post_commit_hook_checks_every_run_in_one_git_call(
    repo: Path, tmp_path: Path, runs: int
) -> None:
    """The hook runs on every `git commit`: the git processes it starts do not grow with
    the runs on the parent commit (their snapshots are looked up together)."""
    for number in range(runs):
        write(repo / "train.py", f"print({number})\n")
        record("true", cwd=repo)
    write(repo / "train.py", "print('none of the runs')\n")
    git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-am", "other code", cwd=repo)
    log = tmp_path / "git-calls"
    shim = write(
        tmp_path / "bin" / "git",
        f'#!/bin/sh\necho "$1" >> "{log}"\nexec {shutil.which("git")} "$@"\n',
    )
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}

    proc = subprocess.run(
        [sys.executable, "-m", "gitrack.hookrun", "post-commit"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
    )

    assert proc.returncode == 0 and gitrack_lines(proc.stderr) == [], proc.stderr
    assert log.read_text().split() == ["cat-file", "notes", "cat-file"]


def test_a_stale_notes_lock_costs_the_commit_no_wait(repo: Path) -> None:
    """A lock a crashed git left: the hook says so at once (one line naming the file)
    instead of holding `git commit` up for the ten seconds of retries."""
    install(repo)
    write(repo / "train.py", "print('lr 0.1')\n")
    record("true", cwd=repo)
    lock = write(repo / ".git" / "refs" / "notes" / "gitrack.lock", "")
    os.utime(lock, (time.time() - 3600, time.time() - 3600))
    started = time.monotonic()

    proc = git_proc("commit", "-q", "-am", "the good one", cwd=repo)

    assert time.monotonic() - started < 5
    assert proc.returncode == 0, proc.stderr
    [line] = gitrack_lines(proc.stderr)
    assert str(lock) in line and "stale" in line, line


# ---------------------------------------------------------------------- pre-push
def test_git_push_publishes_runs_and_data_for_a_fresh_clone(tmp_path: Path) -> None:
    config = 'data = ["data/train.csv"]\n[remote]\nurl = "../team-cache"\n'
    origin = make_origin(tmp_path, {**SEED_FILES, "gitrack.toml": config})
    a = clone(origin, tmp_path / "a")
    install(a)
    write(a / "data" / "train.csv", "x,y\n1,2\n3,4\n")
    write(a / "train.py", "print('lr 0.1')\n")
    write(a / "notes.txt", "untracked, part of the run\n")
    expected = worktree_state(a)
    run_id = record("true", cwd=a)
    git("commit", "-q", "--allow-empty", "-m", "more", cwd=a)

    proc = git_proc("push", "origin", "main", cwd=a)

    assert proc.returncode == 0, proc.stderr
    assert gitrack_lines(proc.stderr) == ["gitrack: published runs and 1 data object(s) to origin"]
    assert {"refs/notes/gitrack", "refs/gitrack/pins"} <= remote_refs(origin).keys()
    assert len(list((tmp_path / "team-cache" / "xxh128").glob("*/*"))) == 1

    b = clone(origin, tmp_path / "b")
    pulled = gitrack("pull", "--data", cwd=b)
    assert pulled.code == 0, pulled.err
    assert "1 new run(s), 1 object(s) fetched" in pulled.out
    assert [r["id"] for r in gitrack("ls", "--json", cwd=b).json()] == [run_id]
    res = gitrack("checkout", run_id, cwd=b)
    assert res.code == 0, res.err
    assert worktree_state(b) == expected


def test_pre_push_merges_first_when_the_remote_moved(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    ids = set()
    for repo, branch in ((a, "feature-a"), (b, "feature-b")):
        install(repo)
        ids.add(record("true", cwd=repo))
        git("checkout", "-q", "-b", branch, cwd=repo)
        git("commit", "-q", "--allow-empty", "-m", branch, cwd=repo)

    for repo, branch in ((b, "feature-b"), (a, "feature-a")):  # a's runs are behind b's
        proc = git_proc("push", "-q", "origin", branch, cwd=repo)
        assert proc.returncode == 0, proc.stderr
        assert gitrack_lines(proc.stderr) == ["gitrack: published runs to origin"]

    assert sorted(note_ids(origin)) == sorted(ids)  # merged, nothing forced away
    assert sorted(note_ids(a)) == sorted(ids)


def test_a_push_to_a_url_publishes_runs_too(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    install(a)
    run_id = record("true", cwd=a)
    git("commit", "-q", "--allow-empty", "-m", "more", cwd=a)

    proc = git_proc("push", "-q", str(origin), "HEAD:main", cwd=a)

    assert proc.returncode == 0, proc.stderr
    assert gitrack_lines(proc.stderr) == [f"gitrack: published runs to {origin}"]
    assert note_ids(origin) == [run_id]


def test_a_dry_run_push_publishes_nothing(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    install(a)
    record("true", cwd=a)
    git("commit", "-q", "--allow-empty", "-m", "more", cwd=a)
    before = remote_refs(origin)

    proc = git_proc("push", "--dry-run", "origin", "main", cwd=a)

    assert proc.returncode == 0, proc.stderr
    assert remote_refs(origin) == before


def reject_gitrack_refs(origin: Path) -> None:
    """A server that takes branches only (Gerrit-like): any other ref is declined."""
    hook = write(
        origin / "hooks" / "pre-receive",
        "#!/bin/sh\nwhile read old new ref; do\n"
        '  case "$ref" in refs/heads/*) ;; *) echo "only branches here" >&2; exit 1;; esac\n'
        "done\n",
    )
    hook.chmod(0o755)


def test_a_remote_that_declines_gitrack_refs_does_not_block_the_push(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    reject_gitrack_refs(origin)
    a = clone(origin, tmp_path / "a")
    install(a)
    record("true", cwd=a)
    git("commit", "-q", "--allow-empty", "-m", "more", cwd=a)

    proc = git_proc("push", "-q", "origin", "main", cwd=a)

    assert proc.returncode == 0, proc.stderr
    assert remote_refs(origin)["refs/heads/main"] == head(a)
    assert "refs/notes/gitrack" not in remote_refs(origin)
    [line] = gitrack_lines(proc.stderr)
    assert line.startswith("gitrack: pre-push hook: ")


def test_a_declined_push_of_runs_says_why(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    reject_gitrack_refs(origin)
    a = clone(origin, tmp_path / "a")
    record("true", cwd=a)

    res = gitrack("push", cwd=a)

    assert res.code == 1
    assert len(res.err_lines) == 1
    assert "hook declined" in res.err or "remote rejected" in res.err, res.err


def test_push_runs_false_keeps_runs_local(tmp_path: Path) -> None:
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    install(a)
    write(a / "gitrack.toml", "push_runs = false\n")
    record("true", cwd=a)
    git("commit", "-q", "--allow-empty", "-m", "more", cwd=a)

    proc = git_proc("push", "origin", "main", cwd=a)

    assert proc.returncode == 0, proc.stderr
    assert gitrack_lines(proc.stderr) == []
    refs = remote_refs(origin)
    assert refs["refs/heads/main"] == head(a)
    assert "refs/notes/gitrack" not in refs and "refs/gitrack/pins" not in refs


def test_an_unreachable_remote_cache_does_not_block_the_push(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_aws_env(monkeypatch)
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    install(a)
    url = "s3://team-bucket/cache"
    write(
        a / "gitrack.toml",
        f'data = ["data/train.csv"]\n[remote]\nurl = "{url}"\n'
        f'endpoint = "http://127.0.0.1:{closed_port()}"\n',
    )
    write(a / "data" / "train.csv", "x,y\n1,2\n")
    record("true", cwd=a)
    git("commit", "-q", "--allow-empty", "-m", "more", cwd=a)

    started = time.monotonic()
    proc = git_proc("push", "origin", "main", cwd=a)
    elapsed = time.monotonic() - started

    assert proc.returncode == 0, proc.stderr
    assert remote_refs(origin)["refs/heads/main"] == head(a)
    [line] = gitrack_lines(proc.stderr)
    assert line.startswith("gitrack: pre-push hook: remote cache " + url), line
    assert elapsed < 20


# ------------------------------------------------------------- post-checkout/merge
@pytest.mark.parametrize("restore", [False, True], ids=["warn", "restore_data"])
def test_checkout_says_when_datasets_differ_from_the_newest_run(
    tmp_path: Path, restore: bool
) -> None:
    repo = data_repo(tmp_path, "restore_data = true\n" if restore else "")
    git("branch", "other", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "second", cwd=repo)
    install(repo)
    train = repo / "data" / "train.csv"
    v1, v2 = b"x,y\n1,2\n", b"x,y\n1,2\n9,9\n"
    write(train, v1)
    run_id = record("true", cwd=repo)

    quiet = git_proc("checkout", "-q", "other", cwd=repo)  # no run on other: nothing to say
    assert quiet.returncode == 0 and gitrack_lines(quiet.stderr) == [], quiet.stderr
    write(train, v2)
    proc = git_proc("checkout", "-q", "main", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    [line] = gitrack_lines(proc.stderr)
    assert run_id[:8] in line
    if restore:
        assert "restored 1 dataset(s)" in line
        assert train.read_bytes() == v1
        return
    assert "data/train.csv" in line and "differ" in line
    assert train.read_bytes() == v2  # only said, not done
    write(repo / "train.py", "print('scratch')\n")
    files = git_proc("checkout", "--", "train.py", cwd=repo)  # a file checkout: not a switch
    assert files.returncode == 0 and gitrack_lines(files.stderr) == [], files.stderr

    write(train, v1)  # as the run had it: nothing to say
    for args in (("checkout", "-q", "other"), ("checkout", "-q", "main")):
        proc = git_proc(*args, cwd=repo)
        assert proc.returncode == 0 and gitrack_lines(proc.stderr) == [], proc.stderr

    write(train, v2)
    git_proc("checkout", "-q", "other", cwd=repo)
    merged = git_proc("merge", "-q", "--ff-only", "main", cwd=repo)  # post-merge
    assert merged.returncode == 0, merged.stderr
    [line] = gitrack_lines(merged.stderr)
    assert "data/train.csv" in line and run_id[:8] in line


def test_restore_data_in_a_fresh_clone_fetches_from_the_remote_cache(tmp_path: Path) -> None:
    config = 'data = ["data/train.csv"]\nrestore_data = true\n[remote]\nurl = "../team-cache"\n'
    origin = make_origin(tmp_path, {**SEED_FILES, "gitrack.toml": config})
    a = clone(origin, tmp_path / "a")
    write(a / "data" / "train.csv", "x,y\n1,2\n")
    record("true", cwd=a)
    assert gitrack("push", cwd=a).code == 0
    b = clone(origin, tmp_path / "b")
    install(b)
    assert gitrack("pull", "--no-data", cwd=b).code == 0

    proc = git_proc("checkout", "-q", "-b", "mine", cwd=b)  # HEAD: the run's commit

    assert proc.returncode == 0, proc.stderr
    assert (b / "data" / "train.csv").read_text() == "x,y\n1,2\n", proc.stderr


def test_post_checkout_of_an_orphan_branch_is_silent(tmp_path: Path) -> None:
    repo = data_repo(tmp_path, "")
    install(repo)

    proc = git_proc("checkout", "-q", "--orphan", "fresh", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert gitrack_lines(proc.stderr) == []


def test_post_checkout_is_silent_during_a_rebase(tmp_path: Path) -> None:
    repo = data_repo(tmp_path, "")
    git("checkout", "-q", "-b", "feature", cwd=repo)
    write(repo / "feature.py", "print('feature')\n")
    git("add", "feature.py", cwd=repo)
    git("commit", "-q", "-m", "feature", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    write(repo / "train.py", "print('main moved')\n")
    git("commit", "-q", "-am", "main moves", cwd=repo)
    install(repo)
    write(repo / "data" / "train.csv", "v1\n")
    record("true", cwd=repo)
    write(repo / "data" / "train.csv", "v2\n")
    control = git_proc("checkout", "-q", "feature", cwd=repo)
    assert gitrack_lines(control.stderr) == []
    said = git_proc("checkout", "-q", "main", cwd=repo)
    assert len(gitrack_lines(said.stderr)) == 1  # the hook does speak on a plain checkout
    git("checkout", "-q", "feature", cwd=repo)

    proc = git_proc("rebase", "main", cwd=repo)  # checks out main's tip, then replays

    assert proc.returncode == 0, proc.stderr
    assert gitrack_lines(proc.stderr) == [], proc.stderr
    assert git("log", "--format=%s", "-2", cwd=repo).split("\n")[:2] == ["feature", "main moves"]


# ------------------------------------------------------------------- post-rewrite
@pytest.mark.parametrize("setting", ["rewriteRef removed", "notes.rewrite.amend=false"])
def test_post_rewrite_carries_runs_when_git_does_not(repo: Path, setting: str) -> None:
    install(repo)
    if setting == "rewriteRef removed":
        git("config", "--unset-all", "notes.rewriteRef", cwd=repo)
    else:
        git("config", "notes.rewrite.amend", "false", cwd=repo)
    run_id = record("true", cwd=repo, options=("-p", "lr=0.1"))
    old = head(repo)

    proc = git_proc("commit", "-q", "--amend", "-m", "amended", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    new = head(repo)
    assert new != old
    assert run_by_id(repo, run_id)["commit"] == new
    assert run_id in git("notes", "--ref=gitrack", "show", new, cwd=repo)
    assert run_id in git("log", "-1", "--notes=gitrack", cwd=repo)


def test_post_rewrite_carries_runs_over_a_rebase_without_rewrite_ref(repo: Path) -> None:
    install(repo)
    git("config", "--unset-all", "notes.rewriteRef", cwd=repo)
    git("checkout", "-q", "-b", "feature", cwd=repo)
    write(repo / "feature.py", "print('feature')\n")
    git("add", "feature.py", cwd=repo)
    git("commit", "-q", "-m", "feature", cwd=repo)
    run_id = record("true", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    write(repo / "train.py", "print('main moved')\n")
    git("commit", "-q", "-am", "main moves", cwd=repo)
    git("checkout", "-q", "feature", cwd=repo)

    proc = git_proc("rebase", "main", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert run_by_id(repo, run_id)["commit"] == head(repo)


def test_a_chained_sh_hook_with_flags_still_blocks(tmp_path: Path) -> None:
    """Regression: `#!/bin/sh -e` was sourced (to keep $0 for husky), losing its -e, so a
    failing pre-push hook no longer blocked the push."""
    origin = make_origin(tmp_path)
    a = clone(origin, tmp_path / "a")
    write_hook(hooks_of(a) / "pre-push", "#!/bin/sh -e\nfalse\necho 'tests passed' >&2\n")
    install(a)
    write(a / "new.txt", "x\n")
    git("add", "new.txt", cwd=a)
    git("commit", "-q", "-m", "new", cwd=a)

    proc = git_proc("push", "-q", "origin", "HEAD:main", cwd=a)

    assert proc.returncode != 0
    assert "tests passed" not in proc.stderr
