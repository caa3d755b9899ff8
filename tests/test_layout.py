"""The architecture the layout promises (docs/architecture.md), checked.

Layers, bottom to top: core modules, git/, data/, tracking/, views/, commands/, and the
front ends (cli, api). Every import points down or stays within its own subpackage;
the front ends load nothing heavy until a command needs it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitrack

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gitrack"

LAYERS = {
    "gitrack": 0,  # the package itself: __version__ and the lazy API names
    "gitrack.errors": 0,
    "gitrack.paths": 0,
    "gitrack.config": 1,
    "gitrack.git": 2,
    "gitrack.data": 3,
    "gitrack.tracking": 4,
    "gitrack.views": 5,
    "gitrack.commands": 6,
    "gitrack.api": 7,
    "gitrack.recorded": 7,
    "gitrack.cli": 7,
    "gitrack.crash": 7,
    "gitrack.hookrun": 7,
    "gitrack.__main__": 8,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise AssertionError(f"{module} is in no layer: add it to docs/architecture.md and here")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gitrack":
                found.update(f"gitrack.{a.name}" for a in node.names if a.name != "__version__")
                found.add("gitrack")
            elif node.module.startswith("gitrack."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "gitrack")
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = {_module_name(p) for p in SOURCES}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_import_points_down(path: Path) -> None:
    me = _module_name(path)
    mine = _layer(me)
    upward = [m for m in sorted(_imports(path)) if _layer(m) > mine]
    if me == "gitrack":
        # The lazy facade: `gitrack.start_run`, `gitrack.runs` and friends.
        upward = [m for m in upward if m not in ("gitrack.api", "gitrack.recorded")]
    assert upward == [], f"{me} (layer {mine}) imports from higher layers: {upward}"


def _top_level_imports(path: Path) -> set[str]:
    """Imports executed when the module loads (not inside functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gitrack"):
            for alias in node.names:
                # `from gitrack.git import submodules` loads the module, not a cycle back
                # into the package that is already loading.
                submodule = f"{node.module}.{alias.name}"
                if submodule in MODULES:
                    found.add(submodule)
                elif node.module != "gitrack":
                    found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gitrack."))
    return found


def test_no_import_cycle_at_load_time() -> None:
    modules = {_module_name(p): p for p in SOURCES}
    graph = {
        name: {m for m in _top_level_imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_module_over_600_lines_and_no_class_over_300() -> None:
    too_long = []
    for path in SOURCES:
        text = path.read_text()
        if text.count("\n") > 600:
            too_long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > 300:
                    too_long.append(f"{path.relative_to(ROOT)}: class {node.name}, {length} lines")
    assert too_long == []


def _loaded_after(statement: str, cwd: Path = ROOT) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd
    ).stdout
    return set(out.split())


@pytest.mark.parametrize("statement", ["import gitrack", "import gitrack.cli"])
def test_importing_the_front_ends_loads_no_heavy_module(statement: str) -> None:
    loaded = _loaded_after(statement)
    heavy = sorted(m for m in loaded if m.split(".")[0] in ("pygit2", "pyarrow", "sqlite3"))
    assert heavy == []


def test_every_command_is_where_the_lazy_group_looks_for_it() -> None:
    from gitrack.cli import base, cli

    assert sorted(cli.commands) == sorted(base.COMMAND_MODULES)
    for name, command in cli.commands.items():
        assert command.callback is not None
        assert command.callback.__module__ == f"gitrack.cli.{base.COMMAND_MODULES[name]}"


def test_a_plain_run_loads_only_what_it_needs(repo: Path) -> None:
    """`gitrack run -- true` (no data, no outputs) in an installed repository: no other
    command's module, no data store, no pyarrow, no listing of runs (its `git log` line
    is added, not rebuilt), no views beyond printing."""
    assert gitrack("install", cwd=repo).code == 0
    statement = "from gitrack.cli import main\nassert main(['run', '--', 'true']) == 0"
    loaded = _loaded_after(statement, cwd=repo)
    assert "gitrack.tracking.recorder" in loaded
    assert "run " in git("notes", "--ref=runs", "show", "HEAD", cwd=repo)
    commands = {f"gitrack.cli.{module}" for module in ("data", "lifecycle", "model")}
    commands |= {f"gitrack.cli.{module}" for module in ("report", "repository", "reuse")}
    unwanted = commands | {"pyarrow", "sqlite3", "concurrent.futures", "xxhash"}
    unwanted |= {"gitrack.data.store", "gitrack.tracking.rundata", "gitrack.commands"}
    unwanted |= {"gitrack.views.query", "gitrack.views.table", "gitrack.views.render"}
    unwanted |= {"gitrack.tracking.history", "gitrack.tracking.notecache"}
    assert sorted(unwanted & loaded) == []


def test_the_command_line_imports_pygit2_without_its_tls_setup(repo: Path) -> None:
    """gitrack's own process skips pygit2's CA certificate loading (its remotes go
    through the git binary), and the command it runs sees $SSL_CERT_FILE as it was; a
    user's process (the API, or main(argv) called from its code) keeps pygit2 as it is."""
    seen = repo / "seen.txt"
    command = ["sh", "-c", f'printf %s "$SSL_CERT_FILE" > {seen}']
    # ...nor imports ssl for pygit2's settings; a later `import ssl` is the real module.
    probe = (
        "import sys, pygit2\nprint('ssl' in sys.modules)\n"
        "import ssl\nassert ssl.create_default_context().verify_mode == ssl.CERT_REQUIRED\n"
        "print(pygit2.settings._default_tls_verify_paths is None)"
    )
    cli = (
        "import sys\nfrom gitrack.cli import main\n"
        f"sys.argv = ['gitrack', 'run', '--', *{command!r}]\nassert main() == 0\n"
    )
    called = "from gitrack.cli import main\nassert main(['ls']) == 0\n"  # from a user's code
    api = "import gitrack\nassert gitrack.runs()\n"
    env = {**os.environ, "SSL_CERT_FILE": str(repo / "no-such-bundle.pem")}
    outputs = []
    for code in (cli, api, called):
        proc = subprocess.run(
            [sys.executable, "-c", code + probe],
            capture_output=True,
            text=True,
            check=True,
            cwd=repo,
            env=env,
        )
        outputs.append(proc.stdout.split())
    assert [printed[-2:] for printed in outputs] == [
        ["False", "True"],
        ["True", "False"],
        ["True", "False"],
    ]
    assert seen.read_text() == env["SSL_CERT_FILE"]


def test_the_gitrack_program_runs_without_the_cycle_collector(repo: Path) -> None:
    """The program (main() reading sys.argv) runs with the cycle collector off and freezes
    what it loaded before exiting; a caller of main(argv) in a longer process (the tests)
    keeps Python's collector as is."""
    frozen = []
    for call in (
        "sys.argv = ['gitrack', 'run', '--', 'true']\ncode = main()",
        "code = main(['run', '--', 'true'])",
    ):
        shown = "print(code, gc.get_freeze_count() > 0, gc.isenabled())"
        statement = f"import gc, sys\nfrom gitrack.cli import main\n{call}\n{shown}"
        proc = subprocess.run(
            [sys.executable, "-c", statement], capture_output=True, text=True, check=True, cwd=repo
        )
        frozen.append(proc.stdout.split())
    assert frozen == [["0", "True", "False"], ["0", "False", "True"]]


def test_logging_inside_gitrack_run_loads_no_git_and_no_recorder(tmp_path: Path) -> None:
    """The training process only appends events: no pygit2, no recorder, no config."""
    events = tmp_path / "events.jsonl"
    statement = (
        "import os\n"
        f"os.environ.update(GITRACK_RUN_ID='ab' * 8, GITRACK_EVENTS={str(events)!r})\n"
        "import gitrack\n"
        "gitrack.log_metric('loss', 0.5)\n"
        "gitrack.end_run()"
    )
    loaded = _loaded_after(statement)
    unwanted = {"pygit2", "pyarrow", "gitrack.tracking.recorder", "gitrack.config", "gitrack.git"}
    assert sorted(unwanted & loaded) == []
    assert '"k":"loss"' in events.read_text()


def test_the_post_commit_path_loads_neither_pygit2_nor_the_repository_modules() -> None:
    """Every `git commit` runs the post-commit hook: its Python path uses the git binary."""
    loaded = _loaded_after("import gitrack.hookrun\nfrom gitrack.git import GitCli")
    unwanted = {"pygit2", "gitrack.git.repo", "gitrack.git.snapshot", "pyarrow"}
    assert sorted(unwanted & loaded) == []


def test_the_git_package_exports_what_it_loads_lazily() -> None:
    import gitrack.git

    assert sorted(gitrack.git.__all__) == sorted(gitrack.git._HOMES)
    for name in gitrack.git.__all__:
        assert getattr(gitrack.git, name) is not None
