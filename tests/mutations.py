"""Random working-tree mutations for property tests (hypothesis strategies + applying them).

A base repository holds a few committed files of every kind (text, binary, executable,
symlink, names with spaces and unicode, a subdirectory); a list of operations then
edits, stages, deletes, chmods, links and creates files the way a user does between
commits. Operations that make no sense on the state reached so far (a file inside what
is now a file, ...) are skipped, so every drawn list is valid.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conftest import make_repo
from hypothesis import strategies as st

BASE_FILES: dict[str, str | bytes] = {
    "a.txt": "alpha\nbeta\n",
    "b.txt": "b\n" * 20,
    "dir/c.txt": "c\n",
    "dir/sub/d.bin": bytes(range(256)) + b"\x00\xff" * 8,
    "run.sh": "#!/bin/sh\necho run\n",
    "with space.txt": "spaced\n",
    "ünï 名前.txt": "unicode\n",
}
BASE_EXECUTABLE = ("run.sh",)
BASE_LINKS = {"link": "a.txt", "dir/up": "../b.txt"}
TRACKED = (*BASE_FILES, *BASE_LINKS)
LINK_TARGETS = ("a.txt", "dir", "dir/c.txt", "missing-target", "../outside", "名前")

# Name parts: spaces, unicode, a newline, a leading dash; never "." or "/" (so never .git).
_part = st.text(alphabet="abxyz -_é名\n", min_size=1, max_size=6)
new_path = st.lists(_part, min_size=1, max_size=3).map("/".join)
any_path = st.one_of(st.sampled_from(TRACKED), new_path)
content = st.one_of(st.text(max_size=40).map(str.encode), st.binary(max_size=40))


@dataclass(frozen=True)
class Op:
    kind: str
    path: str
    data: bytes = b""
    flag: bool = False
    target: str = ""

    def __repr__(self) -> str:  # short, for hypothesis' falsifying examples
        extra = {"chmod": f" +x={self.flag}", "symlink": f" -> {self.target!r}"}.get(self.kind, "")
        return f"{self.kind}({self.path!r}{extra})"


operations = st.one_of(
    st.builds(Op, kind=st.just("edit"), path=st.sampled_from(TRACKED), data=content),
    st.builds(Op, kind=st.just("stage_edit"), path=st.sampled_from(TRACKED), data=content),
    st.builds(Op, kind=st.just("delete"), path=st.sampled_from(TRACKED)),
    st.builds(Op, kind=st.just("stage_delete"), path=st.sampled_from(TRACKED)),
    st.builds(Op, kind=st.just("chmod"), path=st.sampled_from(TRACKED), flag=st.booleans()),
    st.builds(Op, kind=st.just("symlink"), path=any_path, target=st.sampled_from(LINK_TARGETS)),
    st.builds(Op, kind=st.just("untracked"), path=new_path, data=content),
    st.builds(Op, kind=st.just("stage_new"), path=new_path, data=content),
    st.builds(Op, kind=st.just("file_to_dir"), path=st.sampled_from(TRACKED), data=content),
    st.builds(Op, kind=st.just("chmod"), path=new_path, flag=st.just(True)),
)
mutation_lists = st.lists(operations, max_size=8)


def make_base_repo(path: Path) -> Path:
    """The base repository: BASE_FILES, an executable, two symlinks, one commit."""
    make_repo(path, BASE_FILES)
    for name in BASE_EXECUTABLE:
        os.chmod(path / name, 0o755)
    for name, target in BASE_LINKS.items():
        os.symlink(target, path / name)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "exec bit and links")
    return path


def apply_ops(root: Path, ops: list[Op]) -> list[Op]:
    """Apply ``ops`` in order; return those that applied (the others made no sense)."""
    done = []
    for op in ops:
        try:
            applied = _apply(root, op)
        except OSError:
            applied = False
        if applied:
            done.append(op)
    return done


def _apply(root: Path, op: Op) -> bool:
    full = root / op.path
    if op.kind in ("edit", "stage_edit", "untracked", "stage_new"):
        if full.is_dir() and not full.is_symlink():
            return False
        full.parent.mkdir(parents=True, exist_ok=True)
        if full.is_symlink():
            full.unlink()  # writing replaces the link itself, not its target
        full.write_bytes(op.data)
        if op.kind.startswith("stage"):
            return _git(root, "add", "--", op.path)
        return True
    if op.kind in ("delete", "stage_delete"):
        if not (full.is_symlink() or full.is_file()):
            return False
        full.unlink()
        if op.kind == "stage_delete":
            return _git(root, "rm", "-q", "--cached", "--ignore-unmatch", "--", op.path)
        return True
    if op.kind == "chmod":
        if full.is_symlink() or not full.is_file():
            return False
        mode = stat.S_IMODE(full.stat().st_mode)
        full.chmod(mode | 0o111 if op.flag else mode & ~0o111)
        return True
    if op.kind == "symlink":
        if full.is_dir() and not full.is_symlink():
            return False
        full.parent.mkdir(parents=True, exist_ok=True)
        if full.is_symlink() or full.exists():
            full.unlink()
        os.symlink(op.target, full)
        return True
    if op.kind == "file_to_dir":
        if full.is_symlink() or full.is_file():
            full.unlink()
        elif full.is_dir():
            shutil.rmtree(full)
        else:
            return False
        full.mkdir(parents=True)
        (full / "inner.txt").write_bytes(op.data)
        return True
    raise AssertionError(op.kind)


def _git(root: Path, *args: str) -> bool:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    return proc.returncode == 0
