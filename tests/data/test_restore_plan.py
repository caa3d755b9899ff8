"""gitrack/data/restore.py: a data restore is planned (reading only), then applied.

The plan checks every path and decides per file; nothing is written until the whole plan
is made. Applying keeps a copy of what it replaces, plans again a path that changed in
between (the code checkout runs between the two), and re-hashes every restored path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import git, gitrack, gitrack_proc
from data_helpers import (
    make_data_repo,
    object_path,
    record_data,
    reference_file_hash,
    set_executable,
    tree_state,
    write_files,
)

from gitrack.data.odb import Cache, CacheError
from gitrack.data.restore import apply_restore, plan_restore
from gitrack.data.state import StatCache
from gitrack.data.store import DataStore
from gitrack.paths import UnsafePathError

FOLDER: dict[str, str | bytes] = {
    "set/a.csv": "a\n",
    "set/b.csv": "b\n",
    "set/sub/c.csv": "c\n",
    "set/tool.sh": "#!/bin/sh\n",
}


def _store(tmp_path: Path) -> DataStore:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    return DataStore(root, Cache(tmp_path / "cache"), StatCache(tmp_path / "state.sqlite"))


def _recorded(store: DataStore, rel: str) -> str:
    """Hash ``rel`` and keep it in the cache, as `gitrack run -d` does."""
    state = store.hasher.hash_path(rel)
    store.store(state)
    return state.hash


@pytest.fixture
def folder(tmp_path: Path) -> tuple[DataStore, str]:
    """A store whose root holds the folder ``set`` (an empty sub-folder, a tool), recorded."""
    store = _store(tmp_path)
    write_files(store.root, FOLDER)
    set_executable(store.root / "set/tool.sh", True)
    (store.root / "set/empty").mkdir()
    return store, _recorded(store, "set")


def _mutate(root: Path) -> None:
    (root / "set/a.csv").write_text("changed\n")  # other bytes
    set_executable(root / "set/tool.sh", False)  # same bytes, other exec bit
    (root / "set/sub/c.csv").unlink()  # gone
    (root / "set/extra.csv").write_text("not in the run\n")  # not in the record
    (root / "set/empty").rmdir()  # a recorded empty folder, gone


# ------------------------------------------------------------------ planning
def test_a_path_already_right_needs_nothing(folder: tuple[DataStore, str]) -> None:
    store, digest = folder
    plan = plan_restore(store, {"set": digest})
    assert plan.paths[0].up_to_date
    assert plan.paths[0].writes == [] and plan.missing == []


def test_the_plan_decides_per_file_and_writes_nothing(folder: tuple[DataStore, str]) -> None:
    store, digest = folder
    _mutate(store.root)
    before = tree_state(store.root)
    plan = plan_restore(store, {"set": digest})
    assert tree_state(store.root) == before
    (path,) = plan.paths
    assert not path.up_to_date
    assert [w.name for w in path.writes] == ["set/a.csv", "set/sub/c.csv", "set/tool.sh"]
    assert path.remove == [store.root / "set/extra.csv"]
    assert path.empty_dirs == ["empty"]
    assert plan.missing == []


def test_the_plan_lists_only_the_objects_it_needs(folder: tuple[DataStore, str]) -> None:
    """b.csv is in place (not needed); tool.sh's bytes are in place (its copy, kept before
    the exec bit is fixed, supplies the object); a.csv's bytes are not: missing."""
    store, digest = folder
    _mutate(store.root)
    for data in (b"a\n", b"b\n", b"#!/bin/sh\n"):
        object_path(store.cache.root, reference_file_hash(data)).unlink()
    plan = plan_restore(store, {"set": digest})
    assert plan.missing == [("set/a.csv", reference_file_hash(b"a\n"))]
    with pytest.raises(CacheError, match=r"cannot restore 'set/a.csv': object .* not in the cache"):
        apply_restore(store, plan)
    assert (store.root / "set/a.csv").read_text() == "changed\n"  # nothing was written


def test_a_folder_without_its_manifest_is_missing_by_its_own_hash(
    folder: tuple[DataStore, str],
) -> None:
    store, digest = folder
    shutil.rmtree(store.root / "set")
    object_path(store.cache.root, digest).unlink()
    assert plan_restore(store, {"set": digest}).missing == [("set", digest)]


def test_a_link_inside_the_folder_is_refused_before_anything_is_written(
    folder: tuple[DataStore, str],
) -> None:
    store, digest = folder
    _mutate(store.root)
    (store.root / "set/b.csv").unlink()
    os.symlink("a.csv", store.root / "set/b.csv")  # other bytes: the write would follow it
    with pytest.raises(UnsafePathError, match=r"set/b\.csv.*symlink"):
        plan_restore(store, {"set": digest})
    assert (store.root / "set/extra.csv").exists()  # nothing removed
    assert (store.root / "set/a.csv").read_text() == "changed\n"


