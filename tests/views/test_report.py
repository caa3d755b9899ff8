"""`gitrack report`: the HTML page, checked in a real headless Chromium.

Chromium runs the page's scripts (``--dump-dom`` after ``--virtual-time-budget``) and
the tests read the DOM it leaves: rows, charts, the comparison, images, the run sections.
Views are set through the page's URL state (``#sort=-metrics.auc&select=ID,ID``); real
clicks on column headers and checkboxes go through the DevTools protocol over a pipe
(tests/cdp.py, ``--remote-debugging-pipe``).

Without Chromium these tests skip and say how to install it; with ``CI`` set, a missing
browser fails them (.ci/run installs Debian's ``chromium``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from api_helpers import api_run
from conftest import git, gitrack

from gitrack.views import report as report_view

EVIL = '<script>document.body.setAttribute("data-pwned","1")</script><img src=x onerror="document.body.setAttribute(\'data-pwned\',\'2\')">'  # noqa: E501
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


# ---------------------------------------------------------------------- browser
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    message = (
        "Chromium is not installed: the report's browser tests need it "
        "(Debian/Ubuntu: sudo apt-get install chromium; .ci/run installs it)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def browse(page: Path, tmp_path: Path, fragment: str = "", *extra: str) -> str:
    """The DOM after the page's scripts ran, as Chromium serializes it."""
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    argv = [
        chromium(),
        *BROWSER_FLAGS,
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        *extra,
        "--dump-dom",
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'data-ready="1"' in done.stdout, "the page's script did not finish:\n" + done.stderr
    return done.stdout


def row_ids(dom: str) -> list[str]:
    """Run ids of the table's visible rows, in the order shown."""
    body = dom.split('id="runs-body"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr data-run="([0-9a-f]+)"(?: class="[^"]*")?>', body)


def section(dom: str, element_id: str) -> str:
    """The HTML from the element with ``element_id`` to the end of its <section>."""
    return dom.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


# ---------------------------------------------------------------------- fixtures
def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid PNG of one colour, written by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def run_with_images(repo: Path) -> str:
    """A run whose command writes a PNG and an SVG, recorded as outputs (-o)."""
    (repo / "plot.src").write_bytes(png(3, 2))
    script = (
        "import shutil; shutil.copy('plot.src', 'roc.png');"
        "open('cm.svg', 'w').write('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" "
        'height="20"><rect width="40" height="20" fill="blue"/></svg>\');'
        "open('model.bin', 'wb').write(b'w' * 5000)"
    )
    result = gitrack(
        "run", "--name", "with-plots", "-p", "lr=0.2", "-o", "roc.png", "-o", "cm.svg",
        "-o", "model.bin", "--", sys.executable, "-c", script, cwd=repo,
    )  # fmt: skip
    assert result.code == 0, result.err
    listed = json.loads(gitrack("ls", "--json", cwd=repo).out)
    return str(next(r["id"] for r in listed if r["name"] == "with-plots"))


@pytest.fixture
def runs_repo(repo: Path) -> tuple[Path, dict[str, str]]:
    """Three API runs with step metrics (one named with HTML), one dirty run with images."""
    ids = {
        "low": api_run(
            repo, params={"lr": 0.01}, metrics={"auc": 0.71}, steps={"loss": [1.0, 0.8, 0.7]}
        ),
        "high": api_run(
            repo, params={"lr": 0.1}, metrics={"auc": 0.93}, steps={"loss": [1.0, 0.4, 0.2]}
        ),
        "evil": api_run(
            repo, params={"lr": 0.05}, metrics={"auc": 0.82}, steps={"loss": [1.0, 0.6]}, name=EVIL
        ),
    }
    (repo / "README.md").write_text("edited <b>not bold</b>\n")
    ids["images"] = run_with_images(repo)
    return repo, ids


def write_page(repo: Path, *args: str) -> Path:
    page = repo.parent / "report.html"
    result = gitrack("report", "-o", str(page), *args, cwd=repo)
    assert result.code == 0, result.err
    return page


# ------------------------------------------------------------------ browser tests
def test_every_run_listed_charts_drawn_and_html_in_a_name_stays_text(
    runs_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, ids = runs_repo
    dom = browse(write_page(repo), tmp_path)
    assert sorted(row_ids(dom)) == sorted(ids.values())
    # Charts: the first listed runs' step metric (no run selected), parallel coordinates
    # and the scatter, each an SVG with marks in it.
    assert re.search(r'<svg class="chart line-chart"[^>]*>.*?<path[^>]*class="series"', dom)
    assert re.search(r'<svg class="chart parallel"[^>]*>.*?class="pc-line', dom)
    assert len(re.findall(r'<circle [^>]*class="point', dom)) == 3  # the runs with an auc
    # The name holding HTML is shown as text, in the table and in its run section.
    assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]
    assert dom.count("&lt;script&gt;document.body.setAttribute") >= 2
    assert "<b>not bold</b>" not in dom and "&lt;b&gt;not bold&lt;/b&gt;" in dom  # the diff


def test_sorting_a_column_reorders_rows(
    runs_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, ids = runs_repo
    page = write_page(repo)
    by_auc = [ids["high"], ids["evil"], ids["low"]]
    descending = row_ids(browse(page, tmp_path, "sort=-metrics.auc"))
    assert descending == [*by_auc, ids["images"]]  # the run without auc last
    ascending = row_ids(browse(page, tmp_path, "sort=metrics.auc"))
    assert ascending == [*by_auc[::-1], ids["images"]]
    dom = browse(page, tmp_path, "sort=-metrics.auc")
    assert re.search(r'<th data-col="metrics.auc"[^>]*aria-sort="descending"', dom)


def test_filter_hides_rows(runs_repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    repo, ids = runs_repo
    dom = browse(write_page(repo), tmp_path, "filter=with-plots")
    body = dom.split('id="runs-body"', 1)[1].split("</tbody>", 1)[0]
    visible = re.findall(r'<tr data-run="([0-9a-f]+)"(?: class="[^"]*")?>', body)
    assert visible == [ids["images"]]  # the others are not in the document


def test_selecting_two_runs_shows_their_comparison(
    runs_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, ids = runs_repo
    dom = browse(write_page(repo), tmp_path, f"select={ids['low'][:8]},{ids['high']}")
    compared = section(dom, "comparison")
    assert 'id="compare-table"' in compared
    assert ids["low"][:8] in compared and ids["high"][:8] in compared
    assert re.search(r'<tr class="differs" data-field="params.lr">', compared)
    assert re.search(r'<tr class="differs" data-field="metrics.auc">', compared)
    assert re.search(r'<tr data-field="status">', compared)  # same status: not marked
    # Their step metrics overlaid: in each chart (loss, auc) one line per selected run.
    charts = compared.split('<svg class="chart line-chart"')[1:]
    assert len(charts) == 2
    for chart in charts:
        lines = re.findall(r'<path [^>]*class="series" data-run="([0-9a-f]+)"', chart)
        assert sorted(lines) == sorted([ids["low"], ids["high"]])
    checked = re.findall(r'<input type="checkbox" data-run="([0-9a-f]+)"', dom)
    assert len(checked) == 4


def test_images_load_inline_and_other_outputs_are_listed_with_size(
    runs_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, ids = runs_repo
    dom = browse(write_page(repo), tmp_path)
    run = section(dom, f"run-{ids['images']}")
    widths = dict(re.findall(r'<img src="data:[^"]+" alt="([^"]+)"[^>]*data-loaded="(\d+)"', run))
    assert widths == {"roc.png": "3", "cm.svg": "40"}  # decoded by the browser
    assert "model.bin" in run and "4.9 KiB" in run
    assert "+edited &lt;b&gt;not bold&lt;/b&gt;" in run  # the run's code change


def test_nothing_is_fetched_from_the_network(
    runs_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, _ = runs_repo
    page = write_page(repo)
    text = page.read_text()
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    netlog = tmp_path / "netlog.json"
    dom = browse(page, tmp_path, "", f"--log-net-log={netlog}")
    assert section(dom, "csp-violations").split(">", 1)[1].startswith("</span>")  # none
    assert page_requests(netlog) == []


def page_requests(netlog: Path) -> list[str]:
    """URLs the page asked for (not the browser's own update checks): the requests a
    file:// page starts carry a file:// network isolation key."""
    text = netlog.read_text()
    try:
        log = json.loads(text)
    except ValueError:  # a log cut short at exit: close it
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        from_page = "file://" in params.get("network_isolation_key", "")
        if event["type"] == start_job and from_page and not params["url"].startswith("data:"):
            urls.append(params["url"])
    return urls


def test_screenshot(runs_repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """A picture of the page with two runs compared; GITRACK_SCREENSHOT=PATH keeps it."""
    repo, ids = runs_repo
    page = write_page(repo)
    shot = Path(os.environ.get("GITRACK_SCREENSHOT") or tmp_path / "report.png")
    argv = [
        chromium(), *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'shot-profile'}",
        "--hide-scrollbars", "--window-size=1280,2200", "--virtual-time-budget=10000",
        f"--screenshot={shot}", f"{page.resolve().as_uri()}#select={ids['low']},{ids['high']}",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 2200)
    assert len(data) > 50_000  # tables, charts and text: far from a blank page


# ------------------------------------------------------------ the page, no browser
def test_script_data_cannot_close_its_element() -> None:
    text = report_view.data_json({"name": "</script><script>alert(1)</script>", "x": "a&b>"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>", "x": "a&b>"}
    lone = report_view.data_json({"s": "\ud800"})
    assert lone.encode("utf-8") and json.loads(lone) == {"s": "\ud800"}


def test_report_of_named_runs_and_where(runs_repo: tuple[Path, dict[str, str]]) -> None:
    repo, ids = runs_repo
    page = write_page(repo, ids["low"][:6], "with-plots")
    data = page_data(page)
    assert [r["id"] for r in data["runs"]] == [ids["low"], ids["images"]]
    page = write_page(repo, "--where", "metrics.auc > 0.8")
    assert {r["id"] for r in page_data(page)["runs"]} == {ids["high"], ids["evil"]}
    assert page_data(page)["columns"][:2] == ["params.lr", "metrics.auc"]  # varying first


def test_report_errors_name_the_fix(repo: Path) -> None:
    result = gitrack("report", cwd=repo)
    assert result.code == 1 and "no runs to report yet" in result.err
    api_run(repo, metrics={"auc": 0.5})
    result = gitrack("report", "--where", "metrics.auc > 2", cwd=repo)
    assert result.code == 1 and "no run matches --where" in result.err
    result = gitrack("report", "-o", str(repo / "missing" / "r.html"), cwd=repo)
    assert result.code == 1 and "cannot write" in result.err
    assert not (repo / "gitrack-report.html").exists()
    result = gitrack("report", cwd=repo)
    assert result.code == 0 and (repo / "gitrack-report.html").is_file()


def test_big_images_are_listed_not_inlined(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitrack.commands import report as report_command

    monkeypatch.setattr(report_command, "MAX_IMAGE_BYTES", 20)
    run_id = run_with_images(repo)
    (run,) = [r for r in page_data(write_page(repo))["runs"] if r["id"] == run_id]
    roc = next(o for o in run["outputs"] if o["path"] == "roc.png")
    assert "image" not in roc and "not inlined" in roc["note"] and roc["size"] > 20


def page_data(page: Path) -> dict[str, object]:
    text = page.read_text()
    match = re.search(r'<script type="application/json" id="gitrack-data">(.*?)</script>', text)
    assert match
    data: dict[str, object] = json.loads(match.group(1))
    return data


def test_a_clean_run_has_no_patch(repo: Path) -> None:
    api_run(repo, metrics={"auc": 0.5})
    (run,) = page_data(write_page(repo))["runs"]  # type: ignore[misc]
    assert run["patch"] == -1 and run["dirty"] is False
    assert git("status", "--porcelain", cwd=repo) == ""


# ------------------------------------------------------------ markdown tables
def test_ls_and_compare_as_markdown_tables(repo: Path) -> None:
    low = api_run(repo, params={"lr": 0.01, "note": "a|b <i>x</i>"}, metrics={"auc": 0.71})
    high = api_run(repo, params={"lr": 0.1}, metrics={"auc": 0.93}, name="best*run")
    listed = gitrack("ls", "--format", "markdown", "--sort", "-metrics.auc", cwd=repo)
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert lines[0] == (
        "| id | name | started | commit | status | duration | params.lr | params.note "
        "| metrics.auc |"
    )
    assert lines[1] == "| --- | --- | --- | --- | --- | ---: | --- | --- | ---: |"
    assert lines[2].startswith(f"| `{high[:8]}` | best\\*run |") and "| 0.93 |" in lines[2]
    # A pipe or HTML from a note stays inside its cell, as text.
    assert f"| `{low[:8]}` |" in lines[3] and "a\\|b \\<i\\>x\\</i\\>" in lines[3]
    assert all(len(re.split(r"(?<!\\)\|", line)) == 9 + 2 for line in lines[:4])  # 9 cells

    compared = gitrack("compare", low, high, "--format", "markdown", cwd=repo)
    assert compared.code == 0, compared.err
    rows = compared.out.splitlines()
    assert rows[0] == f"|  | field | `{low[:8]}` | `{high[:8]}` best\\*run |"
    assert "| ≠ | params.lr | 0.01 | 0.1 |" in rows
    assert "|  | status | ok | ok |" in rows
    assert rows[-1] == "≠ differs between the runs"


def test_compare_markdown_code_diff_is_fenced(repo: Path) -> None:
    first = api_run(repo, metrics={"auc": 0.5})
    (repo / "train.py").write_text("print('```')\n")
    second = api_run(repo, metrics={"auc": 0.6})
    out = gitrack("compare", first, second, "--code", "--format", "markdown", cwd=repo).out
    assert "\n````diff\n" in out and "+print('```')" in out and out.rstrip().endswith("````")


# ------------------------------------------------------------------------ demo
def test_demo_writes_a_report_of_its_runs(tmp_path: Path) -> None:
    from conftest import gitrack_proc

    target = tmp_path / "demo"
    res = gitrack_proc("demo", str(target), cwd=tmp_path, timeout=180)
    assert res.code == 0, res.err
    page = target / "report.html"
    assert f"   {page}\n" in res.out  # its path is printed
    listed = gitrack("ls", "--json", cwd=target).json()
    dom = browse(page, tmp_path)
    assert sorted(row_ids(dom)) == sorted(r["id"] for r in listed)
    # The demo's script logs its loss at each epoch: one line per run in the step chart.
    assert len(re.findall(r'<path [^>]*class="series"', section(dom, "step-charts"))) >= 4


# ------------------------------------------------------------- untrusted inputs
def test_unreadable_step_blob_or_missing_output_is_said_not_fatal(repo: Path) -> None:
    from api_helpers import forge_note

    api_run(repo, metrics={"auc": 0.5}, steps={"loss": [1.0, 0.5]})
    bogus = git("hash-object", "-w", "--stdin", cwd=repo, input="not parquet").strip()
    missing_output = "xxh128:" + "ab" * 16

    def edit(data: dict[str, object]) -> None:
        data["metric_history"] = bogus
        data["outputs"] = {"model.pt": missing_output, "../evil.png": "not-a-hash"}

    run_id = forge_note(repo, edit)
    page = repo.parent / "report.html"
    result = gitrack("report", "-o", str(page), cwd=repo)
    assert result.code == 0, result.err
    assert f"run {run_id}: step metrics not shown" in result.err
    (run,) = page_data(page)["runs"]  # type: ignore[misc]
    assert run["steps"] == {}
    notes = {o["path"]: o.get("note") for o in run["outputs"]}
    assert notes == {"model.pt": "not in the local cache", "../evil.png": "not a gitrack hash"}


def test_step_values_keep_nan_and_consecutive_steps_are_compact() -> None:
    assert report_view.step_values([0.123456789, float("nan"), float("inf")]) == [
        0.1234568,
        "NaN",
        "Infinity",
    ]
    assert report_view.compact_steps([3, 4, 5]) == 3
    assert report_view.compact_steps([0, 2, 4]) == [0, 2, 4]
    assert report_view.compact_steps([]) == []


def test_missing_browser_skips_outside_ci_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        chromium()


def test_long_tables_show_a_page_of_rows_then_all(
    runs_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, _ = runs_repo
    page = write_page(repo)
    dom = browse(page, tmp_path, "rows=2&sort=-metrics.auc")
    assert len(row_ids(dom)) == 2
    assert re.search(r'<button id="show-more" type="button">show all 4 runs \(2 more\)<', dom)
    assert len(row_ids(browse(page, tmp_path, "rows=2&all=1"))) == 4


# ------------------------------------------- real clicks (DevTools protocol, a pipe)
ROWS = "[...document.querySelectorAll('#runs-body tr')].map((tr) => tr.dataset.run)"


def test_clicking_headers_and_checkboxes(
    runs_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    from cdp import open_page

    repo, ids = runs_repo
    url = write_page(repo).resolve().as_uri()
    by_auc = [ids["high"], ids["evil"], ids["low"]]
    with open_page(chromium(), BROWSER_FLAGS, url, tmp_path / "cdp-profile") as page:
        page.evaluate("document.querySelector('th[data-col=\"metrics.auc\"]').click()")
        assert page.evaluate(ROWS) == [*by_auc, ids["images"]]  # a metric: best first
        page.evaluate("document.querySelector('th[data-col=\"metrics.auc\"]').click()")
        assert page.evaluate(ROWS) == [*by_auc[::-1], ids["images"]]  # again: reversed
        assert page.evaluate("location.hash") == "#sort=metrics.auc"  # a link to this view
        assert page.evaluate("document.getElementById('compare-table')") is None
        for run_id in (ids["low"], ids["high"]):
            page.evaluate(f"document.querySelector('input[data-run=\"{run_id}\"]').click()")
        headers = page.evaluate(
            "[...document.querySelectorAll('#compare-table thead th')].map((th) => th.textContent)"
        )
        assert headers == ["", "field", ids["low"][:8], ids["high"][:8]]
        differing = page.evaluate(
            "[...document.querySelectorAll('#compare-table tr.differs')]"
            ".map((tr) => tr.dataset.field)"
        )
        assert {"params.lr", "metrics.auc", "metrics.loss"} <= set(differing)
        assert "status" not in differing
        page.evaluate("document.getElementById('filter').value = 'with-plots'")
        page.evaluate("document.getElementById('filter').dispatchEvent(new Event('input'))")
        assert page.evaluate(ROWS) == [ids["images"]]


def test_page_budgets_thin_long_histories_and_drop_diffs_past_them(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitrack.commands import report as report_command

    (repo / "a.txt").write_text("first edit\n")
    first = api_run(repo, steps={"loss": [float(i) for i in range(10)]})
    (repo / "a.txt").write_text("second edit, another diff\n")
    second = api_run(repo, steps={"loss": [float(i) for i in range(10)]})
    monkeypatch.setattr(report_command, "MAX_STEP_POINTS", 4)
    monkeypatch.setattr(report_command, "STEP_POINTS_BUDGET", 4)
    monkeypatch.setattr(report_command, "FEW_STEP_POINTS", 2)
    page = repo.parent / "report.html"
    result = gitrack("report", "-o", str(page), first, second, cwd=repo)
    assert result.code == 0, result.err
    runs = {r["id"]: r for r in page_data(page)["runs"]}  # type: ignore[union-attr]
    steps_first, values_first = runs[first]["steps"]["loss"]
    assert steps_first == [0, 3, 6, 9] and values_first == [0.0, 3.0, 6.0, 9.0]  # thinned
    assert runs[second]["steps"]["loss"][0] == [0, 5, 9]  # past the budget: fewer points
    assert f"after run {first}, each metric's history is drawn with 2 points" in result.err
    diff_size = len(page_data(page)["patches"][0])  # type: ignore[index]
    monkeypatch.setattr(report_command, "MAX_PATCHES_CHARS", diff_size + 10)
    result = gitrack("report", "-o", str(page), first, second, cwd=repo)
    runs = {r["id"]: r for r in page_data(page)["runs"]}  # type: ignore[union-attr]
    assert runs[first]["patch"] == 0 and "first edit" in page_data(page)["patches"][0]  # type: ignore[index]
    assert runs[second]["patch"] == -1 and "diff not included" in runs[second]["patch_note"]


def test_open_shows_the_page_in_the_browser(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import gitrack_proc

    api_run(repo, metrics={"auc": 0.5})
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(browser))  # how Python's webbrowser is told which one
    result = gitrack_proc("report", "-o", "page.html", "--open", cwd=repo)
    assert result.code == 0, result.err
    assert opened.read_text() == (repo / "page.html").resolve().as_uri()


def test_many_runs_build_a_run_section_when_it_is_opened(
    runs_repo: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdp import open_page

    monkeypatch.setattr(report_view, "EAGER_SECTIONS", 2)  # 4 runs: "many"
    repo, ids = runs_repo
    url = write_page(repo).resolve().as_uri()
    section_of = f"document.getElementById('run-{ids['images']}')"
    with open_page(chromium(), BROWSER_FLAGS, url, tmp_path / "cdp-profile") as page:
        assert page.evaluate(f"{section_of}.querySelectorAll('img').length") == 0
        page.evaluate(f"document.querySelector('tr[data-run=\"{ids['images']}\"] a').click()")
        assert page.evaluate(f"{section_of}.open") is True
        deadline = time.monotonic() + 10
        while page.evaluate(f"{section_of}.querySelectorAll('img[data-loaded]').length") < 2:
            assert time.monotonic() < deadline, "the run's images did not load"
            time.sleep(0.05)
        assert page.evaluate(f"{section_of}.querySelectorAll('.run-body').length") == 1
