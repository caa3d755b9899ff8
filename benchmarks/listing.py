"""How fast are `gitrack ls` and `gitrack.runs()` on 10,000 runs, and `log_metric` per call?

MLflow's listing and search get slow past a few thousand runs (mlflow#4034, #8277, #1517).
gitrack's runs are git notes, so the floor is what git itself needs to walk them. The
targets: ``gitrack ls --json`` and ``gitrack.runs()`` take at most 1 s and at most 4x
the raw ``git log --notes=gitrack --format=%H%n%N`` walk; ``log_metric`` costs at most
50 µs per call.

The repository is built with ``git fast-import`` in a temporary directory isolated from
the host's git config (HOME is the temp dir, GIT_CONFIG_NOSYSTEM=1, fixed identity):

* one real run first (``gitrack run -- python -c ...`` logging 100 steps through the
  API), which gives a real snapshot commit, pinned in refs/gitrack/pins, a real
  environment blob and a real step-metrics parquet blob;
* N commits on ``main`` (default 10,000), each changing one file;
* one commit on refs/notes/gitrack whose tree holds one note per commit: a run line made
  by gitrack's own ``RunRecord.to_line`` (the format gitrack writes), with params,
  metrics, tags, a command and the environment, every run pointing at the real
  snapshot and step history of the first run. That run's own note is replaced.

Measured, median of ``--repeat`` (default 5) after one warm-up, round-robin:

* ``git log --notes=gitrack --format=%H%n%N``   the baseline, whole process;
* ``gitrack ls --json``                         whole process, output to /dev/null;
* ``gitrack ls --where "metrics.auc > 0.5" --json``;
* ``python -c "import gitrack; gitrack.runs()"`` whole process;
* ``gitrack.runs()`` in this process (imports already paid);
* ``Run.log_metric``, in-process, in a standalone ``start_run`` (another small repository),
  100,000 calls per sample: µs per call;
* MLflow's ``search_runs`` on the same number of runs, when mlflow is importable.

``--profile`` adds a cProfile of ``gitrack ls --json`` (a fresh process), top 15 by
cumulative time. It is a benchmark, not a test: it always exits 0 and reports whether
each target is met.

    python benchmarks/listing.py [--runs 10000] [--repeat 5] [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import benchlib
from benchlib import git

TARGET_LIST_S = 1.0
TARGET_RATIO = 4.0
TARGET_LOG_METRIC_US = 50.0
LOG_METRIC_CALLS = 100_000
FIRST_RUN_SCRIPT = (
    "import gitrack\n"
    "for step in range(100):\n"
    "    gitrack.log_metric('loss', 1.0 / (step + 1))\n"
    "    gitrack.log_metric('acc', step / 100)\n"
)
RAW = "git log --notes=gitrack --format=%H%n%N"
LS = "gitrack ls --json"
LS_WHERE = 'gitrack ls --where "metrics.auc > 0.5" --json'
RUNS_PROCESS = 'python -c "import gitrack; gitrack.runs()"'
RUNS_IN_PROCESS = "gitrack.runs() in-process"


# ------------------------------------------------------------------- repository
def first_run(repo: Path, env: dict[str, str], gitrack: list[str]) -> dict[str, Any]:
    """One real run through the API: its line is the template of all the others."""
    small_repo(repo, env)
    argv = [*gitrack, "run", "-p", "lr=0.1", "--", sys.executable, "-c", FIRST_RUN_SCRIPT]
    benchlib.run(argv, repo, env)
    note = git(repo, env, "notes", "--ref=gitrack", "show", "HEAD")
    template: dict[str, Any] = json.loads(note.split("\n")[0])
    if not template.get("metric_history"):
        raise RuntimeError("the first run recorded no step metrics")
    return template


def fast_import_commits(repo: Path, env: dict[str, str], count: int, marks: Path) -> list[str]:
    """``count`` commits on main, one file changed in each; returns their ids in order."""
    head = git(repo, env, "rev-parse", "HEAD").strip()
    chunks: list[bytes] = []
    for number in range(1, count + 1):
        message = f"training change {number}\n".encode()
        content = f"epoch budget {number}\n".encode()
        when = 1_700_000_000 + number * 60
        chunks.append(
            b"commit refs/heads/main\n"
            + f"mark :{number}\n".encode()
            + f"committer Bench Mark <bench@example.com> {when} +0000\n".encode()
            + f"data {len(message)}\n".encode()
            + message
            + (f"from {head}\n".encode() if number == 1 else b"")
            + b"M 100644 inline budget.txt\n"
            + f"data {len(content)}\n".encode()
            + content
            + b"\n"
        )
    stream = b"".join(chunks) + b"done\n"
    git(repo, env, "fast-import", "--quiet", "--done", f"--export-marks={marks}", stdin=stream)
    by_mark = dict(line.split() for line in marks.read_text().splitlines())
    return [by_mark[f":{number}"] for number in range(1, count + 1)]


def run_lines(template: dict[str, Any], commits: list[str], seed: int = 7) -> list[str]:
    """One realistic run line per commit, written by gitrack's own RunRecord.to_line."""
    from datetime import datetime, timedelta, timezone

    from gitrack.tracking.record import RunRecord, utc_timestamp

    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    lines = []
    for number, commit in enumerate(commits):
        lr = rng.choice(["0.1", "0.03", "0.01", "0.003", "0.001"])
        auc = rng.uniform(0.4, 0.99)
        record = RunRecord(
            started=utc_timestamp(start + timedelta(minutes=number, microseconds=number)),
            id=f"{rng.getrandbits(64):016x}",
            command=["python", "train.py", "--lr", lr, "--epochs", "20"],
            base_commit=commit,
            snapshot=template["snapshot"],
            dirty=number % 3 == 0,
            status="failed" if number % 17 == 0 else "ok",
            exit_code=1 if number % 17 == 0 else 0,
            duration_s=round(rng.uniform(5, 3600), 6),
            cpu_s=round(rng.uniform(5, 3600), 6),
            max_rss_bytes=rng.randrange(200, 16_000) * 2**20,
            name=f"experiment-{number}" if number % 10 == 0 else None,
            params={
                "lr": lr,
                "batch_size": rng.choice(["32", "64", "128"]),
                "model": rng.choice(["tree", "linear", "resnet18", "resnet50"]),
                "seed": str(rng.randrange(10_000)),
                "epochs": "20",
            },
            metrics={
                "auc": auc,
                "acc": rng.uniform(0.5, 0.99),
                "loss": rng.uniform(0.01, 2.0),
                "val/loss": rng.uniform(0.01, 2.0),
            },
            tags={"team": rng.choice(["vision", "nlp", "tabular"]), "stage": "dev"},
            user=str(template.get("user", "")),
            host=str(template.get("host", "")),
            env=dict(template.get("env", {})),
            metric_history=template["metric_history"],
        )
        lines.append(record.to_line())
    return lines


