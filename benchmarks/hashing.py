"""How fast does gitrack hash and cache data, against the tools a user would compare it with?

Everything is measured in the same run, on the same files, on this machine:

* One 1 GiB file, page cache warm, interleaved rounds (``--rounds``, medians): in this
  process, ``hash_file`` (and the read loop it uses for small files) against a plain
  ``readinto`` loop over the same file (the floor: target >= 95% of its speed) and, with
  ``--baseline-src DIR``, against DIR's ``hash_file``; as whole processes, ``gitrack hash
  BIG`` (and the baseline's) against ``cat`` and ``xxh128sum`` (the native limit for the
  same algorithm), each with its start-up (the same command on an empty file) subtracted;
  Python's ``hashlib.md5`` (the algorithm DVC uses) once at the end. ``--write-kib 4``
  writes BIG 4 KiB at a time (the page cache then holds it in 4 KiB pages, as older
  kernels hold every file). ``--only-throughput`` stops there.
* A folder of 10,000 small files: the first ``gitrack hash DIR`` (cold stat cache) and
  the unchanged re-check (second call, stat cache warm). The stat cache refuses entries
  for files modified within 2 s of hashing (racy-clean protection), and it checks ctime
  as well as mtime; ``os.utime`` can age the mtime but not the ctime, so the script also
  waits until every ctime is more than 2 s old before the first call.
* ``gitrack run -d BIG -- true`` of a new 1 GiB file: hash plus copy into the cache
  (reflink where the file system can), with ``gitrack run -- true`` as the floor.
* ``dvc add`` of the same file when ``dvc`` is importable (it is never installed here).

Targets (printed as MET / NOT MET): gitrack hash throughput >= 85% of xxh128sum's, start-up
subtracted; unchanged 10,000-file re-check <= 0.15 s (reported both as the whole process and
with start-up subtracted, since Python's start-up alone is about that); ``run -d`` of a new
1 GiB file >= 5x faster than ``dvc add`` (3.9-5.3 s measured elsewhere when dvc is absent).

Isolation: a temporary directory, a fake HOME, GIT_CONFIG_NOSYSTEM=1, a fixed identity;
the 1 GiB files are deleted at the end (``--keep`` keeps everything). It is a benchmark,
not a test: it always exits 0.

    python benchmarks/hashing.py [--size-mib 1024] [--files 10000] [--dir /tmp] [--keep]
                                 [--rounds 7] [--baseline-src DIR] [--write-kib 65536]
                                 [--only-throughput]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import benchlib
from benchlib import run, timed, verdict

MIB = 1024 * 1024
RACY_S = 2.0  # gitrack.data.state.RACY_NS, in seconds
TARGET_THROUGHPUT_RATIO = 0.85
TARGET_PLAIN_READ_RATIO = 0.95  # issue 16 §2: hashing >= 95% of a plain read's speed
TARGET_RECHECK_S = 0.15
TARGET_DVC_SPEEDUP = 5.0
DVC_ADD_REFERENCE_S = (3.9, 5.3)  # `dvc add` of a new 1 GiB file, measured elsewhere
REPEAT = 3


# --------------------------------------------------------------------- commands
def gitrack_command() -> list[str]:
    """The console script beside this Python (what a user types), else ``python -m``."""
    return benchlib.gitrack_command()[0]


def median_of(count: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    samples = [measure() for _ in range(count)]
    return statistics.median(samples), samples


# ------------------------------------------------------------------------ data
def write_big(path: Path, size: int, write_size: int = 64 * MIB) -> None:
    """``size`` bytes of incompressible data (a 64 MiB random block, each copy varied),
    ``write_size`` bytes per write: a kernel with large page-cache folios caches big writes
    in big folios, 4 KiB writes in 4 KiB pages (as every page is on older kernels)."""
    block = bytearray(os.urandom(64 * MIB))
    with path.open("wb", buffering=0) as fh:
        written = 0
        while written < size:
            block[:8] = written.to_bytes(8, "little")
            chunk = memoryview(block)[: min(len(block), size - written)]
            for start in range(0, len(chunk), write_size):
                fh.write(chunk[start : start + write_size])
            written += len(chunk)


def read_all(path: Path) -> None:
    """Bring a file into the page cache."""
    with path.open("rb", buffering=0) as fh:
        while fh.read(16 * MIB):
            pass


def md5_file(path: Path) -> float:
    buffer = bytearray(4 * MIB)
    view = memoryview(buffer)
    digest = hashlib.md5()
    start = time.perf_counter()
    with path.open("rb", buffering=0) as fh:
        while count := fh.readinto(buffer):
            digest.update(view[:count])
    return time.perf_counter() - start


def write_small_files(top: Path, count: int) -> None:
    """``count`` files of 200-1,200 bytes in 100 folders, mtimes one hour old."""
    payload = os.urandom(1200)
    then = time.time() - 3600
    for index in range(count):
        folder = top / f"part{index % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"sample{index:05d}.bin"
        path.write_bytes(index.to_bytes(4, "little") + payload[: 200 + index % 1000])
        os.utime(path, (then, then))


def wait_out_racy_window(top: Path) -> float:
    """Sleep until every ctime under ``top`` is older than the racy window; seconds slept."""
    newest = max(os.stat(Path(d) / f).st_ctime for d, _, fs in os.walk(top) for f in fs)
    delay = max(0.0, newest + RACY_S + 0.2 - time.time())
    time.sleep(delay)
    return delay


def reflink_supported(folder: Path) -> bool:
    """Whether FICLONE works here (gitrack then shares blocks instead of copying)."""
    try:
        import fcntl
    except ImportError:
        return False
    source, target = folder / "reflink-src", folder / "reflink-dst"
    source.write_bytes(b"x" * 4096)
    try:
        with source.open("rb") as src, target.open("wb") as dst:
            fcntl.ioctl(dst.fileno(), 0x40049409, src.fileno())
        return True
    except OSError:
        return False
    finally:
        source.unlink(missing_ok=True)
        target.unlink(missing_ok=True)


# ---------------------------------------------------------------------- report
def machine_info(workdir: Path, env: dict[str, str]) -> list[tuple[str, str]]:
    def first_line(argv: list[str]) -> str:
        return benchlib.first_line(argv, env)

    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    import xxhash

    from gitrack import __version__

    return [
        ("platform", platform.platform()),
        ("cpu", f"{benchlib.cpu_model()} ({benchlib.usable_cpus()} usable)"),
        ("memory", memory),
        ("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1/5/15 min)"),
        ("python", benchlib.python_version()),
        ("gitrack", f"{__version__} via {' '.join(gitrack_command())}"),
        ("xxhash (python)", f"{xxhash.VERSION} (libxxhash {xxhash.XXHASH_VERSION})"),
        ("xxh128sum", first_line(["xxh128sum", "--version"])),
        ("git", benchlib.git_version(env)),
        ("work dir", f"{workdir} ({first_line(['stat', '-f', '-c', '%T', str(workdir)])})"),
        ("reflink", "yes" if reflink_supported(workdir) else "no (the cache gets a copy)"),
    ]


def gib_per_s(size: int, seconds: float) -> str:
    return f"{size / seconds / 1024**3:.2f} GiB/s" if seconds > 0 else "n/a"


def samples_text(samples: list[float]) -> str:
    return "[" + ", ".join(f"{s:.3f}" for s in samples) + "]"


# ---------------------------------------------------------------------- phases
def load_hashing(source: Path | None) -> ModuleType | None:
    """``gitrack/data/hashing.py`` of another source tree, as its own module (it imports
    only the standard library and xxhash), so both versions run in this one process."""
    if source is None:
        return None
    spec = importlib.util.spec_from_file_location(
        "baseline_hashing", source / "gitrack" / "data" / "hashing.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_process(
    hash_file: Callable[[Path], str], path: Path, cpu: list[float]
) -> Callable[[], float]:
    """A probe timing ``hash_file(path)``: wall time returned, CPU time (every thread of
    this process, steadier than wall time on a loaded machine) appended to ``cpu``."""

    def probe() -> float:
        start, start_cpu = time.perf_counter(), time.process_time()
        hash_file(path)
        cpu.append(time.process_time() - start_cpu)
        return time.perf_counter() - start

    return probe


def as_fresh_process(module: ModuleType) -> Callable[[Path], str]:
    """The module's hash_file, forgetting any per-process choice first (the baseline
    measured read against mmap on the first large file of each process)."""

    def hash_file(path: Path) -> str:
        getattr(module, "_CHOSEN", []).clear()
        return str(module.hash_file(path))

    return hash_file


def plain_read(path: Path) -> str:
    """The floor: a readinto loop into one reused 1 MiB buffer, nothing done with it."""
    buffer = bytearray(MIB)
    with path.open("rb", buffering=0) as fh:
        while fh.readinto(buffer):
            pass
    return ""


def read_loop_hash(path: Path) -> str:
    """hash_file's loop for small files (one reused 1 MiB buffer), over the whole file."""
    from gitrack.data import hashing

    with path.open("rb", buffering=0) as fh:
        return hashing.hash_stream(fh)


