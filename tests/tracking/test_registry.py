"""The model registry on git tags, checked against GTO itself (`gto` from PyPI, test-only):
what gitrack writes GTO reads as it would its own, and the reverse; teammates share it
through a bare remote; every refusal is one line and leaves no tag behind."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, git, gitrack, make_repo, record
from remote_helpers import clone, gitrack_argv, make_origin, start_together, write

import gitrack as api
from gitrack.cli import cli
from gitrack.tracking.registry import names

GTO = str(Path(sys.executable).parent / "gto")
TEAM_CONFIG = '[remote]\nurl = "../team-cache"\n'


def ok(*args: str, cwd: Path) -> str:
    res = gitrack(*args, cwd=cwd)
    assert res.code == 0, res.err
    return res.out


def gto(*args: str, cwd: Path) -> str:
    proc = subprocess.run([GTO, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def gto_show(cwd: Path) -> dict[str, Any]:
    shown = json.loads(gto("show", "--json", cwd=cwd))
    for model in shown.values():  # GTO lists every stage it knows, None where unheld
        model["stage"] = {s: v for s, v in model["stage"].items() if v is not None}
    return shown  # type: ignore[no-any-return]


def as_gto_shows(cwd: Path) -> dict[str, Any]:
    """`gitrack model ls --json` in the shape of `gto show --json`."""
    listing = json.loads(ok("model", "ls", "--json", cwd=cwd))
    return {
        m["name"]: {
            "version": m["latest"],
            "stage": m["stages"],
            "registered": True,
            "active": not m["deprecated"],
        }
        for m in listing
        if not m["deprecated"]
    }


def tags(cwd: Path) -> list[str]:
    return git("tag", "-l", cwd=cwd).split()


def model_run(repo: Path, content: str, out: str = "model.bin") -> str:
    """A run writing ``content`` to ``out`` (recorded as its output)."""
    script = f"printf '%s' '{content}' > {out} && echo '{{\"acc\": 0.5}}' > metrics.json"
    return record("sh", "-c", script, cwd=repo, options=("-o", out, "-m", "metrics.json"))


@pytest.fixture
def models_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "*.bin\nmetrics.json\n"})
    return repo


# ------------------------------------------------------------------ GTO both ways
def test_gto_reads_exactly_what_gitrack_made(models_repo: Path) -> None:
    repo = models_repo
    clean = model_run(repo, "weights-1")
    write(repo / "train.py", "x = 2\n")  # an uncommitted edit: the next run is dirty
    dirty = model_run(repo, "weights-2")
    ok("model", "register", "churn", clean, cwd=repo)
    ok("model", "register", "churn", dirty, "--bump", "minor", cwd=repo)
    ok("model", "register", "fraud/detector", dirty, "--version", "v1.0.0", cwd=repo)
    ok("model", "assign", "churn", "v0.0.1", "prod", cwd=repo)
    ok("model", "assign", "churn", "v0.1.0", "prod", cwd=repo)
    ok("model", "assign", "churn", "v0.1.0", "staging", cwd=repo)
    ok("model", "assign", "churn", "v0.0.1", "prod", cwd=repo)  # back: the latest one wins
    ok("model", "assign", "fraud/detector", "latest", "dev", cwd=repo)
    ok("model", "unassign", "fraud/detector", "dev", cwd=repo)

    assert tags(repo) == sorted([
        "churn@v0.0.1", "churn@v0.1.0", "churn#prod#1", "churn#prod#2", "churn#staging#3",
        "churn#prod#4", "fraud/detector@v1.0.0", "fraud/detector#dev#1",
        "fraud/detector#dev!#2",
    ])  # fmt: skip
    expected = {
        "churn": {"version": "v0.1.0", "stage": {"prod": "v0.0.1", "staging": "v0.1.0"},
                  "registered": True, "active": True},
        "fraud/detector": {"version": "v1.0.0", "stage": {}, "registered": True, "active": True},
    }  # fmt: skip
    assert gto_show(repo) == expected
    assert as_gto_shows(repo) == expected
    assert git("fsck", "--strict", cwd=repo).strip() == ""  # well-formed tag objects

    # Each version at the run's exact code: the commit (clean), the snapshot (dirty).
    runs = {r["id"]: r for r in json.loads(ok("ls", "--json", cwd=repo))}
    versions = {v["version"]: v for v in json.loads(gto("show", "churn", "--json", cwd=repo))}
    assert versions["v0.0.1"]["commit_hexsha"] == runs[clean]["base_commit"]
    assert versions["v0.1.0"]["commit_hexsha"] == runs[dirty]["snapshot"]
    message = versions["v0.1.0"]["message"]
    assert message.startswith("Registering artifact churn version v0.1.0\n")
    line = json.loads(message.split("gitrack: ", 1)[1])
    assert line["run"] == dirty and line["metrics"] == {"acc": 0.5}
    assert list(line["paths"]) == ["model.bin"] and line["paths"]["model.bin"].startswith("xxh128:")

    from gto.tag import parse_name  # GTO's own parser agrees with ours on every tag

    for tag in tags(repo):
        ours, theirs = names.parse(tag), parse_name(tag)
        assert ours is not None
        assert (ours.model, ours.version, ours.stage, ours.counter) == (
            theirs["name"], theirs.get("version"), theirs.get("stage"), theirs.get("counter"),
        )  # fmt: skip
        assert ours.action == theirs["action"].value


def test_deprecations_read_the_same_in_gto(models_repo: Path) -> None:
    repo = models_repo
    first, second = model_run(repo, "a"), model_run(repo, "b")
    ok("model", "register", "churn", first, cwd=repo)
    ok("model", "register", "churn", second, cwd=repo)
    ok("model", "register", "old", first, cwd=repo)
    ok("model", "assign", "churn", "v0.0.2", "prod", cwd=repo)
    ok("model", "deprecate", "churn", "v0.0.2", cwd=repo)  # its stage goes with it
    ok("model", "deprecate", "old", cwd=repo)

    assert {"churn@v0.0.2!", "old@deprecated"} <= set(tags(repo))
    assert (
        gto_show(repo)
        == as_gto_shows(repo)
        == {"churn": {"version": "v0.0.1", "stage": {}, "registered": True, "active": True}}
    )
    res = gitrack("model", "get", "old", cwd=repo)
    assert res.code == 1 and "deprecated" in res.err


def test_gitrack_lists_what_gto_registered(models_repo: Path) -> None:
    repo = models_repo
    git("commit", "-q", "--allow-empty", "-m", "second", cwd=repo)
    gto("register", "churn", "HEAD~1", cwd=repo)
    gto("register", "churn", "HEAD", "--bump-major", cwd=repo)
    gto("assign", "churn", "churn@v0.0.1", "--stage", "prod", cwd=repo)

    listing = json.loads(ok("model", "ls", "--json", cwd=repo))

    assert [v["version"] for v in listing[0]["versions"]] == ["v1.0.0", "v0.0.1"]
    assert listing[0]["stages"] == {"prod": "v0.0.1"}
    assert listing[0]["latest"] == "v1.0.0"
    assert as_gto_shows(repo) == gto_show(repo)
    # A GTO version names no model bytes: get says so in one line.
    res = gitrack("model", "get", "churn#prod", cwd=repo)
    assert res.code == 1 and len(res.err_lines) == 1
    assert "registered without gitrack" in res.err


# ------------------------------------------------------------------ teammates
def test_teammate_gets_the_same_bytes_by_stage(tmp_path: Path) -> None:
    origin = make_origin(tmp_path, {"train.py": "x\n", ".gitignore": "*.bin\nmetrics.json\n"})
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    for repo in (a, b):
        write(repo / "gitrack.toml", TEAM_CONFIG)
        write(repo / ".git" / "info" / "exclude", "gitrack.toml\n")
    run = model_run(a, "the-prod-weights")
    ok("model", "register", "churn", run, cwd=a)
    ok("model", "assign", "churn", "v0.0.1", "prod", cwd=a)
    assert ok("push", cwd=a).strip().endswith(", 2 registry tag(s)")
    published = git("ls-remote", "--tags", str(origin), cwd=tmp_path)
    assert "refs/tags/churn@v0.0.1" in published and "refs/tags/churn#prod#1" in published

    pulled = ok("pull", "--no-data", cwd=b)  # runs and tags only: get fetches the bytes
    assert pulled.strip() == "pulled from origin: 1 new run(s), 2 registry tag(s)"
    res = gitrack("model", "get", "churn#prod", "-o", "served.bin", cwd=b)

    assert res.code == 0, res.err
    assert (b / "served.bin").read_bytes() == (a / "model.bin").read_bytes() == b"the-prod-weights"
    assert ok("model", "get", "churn#prod", "--run", cwd=b).strip() == run
    path = api.model_path("churn#prod", cwd=b)
    assert path.read_bytes() == b"the-prod-weights" and path.name == "model.bin"


def test_git_push_carries_the_tags_through_the_hook(tmp_path: Path) -> None:
    origin = make_origin(tmp_path, {"train.py": "x\n", ".gitignore": "*.bin\nmetrics.json\n"})
    a = clone(origin, tmp_path / "a")
    ok("install", cwd=a)
    run = model_run(a, "w")
    assert api.register_model("churn", run, cwd=a) == "v0.0.1"
    git("commit", "-q", "--allow-empty", "-m", "more", cwd=a)

    git("push", "-q", "origin", "HEAD", cwd=a)

    assert "refs/tags/churn@v0.0.1" in git("ls-remote", str(origin), cwd=tmp_path)


def test_a_version_someone_else_pushed_first_is_an_error(tmp_path: Path) -> None:
    origin = make_origin(tmp_path, {"train.py": "x\n", ".gitignore": "*.bin\nmetrics.json\n"})
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    ok("model", "register", "churn", model_run(a, "from-a"), cwd=a)
    ok("push", cwd=a)
    ok("model", "register", "churn", model_run(b, "from-b"), cwd=b)  # also v0.0.1

    res = gitrack("push", cwd=b)

    assert res.code == 1 and len(res.err_lines) == 1, res.err
    assert "origin has another tag 'churn@v0.0.1'" in res.err
    theirs = git("rev-parse", "churn@v0.0.1", cwd=a).strip()
    assert git("ls-remote", str(origin), "refs/tags/churn@v0.0.1", cwd=tmp_path).startswith(theirs)
    # The advice in the message works: keep theirs, register again.
    git("tag", "-d", "churn@v0.0.1", cwd=b)
    ok("pull", cwd=b)
    ok("model", "register", "churn", runs_ids(b)[0], cwd=b)
    ok("push", cwd=b)
    assert "churn@v0.0.2" in git("ls-remote", "--tags", str(origin), cwd=tmp_path)


def runs_ids(repo: Path) -> list[str]:
    """Run ids, the local ones (by user) first: here, the newest first."""
    return [r["id"] for r in json.loads(ok("ls", "--json", cwd=repo))]


# ------------------------------------------------------------------ refusals
def refused(repo: Path, *args: str) -> Result:
    before = tags(repo)
    res = gitrack(*args, cwd=repo)
    assert res.code == 1, (args, res.out, res.err)
    assert len(res.err_lines) == 1 and res.err.startswith("Error: "), res.err
    assert tags(repo) == before  # nothing half-created
    return res


def test_bad_input_is_one_line_and_creates_nothing(models_repo: Path) -> None:
    repo = models_repo
    run = model_run(repo, "w")
    no_outputs = record("true", cwd=repo)
    failed = record("sh", "-c", "echo x > model.bin; exit 3", cwd=repo, options=("-o", "model.bin"))
    two = record("sh", "-c", "echo 1 > a.bin; echo 2 > b.bin", cwd=repo,
                 options=("-o", "a.bin", "-o", "b.bin"))  # fmt: skip
    ok("model", "register", "churn", run, "--version", "v1.0.0", cwd=repo)
    ok("model", "assign", "churn", "v1.0.0", "prod", cwd=repo)

    cases = {
        ("model", "assign", "nope", "v1.0.0", "prod"): "no model named 'nope'",
        ("model", "get", "nope#prod"): "no model named 'nope'",
        ("model", "get", "churn#canary"): "no version of 'churn' is in stage 'canary'",
        ("model", "unassign", "churn", "canary"): "no version of 'churn' is in stage 'canary'",
        ("model", "assign", "churn", "v9.9.9", "prod"): "has no version v9.9.9",
        ("model", "get", "churn@v9.9.9"): "has no version v9.9.9",
        ("model", "assign", "churn", "v1.0.0", "prod"): "already in stage 'prod'",
        ("model", "assign", "churn", "1.0", "prod"): "invalid version '1.0'",
        ("model", "register", "bad-", run): "invalid model name 'bad-'",
        ("model", "register", "bad name", run): "invalid model name 'bad name'",
        ("model", "register", "churn@v2", run): "invalid model name 'churn@v2'",
        ("model", "register", "a//b", run): "invalid model name 'a//b'",
        ("model", "assign", "churn", "v1.0.0", "pr od"): "invalid stage name 'pr od'",
        ("model", "register", "churn", no_outputs): "recorded no outputs",
        ("model", "register", "churn", failed): "register a run that finished ok",
        ("model", "register", "churn", two): "several outputs (a.bin, b.bin)",
        ("model", "register", "churn", two, "--path", "c.bin"): "'c.bin' is not an output",
        ("model", "register", "churn", two, "--path", "a.bin", "--version", "v1.0.0"):
            "already exists",
        ("model", "register", "churn", two, "--path", "a.bin", "--version", "v0.9.0"):
            "would go backwards",
        ("model", "register", "churn", run): "already registered as churn@v1.0.0",
        ("model", "register", "churn", "ffff0000"): "no run matches",
        ("model", "get", "churn@"): "cannot read model 'churn@'",
        ("model", "deprecate", "churn", "v3.0.0"): "has no version v3.0.0",
    }  # fmt: skip
    for args, expected in cases.items():
        assert expected in refused(repo, *args).err, (args, expected)


def test_a_model_missing_from_every_cache_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"train.py": "x\n", ".gitignore": "*.bin\n"})
    write(repo / "gitrack.toml", TEAM_CONFIG)
    write(repo / ".git" / "info" / "exclude", "gitrack.toml\n")
    (tmp_path / "team-cache").mkdir()
    ok("model", "register", "churn", model_run(repo, "weights"), cwd=repo)
    cache = repo / ".git" / "gitrack" / "cache"
    for obj in cache.rglob("*"):
        if obj.is_file():
            obj.chmod(0o644)
            obj.unlink()

    res = refused(repo, "model", "get", "churn", "-o", "out.bin")

    assert "neither in the local cache" in res.err and "team cache" in res.err
    assert not (repo / "out.bin").exists()
    os.remove(repo / "gitrack.toml")
    res = refused(repo, "model", "get", "churn", "-o", "out.bin")
    assert "no team cache is configured" in res.err


def test_get_writes_a_verified_copy_and_keeps_what_it_replaces(models_repo: Path) -> None:
    repo = models_repo
    ok("model", "register", "churn", model_run(repo, "v1-weights"), cwd=repo)
    write(repo / "model.bin", "my local edit")
    edit = ok("hash", "model.bin", cwd=repo).split()[0].removeprefix("xxh128:")

    ok("model", "get", "churn@latest", cwd=repo)

    assert (repo / "model.bin").read_bytes() == b"v1-weights"
    kept = repo / ".git" / "gitrack" / "cache" / "xxh128" / edit[:2] / edit[2:]
    assert kept.read_bytes() == b"my local edit"  # replaced, never lost
    (repo / "out").mkdir()
    ok("model", "get", "churn", "-o", "out", cwd=repo)  # into a folder: the file's name
    assert (repo / "out" / "model.bin").read_bytes() == b"v1-weights"


def test_the_latest_assignment_wins_in_gto_too_past_nine_counters(models_repo: Path) -> None:
    """GTO orders by tagger time in seconds, then by tag name (#10 before #9): gitrack's
    tags of a model never share a second, so GTO sees the order gitrack made."""
    repo = models_repo
    ok("model", "register", "churn", model_run(repo, "a"), cwd=repo)
    ok("model", "register", "churn", model_run(repo, "b"), cwd=repo)
    for counter in range(1, 11):
        ok("model", "assign", "churn", "v0.0.1" if counter % 2 else "v0.0.2", "prod", cwd=repo)

    assert "churn#prod#10" in tags(repo)
    assert gto_show(repo)["churn"]["stage"] == {"prod": "v0.0.2"}
    assert as_gto_shows(repo)["churn"]["stage"] == {"prod": "v0.0.2"}
    ok("model", "unassign", "churn", "prod", cwd=repo)  # back to the one before, as in GTO
    assert gto_show(repo)["churn"]["stage"] == as_gto_shows(repo)["churn"]["stage"]
    assert as_gto_shows(repo)["churn"]["stage"] == {"prod": "v0.0.1"}


# ------------------------------------------------------------------ docs
SUBCOMMANDS = sorted(cli.commands["model"].commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_model_subcommand_has_an_example_and_its_options_in_the_readme(name: str) -> None:
    command = cli.commands["model"].commands[name]  # type: ignore[attr-defined]
    assert "Example" in (command.help or "") and f"gitrack model {name}" in command.help
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### `gitrack model`", 1)[1].split("\n### ", 1)[0]
    assert f"`{name}" in section
    for param in command.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--") and opt != "--help":
                assert opt in section, (name, opt)


def test_a_model_of_several_paths_and_a_folder(models_repo: Path) -> None:
    repo = models_repo
    script = "mkdir -p net && printf 1 > net/w1 && printf 2 > net/w2 && printf v > vocab.txt"
    run = record("sh", "-c", script, cwd=repo,
                 options=("-o", "net", "-o", "vocab.txt"))  # fmt: skip
    ok("model", "register", "nlp", run, "--path", "net", "--path", "./vocab.txt", cwd=repo)

    ok("model", "get", "nlp", "-o", "served", cwd=repo)

    served = repo / "served"
    assert (served / "net" / "w1").read_bytes() == b"1"
    assert (served / "net" / "w2").read_bytes() == b"2"
    assert (served / "vocab.txt").read_bytes() == b"v"
    local = api.model_path("nlp@v0.0.1", cwd=repo)
    assert local.is_dir() and (local / "net" / "w2").read_bytes() == b"2"
    assert sorted(p.name for p in local.iterdir()) == ["net", "vocab.txt"]


def test_pull_reports_a_clashing_tag_and_keeps_both(tmp_path: Path) -> None:
    origin = make_origin(tmp_path, {"train.py": "x\n", ".gitignore": "*.bin\nmetrics.json\n"})
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    ok("model", "register", "churn", model_run(a, "from-a"), cwd=a)
    ok("push", cwd=a)
    ok("model", "register", "churn", model_run(b, "from-b"), cwd=b)
    mine = git("rev-parse", "churn@v0.0.1", cwd=b)

    res = gitrack("pull", cwd=b)

    assert res.code == 0 and "origin has another tag 'churn@v0.0.1'" in res.err
    assert git("rev-parse", "churn@v0.0.1", cwd=b) == mine  # never moved


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_register_asks_which_output_in_a_terminal(
    models_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = models_repo
    run = record("sh", "-c", "echo 1 > a.bin; echo 2 > b.bin", cwd=repo,
                 options=("-o", "a.bin", "-o", "b.bin"))  # fmt: skip
    monkeypatch.setattr(sys, "stdin", _Terminal("b.bin\n"))

    out = ok("model", "register", "churn", run, cwd=repo)

    assert "Which output is the model?" in out
    listing = json.loads(ok("model", "ls", "--json", cwd=repo))
    assert list(listing[0]["versions"][0]["paths"]) == ["b.bin"]


def test_an_existing_tag_of_that_name_is_never_moved(models_repo: Path) -> None:
    repo = models_repo
    git("tag", "churn@v0.0.1", cwd=repo)  # lightweight: GTO ignores it, git keeps the name
    before = git("rev-parse", "churn@v0.0.1", cwd=repo)

    res = refused(repo, "model", "register", "churn", model_run(repo, "w"))

    assert "tag 'churn@v0.0.1' already exists" in res.err
    assert git("rev-parse", "churn@v0.0.1", cwd=repo) == before
    ok("model", "register", "churn", runs_ids(repo)[0], "--version", "v0.1.0", cwd=repo)


def test_a_revived_model_can_be_deprecated_again(models_repo: Path) -> None:
    repo = models_repo
    ok("model", "register", "churn", model_run(repo, "a"), cwd=repo)
    ok("model", "deprecate", "churn", cwd=repo)
    refused(repo, "model", "deprecate", "churn")  # already
    ok("model", "register", "churn", model_run(repo, "b"), cwd=repo)  # revives it
    expected = {"version": "v0.0.2", "stage": {}, "registered": True, "active": True}
    assert gto_show(repo) == as_gto_shows(repo) == {"churn": expected}

    ok("model", "deprecate", "churn", cwd=repo)

    assert "churn@deprecated#1" in tags(repo)  # the simple name is taken: GTO's counted form
    assert gto_show(repo) == as_gto_shows(repo) == {}


def test_registrations_at_once_each_get_their_own_version(models_repo: Path) -> None:
    repo = models_repo
    run_ids = [model_run(repo, f"w{i}") for i in range(4)]

    results = start_together(
        [(gitrack_argv("model", "register", "churn", run_id), repo) for run_id in run_ids]
    )

    assert [r.code for r in results] == [0, 0, 0, 0], [r.err for r in results]
    listing = json.loads(ok("model", "ls", "--json", cwd=repo))[0]
    assert sorted(v["version"] for v in listing["versions"]) == [
        "v0.0.1", "v0.0.2", "v0.0.3", "v0.0.4",
    ]  # fmt: skip
    assert sorted(v["run"] for v in listing["versions"]) == sorted(run_ids)


@pytest.mark.parametrize("path", ["../evil", "/tmp/gitrack-evil", "a/../../evil"])
def test_a_hostile_tag_message_writes_nothing_outside(models_repo: Path, path: str) -> None:
    repo = models_repo
    line = json.dumps({"run": "x", "paths": {path: "xxh128:" + "0" * 32}})
    git("tag", "-a", "churn@v0.0.1", "-m", f"Registering\n\ngitrack: {line}", cwd=repo)

    res = refused(repo, "model", "get", "churn", "-o", str(repo / "out"))

    assert "registered without gitrack" in res.err
    assert not (repo.parent / "evil").exists() and not Path("/tmp/gitrack-evil").exists()


def test_a_clashing_tag_never_blocks_git_push(tmp_path: Path) -> None:
    origin = make_origin(tmp_path, {"train.py": "x\n", ".gitignore": "*.bin\nmetrics.json\n"})
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    ok("model", "register", "churn", model_run(a, "from-a"), cwd=a)
    ok("push", cwd=a)
    ok("install", cwd=b)
    ok("model", "register", "churn", model_run(b, "from-b"), cwd=b)
    git("commit", "-q", "--allow-empty", "-m", "b's work", cwd=b)

    proc = subprocess.run(["git", "push", "origin", "HEAD:refs/heads/b-work"], cwd=b,
                          capture_output=True, text=True, check=False)  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert "origin has another tag 'churn@v0.0.1'" in proc.stderr
    assert "(the git command itself is unaffected)" in proc.stderr
    assert "refs/heads/b-work" in git("ls-remote", str(origin), cwd=tmp_path)


def test_model_path_of_a_folder_model_is_stable(models_repo: Path) -> None:
    repo = models_repo
    run = record("sh", "-c", "mkdir -p net && printf 1 > net/w", cwd=repo, options=("-o", "net"))
    ok("model", "register", "nlp", run, cwd=repo)

    first = api.model_path("nlp", cwd=repo)
    second = api.model_path("nlp", cwd=repo)

    assert first == second and first.name == "net"
    assert sorted(p.name for p in second.iterdir()) == ["w"]


def test_gc_keeps_the_bytes_of_registered_models(models_repo: Path) -> None:
    repo = models_repo
    ok("model", "register", "churn", model_run(repo, "keep-me"), cwd=repo)
    git("update-ref", "-d", "refs/notes/gitrack", cwd=repo)  # the run is gone, the tag stays
    (repo / "model.bin").unlink()

    ok("gc", "--now", cwd=repo)

    ok("model", "get", "churn", cwd=repo)
    assert (repo / "model.bin").read_bytes() == b"keep-me"
