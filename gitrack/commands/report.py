"""`gitrack report`: the runs of this repository as one self-contained HTML page.

Gathers what the page shows beyond the note lines: step metrics (the parquet blobs),
the code each dirty run ran with (the `show --patch` diff), datasets' and outputs' sizes
from the cache, and small image outputs (PNG, JPEG, GIF, SVG) inline, read verified.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gitrack.commands.context import Context
from gitrack.data import hashing
from gitrack.data.layout import cache_root
from gitrack.data.manifest import Manifest
from gitrack.data.odb import Cache, CacheError
from gitrack.errors import GitrackError
from gitrack.paths import user_output
from gitrack.tracking import history
from gitrack.tracking.record import utc_timestamp
from gitrack.views import report

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
MAX_IMAGE_BYTES = 2 * 2**20  # one image shown inline; bigger ones are listed with their size
MAX_IMAGES_BYTES = 12 * 2**20  # all images of the page together
MAX_IMAGES_PER_RUN = 24
MAX_PATCH_CHARS = 200_000  # one run's diff; `gitrack show ID --patch` prints it whole
MAX_PATCHES_CHARS = 8_000_000  # all different diffs of the page together
MAX_STEP_POINTS = 500  # per metric and run (a chart is 460 px wide): longer ones thinned evenly
STEP_POINTS_BUDGET = 3_000_000  # all runs together; past it, each metric keeps 50 points
FEW_STEP_POINTS = 50
DEFAULT_OUTPUT = "gitrack-report.html"


@dataclass
class Written:
    path: Path
    runs: int
    size: int
    warnings: list[str] = field(default_factory=list)


def write_report(
    ctx: Context, refs: list[str], where: str | None, output: Path | None = None
) -> Written:
    """Write the page for the runs named by ``refs`` (all runs if none), those matching
    ``where`` if given; return where it went."""
    from gitrack.views import table

    loaded = ctx.load_runs()
    chosen = _chosen(loaded, refs)
    if where:
        chosen = table.select(chosen, where, None)
    if not chosen:
        raise GitrackError(
            f"no run matches --where {where!r}; try `gitrack ls --where ...` first"
            if where
            else "no runs to report yet: record one with `gitrack run -- COMMAND`"
        )
    collector = _Collector(ctx)
    pages = [collector.page(run) for run in chosen]
    meta = {
        "title": f"gitrack report: {ctx.repo.root.name}",
        "repository": ctx.repo.root.name,
        "generated": utc_timestamp(),
        "where": where or "",
        "total": len(loaded.runs),
    }
    text = report.page_html(pages, meta)
    path = output or Path(DEFAULT_OUTPUT)
    data = text.encode("utf-8")
    with user_output(path) as temp:  # a failed write never leaves half a page there
        temp.write_bytes(data)
    size = len(data)
    return Written(path, len(chosen), size, [*loaded.warnings, *collector.warnings])


def _chosen(loaded: history.Runs, refs: list[str]) -> list[history.Run]:
    if not refs:
        return list(loaded.runs)
    seen: dict[str, history.Run] = {}
    for ref in refs:
        run = history.resolve(loaded, ref)
        seen.setdefault(run.id, run)
    return list(seen.values())


def steps_by_key(data: bytes) -> dict[str, tuple[list[int], list[float]]]:
    """A step-metrics blob (see tracking/steps.py) as steps and values per metric.

    Column by column, not row by row as ``steps.decode``: a report reads a blob per run
    and this is about twice as fast. No Arrow threads (no compute functions either), for
    the reason steps.decode gives.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetFile(pa.BufferReader(data)) as parquet:
        table = parquet.read(columns=["key", "step", "value"], use_threads=False)
    expected = {"key": (pa.string(), pa.large_string()), "step": (pa.int64(),)}
    for name, types in {**expected, "value": (pa.float64(),)}.items():
        if table.schema.field(name).type not in types:
            raise ValueError(f"column {name} is {table.schema.field(name).type}")
    keys, steps, values = (table.column(n).to_pylist() for n in ("key", "step", "value"))
    out: dict[str, tuple[list[int], list[float]]] = {}
    for key, step, value in zip(keys, steps, values, strict=True):
        if key is None or step is None or value is None:
            continue
        xs, ys = out.get(key) or out.setdefault(key, ([], []))
        xs.append(step)
        ys.append(value)
    return out