def bench_throughput(
    work: Path, env: dict[str, str], size: int, baseline: Path | None, rounds: int, write: int
) -> None:
    """Interleaved rounds on one page-cached file: in this process, a plain read against
    hash_file (new, and the baseline's); whole processes, cat and xxh128sum against
    ``gitrack hash`` (new and baseline), each with its start-up on an empty file."""
    from gitrack.data import hashing

    plain = work / "plain"  # not a repository: `gitrack hash` uses no stat cache here
    plain.mkdir()
    big, empty = plain / "big.bin", plain / "empty.bin"
    empty.write_bytes(b"")
    print(f"writing a {size / MIB:.0f} MiB file, {write // 1024} KiB per write ...", flush=True)
    write_big(big, size, write)
    read_all(big)
    gitrack = gitrack_command()
    old_module = load_hashing(baseline)
    old_env = {**env, "PYTHONPATH": str(baseline.resolve())} if baseline else env
    xxh = shutil.which("xxh128sum")
    ours = run([*gitrack, "hash", "big.bin"], plain, env).split()[0]
    digests = {"xxh128sum": f"xxh128:{run([xxh, 'big.bin'], plain, env).split()[0]}"} if xxh else {}
    digests["hash_file (in process)"] = hashing.hash_file(big)
    if old_module is not None:
        digests["baseline hash_file"] = as_fresh_process(old_module)(big)
    for label, digest in digests.items():
        print(f"  digest: gitrack hash {ours}, {label} {'same' if digest == ours else digest}")

    def process(argv: list[str], environ: dict[str, str] = env) -> Callable[[], float]:
        return lambda: timed(argv, plain, environ)

    cpu: dict[str, list[float]] = {}
    in_process_probes: dict[str, Callable[[Path], str]] = {
        "plain read (in process)": plain_read,
        "hash_file (in process)": hashing.hash_file,
        "read-loop hash (in process)": read_loop_hash,
    }
    if old_module is not None:
        in_process_probes["baseline hash_file"] = as_fresh_process(old_module)
    probes: dict[str, Callable[[], float]] = {
        label: in_process(function, big, cpu.setdefault(label, []))
        for label, function in in_process_probes.items()
    }
    probes["cat BIG"] = process(["sh", "-c", "cat big.bin >/dev/null"])
    probes["cat EMPTY"] = process(["sh", "-c", "cat empty.bin >/dev/null"])
    probes["gitrack hash BIG"] = process([*gitrack, "hash", "big.bin"])
    probes["gitrack hash EMPTY"] = process([*gitrack, "hash", "empty.bin"])
    if baseline is not None:
        probes["baseline hash BIG"] = process([*gitrack, "hash", "big.bin"], old_env)
        probes["baseline hash EMPTY"] = process([*gitrack, "hash", "empty.bin"], old_env)
    if xxh:
        probes["xxh128sum BIG"] = process([xxh, "big.bin"])
        probes["xxh128sum EMPTY"] = process([xxh, "empty.bin"])
    load_before = os.getloadavg()
    samples = benchlib.round_robin(probes, rounds)
    load_after = os.getloadavg()
    medians = {label: statistics.median(values) for label, values in samples.items()}
    print(
        f"  {rounds} interleaved rounds; load average before {load_before[0]:.2f}, "
        f"after {load_after[0]:.2f} (1 min), {benchlib.usable_cpus()} usable CPUs"
    )
    for label, values in samples.items():
        print(
            f"{label:<26} median {medians[label]:.4f} s  {samples_text(values)}  "
            f"{gib_per_s(size, medians[label])}"
        )
    net = {
        label[: -len(" BIG")]: medians[label] - medians[label[: -len("BIG")] + "EMPTY"]
        for label in medians
        if label.endswith(" BIG")
    }
    floor = medians["plain read (in process)"]
    cpu_medians = {label: statistics.median(values[1:]) for label, values in cpu.items()}
    for label in in_process_probes:
        if label == "plain read (in process)":
            continue
        ok = floor / medians[label] >= TARGET_PLAIN_READ_RATIO
        print(
            f"  speed {label} / plain read (same process): {floor / medians[label]:.0%} "
            f"(target >= {TARGET_PLAIN_READ_RATIO:.0%}): {verdict(ok)}; by CPU time "
            f"{cpu_medians['plain read (in process)'] / cpu_medians[label]:.0%} "
            f"({cpu_medians[label]:.4f} s against {cpu_medians['plain read (in process)']:.4f} s)"
        )
    for label, seconds in net.items():
        print(
            f"  {label}, start-up subtracted: {seconds:.4f} s ({gib_per_s(size, seconds)}); "
            f"speed / cat's: {net['cat'] / seconds:.0%}"
        )
    if xxh:
        ratio = net["xxh128sum"] / net["gitrack hash"]
        ok = ratio >= TARGET_THROUGHPUT_RATIO
        print(
            f"  throughput gitrack / xxh128sum (start-up subtracted): {ratio:.0%} "
            f"(target >= {TARGET_THROUGHPUT_RATIO:.0%}): {verdict(ok)}"
        )
    if baseline is not None:
        print(
            f"  new/baseline hash_file in process: "
            f"{medians['hash_file (in process)'] / medians['baseline hash_file']:.2f}; "
            f"gitrack hash start-up new/baseline: "
            f"{medians['gitrack hash EMPTY'] / medians['baseline hash EMPTY']:.2f}"
        )
    md5, md5_s = median_of(3, lambda: md5_file(big))
    print(
        f"python hashlib.md5 BIG (in-proc)  median {md5:.3f} s  {samples_text(md5_s)}  "
        f"-> {gib_per_s(size, md5)} (DVC's algorithm)"
    )
    big.unlink()


