"""What gitrack's git hooks do. Called by hooks/hook.sh as ``python -m gitrack.hookrun NAME``.

Every hook here is advisory: whatever happens, it prints at most a line or two on
stderr and exits 0, so no git operation ever fails because of gitrack.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gitrack import config
from gitrack.git import GitCli, claim_process
from gitrack.git.refs import NOTES_REF
from gitrack.tracking.record import RunRecord, add_line, committed_line, merge_note_texts
from gitrack.views.terminal import printable

if TYPE_CHECKING:
    from gitrack.git import Repo


def main(argv: list[str]) -> int:
    if not argv:
        return 0
    name, args = argv[0], argv[1:]
    if name not in HOOKS:
        return 0
    action = HOOKS[name]
    claim_process()  # a hook: gitrack's own process
    try:
        if name == "post-commit":
            post_commit(GitCli(Path.cwd()), args)
        elif action is not None:
            from gitrack.git import Repo  # pygit2 and the rest: not for post-commit

            action(Repo.discover("."), args)
    except Exception as exc:  # a hook must never break git: one line, exit 0
        print(
            f"gitrack: {name} hook: {printable(str(exc))} (the git command itself is unaffected)",
            file=sys.stderr,
        )
    return 0


def post_commit(git: GitCli, _args: list[str]) -> None:
    """When the new commit is exactly a run's code, say so in the commit's note.

    Runs on the git binary alone (no pygit2): this is the hook on every commit.
    """
    found = git.commit_trees(["HEAD", "HEAD^"])
    head, parent = found.get("HEAD"), found.get("HEAD^")
    if head is None or parent is None or parent[1] == head[1]:
        return  # a root commit, or one that changes no code: it commits no run's edits
    records = []
    for line in git.note_text(NOTES_REF, parent[0]).split("\n"):
        try:
            records.append(RunRecord.from_line(line))
        except (ValueError, TypeError, OverflowError):
            continue
    snapshots = git.commit_trees([record.snapshot for record in records])  # one git call
    for record in records:
        snapshot = snapshots.get(record.snapshot)
        if snapshot is None or snapshot[1] != head[1]:
            continue
        mark = committed_line(record.id, record.snapshot)
        git.update_note(
            NOTES_REF, head[0], functools.partial(add_line, line=mark), "gitrack: committed run"
        )
        print(f"gitrack: this commit holds exactly the code of run {record.id}", file=sys.stderr)


def pre_push(repo: Repo, args: list[str]) -> None:
    """Publish runs (and their data) along with the branch, never blocking the push."""
    from gitrack.tracking import sync

    settings = config.load(repo.root)
    if not settings.push_runs or not args:
        return
    remote_refs = [
        line.split()[2] for line in sys.stdin.read().splitlines() if len(line.split()) == 4
    ]
    if remote_refs and all(ref.startswith(("refs/notes/", "refs/gitrack/")) for ref in remote_refs):
        return  # a push of gitrack's own refs
    from gitrack.commands.context import Context
    from gitrack.data.remote import bytes_only_process

    bytes_only_process()  # a hook's own process
    report = sync.push(Context(repo, settings), args[0])
    if report.pushed:
        data = f" and {report.objects} data object(s)" if report.objects else ""
        print(f"gitrack: published runs{data} to {args[0]}", file=sys.stderr)
    if report.local_only:
        print(f"gitrack: {report.local_only}", file=sys.stderr)


def post_checkout(repo: Repo, _args: list[str]) -> None:
    """One line when the datasets differ from the newest run here; restore if configured."""
    if repo.in_rebase() or "rebase" in os.environ.get("GIT_REFLOG_ACTION", ""):
        return  # silent while a rebase replays commits
    if repo.is_unborn():
        return  # `git checkout --orphan`: no commit, no runs
    from gitrack.commands.context import Context
    from gitrack.commands.status import data_status, restore_datasets

    ctx = Context(repo, config.load(repo.root))
    report = data_status(ctx)
    if report.run is None:
        return
    recorded = report.run.record.datasets
    missing = [path for state, path in report.rows if state == "missing" and path in recorded]
    changed = [path for state, path in report.rows if state == "changed"]
    differing = missing + changed
    if not differing:
        return
    if not ctx.settings.restore_data:
        parts = [f"missing ({_few(missing)})"] if missing else []
        parts += [f"differ ({_few(changed)})"] if changed else []
        print(
            f"gitrack: datasets of run {report.run.id[:8]} on this commit: "
            f"{'; '.join(parts)}; restore just the data with gitrack restore-data",
            file=sys.stderr,
        )
        return
    restored = restore_datasets(ctx, report.run, differing)
    print(f"gitrack: restored {restored} dataset(s) of run {report.run.id[:8]}", file=sys.stderr)


def _few(paths: list[str]) -> str:
    return printable(", ".join(paths[:3]) + (" …" if len(paths) > 3 else ""))


def post_rewrite(repo: Repo, _args: list[str]) -> None:
    """Carry runs to rewritten commits when notes.rewriteRef did not (config off)."""
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        old, new = parts[0], parts[1]
        text = repo.notes.text(NOTES_REF, old)
        if text.strip():
            repo.notes.update(
                NOTES_REF,
                new,
                functools.partial(merge_note_texts, theirs=text),
                "gitrack: carry runs over a rewrite\n",
            )
    from gitrack.tracking import display

    display.refresh(repo)


def reference_transaction(repo: Repo, args: list[str]) -> None:
    """After `git fetch` (or `git pull`) brought the remote's runs into the tracking refs
    that install's fetch refspecs name: merge them into ours, both sides kept."""
    from gitrack.tracking import sync

    if args[:1] != ["committed"]:
        return
    updated = []
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        fetched = len(parts) == 3 and parts[2].startswith(sync.TRACKING_PREFIX + "/")
        if fetched and parts[1].strip("0"):  # not a deletion (e.g. `fetch --prune`)
            updated.append(parts[2])
    merged = [ref for ref in dict.fromkeys(updated) if sync.merge_tracking(repo, ref)]
    if any(ref.endswith("/notes") for ref in merged):
        print("gitrack: merged the runs fetched from the remote", file=sys.stderr)


HOOKS: dict[str, Callable[[Repo, list[str]], None] | None] = {
    "post-commit": None,  # special-cased in main: the git binary alone, for speed
    "pre-push": pre_push,
    "post-checkout": post_checkout,
    "post-merge": post_checkout,
    "post-rewrite": post_rewrite,
    "reference-transaction": reference_transaction,
}
