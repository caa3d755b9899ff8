"""How much time does `gitrack run` add to the command it wraps?

The target is "gitrack adds at most 0.2 s" to every run, so that wrapping even a quick
command with `gitrack run --` never feels slow. This script measures it where it counts:
in a repository of realistic size (5,000 tracked files in ~100 directories) with
uncommitted work (20 edited tracked files, 5 untracked files), so the snapshot has
something to capture.

Measured, each as the wall time of one `subprocess.run` (time.perf_counter around it):

* ``true``                      - the cost of spawning any process at all (the floor);
* ``git status --porcelain``    - what a user already pays to look at the same state;
* ``gitrack run -- true``       - snapshot + pin + run ``true`` + write the note;
* ``python -c pass``            - interpreter start-up, part of gitrack's cost;
* ``python -c "import gitrack.cli"`` - start-up plus the command line's imports (click);
* ``python -c "import gitrack.cli, gitrack.recorder"`` - plus what `run` imports (pygit2).

The differences between these medians split gitrack's time into start-up, imports and
the work itself (snapshot, pin, note), so the reader sees where to optimize.

The commands run round-robin (one of each, then the next round) after one warm-up each,
so machine noise (another process, a CPU frequency change) hits all of them equally.
The repository is built in a temporary directory isolated from the host's git config
(HOME is the temp dir, GIT_CONFIG_NOSYSTEM=1, fixed author/committer), so the numbers do
not depend on the user's hooks, fsmonitor or aliases. Python's bytecode cache is on
(in the temp dir), as in an ordinary install, even if PYTHONDONTWRITEBYTECODE is set.

It is a benchmark, not a test: it always exits 0 and only reports whether the target is met.

    python benchmarks/run_overhead.py [--files 5000] [--repeat 15] [--keep]
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from pathlib import Path

TARGET_OVERHEAD_S = 0.2
CLI_IMPORT = 'python -c "import gitrack.cli"'
RUN_IMPORT = 'python -c "import gitrack.cli, gitrack.recorder"'  # all that `run` imports
DIRECTORIES = 100
EDITED_FILES = 20
UNTRACKED_FILES = 5
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


# ------------------------------------------------------------------ environment
def isolated_env(home: Path) -> dict[str, str]:
    """The host environment with git's global and system config shut out."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("GIT_"):
            del env[key]  # e.g. GIT_DIR from a hook would point git elsewhere
    env.update(IDENTITY)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["LC_ALL"] = "C"
    # Model an ordinary install, where imports load cached bytecode: without this a
    # PYTHONDONTWRITEBYTECODE=1 environment recompiles gitrack's modules on every start
    # (~15 ms). The cache goes to the temp dir, never into the source tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    return env


def write_global_config(home: Path) -> None:
    """A user identity in the isolated HOME: libgit2 reads user.name, not GIT_AUTHOR_*."""
    name, email = IDENTITY["GIT_AUTHOR_NAME"], IDENTITY["GIT_AUTHOR_EMAIL"]
    (home / ".gitconfig").write_text(f"[user]\n\tname = {name}\n\temail = {email}\n")


def gitrack_command() -> tuple[list[str], str]:
    """How to start gitrack, and a sentence saying which way was chosen and why."""
    beside_python = Path(sysconfig.get_path("scripts")) / "gitrack"
    on_path = shutil.which("gitrack")
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        note = f"console script {beside_python}"
        if on_path and Path(on_path).resolve() != beside_python.resolve():
            note += f" (PATH finds {on_path} first, a wrapper such as a pyenv shim; not timed)"
        return [str(beside_python)], note
    if on_path:
        return [on_path], f"console script {on_path} (from PATH)"
    return [sys.executable, "-m", "gitrack"], "python -m gitrack (no console script found)"


