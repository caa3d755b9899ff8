"""Compare-and-swap on refs: the one retry loop behind every ref gitrack moves.

git's own `git notes add` updates its ref with no old-value check, so two writers lose
one update. Here a writer reads the tip, builds on it, and moves the ref only if it is
still that tip; a lost race (or a lock another writer holds) backs off and rebuilds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from gitrack.errors import ConcurrentUpdateError

CAS_ATTEMPTS = 200
T = TypeVar("T")


def retrying(refname: str, attempt: Callable[[], T | None]) -> T:
    """Call ``attempt`` until it returns a value (None: lost the race), backing off.

    Jittered exponential back-off, capped at 50 ms: parallel runs finishing together
    spread out instead of colliding again in lock-step.
    """
    delay = 0.001
    for _ in range(CAS_ATTEMPTS):
        result = attempt()
        if result is not None:
            return result
        time.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 1.5, 0.05)
    raise ConcurrentUpdateError(refname)
