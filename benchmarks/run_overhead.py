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
* ``python -c "import gitrack.cli, gitrack.tracking.recorder"`` - plus what `run` imports (pygit2).

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
import subprocess
import sys
from functools import partial
from pathlib import Path

import benchlib
from benchlib import Stats

TARGET_OVERHEAD_S = 0.2
CLI_IMPORT = 'python -c "import gitrack.cli"'
RUN_IMPORT = 'python -c "import gitrack.cli, gitrack.tracking.recorder"'  # all that `run` imports
DIRECTORIES = 100
EDITED_FILES = 20
UNTRACKED_FILES = 5


# ------------------------------------------------------------------- repository
def build_repository(repo: Path, env: dict[str, str], files: int) -> None:
    """``files`` small committed text files, then 20 edits and 5 untracked files."""
    benchlib.new_repo(repo, env)
    benchlib.write_tracked_files(repo, files, DIRECTORIES)
    benchlib.git(repo, env, "add", "-A")
    benchlib.git(repo, env, "commit", "--quiet", "-m", f"{files} files")
    step = max(1, files // EDITED_FILES)
    for index in range(0, step * EDITED_FILES, step):
        with benchlib.tracked_file(repo, index, DIRECTORIES).open("a") as fh:
            fh.write("an uncommitted edit\n")
    for number in range(UNTRACKED_FILES):
        (repo / f"dir{number:03d}" / f"new{number}.txt").write_text(f"untracked {number}\n")


# --------------------------------------------------------------------- timing
def measure(
    commands: dict[str, list[str]], repo: Path, env: dict[str, str], repeat: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Round-robin timings after one warm-up each; also the count of non-zero exits."""
    probes = {
        label: partial(benchlib.time_process, argv, repo, env) for label, argv in commands.items()
    }
    return benchlib.split_failures(benchlib.round_robin(probes, repeat))


# ------------------------------------------------------------------- reporting
def print_verdict(stats: dict[str, Stats], gitrack_label: str) -> None:
    overhead = stats[gitrack_label].median_s - stats["true"].median_s
    status = stats["git status --porcelain"].median_s
    met = benchlib.verdict(overhead <= TARGET_OVERHEAD_S)
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
    steps = [
        ("interpreter start-up (python -c pass)", "python -c pass"),
        ("import gitrack.cli (click, ...)", CLI_IMPORT),
        ("import gitrack.tracking.recorder (pygit2, ...)", RUN_IMPORT),
        ("snapshot, pin, run `true`, note, exit", gitrack_label),
    ]
    benchlib.print_breakdown("where the median goes", stats, steps, 40)


def runs_recorded(repo: Path, env: dict[str, str]) -> int:
    try:
        note = benchlib.git(repo, env, "notes", "--ref=gitrack", "show", "HEAD")
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
    repo = workdir / "repo"
    env = benchlib.isolated_home(workdir / "home")
    print(
        f"building {files} tracked files in {DIRECTORIES} directories, "
        f"{EDITED_FILES} edited, {UNTRACKED_FILES} untracked: {repo}"
    )
    build_repository(repo, env, files)
    gitrack, how = benchlib.gitrack_command(search_path=True)
    print(f"gitrack invoked as: {how}")
    print(f"bytecode cache: {env['PYTHONPYCACHEPREFIX']}")
    benchlib.run([*gitrack, "install"], repo, env)
    gitrack_label = "gitrack run -- true"
    commands = {
        "true": ["true"],
        "git status --porcelain": ["git", "status", "--porcelain"],
        gitrack_label: [*gitrack, "run", "--", "true"],
        "python -c pass": [sys.executable, "-c", "pass"],
        CLI_IMPORT: [sys.executable, "-c", "import gitrack.cli"],
        RUN_IMPORT: [sys.executable, "-c", "import gitrack.cli, gitrack.tracking.recorder"],
    }
    samples, failures = measure(commands, repo, env, repeat)
    stats = benchlib.print_results(samples, failures, repeat, heading="command", digits=9)
    print_verdict(stats, gitrack_label)
    print(f"runs recorded on HEAD: {runs_recorded(repo, env)} (expected {repeat + 1})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return benchlib.run_benchmark(
        "gitrack-bench-", args.keep, lambda workdir: benchmark(workdir, args.files, args.repeat)
    )


if __name__ == "__main__":
    sys.exit(main())
