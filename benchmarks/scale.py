"""How does gitrack's cost grow with the number of files in a dataset and of runs in history?

Each size is measured against its floor, in the same run, and printed as a ratio, so
anyone sees how cost grows (a ratio that climbs with the size is a cost that does not scale):

* files (``--files 1000,10000``, 10 KiB each, distinct bytes): ``gitrack run -d FOLDER --
  true`` of a new folder (not git-ignored: the headline case) against ``cp -r`` of the same
  folder; restoring a folder that was moved away (``mv``, never a mass delete: on ext4,
  creating files soon after deleting many is several times slower) with ``gitrack
  checkout RUN`` against ``cp -r``; and the peak resident memory of each of these gitrack
  processes (compare sizes: memory that grows with the number of files).
* runs (``--runs 1000,10000``): ``gitrack ls --json``, ``gitrack ls -n 10 --json`` (warm
  cache), ``gitrack.runs()`` as a whole process, ``gitrack ls --json`` right after a
  teammate's run arrived (a note added with plain ``git notes``: the listing cache is
  patched), and after the listing cache is removed, against the ``git log --all
  --notes=gitrack`` walk of the same repository (built with fast-import, as
  benchmarks/listing.py does; each variant lists its own copy, so that their caches never
  meet). Each runs table is printed twice: wall time, then CPU time (user + system),
  which shows the cost that a machine shared with other work blurs.

``--baseline-src DIR`` runs every gitrack task a second time with ``PYTHONPATH=DIR`` (another
checkout of gitrack's source, e.g. ``git archive main | tar -x -C DIR``) in the same rounds,
and prints the ratio new/old: before and after figures from one run on one machine.

Each round builds new folders (every sample versions a folder nobody has versioned);
medians over ``--repeat`` rounds. A benchmark, not a test: it always exits 0.

    python benchmarks/scale.py [--files 1000,10000,100000] [--runs 1000,10000,100000]
                               [--repeat 3] [--baseline-src DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

import benchlib
from benchlib import git

FILE_BYTES = 10 * 1024


# ----------------------------------------------------------------------- files
def timed(argv: list[str], cwd: Path, env: Mapping[str, str]) -> float:
    return benchlib.timed(argv, cwd, env)


CPU_SAMPLES: dict[str, list[float]] = {}  # label -> CPU seconds (user + system) per sample


def cpu_timed(label: str, argv: list[str], cwd: Path, env: Mapping[str, str]) -> float:
    """Wall time, as ``timed``; the process's CPU time goes to ``CPU_SAMPLES[label]``: on
    a machine shared with other work, CPU time shows the cost that wall time blurs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = timed(argv, cwd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU_SAMPLES.setdefault(label, []).append(spent)
    return elapsed


RSS_SAMPLES: dict[str, list[float]] = {}  # label -> peak resident memory (MiB) per sample


def rss_timed(label: str, argv: list[str], cwd: Path, env: Mapping[str, str]) -> float:
    """Wall time, as ``timed``; the process's peak resident memory goes to
    ``RSS_SAMPLES[label]`` (its own, from wait4: not the peak of every child so far)."""
    import subprocess

    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise benchlib.CommandFailed(proc.returncode, argv, None, err)
    RSS_SAMPLES.setdefault(label, []).append(usage.ru_maxrss / 1024)  # KiB on Linux
    return elapsed


def last_run_id(repo: Path, env: Mapping[str, str]) -> str:
    import json

    note = git(repo, env, "notes", "--ref=gitrack", "show", "HEAD").strip().splitlines()[-1]
    return str(json.loads(note)["id"])


class Variant:
    """One gitrack (this source tree, or the baseline) with its own repositories."""

    def __init__(self, label: str, env: dict[str, str], gitrack: list[str]) -> None:
        self.label = label
        self.env = env
        self.gitrack = gitrack


def files_benchmark(
    workdir: Path, variants: list[Variant], count: int, repeat: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}

    def add(label: str, value: float) -> None:
        samples.setdefault(label, []).append(value)

    repos: dict[str, tuple[Path, Path]] = {}
    for variant in variants:
        base = workdir / f"files-{count}-{variant.label}"
        plain, ignoring = base / "plain", base / "ignoring"
        base.mkdir()
        benchlib.new_repo(plain, variant.env, {"train.py": "print(1)\n"})
        benchlib.new_repo(
            ignoring, variant.env, {"train.py": "print(1)\n", ".gitignore": "/data*/\n"}
        )
        (base / "moved").mkdir()
        repos[variant.label] = (plain, ignoring)
    copies = workdir / f"copies-{count}"
    copies.mkdir()
    seed = count * 1000
    for round_ in range(repeat + 1):  # the first round warms up
        for variant in variants:
            plain, ignoring = repos[variant.label]
            seed += 1
            name = f"data{round_}"
            benchlib.write_folder(plain / name, count, seed, FILE_BYTES)
            benchlib.write_folder(ignoring / name, count, seed + 500_000, FILE_BYTES)
            os.sync()  # the folders' writeback done now, not during the timed commands
            time.sleep(0.2)
            copy = ["cp", "-r", name, str(copies / f"{variant.label}-{name}")]
            copy_s = timed(copy, plain, variant.env)
            run_d = [*variant.gitrack, "run", "-d", name, "--", "true"]
            tag = f"[{variant.label}]"
            run_s = rss_timed(f"run -d (new folder) {tag}", run_d, plain, variant.env)
            ign_s = rss_timed(f"run -d (ignored folder) {tag}", run_d, ignoring, variant.env)
            with (plain / ".git" / "info" / "exclude").open("a") as exclude:
                exclude.write(f"/{name}/\n")  # the next round's run must not snapshot it
            run_id = last_run_id(ignoring, variant.env)
            os.rename(ignoring / name, ignoring.parent / "moved" / name)
            checkout = [*variant.gitrack, "checkout", run_id]
            label = f"checkout (restore folder) {tag}"
            restore_s = rss_timed(label, checkout, ignoring, variant.env)
            if round_:
                add("cp -r", copy_s)
                add(f"run -d (new folder) [{variant.label}]", run_s)
                add(f"run -d (ignored folder) [{variant.label}]", ign_s)
                add(f"checkout (restore folder) [{variant.label}]", restore_s)
    return samples


# ------------------------------------------------------------------------ runs
def runs_benchmark(
    workdir: Path, variants: list[Variant], count: int, repeat: int
) -> dict[str, list[float]]:
    import listing

    first = variants[0]
    built = workdir / f"runs-{count}"
    template = listing.first_run(built, first.env, first.gitrack)
    commits = listing.fast_import_commits(built, first.env, count, workdir / f"marks-{count}")
    lines = listing.run_lines(template, commits)
    listing.fast_import_notes(built, first.env, commits, lines)
    # One copy per variant: their listing caches (in .git/gitrack) need not share a format.
    repos = {first.label: built}
    for variant in variants[1:]:
        repos[variant.label] = workdir / f"runs-{count}-{variant.label}"
        shutil.copytree(built, repos[variant.label], symlinks=True)
    walk = ["git", "log", "--all", "--notes=gitrack", "--format=%H%n%N"]
    probes: dict[str, Callable[[], float]] = {
        "git log --all --notes": partial(cpu_timed, "git log --all --notes", walk, built, first.env)
    }
    added = iter(range(1, 1_000_000))

    def cold(label: str, variant: Variant, repo: Path) -> float:
        for path in repo.joinpath(".git", "gitrack").glob("notes.*"):
            path.unlink()
        return cpu_timed(label, [*variant.gitrack, "ls", "--json"], repo, variant.env)

    def after_new_run(label: str, variant: Variant, repo: Path) -> float:
        """A teammate's run arrives (a note added by plain git), then the full listing."""
        number = next(added)
        line = json.loads(lines[0])
        line["id"], line["started"] = f"{number:016x}", f"2099-01-01T00:00:00.{number:06d}Z"
        commit = commits[number % len(commits)]
        git(repo, variant.env, "notes", "--ref=gitrack", "append", "-m", json.dumps(line), commit)
        return cpu_timed(label, [*variant.gitrack, "ls", "--json"], repo, variant.env)

    for variant in variants:
        repo, tag = repos[variant.label], f"[{variant.label}]"
        commands = {
            f"ls --json (warm) {tag}": [*variant.gitrack, "ls", "--json"],
            f"ls -n 10 --json {tag}": [*variant.gitrack, "ls", "-n", "10", "--json"],
            f"gitrack.runs() process {tag}": [
                sys.executable, "-c", "import gitrack; gitrack.runs()"
            ],
        }  # fmt: skip
        for label, argv in commands.items():
            probes[label] = partial(cpu_timed, label, argv, repo, variant.env)
        label = f"ls --json (one new run) {tag}"
        probes[label] = partial(after_new_run, label, variant, repo)
        label = f"ls --json (cold) {tag}"
        probes[label] = partial(cold, label, variant, repo)
    return benchlib.round_robin(probes, repeat)


# ---------------------------------------------------------------------- report
def report(title: str, samples: dict[str, list[float]], floor: str) -> None:
    medians = {label: statistics.median(values) for label, values in samples.items()}
    print(f"\n{title}")
    width = max(len(label) for label in medians)
    for label, median in medians.items():
        ratio = median / medians[floor]
        print(f"  {label:<{width}}  {median * 1e3:9.1f} ms   {ratio:6.2f}x {floor}")
    for label, median in medians.items():
        if label.endswith("[new]"):
            old = label.replace("[new]", "[baseline]")
            if old in medians:
                print(f"  new/baseline {label[:-6]:<{width - 6}}  {median / medians[old]:6.2f}")


def parse_sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="1000,10000", help="folder sizes, comma-separated")
    parser.add_argument("--runs", default="1000,10000", help="history sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--baseline-src", type=Path, help="another gitrack source tree to compare")
    parser.add_argument("--keep", action="store_true", help="keep the work folder; print its path")
    return parser.parse_args(argv)


