"""`gitrack sweep`: a grid or random draws of parameters, each point a recorded run."""

from __future__ import annotations

import os

from gitrack.commands.context import Context
from gitrack.errors import UsageError
from gitrack.tracking import sweep as sweeps


def sweep(
    ctx: Context,
    command: list[str],
    specs: list[str],
    *,
    jobs: int = 1,
    random_count: int | None = None,
    seed: int | None = None,
    datasets: list[str] | tuple[str, ...] = (),
    outputs: list[str] | tuple[str, ...] = (),
    metrics_file: str | None = None,
    name: str | None = None,
    experiment: str | None = None,
    sort: str | None = None,
) -> sweeps.SweepResult:
    if not command:
        raise UsageError("no command given (write e.g. gitrack sweep -p lr=0.1,0.01 -- "
                         "python train.py --lr {lr})")  # fmt: skip
    space = sweeps.parse_space(specs)
    params = sweeps.grid(space) if random_count is None else sweeps.draws(space, random_count, seed)
    settings = ctx.settings
    shared = {
        "-o": list(outputs),
        "-m": [metrics_file] if metrics_file else [],
        "the config's outputs": list(settings.outputs),
        "the config's metrics file": [settings.metrics] if settings.metrics else [],
    }
    sweeps.check_isolated(params, shared, jobs)
    points = [
        sweeps.Point(
            p,
            sweeps.gitrack_run_argv(
                command, p, list(datasets), list(outputs), metrics_file, experiment
            ),
        )
        for p in params
    ]
    sweep_argv = _sweep_argv(
        command, specs, jobs, random_count, seed, datasets, outputs, metrics_file, experiment
    )
    space_specs = {s.partition("=")[0].strip(): s.partition("=")[2] for s in specs}
    typed = [*command, *datasets, *outputs, *([metrics_file] if metrics_file else [])]
    warnings = sweeps.unknown_placeholders(typed, space)
    result = sweeps.record_sweep(
        sweep_argv,
        points,
        space_specs,
        jobs,
        name=name,
        experiment=experiment,
        sort=sort,
        cwd=os.getcwd(),
    )
    result.warnings[:0] = warnings
    return result


def _sweep_argv(
    command: list[str],
    specs: list[str],
    jobs: int,
    random_count: int | None,
    seed: int | None,
    datasets: list[str] | tuple[str, ...],
    outputs: list[str] | tuple[str, ...],
    metrics_file: str | None,
    experiment: str | None,
) -> list[str]:
    """The sweep as typed (the sweep run's command): what `gitrack show` says it ran."""
    argv = ["gitrack", "sweep", *(a for s in specs for a in ("-p", s))]
    argv += ["--jobs", str(jobs)] if jobs > 1 else []
    argv += ["--random", str(random_count)] if random_count is not None else []
    argv += ["--seed", str(seed)] if seed is not None else []
    argv += [a for d in datasets for a in ("-d", d)] + [a for o in outputs for a in ("-o", o)]
    argv += ["-m", metrics_file] if metrics_file else []
    argv += ["-e", experiment] if experiment else []
    return [*argv, "--", *command]