class _Collector:
    """Reads what the pages need, each thing once (patches and step blobs are shared)."""

    def __init__(self, ctx: Context) -> None:
        self.repo = ctx.repo
        self.cache = Cache(cache_root(ctx.repo.common_dir, ctx.settings.cache, ctx.repo.root))
        self.warnings: list[str] = []
        self.image_budget = MAX_IMAGES_BYTES
        self.patch_budget = MAX_PATCHES_CHARS
        self.step_budget = STEP_POINTS_BUDGET
        self._patches: dict[tuple[str, str], str | None] = {}  # None: over the budget

    def page(self, run: history.Run) -> report.RunPage:
        rec = run.record
        page = report.RunPage(run)
        page.steps = self._steps(run)
        page.patch, page.patch_note = self._patch(run)
        page.datasets = [self._entry(p, h, images=False)[0] for p, h in rec.datasets.items()]
        shown = [0]
        for path, digest in rec.outputs.items():
            page.outputs.extend(self._entry(path, digest, images=True, shown=shown))
        return page

    # ------------------------------------------------------------- step metrics
    def _steps(self, run: history.Run) -> dict[str, tuple[list[int], list[float | str | None]]]:
        blob = run.record.metric_history
        if blob is None:
            return {}
        try:
            by_key = steps_by_key(self.repo.read_blob(blob))
        except Exception as exc:  # named by a note: untrusted, and maybe not fetched
            self.warnings.append(f"run {run.id}: step metrics not shown ({exc})")
            return {}
        out = {}
        for key, (xs, ys) in by_key.items():
            most = MAX_STEP_POINTS if self.step_budget > 0 else FEW_STEP_POINTS
            stride = -(-len(xs) // most)
            if stride > 1:  # every stride-th point, and the last one
                tail = slice(len(xs) - 1, None) if (len(xs) - 1) % stride else slice(0, 0)
                xs, ys = xs[::stride] + xs[tail], ys[::stride] + ys[tail]
            if self.step_budget > 0 >= self.step_budget - len(xs):
                self.warnings.append(
                    f"the page holds {STEP_POINTS_BUDGET:,} step values in full: after run "
                    f"{run.id}, each metric's history is drawn with {FEW_STEP_POINTS} points"
                )
            self.step_budget -= len(xs)
            out[key] = (xs, report.step_values(ys))
        return out

    # --------------------------------------------------------------- code diff
    def _patch(self, run: history.Run) -> tuple[str, str]:
        rec = run.record
        if not rec.dirty:
            return "", ""
        if not (self.repo.has_object(rec.snapshot) and self.repo.has_object(rec.base_commit)):
            return "", (
                "the snapshot is not in this repository: fetch gitrack's refs "
                "(git fetch origin '+refs/gitrack/*:refs/gitrack/*')"
            )
        pair = (
            self.repo.commit_info(rec.base_commit).tree,
            self.repo.commit_info(rec.snapshot).tree,
        )
        if pair not in self._patches:
            whole = self.repo.diff_patch(*pair)
            kept = min(len(whole), MAX_PATCH_CHARS)
            self._patches[pair] = whole if kept <= self.patch_budget else None
            self.patch_budget -= kept if kept <= self.patch_budget else 0
        patch = self._patches[pair]
        if patch is None:
            return "", (
                f"diff not included: the page holds {MAX_PATCHES_CHARS:,} characters of "
                f"diffs at most; `gitrack show {rec.id[:8]} --patch` prints it"
            )
        if len(patch) > MAX_PATCH_CHARS:
            return patch[:MAX_PATCH_CHARS], (
                f"diff cut at {MAX_PATCH_CHARS:,} characters of {len(patch):,}: "
                f"`gitrack show {rec.id[:8]} --patch` prints it whole"
            )
        return patch, ""

    # ------------------------------------------------------ datasets, outputs
    def _entry(
        self, path: str, digest: str, images: bool, shown: list[int] | None = None
    ) -> list[report.FileEntry]:
        """The entry for ``path``; for an output folder, also one per image inside it."""
        if not hashing.is_valid(digest):
            return [report.FileEntry(path, digest, note="not a gitrack hash")]
        absent = [report.FileEntry(path, digest, note="not in the local cache")]
        if not self.cache.exists(digest):  # unfinished objects too (odb.is_complete)
            return absent
        try:
            size = self.cache.path_for(digest).stat().st_size
        except OSError:
            return absent
        if not hashing.is_dir_hash(digest):
            entry = report.FileEntry(path, digest, size)
            if images and shown is not None:
                self._image(entry, shown)
            return [entry]
        try:
            manifest = Manifest.from_bytes(self.cache.read_verified(digest))
        except (CacheError, ValueError) as exc:
            return [report.FileEntry(path, digest, note=f"folder listing unreadable: {exc}")]
        entries = [report.FileEntry(path, digest, manifest.size, files=len(manifest.files))]
        if images and shown is not None:
            for item in manifest.files:
                if PurePosixPath(item.path).suffix.lower() in IMAGE_TYPES:
                    inner = report.FileEntry(
                        f"{path.rstrip('/')}/{item.path}", item.hash, item.size
                    )
                    self._image(inner, shown)
                    entries.append(inner)
        return entries

    def _image(self, entry: report.FileEntry, shown: list[int]) -> None:
        """Inline ``entry`` as a data: URI if it is a small enough image in the cache."""
        mime = IMAGE_TYPES.get(PurePosixPath(entry.path).suffix.lower())
        if mime is None or entry.size is None:
            return
        if entry.size > MAX_IMAGE_BYTES:
            entry.note = f"image over {MAX_IMAGE_BYTES // 2**20} MiB: not inlined"
        elif entry.size > self.image_budget or shown[0] >= MAX_IMAGES_PER_RUN:
            entry.note = "image not inlined: the page's image budget is spent"
        else:
            try:
                data = self.cache.read_verified(entry.hash)
            except (CacheError, OSError) as exc:
                entry.note = f"image not shown: {exc}"
                return
            self.image_budget -= len(data)
            shown[0] += 1
            entry.image = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
