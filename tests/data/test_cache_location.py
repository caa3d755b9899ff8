"""Where the data cache may live (`cache = "..."` in the config).

A cache folder gitrack cannot write to, or one inside the working tree that git does not
ignore, is refused with one ``Error:`` line naming the folder and the fix, before the
run's command starts and before anything is recorded or written.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import git, gitrack, note_lines, repo_state
from data_helpers import IS_ROOT, UNSHARE, python_exe, userns_available

SETPRIV = shutil.which("setpriv")


def commit_config(repo: Path, text: str, gitignore: str | None = None) -> None:
    (repo / "gitrack.toml").write_text(text)
    if gitignore is not None:
        (repo / ".gitignore").write_text(gitignore)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "config", cwd=repo)


def one_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


# ------------------------------------------------------------- an unwritable cache
def _as_user_argv(mode: str, cache: Path) -> list[str]:
    """A prefix that runs a command as a normal user would (no root override of
    permissions), or with ``cache`` mounted read-only. Skips when this machine cannot.

    `setpriv --reuid=65534` / `runuser -u nobody` need an interpreter that user can read;
    a venv built on root's own Python (under /root, mode 700) is not. So, as root:
    `unshare --user` (uid 0 without CAP_DAC_OVERRIDE: permission bits apply as for any
    user), else setpriv dropping the capabilities that bypass permission bits.
    """
    if mode == "read-only filesystem":
        if not userns_available("--map-root-user", "--mount"):
            pytest.skip("needs an unprivileged user+mount namespace (unshare -rm)")
        assert UNSHARE is not None
        remount = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99; shift'
        return [UNSHARE, "--user", "--map-root-user", "--mount", "sh", "-c",
                f'{remount}; exec "$@"', "sh", str(cache)]  # fmt: skip
    cache.chmod(0o555)
    if not IS_ROOT:
        return []
    if userns_available():
        assert UNSHARE is not None
        return [UNSHARE, "--user"]
    if SETPRIV is not None:
        return [SETPRIV, "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    pytest.skip("running as root without `unshare --user` or setpriv: cannot drop root's rights")


@pytest.mark.parametrize("mode", ["permission denied", "read-only filesystem"])
@pytest.mark.parametrize("data_flag", ["-d", "-o"])
def test_an_unwritable_cache_fails_the_run_before_its_command(
    repo: Path, tmp_path: Path, mode: str, data_flag: str
) -> None:
    """Before: `-d` died with "unexpected error: PermissionError" (a traceback report),
    and `-o` ran the command, then lost the run when caching its output failed."""
    cache = tmp_path / "team-cache"
    cache.mkdir()
    commit_config(repo, f'cache = "{cache}"\n')
    (repo / "out.txt").write_text("an output\n")
    marker = tmp_path / "command-ran"
    before = repo_state(repo)
    prefix = _as_user_argv(mode, cache)
    try:
        proc = subprocess.run(
            [*prefix, python_exe(), "-m", "gitrack", "run", data_flag,
             "data/values.csv" if data_flag == "-d" else "out.txt", "--", "touch", str(marker)],
            cwd=repo, capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
    finally:
        cache.chmod(0o755)

    assert proc.returncode == 1, proc.stderr
    line = one_error(proc.stderr)
    assert str(cache) in line and "cannot write" in line and "cache = " in line, line
    assert not marker.exists()  # the command never started
    assert repo_state(repo) == before  # no pin, no note, no file changed
    assert list(cache.iterdir()) == []  # nothing half-written


def test_a_cache_under_a_regular_file_is_refused_naming_it(repo: Path, tmp_path: Path) -> None:
    """Works as root too: no permission bit involved, the path itself cannot be a folder."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file\n")
    commit_config(repo, f'cache = "{blocker}/cache"\n')
    marker = tmp_path / "command-ran"

    res = gitrack("run", "--", "touch", str(marker), cwd=repo)

    assert res.code == 1, res.err
    assert f"{blocker}/cache" in one_error(res.err)
    assert not marker.exists()
    assert note_lines(repo) == []


# ------------------------------------------------------- a cache in the working tree
@pytest.mark.parametrize("setting", [".", "cache", "data/../cache"])
def test_a_cache_in_the_working_tree_that_git_would_snapshot_is_refused(
    repo: Path, tmp_path: Path, setting: str
) -> None:
    """Before: `cache = "."` put the objects into the next run's snapshot as untracked files."""
    commit_config(repo, f'cache = "{setting}"\n')
    marker = tmp_path / "command-ran"
    before = repo_state(repo)

    res = gitrack("run", "-d", "data/values.csv", "--", "touch", str(marker), cwd=repo)

    assert res.code == 1, res.err
    line = one_error(res.err)
    folder = (repo / setting).resolve()
    assert str(folder) in line and ".gitignore" in line, line
    assert not marker.exists()
    assert repo_state(repo) == before  # nothing recorded, no cache folder created


@pytest.mark.parametrize(
    "setting, ignore",
    [("cache", "/cache/\n"), ("build/cache", "build/\n"), ("cache", None)],
    ids=["ignored", "inside-an-ignored-folder", "info-exclude"],
)
def test_a_cache_in_the_working_tree_that_git_ignores_stays_out_of_snapshots(
    repo: Path, setting: str, ignore: str | None
) -> None:
    if ignore is None:  # ignored by the clone's own excludes, not by a committed file
        (repo / ".git" / "info" / "exclude").write_text("/cache/\n")
    commit_config(repo, f'cache = "{setting}"\n', ignore)

    for _ in range(2):
        res = gitrack("run", "-d", "data/values.csv", "--", "true", cwd=repo)
        assert res.code == 0, res.err

    assert any((repo / setting / "xxh128").iterdir())  # the objects are there...
    for line in note_lines(repo):
        snapshot = line.split('"snapshot":"')[1][:40]
        assert '"dirty":false' in line, line  # ...and in no snapshot
        assert git("diff", "--stat", "HEAD", snapshot, cwd=repo) == ""
