"""Files of MAP_MIN bytes or more are hashed through a mapping of the page cache, WINDOW
bytes at a time (issue 16 §2): the same hash as a read loop, whatever the size, the kernel,
or a file that grows or shrinks while it is hashed."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from data_helpers import XXH128SUM, needs_xxh128sum

from gitrack.data import hashing

SMALL_WINDOW = 64 * 1024  # mmap offsets: multiples of the allocation granularity


@pytest.fixture
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mapping from 1 byte on, in small windows: many windows on a small file."""
    monkeypatch.setattr(hashing, "MAP_MIN", 1)
    monkeypatch.setattr(hashing, "WINDOW", SMALL_WINDOW)


@pytest.mark.usefixtures("small_windows")
@pytest.mark.parametrize("populate", [True, False], ids=["populate", "no-populate"])
@pytest.mark.parametrize("size", [1, SMALL_WINDOW - 1, SMALL_WINDOW, 3 * SMALL_WINDOW + 5])
def test_mapped_windows_give_the_read_loops_hash(
    size: int, populate: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not populate:  # as on a kernel without MADV_POPULATE_READ
        monkeypatch.setattr(hashing, "_POPULATE", [])
    data = os.urandom(size)
    path = tmp_path / "large"
    path.write_bytes(data)
    seen: list[int] = []
    assert hashing.hash_file(path, seen.append) == hashing.hash_bytes(data)
    whole, rest = divmod(size, SMALL_WINDOW)
    if populate:
        assert seen == [SMALL_WINDOW] * whole + ([rest] if rest else [])  # by window: mapped
    else:
        assert seen == [size]  # read: nothing would stop a file cut meanwhile from a SIGBUS


@pytest.mark.usefixtures("small_windows")
def test_bytes_appended_while_mapped_are_read_after_the_mapping(tmp_path: Path) -> None:
    data, appended = os.urandom(2 * SMALL_WINDOW), os.urandom(1000)
    path = tmp_path / "growing"
    path.write_bytes(data)

    def append_once(count: int) -> None:
        if count == SMALL_WINDOW and path.stat().st_size == len(data):
            with path.open("ab") as fh:
                fh.write(appended)

    # What a read loop gives a file that grows: everything up to the end it finds.
    assert hashing.hash_file(path, append_once) == hashing.hash_bytes(data + appended)


@pytest.mark.usefixtures("small_windows")
def test_a_file_that_cannot_be_mapped_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashing, "MAP_MIN", 0)  # an empty file cannot be mapped
    (tmp_path / "empty").write_bytes(b"")
    assert hashing.hash_file(tmp_path / "empty") == "xxh128:99aa06d3014798d86001c324468d497f"


SHRINK = """
import os, sys
from gitrack.data import hashing
hashing.MAP_MIN, hashing.WINDOW = 1, 1024 * 1024
path = sys.argv[1]
data = os.urandom(8 * 1024 * 1024)
with open(path, "wb") as fh:
    fh.write(data)
def shrink(count):
    os.truncate(path, 1024 * 1024 + 5)
print(hashing.hash_file(path, shrink) == hashing.hash_bytes(data[: 1024 * 1024 + 5]))
"""


