"""`gitrack checkout` is all or nothing, and refuses what a teammate's forged note could
hold: long names, a failure halfway, names that are harmless here but not on Windows."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import fresh_clone, git, gitrack, note_lines, record, repo_state, run_by_id
from data_helpers import (
    default_cache,
    make_data_repo,
    object_path,
    record_data,
    reference_file_hash,
    tree_state,
)

from gitrack.paths import UnsafePathError, check_relative, temp_prefix

LONG = "n" * 236 + ".csv"  # 240 bytes: a legal name, too long for `.{name}.gitrack-XXXXXXXX`


# ------------------------------------------------------------------ long names
def test_dataset_with_a_240_byte_name_is_checked_out(tmp_path: Path) -> None:
    repo = make_data_repo(tmp_path / "repo")
    (repo / "data").mkdir()
    (repo / "data" / LONG).write_bytes(b"a,b\n1,2\n")
    (repo / "data" / "set").mkdir()
    (repo / "data" / "set" / LONG).write_bytes(b"inside a folder\n")
    (repo / "train.py").write_text("print('edited')\n")
    run_id = record_data(repo, "-d", f"data/{LONG}", "-d", "data/set")
    expected = tree_state(repo / "data")
    clone = fresh_clone(repo, tmp_path / "clone")
    shutil.copytree(default_cache(repo), default_cache(clone))

    res = gitrack("checkout", run_id, cwd=clone)

    assert res.code == 0, res.err
    assert tree_state(clone / "data") == expected
    assert (clone / "train.py").read_text() == "print('edited')\n"


def test_export_to_a_250_byte_name(repo: Path, tmp_path: Path) -> None:
    record("true", cwd=repo)
    target = tmp_path / ("n" * 246 + ".csv")

    res = gitrack("export", str(target), cwd=repo)

    assert res.code == 0, res.err
    assert target.read_text().startswith('"id",')
    assert sorted(os.listdir(tmp_path)) == sorted(["repo", target.name])


def test_temp_prefix_fits_any_name() -> None:
    assert temp_prefix("model.bin") == ".model.bin.gitrack-"
    for name in (LONG, "ü" * 127):
        prefix = temp_prefix(name)
        assert len(os.fsencode(prefix)) + 8 <= 143  # mkstemp adds 8; eCryptfs allows 143
        assert prefix != temp_prefix(name[:-1] + "x")


def test_a_data_failure_puts_code_and_data_back(tmp_path: Path) -> None:
    """The code is restored first; a dataset that then cannot be written (a corrupt cache
    object) must not leave HEAD detached, the run's code in place, or other data changed."""
    repo = make_data_repo(tmp_path / "repo")
    (repo / "data").mkdir()
    (repo / "data" / "a.csv").write_bytes(b"a, as the run had it\n")
    (repo / "data" / "z.csv").write_bytes(b"z, as the run had it\n")
    (repo / "train.py").write_text("print('the run edited this')\n")
    (repo / "new_module.py").write_text("print('untracked in the run')\n")
    (repo / "pkg" / "deep").mkdir(parents=True)
    (repo / "pkg" / "deep" / "mod.py").write_text("print('in a new folder')\n")
    run_id = record_data(repo, "-d", "data/a.csv", "-d", "data/z.csv")
    obj = object_path(default_cache(repo), reference_file_hash(b"z, as the run had it\n"))
    obj.chmod(0o644)
    obj.write_bytes(b"z, as the run had it\n"[::-1])  # same size, wrong bytes
    git("checkout", "-q", "--", ".", cwd=repo)
    for leftover in ("new_module.py", "pkg/deep/mod.py"):
        (repo / leftover).unlink()
    (repo / "pkg" / "deep").rmdir()
    (repo / "pkg").rmdir()
    git("commit", "-q", "--allow-empty", "-m", "later", cwd=repo)
    (repo / "data" / "a.csv").write_bytes(b"a, the user's newer bytes\n")
    (repo / "data" / "z.csv").write_bytes(b"z, the user's newer bytes\n")
    before = repo_state(repo)
    data_before = tree_state(repo / "data")

    res = gitrack("checkout", run_id, cwd=repo)

    assert res.code == 1
    assert "corrupt" in res.err and "put back" in res.err, res.err
    assert git("symbolic-ref", "HEAD", cwd=repo).strip() == "refs/heads/main"
    assert tree_state(repo / "data") == data_before
    assert not (repo / "pkg").exists()
    after = repo_state(repo)
    assert {k: v for k, v in after.items() if k != "index"} == {
        k: v for k, v in before.items() if k != "index"
    }
    assert git("status", "--porcelain", cwd=repo) == ""


