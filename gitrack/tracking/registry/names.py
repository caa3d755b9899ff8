"""GTO's tag names, to the character (gto/constants.py and gto/tag.py, GTO 1.x):

| action | tag | example |
|---|---|---|
| register a version | ``NAME@vX.Y.Z`` | ``churn@v1.0.0`` |
| deregister a version | ``NAME@vX.Y.Z!`` | ``churn@v1.0.0!`` |
| assign a stage | ``NAME#STAGE#N`` | ``churn#prod#3`` |
| unassign a stage | ``NAME#STAGE!#N`` | ``churn#prod!#4`` |
| deprecate the model | ``NAME@deprecated`` (``#N`` after the first) | ``churn@deprecated`` |

N counts the model's numbered tags (one more than the largest so far), as GTO does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitrack.errors import UsageError

# GTO's `name` (letters, digits, '-', '_', '/', starting and ending with a letter or
# digit) and its semver (a 'v' in front); GTO's `dirname:` prefix is not used here.
NAME = r"[a-zA-Z0-9](?:[a-zA-Z0-9\-/_]*[a-zA-Z0-9])?"
SEMVER = (
    r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
    r"(?:-(?:(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?:[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_NAME_RE = re.compile(f"{NAME}\\Z")
_VERSION_RE = re.compile(f"v{SEMVER}\\Z")
_TAG_RE = re.compile(
    f"(?P<model>{NAME})"
    f"(?:(?:#(?P<stage>{NAME})|@(?P<version>v{SEMVER}))(?P<cancel>!?)|@(?P<deprecated>deprecated))"
    r"(?:#(?P<counter>[0-9]+))?\Z"
)
_SPEC_RE = re.compile(
    f"(?P<model>{NAME})(?:#(?P<stage>{NAME})|@(?P<version>latest|greatest|v{SEMVER}))?\\Z"
)

REGISTER, DEREGISTER, ASSIGN, UNASSIGN, DEPRECATE = (
    "register",
    "deregister",
    "assign",
    "unassign",
    "deprecate",
)


@dataclass(frozen=True)
class TagName:
    """What a registry tag's name says."""

    action: str
    model: str
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


def parse(tag: str) -> TagName | None:
    """The registry action a tag name encodes; None for any other tag."""
    found = _TAG_RE.match(tag)
    if found is None:
        return None
    counter = int(found["counter"]) if found["counter"] else None
    cancel = found["cancel"] == "!"
    if found["deprecated"]:
        return TagName(DEPRECATE, found["model"], counter=counter)
    if found["version"]:
        action = DEREGISTER if cancel else REGISTER
        return TagName(action, found["model"], version=found["version"], counter=counter)
    action = UNASSIGN if cancel else ASSIGN
    return TagName(action, found["model"], stage=found["stage"], counter=counter)


def is_registry_tag(tag: str) -> bool:
    return _TAG_RE.match(tag) is not None


def format_tag(name: TagName) -> str:
    """The inverse of ``parse``."""
    if name.action in (REGISTER, DEREGISTER):
        base = f"{name.model}@{name.version}" + ("!" if name.action == DEREGISTER else "")
    elif name.action in (ASSIGN, UNASSIGN):
        base = f"{name.model}#{name.stage}" + ("!" if name.action == UNASSIGN else "")
    else:
        base = f"{name.model}@deprecated"
    return base if name.counter is None else f"{base}#{name.counter}"


def check_name(value: str, what: str = "model name") -> str:
    if not _NAME_RE.match(value):
        raise UsageError(
            f"invalid {what} {value!r}: GTO allows letters, digits, '-', '_' and '/', "
            "starting and ending with a letter or digit (e.g. churn or team/churn-v2)"
        )
    if "//" in value or "/." in value or value.endswith((".lock", "/")):
        raise UsageError(f"invalid {what} {value!r}: git cannot name a tag with it")
    return value


def check_version(value: str) -> str:
    if not _VERSION_RE.match(value):
        raise UsageError(
            f"invalid version {value!r}: give a semantic version with a 'v', e.g. v1.2.0"
        )
    return value


@dataclass(frozen=True)
class Spec:
    """NAME, NAME@vX.Y.Z, NAME@latest or NAME#STAGE: which version a user means."""

    model: str
    version: str | None = None  # None with stage None: the latest
    stage: str | None = None


def parse_spec(value: str) -> Spec:
    found = _SPEC_RE.match(value)
    if found is None:
        raise UsageError(
            f"cannot read model {value!r}: give NAME, NAME@vX.Y.Z, NAME@latest or NAME#STAGE "
            "(e.g. churn#prod)"
        )
    version = found["version"]
    return Spec(
        check_name(found["model"]),
        None if version in (None, "latest", "greatest") else version,
        found["stage"],
    )


VersionKey = tuple[tuple[int, int, int], int, tuple[tuple[int, int | str], ...]]


def version_key(version: str) -> VersionKey:
    """Semantic-version order: numbers, then a release after its pre-releases."""
    core, _, _build = version.removeprefix("v").partition("+")
    numbers, _, pre = core.partition("-")
    major, minor, patch = (int(part) for part in numbers.split("."))
    ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split(".")) if pre else ()
    return (major, minor, patch), 0 if pre else 1, ids


def bump(version: str | None, part: str) -> str:
    """The next version: ``part`` is major, minor or patch; from nothing, v0.0.1 (GTO's
    first) unless a part is asked for (then as if bumping v0.0.0)."""
    if version is None:
        major = minor = patch = 0
    else:
        (major, minor, patch), _, _ = version_key(version)
    if part == "major":
        return f"v{major + 1}.0.0"
    if part == "minor":
        return f"v{major}.{minor + 1}.0"
    return f"v{major}.{minor}.{patch + 1}"
