"""A headless Chromium driven through the DevTools protocol over a pipe, for the report's
browser tests: click, tick, read the page back. No websocket, no extra package.

With ``--remote-debugging-pipe`` Chromium reads protocol messages (JSON, each ended by a
NUL byte) on its file descriptor 3 and writes replies and events on descriptor 4.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


class Page:
    def __init__(self, browser: str, flags: Sequence[str], url: str, profile: Path) -> None:
        child_in, ours_out = os.pipe()  # we write, Chromium reads (its fd 3)
        ours_in, child_out = os.pipe()  # Chromium writes (its fd 4), we read
        # Above 4, so that setting up fds 3 and 4 in the child cannot clobber one of them.
        child_in, child_out = (_above(fd, 10) for fd in (child_in, child_out))

        def wire_up() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        argv = [browser, *flags, "--remote-debugging-pipe", f"--user-data-dir={profile}", url]
        self.process = subprocess.Popen(
            argv,
            preexec_fn=wire_up,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(child_in)
        os.close(child_out)
        self._out = os.fdopen(ours_out, "wb", buffering=0)
        self._in = os.fdopen(ours_in, "rb", buffering=0)
        self._pending = b""
        self._last_id = 0
        self.session = ""
        try:
            self.session = self._attach()
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise

    def _attach(self) -> str:
        """The session of the tab showing the URL (it may take a moment to appear)."""
        deadline = time.monotonic() + 30
        while True:
            targets = self.call("Target.getTargets")["targetInfos"]
            pages = [t for t in targets if t["type"] == "page"]
            if pages:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium opened no page")
            time.sleep(0.05)
        attached = self.call("Target.attachToTarget", targetId=pages[0]["targetId"], flatten=True)
        return str(attached["sessionId"])

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        self._out.write(json.dumps(message).encode() + b"\0")
        while True:  # events arrive too: skip to our reply
            reply = self._read()
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._pending:
            chunk = self._in.read(1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._pending += chunk
        raw, self._pending = self._pending.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serializable)."""
        done = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in done:
            raise RuntimeError(f"{expression}: {done['exceptionDetails']}")
        return done["result"].get("value")

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.evaluate("document.body && document.body.dataset.ready") != "1":
            if time.monotonic() > deadline:
                raise TimeoutError("the report's script did not finish")
            time.sleep(0.05)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.session = ""
            self.call("Browser.close")
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._out.close()
        self._in.close()


def _above(fd: int, floor: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, floor)
    os.close(fd)
    return moved


@contextlib.contextmanager
def open_page(browser: str, flags: Sequence[str], url: str, profile: Path) -> Iterator[Page]:
    page = Page(browser, flags, url, profile)
    try:
        page.wait_ready()
        yield page
    finally:
        page.close()
