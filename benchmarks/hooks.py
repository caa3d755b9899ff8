"""How much time do gitrack's git hooks add to the git commands they run after?

The target is "each hook adds at most 0.1 s": a user who installed gitrack must not feel
it on `git commit` or `git checkout`. The hooks are plain sh that decide, without starting
Python, whether gitrack has anything to do; only then do they start ``python -m
gitrack.hookrun``. This script measures both paths, in one repository, in the same run:

* ``git commit --allow-empty -m x`` and a commit of one changed file (``commit -am``),
  (a) when the parent commit has no runs: post-commit's sh fast path (one `git notes list`);
  (b) when the parent has runs: post-commit starts Python, reads the parent's note and
  compares each run's snapshot tree with the new commit's tree.
* ``git checkout -q other`` followed by ``git checkout -q main`` (a round trip: two
  post-checkout hooks), without a gitrack config (sh fast path: no config file, nothing to
  check) and with ``data = ["data/train.csv"]`` (Python: hash the dataset through the stat
  cache and compare it with the newest run on the new HEAD).

Each case runs with gitrack's hooks installed (``.git/hooks``) and without any hooks
(``git -c core.hooksPath=<empty folder>``), the difference of the medians being what the
hooks add. Before each timed command an untimed setup puts the repository in the case's
state (branch, parent commit, config file), with hooks off. The cases run round-robin
(one of each, then the next round) after one warm-up round, so machine noise hits all of
them equally. The repository lives in a temporary directory isolated from the host's git
config (HOME is the temp dir, GIT_CONFIG_NOSYSTEM=1, fixed author and committer).

It is a benchmark, not a test: it always exits 0 and only reports whether the target is met.

    python benchmarks/hooks.py [--files 2000] [--repeat 15] [--runs 10] [--keep]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import benchlib
from benchlib import Stats

TARGET_PER_HOOK_S = 0.1
DATASET_BYTES = 8 * 1024 * 1024
DIRECTORIES = 50

PYTHON_START = "python -c pass"
HOOK_IMPORT = "python -c 'import gitrack.hookrun'"
DATA_IMPORT = "python -c 'import gitrack.hookrun, gitrack.commands.status, gitrack.data'"
REFERENCES = {
    PYTHON_START: "pass",
    HOOK_IMPORT: "import gitrack.hookrun",
    DATA_IMPORT: "import gitrack.hookrun, gitrack.commands.status, gitrack.data",
}


@dataclass(frozen=True)
class Case:
    label: str
    setup: Callable[[], None]  # untimed, hooks off
    steps: list[list[str]]  # timed together: the sum is one sample


@dataclass(frozen=True)
class Comparison:
    what: str
    with_hooks: str
    without_hooks: str
    hooks_run: int  # how many hook invocations the timed steps trigger


# ------------------------------------------------------------------ repository
class Bench:
    """The repository under test and the commands that change its state (untimed)."""

    def __init__(self, workdir: Path, files: int, runs: int) -> None:
        self.repo = workdir / "repo"
        self.no_hooks = workdir / "no-hooks"  # an empty hooks folder: git runs nothing
        self.no_hooks.mkdir()
        self.env = benchlib.isolated_home(workdir / "home")
        self.plain, self.ran = self._build(files, runs)
        self.counter = 0

    def git(self, *args: str, hooks: bool = False) -> str:
        return benchlib.run(self.git_argv(*args, hooks=hooks), self.repo, self.env)

    def gitrack(self, *args: str) -> None:
        benchlib.run([sys.executable, "-m", "gitrack", *args], self.repo, self.env)

    def _build(self, files: int, runs: int) -> tuple[str, str]:
        """main: PLAIN (no runs) then RAN (``runs`` runs with a dataset); other: one edit."""
        repo = self.repo
        benchlib.new_repo(repo, self.env)  # hooks are not installed yet
        benchlib.write_tracked_files(repo, files, DIRECTORIES)
        (repo / ".gitignore").write_text("data/\n")
        (repo / "bench.txt").write_text("0\n")
        self.git("add", "-A")
        self.git("commit", "--quiet", "-m", f"{files} files")
        plain = self.git("rev-parse", "HEAD").strip()
        (repo / "data").mkdir()
        (repo / "data" / "train.csv").write_bytes(os.urandom(DATASET_BYTES))
        (repo / "train.py").write_text("print('train')\n")
        self.git("add", "train.py")
        self.git("commit", "--quiet", "-m", "train.py")
        ran = self.git("rev-parse", "HEAD").strip()
        self.gitrack("install")
        for number in range(runs):
            self.gitrack("run", "-p", f"seed={number}", "-d", "data/train.csv", "--", "true")
        self.git("branch", "bench", plain)
        self.git("checkout", "--quiet", "-b", "other")
        (repo / "train.py").write_text("print('train on other')\n")
        self.git("commit", "--quiet", "-am", "other")
        self.git("checkout", "--quiet", "main")
        return plain, ran

    # ------------------------------------------------------------ case setups
    def config(self, data: bool) -> None:
        path = self.repo / "gitrack.toml"
        if data:
            path.write_text('data = ["data/train.csv"]\n')
        else:
            path.unlink(missing_ok=True)

    def on_bench_at(self, commit: str, edit: bool) -> Callable[[], None]:
        def setup() -> None:
            self.config(data=False)
            self.git("checkout", "--quiet", "--force", "bench")
            self.git("reset", "--quiet", "--hard", commit)
            if edit:
                self.counter += 1
                (self.repo / "bench.txt").write_text(f"{self.counter}\n")

        return setup

    def on_main(self, data: bool) -> Callable[[], None]:
        def setup() -> None:
            self.git("checkout", "--quiet", "--force", "main")
            self.config(data)

        return setup

    def git_argv(self, *args: str, hooks: bool) -> list[str]:
        prefix = [] if hooks else ["-c", f"core.hooksPath={self.no_hooks}"]
        return ["git", *prefix, *args]


def cases(bench: Bench) -> tuple[list[Case], list[Comparison]]:
    out: list[Case] = []
    comparisons: list[Comparison] = []
    commits = {
        "commit --allow-empty": ["commit", "--quiet", "--allow-empty", "-m", "x"],
        "commit -am (1 file)": ["commit", "--quiet", "-am", "x"],
    }
    parents = {
        "parent without runs": bench.plain,
        "parent with runs": bench.ran,
    }
    for name, args in commits.items():
        for parent, commit in parents.items():
            labels = {}
            for hooks in (False, True):
                label = f"{name}, {parent}, {'hooks' if hooks else 'no hooks'}"
                setup = bench.on_bench_at(commit, edit=name.startswith("commit -am"))
                out.append(Case(label, setup, [bench.git_argv(*args, hooks=hooks)]))
                labels[hooks] = label
            path = "sh fast path" if parent == "parent without runs" else "python"
            comparisons.append(
                Comparison(f"post-commit ({path}): {name}", labels[True], labels[False], 1)
            )
    for data in (False, True):
        labels = {}
        for hooks in (False, True):
            config = "data config" if data else "no config"
            label = f"checkout other + main, {config}, {'hooks' if hooks else 'no hooks'}"
            steps = [
                bench.git_argv("checkout", "--quiet", "other", hooks=hooks),
                bench.git_argv("checkout", "--quiet", "main", hooks=hooks),
            ]
            out.append(Case(label, bench.on_main(data), steps))
            labels[hooks] = label
        path = "python" if data else "sh fast path"
        comparisons.append(
            Comparison(
                f"post-checkout ({path}): round trip, {'data config' if data else 'no config'}",
                labels[True],
                labels[False],
                2,
            )
        )
    for label, code in REFERENCES.items():  # where the Python path's time goes
        out.append(Case(label, lambda: None, [[sys.executable, "-c", code]]))
    return out, comparisons


# --------------------------------------------------------------------- timing
def time_steps(steps: list[list[str]], bench: Bench) -> tuple[float, int]:
    total, failures = 0.0, 0
    for argv in steps:
        elapsed, code = benchlib.time_process(argv, bench.repo, bench.env)
        total += elapsed
        failures += code != 0
    return total, failures


def run_case(case: Case, bench: Bench) -> tuple[float, int]:
    """The case's setup (untimed), then its steps: (seconds, non-zero exits)."""
    case.setup()
    return time_steps(case.steps, bench)


