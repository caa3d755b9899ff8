"""The registry's state: the tags folded into models, versions and stages, by GTO's rules.

- A version is registered by ``NAME@vX.Y.Z`` and active until ``NAME@vX.Y.Z!``.
- A stage assignment or unassignment names no version: it means the version registered at
  the commit the tag points at (GTO identifies versions by commit).
- A stage of a version is on while its latest event there is an assignment; the stage
  belongs to the active version whose stage is on and was assigned last ("the latest
  assignment wins"; after an unassignment the stage falls back to the one before).
- A model is deprecated while ``NAME@deprecated`` is its latest event.
- Events are ordered by tagger time; gitrack's own tags of a model never share a second
  (see ``ops``), and their counter breaks ties left by tags made elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitrack import jsonsafe
from gitrack.data import hashing
from gitrack.git import Repo, TagInfo
from gitrack.paths import UnsafePathError, check_relative
from gitrack.tracking.registry import names
from gitrack.tracking.registry.names import TagName

PAYLOAD_PREFIX = "gitrack: "


@dataclass(frozen=True)
class Payload:
    """What gitrack writes in a registration's message: the run and its model bytes."""

    run: str
    paths: dict[str, str]  # path in the run -> content hash
    metrics: dict[str, float | str] = field(default_factory=dict)

    def to_line(self) -> str:
        import json

        data = {"run": self.run, "paths": self.paths, "metrics": self.metrics}
        return PAYLOAD_PREFIX + json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_message(cls, message: str) -> Payload | None:
        """The payload line of a tag message; None when there is none or it is unusable
        (tags come from other clones: nothing unchecked gets through)."""
        for line in message.split("\n"):
            if line.startswith(PAYLOAD_PREFIX):
                try:
                    return cls._checked(jsonsafe.loads(line[len(PAYLOAD_PREFIX) :]))
                except (ValueError, TypeError, KeyError, UnsafePathError):
                    return None
        return None

    @classmethod
    def _checked(cls, data: Any) -> Payload | None:
        run, paths, metrics = data["run"], data["paths"], data.get("metrics", {})
        if not isinstance(run, str) or not isinstance(paths, dict) or not paths:
            return None
        for path, digest in paths.items():
            check_relative(path)
            if not isinstance(digest, str) or not hashing.is_valid(digest):
                return None
        kept = {
            k: v
            for k, v in (metrics.items() if isinstance(metrics, dict) else [])
            if isinstance(v, (int, float, str)) and not isinstance(v, bool)
        }
        return cls(run, dict(paths), kept)


@dataclass(frozen=True)
class Event:
    name: TagName
    tag: TagInfo

    @property
    def order(self) -> tuple[int, int, str]:
        return self.tag.time, self.name.counter or 0, self.tag.name


@dataclass
class StageState:
    on: bool = False
    assigned: tuple[int, int, str] | None = None  # order of the latest assignment


@dataclass
class Version:
    model: str
    version: str
    commit: str
    registration: Event | None = None
    deregistration: Event | None = None
    stage_states: dict[str, StageState] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)  # the stages this version holds now

    @property
    def registered(self) -> bool:
        return self.registration is not None

    @property
    def active(self) -> bool:
        if self.registration is None:
            return self.deregistration is None  # only assigned (GTO's "discovered" ones)
        return self.deregistration is None or self.deregistration.order < self.registration.order

    @property
    def payload(self) -> Payload | None:
        return Payload.from_message(self.registration.tag.message) if self.registration else None


@dataclass
class Model:
    name: str
    versions: dict[str, Version] = field(default_factory=dict)
    stages: dict[str, str] = field(default_factory=dict)  # stage -> version holding it
    events: list[Event] = field(default_factory=list)  # in order

    @property
    def deprecated(self) -> bool:
        return bool(self.events) and self.events[-1].name.action == names.DEPRECATE

    @property
    def last_counter(self) -> int:
        return max((e.name.counter or 0 for e in self.events), default=0)

    @property
    def last_time(self) -> int:
        return max((e.tag.time for e in self.events), default=0)

    def latest(self) -> Version | None:
        """The greatest active registered version (GTO's `@latest`)."""
        live = [v for v in self.versions.values() if v.registered and v.active]
        return max(live, key=lambda v: names.version_key(v.version), default=None)

    def at_commit(self, commit: str) -> Version | None:
        found = [v for v in self.versions.values() if v.commit == commit and v.registered]
        return found[0] if found else None


def load(repo: Repo) -> dict[str, Model]:
    """Every model in the repository's tags, by name."""
    models: dict[str, Model] = {}
    events = []
    for tag in repo.tags.annotated(names.is_registry_tag):
        parsed = names.parse(tag.name)
        if parsed is not None:
            events.append(Event(parsed, tag))
    for event in sorted(events, key=lambda e: e.order):
        model = models.setdefault(event.name.model, Model(event.name.model))
        model.events.append(event)
        _apply(model, event)
    for model in models.values():
        _settle_stages(model)
    return models


def _apply(model: Model, event: Event) -> None:
    name, commit = event.name, event.tag.target
    if name.action in (names.REGISTER, names.DEREGISTER):
        assert name.version is not None
        version = model.versions.setdefault(name.version, Version(model.name, name.version, commit))
        if name.action == names.REGISTER:
            version.registration = event
        else:
            version.deregistration = event
    elif name.action in (names.ASSIGN, names.UNASSIGN):
        assert name.stage is not None
        version = model.at_commit(commit) or model.versions.setdefault(
            commit, Version(model.name, commit, commit)
        )
        state = version.stage_states.setdefault(name.stage, StageState())
        state.on = name.action == names.ASSIGN
        if state.on:
            state.assigned = event.order


def _settle_stages(model: Model) -> None:
    holders: dict[str, tuple[tuple[int, int, str], Version]] = {}
    for version in model.versions.values():
        if not version.active:
            continue
        for stage, state in version.stage_states.items():
            later = state.assigned is not None and (
                stage not in holders or holders[stage][0] < state.assigned
            )
            if state.on and later:
                assert state.assigned is not None
                holders[stage] = (state.assigned, version)
    for stage, (_, version) in sorted(holders.items()):
        model.stages[stage] = version.version
        version.stages.append(stage)


def registered_objects(repo: Repo) -> list[str]:
    """Every hash a registration names (deregistered ones too: their tags remain)."""
    return [
        digest
        for model in load(repo).values()
        for version in model.versions.values()
        if version.payload is not None
        for digest in version.payload.paths.values()
    ]
