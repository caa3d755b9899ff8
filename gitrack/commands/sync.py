"""`gitrack pull` / `gitrack push`: runs through the git remote, data through the cache."""

from __future__ import annotations

from gitrack.commands.context import Context
from gitrack.tracking import sync
from gitrack.tracking.sync import SyncReport


def pull(ctx: Context, remote: str | None = None, with_data: bool = False) -> SyncReport:
    return sync.pull(ctx, remote, with_data)


def push(
    ctx: Context, remote: str | None = None, with_data: bool = True, recheck: bool = False
) -> SyncReport:
    return sync.push(ctx, remote, with_data, recheck)
