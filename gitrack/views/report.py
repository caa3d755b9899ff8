"""`gitrack report`: one self-contained HTML page to look at and compare runs.

The page is one file: the data as JSON inside ``<script type="application/json">``, the
code (``report_assets/report.js``: tables and SVG charts written for this page, no
library) and the styles inline. A Content-Security-Policy in the page forbids fetching
anything: it works offline, attached to a mail or a pull request.

Notes are untrusted input: every value from a note reaches the page only inside that JSON
(``<``, ``>``, ``&`` escaped, so no ``</script>`` can end it) and is put on screen by the
script with ``textContent`` / ``createTextNode``, never parsed as HTML.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from gitrack.tracking.history import Run
from gitrack.tracking.record import encode_number
from gitrack.views.render import command_text

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)
# Characters that could end or confuse the <script> element, or that JSON leaves raw but
# UTF-8 cannot hold (lone surrogates): written as \uXXXX, the JSON decodes the same.
_UNSAFE_IN_SCRIPT = re.compile("[<>&\u2028\u2029\ud800-\udfff]")

ATTRIBUTES = ("name", "id", "status", "started", "duration_s", "commit")
EAGER_SECTIONS = 300  # up to this many runs, every run's section is built with the page


@dataclass
class FileEntry:
    """A dataset or an output: its hash, size, and for a small image its bytes inline."""

    path: str
    hash: str
    size: int | None = None  # None: not in the local cache
    files: int | None = None  # for a folder: how many files it holds
    image: str | None = None  # a data: URI
    note: str = ""  # why an image is not shown (too big, not cached)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "hash": self.hash, "size": self.size}
        if self.files is not None:
            out["files"] = self.files
        if self.image:
            out["image"] = self.image
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class RunPage:
    """What the page shows of one run, beyond its note line."""

    run: Run
    steps: dict[str, tuple[list[int], list[float | str | None]]] = field(default_factory=dict)
    patch: str = ""
    patch_note: str = ""
    datasets: list[FileEntry] = field(default_factory=list)
    outputs: list[FileEntry] = field(default_factory=list)


def run_json(page: RunPage, patch_index: int) -> dict[str, Any]:
    rec = page.run.record
    return {
        "id": rec.id,
        "name": rec.name,
        "commit": page.run.commit,
        "base_commit": rec.base_commit,
        "snapshot": rec.snapshot,
        "status": rec.status,
        "exit_code": rec.exit_code,
        "signal": rec.signal,
        "started": rec.started,
        "duration_s": rec.duration_s,
        "cpu_s": rec.cpu_s,
        "max_rss_bytes": rec.max_rss_bytes,
        "dirty": rec.dirty,
        "user": rec.user,
        "host": rec.host,
        "command": command_text(rec.command),
        "cwd": rec.cwd,
        "params": rec.params,
        "metrics": {k: encode_number(v) for k, v in rec.metrics.items()},
        "tags": rec.tags,
        "env": rec.env,
        "datasets": [d.to_json() for d in page.datasets],
        "outputs": [o.to_json() for o in page.outputs],
        "steps": {k: [compact_steps(s), v] for k, (s, v) in page.steps.items()},
        "patch": patch_index,
        "patch_note": page.patch_note,
        "warnings": rec.warnings,
    }


def ordered_columns(runs: list[Run]) -> list[str]:
    """``params.*`` and ``metrics.*`` columns: those whose value varies between the runs
    first (what tells runs apart), then the constant ones; params before metrics."""
    values: dict[str, set[str]] = {}
    for run in runs:
        rec = run.record
        for group, items in (("params", rec.params), ("metrics", rec.metrics)):
            for key, value in items.items():
                values.setdefault(f"{group}.{key}", set()).add(repr(value))
    counts = {name: len(seen) for name, seen in values.items()}

    def rank(name: str) -> tuple[int, int, str]:
        constant = counts[name] <= 1 and len(runs) > 1
        return (int(constant), 0 if name.startswith("params.") else 1, name)

    return sorted(values, key=rank)


def page_html(pages: list[RunPage], meta: dict[str, Any]) -> str:
    """The whole page: data, code and styles in one string."""
    patches: list[str] = []
    patch_ids: dict[str, int] = {}
    runs = []
    for page in pages:
        index = -1
        if page.patch:
            index = patch_ids.setdefault(page.patch, len(patches))
            if index == len(patches):
                patches.append(page.patch)
        runs.append(run_json(page, index))
    data = {
        **meta,
        "columns": ordered_columns([p.run for p in pages]),
        "attributes": list(ATTRIBUTES),
        "eager_sections": EAGER_SECTIONS,
        "runs": runs,
        "patches": patches,
    }
    title = html.escape(str(meta.get("title", "gitrack report")))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{title}</title>\n"
        f"<style>{_asset('report.css', '</style')}</style>\n"
        "</head><body>\n"
        f'<script type="application/json" id="gitrack-data">{data_json(data)}</script>\n'
        f"<script>{_asset('report.js', '</script')}</script>\n"
        "<noscript>This report needs JavaScript to draw its tables and charts.</noscript>\n"
        "</body></html>\n"
    )


def data_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: no ``<``, ``>`` or ``&`` appear raw,
    so nothing in a note (a name holding ``</script>``) can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _UNSAFE_IN_SCRIPT.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def step_values(values: list[float]) -> list[float | str | None]:
    """Step values as JSON holds them, for charts: 7 significant digits (a chart shows
    three; the page stays small), NaN and infinities as the strings the notes use."""
    return [float(f"{v:.7g}") if math.isfinite(v) else encode_number(v) for v in values]


def compact_steps(steps: list[int]) -> list[int] | int:
    """Steps 0, 1, 2 … (or any run of consecutive steps) as its first step alone."""
    if (
        steps
        and steps[-1] - steps[0] == len(steps) - 1
        and steps == list(range(steps[0], steps[0] + len(steps)))
    ):
        return steps[0]
    return steps


def _asset(name: str, closing: str) -> str:
    text = (resources.files("gitrack.views") / "report_assets" / name).read_text("utf-8")
    if closing in text.lower():  # would end the element early: a bug in the asset
        raise AssertionError(f"report_assets/{name} contains {closing!r}")
    return text
