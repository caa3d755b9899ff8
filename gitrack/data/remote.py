"""The team's data cache in object storage (S3, GCS, HDFS) or a shared folder, via pyarrow.fs.

Same layout as the local cache (``<prefix>/xxh128/ab/<30 hex>``). An interrupted upload
never leaves anything that looks like an object: an object of S3 up to ``WHOLE_PUT_MAX``
is read and verified in memory, then sent in one PUT, which S3 publishes whole or not at
all (one request per object: small files are what datasets have many of); anything else
goes to a temporary name and is moved into place only when complete. Every download is
verified by hash before it enters the local cache. pyarrow is imported only here, only
when needed.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from gitrack.config import RemoteSettings
from gitrack.data import hashing
from gitrack.data.odb import Cache, CacheError, HashMismatchError
from gitrack.errors import GitrackError

TRANSFER_WORKERS = 8
WHOLE_PUT_MAX = 4 << 20  # under pyarrow's multipart part size: one PutObject request
CONFIRM_EVERY = 256  # uploads told to the caller (the push's record) per bunch
INFO_BATCH = 64  # objects looked up per get_file_info call
ATTEMPTS = 2  # per call: one retry, within the configured time-out
# What pyarrow's clients say when a call ran out of time (curl 28, google-cloud-cpp).
_TIMED_OUT = ("curlCode: 28", "CURL error [28]", "Timeout was reached", "DEADLINE_EXCEEDED")
# ... and when nothing answered at all (refused, no route, no name, no OAuth token).
_UNREACHABLE = ("curlCode: 6", "curlCode: 7", "CURL error [6]", "CURL error [7]", "UNAVAILABLE")


class RemoteError(GitrackError):
    """The remote cache cannot be reached or used; the message says how to fix it."""


@dataclass(frozen=True)
class CorruptObject:
    """A remote object whose bytes do not hash to its name: never stored locally."""

    hash: str
    message: str  # names the remote object and the fix


@dataclass(frozen=True)
class Transfer:
    count: int
    bytes: int
    missing: tuple[str, ...] = ()  # asked for, but the source (remote, or local cache) lacks them
    corrupt: tuple[CorruptObject, ...] = ()  # downloaded, failed verification, not kept
    fetched: tuple[str, ...] = ()  # downloads: the objects now stored (so in the remote)


Confirm = Callable[[list[str]], None]  # told which objects are now in the remote
T = TypeVar("T")


class _CorruptDownload(Exception):
    def __init__(self, found: CorruptObject) -> None:
        super().__init__(found.message)
        self.found = found


class RemoteCache:
    def __init__(self, settings: RemoteSettings, root: Path) -> None:
        self.url = settings.url
        self.timeout = settings.timeout
        self._fs, self._base = _filesystem(settings, root)
        self._local = urlparse(settings.url).scheme in ("", "file")
        self._scheme = urlparse(settings.url).scheme
        self._flat = self._scheme == "s3"  # keys, not folders: nothing to create, one PUT
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
        infos = self._file_infos(wanted)
        return [h for h, info in zip(wanted, infos, strict=True) if info.type != FileType.File]

    def upload(
        self,
        cache: Cache,
        hashes: Iterable[str],
        confirm: Confirm = lambda _done: None,
        then: Iterable[str] = (),
        likely_new: bool = False,
    ) -> Transfer:
        """Send the objects among ``hashes`` that the remote lacks, then those among
        ``then`` (manifests: one in the remote means its files are there too).

        ``likely_new``: the caller expects the remote to lack them (a current record of
        what it holds does not list them), so on S3 small ones are sent without a look
        first: a look costs a request, as the PUT does, and the PUT replaces any copy.

        ``confirm`` is told, in bunches as they complete, which objects are now in the
        remote (found there, or uploaded), never one before its upload completed. One
        upload that fails does not stop the others; its error is raised once they are
        done and told, and nothing of ``then`` is sent. Objects not in the local cache
        are not sent: the result lists them as missing."""
        phases = [sorted(set(hashes)), sorted(set(then))]
        count = size = 0
        missing: list[str] = []
        for phase in phases:
            local = [h for h in phase if cache.exists(h)]
            missing += sorted(set(phase) - set(local))
            todo, there = self._not_uploaded(cache, local, likely_new)
            confirm(there)
            sizes = _each_confirmed(lambda h: self._upload_one(cache, h), todo, confirm)
            count, size = count + len(sizes), size + sum(sizes)
        return Transfer(count, size, missing=tuple(missing))

    def _not_uploaded(
        self, cache: Cache, wanted: list[str], likely_new: bool
    ) -> tuple[list[str], list[str]]:
        """(to upload, already there): the remote lacks an object, or holds it with the
        wrong size (a truncated or otherwise corrupt copy is replaced by the next push
        from a clone that has it)."""
        from pyarrow.fs import FileType

        if not wanted:
            return [], []
        self._check_root()
        if likely_new and self._flat:
            blind = [h for h in wanted if cache.path_for(h).stat().st_size <= WHOLE_PUT_MAX]
            looked = self._not_uploaded(cache, sorted(set(wanted) - set(blind)), False)
            return blind + looked[0], looked[1]
        if self._flat:
            held = _parallel(self._size_held, wanted)
        else:
            infos = self._file_infos(wanted)
            held = [info.size if info.type == FileType.File else None for info in infos]
        todo: list[str] = []
        there: list[str] = []
        for digest, size in zip(wanted, held, strict=True):
            (there if size == cache.path_for(digest).stat().st_size else todo).append(digest)
        return todo, there

    def _size_held(self, digest: str) -> int | None:
        """The size of the remote's copy, None if it has none: one HEAD on S3 (a look
        through get_file_info costs a second request, a listing, for each absent key)."""
        path = self.path_for(digest)

        def look() -> int | None:
            try:
                with self._fs.open_input_file(path) as handle:
                    return int(handle.size())
            except FileNotFoundError:
                return None

        size: int | None = self._call(look)
        return size

    def _file_infos(self, wanted: list[str]) -> list[Any]:
        """One look per object, up to INFO_BATCH objects per call, calls side by side:
        object stores answer each in a round trip, so they are pipelined, not made one
        by one (a few objects are spread over the workers too)."""
        per_call = max(1, min(INFO_BATCH, -(-len(wanted) // TRANSFER_WORKERS)))
        batches = [wanted[i : i + per_call] for i in range(0, len(wanted), per_call)]

        def look(batch: list[str]) -> list[Any]:
            paths = [self.path_for(h) for h in batch]
            return list(self._call(lambda: self._fs.get_file_info(paths)))

        if len(batches) <= 1:
            return [info for batch in batches for info in look(batch)]
        with ThreadPoolExecutor(min(TRANSFER_WORKERS, len(batches))) as pool:
            return [info for infos in pool.map(look, batches) for info in infos]

    def download(self, cache: Cache, hashes: Iterable[str]) -> Transfer:
        """Fetch what the local cache lacks. A corrupt remote object is reported in the
        result, not raised: it must not keep the sound ones from being fetched."""
        wanted = sorted({h for h in hashes if not cache.freshen(h)})  # present: now in use
        if wanted:
            self._check_root()  # then a missing object is missing, not a missing bucket
        # No look first: opening an object is the look (one request fewer each).
        outcomes = list(_parallel(lambda h: self._download_or_report(cache, h), wanted))
        absent = tuple(h for h, o in zip(wanted, outcomes, strict=True) if o is None)
        corrupt = tuple(o for o in outcomes if isinstance(o, CorruptObject))
        stored = [(h, o) for h, o in zip(wanted, outcomes, strict=True) if isinstance(o, int)]
        names = tuple(hashing.object_name(h) for h, _ in stored)
        return Transfer(len(stored), sum(size for _, size in stored), absent, corrupt, names)

    def _download_or_report(self, cache: Cache, digest: str) -> int | CorruptObject | None:
        """The object's size once stored; None if the remote lacks it; what is wrong
        with it if it failed verification."""
        try:
            return self._download_one(cache, digest)
        except _CorruptDownload as exc:
            return exc.found

    def _upload_one(self, cache: Cache, digest: str) -> int:
        source = cache.path_for(digest)
        if self._flat and source.stat().st_size <= WHOLE_PUT_MAX:
            return self._put_whole(source, digest)
        final = self.path_for(digest)
        temp = f"{final}.incoming-{secrets.token_hex(6)}"

        def send() -> int:
            if not self._flat:
                self._fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
            with open(source, "rb") as src, self._fs.open_output_stream(temp) as out:
                actual = hashing.copy_stream(src, out)
            if actual != hashing.object_name(digest):
                self._fs.delete_file(temp)
                raise CacheError(_corrupt_local(source))
            self._fs.move(temp, final)  # complete objects only appear under their name
            return source.stat().st_size

        try:
            return int(self._call(send))
        except BaseException:
            self._try_delete(temp)
            raise

    def _put_whole(self, source: Path, digest: str) -> int:
        """One PUT straight to the object's name: S3 shows a PUT's object only once all
        of it arrived, and the bytes are verified before any is sent, so neither an
        interruption nor a corrupt local copy can leave a wrong object under the name."""
        data = source.read_bytes()
        if hashing.hash_bytes(data) != hashing.object_name(digest):
            raise CacheError(_corrupt_local(source))
        final = self.path_for(digest)

        def send() -> int:
            with self._fs.open_output_stream(final) as out:
                out.write(data)
            return len(data)

        return int(self._call(send))

    def _download_one(self, cache: Cache, digest: str) -> int | None:
        path = self.path_for(digest)

        def fetch() -> int | None:
            try:
                stream = self._fs.open_input_stream(path)
            except FileNotFoundError:
                return None
            with stream:
                return cache.add_stream(stream, digest)

        try:
            size: int | None = self._call(fetch)
            return size
        except HashMismatchError as exc:
            raise _CorruptDownload(
                CorruptObject(
                    digest,
                    f"remote object {self._where(path)} is corrupt (failed verification: "
                    f"its content hashes to {exc.actual}); re-push it from a clone that has "
                    "it (`gitrack push --recheck` there replaces a copy of the wrong size; "
                    "delete one of the right size first)",
                )
            ) from exc

    def _where(self, path: str) -> str:
        """A remote path as the user can look it up: a URL, or the local folder's path."""
        return path if self._local else f"{self._scheme}://{path}"

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
            text = str(exc)
            if any(sign in text for sign in _TIMED_OUT):
                raise RemoteError(
                    f"remote cache {self.url} did not answer within {self.timeout:g} s "
                    f"({_first_line(exc)}); check the network and the endpoint, or raise "
                    "`timeout` in the [remote] config"
                ) from exc
            if any(sign in text for sign in _UNREACHABLE):
                raise RemoteError(
                    f"remote cache {self.url} cannot be reached ({_first_line(exc)}); check "
                    "the network, the endpoint and the credentials"
                ) from exc
            raise RemoteError(
                f"remote cache {self.url}: {_first_line(exc)} (check the url, endpoint, "
                "network and credentials)"
            ) from exc


