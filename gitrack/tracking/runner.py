"""Run the user's command: streams passed through, signals forwarded, resources measured."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from types import FrameType
from typing import NamedTuple

# Signals that mean "stop the run": the run is then recorded as interrupted.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Outcome(NamedTuple):  # not a frozen dataclass: ~0.4 ms less at every start
    exit_code: int  # what a shell reports: 128 + N when killed by signal N
    status: str  # ok | failed | interrupted
    signal: str | None
    duration_s: float
    cpu_s: float | None
    max_rss_bytes: int | None
    error: str | None = None  # the command could not be started at all


def execute(
    argv: list[str],
    cwd: str | os.PathLike[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Outcome:
    """Run ``argv`` in ``cwd`` (default: here), inheriting stdin, stdout and stderr.

    Ctrl-C reaches the command through the terminal's process group; a SIGINT sent to
    gitrack alone, SIGTERM and SIGHUP are forwarded. gitrack itself keeps running until
    the command has exited, so that the run is recorded either way.
    """
    start = time.monotonic()
    received: list[int] = []
    procs: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if not procs:
            return  # not started yet: forwarded right after it starts
        if signum == signal.SIGINT and in_terminal_foreground():
            return  # the terminal already delivered Ctrl-C to the whole process group
        with contextlib.suppress(ProcessLookupError):
            procs[0].send_signal(signum)

    # Handlers first, then the command: a SIGTERM in between must not kill gitrack and
    # leave the command running unrecorded.
    with stop_handlers(forward):
        try:
            env = {**os.environ, **extra_env} if extra_env else None
            procs.append(subprocess.Popen(argv, cwd=cwd, env=env))
        except (FileNotFoundError, PermissionError, NotADirectoryError, OSError) as exc:
            code = 126 if isinstance(exc, PermissionError) else 127
            return Outcome(
                exit_code=code,
                status="failed",
                signal=None,
                duration_s=time.monotonic() - start,
                cpu_s=None,
                max_rss_bytes=None,
                error=f"cannot run {argv[0]!r}: {exc.strerror or exc}",
            )
        proc = procs[0]
        for signum in received:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)
        _, wait_status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    duration = time.monotonic() - start
    cpu = usage.ru_utime + usage.ru_stime
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    rss = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    if os.WIFSIGNALED(wait_status):
        signum = os.WTERMSIG(wait_status)
        name = signal.Signals(signum).name
        stopped = signum in _STOP_SIGNALS or signum == signal.SIGKILL or bool(received)
        return Outcome(
            128 + signum, "interrupted" if stopped else "failed", name, duration, cpu, rss
        )
    code = os.WEXITSTATUS(wait_status)
    status = "ok" if code == 0 else "interrupted" if received else "failed"
    sig = signal.Signals(received[0]).name if received else None
    return Outcome(code, status, sig, duration, cpu, rss)


def in_terminal_foreground() -> bool:
    """Is this process the terminal's foreground group (Ctrl-C reaches its children too)?"""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


@contextlib.contextmanager
def stop_handlers(handler: signal.Handlers | object) -> Iterator[None]:
    """``handler`` for SIGINT, SIGTERM and SIGHUP while inside; the old ones after."""
    previous = {}
    for signum in _STOP_SIGNALS:
        try:
            previous[signum] = signal.signal(signum, handler)  # type: ignore[arg-type]
        except (ValueError, OSError):
            continue  # not the main thread: leave signals alone
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold off Ctrl-C / SIGTERM while a record is written, then act on them."""
    received: list[int] = []

    def remember(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    with stop_handlers(remember):
        yield
    if received:
        signal.raise_signal(received[0])
