"""Where gitrack keeps things on disk, outside git objects (no heavy imports here)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root(common_dir: Path, cache_setting: str | None, config_root: Path) -> Path:
    if cache_setting:
        configured = Path(os.path.expanduser(cache_setting))
        return configured if configured.is_absolute() else config_root / configured
    return common_dir / "gitrack" / "cache"


def pending_markers(folder: Path, run_id: str) -> list[Path]:
    """The markers a run may have left: its own, and the Python API's (datasets it logged)."""
    return [folder / "pending" / f"{run_id}.json", folder / "pending" / f"{run_id}.api.json"]
