"""`gitrack get`, `cat`, `ls-files` and ``get_run(id).open``: an old run's files, verified."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from conftest import chdir, git, gitrack, make_repo, record

PY = sys.executable
WRITE = (
    "import pathlib; pathlib.Path('out').mkdir(exist_ok=True); "
    "pathlib.Path('out/model.bin').write_bytes(b'weights v1')"
)


def _old_run(tmp_path: Path) -> tuple[Path, str]:
    root = make_repo(
        tmp_path / "repo", {"train.py": "print('v1')\n", ".gitignore": "data/\nout/\n"}
    )
    (root / "data" / "images").mkdir(parents=True)
    (root / "data" / "train.csv").write_text("x\n1\n")
    (root / "data" / "images" / "a.txt").write_text("image a\n")
    (root / "train.py").write_text("print('edited')\n")  # uncommitted
    run_id = record(
        PY,
        "-c",
        WRITE,
        cwd=root,
        options=("-d", "data/train.csv", "-d", "data/images", "-o", "out/model.bin"),
    )
    # Everything moves on afterwards.
    (root / "data" / "train.csv").write_text("x\n2\n3\n")
    (root / "data" / "images" / "a.txt").write_text("image a, cropped\n")
    (root / "out" / "model.bin").write_bytes(b"weights v2")
    git("checkout", "--", "train.py", cwd=root)
    return root, run_id


def test_get_and_cat_a_dataset_an_output_and_a_code_file_of_an_old_run(tmp_path: Path) -> None:
    root, run_id = _old_run(tmp_path)
    cases = {
        "data/train.csv": b"x\n1\n",
        "data/images/a.txt": b"image a\n",
        "out/model.bin": b"weights v1",
        "train.py": b"print('edited')\n",
    }
    for number, (path, content) in enumerate(cases.items()):
        dest = tmp_path / f"got-{number}"
        res = gitrack("get", run_id, path, "-o", str(dest), cwd=root)
        assert res.code == 0, res.err
        assert dest.read_bytes() == content, path
        assert "verified" in res.err
    res = gitrack("cat", run_id, "data/images/a.txt", cwd=root)
    assert res.code == 0 and res.out == "image a\n"
    # Default destination: the file's name, here; an existing file is not replaced.
    here = root / "elsewhere"
    here.mkdir()
    assert gitrack("get", run_id, "out/model.bin", cwd=here).code == 0
    assert (here / "model.bin").read_bytes() == b"weights v1"
    nowhere = gitrack("get", run_id, "train.py", "-o", str(here / "no" / "t.py"), cwd=here)
    assert nowhere.code == 1 and "does not exist" in nowhere.err
    again = gitrack("get", run_id, "out/model.bin", cwd=here)
    assert again.code == 1 and "--force" in again.err
    # The working tree is as it was.
    assert (root / "train.py").read_text() == "print('v1')\n"
    assert (root / "out" / "model.bin").read_bytes() == b"weights v2"


def test_ls_files_lists_changed_code_datasets_and_outputs_with_sizes(tmp_path: Path) -> None:
    root, run_id = _old_run(tmp_path)
    res = gitrack("ls-files", run_id, "--json", cwd=root)
    assert res.code == 0, res.err
    got = {(f["path"], f["kind"], f["size"]) for f in res.json()}
    assert got == {
        ("train.py", "code", 16),
        ("data/train.csv", "dataset", 4),
        ("data/images/a.txt", "dataset", 8),
        ("out/model.bin", "output", 10),
    }
    every = gitrack("ls-files", run_id, "--all", cwd=root)
    assert ".gitignore" in every.out and "out/model.bin" in every.out


def test_a_corrupt_cache_object_is_refused(tmp_path: Path) -> None:
    root, run_id = _old_run(tmp_path)
    objects = [p for p in (root / ".git" / "gitrack" / "cache").rglob("*") if p.is_file()]
    for obj in objects:
        if obj.read_bytes() == b"weights v1":
            os.chmod(obj, 0o644)
            obj.write_bytes(b"weights v9")
    res = gitrack("cat", run_id, "out/model.bin", cwd=root)
    assert res.code == 1 and "corrupt" in res.err and res.out == ""
    res = gitrack("get", run_id, "out/model.bin", "-o", str(tmp_path / "m"), cwd=root)
    assert res.code == 1 and "corrupt" in res.err and not (tmp_path / "m").exists()


def test_unknown_and_escaping_paths_are_refused(tmp_path: Path) -> None:
    root, run_id = _old_run(tmp_path)
    res = gitrack("cat", run_id, "nope.txt", cwd=root)
    assert res.code == 1 and "has no file 'nope.txt'" in res.err
    assert gitrack("cat", run_id, "../etc/passwd", cwd=root).code == 1
    res = gitrack("cat", run_id, "data/images", cwd=root)
    assert res.code == 1 and "is a folder" in res.err


def test_the_api_opens_a_file_of_a_recorded_run(tmp_path: Path) -> None:
    import gitrack as api

    root, run_id = _old_run(tmp_path)
    with chdir(root), api.get_run(run_id[:8]).open("data/train.csv") as fh:
        assert fh.read() == b"x\n1\n"
