"""Project configuration: ``[tool.gitrack]`` in pyproject.toml or ``gitrack.toml``.

Every key is declared once, in SCHEMA (its type, its default, an example), and the file
is checked against it: a wrong type is an error that shows the right spelling, an
unknown key is a warning that names it and the nearest known key (``restore-data`` for
``restore_data`` would otherwise be silently ignored).

The settings are NamedTuples, not frozen dataclasses: every command loads them, and a
frozen dataclass costs ~0.4 ms to define (its methods are compiled at every start).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from gitrack.errors import GitrackError

DEFAULT_MAX_UNTRACKED_BYTES = 10 * 1024 * 1024
DEFAULT_REMOTE_TIMEOUT_S = 30.0


class RemoteSettings(NamedTuple):
    url: str
    endpoint: str | None = None  # S3-compatible stores: http://host:port
    region: str | None = None
    anonymous: bool = False
    # A remote call that gets no answer for this long fails (retries included).
    timeout: float = DEFAULT_REMOTE_TIMEOUT_S


class Config(NamedTuple):
    # Untracked files larger than this stay out of the snapshot (and are listed in the run).
    max_untracked_bytes: int = DEFAULT_MAX_UNTRACKED_BYTES
    metrics: str | None = None
    data: tuple[str, ...] = ()  # datasets recorded by every run, relative to the root
    outputs: tuple[str, ...] = ()  # outputs recorded by every run
    cache: str | None = None  # where the data cache lives (default: in the git dir)
    remote: RemoteSettings | None = None  # the team's data cache ([remote] url = ...)
    push_runs: bool = True  # the pre-push hook publishes runs with the branch
    restore_data: bool = False  # post-checkout/merge hooks restore datasets, not just warn
    experiment: str | None = None  # the experiment runs belong to unless told otherwise
    warnings: tuple[str, ...] = ()  # unknown keys, etc.


class Key(NamedTuple):
    """One config key: how its TOML value becomes the setting, and an example of it."""

    convert: Callable[[Any], Any]
    example: str


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError
    return value


def _flag(value: Any) -> bool:
    # TOML has booleans: a string "false" is a mistake, not a truthy value.
    if not isinstance(value, bool):
        raise TypeError
    return value


def _paths(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TypeError
    return tuple(value)


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e6:
        raise TypeError
    return float(value)


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError
    return value


def parse_size(value: object) -> int:
    """``10485760``, ``"10MiB"`` or ``"10 MB"`` -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(digits) :]
        if digits and unit in _UNITS:
            try:
                return int(float(digits) * _UNITS[unit])
            except ValueError:
                pass
    raise GitrackError(f'config: cannot read size {value!r} (write e.g. 10485760 or "10MiB")')


_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}

# The keys of [tool.gitrack] / gitrack.toml: the one place a new setting is declared.
SCHEMA: dict[str, Key] = {
    "max_untracked_size": Key(parse_size, 'max_untracked_size = "10MiB"'),
    "metrics": Key(_string, 'metrics = "metrics.json"'),
    "data": Key(_paths, 'data = ["data/train.csv"]'),
    "outputs": Key(_paths, 'outputs = ["model.pkl"]'),
    "cache": Key(_string, 'cache = "/data/gitrack-cache"'),
    "push_runs": Key(_flag, "push_runs = false"),
    "restore_data": Key(_flag, "restore_data = true"),
    "remote": Key(_table, '[remote] url = "s3://bucket/prefix"'),
    "experiment": Key(_string, 'experiment = "baseline-search"'),
}
REMOTE_SCHEMA: dict[str, Key] = {
    "url": Key(_string, 'url = "s3://bucket/prefix"'),
    "endpoint": Key(_string, 'endpoint = "http://127.0.0.1:9000"'),
    "region": Key(_string, 'region = "us-east-1"'),
    "anonymous": Key(_flag, "anonymous = true"),
    "timeout": Key(_seconds, "timeout = 30"),
}
_FIELD_OF = {"max_untracked_size": "max_untracked_bytes"}


def load(root: Path) -> Config:
    table = _read_table(root)
    warnings: list[str] = []
    values = _checked(table, SCHEMA, "", warnings)
    remote_table = values.pop("remote", {})
    remote = settings_from(remote_table, warnings) if remote_table else None
    settings = {_FIELD_OF.get(k, k): v for k, v in values.items()}
    return Config(**settings, remote=remote, warnings=tuple(warnings))


def _checked(
    table: dict[str, Any], schema: dict[str, Key], section: str, warnings: list[str]
) -> dict[str, Any]:
    """The table's known keys converted; unknown keys become warnings."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        spec = schema.get(key)
        if spec is None:
            warnings.append(_unknown_key(section + key, key, schema))
            continue
        try:
            out[key] = spec.convert(value)
        except (TypeError, ValueError, GitrackError):
            raise GitrackError(
                f"config: {section}{key} = {value!r} has the wrong type; write e.g. {spec.example}"
            ) from None
    return out


def _unknown_key(name: str, key: str, schema: dict[str, Key]) -> str:
    import difflib  # only on a mistake: every hook and run loads this module

    near = difflib.get_close_matches(key.replace("-", "_").lower(), list(schema), n=1)
    hint = f"; did you mean {near[0]!r}?" if near else f" (known: {', '.join(schema)})"
    return f"config: unknown key {name!r} is ignored{hint}"


def settings_from(table: dict[str, Any], warnings: list[str] | None = None) -> RemoteSettings:
    """The ``[remote]`` table of the config, checked."""
    values = _checked(table, REMOTE_SCHEMA, "remote.", warnings if warnings is not None else [])
    if "url" not in values:
        raise GitrackError('config: [remote] needs url = "s3://bucket/prefix" (or a folder path)')
    endpoint = values.get("endpoint") or os.environ.get("GITRACK_REMOTE_ENDPOINT")
    return RemoteSettings(
        values["url"],
        endpoint,
        values.get("region"),
        values.get("anonymous", False),
        values.get("timeout", DEFAULT_REMOTE_TIMEOUT_S),
    )


def _read_table(root: Path) -> dict[str, Any]:
    own = root / "gitrack.toml"
    if own.is_file():
        return _load_toml(own)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        tool = _load_toml(pyproject).get("tool", {})
        section = tool.get("gitrack", {}) if isinstance(tool, dict) else {}
        return section if isinstance(section, dict) else {}
    return {}


def _load_toml(path: Path) -> dict[str, Any]:
    # Imported here: most runs have no config file and should not pay for the parser.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GitrackError(f"cannot read {path.name}: {exc} (fix the TOML syntax)") from exc
    except RecursionError:
        # The file arrives with `git pull`: a hostile one must not crash every command.
        raise GitrackError(
            f"cannot read {path.name}: it is nested too deeply (fix or remove it)"
        ) from None