def benchmark(workdir: Path, args: argparse.Namespace) -> None:
    env = benchlib.isolated_home(workdir / "home", drop=("GIT_", "GITRACK_"))
    gitrack, how = benchlib.gitrack_command()
    print(f"gitrack invoked as: {how}")
    here = str(Path(__file__).resolve().parent.parent)
    variants = [Variant("new", {**env, "PYTHONPATH": here}, gitrack)]
    if args.baseline_src is not None:
        old_env = {**env, "PYTHONPATH": str(args.baseline_src.resolve())}
        old_env["PYTHONPYCACHEPREFIX"] = str(workdir / "home" / "pycache-baseline")
        variants.append(Variant("baseline", old_env, gitrack))
    os.environ.clear()
    os.environ.update(variants[0].env)
    benchlib.print_info([*benchlib.machine_info(), ("cpu", benchlib.cpu_model())])
    for count in parse_sizes(args.files):
        RSS_SAMPLES.clear()
        samples = files_benchmark(workdir, variants, count, max(1, args.repeat))
        report(f"{count:,} files of 10 KiB (median of {args.repeat})", samples, "cp -r")
        print("  peak resident memory (MiB, median of every sample, warm-up included)")
        for label, values in RSS_SAMPLES.items():
            print(f"  {label:<40}  {statistics.median(values):9.1f} MiB")
    for count in parse_sizes(args.runs):
        CPU_SAMPLES.clear()
        samples = runs_benchmark(workdir, variants, count, max(1, args.repeat))
        report(f"{count:,} runs (median of {args.repeat})", samples, "git log --all --notes")
        cpu = {label: values[1:] for label, values in CPU_SAMPLES.items()}  # less the warm-up
        title = f"{count:,} runs, CPU time (user + system, median of {args.repeat})"
        report(title, cpu, "git log --all --notes")
    shutil.rmtree(workdir / "home" / "pycache", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    saved = dict(os.environ)
    try:
        return benchlib.run_benchmark("gitrack-scale-", args.keep, lambda w: benchmark(w, args))
    finally:
        os.environ.clear()
        os.environ.update(saved)


if __name__ == "__main__":
    sys.exit(main())
