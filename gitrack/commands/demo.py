"""`gitrack demo`: the whole loop on a throwaway repository, in a few seconds.

Records three runs with different learning rates, a fourth on an uncommitted edit,
shows them in plain `git log`, restores the best run into a new worktree, checks it
is exact and re-runs it there to show the same result comes back; then registers the
best run's model, puts it in the prod stage and fetches it back by stage, and writes the
HTML report of the runs.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from gitrack import config
from gitrack.commands import install
from gitrack.commands import model as registry
from gitrack.commands.context import Context
from gitrack.data.hashing import hash_file
from gitrack.errors import GitrackError
from gitrack.git import Repo, init_repository
from gitrack.tracking import checkout as run_checkout
from gitrack.tracking import history, recorder

DEMO_FILES = ("train.py", "data.csv")
LEARNING_RATES = ("0.01", "0.05", "0.1")

Echo = Callable[[str], None]


def run_demo(directory: Path | None, echo: Echo = print) -> Path:
    """Build the demo in ``directory`` (default: a new temporary folder); return it."""
    root = _prepare(directory)
    echo(f"== a fresh repository in {root}")
    repo = _make_repository(root)
    for change in install.install(repo):
        echo(f"   gitrack install: {change.describe().strip()}")

    echo("\n== three runs on the committed code")
    for lr in LEARNING_RATES:
        _record(root, lr, echo)

    echo("\n== an uncommitted edit (EPOCHS = 30 -> 300), then one more run")
    script = root / "train.py"
    script.write_text(script.read_text().replace("EPOCHS = 30", "EPOCHS = 300"))
    best = _record(root, "0.05", echo)

    echo("\n== plain `git log` shows the runs (notes on the commit)")
    echo(repo.log_text(1).rstrip())

    runs = history.load_runs(repo).runs
    best_run = min(runs, key=lambda r: r.record.metrics.get("mse", float("inf")))
    echo(f"\n== best run by mse: {best_run.id} ({best_run.record.metrics['mse']:.6f})")
    target = root.parent / f"{root.name}-best-run"
    result = run_checkout.checkout_run(repo, best_run, worktree=target)
    echo(f"   gitrack checkout {best_run.id[:8]} --worktree {target}")
    echo(f"   restored and verified: {result.changed} file(s) differ from the commit")

    echo("\n== re-run the restored code: the same result comes back")
    rerun = recorder.record_run(
        [sys.executable, "train.py", "--lr", "0.05"], metrics_file="metrics.json", cwd=target
    )
    same = rerun.record.metrics.get("mse") == best_run.record.metrics.get("mse")
    echo(f"   mse {rerun.record.metrics.get('mse')!r}: {'identical' if same else 'DIFFERENT'}")
    if not same or best_run.id != best.record.id:
        raise GitrackError("the demo's best run did not reproduce; please report this")
    _register_best(repo, best_run, echo)
    page = _report(root)
    echo(f"\n== every run on one page (gitrack report): open it in a browser\n   {page}")
    echo(f"\nDone. Look around: cd {root} && gitrack ls && gitrack show {best_run.id[:8]} --patch")
    return root


def _register_best(repo: Repo, run: history.Run, echo: Echo) -> None:
    echo("\n== register the best run's model, put it in prod, fetch it back by stage")
    ctx = Context(repo, config.load(repo.root))
    run_id = run.id
    made = registry.register(ctx, "demo-model", run_id)
    echo(f"   gitrack model register demo-model {run_id[:8]}  -> tag {made.tag}")
    assigned = registry.assign(ctx, "demo-model", made.version, "prod")
    echo(f"   gitrack model assign demo-model {made.version} prod  -> tag {assigned.tag}")
    target = repo.root.parent / f"{repo.root.name}-prod-model.json"
    version, written = registry.get(ctx, "demo-model#prod", target)
    if hash_file(written) != run.record.outputs["model.json"]:
        raise GitrackError("the demo's registered model came back different; please report this")
    echo(f"   gitrack model get demo-model#prod -o {written}  -> {version.version}, verified")


def _report(root: Path) -> Path:
    """The demo's runs as `gitrack report -o report.html` writes them."""
    from gitrack.commands.context import Context
    from gitrack.commands.report import write_report

    return write_report(Context.open(root), [], None, root / "report.html").path


def _prepare(directory: Path | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="gitrack-demo-")).resolve()
    root = directory.resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise GitrackError(f"{root} already exists and is not empty; give a new folder")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _make_repository(root: Path) -> Repo:
    package = resources.files("gitrack") / "demo_data"
    for name in DEMO_FILES:
        with resources.as_file(package / name) as source:
            shutil.copyfile(source, root / name)
    (root / ".gitignore").write_text("metrics.json\nmodel.json\n__pycache__/\n")
    return init_repository(root)


def _record(root: Path, lr: str, echo: Echo) -> recorder.RunResult:
    result = recorder.record_run(
        [sys.executable, "train.py", "--lr", lr],
        params={"lr": lr},
        metrics_file="metrics.json",
        outputs=["model.json"],
        cwd=root,
    )
    if result.exit_code != 0:
        raise GitrackError(f"the demo's training script failed (exit {result.exit_code})")
    rec = result.record
    echo(f"   gitrack run -p lr={lr} -m metrics.json -- python train.py --lr {lr}")
    echo(f"     -> run {rec.id[:8]}  mse={rec.metrics['mse']:.6f}  dirty={rec.dirty}")
    return result
