"""Project configuration: ``[tool.gitrack]`` in pyproject.toml or ``gitrack.toml``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitrack.errors import GitrackError

DEFAULT_MAX_UNTRACKED_BYTES = 10 * 1024 * 1024
DEFAULT_REMOTE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RemoteSettings:
    url: str
    endpoint: str | None = None  # S3-compatible stores: http://host:port
    region: str | None = None
    anonymous: bool = False
    # A remote call that gets no answer for this long fails (retries included).
    timeout: float = DEFAULT_REMOTE_TIMEOUT_S


@dataclass(frozen=True)
class Config:
    # Untracked files larger than this stay out of the snapshot (and are listed in the run).
    max_untracked_bytes: int = DEFAULT_MAX_UNTRACKED_BYTES
    metrics: str | None = None
    data: tuple[str, ...] = ()  # datasets recorded by every run, relative to the root
    outputs: tuple[str, ...] = ()  # outputs recorded by every run
    cache: str | None = None  # where the data cache lives (default: in the git dir)
    remote: RemoteSettings | None = None  # the team's data cache ([remote] url = ...)
    push_runs: bool = True  # the pre-push hook publishes runs with the branch
    restore_data: bool = False  # post-checkout/merge hooks restore datasets, not just warn


def load(root: Path) -> Config:
    table = _read_table(root)
    max_untracked = table.get("max_untracked_size", DEFAULT_MAX_UNTRACKED_BYTES)
    metrics = table.get("metrics")
    if metrics is not None and not isinstance(metrics, str):
        raise GitrackError('config: metrics must be a path string, e.g. metrics = "metrics.json"')
    cache = table.get("cache")
    if cache is not None and not isinstance(cache, str):
        raise GitrackError('config: cache must be a folder path string, e.g. cache = "/data/cache"')
    remote_table = table.get("remote", {})
    if not isinstance(remote_table, dict):
        raise GitrackError('config: remote must be a table: [remote] url = "s3://bucket/prefix"')
    return Config(
        max_untracked_bytes=parse_size(max_untracked),
        metrics=metrics,
        data=_path_list(table, "data"),
        outputs=_path_list(table, "outputs"),
        cache=cache,
        remote=settings_from(remote_table),
        push_runs=_flag(table, "push_runs", True),
        restore_data=_flag(table, "restore_data", False),
    )


def _flag(table: dict[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise GitrackError(f"config: {key} must be true or false")
    return value


def _path_list(table: dict[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise GitrackError(
            f'config: {key} must be a list of paths, e.g. {key} = ["data/train.csv"]'
        )
    return tuple(value)


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


def settings_from(table: dict[str, Any]) -> RemoteSettings | None:
    """The ``[remote]`` table of the config, checked."""
    if not table:
        return None
    url = table.get("url")
    if not isinstance(url, str) or not url:
        raise GitrackError('config: [remote] needs url = "s3://bucket/prefix" (or a folder path)')
    endpoint = table.get("endpoint") or os.environ.get("GITRACK_REMOTE_ENDPOINT")
    region = table.get("region")
    anonymous = table.get("anonymous", False)
    if endpoint is not None and not isinstance(endpoint, str):
        raise GitrackError("config: [remote] endpoint must be a string like http://host:9000")
    if region is not None and not isinstance(region, str):
        raise GitrackError("config: [remote] region must be a string like us-east-1")
    timeout = table.get("timeout", DEFAULT_REMOTE_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < 1e6:
        raise GitrackError("config: [remote] timeout must be a number of seconds, e.g. 30")
    return RemoteSettings(url, endpoint, region, bool(anonymous), float(timeout))