def in_a_child(script: str, path: Path) -> subprocess.CompletedProcess[str]:
    """``script`` run by a new Python on ``path``: touching a mapping past the end of a
    file that was cut kills the process (SIGBUS), so only a child may risk it."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )


def test_a_file_cut_while_it_is_hashed_is_hashed_as_it_is_not_a_crash(tmp_path: Path) -> None:
    proc = in_a_child(SHRINK, tmp_path / "shrinking")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "True\n", "")  # as a read loop


@pytest.mark.skipif(sys.platform != "linux", reason="MADV_POPULATE_READ is Linux's")
def test_a_window_cut_after_it_was_mapped_is_an_error_before_it_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmap

    monkeypatch.setattr(hashing, "_POPULATE", list(hashing._POPULATE))
    path = tmp_path / "cut"
    path.write_bytes(os.urandom(2 * mmap.ALLOCATIONGRANULARITY))
    with path.open("rb") as fh:
        window = mmap.mmap(fh.fileno(), mmap.ALLOCATIONGRANULARITY, access=mmap.ACCESS_READ)
        with window:
            os.truncate(path, 0)  # after the mapping, before its pages are touched
            try:
                hashing._populate(window, len(window))
            except OSError as exc:
                assert exc.errno == errno.EFAULT
                assert "shrank (or could not be read) while it was being hashed" in str(exc)
            else:
                assert not hashing._POPULATE, "no error, yet MADV_POPULATE_READ is in use"
                pytest.skip(f"kernel {os.uname().release} has no MADV_POPULATE_READ")


@needs_xxh128sum
def test_a_mapped_file_hashes_as_xxh128sum_prints(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(hashing.MAP_MIN + hashing.WINDOW + 12345))  # windows and a tail
    assert XXH128SUM is not None
    out = subprocess.run([XXH128SUM, str(path)], capture_output=True, text=True, check=True)
    seen: list[int] = []
    assert hashing.hash_file(path, seen.append) == "xxh128:" + out.stdout.split()[0]
    assert seen[0] == hashing.WINDOW  # by window: it went through the mapping


@pytest.mark.usefixtures("small_windows")
def test_a_mapped_copy_writes_every_byte_once(tmp_path: Path) -> None:
    data = os.urandom(3 * SMALL_WINDOW + 11)
    (tmp_path / "src").write_bytes(data)
    seen: list[int] = []
    with (tmp_path / "copy").open("wb") as target:
        digest = hashing.copy_and_hash(tmp_path / "src", target, seen.append)
    assert digest == hashing.hash_bytes(data)
    assert (tmp_path / "copy").read_bytes() == data
    assert seen == [SMALL_WINDOW] * 3 + [11]  # by window: it went through the mapping
    fd = os.open(tmp_path / "by-fd", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with (tmp_path / "src").open("rb", buffering=0) as stream:
            assert hashing.copy_to_fd(stream, fd) == hashing.hash_bytes(data)
    finally:
        os.close(fd)
    assert (tmp_path / "by-fd").read_bytes() == data


def _resident_mib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux's /proc")
def test_hashing_a_large_file_keeps_one_window_resident_not_the_file(tmp_path: Path) -> None:
    # A run records its process's peak memory: hashing a dataset must not add the dataset.
    path = tmp_path / "big"
    with path.open("wb") as fh:
        for _ in range(96):
            fh.write(os.urandom(1024 * 1024))
    before = _resident_mib()
    grown: list[int] = []
    hashing.hash_file(path, lambda _count: grown.append(_resident_mib() - before))
    assert len(grown) == 96 // 8  # by window: it went through the mapping
    assert max(grown) < 96 // 2, f"resident memory grew by {max(grown)} MiB"


CUT_AFTER_MAPPING = """
import mmap, os, sys
from gitrack.data import hashing
hashing.MAP_MIN, hashing.WINDOW = 1, 1024 * 1024
hashing._POPULATE.clear()  # a kernel without MADV_POPULATE_READ (macOS, Linux < 5.14)
path = sys.argv[1]
data = os.urandom(4 * 1024 * 1024)
with open(path, "wb") as fh:
    fh.write(data)
mapping = mmap.mmap
def mapped_then_cut(*args, **kwargs):
    window = mapping(*args, **kwargs)
    os.truncate(path, 0)  # another program rewrites the file in place
    return window
mmap.mmap = mapped_then_cut
try:
    hashing.hash_file(path)
except OSError:
    pass
print("alive")
"""


def test_without_populate_a_file_cut_while_it_is_hashed_is_not_a_crash(tmp_path: Path) -> None:
    """Without MADV_POPULATE_READ nothing stands between a cut file and SIGBUS once its
    pages are mapped: there, large files are read (as the copy path used to be)."""
    proc = in_a_child(CUT_AFTER_MAPPING, tmp_path / "cut")
    assert (proc.returncode, proc.stdout) == (0, "alive\n"), proc.stderr


class _ClearedRightAfterTheCheck(list[int]):
    """_POPULATE as another hashing thread leaves it: it found MADV_POPULATE_READ missing
    (EINVAL on Linux < 5.14) and cleared the list just after this thread checked it."""

    def __bool__(self) -> bool:
        present = len(self) > 0
        self.clear()
        return present


@pytest.mark.usefixtures("small_windows")
def test_populate_given_up_by_another_thread_meanwhile_is_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3 * SMALL_WINDOW)
    (tmp_path / "f").write_bytes(data)
    monkeypatch.setattr(hashing, "_POPULATE", _ClearedRightAfterTheCheck([22]))
    import mmap

    with (
        (tmp_path / "f").open("rb") as fh,
        mmap.mmap(fh.fileno(), SMALL_WINDOW, access=mmap.ACCESS_READ) as window,
    ):
        hashing._populate(window, SMALL_WINDOW)  # no IndexError
    assert hashing.hash_file(tmp_path / "f") == hashing.hash_bytes(data)
