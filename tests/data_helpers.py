"""Helpers for the data tests (datasets, outputs, the cache): trees, caches, forged notes.

Kept apart from conftest.py (owned by the core tests). Import with
``from data_helpers import ...``.

- ``tree_state(root)``: every file *and directory* under ``root``: bytes, exec bit, empty
  folders; what a directory restore must reproduce exactly.
- ``make_data_repo(path)``: a repository whose ``.gitignore`` keeps data folders out of git.
- ``cache_objects(cache)``: the hashes stored in a cache folder.
- ``forge_run(repo, edit)``: a copy of the newest run line with ``edit`` applied, written
  into the note with plain ``git notes`` (notes are untrusted input).
- ``reference_file_hash`` / ``reference_dir_hash``: the documented formats, computed here
  independently of gitrack's own code, from xxhash and json directly.
- ``gitrack_unprivileged(*args, repo=...)``: gitrack as a subprocess that permission bits
  stop, root included (mark such tests ``needs_unprivileged``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xxhash
from conftest import git, gitrack, make_repo

XXH128SUM = shutil.which("xxh128sum")
needs_xxh128sum = pytest.mark.skipif(XXH128SUM is None, reason="xxh128sum is not installed")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
UNSHARE = shutil.which("unshare")


def _without_privileges() -> tuple[list[str] | None, str]:
    """How to run a command that permission bits stop, and if there is none, why.

    A normal user: as it is. Root (how CI runs): through setpriv with every capability
    dropped. It stays uid 0 and owner of its files, so the interpreter, HOME and the
    repository stay readable as they are, but without CAP_DAC_OVERRIDE the owner bits
    apply to it as to any user: a file chmod 0 cannot be read.
    """
    if not IS_ROOT:
        return [], ""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None, "running as root without setpriv (util-linux) to drop capabilities"
    prefix = [setpriv, "--bounding-set=-all", "--inh-caps=-all"]
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "unreadable"
        probe.write_bytes(b"")
        probe.chmod(0)
        proc = subprocess.run(
            [*prefix, "sh", "-c", 'test ! -r "$1"', "sh", str(probe)],
            capture_output=True, text=True, check=False, timeout=10,
        )  # fmt: skip
    if proc.returncode != 0:
        return None, f"running as root and setpriv cannot drop capabilities: {proc.stderr.strip()}"
    return prefix, ""


UNPRIVILEGED, _NO_UNPRIVILEGED_WHY = _without_privileges()
needs_unprivileged = pytest.mark.skipif(UNPRIVILEGED is None, reason=_NO_UNPRIVILEGED_WHY)

DATA_IGNORE = "data/\nout/\nbig/\n"

TreeEntry = tuple[str, bytes, bool]  # ("file", bytes, exec) or ("dir", b"", False)


# ------------------------------------------------------------------------- trees
def tree_state(root: str | os.PathLike[str]) -> dict[str, TreeEntry]:
    """path -> ("file", bytes, executable) or ("dir", b"", False) for every folder below.

    Unlike conftest.worktree_state, folders are entries (empty ones must come back) and
    ``.git`` is not special (a dataset folder holds no repository).
    """
    root = Path(root)
    out: dict[str, TreeEntry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames:
            out[(base / name).relative_to(root).as_posix()] = ("dir", b"", False)
        for name in filenames:
            path = base / name
            st = os.lstat(path)
            assert stat.S_ISREG(st.st_mode), f"unexpected non-file {path}"
            out[path.relative_to(root).as_posix()] = (
                "file",
                path.read_bytes(),
                bool(st.st_mode & stat.S_IXUSR),
            )
    return out


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        target.write_bytes(content)


def set_executable(path: Path, executable: bool) -> None:
    mode = path.stat().st_mode
    path.chmod(mode | 0o111 if executable else mode & ~0o111)


def age_files(root: Path, seconds: float = 3600) -> None:
    """Move every mtime (and atime) ``seconds`` into the past (ctime stays now)."""
    then = int((os.stat(root).st_mtime - seconds) * 1e9)
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            os.utime(Path(dirpath) / name, ns=(then, then))


# -------------------------------------------------------------------- repository
def make_data_repo(path: Path, files: dict[str, str | bytes] | None = None) -> Path:
    """A repository with train.py and a .gitignore keeping data/, out/ and big/ out of git."""
    base: dict[str, str | bytes] = {"train.py": "print('training')\n", ".gitignore": DATA_IGNORE}
    base.update(files or {})
    return make_repo(path, base)


def common_dir(repo: Path) -> Path:
    text = git("rev-parse", "--git-common-dir", cwd=repo).strip()
    path = Path(text)
    return path if path.is_absolute() else (repo / path).resolve()


def default_cache(repo: Path) -> Path:
    return common_dir(repo) / "gitrack" / "cache"


def object_path(cache: Path, digest: str) -> Path:
    hexpart = digest.split(":", 1)[1].removesuffix(".dir")
    return cache / "xxh128" / hexpart[:2] / hexpart[2:]


def cache_objects(cache: Path) -> set[str]:
    """``xxh128:<hex>`` of every object file in ``cache`` (no ``.dir`` suffixes)."""
    base = cache / "xxh128"
    if not base.is_dir():
        return set()
    return {f"xxh128:{shard.name}{obj.name}" for shard in base.iterdir() for obj in shard.iterdir()}


def run_gitrack(*args: str, cwd: Path) -> tuple[int, str, str]:
    res = gitrack(*args, cwd=cwd)
    return res.code, res.out, res.err


def record_data(
    repo: Path, *options: str, command: tuple[str, ...] = ("true",), cwd: Path | None = None
) -> str:
    """`gitrack run OPTIONS -- COMMAND` in-process, asserted to record; returns the run id."""
    res = gitrack("run", *options, "--", *command, cwd=cwd or repo)
    lines = res.err_lines
    assert lines and lines[-1].startswith("gitrack: recorded run "), res.err
    return lines[-1].split()[3]


def show(repo: Path, run_id: str) -> dict[str, Any]:
    res = gitrack("show", run_id, "--json", cwd=repo)
    assert res.code == 0, res.err
    data = res.json()
    assert isinstance(data, dict)
    return data


def forge_run(repo: Path, edit: Callable[[dict[str, Any]], None], rev: str = "HEAD") -> str:
    """Append an edited copy of the newest run line on ``rev`` to its note; the new run id.

    As another clone could: plain `git notes add -f`, no gitrack code involved.
    """
    note = git("notes", "--ref=gitrack", "show", rev, cwd=repo)
    lines = [line for line in note.split("\n") if line.strip()]
    data = json.loads(lines[-1])
    data["id"] = secrets.token_hex(8)
    data["started"] = "2099-01-01T00:00:00.000000Z"
    edit(data)
    lines.append(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    git("notes", "--ref=gitrack", "add", "-f", "-F", "-", rev, cwd=repo, input="\n".join(lines))
    return str(data["id"])


# --------------------------------------------------------------- reference hashes
def reference_file_hash(data: bytes) -> str:
    return "xxh128:" + xxhash.xxh3_128_hexdigest(data)


def reference_manifest_bytes(root: Path) -> bytes:
    """The manifest of a folder as its format is documented (gitrack/manifest.py)."""
    files = []
    dirs = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        if base != root and not dirnames and not filenames:
            dirs.append(base.relative_to(root).as_posix())
        for name in filenames:
            path = base / name
            files.append(
                {
                    "path": path.relative_to(root).as_posix(),
                    "size": path.stat().st_size,
                    "exec": bool(path.stat().st_mode & stat.S_IXUSR),
                    "hash": reference_file_hash(path.read_bytes()),
                }
            )
    files.sort(key=lambda f: str(f["path"]))
    doc = {"v": 1, "files": files, "dirs": sorted(dirs)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def reference_dir_hash(root: Path) -> str:
    return reference_file_hash(reference_manifest_bytes(root)) + ".dir"


# ------------------------------------------------------------ without privileges
def gitrack_unprivileged(*args: str, repo: Path) -> subprocess.CompletedProcess[str]:
    """`python -m gitrack ARGS` in ``repo``, permission bits applying (see UNPRIVILEGED)."""
    assert UNPRIVILEGED is not None, "mark the test with needs_unprivileged"
    return subprocess.run(
        [*UNPRIVILEGED, python_exe(), "-m", "gitrack", *args],
        cwd=repo, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


# ------------------------------------------------------------------ namespaces
def userns_available(*flags: str) -> bool:
    """Can this process make a user (and mount) namespace? Needed for two tests only."""
    if UNSHARE is None:
        return False
    proc = subprocess.run(
        [UNSHARE, "--user", *flags, "true"], capture_output=True, check=False, timeout=10
    )
    return proc.returncode == 0


def python_exe() -> str:
    return sys.executable


def fail_the_copy_at(monkeypatch: pytest.MonkeyPatch, failing: int, half: bytes = b"") -> None:
    """The cache's copier fails with an I/O error at its ``failing``-th copy (from 0),
    after writing ``half`` into the file it was writing."""
    from gitrack.data import batch

    calls = iter(range(10**9))
    copy = batch.Copier.copy

    def fail(self: batch.Copier, source: str, fd: int, progress: object) -> str:
        if next(calls) == failing:
            os.write(fd, half)
            raise OSError(5, "Input/output error", source)
        return copy(self, source, fd, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(batch.Copier, "copy", fail)
