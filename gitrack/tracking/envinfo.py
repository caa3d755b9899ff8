"""What environment a run ran in, gathered without spawning pip (it takes seconds)."""

from __future__ import annotations

import glob
import os
import platform
import sys


def describe() -> dict[str, str]:
    """Python and platform: small enough for the note line."""
    uname = os.uname()
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": f"{uname.sysname}-{uname.release}-{uname.machine}",
    }


def installed_packages() -> str:
    """``name==version`` lines, sorted, for the environment the command most likely uses.

    Read straight from the ``*.dist-info`` / ``*.egg-info`` folder names (milliseconds);
    an active virtualenv other than gitrack's own wins, as that is where `python`
    resolves for the command.
    """
    found: dict[str, str] = {}
    for folder in _site_dirs():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for entry in names:
            parsed = _parse_dist_dir(entry)
            if parsed is not None:
                found.setdefault(parsed[0], parsed[1])
    return "".join(f"{name}=={version}\n" for name, version in sorted(found.items()))


def _site_dirs() -> list[str]:
    venv = os.environ.get("VIRTUAL_ENV")
    if venv and os.path.realpath(venv) != os.path.realpath(sys.prefix):
        return sorted(glob.glob(os.path.join(venv, "lib", "python*", "site-packages")))
    return [p for p in sys.path if p and os.path.isdir(p)]


def _parse_dist_dir(entry: str) -> tuple[str, str] | None:
    for suffix in (".dist-info", ".egg-info"):
        if entry.endswith(suffix):
            stem = entry[: -len(suffix)]
            name, sep, rest = stem.partition("-")
            if not sep:
                return None
            version = rest.split("-")[0]
            return name.lower().replace("_", "-").replace(".", "-"), version
    return None
