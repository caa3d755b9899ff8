"""Register, assign, unassign, deprecate: each checks everything first, then creates one
annotated tag (never moves one), so a refusal leaves nothing behind.

Messages are GTO's own, so `gto` and DVC Studio show them as they show theirs; a
registration adds a line with the run, the model's paths and hashes, and its metrics.

Tagger times: GTO orders a model's events by tagger time, in whole seconds. Two
assignments made within one second would leave their order to chance there, so a new tag
of a model is dated at least one second after the model's latest tag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gitrack.errors import GitrackError, UsageError
from gitrack.git import Repo
from gitrack.git.cas import TryAgain, retrying
from gitrack.git.tags import TagExistsError
from gitrack.tracking import history
from gitrack.tracking.record import encode_number
from gitrack.tracking.registry import names, state
from gitrack.tracking.registry.names import TagName

RACE_ATTEMPTS = 20  # tag names another writer may take first: a counter, a bumped version
MAX_METRICS = 20  # a registration names the run's metrics, not a whole metric history


class RegistryError(GitrackError):
    """A registry operation that cannot be done as asked."""


@dataclass(frozen=True)
class Created:
    tag: str
    model: str
    version: str
    commit: str
    stage: str | None = None
    run: str | None = None


def find_model(models: dict[str, state.Model], name: str) -> state.Model:
    names.check_name(name)
    if name not in models:
        known = ", ".join(sorted(models)) or "none yet"
        raise RegistryError(
            f"no model named {name!r} (models: {known}); register one with "
            "gitrack model register NAME RUN"
        )
    return models[name]


def find_version(model: state.Model, version: str) -> state.Version:
    if version in ("latest", "greatest"):
        latest = model.latest()
        if latest is None:
            raise RegistryError(f"model {model.name!r} has no active version")
        return latest
    names.check_version(version)
    found = model.versions.get(version)
    if found is None or not found.registered:
        known = ", ".join(sorted(v for v, o in model.versions.items() if o.registered))
        raise RegistryError(
            f"model {model.name!r} has no version {version} (versions: {known or 'none'})"
        )
    if not found.active:
        raise RegistryError(f"{model.name}@{version} is deprecated (deregistered)")
    return found


def resolve(models: dict[str, state.Model], spec: names.Spec) -> state.Version:
    """The version NAME, NAME@vX.Y.Z, NAME@latest or NAME#STAGE means."""
    model = find_model(models, spec.model)
    if model.deprecated:
        raise RegistryError(
            f"model {model.name!r} is deprecated; register a new version to use it again"
        )
    if spec.stage is not None:
        held = model.stages.get(spec.stage)
        if held is None:
            stages = ", ".join(f"{s} ({v})" for s, v in sorted(model.stages.items()))
            raise RegistryError(
                f"no version of {model.name!r} is in stage {spec.stage!r} "
                f"(stages: {stages or 'none'}); assign one with gitrack model assign"
            )
        return model.versions[held]
    return find_version(model, spec.version or "latest")


# ------------------------------------------------------------------ register
def register(
    repo: Repo,
    name: str,
    run_ref: str,
    paths: tuple[str, ...] | list[str] = (),
    version: str | None = None,
    bump: str | None = None,
) -> Created:
    """Register ``run_ref``'s output(s) as a new version of ``name``. A version gitrack
    picks (no ``version`` given) is picked again if another writer took it meanwhile."""
    if version is not None:
        return _register(repo, name, run_ref, paths, version, bump)
    return _retrying(lambda: _register(repo, name, run_ref, paths, version, bump))


def _retrying(action: Callable[[], Created]) -> Created:
    """``action`` again, on a fresh state, when another writer took the tag name it chose.

    Through the shared back-off loop: writers that collided wait a jittered moment, so
    under load they spread out instead of colliding again in lock-step."""

    def attempt() -> Created:
        try:
            return action()
        except TagExistsError as exc:
            raise TryAgain(str(exc)) from exc

    return retrying(attempt, GitrackError, RACE_ATTEMPTS)


def _register(
    repo: Repo,
    name: str,
    run_ref: str,
    paths: tuple[str, ...] | list[str] = (),
    version: str | None = None,
    bump: str | None = None,
) -> Created:
    names.check_name(name)
    if version is not None and bump is not None:
        raise UsageError("give either --version or --bump, not both")
    if bump is not None and bump not in ("major", "minor", "patch"):
        raise UsageError(f"--bump takes major, minor or patch, not {bump!r}")
    model = state.load(repo).get(name) or state.Model(name)
    run = history.resolve(history.load_runs(repo), run_ref)
    rec = run.record
    if rec.status != "ok":
        raise RegistryError(
            f"run {run.id} {rec.status} (exit {rec.exit_code}); register a run that finished ok"
        )
    for existing in model.versions.values():
        payload = existing.payload
        if existing.active and payload is not None and payload.run == run.id:
            raise RegistryError(
                f"run {run.id} is already registered as {name}@{existing.version}; "
                "assign that version instead"
            )
    chosen = _model_paths(run.id, rec.outputs, paths)
    new_version = _next_version(model, version, bump)
    commit = _commit_for(repo, model, run)
    metrics = dict(sorted(rec.metrics.items())[:MAX_METRICS])
    payload = state.Payload(
        run.id,
        {p: rec.outputs[p] for p in chosen},
        {k: encode_number(v) for k, v in metrics.items()},
    )
    message = f"Registering artifact {name} version {new_version}\n\n{payload.to_line()}\n"
    tag = names.format_tag(TagName(names.REGISTER, name, version=new_version))
    return _create(repo, model, tag, commit, message, version=new_version, run=run.id)


