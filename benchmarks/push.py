"""Does a push (or a pull) cost what is new, or what the remote cache already holds?

moto's S3 server runs on loopback in this process (the test extra: ``pip install -e
'.[test]'``). A seed clone records ``--fill-runs`` runs of ``-d`` folders holding
``--objects`` small files in all, and pushes them: the bucket then holds that many objects.
Each gitrack (this source tree, and with ``--baseline-src DIR`` another one) gets its own
copies of that clone (the pusher, A) and of the git remote, and a fresh clone of it (the
puller, B); all share the bucket. After one untimed push and pull each, every round:

* A records one new run of a new folder of ``--new-files`` small files (untimed), then
  ``gitrack push`` is timed: the new run's objects uploaded, the runs pushed;
* B runs ``gitrack pull --data``, timed: the new run merged, its objects downloaded.

Then, once per gitrack (``--bulk-files``, 0 to skip): a push of one new run of that many
files, the case where transfers of many small objects dominate.

Floors, in the same rounds: ``git push`` of one new commit to the same kind of git remote
(A's branch), and ``gitrack --version`` (the process start). Medians over ``--repeat``
rounds, printed with the ratio new/baseline. A benchmark, not a test: it always exits 0.

    python benchmarks/push.py [--objects 10000] [--fill-runs 10] [--new-files 10]
                              [--bulk-files 500] [--repeat 5] [--baseline-src DIR] [--keep]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import benchlib
from benchlib import git

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "gitrack-bench-key",
    "AWS_SECRET_ACCESS_KEY": "gitrack-bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never wait for an instance metadata service
}
BUCKET = "gitrack-bench"
FILE_BYTES = 1024


class Variant:
    """One gitrack (this source tree, or the baseline) with its own clones and git remote."""

    def __init__(self, label: str, env: dict[str, str], gitrack: list[str], base: Path) -> None:
        self.label = label
        self.env = env
        self.gitrack = gitrack
        self.origin = base / "origin.git"
        self.pusher = base / "a"
        self.puller = base / "b"


def fix_moto_multipart() -> None:
    """moto 5.2 names the root of its CompleteMultipartUpload answer ``...Response`` where S3
    says ``...Result``, so pyarrow sees every multipart upload fail: renamed here (as
    tests/remote_helpers.py does for the tests)."""
    try:
        from moto.core import serialize
    except ImportError:  # older moto: XML templates, nothing to fix
        return
    original = serialize.S3Serializer._serialized_result_to_response

    def fixed(self: Any, resp: Any, result: Any, shape: Any, serialized: Any) -> Any:
        out = original(self, resp, result, shape, serialized)
        if self.operation_model.name == "CompleteMultipartUpload" and isinstance(
            out.get("body"), str
        ):
            out["body"] = out["body"].replace("UploadResponse", "UploadResult")
        return out

    serialize.S3Serializer._serialized_result_to_response = fixed  # type: ignore[method-assign,assignment]


def start_s3() -> tuple[Any, str]:
    """moto's S3 server on 127.0.0.1 with the benchmark's bucket; (server, endpoint URL)."""
    try:
        import pyarrow.fs as pafs
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        needs = f"needs moto[server] and pyarrow ({exc}): pip install -e '.[test]'"
        raise SystemExit(needs) from exc
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    fix_moto_multipart()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"127.0.0.1:{server._server.server_port}"  # type: ignore[union-attr]
    fs = pafs.S3FileSystem(
        access_key=AWS_ENV["AWS_ACCESS_KEY_ID"],
        secret_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region="us-east-1",
        endpoint_override=endpoint,
        scheme="http",
        allow_bucket_creation=True,
    )
    fs.create_dir(BUCKET)
    return server, f"http://{endpoint}"


def seed_clone(workdir: Path, env: Mapping[str, str], gitrack: list[str], args: Any) -> Path:
    """A clone whose runs reference ``args.objects`` files, all pushed; returns it."""
    endpoint = env["GITRACK_BENCH_ENDPOINT"]
    seed = workdir / "seed"
    benchlib.new_repo(
        seed,
        env,
        {
            "train.py": "print(1)\n",
            ".gitignore": "/data*/\n",
            "gitrack.toml": f'[remote]\nurl = "s3://{BUCKET}/team/cache"\n'
            f'endpoint = "{endpoint}"\nregion = "us-east-1"\n',
        },
    )
    origin = workdir / "origin.git"
    git(workdir, env, "clone", "--quiet", "--bare", str(seed), str(origin))
    git(seed, env, "remote", "add", "origin", str(origin))
    git(seed, env, "fetch", "--quiet", "origin")
    git(seed, env, "branch", "--quiet", "--set-upstream-to=origin/main")
    per_run = max(1, args.objects // args.fill_runs)
    for index in range(args.fill_runs):
        benchlib.write_folder(seed / f"data{index}", per_run, index, FILE_BYTES)
        benchlib.run([*gitrack, "run", "-d", f"data{index}", "--", "true"], seed, env)
    start = time.perf_counter()
    out = benchlib.run([*gitrack, "push"], seed, env)
    print(f"fill: {out.strip()} in {time.perf_counter() - start:.1f} s")
    return seed


def prepare(variant: Variant, seed: Path, workdir: Path) -> None:
    """The variant's pusher (a copy of the seed clone, its record of the bucket included),
    git remote (a copy of the seed's) and puller (a clone of that remote, runs pulled)."""
    shutil.copytree(workdir / "origin.git", variant.origin, symlinks=True)
    shutil.copytree(seed, variant.pusher, symlinks=True)
    env = variant.env
    git(variant.pusher, env, "remote", "set-url", "origin", str(variant.origin))
    git(variant.origin.parent, env, "clone", "--quiet", str(variant.origin), str(variant.puller))
    benchlib.run([*variant.gitrack, "push"], variant.pusher, env)  # its own record, warm
    benchlib.run([*variant.gitrack, "pull"], variant.puller, env)


def one_round(
    variant: Variant, index: int, new_files: int, samples: dict[str, list[float]]
) -> None:
    env = variant.env
    name = f"data-new-{index}"
    benchlib.write_folder(variant.pusher / name, new_files, 1_000_000 + index, FILE_BYTES)
    benchlib.run([*variant.gitrack, "run", "-d", name, "--", "true"], variant.pusher, env)
    push_s = benchlib.timed([*variant.gitrack, "push"], variant.pusher, env)
    pull_s = benchlib.timed([*variant.gitrack, "pull", "--data"], variant.puller, env)
    (variant.pusher / "train.py").write_text(f"print({index})\n")
    git(variant.pusher, env, "commit", "--quiet", "-am", f"edit {index}")
    git_push_s = benchlib.timed(["git", "push", "--quiet", "origin", "HEAD"], variant.pusher, env)
    start_s = benchlib.timed([*variant.gitrack, "--version"], variant.pusher, env)
    if index >= 0:
        for label, value in (
            (f"gitrack push (one new run) [{variant.label}]", push_s),
            (f"gitrack pull --data (one new run) [{variant.label}]", pull_s),
            (f"git push (floor) [{variant.label}]", git_push_s),
            (f"gitrack --version [{variant.label}]", start_s),
        ):
            samples.setdefault(label, []).append(value)


def bulk_push(variants: list[Variant], count: int) -> None:
    """One push of one new run of ``count`` files per gitrack, one after the other."""
    if count <= 0:
        return
    times: dict[str, float] = {}
    for index, variant in enumerate(variants):
        name = "data-bulk"
        benchlib.write_folder(
            variant.pusher / name, count, 2_000_000 + index, FILE_BYTES
        )  # distinct: all new
        run = [*variant.gitrack, "run", "-d", name, "--", "true"]
        benchlib.run(run, variant.pusher, variant.env)
        push = [*variant.gitrack, "push"]
        times[variant.label] = benchlib.timed(push, variant.pusher, variant.env)
    print(f"\npush of one new run of {count:,} files (one sample each)")
    for label, elapsed in times.items():
        print(f"  [{label}] {elapsed * 1e3:9.1f} ms  {elapsed / count * 1e3:6.2f} ms per file")
    if "baseline" in times:
        print(f"  new/baseline {times['new'] / times['baseline']:6.2f}")


def report(samples: dict[str, list[float]], repeat: int) -> None:
    medians = {label: statistics.median(values) for label, values in samples.items()}
    print(f"\nmedians of {repeat} round(s)")
    width = max(len(label) for label in medians)
    for label, median in medians.items():
        print(f"  {label:<{width}}  {median * 1e3:9.1f} ms")
    for label, median in medians.items():
        if not label.endswith("[new]"):
            continue
        old = label.replace("[new]", "[baseline]")
        floor = label.split(" [")[0] not in ("git push (floor)", "gitrack --version")
        line = f"  {label[:-6]:<{width - 6}}"
        if floor:
            line += f"  {median / medians['git push (floor) [new]']:6.2f}x git push"
        if old in medians:
            line += f"  new/baseline {median / medians[old]:6.2f}"
        print(line)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000, help="files in the bucket")
    parser.add_argument("--fill-runs", type=int, default=10, help="runs they are recorded in")
    parser.add_argument("--new-files", type=int, default=10, help="files of each new run")
    parser.add_argument("--bulk-files", type=int, default=500, help="files of the bulk push")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--baseline-src", type=Path, help="another gitrack source tree to compare")
    parser.add_argument("--keep", action="store_true", help="keep the work folder; print its path")
    return parser.parse_args(argv)