def bench_small_files(work: Path, env: dict[str, str], count: int) -> None:
    repo = work / "repo-small"
    benchlib.new_repo(repo, env, {".gitignore": "data/\n"})
    top = repo / "data" / "samples"
    print(f"writing {count:,} small files ...", flush=True)
    write_small_files(top, count)
    slept = wait_out_racy_window(top)
    gitrack = gitrack_command()
    state = repo / ".git" / "gitrack" / "state.sqlite"

    def cold() -> float:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{state}{suffix}").unlink(missing_ok=True)
        return timed([*gitrack, "hash", "data/samples"], repo, env)

    first, first_s = median_of(REPEAT, cold)  # the last one leaves the stat cache filled
    again, again_s = median_of(5, lambda: timed([*gitrack, "hash", "data/samples"], repo, env))
    startup, _ = median_of(5, lambda: timed([*gitrack, "hash", ".gitignore"], repo, env))
    print(f"  (waited {slept:.1f} s so that every ctime left the 2 s racy window)")
    print(f"gitrack hash DIR, first (cold)    median {first:.3f} s  {samples_text(first_s)}")
    print(
        f"gitrack hash DIR, unchanged       median {again:.3f} s  {samples_text(again_s)}  "
        f"({again - startup:.3f} s beyond start-up)"
    )
    # The target does not say whether start-up counts: both readings are reported.
    print(
        f"  unchanged {count:,}-file re-check, whole process: {again:.3f} s "
        f"(target <= {TARGET_RECHECK_S} s): {verdict(again <= TARGET_RECHECK_S)}"
    )
    print(
        f"  unchanged {count:,}-file re-check, start-up subtracted: {again - startup:.3f} s "
        f"(target <= {TARGET_RECHECK_S} s): {verdict(again - startup <= TARGET_RECHECK_S)}"
    )