def test_a_file_the_user_writes_where_a_restore_fails_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's own job writes into a dataset's folder while a checkout restores it:
    the restore fails (the folder is no longer free), and its rollback removes the files
    it wrote, never the user's; a second dataset half restored is taken back too."""
    from gitrack.data import batch

    repo = make_data_repo(tmp_path / "repo")
    for folder in ("ds", "other"):
        for i in range(8):
            (repo / folder).mkdir(exist_ok=True)
            (repo / folder / f"f{i}.txt").write_text(f"{folder} {i}\n")
    (repo / ".gitignore").write_text("ds/\nother/\n")
    git("add", ".gitignore", cwd=repo)
    git("commit", "-qm", "ignore the data", cwd=repo)
    run_id = record_data(repo, "-d", "other", "-d", "ds")
    shutil.rmtree(repo / "ds")
    shutil.rmtree(repo / "other")
    copies = iter(range(1000))
    copy = batch.Copier.copy

    def racing(self: batch.Copier, source: str, fd: int, progress: object) -> str:
        if next(copies) == 12:  # while ds is built: the user's results land in ds/
            (repo / "ds").mkdir(exist_ok=True)
            (repo / "ds" / "my-results.txt").write_text("hours of work\n")
        return copy(self, source, fd, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(batch.Copier, "copy", racing)
    res = gitrack("checkout", run_id, cwd=repo)

    assert res.code == 1, res.err
    assert sorted(os.listdir(repo / "ds")) == ["my-results.txt"]
    assert (repo / "ds" / "my-results.txt").read_text() == "hours of work\n"
    assert not (repo / "other").exists()  # restored before ds failed: taken back


def test_files_a_failed_restore_wrote_into_a_folder_are_taken_back(tmp_path: Path) -> None:
    """Files missing from a folder that is there are written one by one; when one of them
    cannot be (a corrupt object), the rollback removes those already written: the folder
    is as it was."""
    repo = make_data_repo(tmp_path / "repo")
    (repo / "ds").mkdir()
    for i in range(8):
        (repo / "ds" / f"f{i}.txt").write_text(f"ds {i}\n")
    (repo / ".gitignore").write_text("ds/\n")
    git("add", ".gitignore", cwd=repo)
    git("commit", "-qm", "ignore the data", cwd=repo)
    run_id = record_data(repo, "-d", "ds")
    for i in range(1, 8):
        (repo / "ds" / f"f{i}.txt").unlink()
    obj = object_path(default_cache(repo), reference_file_hash(b"ds 7\n"))
    obj.chmod(0o644)
    obj.write_bytes(b"ds 8\n")  # same size, wrong bytes
    before = tree_state(repo / "ds")

    res = gitrack("checkout", run_id, cwd=repo)

    assert res.code == 1 and "corrupt" in res.err, res.err
    assert tree_state(repo / "ds") == before


# ------------------------------------------------------------------ rollback
def _tree_plus(repo: Path, tree: str | None, extra: dict[str, tuple[str, str]]) -> str:
    """``tree`` (None: empty) plus ``extra`` (path -> (mode, blob id)), built with `git
    mktree`, which takes any name and mode: what a forged note's snapshot can hold."""
    entries: dict[str, str] = {}
    if tree is not None:
        for item in git("ls-tree", "-z", tree, cwd=repo).split("\0"):
            if item:
                entries[item.split("\t", 1)[1]] = item
    nested: dict[str, dict[str, tuple[str, str]]] = {}
    for path, (mode, blob) in extra.items():
        top, _, rest = path.partition("/")
        if rest:
            nested.setdefault(top, {})[rest] = (mode, blob)
        else:
            entries[top] = f"{mode} blob {blob}\t{top}"
    for top, inner in nested.items():
        old = entries.get(top)
        subtree = old.split()[2] if old and old.split()[1] == "tree" else None
        entries[top] = f"040000 tree {_tree_plus(repo, subtree, inner)}\t{top}"
    listing = "".join(entry + "\0" for entry in entries.values())
    return git("mktree", "-z", cwd=repo, input=listing).strip()


def _forge_snapshot(repo: Path, extra: dict[str, tuple[str, str]]) -> str:
    """A run whose snapshot is HEAD's tree plus ``extra`` (path -> (mode, content)), as a
    teammate's clone could forge it: returns the forged run's id."""
    run_id = record("true", cwd=repo)
    [line] = note_lines(repo)
    blobs = {
        path: (mode, git("hash-object", "-w", "--stdin", cwd=repo, input=content).strip())
        for path, (mode, content) in extra.items()
    }
    tree = _tree_plus(repo, git("rev-parse", "HEAD^{tree}", cwd=repo).strip(), blobs)
    forged = git("commit-tree", tree, "-p", "HEAD", "-m", "forged", cwd=repo).strip()
    git("update-ref", "refs/gitrack/forged", forged, cwd=repo)  # as if fetched with the pins
    snapshot = run_by_id(repo, run_id)["snapshot"]
    forged_id = "d" * 16
    git("notes", "--ref=gitrack", "append", "-m",
        line.replace(snapshot, forged).replace(run_id, forged_id), cwd=repo)  # fmt: skip
    return forged_id


def test_rolled_back_checkout_leaves_no_empty_folder(repo: Path) -> None:
    """A legacy 100664 file cannot be written back exactly, so verification fails and the
    checkout is undone: the folders made for the snapshot's new files go too."""
    run_id = _forge_snapshot(
        repo, {"newdir/sub/odd.txt": ("100664", "odd mode\n"), "newdir/ok.txt": ("100644", "ok\n")}
    )
    git("commit", "-q", "--allow-empty", "-m", "later", cwd=repo)
    (repo / "data" / "kept").mkdir()  # an empty folder of the user's: it stays
    before = repo_state(repo)

    res = gitrack("checkout", run_id, cwd=repo)

    assert res.code == 1 and "odd.txt" in res.err, res.err
    assert not (repo / "newdir").exists()
    assert (repo / "data" / "kept").is_dir()
    after = repo_state(repo)
    assert {k: v for k, v in after.items() if k != "index"} == {
        k: v for k, v in before.items() if k != "index"
    }


# ------------------------------------------------------------------ unsafe names
WINDOWS_HARMFUL = [
    "a\\b",  # a folder separator on Windows: ..\\..\\x climbs out
    "c:x",  # a drive prefix: relative to drive C's current folder, outside the repository
    "sub/d:evil",  # the same, one level down (a join on Windows restarts at the drive)
    ".git./config",  # Windows drops trailing dots and spaces: this is .git/config
    ".git /hooks/x",
    "git~1/config",  # the 8.3 short name of .git
    ".git::$INDEX_ALLOCATION/config",  # an NTFS stream name that is .git
    ".g\u200cit/config",  # macOS ignores this zero-width character: this is .git
]


@pytest.mark.parametrize("path", WINDOWS_HARMFUL)
def test_check_relative_refuses_names_harmful_on_windows_or_macos(path: str) -> None:
    with pytest.raises(UnsafePathError, match="refusing path"):
        check_relative(path)


@pytest.mark.skipif(os.name == "nt", reason="Windows refuses these names as well")
@pytest.mark.parametrize("path", ["10:30.log", "dir/ab:c", "aux.c", "con", "dir/a.", "b "])
def test_check_relative_keeps_names_that_are_only_unportable(path: str) -> None:
    """Linux projects use these (the kernel has aux.c): refusing them would refuse their own
    runs. They cannot lead out of the folder on any system, so they pass (except on
    Windows itself, where writing them would go wrong)."""
    assert str(check_relative(path)) == path


@pytest.mark.parametrize(
    "path", ["a\\b", "c:x", "sub/d:evil", "sub\\..\\..\\x", ".g\u200cit/config"]
)
def test_checkout_refuses_a_forged_snapshot_only_gitrack_checks(
    repo: Path, tmp_path: Path, path: str
) -> None:
    """libgit2 on Linux writes these names without complaint: only gitrack's own check on
    the snapshot's paths stands between a forged note and the working tree."""
    run_id = _forge_snapshot(repo, {path: ("100644", "from a forged note\n")})
    before = repo_state(repo)
    around = sorted(os.listdir(tmp_path))

    for extra in ([], ["--worktree", str(tmp_path / "wt")]):
        res = gitrack("checkout", run_id, *extra, cwd=repo)
        assert res.code == 1, res.err
        assert len(res.err_lines) == 1 and "refusing path" in res.err, res.err
        assert repo_state(repo) == before
        assert sorted(os.listdir(tmp_path)) == around
