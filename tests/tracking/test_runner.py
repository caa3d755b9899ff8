"""The command under `gitrack run`: exit codes, failures, signals, stdio, resources."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import gitrack, gitrack_cmd, gitrack_proc, note_lines, run_by_id, runs


def test_exit_code_is_passed_through_and_run_recorded_as_failed(repo: Path) -> None:
    res = gitrack_proc("run", "--", sys.executable, "-c", "raise SystemExit(3)", cwd=repo)
    assert res.code == 3
    [line] = res.err.splitlines()
    assert "(failed, exit 3," in line
    run = run_by_id(repo, line.split()[3])
    assert run["status"] == "failed"
    assert run["exit_code"] == 3
    assert run["signal"] is None


def test_missing_command_is_recorded_as_failed_with_127(repo: Path) -> None:
    res = gitrack_proc("run", "--", "no-such-command-gitrack-test", "--flag", cwd=repo)
    assert res.code == 127
    assert "no-such-command-gitrack-test" in res.err
    run_id = res.err.splitlines()[-1].split()[3]
    run = run_by_id(repo, run_id)
    assert run["status"] == "failed"
    assert run["exit_code"] == 127
    assert run["command"] == ["no-such-command-gitrack-test", "--flag"]
    assert len(note_lines(repo)) == 1


def test_non_executable_command_is_recorded_as_failed_with_126(repo: Path) -> None:
    (repo / "script.sh").write_text("#!/bin/sh\necho hi\n")  # no exec bit
    res = gitrack("run", "--", "./script.sh", cwd=repo)
    assert res.code == 126
    run = run_by_id(repo, res.err_lines[-1].split()[3])
    assert run["status"] == "failed" and run["exit_code"] == 126


def test_stdout_and_stderr_of_the_command_pass_through(repo: Path) -> None:
    script = "import sys; print('to stdout'); print('to stderr', file=sys.stderr)"
    res = gitrack_proc("run", "--", sys.executable, "-c", script, cwd=repo)
    assert res.code == 0
    assert res.out == "to stdout\n"
    assert res.err.splitlines()[0] == "to stderr"
    # gitrack itself adds exactly one line on stderr.
    assert len(res.err.splitlines()) == 2
    assert res.err.splitlines()[1].startswith("gitrack: recorded run ")


def test_stdin_passes_through(repo: Path) -> None:
    proc = subprocess.run(
        gitrack_cmd("run", "--", sys.executable, "-c", "import sys; print(sys.stdin.read()[::-1])"),
        cwd=repo,
        input="abc",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout == "cba\n"


def test_cpu_time_and_peak_memory_are_measured(repo: Path) -> None:
    burn = "x = bytearray(50 * 2**20); s = sum(range(3_000_000))"
    res = gitrack("run", "--", sys.executable, "-c", burn, cwd=repo)
    assert res.code == 0
    run = run_by_id(repo, res.err_lines[-1].split()[3])
    assert run["cpu_s"] is not None and run["cpu_s"] > 0.01
    assert run["max_rss_bytes"] is not None and run["max_rss_bytes"] >= 50 * 2**20
    assert run["duration_s"] >= run["cpu_s"] * 0.5


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.02)


def _start_sleeper(repo: Path) -> tuple[subprocess.Popen[bytes], Path]:
    started = repo / "started"
    script = f"import time; open({str(started)!r}, 'w').close(); time.sleep(30)"
    proc = subprocess.Popen(
        gitrack_cmd("run", "--", sys.executable, "-c", script),
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    _wait_for(started, proc)
    return proc, started


def test_sigterm_to_gitrack_stops_the_command_and_records_interrupted(repo: Path) -> None:
    proc, _ = _start_sleeper(repo)
    begin = time.monotonic()

    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)

    assert time.monotonic() - begin < 10  # the 30 s sleep was cut short
    assert proc.returncode == 143
    line = err.decode().strip().splitlines()[-1]
    assert "(interrupted, exit 143," in line
    run = run_by_id(repo, line.split()[3])
    assert run["status"] == "interrupted"
    assert run["exit_code"] == 143
    assert run["signal"] == "SIGTERM"
    assert len(note_lines(repo)) == 1


def test_sigint_to_gitrack_alone_is_forwarded_and_recorded(repo: Path) -> None:
    proc, _ = _start_sleeper(repo)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    run = run_by_id(repo, err.decode().strip().splitlines()[-1].split()[3])
    assert run["status"] == "interrupted" and run["signal"] == "SIGINT"


def test_command_that_handles_sigterm_gets_it_and_the_signal_is_recorded(repo: Path) -> None:
    started = repo / "started"
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
        f"open({str(started)!r}, 'w').close()\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        gitrack_cmd("run", "--", sys.executable, "-c", script),
        cwd=repo,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    _wait_for(started, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    run = run_by_id(repo, err.decode().strip().splitlines()[-1].split()[3])
    assert run["exit_code"] == 0
    assert run["signal"] == "SIGTERM"  # forwarded to the command, which chose to exit 0


def test_command_killed_by_an_unexpected_signal_is_failed(repo: Path) -> None:
    script = "import os, signal; os.kill(os.getpid(), signal.SIGUSR1)"
    res = gitrack("run", "--", sys.executable, "-c", script, cwd=repo)
    assert res.code == 128 + signal.SIGUSR1
    run = run_by_id(repo, res.err_lines[-1].split()[3])
    assert run["status"] == "failed"
    assert run["signal"] == "SIGUSR1"
    assert run["exit_code"] == 128 + signal.SIGUSR1


def test_runs_of_each_outcome_are_listed_together(repo: Path) -> None:
    gitrack("run", "--", "true", cwd=repo)
    gitrack("run", "--", "false", cwd=repo)
    gitrack("run", "--", "definitely-not-a-command-xyz", cwd=repo)
    statuses = sorted((r["status"], r["exit_code"]) for r in runs(repo))
    assert statuses == [("failed", 1), ("failed", 127), ("ok", 0)]