def benchmark(workdir: Path, args: argparse.Namespace) -> None:
    server, endpoint = start_s3()
    try:
        env = benchlib.isolated_home(workdir / "home", drop=("GIT_", "GITRACK_", "AWS_"))
        env.update(AWS_ENV)
        env["GITRACK_BENCH_ENDPOINT"] = endpoint
        gitrack, how = benchlib.gitrack_command()
        print(f"gitrack invoked as: {how}")
        benchlib.print_info([*benchlib.machine_info(), ("cpu", benchlib.cpu_model())])
        here = str(Path(__file__).resolve().parent.parent)
        new_env = {**env, "PYTHONPATH": here}
        seed = seed_clone(workdir, new_env, gitrack, args)
        variants = [Variant("new", new_env, gitrack, workdir / "new")]
        if args.baseline_src is not None:
            old_env = {**env, "PYTHONPATH": str(args.baseline_src.resolve())}
            old_env["PYTHONPYCACHEPREFIX"] = str(workdir / "home" / "pycache-baseline")
            variants.append(Variant("baseline", old_env, gitrack, workdir / "baseline"))
        for variant in variants:
            variant.pusher.parent.mkdir()
            prepare(variant, seed, workdir)
        samples: dict[str, list[float]] = {}
        for index in range(-1, max(1, args.repeat)):  # round -1 warms up, not counted
            for variant in variants:
                one_round(variant, index, args.new_files, samples)
        report(samples, max(1, args.repeat))
        bulk_push(variants, args.bulk_files)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return benchlib.run_benchmark("gitrack-push-", args.keep, lambda w: benchmark(w, args))


if __name__ == "__main__":
    sys.exit(main())
