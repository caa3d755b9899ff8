"""How fast is `gitrack report` on 1,000 runs with 100-step histories, how big is the page,
and how fast does Chromium open it?

Targets (issue 13): the page is written in at most 3 s, weighs at most 15 MB, and opens
in Chromium in at most 3 s.

The repository is built as in benchmarks/listing.py (``git fast-import``, isolated from
the host's git config): one real run first (its snapshot, environment and step blob are
real), N commits on ``main``, one run note per commit written by gitrack's own
``RunRecord.to_line``. Here each run also gets its own step-metrics blob (``loss`` and
``acc`` over 100 steps, encoded by gitrack's ``steps.encode``), and every third run is
dirty (its code change is the first run's snapshot).

Measured, median of ``--repeat`` (default 3), round-robin:

* ``git log --notes=gitrack --format=%H%n%N``   the baseline: the raw walk of the notes;
* ``gitrack report -o page.html``               whole process: the page written;
* Chromium opening ``about:blank``              headless, a new profile: the browser's own
  start-up and exit, the floor of any page;
* Chromium opening the page                     the same, until its scripts ran (``--dump-dom``);
  the page's own figures are printed too: its script's time (parse the data, build and
  draw: ``data-render-ms``) and when it was painted, counted from the start of the
  navigation (``data-painted-at-ms``, two animation frames after the drawing).

It is a benchmark, not a test: it always exits 0 and reports whether each target is met.

    python benchmarks/report.py [--runs 1000] [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import benchlib
import listing
from benchlib import git

TARGET_WRITE_S = 3.0
TARGET_SIZE_MB = 15.0
TARGET_OPEN_S = 3.0
STEPS = 100
RAW = "git log --notes=gitrack --format=%H%n%N"
REPORT = "gitrack report -o page.html"
BLANK = "chromium about:blank"
OPEN = "chromium page.html (--dump-dom)"
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


# ------------------------------------------------------------------- repository
def step_blobs(repo: Path, env: dict[str, str], count: int, seed: int = 11) -> list[str]:
    """``count`` step-metric blobs (loss and acc over STEPS steps), each its own curve."""
    from gitrack.tracking import steps

    rng = random.Random(seed)
    chunks = []
    for number in range(1, count + 1):
        rate, start = rng.uniform(0.01, 0.08), rng.uniform(1.5, 3.0)
        logged: list[steps.Step] = []
        for step in range(STEPS):
            moment = 1_700_000_000.0 + number * 60 + step
            loss = start * math.exp(-rate * step) + rng.uniform(0, 0.05)
            logged.append(("loss", step, loss, moment))
            logged.append(("acc", step, 1 - loss / (start + 0.1), moment))
        data = steps.encode(logged)
        chunks.append(f"blob\nmark :{number}\ndata {len(data)}\n".encode() + data + b"\n")
    marks = repo.parent / "blob-marks"
    stream = b"".join(chunks) + b"done\n"
    git(repo, env, "fast-import", "--quiet", "--done", f"--export-marks={marks}", stdin=stream)
    by_mark = dict(line.split() for line in marks.read_text().splitlines())
    return [by_mark[f":{number}"] for number in range(1, count + 1)]


def with_histories(lines: list[str], blobs: list[str]) -> list[str]:
    from gitrack.tracking.record import RunRecord

    out = []
    for line, blob in zip(lines, blobs, strict=True):
        record = RunRecord.from_line(line)
        record.metric_history = blob
        out.append(record.to_line())
    return out


# ---------------------------------------------------------------------- browser
def open_in_browser(browser: str, url: str, profile: Path) -> tuple[float, int | None, int | None]:
    """Wall time of a headless Chromium loading ``url`` until its scripts ran, then the
    page's own script time and painted time (ms) when it reports them."""
    shutil.rmtree(profile, ignore_errors=True)
    argv = [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-500:]}")
    if url != "about:blank" and 'data-ready="1"' not in done.stdout:
        raise RuntimeError("the page's script did not finish in Chromium")
    script = re.search(r'data-render-ms="(\d+)"', done.stdout)
    painted = re.search(r'data-painted-at-ms="(\d+)"', done.stdout)
    return (
        elapsed,
        int(script.group(1)) if script else None,
        int(painted.group(1)) if painted else None,
    )


# ------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000, help="runs (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="samples per probe (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the repository; print its path")
    args = parser.parse_args(argv)
    args.runs = max(args.runs, 1)
    args.repeat = max(args.repeat, 1)
    return args


