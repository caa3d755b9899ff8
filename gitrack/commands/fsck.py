"""`gitrack fsck`: check (and with --repair, safely fix) gitrack's own state."""

from __future__ import annotations

from gitrack.commands.context import Context
from gitrack.tracking import fsck
from gitrack.tracking.fsck import FsckReport


def check_state(
    ctx: Context, verify_data: bool = False, check_remote: bool = False, repair: bool = False
) -> FsckReport:
    return fsck.check(
        ctx.repo,
        ctx.store,
        ctx.settings.remote,
        verify_data=verify_data,
        check_remote=check_remote,
        repair=repair,
    )
