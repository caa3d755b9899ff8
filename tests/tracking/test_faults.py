"""kill -9 at each phase of a run: the repository stays valid and the next run works.

Invariant 4 (atomic or nothing): whatever instant gitrack dies at, git finds nothing
broken, gitrack finds nothing broken, the killed run is either fully recorded or not at
all, and the next `gitrack run` is recorded as usual. Each phase is reached exactly
through the test-only hook ``GITRACK_TEST_PAUSE=<phase>:<marker>``
(``recorder.pause_for_test``); the command phase is the test's own script pausing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git, gitrack, gitrack_cmd, make_repo, record, runs
from remote_helpers import write

SCRIPT = """\
import os, pathlib, time

phase, _, marker = os.environ.get("GITRACK_TEST_PAUSE", "").partition(":")
if phase == "command":
    pathlib.Path(marker).write_text(str(os.getpid()))
    time.sleep(60)
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/model.bin").write_bytes(pathlib.Path("data/big.bin").read_bytes()[:1000])
"""
RUN_ARGS = ("-d", "data", "-o", "out")
PHASES = ["caching", "snapshot", "command", "recording"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", {"script.py": SCRIPT, ".gitignore": "data/\nout/\n"})
    write(repo / "data" / "big.bin", os.urandom(4 << 20))  # caching is a real phase
    write(repo / "data" / "labels.csv", "id,label\n1,cat\n")
    return repo


def start_paused(repo: Path, phase: str, marker: Path) -> subprocess.Popen[bytes]:
    """`gitrack run` as a real process that stops at ``phase`` and says so in ``marker``."""
    env = {**os.environ, "GITRACK_TEST_PAUSE": f"{phase}:{marker}"}
    command = gitrack_cmd("run", *RUN_ARGS, "--", sys.executable, "script.py")
    proc = subprocess.Popen(
        command,
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the command dies with it below
    )
    deadline = time.monotonic() + 30
    while not marker.exists():
        if proc.poll() is not None:
            assert proc.stderr is not None
            pytest.fail(f"gitrack ended before reaching {phase}: {proc.stderr.read()!r}")
        if time.monotonic() > deadline:
            kill_all(proc)
            pytest.fail(f"gitrack never reached {phase}")
        time.sleep(0.01)
    return proc


def kill_all(proc: subprocess.Popen[bytes]) -> None:
    """kill -9 gitrack, then whatever it left running (the command, in the command phase)."""
    proc.kill()
    proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    assert proc.stderr is not None
    proc.stderr.close()


@pytest.mark.parametrize("phase", PHASES)
def test_kill_9_leaves_a_valid_repository_and_the_next_run_works(
    project: Path, phase: str, tmp_path: Path
) -> None:
    proc = start_paused(project, phase, tmp_path / "paused")

    kill_all(proc)

    git("fsck", "--no-dangling", cwd=project)  # raises on any error
    checked = gitrack("fsck", "--data", cwd=project)
    assert checked.code == 0, checked.out
    assert runs(project) == []  # the killed run is not recorded, not even in part
    run_id = record(sys.executable, "script.py", cwd=project, options=RUN_ARGS)
    [listed] = runs(project)
    assert listed["id"] == run_id and listed["status"] == "ok"
    assert set(listed["datasets"]) == {"data"} and set(listed["outputs"]) == {"out"}
    git("fsck", "--no-dangling", cwd=project)
    after = gitrack("fsck", "--data", cwd=project)
    assert after.code == 0, after.out