def _corrupt_local(source: Path) -> str:
    return f"local cache object {source} is corrupt; not uploaded"


def bytes_only_process() -> None:
    """Declare that this process is one command that only moves bytes (a push, a pull):
    pyarrow, when first needed, is then imported with NumPy hidden from it, which pyarrow
    supports. NumPy is a third to a half of pyarrow's import time (~0.1 s); pyarrow keeps
    no NumPy interop for the rest of the process (``import numpy`` itself still works).
    Only in gitrack's own program (``git.claim_process``): a user's process calling
    ``cli.main(["push"])`` may want both."""
    from gitrack.git import process_claimed

    global _bytes_only
    _bytes_only = process_claimed()


_bytes_only = False


def _import_pyarrow() -> None:
    if not _bytes_only or "pyarrow" in sys.modules or "numpy" in sys.modules:
        return
    sys.modules["numpy"] = None  # type: ignore[assignment]  # `import numpy` fails meanwhile
    try:
        import pyarrow.fs  # noqa: F401
    except ImportError:
        # A pyarrow older than 16 needs NumPy: the caller imports it with NumPy.
        for name in [n for n in sys.modules if n == "pyarrow" or n.startswith("pyarrow.")]:
            del sys.modules[name]
    finally:
        del sys.modules["numpy"]


