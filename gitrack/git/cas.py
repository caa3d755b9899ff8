"""Compare-and-swap on refs: the one retry loop behind every ref gitrack moves.

git's own `git notes add` updates its ref with no old-value check, so two writers lose
one update. Here a writer reads the tip, builds on it, and moves the ref only if it is
still that tip; a lost race, a lock another writer holds, or a file `git gc` moved
under its feet (see :mod:`gitrack.git.transient`) backs off and rebuilds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

CAS_ATTEMPTS = 200
T = TypeVar("T")

# What the OS or git says when retrying cannot help: raised at once, never retried.
_LASTING = (
    "permission denied",
    "insufficient permission",
    "read-only file system",
    "no space left on device",
    "disk quota exceeded",
    "not a git repository",
    "not found on path",  # the git binary itself
)


class TryAgain(Exception):
    """This attempt failed for a reason that passes (the ref moved, a lock is held, `git gc`
    moved a file): back off and try again. The message says what happened."""


def is_lasting(message: str) -> bool:
    """Does this failure stay whatever we wait for (permissions, a full disk)?"""
    lowered = message.lower()
    return any(words in lowered for words in _LASTING)


def retrying(
    attempt: Callable[[], T],
    give_up: Callable[[str], Exception],
    attempts: int = CAS_ATTEMPTS,
    first_delay: float = 0.001,
    max_delay: float = 0.05,
) -> T:
    """Call ``attempt`` until it returns instead of raising TryAgain, backing off; after
    ``attempts`` tries raise ``give_up(last reason)``.

    Jittered exponential back-off, capped at 50 ms: parallel runs finishing together
    spread out instead of colliding again in lock-step.
    """
    delay = first_delay
    reason = "no attempt made"
    for _ in range(attempts):
        try:
            return attempt()
        except TryAgain as exc:
            reason = str(exc)
        time.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 1.5, max_delay)
    raise give_up(reason)
