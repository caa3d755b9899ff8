"""What the benchmarks share: an isolated git setup, processes, timing, statistics, reports.

Each benchmark runs as ``python benchmarks/NAME.py``, so this folder is first on sys.path
and ``import benchlib`` finds this module; mypy finds it the same way when it is given the
scripts (``python -m mypy --strict benchmarks/*.py``). Not part of the gitrack package.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench Mark",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench Mark",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


@dataclass(frozen=True)
class Stats:
    median_s: float
    min_s: float
    p90_s: float


class CommandFailed(subprocess.CalledProcessError):
    """A command that exited non-zero; its message names the command and what it said."""

    def __str__(self) -> str:
        argv = " ".join(str(arg) for arg in self.cmd)
        said = self.stderr.decode(errors="replace").strip() if self.stderr else ""
        return f"{argv} failed ({self.returncode}): {said}"


# ------------------------------------------------------------------ environment
def isolated_env(
    home: Path, *, ceiling: Path | None = None, drop: tuple[str, ...] = ("GIT_",)
) -> dict[str, str]:
    """The host environment with git's global and system config shut out.

    Variables starting with one of ``drop`` go (e.g. GIT_DIR from a hook would point git
    elsewhere); ``ceiling`` stops git from looking for a repository above it.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    env.update(IDENTITY)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    if ceiling is not None:
        env["GIT_CEILING_DIRECTORIES"] = str(ceiling)
    env["LC_ALL"] = "C"
    # Model an ordinary install, where imports load cached bytecode: without this a
    # PYTHONDONTWRITEBYTECODE=1 environment recompiles gitrack's modules on every start
    # (~15 ms). The cache goes to the temp dir, never into the source tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    return env


def isolated_home(
    home: Path, *, ceiling: Path | None = None, drop: tuple[str, ...] = ("GIT_",)
) -> dict[str, str]:
    """Create ``home`` with a user identity (libgit2 reads user.name, not GIT_AUTHOR_*);
    return the isolated environment that uses it (see ``isolated_env``)."""
    (home / ".config").mkdir(parents=True, exist_ok=True)
    name, email = IDENTITY["GIT_AUTHOR_NAME"], IDENTITY["GIT_AUTHOR_EMAIL"]
    (home / ".gitconfig").write_text(f"[user]\n\tname = {name}\n\temail = {email}\n")
    return isolated_env(home, ceiling=ceiling, drop=drop)


def gitrack_command(*, search_path: bool = False) -> tuple[list[str], str]:
    """How to start gitrack, and a sentence saying which way was chosen and why.

    The console script beside this Python (what a user types); with ``search_path`` else
    the one on PATH; else ``python -m gitrack``.
    """
    beside_python = Path(sysconfig.get_path("scripts")) / "gitrack"
    on_path = shutil.which("gitrack") if search_path else None
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        note = f"console script {beside_python}"
        if on_path and Path(on_path).resolve() != beside_python.resolve():
            note += f" (PATH finds {on_path} first, a wrapper such as a pyenv shim; not timed)"
        return [str(beside_python)], note
    if on_path:
        return [on_path], f"console script {on_path} (from PATH)"
    return [sys.executable, "-m", "gitrack"], "python -m gitrack (no console script found)"


# -------------------------------------------------------------------- processes
def run(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], *, stdin: bytes | None = None
) -> str:
    """Run a command to completion and return its output; raises CommandFailed."""
    proc = subprocess.run(
        list(argv), cwd=cwd, env=env, input=stdin, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise CommandFailed(proc.returncode, proc.args, proc.stdout, proc.stderr)
    return proc.stdout.decode()


def git(repo: Path, env: Mapping[str, str], *args: str, stdin: bytes | None = None) -> str:
    return run(["git", *args], repo, env, stdin=stdin)


def new_repo(repo: Path, env: Mapping[str, str], files: Mapping[str, str] | None = None) -> None:
    """A new repository on branch main; with ``files`` (name: text), they are its first commit."""
    repo.mkdir()
    git(repo, env, "init", "--quiet", "--initial-branch=main")
    if files:
        for name, text in files.items():
            (repo / name).write_text(text)
        git(repo, env, "add", "-A")
        git(repo, env, "commit", "--quiet", "-m", "init")


def write_folder(folder: Path, count: int, seed: int, size: int) -> None:
    """``count`` files of ``size`` bytes, distinct per file and per seed (cheap to make),
    1,000 to a sub-folder."""
    import random

    block = random.Random(seed).randbytes(size)
    for index in range(count):
        sub = folder / f"part{index // 1000:03d}"
        if index % 1000 == 0:
            sub.mkdir(parents=True)
        head = f"{seed}:{index}:".encode()
        (sub / f"item{index:06d}.bin").write_bytes(head + block[len(head) :])


def tracked_file(repo: Path, index: int, directories: int) -> Path:
    return repo / f"dir{index % directories:03d}" / f"file{index:05d}.txt"


def write_tracked_files(repo: Path, count: int, directories: int) -> None:
    """``count`` small text files spread over ``directories`` folders (not committed)."""
    for index in range(count):
        path = tracked_file(repo, index, directories)
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"file {index}\n" + "some line of text\n" * (1 + index % 5))


