"""`gitrack model ls` as a terminal table: one row per version."""

from __future__ import annotations

from typing import Any

HEADER = ("MODEL", "VERSION", "STAGES", "RUN", "METRIC", "WHEN", "WHO")


def model_rows(data: list[dict[str, Any]]) -> list[str]:
    """The listing of ``commands.model.listing``, aligned in columns."""
    rows = [HEADER]
    for item in data:
        label = item["name"] + (" (deprecated)" if item["deprecated"] else "")
        for version in item["versions"]:
            rows.append(
                (
                    label,
                    version["version"] + ("" if version["active"] else " (deprecated)"),
                    ",".join(version["stages"]) or "-",
                    (version["run"] or "-")[:8],
                    _first_metric(version["metrics"]),
                    (version["created"] or "-").replace("T", " ").removesuffix("Z"),
                    version["author"] or "-",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _first_metric(metrics: dict[str, Any]) -> str:
    for key, value in sorted(metrics.items()):
        return f"{key}={value:.6g}" if isinstance(value, (int, float)) else f"{key}={value}"
    return "-"
