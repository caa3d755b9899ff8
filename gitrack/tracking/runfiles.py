"""A run's files without checking it out: its code (from the snapshot), its datasets,
outputs and big untracked files (from the cache), each read back verified.

A path names, first, a dataset, output or big file of the run (or a file inside a folder
one, through its manifest), then a file of the run's snapshot. Paths come from the user
and the manifests and notes from other clones: every one is checked (no absolute path,
no ``..``) before it is looked up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gitrack.config import RemoteSettings
from gitrack.data import hashing
from gitrack.data.manifest import Manifest
from gitrack.data.odb import CacheError
from gitrack.data.store import DataStore
from gitrack.errors import CorruptRecordError, GitrackError
from gitrack.git import Repo
from gitrack.paths import check_relative, write_atomically
from gitrack.tracking.history import Run

CHUNK = 1 << 20
_GITLINK = 0o160000  # a submodule's commit: no file of this repository
_EXECUTABLE = 0o100755


@dataclass(frozen=True)
class RunFile:
    path: str  # relative to the repository root
    kind: str  # code | dataset | output | large file
    size: int | None  # None: not in the local cache (fetch it to know)
    digest: str  # xxh128:… for data, the git blob id for code
    executable: bool = False


class RunFiles:
    """The files of one run, read from git and the data cache (the team's on demand)."""

    def __init__(
        self, repo: Repo, store: DataStore, run: Run, remote: RemoteSettings | None = None
    ) -> None:
        self.repo = repo
        self.store = store
        self.run = run
        self.remote = remote

    # ------------------------------------------------------------------ listing
    def data_items(self) -> list[tuple[str, str, str]]:
        """(path, hash, kind) of every data path the run recorded, checked."""
        rec = self.run.record
        items = []
        for kind, mapping in (
            ("dataset", rec.datasets),
            ("output", rec.outputs),
            ("large file", rec.large_files),
        ):
            for path, digest in sorted(mapping.items()):
                _check(self.run, path, digest)
                items.append((path, digest, kind))
        return items

    def listing(self, all_code: bool = False) -> list[RunFile]:
        """Code files that differ from the run's commit (or all with ``all_code``), then
        every data file, folders expanded when their manifest is at hand."""
        out = [f for f in self._code_files() if all_code or f.kind == "code changed"]
        out = [RunFile(f.path, "code", f.size, f.digest, f.executable) for f in out]
        for path, digest, kind in self.data_items():
            if not hashing.is_dir_hash(digest):
                out.append(RunFile(path, kind, self._object_size(digest), digest))
                continue
            manifest = self._manifest(digest, fetch=False)
            if manifest is None:
                out.append(RunFile(path + "/", kind, None, digest))
                continue
            out.extend(
                RunFile(f"{path}/{e.path}", kind, e.size, e.hash, e.executable)
                for e in manifest.files
            )
        return out

    def _code_files(self) -> list[RunFile]:
        snapshot_tree = self._snapshot_tree()
        base_tree = self.repo.commit_info(self.run.record.base_commit).tree
        changed = {
            c.path
            for c in self.repo.tree_changes(base_tree, snapshot_tree)
            if c.status != "deleted"
        }
        files = []
        for path, (blob, mode) in sorted(self.repo.tree_files(snapshot_tree).items()):
            if mode == _GITLINK:
                continue
            size = len(self.repo.read_blob(blob)) if path in changed else None
            kind = "code changed" if path in changed else "code"
            files.append(RunFile(path, kind, size, blob, mode == _EXECUTABLE))
        return files

    # ------------------------------------------------------------------ reading
    def locate(self, path: str) -> RunFile:
        """Which file of the run ``path`` names; raises naming the fix when none."""
        wanted = check_relative(path.strip("/")).as_posix()
        for item, digest, kind in self.data_items():
            if wanted == item:
                if hashing.is_dir_hash(digest):
                    raise GitrackError(
                        f"{wanted!r} is a folder of run {self.run.id}: name a file in it "
                        f"(gitrack ls-files {self.run.id[:8]})"
                    )
                return RunFile(item, kind, None, digest)
            if wanted.startswith(item + "/") and hashing.is_dir_hash(digest):
                manifest = self._manifest(digest, fetch=True)
                assert manifest is not None
                inner = wanted[len(item) + 1 :]
                for entry in manifest.files:
                    if entry.path == inner:
                        return RunFile(wanted, kind, entry.size, entry.hash, entry.executable)
        found = self.repo.tree_files(self._snapshot_tree()).get(wanted)
        if found is not None and found[1] != _GITLINK:
            blob, mode = found
            return RunFile(wanted, "code", None, blob, mode == _EXECUTABLE)
        raise GitrackError(
            f"run {self.run.id} has no file {wanted!r} (its files: gitrack ls-files "
            f"{self.run.id[:8]} --all)"
        )

    def write(self, path: str, dest: Path) -> RunFile:
        """The file at ``dest``, written atomically and verified (by hash, or by git)."""
        found = self.locate(path)
        if found.kind == "code":
            data = self.repo.read_blob(found.digest)  # git checks it against its id
            write_atomically(dest, data, mode=0o755 if found.executable else 0o644)
        else:
            self._ensure(found.digest)
            self.store.cache.restore_to(found.digest, dest, found.executable)
        return found

    def open(self, path: str) -> BinaryIO:
        """The file's bytes as a binary stream, verified before the first byte is read."""
        found = self.locate(path)
        if found.kind == "code":
            import io

            return io.BytesIO(self.repo.read_blob(found.digest))
        return self._verified_object(found.digest).open("rb")

    # ------------------------------------------------------------------ helpers
    def _snapshot_tree(self) -> str:
        rec = self.run.record
        if not self.repo.has_object(rec.snapshot):
            raise CorruptRecordError(
                f"run {self.run.id}: its snapshot {rec.snapshot[:12]} is not in this "
                "repository; fetch gitrack's refs (gitrack pull)"
            )
        return self.repo.commit_info(rec.snapshot).tree

    def _object_size(self, digest: str) -> int | None:
        if not self.store.cache.exists(digest):  # unfinished objects too (odb.is_complete)
            return None
        return self.store.cache.path_for(digest).stat().st_size

    def _manifest(self, digest: str, fetch: bool) -> Manifest | None:
        if fetch:
            self._ensure(digest)
        elif not self.store.cache.exists(digest):
            return None
        try:
            return Manifest.from_bytes(self.store.cache.read_verified(digest))
        except ValueError as exc:
            raise CacheError(f"the manifest {digest} in the cache is unreadable: {exc}") from exc

    def _ensure(self, digest: str) -> None:
        """The object in the local cache, fetched (verified) from the team's if missing."""
        if self.store.cache.exists(digest) or self.remote is None:
            return
        from gitrack.data.remote import RemoteCache
        from gitrack.tracking.sync import fetch_objects

        fetched = fetch_objects(self.store, RemoteCache(self.remote, self.repo.root), [digest])
        if fetched.corrupt:
            raise CacheError(fetched.corrupt[0].message)

    def _verified_object(self, digest: str) -> Path:
        self._ensure(digest)
        path = self.store.cache.path_for(digest)
        if not self.store.cache.exists(digest):
            self.store.cache.read_verified(digest)  # raises, naming the missing object
        if hashing.hash_file(path) != digest:
            raise CacheError(f"cache object {path} is corrupt (its hash is not {digest})")
        return path


def _check(run: Run, path: str, digest: str) -> None:
    try:
        check_relative(path)
    except GitrackError as exc:
        raise CorruptRecordError(f"run {run.id}: {exc}") from exc
    if not hashing.is_valid(digest):
        raise CorruptRecordError(f"run {run.id}: {path!r} has no valid hash ({digest!r})")