# ------------------------------------------------------------------- repository
def git(repo: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


def file_path(repo: Path, index: int) -> Path:
    return repo / f"dir{index % DIRECTORIES:03d}" / f"file{index:05d}.txt"


def build_repository(repo: Path, env: dict[str, str], files: int) -> None:
    """``files`` small committed text files, then 20 edits and 5 untracked files."""
    repo.mkdir()
    git(repo, env, "init", "--quiet", "--initial-branch=main")
    for index in range(files):
        path = file_path(repo, index)
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"file {index}\n" + "some line of text\n" * (1 + index % 5))
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "--quiet", "-m", f"{files} files")
    step = max(1, files // EDITED_FILES)
    for index in range(0, step * EDITED_FILES, step):
        with file_path(repo, index).open("a") as fh:
            fh.write("an uncommitted edit\n")
    for number in range(UNTRACKED_FILES):
        (repo / f"dir{number:03d}" / f"new{number}.txt").write_text(f"untracked {number}\n")


# --------------------------------------------------------------------- timing
def time_once(argv: list[str], repo: Path, env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(
        argv,
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - start, proc.returncode


def measure(
    commands: dict[str, list[str]], repo: Path, env: dict[str, str], repeat: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Round-robin timings after one warm-up each; also the count of non-zero exits."""
    samples: dict[str, list[float]] = {label: [] for label in commands}
    failures = dict.fromkeys(commands, 0)
    for argv in commands.values():
        time_once(argv, repo, env)
    for _ in range(repeat):
        for label, argv in commands.items():
            elapsed, code = time_once(argv, repo, env)
            samples[label].append(elapsed)
            failures[label] += code != 0
    return samples, failures


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(values: list[float]) -> Stats:
    return Stats(statistics.median(values), min(values), percentile(values, 0.9))


# ------------------------------------------------------------------- reporting
def usable_cpus() -> int:
    """What `nproc` prints: the CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 0


def machine_info() -> list[tuple[str, str]]:
    git_version = subprocess.run(
        ["git", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return [
        ("nproc", str(usable_cpus())),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("git", git_version),
        ("platform", platform.platform()),
    ]


def print_table(stats: dict[str, Stats], failures: dict[str, int], repeat: int) -> None:
    width = max(len(label) for label in stats)
    print(f"{'command':<{width}}  {'median':>9}  {'min':>9}  {'p90':>9}   (ms, n={repeat})")
    for label, row in stats.items():
        failed = f"   {failures[label]} non-zero exit(s)!" if failures[label] else ""
        print(
            f"{label:<{width}}  {row.median_s * 1e3:9.1f}  {row.min_s * 1e3:9.1f}"
            f"  {row.p90_s * 1e3:9.1f}{failed}"
        )


def print_verdict(stats: dict[str, Stats], gitrack_label: str) -> None:
    overhead = stats[gitrack_label].median_s - stats["true"].median_s
    status = stats["git status --porcelain"].median_s
    met = "MET" if overhead <= TARGET_OVERHEAD_S else "NOT MET"
    print()
    print(
        f"gitrack overhead (median of `{gitrack_label}` - median of `true`): "
        f"{overhead * 1e3:.1f} ms"
    )
    print(
        f"  = {overhead / status:.1f}x the median of `git status --porcelain` "
        f"({status * 1e3:.1f} ms)"
    )
    print(f"target: gitrack adds at most {TARGET_OVERHEAD_S:.1f} s -> {met}")
    print_breakdown(stats, gitrack_label)


def print_breakdown(stats: dict[str, Stats], gitrack_label: str) -> None:
    """Split the median of `gitrack run -- true` into start-up, imports and the work."""
    startup = stats["python -c pass"].median_s
    cli = stats[CLI_IMPORT].median_s
    run_path = stats[RUN_IMPORT].median_s
    total = stats[gitrack_label].median_s
    parts = [
        ("interpreter start-up (python -c pass)", startup),
        ("import gitrack.cli (click, ...)", cli - startup),
        ("import gitrack.recorder (pygit2, ...)", run_path - cli),
        ("snapshot, pin, run `true`, note, exit", total - run_path),
    ]
    print("where the median goes (differences of medians, approximate):")
    for label, seconds in parts:
        print(f"  {label:<40}{seconds * 1e3:7.1f} ms")


def runs_recorded(repo: Path, env: dict[str, str]) -> int:
    try:
        note = git(repo, env, "notes", "--ref=gitrack", "show", "HEAD")
    except subprocess.CalledProcessError:
        return 0
    return sum(1 for line in note.splitlines() if line.strip())


# ------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000, help="tracked files (default 5000)")
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--keep", action="store_true", help="keep the repository; print its path")
    args = parser.parse_args(argv)
    args.files = max(args.files, EDITED_FILES + UNTRACKED_FILES)
    args.repeat = max(args.repeat, 1)
    return args


def benchmark(workdir: Path, files: int, repeat: int) -> None:
    home, repo = workdir / "home", workdir / "repo"
    home.mkdir()
    write_global_config(home)
    env = isolated_env(home)
    print(
        f"building {files} tracked files in {DIRECTORIES} directories, "
        f"{EDITED_FILES} edited, {UNTRACKED_FILES} untracked: {repo}"
    )
    build_repository(repo, env, files)
    gitrack, how = gitrack_command()
    print(f"gitrack invoked as: {how}")
    print(f"bytecode cache: {env['PYTHONPYCACHEPREFIX']}")
    subprocess.run([*gitrack, "install"], cwd=repo, env=env, check=True, capture_output=True)
    gitrack_label = "gitrack run -- true"
    commands = {
        "true": ["true"],
        "git status --porcelain": ["git", "status", "--porcelain"],
        gitrack_label: [*gitrack, "run", "--", "true"],
        "python -c pass": [sys.executable, "-c", "pass"],
        CLI_IMPORT: [sys.executable, "-c", "import gitrack.cli"],
        RUN_IMPORT: [sys.executable, "-c", "import gitrack.cli, gitrack.recorder"],
    }
    samples, failures = measure(commands, repo, env, repeat)
    stats = {label: summarize(values) for label, values in samples.items()}
    print()
    for key, value in machine_info():
        print(f"{key + ':':<10}{value}")
    print()
    print_table(stats, failures, repeat)
    print_verdict(stats, gitrack_label)
    print(f"runs recorded on HEAD: {runs_recorded(repo, env)} (expected {repeat + 1})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="gitrack-bench-"))
    try:
        benchmark(workdir, args.files, args.repeat)
    except Exception:  # a benchmark reports, it does not fail
        traceback.print_exc()
        print("benchmark could not complete; see the error above")
    finally:
        if args.keep:
            print(f"kept: {workdir} (remove it when done)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
