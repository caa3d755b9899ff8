"""The parsed-notes cache: a speed-up that can never change what `gitrack ls` says."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest
from conftest import git, gitrack, record

from gitrack.tracking.notecache import _KEY


def cache_file(repo: Path) -> Path:
    return repo / ".git" / "gitrack" / "notes.cache"


def ls_json(repo: Path) -> str:
    res = gitrack("ls", "--json", cwd=repo)
    assert res.code == 0, res.err
    return res.out


def test_warm_cache_lists_exactly_what_a_cold_one_does(repo: Path) -> None:
    ids = {record("true", cwd=repo, options=("-p", f"i={i}")) for i in range(3)}
    cold = ls_json(repo)
    assert cache_file(repo).is_file()
    warm = ls_json(repo)
    assert warm == cold
    cache_file(repo).unlink()
    assert ls_json(repo) == cold
    assert ids <= set(cold.replace('"', " ").split())


def test_a_new_run_shows_up_through_the_cache(repo: Path) -> None:
    first = record("true", cwd=repo)
    ls_json(repo)
    second = record("false", cwd=repo)  # same commit: its note blob changes
    out = ls_json(repo)
    assert first in out and second in out


def test_notes_that_are_gone_leave_the_cache(repo: Path) -> None:
    record("true", cwd=repo)
    ls_json(repo)
    git("notes", "--ref=gitrack", "remove", "HEAD", cwd=repo)
    assert gitrack("ls", "--json", cwd=repo).out.strip() == "[]"
    _key, entries = marshal.loads(cache_file(repo).read_bytes())
    assert entries == {}


@pytest.mark.parametrize(
    "damage",
    [
        b"not marshal at all",
        marshal.dumps(("another version", {})),
        marshal.dumps((_KEY, {"0" * 40: [("run",)]})),  # right key, wrong shape
        marshal.dumps((_KEY, "not a dict")),
    ],
    ids=["garbage", "old-version", "bad-items", "bad-table"],
)
def test_a_damaged_cache_is_ignored_and_rewritten(repo: Path, damage: bytes) -> None:
    run_id = record("true", cwd=repo)
    expected = ls_json(repo)
    blob = git("notes", "--ref=gitrack", "list", "HEAD", cwd=repo).strip()
    if b"0" * 40 in damage:
        damage = damage.replace(b"0" * 40, blob.encode())
    cache_file(repo).write_bytes(damage)
    assert ls_json(repo) == expected
    assert run_id in ls_json(repo)


# ------------------------------------------------- keyed by the notes commit (issue 16 §3)
def _spy_on_tree_walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from gitrack.git.notes import Notes

    walks: list[str] = []
    real = Notes.blobs

    def counting(self: Notes, refname: str) -> list[tuple[str, str]]:
        walks.append(refname)
        return real(self, refname)

    monkeypatch.setattr(Notes, "blobs", counting)
    return walks


def test_an_unchanged_notes_ref_is_not_walked_again(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record("true", cwd=repo)
    walks = _spy_on_tree_walks(monkeypatch)
    first = ls_json(repo)
    assert walks  # the first listing walks the notes tree
    walks.clear()
    assert ls_json(repo) == first
    assert walks == []


def test_a_moved_notes_ref_is_diffed_not_walked(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New runs, a removed note, a re-fanned tree: the diffed table is what a cold
    listing sees."""
    first = record("true", cwd=repo)
    git("commit", "--allow-empty", "-qm", "second", cwd=repo)
    second = record("true", cwd=repo)
    walks = _spy_on_tree_walks(monkeypatch)
    ls_json(repo)
    walks.clear()
    third = record("false", cwd=repo)  # a new line on HEAD's note
    git("notes", "--ref=gitrack", "remove", "HEAD~1", cwd=repo)  # the first run's note
    warm = ls_json(repo)
    assert walks == []
    assert first not in warm and second in warm and third in warm
    cache_file(repo).unlink()
    cache_file(repo).with_name("notes.index").unlink()
    assert ls_json(repo) == warm


def test_a_few_runs_listed_do_not_read_the_big_cache(repo: Path) -> None:
    ids = [record("true", cwd=repo, options=("-p", f"i={i}")) for i in range(3)]
    everything = ls_json(repo)
    big = cache_file(repo)
    big.write_bytes(b"unreadable now")  # a listing of one run must not need it
    res = gitrack("ls", "-n", "1", "--json", cwd=repo)
    assert res.code == 0 and ids[-1] in res.out and ids[0] not in res.out, res.err
    assert big.read_bytes() == b"unreadable now"  # neither read nor rewritten
    assert ls_json(repo) == everything