def bench_run_with_data(
    work: Path, env: dict[str, str], size: int, baseline: Path | None, rounds: int
) -> float:
    repo = work / "repo-big"
    benchlib.new_repo(repo, env, {".gitignore": "big/\n", "train.py": "print('train')\n"})
    (repo / "big").mkdir()
    big = repo / "big" / "data.bin"
    print(f"writing a new {size / MIB:.0f} MiB file in a repository ...", flush=True)
    write_big(big, size)
    os.sync()
    read_all(big)
    gitrack = gitrack_command()
    cache = repo / ".git" / "gitrack" / "cache"
    timed([*gitrack, "run", "--", "true"], repo, env)  # warm-up
    floor, floor_s = median_of(REPEAT, lambda: timed([*gitrack, "run", "--", "true"], repo, env))

    def new_data_run(environ: dict[str, str]) -> Callable[[], float]:
        def probe() -> float:
            # A new file each time: other first bytes (hash unknown to both caches), and
            # the previous object removed so the cache is as empty as before the first run.
            with big.open("r+b") as fh:
                fh.write(os.urandom(16))
            # Start from clean pages: the previous copy's dirty pages must not be flushed
            # (and counted) inside this run.
            os.sync()
            elapsed = timed([*gitrack, "run", "-d", "big/data.bin", "--", "true"], repo, environ)
            shutil.rmtree(cache / "xxh128", ignore_errors=True)
            return elapsed

        return probe

    probes = {"new": new_data_run(env)}
    if baseline is not None:
        probes["baseline"] = new_data_run({**env, "PYTHONPATH": str(baseline.resolve())})
    samples = benchlib.round_robin(probes, rounds)
    data_run = statistics.median(samples["new"])
    print(f"gitrack run -- true (floor)       median {floor:.3f} s  {samples_text(floor_s)}")
    for label, values in samples.items():
        median = statistics.median(values)
        print(
            f"gitrack run -d BIG -- true ({label})  median {median:.3f} s  "
            f"{samples_text(values)}  -> {gib_per_s(size, median - floor)} hash+cache "
            "beyond the floor"
        )
    if baseline is not None:
        print(f"  run -d new/baseline: {data_run / statistics.median(samples['baseline']):.2f}")
    big.unlink()
    return data_run


