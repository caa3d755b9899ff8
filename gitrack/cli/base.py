"""The command group, what every command shares (printing, the Context), and ``invoke``."""

from __future__ import annotations

import errno
import gc
import importlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from gitrack import __version__
from gitrack.errors import GitrackError
from gitrack.views.terminal import printable, printable_json

if TYPE_CHECKING:
    from gitrack.commands.context import Context

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# The module of gitrack.cli that defines each command. A start imports only the module of
# the command it runs (`gitrack run`: runs.py), not the modules of all the others.
COMMAND_MODULES = {
    **dict.fromkeys(["run", "ls", "show", "checkout", "compare", "export"], "runs"),
    **dict.fromkeys(["rm", "tag", "rename", "note", "experiments"], "lifecycle"),
    **dict.fromkeys(["rerun", "sweep", "get", "cat", "ls-files"], "reuse"),
    **dict.fromkeys(
        ["install", "uninstall", "hash", "status", "gc", "fsck", "pull", "push", "demo"],
        "repository",
    ),
    "restore-data": "data",
    "model": "model",
    "report": "report",
}


class LazyGroup(click.Group):
    """A group whose commands are loaded (their module imported) when first asked for."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"gitrack.cli.{module}")  # its decorators register it
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        load_all_commands()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise ClosedPipe() from exc


class ClosedPipe(Exception):
    """The reader of gitrack's output went away (`gitrack ls --json | head`). Not an
    OSError: click's main would turn that into exit 1, whatever the command was doing."""


def _quiet_stdout() -> None:
    """Nothing more to the closed pipe: Python's flush at exit would fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # in-process: stdout is not a file
        pass


def load_all_commands() -> None:
    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"gitrack.cli.{module}")


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="gitrack")
def cli() -> None:
    """gitrack: every experiment run recorded in git itself.

    \b
    A run's code (uncommitted edits and untracked files included), command,
    params, metrics and environment go into a git note on the current commit;
    `git log` shows them and `gitrack checkout RUN` brings the exact state back.

    \b
    Start with:
      gitrack install
      gitrack run -p lr=0.1 -m metrics.json -- python train.py --lr 0.1
      git log            # or: gitrack ls
    """


def _size(count: int) -> str:
    from gitrack.views.render import size_text  # one formatter for every size shown

    return size_text(count)


def _print_json(data: Any) -> None:
    # Indented for people; compact for pipes and scripts (Python's C encoder, 2x faster).
    if sys.stdout.isatty():
        click.echo(printable_json(json.dumps(data, indent=2, ensure_ascii=False)))
    else:
        click.echo(printable_json(json.dumps(data, ensure_ascii=False, separators=(",", ":"))))


def _context() -> Context:
    """The repository, config and store of this invocation; config warnings shown once."""
    from gitrack.commands.context import Context

    ctx = Context.open()
    _warn_all(list(ctx.settings.warnings))
    return ctx


def _warn_all(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"gitrack: warning: {printable(warning)}", err=True)  # may quote notes


def invoke(argv: list[str] | None) -> int:
    """``gitrack.cli.main``, once the process is set up: the command's exit code."""
    try:
        return _invoke(argv)
    finally:
        if argv is None:  # the gitrack program (console script, python -m gitrack), exiting
            # What is left is freed as the process ends: Python's exit-time collections
            # need not walk every module, class and function loaded (~6% of a run).
            gc.freeze()


def _invoke(argv: list[str] | None) -> int:
    try:
        result = cli.main(args=argv, prog_name="gitrack", standalone_mode=False)
        sys.stdout.flush()  # a full disk met here, not in Python's exit-time flush (exit 120)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except GitrackError as exc:
        click.echo(f"Error: {printable(str(exc))}", err=True)  # may quote notes
        return 1
    except KeyboardInterrupt:
        return 130
    except (BrokenPipeError, ClosedPipe):
        _quiet_stdout()
        return 0  # `gitrack ls | head`: the reader had what it wanted
    except OSError as exc:
        if exc.errno not in _FULL_DISK:
            return _crash(exc, argv)
        # the user's disk, not a bug: every write gitrack makes is atomic, so nothing is lost
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"Error: {exc.strerror}{where}: free some space, then run it again", err=True)
        _quiet_stdout()
        return 1
    except Exception as exc:
        return _crash(exc, argv)
    return result if isinstance(result, int) else 0


_FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


def _crash(exc: BaseException, argv: list[str] | None) -> int:
    from gitrack import crash

    click.echo(crash.report(exc, list(sys.argv[1:] if argv is None else argv)), err=True)
    return crash.CRASH_EXIT
