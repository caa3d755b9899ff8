"""gitrack side by side with the tools a team would pick instead, same tasks, same run.

Each task is timed for gitrack and, when installed (``pip install -e '.[bench]'``), for
DVC (``dvc`` on PATH) and MLflow (importable), plus a floor (what the bytes alone cost);
the medians of ``--repeat`` rounds are printed with each tool's ratio to gitrack's:

* version a new file (``--size-mib``, default 256) and a new folder (``--files`` x 10 KiB):
  ``gitrack run -d`` / ``dvc add``; floor ``cp`` / ``cp -r``;
* re-check them unchanged: ``gitrack status`` / ``dvc status``; floor ``find``;
* restore the folder after it was moved away (``mv``, never a mass delete: creating
  files right after deleting many is slower on ext4): ``gitrack checkout RUN`` /
  ``dvc checkout``; floor ``cp -r``;
* record an empty run: ``gitrack run -- true`` / ``mlflow.start_run()`` in a fresh
  process; floor ``python -c pass``;
* log 10,000 metric values in one process: gitrack's API / ``mlflow.log_metric``;
* list ``--runs`` runs (default 10,000): ``gitrack ls --json`` / ``mlflow.search_runs``
  (the runs are built as benchmarks/listing.py builds them; MLflow's by its API, only
  when installed, and only up to 1,000 runs unless ``--mlflow-runs`` says more).

A benchmark, not a test: it always exits 0. Tools that are not installed are reported
as such, and their rows left out.

    python benchmarks/peers.py [--files 10000] [--size-mib 256] [--runs 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import benchlib
from benchlib import git, timed

FILE_BYTES = 10 * 1024  # as benchmarks/scale.py
LOG_STEPS = 10_000
LOG_SCRIPT = (
    "import gitrack\n"
    "with gitrack.start_run() as run:\n"
    f"    for i in range({LOG_STEPS}): run.log_metric('loss', 1.0 / (i + 1), step=i)\n"
)
MLFLOW_LOG = (
    "import mlflow\n"
    "with mlflow.start_run():\n"
    f"    for i in range({LOG_STEPS}): mlflow.log_metric('loss', 1.0 / (i + 1), step=i)\n"
)


def have_dvc() -> bool:
    return shutil.which("dvc") is not None


def have_mlflow() -> bool:
    return importlib.util.find_spec("mlflow") is not None


class Rounds:
    def __init__(self) -> None:
        self.samples: dict[str, dict[str, list[float]]] = {}

    def add(self, task: str, tool: str, seconds: float) -> None:
        self.samples.setdefault(task, {}).setdefault(tool, []).append(seconds)

    def report(self) -> None:
        for task, tools in self.samples.items():
            medians = {tool: statistics.median(values) for tool, values in tools.items()}
            base = medians.get("gitrack")
            print(f"\n{task}")
            for tool, median in medians.items():
                ratio = f"{median / base:6.2f}x gitrack" if base else ""
                print(f"  {tool:<10} {median * 1e3:10.1f} ms   {ratio}")


def data_tasks(
    work: Path, env: dict[str, str], gitrack: list[str], args: argparse.Namespace
) -> Rounds:
    rounds = Rounds()
    for number in range(args.repeat):
        repo = work / f"data-{number}"
        benchlib.new_repo(repo, env, {"train.py": "x\n", ".gitignore": "/big.bin\n/data/\n"})
        folder, big = repo / "data", repo / "big.bin"
        benchlib.write_folder(folder, args.files, number, FILE_BYTES)
        big.write_bytes(os.urandom(1024 * 1024) * args.size_mib)
        rounds.add(
            "version a new file",
            "cp",
            timed(["cp", "big.bin", str(work / f"copy-{number}.bin")], repo, env),
        )
        rounds.add(
            "version a new file",
            "gitrack",
            timed([*gitrack, "run", "-d", "big.bin", "--", "true"], repo, env),
        )
        rounds.add(
            "version a new folder",
            "cp -r",
            timed(["cp", "-r", "data", str(work / f"copy-{number}")], repo, env),
        )
        rounds.add(
            "version a new folder",
            "gitrack",
            timed([*gitrack, "run", "-d", "data", "--", "true"], repo, env),
        )
        run_id = json.loads(
            git(repo, env, "notes", "--ref=gitrack", "show", "HEAD").split("\n")[-2]
        )["id"]
        rounds.add("re-check unchanged", "find", timed(["find", "data", "big.bin"], repo, env))
        rounds.add("re-check unchanged", "gitrack", timed([*gitrack, "status"], repo, env))
        if have_dvc():
            dvc_repo = work / f"dvc-{number}"
            benchlib.new_repo(dvc_repo, env, {"train.py": "x\n"})
            timed(["dvc", "init", "-q"], dvc_repo, env)
            benchlib.write_folder(dvc_repo / "data", args.files, number + 1000, FILE_BYTES)
            (dvc_repo / "big.bin").write_bytes(os.urandom(1024 * 1024) * args.size_mib)
            rounds.add(
                "version a new file", "dvc", timed(["dvc", "add", "-q", "big.bin"], dvc_repo, env)
            )
            rounds.add(
                "version a new folder", "dvc", timed(["dvc", "add", "-q", "data"], dvc_repo, env)
            )
            rounds.add("re-check unchanged", "dvc", timed(["dvc", "status", "-q"], dvc_repo, env))
            os.rename(dvc_repo / "data", work / f"dvc-moved-{number}")
            rounds.add("restore a folder", "dvc", timed(["dvc", "checkout", "-q"], dvc_repo, env))
        os.rename(folder, work / f"moved-{number}")
        rounds.add(
            "restore a folder",
            "cp -r",
            timed(
                ["cp", "-r", str(work / f"moved-{number}"), str(work / f"copy2-{number}")],
                repo,
                env,
            ),
        )
        rounds.add("restore a folder", "gitrack", timed([*gitrack, "checkout", run_id], repo, env))
    return rounds


def run_tasks(
    work: Path, env: dict[str, str], gitrack: list[str], rounds: Rounds, repeat: int
) -> None:
    repo = work / "runs"
    benchlib.new_repo(repo, env, {"train.py": "x\n"})
    probes: dict[str, Callable[[], float]] = {
        "python -c pass": lambda: timed([sys.executable, "-c", "pass"], repo, env),
        "gitrack": lambda: timed([*gitrack, "run", "--", "true"], repo, env),
        "gitrack log": lambda: timed(
            [*gitrack, "run", "--", sys.executable, "-c", LOG_SCRIPT], repo, env
        ),
    }
    if have_mlflow():
        store = f"file://{work / 'mlruns'}"
        mlenv = {**env, "MLFLOW_TRACKING_URI": store, "MLFLOW_ALLOW_FILE_STORE": "true"}
        probes["mlflow"] = lambda: timed(
            [sys.executable, "-c", "import mlflow\nwith mlflow.start_run(): pass"], repo, mlenv
        )
        probes["mlflow log"] = lambda: timed([sys.executable, "-c", MLFLOW_LOG], repo, mlenv)
    samples = benchlib.round_robin(probes, repeat)
    for tool in ("python -c pass", "gitrack", "mlflow"):
        for value in samples.get(tool, []):
            rounds.add("record an empty run", tool, value)
    for tool in ("gitrack", "mlflow"):
        for value in samples.get(f"{tool} log", []):
            rounds.add(f"log {LOG_STEPS:,} metric values (whole process)", tool, value)


def list_task(
    work: Path, env: dict[str, str], gitrack: list[str], rounds: Rounds, count: int, repeat: int
) -> None:
    import listing

    repo = work / "listing"
    template = listing.first_run(repo, env, gitrack)
    commits = listing.fast_import_commits(repo, env, count, work / "marks")
    listing.fast_import_notes(repo, env, commits, listing.run_lines(template, commits))
    task = f"list {count:,} runs"
    probes: dict[str, Callable[[], float]] = {
        "git log": lambda: timed(
            ["git", "log", "--all", "--notes=gitrack", "--format=%H%n%N"], repo, env
        ),
        "gitrack": lambda: timed([*gitrack, "ls", "--json"], repo, env),
    }
    for tool, values in benchlib.round_robin(probes, repeat).items():
        for value in values:
            rounds.add(task, tool, value)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000, help="files in the folder")
    parser.add_argument("--size-mib", type=int, default=256, help="size of the single file")
    parser.add_argument("--runs", type=int, default=10_000, help="runs to list")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    return parser.parse_args(argv)


def benchmark(work: Path, args: argparse.Namespace) -> None:
    env = benchlib.isolated_home(work / "home", drop=("GIT_", "GITRACK_"))
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    os.environ.clear()
    os.environ.update(env)
    gitrack, how = benchlib.gitrack_command()
    print(f"gitrack invoked as: {how}")
    print(
        f"dvc: {'installed' if have_dvc() else 'not installed'}; "
        f"mlflow: {'installed' if have_mlflow() else 'not installed'} (pip install -e '.[bench]')"
    )
    benchlib.print_info([*benchlib.machine_info(), ("cpu", benchlib.cpu_model())])
    rounds = data_tasks(work, env, gitrack, args)
    run_tasks(work, env, gitrack, rounds, args.repeat)
    list_task(work, env, gitrack, rounds, args.runs, args.repeat)
    rounds.report()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    saved = dict(os.environ)
    try:
        return benchlib.run_benchmark("gitrack-peers-", args.keep, lambda w: benchmark(w, args))
    finally:
        os.environ.clear()
        os.environ.update(saved)


if __name__ == "__main__":
    sys.exit(main())
