"""A registered version's bytes, written where asked and verified by hash: from the local
cache, else from the team cache ([remote] in the config), else a clear refusal."""

from __future__ import annotations

from pathlib import Path

from gitrack import config
from gitrack.data.odb import CacheError
from gitrack.data.restore import apply_restore, plan_restore
from gitrack.data.store import DataStore
from gitrack.git import Repo
from gitrack.tracking.registry.state import Version


def model_files(version: Version) -> dict[str, str]:
    """The version's paths and hashes, from gitrack's line in its registration tag."""
    payload = version.payload
    if payload is None:
        raise CacheError(
            f"{version.model}@{version.version} names no model bytes (registered without "
            f"gitrack, or its gitrack line is invalid); its code is commit {version.commit}"
        )
    return payload.paths


def default_destination(version: Version, cwd: Path) -> Path:
    paths = model_files(version)
    if len(paths) == 1:
        return cwd / Path(next(iter(paths))).name
    return cwd / f"{version.model.replace('/', '-')}-{version.version}"


def write(
    repo: Repo, store: DataStore, version: Version, dest: Path, into_folder: bool = True
) -> Path:
    """Write the version's bytes at ``dest`` (a file or folder for a single path, else a
    folder holding the recorded paths); what it replaces is kept in the cache first.

    ``into_folder``: an existing folder at ``dest`` receives a single path under its own
    name (as `cp` does); otherwise ``dest`` is the path itself.
    """
    paths = model_files(version)
    if len(paths) == 1:
        ((rel, digest),) = paths.items()
        if into_folder and dest.is_dir() and not dest.is_symlink():
            dest = dest / Path(rel).name
        root, items = dest.parent, {dest.name: digest}
    else:
        root, items = dest, paths
    root.mkdir(parents=True, exist_ok=True)
    target = DataStore(root.resolve(), store.cache, store.hasher.state)
    plan = plan_restore(target, items)
    if plan.missing:
        _fetch_missing(repo, store, version, [digest for _, digest in plan.missing])
        plan = plan_restore(target, items)
    apply_restore(target, plan)
    return dest


def local_copy(repo: Repo, store: DataStore, version: Version) -> Path:
    """A verified copy in the repository's own models folder (reused while unchanged)."""
    folder = repo.common_dir / "gitrack" / "models" / version.model / version.version
    paths = model_files(version)
    if len(paths) == 1:
        only = folder / Path(next(iter(paths))).name
        return write(repo, store, version, only, into_folder=False)
    return write(repo, store, version, folder, into_folder=False)


def _fetch_missing(repo: Repo, store: DataStore, version: Version, missing: list[str]) -> None:
    from gitrack.data.remote import RemoteCache
    from gitrack.tracking.sync import fetch_objects

    settings = config.load(repo.root)
    where = f"{version.model}@{version.version} (run {_run(version)})"
    if settings.remote is None:
        raise CacheError(
            f"{where}: object {missing[0]} is not in the local cache {store.cache.root} and no "
            "team cache is configured ([remote] url in gitrack.toml); get it from whoever "
            "registered it (gitrack push there)"
        )
    remote = RemoteCache(settings.remote, repo.root)
    fetched = fetch_objects(store, remote, missing)
    if fetched.missing or fetched.corrupt:
        lost = (fetched.missing or [c.hash for c in fetched.corrupt])[0]
        raise CacheError(
            f"{where}: object {lost} is neither in the local cache {store.cache.root} nor "
            f"in the team cache {remote.url}; push it from the clone that made the run "
            "(gitrack push)"
        )


def _run(version: Version) -> str:
    payload = version.payload
    return payload.run if payload else "unknown"