def bench_dvc(work: Path, env: dict[str, str], size: int, data_run: float) -> None:
    low, high = DVC_ADD_REFERENCE_S
    if importlib.util.find_spec("dvc") is None:
        print(
            "dvc add: skipped, dvc is not importable (this benchmark never installs it); "
            f"reference from elsewhere: {low}-{high} s for a new 1 GiB file"
        )
        speedup_low, speedup_high = low / data_run, high / data_run
        ok = speedup_low >= TARGET_DVC_SPEEDUP
        print(
            f"  run -d vs dvc add (reference): {speedup_low:.1f}x-{speedup_high:.1f}x faster "
            f"(target >= {TARGET_DVC_SPEEDUP:.0f}x): {verdict(ok)}"
            + ("" if size == 1024 * MIB else " [not comparable: BIG is not 1 GiB]")
        )
        return
    repo = work / "repo-dvc"
    benchlib.new_repo(repo, env)
    run([sys.executable, "-m", "dvc", "init", "-q"], repo, env)
    write_big(repo / "data.bin", size)
    read_all(repo / "data.bin")
    elapsed = timed([sys.executable, "-m", "dvc", "add", "-q", "data.bin"], repo, env)
    (repo / "data.bin").unlink(missing_ok=True)
    speedup = elapsed / data_run
    print(f"dvc add BIG (new)                 {elapsed:.3f} s (one run)")
    print(
        f"  run -d vs dvc add: {speedup:.1f}x faster (target >= {TARGET_DVC_SPEEDUP:.0f}x): "
        f"{verdict(speedup >= TARGET_DVC_SPEEDUP)}"
    )


# ------------------------------------------------------------------------ main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=1024, help="size of BIG (1024 = 1 GiB)")
    parser.add_argument("--files", type=int, default=10_000, help="files in the small-file dir")
    parser.add_argument("--dir", type=Path, default=None, help="where the temp dir goes")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (and big files)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds for BIG")
    parser.add_argument("--baseline-src", type=Path, help="another source tree to compare")
    parser.add_argument(
        "--write-kib", type=int, default=65536, help="BIG written this much per write (4: 4 KiB)"
    )
    parser.add_argument("--only-throughput", action="store_true", help="skip the other phases")
    args = parser.parse_args()
    size = args.size_mib * MIB

    with benchlib.workdir(
        "gitrack-bench-hash-", args.keep, parent=args.dir, kept="kept {}"
    ) as base:
        try:
            env = benchlib.isolated_home(base / "home", ceiling=base)
            work = base / "work"
            work.mkdir()
            print("gitrack data hashing benchmark")
            for key, value in machine_info(work, env):
                print(f"  {key:<16} {value}")
            print()
            bench_throughput(work, env, size, args.baseline_src, args.rounds, args.write_kib * 1024)
            if args.only_throughput:
                return 0
            print()
            bench_small_files(work, env, args.files)
            print()
            data_run = bench_run_with_data(work, env, size, args.baseline_src, args.rounds)
            print()
            bench_dvc(work, env, size, data_run)
        except Exception as exc:  # a benchmark reports, it does not fail
            print(f"benchmark error: {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
