"""The team's data cache in object storage (S3, GCS, HDFS) or a shared folder, via pyarrow.fs.

Same layout as the local cache (``<prefix>/xxh128/ab/<30 hex>``). Uploads go to a
temporary name and are moved into place only when complete, so an interrupted upload
never leaves anything that looks like an object; every download is verified by hash
before it enters the local cache. pyarrow is imported only here, only when needed.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gitrack.config import RemoteSettings
from gitrack.data import hashing
from gitrack.data.odb import Cache, CacheError
from gitrack.errors import GitrackError

TRANSFER_WORKERS = 8


class RemoteError(GitrackError):
    """The remote cache cannot be reached or used; the message says how to fix it."""


@dataclass(frozen=True)
class Transfer:
    count: int
    bytes: int
    missing: tuple[str, ...] = ()  # asked for, but the remote does not have them


class RemoteCache:
    def __init__(self, settings: RemoteSettings, root: Path) -> None:
        self.url = settings.url
        self._fs, self._base = _filesystem(settings, root)
        self._local = urlparse(settings.url).scheme in ("", "file")
        self._checked = False

    def _check_root(self) -> None:
        """A missing bucket or folder is an error, not a cache that happens to be empty."""
        if self._checked:
            return
        from pyarrow.fs import FileType

        root = self._base if self._local else self._base.split("/", 1)[0]
        info = self._call(lambda: self._fs.get_file_info(root))
        if info.type == FileType.NotFound:
            if self._local:
                self._call(lambda: self._fs.create_dir(root, recursive=True))
            else:
                raise RemoteError(
                    f"remote cache {self.url}: bucket {root!r} does not exist; create it or "
                    "fix [remote] url in the config"
                )
        elif info.type != FileType.Directory:
            raise RemoteError(f"remote cache {self.url}: {root} is not a folder or bucket")
        self._checked = True

    def path_for(self, digest: str) -> str:
        if not hashing.is_valid(digest):  # hashes come from notes: never a path of their own
            raise RemoteError(f"{digest!r} is not an xxh128 hash")
        hexpart = hashing.hex_of(digest)
        return f"{self._base}/{hashing.ALGORITHM}/{hexpart[:2]}/{hexpart[2:]}"

    def missing(self, hashes: Iterable[str]) -> list[str]:
        """Which of ``hashes`` the remote does not hold."""
        from pyarrow.fs import FileType

        wanted = sorted(set(hashes))
        if not wanted:
            return []
        self._check_root()
        infos = self._call(lambda: self._fs.get_file_info([self.path_for(h) for h in wanted]))
        return [h for h, info in zip(wanted, infos, strict=True) if info.type != FileType.File]

    def upload(self, cache: Cache, hashes: Iterable[str]) -> Transfer:
        todo = [h for h in self.missing(hashes) if cache.exists(h)]
        sizes = list(_parallel(lambda h: self._upload_one(cache, h), todo))
        return Transfer(len(todo), sum(sizes))

    def download(self, cache: Cache, hashes: Iterable[str]) -> Transfer:
        wanted = sorted({h for h in hashes if not cache.freshen(h)})  # present: now in use
        absent = set(self.missing(wanted))
        todo = [h for h in wanted if h not in absent]
        sizes = list(_parallel(lambda h: self._download_one(cache, h), todo))
        return Transfer(len(todo), sum(sizes), tuple(sorted(absent)))

    def _upload_one(self, cache: Cache, digest: str) -> int:
        final = self.path_for(digest)
        temp = f"{final}.incoming-{secrets.token_hex(6)}"
        source = cache.path_for(digest)

        def send() -> int:
            self._fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
            with open(source, "rb") as src, self._fs.open_output_stream(temp) as out:
                actual = hashing.copy_stream(src, out)
            if actual != hashing.PREFIX + hashing.hex_of(digest):
                self._fs.delete_file(temp)
                raise CacheError(f"local cache object {source} is corrupt; not uploaded")
            self._fs.move(temp, final)  # complete objects only appear under their name
            return source.stat().st_size

        try:
            return int(self._call(send))
        except BaseException:
            self._try_delete(temp)
            raise

    def _download_one(self, cache: Cache, digest: str) -> int:
        path = self.path_for(digest)

        def fetch() -> int:
            with self._fs.open_input_stream(path) as stream:
                return cache.add_stream(stream, digest)

        try:
            return int(self._call(fetch))
        except CacheError as exc:
            raise RemoteError(f"remote object {path} failed verification: {exc}") from exc

    def _try_delete(self, path: str) -> None:
        with contextlib.suppress(Exception):  # cleanup of a temp name: best effort
            self._fs.delete_file(path)

    def _call(self, action: Any) -> Any:
        """Run a pyarrow call; turn its errors into one line that names the remote."""
        import pyarrow as pa

        try:
            return action()
        except FileNotFoundError as exc:
            raise RemoteError(
                f"remote cache {self.url}: not found ({_first_line(exc)}); check the bucket "
                "or folder exists"
            ) from exc
        except (OSError, pa.ArrowException) as exc:
            raise RemoteError(
                f"remote cache {self.url}: {_first_line(exc)} (check the url, endpoint, "
                "network and credentials)"
            ) from exc


def _filesystem(settings: RemoteSettings, root: Path) -> tuple[Any, str]:
    import pyarrow.fs as pafs

    url = settings.url
    parsed = urlparse(url)
    try:
        if parsed.scheme in ("", "file"):
            folder = Path(parsed.path if parsed.scheme == "file" else url).expanduser()
            folder = folder if folder.is_absolute() else root / folder
            return pafs.LocalFileSystem(), str(folder.resolve())
        if parsed.scheme == "s3":
            options: dict[str, Any] = {
                "region": settings.region,
                "anonymous": settings.anonymous,
                "connect_timeout": 5,
                "request_timeout": 60,
                "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=2),
            }
            if settings.endpoint:
                endpoint = urlparse(settings.endpoint)
                options["endpoint_override"] = endpoint.netloc or settings.endpoint
                options["scheme"] = endpoint.scheme or "https"
            bucket_path = (parsed.netloc + parsed.path).rstrip("/")
            return pafs.S3FileSystem(**options), bucket_path
        fs, path = pafs.FileSystem.from_uri(url)
        return fs, path.rstrip("/")
    except (OSError, ValueError, TypeError) as exc:
        raise RemoteError(f"cannot open remote cache {url}: {_first_line(exc)}") from exc


def _parallel(action: Any, items: list[str]) -> Iterable[int]:
    if len(items) <= 1:
        return [action(item) for item in items]
    with ThreadPoolExecutor(min(TRANSFER_WORKERS, len(items))) as pool:
        return list(pool.map(action, items))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