def fast_import_notes(
    repo: Path, env: dict[str, str], commits: list[str], lines: list[str]
) -> None:
    """One commit on refs/notes/gitrack holding every note (fast-import picks the fanout)."""
    message = b"gitrack: benchmark runs\n"
    chunks = [
        b"commit refs/notes/gitrack\n"
        b"committer Bench Mark <bench@example.com> 1800000000 +0000\n"
        + f"data {len(message)}\n".encode()
        + message
    ]
    for commit, line in zip(commits, lines, strict=True):
        body = (line + "\n").encode()
        chunks.append(f"N inline {commit}\n".encode() + f"data {len(body)}\n".encode() + body)
    stream = b"".join(chunks) + b"\ndone\n"
    git(repo, env, "update-ref", "-d", "refs/notes/gitrack")  # the first run's note goes
    git(repo, env, "fast-import", "--quiet", "--done", stdin=stream)


def small_repo(path: Path, env: dict[str, str]) -> None:
    benchlib.new_repo(path, env, {"train.py": "print('training')\n"})


# ---------------------------------------------------------------------- timing
def time_call(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def log_metric_samples(repo: Path, repeat: int) -> tuple[list[float], list[float]]:
    """µs per ``Run.log_metric`` call (100,000 calls a sample), and each run's end (s)."""
    import gitrack

    per_call: list[float] = []
    endings: list[float] = []
    previous = os.getcwd()
    os.chdir(repo)
    try:
        for _ in range(repeat):
            run = gitrack.start_run(params={"lr": 0.1})
            log = run.log_metric
            start = time.perf_counter()
            for step in range(LOG_METRIC_CALLS):
                log("loss", 1.0 / (step + 1))
            per_call.append((time.perf_counter() - start) / LOG_METRIC_CALLS * 1e6)
            start = time.perf_counter()
            run.end()
            endings.append(time.perf_counter() - start)
    finally:
        os.chdir(previous)
    return per_call, endings


def mlflow_line(count: int) -> str:
    try:
        import mlflow  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        return "mlflow search_runs: skipped (mlflow is not installed)"
    return (
        f"mlflow search_runs: skipped (mlflow is importable, but logging {count} runs "
        "into a tracking store is not part of this benchmark yet)"
    )


# ------------------------------------------------------------------- reporting
def machine_info(env: dict[str, str]) -> list[tuple[str, str]]:
    import pyarrow
    import pygit2  # noqa: TID251 - only its version, for the report

    return [
        ("cpu", f"{benchlib.cpu_model()}, nproc {benchlib.usable_cpus()}"),
        ("python", benchlib.python_version()),
        ("git", benchlib.git_version(env)),
        ("pygit2", f"{pygit2.__version__} (libgit2 {pygit2.LIBGIT2_VERSION})"),
        ("pyarrow", pyarrow.__version__),
        ("platform", platform.platform()),
    ]


def report(medians: dict[str, float], samples: dict[str, list[float]], repeat: int) -> None:
    width = max(len(label) for label in medians)
    print(f"{'what':<{width}}  {'median':>9}  {'min':>9}  {'max':>9}   (ms, n={repeat})")
    for label, values in samples.items():
        print(
            f"{label:<{width}}  {medians[label] * 1e3:9.1f}  {min(values) * 1e3:9.1f}"
            f"  {max(values) * 1e3:9.1f}"
        )
    raw = medians[RAW]
    print()
    print(
        f"targets: at most {TARGET_LIST_S:.0f} s and at most {TARGET_RATIO:.0f}x the raw "
        f"git walk ({raw * 1e3:.1f} ms -> {raw * TARGET_RATIO * 1e3:.1f} ms)"
    )
    for label in (LS, LS_WHERE, RUNS_PROCESS, RUNS_IN_PROCESS):
        value = medians[label]
        ok = value <= TARGET_LIST_S and value <= TARGET_RATIO * raw
        print(f"  {label:<{width}}  {value:6.3f} s  {value / raw:5.1f}x   {benchlib.verdict(ok)}")


def print_profile(gitrack_repo: Path, env: dict[str, str], workdir: Path) -> None:
    """cProfile of `gitrack ls --json` in a fresh process; top 15 by cumulative time."""
    out = workdir / "ls.prof"
    # The profile includes the imports (click, pygit2, ...), as a user's process pays them.
    statement = "from gitrack.cli import main; main(['ls', '--json'])"
    code = f"import cProfile\ncProfile.run({statement!r}, {str(out)!r})\n"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=gitrack_repo,
        env=env,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    print(f"\nprofile of `gitrack ls --json` (one process, {time.perf_counter() - started:.2f} s)")
    stats = pstats.Stats(str(out), stream=sys.stdout)
    stats.strip_dirs().sort_stats("cumulative").print_stats(15)


# ------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs/commits (default 10000)")
    parser.add_argument("--repeat", type=int, default=5, help="samples per probe (default 5)")
    parser.add_argument("--profile", action="store_true", help="also cProfile `gitrack ls`")
    parser.add_argument("--keep", action="store_true", help="keep the repository; print its path")
    args = parser.parse_args(argv)
    args.runs = max(args.runs, 1)
    args.repeat = max(args.repeat, 1)
    return args


def benchmark(workdir: Path, count: int, repeat: int, profile: bool) -> None:
    repo, scratch = workdir / "repo", workdir / "api-repo"
    env = benchlib.isolated_home(workdir / "home", drop=("GIT_", "GITRACK_"))
    # This process imports gitrack (and libgit2) below: isolate it the same way first.
    os.environ.clear()
    os.environ.update(env)
    gitrack, _ = benchlib.gitrack_command()
    print(f"gitrack invoked as: {' '.join(gitrack)}")
    started = time.perf_counter()
    template = first_run(repo, env, gitrack)
    commits = fast_import_commits(repo, env, count, workdir / "marks")
    fast_import_notes(repo, env, commits, run_lines(template, commits))
    listed = benchlib.run([*gitrack, "ls", "--json"], repo, env)
    runs_seen = len(json.loads(listed))
    note_bytes = len(run_lines(template, commits[:1])[0])
    print(
        f"built {count} commits with one run note each in {time.perf_counter() - started:.1f} s "
        f"({repo}); a note line is {note_bytes} bytes; `gitrack ls` lists {runs_seen} runs"
    )
    if runs_seen != count:
        print(f"WARNING: expected {count} runs listed, got {runs_seen}")

    import gitrack as api

    commands = {
        RAW: ["git", "log", "--notes=gitrack", "--format=%H%n%N"],
        LS: [*gitrack, "ls", "--json"],
        LS_WHERE: [*gitrack, "ls", "--where", "metrics.auc > 0.5", "--json"],
        RUNS_PROCESS: [sys.executable, "-c", "import gitrack; gitrack.runs()"],
    }
    probes: dict[str, Callable[[], float]] = {
        label: partial(benchlib.timed, argv, repo, env) for label, argv in commands.items()
    }
    probes[RUNS_IN_PROCESS] = lambda: time_call(lambda: api.runs(cwd=repo))
    samples = benchlib.round_robin(probes, repeat)
    medians = {label: statistics.median(values) for label, values in samples.items()}
    table = api.runs(cwd=repo)
    print(f"gitrack.runs(): {table.num_rows} rows x {table.num_columns} columns")

    small_repo(scratch, env)
    per_call, endings = log_metric_samples(scratch, repeat)

    print()
    benchlib.print_info(machine_info(env))
    print()
    report(medians, samples, repeat)
    per_call_median = statistics.median(per_call)
    print(
        f"  {'log_metric':<{max(len(k) for k in medians)}}  {per_call_median:6.2f} µs/call "
        f"(min {min(per_call):.2f}, max {max(per_call):.2f}; {LOG_METRIC_CALLS:,} calls a "
        f"sample), target {TARGET_LOG_METRIC_US:.0f} µs   "
        f"{benchlib.verdict(per_call_median <= TARGET_LOG_METRIC_US)}"
    )
    print(
        f"    ending a run of {LOG_METRIC_CALLS:,} steps (parquet + note): "
        f"median {statistics.median(endings) * 1e3:.0f} ms"
    )
    print(mlflow_line(count))
    if profile:
        print_profile(repo, env, workdir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    saved = dict(os.environ)  # benchmark() isolates this process too; put it back after
    try:
        return benchlib.run_benchmark(
            "gitrack-listing-",
            args.keep,
            lambda workdir: benchmark(workdir, args.runs, args.repeat, args.profile),
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)


if __name__ == "__main__":
    sys.exit(main())