def measure(
    all_cases: list[Case], bench: Bench, repeat: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Round-robin timings after one warm-up round; also the count of non-zero exits."""
    probes = {case.label: partial(run_case, case, bench) for case in all_cases}
    return benchlib.split_failures(benchlib.round_robin(probes, repeat))


# ------------------------------------------------------------------- reporting
def print_verdict(stats: dict[str, Stats], comparisons: list[Comparison]) -> None:
    print()
    print("added by gitrack's hooks (median with hooks - median without):")
    width = max(len(c.what) for c in comparisons)
    worst = 0.0
    for comp in comparisons:
        added = stats[comp.with_hooks].median_s - stats[comp.without_hooks].median_s
        per_hook = added / comp.hooks_run
        worst = max(worst, per_hook)
        met = "ok" if per_hook <= TARGET_PER_HOOK_S else "OVER"
        print(
            f"  {comp.what:<{width}}  {added * 1e3:+7.1f} ms"
            f"  = {per_hook * 1e3:+6.1f} ms per hook ({comp.hooks_run} run)  {met}"
        )
    verdict = benchlib.verdict(worst <= TARGET_PER_HOOK_S)
    print(
        f"target: each hook adds at most {TARGET_PER_HOOK_S:.1f} s -> {verdict} "
        f"(worst {worst * 1e3:.1f} ms per hook)"
    )
    steps = [
        ("interpreter start-up (python -c pass)", PYTHON_START),
        ("import gitrack.hookrun (pygit2, ...)", HOOK_IMPORT),
        ("import gitrack.commands.status, gitrack.data", DATA_IMPORT),
    ]
    benchlib.print_breakdown("where a Python hook's time goes", stats, steps, 42)


# ------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="tracked files (default 2000)")
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--runs", type=int, default=10, help="runs on the parent (default 10)")
    parser.add_argument("--keep", action="store_true", help="keep the repository; print its path")
    args = parser.parse_args(argv)
    args.files = max(args.files, 1)
    args.repeat = max(args.repeat, 1)
    args.runs = max(args.runs, 1)
    return args


def benchmark(workdir: Path, files: int, repeat: int, runs: int) -> None:
    print(
        f"building {files} tracked files, {runs} runs on a {DATASET_BYTES >> 20} MiB "
        f"dataset, gitrack's hooks installed: {workdir / 'repo'}"
    )
    bench = Bench(workdir, files, runs)
    all_cases, comparisons = cases(bench)
    samples, failures = measure(all_cases, bench, repeat)
    stats = benchlib.print_results(samples, failures, repeat, heading="case", digits=8)
    print_verdict(stats, comparisons)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return benchlib.run_benchmark(
        "gitrack-hooks-bench-",
        args.keep,
        lambda workdir: benchmark(workdir, args.files, args.repeat, args.runs),
    )


if __name__ == "__main__":
    sys.exit(main())