def _filesystem(settings: RemoteSettings, root: Path) -> tuple[Any, str]:
    _import_pyarrow()
    import pyarrow.fs as pafs

    url = settings.url
    parsed = urlparse(url)
    try:
        if parsed.scheme in ("", "file"):
            return pafs.LocalFileSystem(), str(local_folder(url, root))
        bucket_path = (parsed.netloc + parsed.path).rstrip("/")
        if parsed.scheme == "s3":
            return pafs.S3FileSystem(**_s3_options(settings)), bucket_path
        if parsed.scheme in ("gs", "gcs"):
            return pafs.GcsFileSystem(**_gcs_options(settings)), bucket_path
        fs, path = pafs.FileSystem.from_uri(url)  # hdfs://…: no time-out options to set
        return fs, path.rstrip("/")
    except (OSError, ValueError, TypeError) as exc:
        raise RemoteError(f"cannot open remote cache {url}: {_first_line(exc)}") from exc


def location(url: str, root: Path) -> str:
    """What ``url`` names, the same text from every worktree and clone: a local folder's
    absolute path (a relative one is relative to ``root``), else the URL itself."""
    if urlparse(url).scheme in ("", "file"):
        return str(local_folder(url, root))
    return url


def local_folder(url: str, root: Path) -> Path:
    """The folder of a ``file://`` URL or a plain path (relative: to the config's folder).

    ``file://name/x`` is refused, not read as the folder ``/x`` on a host ``name``: it
    is almost always a relative path written as a URL.
    """
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            relative = (parsed.netloc + parsed.path).rstrip("/")
            raise RemoteError(
                f"[remote] url {url!r} names a host ({parsed.netloc!r}), which gitrack cannot "
                f'reach; write url = "file:///absolute/path" (three slashes), or a plain '
                f'folder path such as url = "{relative}" (relative to the config file\'s folder)'
            )
        text = unquote(parsed.path)
    else:
        text = url
    folder = Path(text).expanduser()
    return (folder if folder.is_absolute() else root / folder).resolve()