# ----------------------------------------------------------------------- timing
def _time(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], stderr: int
) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    start = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        check=False,
    )
    return time.perf_counter() - start, proc


def time_process(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> tuple[float, int]:
    """Wall time of one whole process, output discarded, and its exit code."""
    elapsed, proc = _time(argv, cwd, env, subprocess.DEVNULL)
    return elapsed, proc.returncode


def timed(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> float:
    """Wall time of one whole process, output discarded; raises CommandFailed if it fails."""
    elapsed, proc = _time(argv, cwd, env, subprocess.PIPE)
    if proc.returncode != 0:
        raise CommandFailed(proc.returncode, proc.args, None, proc.stderr)
    return elapsed


def round_robin(probes: Mapping[str, Callable[[], T]], repeat: int) -> dict[str, list[T]]:
    """One warm-up call of each probe, then ``repeat`` rounds of one call of each, so that
    machine noise (another process, a CPU frequency change) hits every probe alike."""
    samples: dict[str, list[T]] = {label: [] for label in probes}
    for probe in probes.values():
        probe()
    for _ in range(repeat):
        for label, probe in probes.items():
            samples[label].append(probe())
    return samples


def split_failures(
    results: Mapping[str, list[tuple[float, int]]],
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """(seconds, failures) samples -> the seconds, and the count of failures, per label."""
    seconds = {label: [elapsed for elapsed, _ in rows] for label, rows in results.items()}
    failures = {label: sum(failed for _, failed in rows) for label, rows in results.items()}
    return seconds, failures


# ------------------------------------------------------------------- statistics
def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(values: list[float]) -> Stats:
    return Stats(statistics.median(values), min(values), percentile(values, 0.9))


# -------------------------------------------------------------------- reporting
def usable_cpus() -> int:
    """What `nproc` prints: the CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 0


def first_line(argv: list[str], env: Mapping[str, str] | None = None) -> str:
    """The first line a command prints (its stdout, else its stderr), for a report."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    except OSError:
        return "not found"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else "?"


def git_version(env: Mapping[str, str] | None = None) -> str:
    return first_line(["git", "--version"], env)


def python_version() -> str:
    return f"{platform.python_version()} ({sys.executable})"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def machine_info() -> list[tuple[str, str]]:
    return [
        ("nproc", str(usable_cpus())),
        ("python", python_version()),
        ("git", git_version()),
        ("platform", platform.platform()),
    ]


def print_info(rows: list[tuple[str, str]]) -> None:
    for key, value in rows:
        print(f"{key + ':':<10}{value}")


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def print_table(
    stats: Mapping[str, Stats],
    failures: Mapping[str, int],
    repeat: int,
    *,
    heading: str,
    digits: int,
) -> None:
    """Median, min and p90 of each label in ms, ``digits`` wide, and any non-zero exits."""
    width = max(len(label) for label in stats)
    print(
        f"{heading:<{width}}  {'median':>{digits}}  {'min':>{digits}}  {'p90':>{digits}}"
        f"   (ms, n={repeat})"
    )
    for label, row in stats.items():
        failed = f"   {failures[label]} non-zero exit(s)!" if failures[label] else ""
        print(
            f"{label:<{width}}  {row.median_s * 1e3:{digits}.1f}  {row.min_s * 1e3:{digits}.1f}"
            f"  {row.p90_s * 1e3:{digits}.1f}{failed}"
        )


def print_results(
    samples: Mapping[str, list[float]],
    failures: Mapping[str, int],
    repeat: int,
    *,
    heading: str,
    digits: int,
) -> dict[str, Stats]:
    """The machine, then the table of ``samples`` (see ``print_table``); returns their stats."""
    stats = {label: summarize(values) for label, values in samples.items()}
    print()
    print_info(machine_info())
    print()
    print_table(stats, failures, repeat, heading=heading, digits=digits)
    return stats


def print_breakdown(
    title: str, stats: Mapping[str, Stats], steps: list[tuple[str, str]], width: int
) -> None:
    """Where the last step's median goes: ``steps`` are (part, label) in growing order, each
    part the median of its label less the previous step's (the first: its whole median)."""
    print(f"{title} (differences of medians, approximate):")
    previous = 0.0
    for part, label in steps:
        median = stats[label].median_s
        print(f"  {part:<{width}}{(median - previous) * 1e3:7.1f} ms")
        previous = median


# ------------------------------------------------------------------------- main
@contextmanager
def workdir(
    prefix: str,
    keep: bool,
    *,
    parent: Path | None = None,
    kept: str = "kept: {} (remove it when done)",
) -> Iterator[Path]:
    """A new temporary folder, removed at the end unless ``keep`` (then ``kept`` names it)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        if keep:
            print(kept.format(path))
        else:
            shutil.rmtree(path, ignore_errors=True)


def run_benchmark(prefix: str, keep: bool, body: Callable[[Path], None]) -> int:
    """``body`` in a new temporary folder. A benchmark reports, it does not fail: an error
    is printed with its traceback, and the exit status is always 0."""
    with workdir(prefix, keep) as path:
        try:
            body(path)
        except Exception:
            traceback.print_exc()
            print("benchmark could not complete; see the error above")
    return 0
