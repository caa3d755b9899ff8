"""What every command works on, opened once per invocation: the repository, its
config, and (on first use) the data store."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitrack import config
from gitrack.git import Repo

if TYPE_CHECKING:
    from gitrack.data.store import DataStore
    from gitrack.tracking.history import Runs


@dataclass
class Context:
    repo: Repo
    settings: config.Config

    @classmethod
    def open(cls, cwd: str | os.PathLike[str] = ".") -> Context:
        repo = Repo.discover(cwd)
        return cls(repo, config.load(repo.root))

    @functools.cached_property
    def store(self) -> DataStore:
        # sqlite and thread pools load only for commands that touch data.
        from gitrack.data.store import DataStore

        return DataStore.open(self.repo.root, self.repo.common_dir, self.settings.cache)

    def load_runs(self, few: bool = False) -> Runs:
        """``few``: only a few runs will be looked at (see history.load_runs)."""
        from gitrack.tracking import history

        return history.load_runs(self.repo, few)
