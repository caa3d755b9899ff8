"""Where gitrack keeps things on disk, outside git objects (no heavy imports here)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gitrack.errors import GitrackError


class CacheFolderError(GitrackError):
    """The configured data cache folder cannot be used; the message says how to fix it."""


def cache_root(common_dir: Path, cache_setting: str | None, config_root: Path) -> Path:
    if cache_setting:
        configured = Path(os.path.expanduser(cache_setting))
        return configured if configured.is_absolute() else config_root / configured
    return common_dir / "gitrack" / "cache"


def ensure_writable(folder: Path) -> None:
    """Create the cache folder if needed and prove a file can be written in it.

    Checked before a command starts: a run must not learn after hours of training
    that its outputs cannot be kept. The probe file is removed at once.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".gitrack-write-check-")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CacheFolderError(
            f"cannot write to the data cache folder {folder} ({reason}); make it writable, "
            'or set `cache = "/a/folder/you/can/write"` in gitrack.toml '
            "(or [tool.gitrack] in pyproject.toml)"
        ) from exc
    os.close(fd)
    os.unlink(probe)


def pending_markers(folder: Path, run_id: str) -> list[Path]:
    """The markers a run may have left: its own, the Python API's (datasets it logged), and
    those of its datasets' slices (``slice_marker_name``)."""
    pending = folder / "pending"
    try:
        slices = sorted(pending.glob(slice_marker_name(run_id, "*") + ".json"))
    except OSError:
        slices = []
    return [pending / f"{run_id}.json", pending / f"{run_id}.api.json", *slices]


def slice_marker_name(run_id: str, index: int | str) -> str:
    """The name (less ``.json``) of the marker of a slice of a run's dataset files."""
    return f"{run_id}.slice{index}"