def benchmark(workdir: Path, count: int, repeat: int) -> None:
    repo = workdir / "repo"
    env = benchlib.isolated_home(workdir / "home", drop=("GIT_", "GITRACK_"))
    os.environ.clear()
    os.environ.update(env)
    gitrack, _ = benchlib.gitrack_command()
    print(f"gitrack invoked as: {' '.join(gitrack)}")
    started = time.perf_counter()
    template = listing.first_run(repo, env, gitrack)
    commits = listing.fast_import_commits(repo, env, count, workdir / "marks")
    blobs = step_blobs(repo, env, count)
    lines = with_histories(listing.run_lines(template, commits), blobs)
    listing.fast_import_notes(repo, env, commits, lines)
    print(
        f"built {count} runs, each with its own {STEPS}-step history of 2 metrics, in "
        f"{time.perf_counter() - started:.1f} s ({repo})"
    )
    page = workdir / "page.html"
    commands = {
        RAW: ["git", "log", "--notes=gitrack", "--format=%H%n%N"],
        REPORT: [*gitrack, "report", "-o", str(page)],
    }
    probes: dict[str, Callable[[], float]] = {
        label: partial(benchlib.timed, argv, repo, env) for label, argv in commands.items()
    }
    browser = chromium()
    render_ms: list[int] = []
    painted_ms: list[int] = []
    if browser:

        def open_page() -> float:
            elapsed, script, painted = open_in_browser(browser, page.as_uri(), workdir / "p")
            if script is not None:
                render_ms.append(script)
            if painted is not None:
                painted_ms.append(painted)
            return elapsed

        probes[BLANK] = lambda: open_in_browser(browser, "about:blank", workdir / "p")[0]
        probes[OPEN] = open_page
    samples = benchlib.round_robin(probes, repeat)
    medians = {label: statistics.median(values) for label, values in samples.items()}
    size = page.stat().st_size
    data = json.loads(
        re.search(
            r'<script type="application/json" id="gitrack-data">(.*?)</script>',
            page.read_text(),
        ).group(1)  # type: ignore[union-attr]
    )
    runs_in_page = len(data["runs"])
    steps_in_page = sum(len(v[1]) for r in data["runs"] for v in r["steps"].values())
    page_ms = (render_ms, painted_ms)
    report(medians, samples, repeat, size, runs_in_page, steps_in_page, page_ms, browser)


def report(
    medians: dict[str, float],
    samples: dict[str, list[float]],
    repeat: int,
    size: int,
    runs_in_page: int,
    steps_in_page: int,
    page_ms: tuple[list[int], list[int]],
    browser: str | None,
) -> None:
    width = max(len(label) for label in medians)
    print(f"{'what':<{width}}  {'median':>9}  {'min':>9}  {'max':>9}   (ms, n={repeat})")
    for label, values in samples.items():
        print(
            f"{label:<{width}}  {medians[label] * 1e3:9.1f}  {min(values) * 1e3:9.1f}"
            f"  {max(values) * 1e3:9.1f}"
        )
    raw = medians[RAW]
    write = medians[REPORT]
    megabytes = size / 1e6
    print()
    print(f"page: {megabytes:.2f} MB, {runs_in_page} runs, {steps_in_page} step values")
    print(f"targets: written <= {TARGET_WRITE_S:.0f} s, <= {TARGET_SIZE_MB:.0f} MB, opens <= "
          f"{TARGET_OPEN_S:.0f} s")  # fmt: skip
    print(
        f"  written  {write:6.3f} s  ({write / raw:5.1f}x the raw git walk)   "
        f"{benchlib.verdict(write <= TARGET_WRITE_S)}"
    )
    print(f"  size     {megabytes:6.2f} MB   {benchlib.verdict(megabytes <= TARGET_SIZE_MB)}")
    if browser is None:
        print("  opens    skipped: no chromium on PATH (apt-get install chromium)")
        return
    opened, blank = medians[OPEN], medians[BLANK]
    script, painted = (statistics.median(v) if v else float("nan") for v in page_ms)
    print(
        f"  opens    {opened:6.3f} s  whole process: start, load, draw, dump the DOM, exit   "
        f"{benchlib.verdict(opened <= TARGET_OPEN_S)}"
    )
    print(f"           Chromium alone (about:blank): {blank:.3f} s; the page painted "
          f"{painted:.0f} ms after navigation start; its script: {script:.0f} ms")  # fmt: skip
    print(f"load average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())}, "
          f"{benchlib.usable_cpus()} CPUs")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    benchlib.print_info(listing_info())
    return benchlib.run_benchmark(
        "gitrack-bench-report-", args.keep, lambda path: benchmark(path, args.runs, args.repeat)
    )


def listing_info() -> list[tuple[str, str]]:
    browser = chromium()
    version = benchlib.first_line([browser, "--version"]) if browser else "not installed"
    return [
        ("cpu", f"{benchlib.cpu_model()}, nproc {benchlib.usable_cpus()}"),
        ("python", benchlib.python_version()),
        ("git", benchlib.git_version()),
        ("chromium", version),
    ]


if __name__ == "__main__":
    sys.exit(main())
