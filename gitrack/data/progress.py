"""A progress bar on stderr, only on a terminal and only for work over about a second."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

DELAY_S = 1.0
REDRAW_S = 0.1


class Progress:
    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = _is_terminal(self._stream)
        self._start = time.monotonic()
        self._last = 0.0
        self._shown = False
        self._lock = threading.Lock()

    def grow(self, amount: int) -> None:
        """More work found (a folder is hashed a slice at a time: its total grows)."""
        with self._lock:
            self.total += amount

    def advance(self, amount: int) -> None:
        with self._lock:
            self.done += amount
            if not self._enabled:
                return
            now = time.monotonic()
            if now - self._start < DELAY_S or now - self._last < REDRAW_S:
                return
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        fraction = min(self.done / max(self.total, 1), 1.0)
        width = 30
        filled = int(fraction * width)
        rate = self.done / max(now - self._start, 1e-9) / 2**20
        bar = "#" * filled + "-" * (width - filled)
        self._stream.write(f"\r{self.label} [{bar}] {fraction:6.1%} {rate:8.1f} MiB/s")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        with self._lock:
            if self._shown:
                self._draw(time.monotonic())
                self._stream.write("\n")
                self._stream.flush()
                self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