def _s3_options(settings: RemoteSettings) -> dict[str, Any]:
    import pyarrow.fs as pafs

    # request_timeout bounds a stall (no byte for that long), not a long transfer.
    per_attempt = settings.timeout / ATTEMPTS
    options: dict[str, Any] = {
        "region": settings.region,
        "anonymous": settings.anonymous,
        "connect_timeout": per_attempt,
        "request_timeout": per_attempt,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=ATTEMPTS),
        # A write of less than a part is then one PutObject, not a 3-request multipart
        # upload; the bucket is checked before any write (RemoteCache._check_root).
        "allow_delayed_open": True,
    }
    options.update(_endpoint(settings))
    return options


def _gcs_options(settings: RemoteSettings) -> dict[str, Any]:
    from datetime import timedelta

    # Left unset, the GCS client retries an unreachable endpoint for 15 minutes.
    # (A server that accepts and then never answers is still held by the client's own
    # 2-minute stall time-out, which pyarrow does not expose.)
    options: dict[str, Any] = {
        "anonymous": settings.anonymous,
        "retry_time_limit": timedelta(seconds=max(1, round(settings.timeout))),
    }
    options.update(_endpoint(settings))
    return options


def _endpoint(settings: RemoteSettings) -> dict[str, str]:
    if not settings.endpoint:
        return {}
    endpoint = urlparse(settings.endpoint)
    return {
        "endpoint_override": endpoint.netloc or settings.endpoint,
        "scheme": endpoint.scheme or "https",
    }


def _each_confirmed(action: Callable[[str], int], items: list[str], confirm: Confirm) -> list[int]:
    """``action`` on every item, side by side; ``confirm`` gets each item whose action
    returned, in bunches of CONFIRM_EVERY. One that fails does not stop the others (what
    can be sent is sent); the first failure is raised once they are done and confirmed.
    Interrupted (Ctrl-C), those not started are dropped, those running finish first."""
    if not items:
        return []
    results: list[int] = []
    done: list[str] = []
    failure: Exception | None = None
    pool = ThreadPoolExecutor(min(TRANSFER_WORKERS, len(items)))
    futures = {pool.submit(action, item): item for item in items}
    seen: set[Future[int]] = set()
    try:
        for future in as_completed(futures):
            seen.add(future)
            try:
                results.append(future.result())
            except Exception as exc:
                failure = failure or exc
                continue
            done.append(futures[future])
            if len(done) >= CONFIRM_EVERY:
                confirm(done)
                done = []
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        done += [
            item
            for future, item in futures.items()
            if future not in seen and not future.cancelled() and future.exception() is None
        ]
        confirm(done)
    if failure is not None:
        raise failure
    return results


def _parallel(action: Callable[[str], T], items: list[str]) -> list[T]:
    if len(items) <= 1:
        return [action(item) for item in items]
    with ThreadPoolExecutor(min(TRANSFER_WORKERS, len(items))) as pool:
        return list(pool.map(action, items))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # google-cloud-cpp appends a long "error_info={...}" dump to every status: drop it.
    return text.splitlines()[0].split(" error_info=")[0]
