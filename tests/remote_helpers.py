"""Helpers for the hook and sharing tests: a bare "origin", clones, an S3 server on loopback.

Kept apart from conftest.py (owned by the core tests). Import with
``from remote_helpers import ...``.

- ``make_origin(tmp_path, files)``: a seed repository with one commit, cloned bare as the
  team's remote; ``clone(origin, path)`` is a teammate's ``git clone``.
- ``remote_note_lines(origin)`` / ``note_ids(repo)``: the runs as git itself stores them (every
  note line of refs/notes/gitrack), to count each run id exactly.
- ``git_proc(...)``: the git binary with its exit code and stderr, for hooks' output.
- ``start_together(...)``: several commands started at once (races between pushers).
- ``silent_server()``: a loopback port that accepts connections and never answers.
- ``MotoS3``: moto's standalone S3 server in a thread on 127.0.0.1, a fresh bucket per test.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, git, gitrack, make_repo

SEED_FILES: dict[str, str | bytes] = {"train.py": "print('training')\n", ".gitignore": "data/\n"}
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "gitrack-test-key",
    "AWS_SECRET_ACCESS_KEY": "gitrack-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never wait for an instance metadata service
}


# -------------------------------------------------------------------- repositories
def make_origin(tmp_path: Path, files: dict[str, str | bytes] | None = None) -> Path:
    """A bare repository holding one commit of ``files`` (default: train.py, .gitignore)."""
    seed = make_repo(tmp_path / "seed", dict(files if files is not None else SEED_FILES))
    origin = tmp_path / "origin.git"
    git("clone", "-q", "--bare", str(seed), str(origin), cwd=tmp_path)
    return origin


def clone(origin: Path, path: Path) -> Path:
    git("clone", "-q", str(origin), str(path), cwd=origin.parent)
    return path


def install(repo: Path) -> Result:
    res = gitrack("install", cwd=repo)
    assert res.code == 0, res.err
    return res


def head(repo: Path, rev: str = "HEAD") -> str:
    return git("rev-parse", rev, cwd=repo).strip()


def remote_refs(origin: Path) -> dict[str, str]:
    """refname -> object id of every ref in a repository (the bare origin, typically)."""
    out = {}
    for line in git("for-each-ref", "--format=%(refname) %(objectname)", cwd=origin).splitlines():
        name, oid = line.split(" ", 1)
        out[name] = oid
    return out


def ref_names(repo: Path) -> set[str]:
    return set(git("for-each-ref", "--format=%(refname)", cwd=repo).split())


def all_note_lines(repo: Path) -> list[str]:
    """Every line of every note in refs/notes/gitrack (bare or not), as git stores them."""
    if "refs/notes/gitrack" not in ref_names(repo):
        return []
    lines: list[str] = []
    for entry in git("notes", "--ref=gitrack", "list", cwd=repo).splitlines():
        blob = entry.split()[0]
        text = git("cat-file", "blob", blob, cwd=repo)
        lines += [line for line in text.split("\n") if line.strip()]
    return lines


def note_ids(repo: Path) -> list[str]:
    """The run id of every run line in the notes (committed markers and junk left out)."""
    ids = []
    for line in all_note_lines(repo):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and "type" not in data and isinstance(data.get("id"), str):
            ids.append(data["id"])
    return ids


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def commit_all(repo: Path, message: str) -> str:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", message, cwd=repo)
    return head(repo)


# ----------------------------------------------------------------------- processes
def git_proc(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The git binary, hooks and all; the caller checks returncode and stderr."""
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def gitrack_lines(stderr: str) -> list[str]:
    """The lines gitrack's hooks printed (they all start with ``gitrack:``)."""
    return [line for line in stderr.splitlines() if line.startswith("gitrack")]


def start_together(commands: list[tuple[list[str], Path]], timeout: float = 60) -> list[Result]:
    """Start every command before waiting for any; their results in order."""
    procs = [
        subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for argv, cwd in commands
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append(Result(proc.returncode, out, err))
    return results


def gitrack_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "gitrack", *args]


def entry_state(path: Path) -> tuple[int, bytes]:
    """(lstat mode, bytes or symlink target) of one file."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return st.st_mode, os.readlink(path).encode()
    return st.st_mode, path.read_bytes()


def file_modes(folder: Path) -> dict[str, tuple[int, bytes]]:
    """name -> (lstat mode, bytes or link target) of every entry in a hooks folder."""
    return {entry.name: entry_state(entry) for entry in sorted(folder.iterdir())}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a hung endpoint)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)  # so the accepting thread sees `stop` soon
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never read nor written

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        listener.close()
        for conn in held:
            conn.close()


def set_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)


# ---------------------------------------------------------------------------- S3
def _fix_moto_complete_multipart() -> None:
    """moto 5.2 answers CompleteMultipartUpload with a ``CompleteMultipartUploadResponse``
    root element; S3 (and the AWS SDK inside pyarrow) use ``CompleteMultipartUploadResult``,
    so pyarrow reports every upload as failed. Rename the root, in this process only."""
    try:
        from moto.core import serialize
    except ImportError:  # older moto: XML templates, no serializer to fix
        return

    original = serialize.S3Serializer._serialized_result_to_response
    if getattr(original, "_gitrack_fixed", False):
        return

    def fixed(self: Any, resp: Any, result: Any, shape: Any, serialized: Any) -> Any:
        out = original(self, resp, result, shape, serialized)
        if self.operation_model.name == "CompleteMultipartUpload" and isinstance(
            out.get("body"), str
        ):
            out["body"] = out["body"].replace(
                "CompleteMultipartUploadResponse", "CompleteMultipartUploadResult"
            )
        return out

    fixed._gitrack_fixed = True  # type: ignore[attr-defined]
    serialize.S3Serializer._serialized_result_to_response = fixed  # type: ignore[method-assign,assignment]


class MotoS3:
    """moto's standalone S3 server on 127.0.0.1 (a real HTTP endpoint pyarrow talks to)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        _fix_moto_complete_multipart()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        port = self._server._server.server_port  # type: ignore[union-attr]
        self.endpoint = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.stop()

    def filesystem(self) -> Any:
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(
            access_key=AWS_ENV["AWS_ACCESS_KEY_ID"],
            secret_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region="us-east-1",
            endpoint_override=self.endpoint.removeprefix("http://"),
            scheme="http",
            allow_bucket_creation=True,
        )

    def new_bucket(self) -> str:
        name = f"gitrack-{uuid.uuid4().hex[:12]}"
        self.filesystem().create_dir(name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """key (without the bucket) -> bytes of every object under ``prefix``."""
        import pyarrow.fs as pafs

        fs = self.filesystem()
        base = f"{bucket}/{prefix}".rstrip("/")
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        out = {}
        for info in fs.get_file_info(selector):
            if info.type == pafs.FileType.File:
                with fs.open_input_stream(info.path) as stream:
                    out[info.path.removeprefix(bucket + "/")] = stream.read()
        return out

    def put(self, bucket: str, key: str, data: bytes) -> None:
        with self.filesystem().open_output_stream(f"{bucket}/{key}") as out:
            out.write(data)

    def config(self, bucket: str, prefix: str = "team/cache") -> str:
        """The ``[remote]`` table of gitrack.toml for this bucket."""
        return (
            f'[remote]\nurl = "s3://{bucket}/{prefix}"\n'
            f'endpoint = "{self.endpoint}"\nregion = "us-east-1"\n'
        )
