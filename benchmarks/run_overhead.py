"""How much time does `gitrack run` add to the command it wraps?

The target is "gitrack adds at most 0.12 s" to every run, so that wrapping even a quick
command with `gitrack run --` never feels slow. This script measures it where it counts:
in a repository of realistic size (5,000 tracked files in ~100 directories) with
uncommitted work (20 edited tracked files, 5 untracked files), so the snapshot has
something to capture.

Measured, each as the wall time of one `subprocess.run` (time.perf_counter around it):

* ``true``                      - the cost of spawning any process at all (the floor);
* ``git status --porcelain``    - what a user already pays to look at the same state;
* ``gitrack run -- true``       - snapshot + pin + run ``true`` + write the note;
* ``python -c pass``            - interpreter start-up, part of gitrack's cost;
* ``python -c "import gitrack.cli.runs"`` - start-up plus the command line's imports (click);
* ``python -c "import gitrack.cli.runs, gitrack.tracking.recorder, pygit2"`` - plus the rest
  of what `run` imports.

The differences between these medians split gitrack's time into start-up, imports and
the work itself (snapshot, pin, note), so the reader sees where to optimize.

The commands run round-robin (one of each, then the next round) after one warm-up each,
so machine noise (another process, a CPU frequency change) hits all of them equally.
The repository is built in a temporary directory isolated from the host's git config
(HOME is the temp dir, GIT_CONFIG_NOSYSTEM=1, fixed author/committer), so the numbers do
not depend on the user's hooks, fsmonitor or aliases. Python's bytecode cache is on
(in the temp dir), as in an ordinary install, even if PYTHONDONTWRITEBYTECODE is set.

``--baseline-src DIR`` adds ``gitrack run -- true`` and the two import probes run from
another source tree (``PYTHONPATH=DIR``, its own bytecode cache), in the same rounds, and
prints each new/baseline ratio, of the wall times and of the CPU times (user + system, which
another process on the machine moves far less): the way to compare two versions on a noisy
machine.

``--dataset N`` adds a folder of N small files that git does not ignore and an untracked
folder of notes beside it, and times ``gitrack run -d data -- true`` in place of ``gitrack
run -- true`` (which would snapshot the data): the snapshot leaves the dataset out without
having status list its files, and the stat cache vouches for them (the warm-up cached them).

``--keep-folder`` commits a ``logs/.gitignore`` that keeps its folder (``*`` then
``!.gitignore``, a common file): a negation below the root, where libgit2 misjudges the
ignore rules, so the snapshot has git list the untracked files (gitrack/git/ignores.py).
With ``--dataset N``, the cost of that listing beside a dataset.

It is a benchmark, not a test: it always exits 0 and only reports whether the target is met.

    python benchmarks/run_overhead.py [--files 5000] [--repeat 15] [--dataset 0]
                                      [--keep-folder] [--baseline-src DIR] [--keep]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
from functools import partial
from pathlib import Path

import benchlib
from benchlib import Stats

TARGET_OVERHEAD_S = 0.12
CLI_IMPORT_CODE = "import gitrack.cli.runs"  # the command line of `run` (click, ...)
RUN_IMPORT_CODE = "import gitrack.cli.runs, gitrack.tracking.recorder, pygit2"  # all it imports
CLI_IMPORT = f'python -c "{CLI_IMPORT_CODE}"'
RUN_IMPORT = f'python -c "{RUN_IMPORT_CODE}"'
DIRECTORIES = 100
EDITED_FILES = 20
UNTRACKED_FILES = 5
BASELINE = " [baseline]"


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
def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_and_cpu(
    argv: list[str], repo: Path, env: dict[str, str], cpu: list[float]
) -> tuple[float, int]:
    """benchlib.time_process, and the CPU time (user + system) the process used appended
    to ``cpu``: on a loaded machine it moves far less than the wall time."""
    before = children_cpu_s()
    result = benchlib.time_process(argv, repo, env)
    cpu.append(children_cpu_s() - before)
    return result


def measure(
    commands: dict[str, tuple[list[str], dict[str, str]]], repo: Path, repeat: int
) -> tuple[dict[str, list[float]], dict[str, int], dict[str, list[float]]]:
    """Round-robin timings after one warm-up each; also the count of non-zero exits, and
    the CPU times (the warm-up's dropped)."""
    cpu: dict[str, list[float]] = {label: [] for label in commands}
    probes = {
        label: partial(time_and_cpu, argv, repo, env, cpu[label])
        for label, (argv, env) in commands.items()
    }
    seconds, failures = benchlib.split_failures(benchlib.round_robin(probes, repeat))
    return seconds, failures, {label: values[1:] for label, values in cpu.items()}


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
    print(f"target: gitrack adds at most {TARGET_OVERHEAD_S:.2f} s -> {met}")
    print_breakdown(stats, gitrack_label)


def print_breakdown(stats: dict[str, Stats], gitrack_label: str) -> None:
    """Split the median of `gitrack run -- true` into start-up, imports and the work."""
    steps = [
        ("interpreter start-up (python -c pass)", "python -c pass"),
        ("import gitrack.cli.runs (click, ...)", CLI_IMPORT),
        ("import the recorder and pygit2", RUN_IMPORT),
        ("snapshot, pin, run `true`, note, exit", gitrack_label),
    ]
    benchlib.print_breakdown("where the median goes", stats, steps, 40)


def print_ratios(stats: dict[str, Stats], cpu: dict[str, list[float]]) -> None:
    """new/baseline for each probe run from both source trees: wall and CPU medians."""
    pairs = [(label, label + BASELINE) for label in stats if label + BASELINE in stats]
    if not pairs:
        return
    print("\nnew/baseline (medians, same rounds; ms):")
    for new, old in pairs:
        wall_new, wall_old = stats[new].median_s, stats[old].median_s
        cpu_new, cpu_old = statistics.median(cpu[new]), statistics.median(cpu[old])
        print(
            f"  {new:<72}wall {wall_new * 1e3:6.1f} / {wall_old * 1e3:6.1f} = "
            f"{wall_new / wall_old:4.2f}   cpu {cpu_new * 1e3:6.1f} / {cpu_old * 1e3:6.1f} = "
            f"{cpu_new / cpu_old:4.2f}"
        )


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
    parser.add_argument("--dataset", type=int, default=0, help="files in a dataset (default 0)")
    parser.add_argument(
        "--keep-folder", action="store_true", help="commit logs/.gitignore: '*', '!.gitignore'"
    )
    parser.add_argument("--baseline-src", type=Path, help="another gitrack source tree to compare")
    parser.add_argument("--keep", action="store_true", help="keep the repository; print its path")
    args = parser.parse_args(argv)
    args.files = max(args.files, EDITED_FILES + UNTRACKED_FILES)
    args.repeat = max(args.repeat, 1)
    return args


def gitrack_commands(
    gitrack: list[str], env: dict[str, str], dataset: bool, suffix: str = ""
) -> dict[str, tuple[list[str], dict[str, str]]]:
    """The probes that depend on which gitrack source tree ``env`` points at."""
    run = ["run", "-d", "data", "--", "true"] if dataset else ["run", "--", "true"]
    return {
        f"gitrack {' '.join(run)}{suffix}": ([*gitrack, *run], env),
        f"{CLI_IMPORT}{suffix}": ([sys.executable, "-c", CLI_IMPORT_CODE], env),
        f"{RUN_IMPORT}{suffix}": ([sys.executable, "-c", RUN_IMPORT_CODE], env),
    }


def add_dataset(repo: Path, files: int) -> None:
    """``files`` files of 100 bytes in data/ (100 a folder), and an untracked notes/."""
    for index in range(files):
        path = repo / "data" / f"part{index // 100:04d}" / f"{index:07d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(index.to_bytes(4, "little") * 25)
    (repo / "notes").mkdir()
    for name in ("ideas.md", "todo.md", "results.md"):
        (repo / "notes" / name).write_text(f"{name}\n")


def add_keep_folder(repo: Path, env: dict[str, str]) -> None:
    """A committed logs/.gitignore that ignores everything in logs/ but itself."""
    (repo / "logs").mkdir()
    (repo / "logs" / ".gitignore").write_text("*\n!.gitignore\n")
    benchlib.git(repo, env, "add", "logs/.gitignore")
    benchlib.git(repo, env, "commit", "--quiet", "-m", "keep logs/")


def benchmark(
    workdir: Path, files: int, repeat: int, baseline: Path | None, dataset: int, keep: bool
) -> None:
    repo = workdir / "repo"
    env = benchlib.isolated_home(workdir / "home")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)  # this source tree
    print(
        f"building {files} tracked files in {DIRECTORIES} directories, "
        f"{EDITED_FILES} edited, {UNTRACKED_FILES} untracked: {repo}"
    )
    build_repository(repo, env, files)
    if keep:
        print("and a committed logs/.gitignore keeping its folder ('*', '!.gitignore')")
        add_keep_folder(repo, env)
    if dataset:
        print(f"and a dataset of {dataset} files git does not ignore, beside an untracked notes/")
        add_dataset(repo, dataset)
    gitrack, how = benchlib.gitrack_command(search_path=True)
    print(f"gitrack invoked as: {how}")
    print(f"bytecode cache: {env['PYTHONPYCACHEPREFIX']}")
    benchlib.run([*gitrack, "install"], repo, env)
    gitrack_label = "gitrack run -d data -- true" if dataset else "gitrack run -- true"
    commands = {
        "true": (["true"], env),
        "git status --porcelain": (["git", "status", "--porcelain"], env),
        "python -c pass": ([sys.executable, "-c", "pass"], env),
        **gitrack_commands(gitrack, env, bool(dataset)),
    }
    if baseline is not None:
        old_env = {**env, "PYTHONPATH": str(baseline.resolve())}
        old_env["PYTHONPYCACHEPREFIX"] = str(workdir / "home" / "pycache-baseline")
        print(f"baseline: PYTHONPATH={old_env['PYTHONPATH']}")
        commands.update(gitrack_commands(gitrack, old_env, bool(dataset), BASELINE))
    samples, failures, cpu = measure(commands, repo, repeat)
    stats = benchlib.print_results(samples, failures, repeat, heading="command", digits=9)
    print_verdict(stats, gitrack_label)
    print_ratios(stats, cpu)
    runs = 2 if baseline is not None else 1
    print(f"runs recorded on HEAD: {runs_recorded(repo, env)} (expected {runs * (repeat + 1)})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return benchlib.run_benchmark(
        "gitrack-bench-",
        args.keep,
        lambda workdir: benchmark(
            workdir, args.files, args.repeat, args.baseline_src, args.dataset, args.keep_folder
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
