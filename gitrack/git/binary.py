"""The git binary: for what the user's own git setup must decide (transport, credentials,
worktrees, config files), and for the post-commit hook, which cannot afford pygit2."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from gitrack.errors import ConcurrentUpdateError, GitCommandError
from gitrack.git.cas import TryAgain, is_lasting, retrying
from gitrack.git.discover import find_common_dir
from gitrack.git.refs import stale_lock

FALLBACK_SIGNATURE = ("gitrack", "gitrack@localhost")


def run_git(
    args: list[str],
    cwd: str | os.PathLike[str] | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run the git binary; return stdout. Raise GitCommandError with git's own words."""
    out: str = _run(args, cwd, stdin, env, (0,), text=True)
    return out


def run_git_bytes(
    args: list[str],
    cwd: str | os.PathLike[str],
    stdin: bytes,
    ok: tuple[int, ...] = (0,),
    env: dict[str, str] | None = None,
) -> bytes:
    """`run_git` for bytes in and out (file names that are not UTF-8 stay intact); ``ok``:
    the exit codes that are answers, not failures."""
    out: bytes = _run(args, cwd, stdin, env, ok, text=False)
    return out


def _run(
    args: list[str],
    cwd: str | os.PathLike[str] | None,
    stdin: str | bytes | None,
    env: dict[str, str] | None,
    ok: tuple[int, ...],
    text: bool,
) -> Any:
    """git's stdout, as text or bytes; GitCommandError with git's last words on an exit
    code not in ``ok``."""
    data = stdin.encode("utf-8", "surrogateescape") if isinstance(stdin, str) else stdin
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            input=data,
            env={**os.environ, **env} if env else None,
            check=False,
        )
    except FileNotFoundError as exc:
        if exc.filename == "git":  # not the cwd, which raises the same error
            raise GitCommandError("the git binary was not found on PATH; install git") from exc
        raise GitCommandError(
            f"folder {cwd} does not exist: run gitrack from a folder that does"
        ) from exc
    if proc.returncode not in ok:
        lines = [ln for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit {proc.returncode}"
        raise GitCommandError(f"git {_command_name(args)} failed: {detail}")
    # a file name that is not UTF-8 comes back as Python's os functions take it
    return proc.stdout.decode("utf-8", "surrogateescape") if text else proc.stdout


def cat_blobs(git_dir: Path, blobs: Sequence[str]) -> Iterator[bytes | None]:
    """Each blob's bytes, in order, through one `git cat-file --batch` (None for an id git
    does not find as a blob); stops early, yielding nothing more, if git cannot start or
    dies. git's delta base cache reads a pack in any order at the cost of its own order
    (libgit2 resolves each delta chain from its base again); and git works on another core
    while the caller parses what it yielded.

    Read in big pieces: git buffers its output (``--buffer``: every request is written at
    once, so nobody waits on an answer), into a pipe of 1 MiB where Linux allows it, read
    1 MiB at a time (100,000 notes of 850 bytes: 0.15 s less system time on each side)."""
    # As libgit2 reads them: the blobs named, never a replacement (`git replace`).
    argv = ["git", "--no-replace-objects", f"--git-dir={git_dir}", "cat-file", "--batch"]
    try:
        proc = subprocess.Popen(
            [*argv, "--buffer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return
    assert proc.stdin is not None and proc.stdout is not None
    _widen_pipe(proc.stdout.fileno())
    asked = "".join(f"{blob}\n" for blob in blobs).encode()
    writer = threading.Thread(target=_write_and_close, args=(proc.stdin, asked), daemon=True)
    writer.start()
    try:
        # From the pipe itself, never through proc.stdout's buffer (which stays empty).
        yield from _batch_answers(proc.stdout.fileno(), blobs)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        writer.join()


_PIECE = 1 << 20  # bytes read at a time, and the pipe's size asked for


def _widen_pipe(fd: int) -> None:
    """A pipe of ``_PIECE`` bytes (64 KiB by default): git blocks less often on a full
    pipe, and each read takes more. Linux only; where it is refused, the pipe stays."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, set_size, _PIECE)


def fetch_objects(git_dir: Path, root: Path, remote: str, objects: Sequence[str]) -> bool:
    """Fetch ``objects`` (ids) from ``remote`` in one request, as a partial clone's git
    fetches the objects it lacks (promisor-remote.c: the same command, given them all):
    the user's git, config and credentials, from the work tree's top ``root`` (where git
    resolves a remote URL such as ``../shared.git``). False if git could not."""
    args = [
        "-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet", "--no-tags",
        "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none", "--stdin",
        "--end-of-options", remote,
    ]  # fmt: skip
    try:
        run_git_bytes(
            [f"--git-dir={git_dir}", *args], root, "".join(f"{o}\n" for o in objects).encode()
        )
    except GitCommandError:
        return False
    return True


def _write_and_close(pipe: IO[bytes], data: bytes) -> None:
    # git died: its reader sees the end of its output
    with contextlib.suppress(OSError), pipe:
        pipe.write(data)


def _batch_answers(fd: int, blobs: Sequence[str]) -> Iterator[bytes | None]:
    """The answers of `git cat-file --batch` on ``fd`` to ``blobs``, read in pieces."""
    buffer, at = b"", 0  # what was read, and where the next answer starts in it
    for blob in blobs:
        end = buffer.find(b"\n", at)
        while end < 0:
            more = os.read(fd, _PIECE)
            if not more:
                return
            buffer, at = buffer[at:] + more, 0
            end = buffer.find(b"\n")
        header = buffer[at:end].split()
        at = end + 1
        if not header or header[0].decode() != blob:
            return  # git stopped: what is left is not read this way
        if len(header) == 3:
            size = int(header[2]) + 1  # the object, and a newline
            if len(buffer) - at < size:
                parts, have = [buffer[at:]], len(buffer) - at
                while have < size:
                    more = os.read(fd, max(_PIECE, size - have))
                    if not more:
                        return
                    parts.append(more)
                    have += len(more)
                buffer, at = b"".join(parts), 0
            data, at = buffer[at : at + size - 1], at + size
        if len(header) != 3 or header[1] != b"blob":
            yield None  # missing, or another kind of object (skipped)
            continue
        yield data


def _command_name(args: list[str]) -> str:
    """`checkout` in `git -c core.hooksPath=/dev/null checkout ...`: for error messages."""
    rest = iter(args)
    for arg in rest:
        if arg == "-c":
            next(rest, None)  # its value
        elif not arg.startswith("-"):
            return arg
    return args[0] if args else ""


class GitCli:
    """The git binary alone, without pygit2 (60 ms to import): for the post-commit hook,
    which must add at most 0.1 s to `git commit`."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def commit_trees(self, revs: list[str]) -> dict[str, tuple[str, str]]:
        """(commit id, tree id) of each of ``revs`` that names a commit (the others are left
        out), from one `git cat-file --batch-check` whatever their number."""
        revs = [rev for rev in dict.fromkeys(revs) if rev and "\n" not in rev]
        if not revs:
            return {}
        asked = "".join(f"{rev}^{{commit}}\n{rev}^{{tree}}\n" for rev in revs)
        answers = run_git(
            ["cat-file", "--batch-check=%(objectname) %(objecttype)"], cwd=self.cwd, stdin=asked
        ).splitlines()
        found = {}
        for rev, commit, tree in zip(revs, answers[::2], answers[1::2], strict=True):
            if commit.endswith(" commit") and tree.endswith(" tree"):
                found[rev] = (commit.split()[0], tree.split()[0])
        return found

    def note_text(self, refname: str, commit: str) -> str:
        """The note on ``commit``; "" when it has none. Any other failure is raised: taken
        for "no note", it would make a writer drop the lines the note has."""
        try:
            return run_git(["notes", f"--ref={refname}", "show", commit], cwd=self.cwd)
        except GitCommandError as exc:
            if "no note found" in str(exc):
                return ""
            raise

    def update_note(
        self, refname: str, commit: str, transform: Callable[[str], str], message: str
    ) -> None:
        """Compare-and-swap, like Notes.update: the note is rewritten on a private ref
        with `git notes`, then `git update-ref REF NEW OLD` moves ours only if unmoved.

        A lost race, a lock another process holds, a file `git gc` moved: any failure that
        passes (see gitrack.git.transient) starts over from the current tip.
        """
        private = f"refs/notes/gitrack-tmp/{os.getpid()}"
        common_dir = find_common_dir(self.cwd)
        locked = stale_lock(common_dir, refname) if common_dir else None
        if locked is not None:
            raise locked  # at once: ten seconds of retries would hold up `git commit`

        def attempt() -> None:
            try:
                old = self.ref(refname)
                if old:
                    run_git(["update-ref", private, old], cwd=self.cwd)
                text = transform(self.note_text(private, commit) if old else "")
                self._notes_add(private, commit, text, message)
                new = self.ref(private)
                if not new:
                    raise TryAgain(f"{private} vanished")
                self.swap(refname, new, old)
            except GitCommandError as exc:
                if is_lasting(str(exc)):
                    raise
                raise TryAgain(str(exc)) from exc
            finally:
                self._delete_ref(private)

        retrying(attempt, lambda reason: ConcurrentUpdateError(refname, reason))

    def ref(self, refname: str) -> str | None:
        try:
            return run_git(["rev-parse", "-q", "--verify", refname], cwd=self.cwd).strip()
        except GitCommandError:
            return None

    def swap(self, refname: str, new: str, old: str | None, message: str = "gitrack") -> None:
        """`git update-ref REF NEW OLD`: moves only if REF is still OLD (absent: None);
        raises GitCommandError when it moved (or its lock is held)."""
        expected = old or "0" * len(new)  # all zeros: the ref must not exist yet
        run_git(["update-ref", "-m", message.strip(), refname, new, expected], cwd=self.cwd)

    def _delete_ref(self, refname: str) -> None:
        """Best effort, a few tries: deleting a ref that `git pack-refs` packed meanwhile
        needs packed-refs.lock, which a running `git gc` may hold for a moment."""
        for _ in range(5):
            try:
                run_git(["update-ref", "-d", refname], cwd=self.cwd)
                return
            except GitCommandError:
                time.sleep(0.01)

    def _notes_add(self, refname: str, commit: str, text: str, message: str) -> None:
        args = ["notes", f"--ref={refname}", "add", "-f", "-F", "-", commit]
        try:
            run_git(args, cwd=self.cwd, stdin=text)
        except GitCommandError as exc:
            if "ident" not in str(exc) and "who you are" not in str(exc):
                raise
            # No user identity here (a fresh CI box): gitrack's own commits still work.
            name, email = FALLBACK_SIGNATURE
            identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                        "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}  # fmt: skip
            run_git(args, cwd=self.cwd, stdin=text, env=identity)
