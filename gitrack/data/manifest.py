"""A directory's manifest: what a directory dataset holds, file by file.

Canonical JSON (keys sorted, no spaces, UTF-8), so the same directory always gives the
same bytes and so the same hash::

    {"dirs":["empty/sub"],"files":[{"exec":false,"hash":"xxh128:…","path":"a.csv",
     "size":12}],"v":1}

``files`` is sorted by path; ``dirs`` lists empty sub-folders. The directory's hash is
``xxh128:<xxh128 of these bytes>.dir``. See docs/format.md.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from gitrack import jsonsafe
from gitrack.data import hashing
from gitrack.paths import check_relative_name

VERSION = 1


@dataclass(frozen=True, slots=True)  # one per file of a dataset (10^5): no __dict__
class FileEntry:
    path: str  # relative to the directory, POSIX separators
    size: int
    executable: bool
    hash: str


@dataclass(frozen=True)
class Manifest:
    files: tuple[FileEntry, ...]
    empty_dirs: tuple[str, ...] = ()

    def to_bytes(self) -> bytes:
        return self._bytes

    @functools.cached_property
    def _bytes(self) -> bytes:
        """Encoded once (hashed, then stored), file by file: what ``json.dumps`` with sorted
        keys, no spaces and UTF-8 gives, without a dict per file (10^5 files: 10^5 dicts)."""
        string = json.JSONEncoder(ensure_ascii=False).encode
        files = ",".join(
            f'{{"exec":{"true" if f.executable else "false"},"hash":{string(f.hash)},'
            f'"path":{string(f.path)},"size":{int(f.size)}}}'
            for f in sorted(self.files, key=lambda f: f.path)
        )
        dirs = ",".join(string(d) for d in sorted(self.empty_dirs))
        return f'{{"dirs":[{dirs}],"files":[{files}],"v":{VERSION}}}'.encode()

    def digest(self) -> str:
        return hashing.hash_bytes(self.to_bytes()) + hashing.DIR_SUFFIX

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse and validate (manifests are untrusted: they may come from a remote)."""
        try:
            raw = jsonsafe.loads(data.decode("utf-8"), max_chars=None)  # big folders: big
            files = tuple(
                FileEntry(str(f["path"]), int(f["size"]), bool(f["exec"]), str(f["hash"]))
                for f in raw["files"]
            )
            dirs = tuple(str(d) for d in raw.get("dirs", []))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a gitrack manifest: {exc}") from exc
        for entry in files:
            check_relative_name(entry.path)
            if not hashing.is_valid(entry.hash) or hashing.is_dir_hash(entry.hash):
                raise ValueError(f"bad hash in manifest: {entry.hash!r}")
        for folder in dirs:
            check_relative_name(folder)
        return cls(files, dirs)
