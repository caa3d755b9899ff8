"""Regression (issue 17): a process that touched step metrics must exit cleanly, every time.

Reading the parquet blob with pyarrow's defaults left Arrow's thread pools alive, and
the process then aborted at interpreter exit now and then (SIGABRT, "terminate called
without an active exception"), after its work was done. The race is at exit, so only
many fresh processes show it: each one here records step metrics and reads them back,
or reads them through ``Run.metric_history`` or ``gitrack show --metric``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from api_helpers import API_ENV, api_run, python, reset_api, write_script
from conftest import gitrack_proc

PROCESSES = 90  # a third each way; the old code had 2 to 9 of 60 abort, and 3 of 90
PARALLEL = 4  # in batches: enough to be quick, few enough for a 2-core machine
LOSS = [1.0 / (step + 1) for step in range(50)]

READ = """
    import sys
    import gitrack

    history = gitrack.get_run(sys.argv[1]).metric_history("loss")
    assert len(history) == int(sys.argv[2]), history
"""

RECORD_AND_READ = """
    import gitrack

    with gitrack.start_run() as run:
        for step in range(20):
            run.log_metric("loss", 1.0 / (step + 1))
    assert len(gitrack.get_run(run.id).metric_history("loss")) == 20
"""


@pytest.fixture(autouse=True)
def clean_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Never attached to a `gitrack run` the suite itself runs under."""
    for name in API_ENV:
        monkeypatch.delenv(name, raising=False)
    reset_api()
    yield
    reset_api()


def test_processes_reading_or_recording_step_metrics_always_exit_zero(
    repo: Path, tmp_path: Path
) -> None:
    run_id = api_run(repo, steps={"loss": LOSS})
    # outside the repository: the scripts do not make the recorded runs dirty
    scripts = tmp_path / "scripts"
    read = write_script(scripts, "read.py", READ)
    record = write_script(scripts, "record.py", RECORD_AND_READ)

    def one(index: int) -> tuple[str, int, str]:
        kind = ("api", "cli", "record")[index % 3]
        if kind == "api":
            proc = python(read, repo, run_id, str(len(LOSS)))
            return kind, proc.returncode, proc.stderr
        if kind == "cli":
            res = gitrack_proc("show", run_id, "--metric", "loss", cwd=repo)
            if res.code == 0 and len(res.out.splitlines()) != len(LOSS) + 1:
                return kind, -1000, f"expected a header and {len(LOSS)} rows:\n{res.out}"
            return kind, res.code, res.err
        proc = python(record, repo)
        return kind, proc.returncode, proc.stderr

    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(one, range(PROCESSES)))

    failed = [(i, kind, code, err) for i, (kind, code, err) in enumerate(results) if code != 0]
    report = "\n".join(
        f"process {i} ({kind}): exit {code}\n{err.strip()[-400:]}" for i, kind, code, err in failed
    )
    assert not failed, f"{len(failed)} of {PROCESSES} processes failed:\n{report}"


def test_decoding_step_metrics_starts_no_thread() -> None:
    """The mechanism, checked directly: reading a blob leaves no native thread behind."""
    code = """
import os
from gitrack.tracking import steps

data = steps.encode([("loss", i, 1.0 / (i + 1), 0.0) for i in range(1000)])
import pyarrow.parquet  # its import starts threads of its own: count after it

before = len(os.listdir("/proc/self/task"))
assert len(steps.decode(data)) == 1000
print(before, len(os.listdir("/proc/self/task")))
"""
    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs /proc (Linux) to count the process's threads")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    before, after = out.split()
    assert after == before
