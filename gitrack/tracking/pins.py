"""refs/gitrack/pins after a `git gc --prune=now` raced a run: rebuilt from the runs.

The pins ref keeps every run's snapshot, packages list and step metrics reachable. A prune
running between the creation of a pin commit and the move of the ref can leave the ref
pointing at a commit that is gone: nothing is pinned any more, and the next prune would
take every run's snapshot. The notes still name them all, so a new chain of pin commits,
one per run whose snapshot is still here, keeps them again.
"""

from __future__ import annotations

from gitrack.git import PINS_REF, Repo
from gitrack.tracking.record import RunRecord
from gitrack.tracking.steps import FILE_NAME as STEPS_FILE

PACKAGES_FILE = "packages.txt"


def repair(repo: Repo) -> str | None:
    """Rebuild the pins when their ref points at a missing commit; a warning saying so,
    or None when there was nothing to repair."""
    broken = repo.refs.missing_target(PINS_REF)
    if broken is None:
        return None
    from gitrack.tracking import history  # every run checks the pins: load runs only to repair

    tip = repo.create_commit(repo.tree_from_blobs({}), [], "gitrack: pins rebuilt\n")
    kept = 0
    oldest_first = sorted(history.load_runs(repo).runs, key=lambda run: (run.started, run.id))
    for run in oldest_first:
        if repo.object_kind(run.snapshot) != "commit":
            continue  # lost too (or never fetched): nothing left to keep
        tree = repo.tree_from_blobs(pinned_files(repo, run.record))
        tip = repo.create_commit(tree, [tip, run.snapshot], f"gitrack: pin run {run.id}\n")
        kept += 1
    if not repo.refs.replace_missing(PINS_REF, broken, tip, "gitrack: rebuild pins"):
        return None  # another gitrack repaired it meanwhile
    return (
        f"{PINS_REF} pointed at {broken[:12]}, which is missing (a `git gc --prune=now` "
        f"raced a run?); rebuilt it from the {kept} run(s) whose snapshot is still here"
    )


def pinned_files(repo: Repo, record: RunRecord) -> dict[str, str]:
    """The blobs a run's pin commits kept beside its snapshot: packages and step metrics."""
    wanted = {PACKAGES_FILE: record.env.get("packages"), STEPS_FILE: record.metric_history}
    return {
        name: blob
        for name, blob in wanted.items()
        if blob is not None and repo.object_kind(blob) == "blob"
    }