def _model_paths(
    run_id: str, outputs: dict[str, str], wanted: tuple[str, ...] | list[str]
) -> list[str]:
    if not outputs:
        raise RegistryError(
            f"run {run_id} recorded no outputs, so it has no model to register; record the "
            "model file with gitrack run -o PATH -- ..."
        )
    listed = ", ".join(sorted(outputs))
    if not wanted:
        if len(outputs) > 1:
            raise UsageError(
                f"run {run_id} has several outputs ({listed}); choose the model with --path"
            )
        return list(outputs)
    chosen = [p.removeprefix("./").rstrip("/") for p in wanted]
    for path in chosen:
        if path not in outputs:
            raise RegistryError(f"{path!r} is not an output of run {run_id} (outputs: {listed})")
    return sorted(set(chosen))


def _next_version(model: state.Model, version: str | None, bump: str | None) -> str:
    existing = [v for v, o in model.versions.items() if o.registered]
    greatest = max(existing, key=names.version_key, default=None)
    if version is None:
        return names.bump(greatest, bump or "patch")
    names.check_version(version)
    if version in existing:
        raise RegistryError(f"{model.name}@{version} already exists; versions are never reused")
    if greatest is not None and names.version_key(version) <= names.version_key(greatest):
        raise RegistryError(
            f"{version} would go backwards: {model.name}'s greatest version is {greatest}; "
            "give a greater one or use --bump"
        )
    return version


def _commit_for(repo: Repo, model: state.Model, run: history.Run) -> str:
    """The run's exact code: its snapshot if it ran on uncommitted edits, else its commit.

    GTO knows a version by its commit: when the commit already holds a version of this
    model (another clean run there), the run's own snapshot commit is used instead.
    """
    rec = run.record
    candidates = [rec.snapshot] if rec.dirty else [rec.base_commit, rec.snapshot]
    for commit in candidates:
        if not repo.has_object(commit):
            raise RegistryError(
                f"commit {commit} of run {run.id} is missing here; run gitrack pull first"
            )
        taken = [v for v in model.versions.values() if v.commit == commit]
        if not taken:
            return commit
    raise RegistryError(
        f"run {run.id} is already registered as {model.name}@{taken[0].version}; "
        "assign that version instead"
    )


# ------------------------------------------------------------------ stages
def assign(repo: Repo, name: str, version: str, stage: str) -> Created:
    return _retrying(lambda: _assign(repo, name, version, stage))


def _assign(repo: Repo, name: str, version: str, stage: str) -> Created:
    names.check_name(stage, "stage name")
    model = find_model(state.load(repo), name)
    if model.deprecated:
        raise RegistryError(f"model {name!r} is deprecated; register a new version first")
    found = find_version(model, version)
    if model.stages.get(stage) == found.version:
        raise RegistryError(f"{name}@{found.version} is already in stage {stage!r}")
    tag = names.format_tag(TagName(names.ASSIGN, name, stage=stage, counter=model.last_counter + 1))
    message = f"Assigning stage {stage} to artifact {name} version {found.version}\n"
    return _create(repo, model, tag, found.commit, message, version=found.version, stage=stage)


def unassign(repo: Repo, name: str, stage: str) -> Created:
    return _retrying(lambda: _unassign(repo, name, stage))


def _unassign(repo: Repo, name: str, stage: str) -> Created:
    names.check_name(stage, "stage name")
    model = find_model(state.load(repo), name)
    held = model.stages.get(stage)
    if held is None:
        stages = ", ".join(sorted(model.stages)) or "none"
        raise RegistryError(f"no version of {name!r} is in stage {stage!r} (stages: {stages})")
    found = model.versions[held]
    counter = model.last_counter + 1
    tag = names.format_tag(TagName(names.UNASSIGN, name, stage=stage, counter=counter))
    message = f"Unassigning stage '{stage}' to artifact '{name}' version '{held}'\n"
    return _create(repo, model, tag, found.commit, message, version=held, stage=stage)


# ------------------------------------------------------------------ deprecate
def deprecate(repo: Repo, name: str, version: str | None = None) -> Created:
    """Deregister one version (``NAME@vX.Y.Z!``), or deprecate the model (``NAME@deprecated``)."""
    model = find_model(state.load(repo), name)
    if version is not None:
        found = find_version(model, version)
        simple = TagName(names.DEREGISTER, name, version=found.version)
        message = f"Deregistering artifact {name} version {found.version}\n"
        commit, shown = found.commit, found.version
    else:
        if model.deprecated:
            raise RegistryError(f"model {name!r} is deprecated already")
        simple = TagName(names.DEPRECATE, name)
        message = f"Deprecating artifact '{name}'\n"
        commit, shown = model.events[-1].tag.target, ""
    tag = names.format_tag(simple)
    if tag in repo.tags.names():  # done once before (then revived): the counted form
        counted = TagName(simple.action, name, simple.version, counter=model.last_counter + 1)
        tag = names.format_tag(counted)
    return _create(repo, model, tag, commit, message, version=shown)


def _create(
    repo: Repo,
    model: state.Model,
    tag: str,
    commit: str,
    message: str,
    version: str,
    stage: str | None = None,
    run: str | None = None,
) -> Created:
    if not repo.tags.is_valid_name(tag):
        raise UsageError(f"{tag!r} is not a name git accepts for a tag")
    not_before = model.last_time + 1 if model.events else 0
    repo.tags.create(tag, commit, message, not_before=not_before)
    return Created(tag, model.name, version, commit, stage, run)
