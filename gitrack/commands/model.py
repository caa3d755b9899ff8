"""`gitrack model ...`: the model registry on git tags (GTO's format)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gitrack.commands.context import Context
from gitrack.tracking.registry import fetch, names, ops, state
from gitrack.tracking.registry.ops import Created


def register(
    ctx: Context,
    name: str,
    run: str,
    paths: tuple[str, ...] = (),
    version: str | None = None,
    bump: str | None = None,
) -> Created:
    return ops.register(ctx.repo, name, run, paths, version, bump)


def outputs_of(ctx: Context, run: str) -> list[str]:
    """The outputs of a run, sorted: what `register --path` may name."""
    from gitrack.tracking import history

    return sorted(history.resolve(ctx.load_runs(), run).record.outputs)


def assign(ctx: Context, name: str, version: str, stage: str) -> Created:
    return ops.assign(ctx.repo, name, version, stage)


def unassign(ctx: Context, name: str, stage: str) -> Created:
    return ops.unassign(ctx.repo, name, stage)


def deprecate(ctx: Context, name: str, version: str | None = None) -> Created:
    return ops.deprecate(ctx.repo, name, version)


def resolve(ctx: Context, spec: str) -> state.Version:
    return ops.resolve(state.load(ctx.repo), names.parse_spec(spec))


def run_of(ctx: Context, spec: str) -> str:
    version = resolve(ctx, spec)
    payload = version.payload
    if payload is None:
        raise ops.RegistryError(f"{spec} was registered without gitrack: it names no run")
    return payload.run


def get(ctx: Context, spec: str, dest: Path | None = None) -> tuple[state.Version, Path]:
    """Write the bytes of the version ``spec`` names at ``dest`` (default: here)."""
    version = resolve(ctx, spec)
    target = dest if dest is not None else fetch.default_destination(version, Path.cwd())
    return version, fetch.write(ctx.repo, ctx.store, version, target)


def local_path(ctx: Context, spec: str) -> Path:
    version = resolve(ctx, spec)
    return fetch.local_copy(ctx.repo, ctx.store, version)


def listing(ctx: Context, name: str | None = None) -> list[dict[str, Any]]:
    """Every model (or one), its versions newest first, as plain data."""
    models = state.load(ctx.repo)
    if name is not None:
        models = {name: ops.find_model(models, name)}
    return [_model_data(model) for _, model in sorted(models.items())]


def _model_data(model: state.Model) -> dict[str, Any]:
    latest = model.latest()
    versions = sorted(
        model.versions.values(),
        key=lambda v: names.version_key(v.version) if v.registered else ((-1, 0, 0), 0, ()),
        reverse=True,
    )
    return {
        "name": model.name,
        "deprecated": model.deprecated,
        "latest": latest.version if latest else None,
        "stages": dict(sorted(model.stages.items())),
        "versions": [_version_data(v) for v in versions],
    }


def _version_data(version: state.Version) -> dict[str, Any]:
    payload = version.payload
    event = version.registration
    return {
        "version": version.version,
        "tag": event.tag.name if event else None,
        "commit": version.commit,
        "active": version.active,
        "stages": sorted(version.stages),
        "run": payload.run if payload else None,
        "paths": payload.paths if payload else {},
        "metrics": payload.metrics if payload else {},
        "created": _iso(event.tag.time) if event else None,
        "author": event.tag.tagger if event else None,
        "author_email": event.tag.tagger_email if event else None,
    }


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
