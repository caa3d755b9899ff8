"""gitrack: experiment tracking that lives inside git.

The Python API (``gitrack.start_run``, ``gitrack.log_metric``, ``gitrack.runs`` …) is
loaded on first use, so ``import gitrack`` stays instant.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = (
    "Run",
    "start_run",
    "end_run",
    "active_run",
    "log_param",
    "log_params",
    "log_metric",
    "log_metrics",
    "set_tag",
    "log_artifact",
    "log_dataset",
    "log_figure",
    "log_dict",
    "log_text",
    "log_table",
    "get_run",
    "runs",
    "delete_run",
    "restore_run",
    "model_path",
    "register_model",
)
__all__ = ["__version__", *_API]


# Recorded runs and the registry live beside the logging API (see gitrack/recorded.py).
_RECORDED = ("runs", "delete_run", "restore_run", "model_path", "register_model")


def __getattr__(name: str) -> Any:
    if name in _RECORDED:
        from gitrack import recorded as home
    elif name in _API:
        from gitrack import api as home  # type: ignore[no-redef]
    else:
        raise AttributeError(f"module 'gitrack' has no attribute {name!r}")
    value = getattr(home, name)
    globals()[name] = value  # later lookups (log_metric in a training loop) skip this
    return value