# ------------------------------------------------------------------ applying
def test_apply_restores_exactly_and_keeps_what_it_replaces(
    folder: tuple[DataStore, str], tmp_path: Path
) -> None:
    store, digest = folder
    write_files(tmp_path / "expected", FOLDER)
    set_executable(tmp_path / "expected/set/tool.sh", True)
    (tmp_path / "expected/set/empty").mkdir()
    _mutate(store.root)
    written = apply_restore(store, plan_restore(store, {"set": digest}))
    assert written == 3
    assert tree_state(store.root) == tree_state(tmp_path / "expected")
    kept = dict(store.preserved)
    assert kept == {
        "set/extra.csv": reference_file_hash(b"not in the run\n"),
        "set/a.csv": reference_file_hash(b"changed\n"),
        "set/tool.sh": reference_file_hash(b"#!/bin/sh\n"),
    }
    assert all(store.cache.exists(h) for h in kept.values())


def test_apply_plans_again_a_path_that_changed_since_it_was_planned(
    folder: tuple[DataStore, str],
) -> None:
    """The code checkout runs between plan and apply and may write or remove data files
    git tracks: the plan of that path is stale, and applying it as planned would leave
    the path wrong (here: 'already right', then removed)."""
    store, digest = folder
    plan = plan_restore(store, {"set": digest})
    assert plan.paths[0].up_to_date
    (store.root / "set/b.csv").unlink()
    assert apply_restore(store, plan) == 1
    assert (store.root / "set/b.csv").read_text() == "b\n"


# --------------------------------------------------------------- through the CLI
@pytest.fixture
def drepo(tmp_path: Path) -> Path:
    repo = make_data_repo(tmp_path / "repo")
    write_files(repo, {"data/set/a.csv": "a\n", "data/set/b.csv": "b\n"})
    return repo


def test_checkout_refuses_a_link_in_a_dataset_before_the_code_changes(drepo: Path) -> None:
    """A link inside the folder, to other bytes, where a recorded file goes: refused.
    It used to be refused only on reaching that file, after the code was checked out
    and the files before it written."""
    run_id = record_data(drepo, "-d", "data/set")
    write_files(drepo, {"train.py": "print('edited')\n"})
    git("commit", "-q", "-am", "later", cwd=drepo)
    (drepo / "data/set/a.csv").write_text("changed\n")
    (drepo / "data/set/b.csv").unlink()
    os.symlink("a.csv", drepo / "data/set/b.csv")
    res = gitrack("checkout", run_id, cwd=drepo)
    assert res.code == 1
    assert "refusing path 'data/set/b.csv'" in res.err and "symlink" in res.err, res.err
    assert "the code was restored" not in res.err
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=drepo).strip() == "main"
    assert (drepo / "data/set/a.csv").read_text() == "changed\n"


def test_checkout_restores_a_dataset_file_the_code_checkout_removed(drepo: Path) -> None:
    """The dataset is right when the restore is planned; going back to the run's commit
    then removes it, because a later commit tracks it (`git add -f`). The data restore
    must see that and write it back."""
    run_id = record_data(drepo, "-d", "data/set")
    git("add", "-f", "data/set/b.csv", cwd=drepo)
    git("commit", "-q", "-m", "track b.csv", cwd=drepo)
    res = gitrack("checkout", run_id, cwd=drepo)
    assert res.code == 0, res.err
    assert (drepo / "data/set/b.csv").read_text() == "b\n"
    assert "replaced or removed" not in res.out + res.err


def test_a_file_where_a_folder_above_the_dataset_goes_is_kept_then_replaced(
    drepo: Path,
) -> None:
    """`data/deep/set` recorded as a folder; now `data/deep` is a file. The restore made
    the folder with mkdir(parents=True) and crashed on the file in its way."""
    write_files(drepo, {"data/deep/set/a.csv": "a\n"})
    run_id = record_data(drepo, "-d", "data/deep/set")
    shutil.rmtree(drepo / "data/deep")
    (drepo / "data/deep").write_text("a file where a folder goes\n")
    res = gitrack("checkout", run_id, cwd=drepo)
    assert res.code == 0, res.err
    assert (drepo / "data/deep/set/a.csv").read_text() == "a\n"
    assert "(data/deep)" in res.out + res.err  # named: a copy is in the cache


def test_checkout_fails_when_a_recorded_empty_folder_holds_a_dangling_link(
    drepo: Path,
) -> None:
    """Issue 18 #3. The walk skips a broken symlink, so no plan step sees it: only the
    final hash after the restore does. Without it the checkout said 'verified exact'."""
    (drepo / "data/set/empty").mkdir()
    run_id = record_data(drepo, "-d", "data/set")
    os.symlink("nowhere", drepo / "data/set/empty/dangling")
    res = gitrack_proc("checkout", run_id, cwd=drepo)
    assert res.code != 0, res.out + res.err
    assert "verified exact" not in res.out
    assert "differs from the recorded run: data/set" in res.err, res.err
