"""The working tree of a repository: what is pending in it, and writing a tree into it.

libgit2 writes files itself where it can; where it cannot do what `git checkout` would
(sparse checkouts, external clean/smudge filters) the git binary does the writing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from gitrack.errors import GitrackError
from gitrack.git import ignores, untracked
from gitrack.git._pygit2 import (
    CheckoutStrategy,
    FileStatus,
    pygit2,
    reading_the_index,
    skip_worktree,
    wt_changed,
)
from gitrack.git.binary import run_git
from gitrack.git.filters import Filters
from gitrack.git.types import HeadState, WorktreeTree

if TYPE_CHECKING:
    from gitrack.git.repo import Repo


class Worktree:
    def __init__(self, repo: Repo) -> None:
        self._repo = repo

    def build_worktree_tree(
        self,
        max_untracked_bytes: int | None = None,
        extra_paths: Iterable[str] = (),
        exclude: Iterable[str] = (),
    ) -> WorktreeTree:
        from gitrack.git.snapshot import build_worktree_tree

        return build_worktree_tree(self._repo, max_untracked_bytes, extra_paths, exclude)

    def pending_changes(self) -> list[str]:
        """Paths with uncommitted changes or untracked (not ignored) files."""
        with reading_the_index():
            found = self._repo._r.status(untracked_files="normal", ignored=True)
            index = self._repo._r.index
        # as the snapshot takes them: links git judges, not libgit2 (see ignores.py)
        status = untracked.with_links_judged_by_git(self._repo, found)
        pending = []
        unfiltered = []  # libgit2 compared raw bytes where git compares cleaned ones
        filters = Filters.configured(self._repo)
        for path, flags in status.items():
            if flags & FileStatus.IGNORED:
                continue
            only_worktree = not flags & ~wt_changed() and path in index
            if only_worktree and skip_worktree(index, path):
                continue  # outside a sparse checkout's cone: git ignores its working file
            if only_worktree and filters is not None and filters.applies(path):
                unfiltered.append(path)
            else:
                pending.append(path)
        if unfiltered and filters is not None:
            blobs = filters.clean_blobs(unfiltered)
            pending += [p for p in unfiltered if blobs[p] != str(index[p].id)]
        repo = self._repo
        seen = ignores.ignore_files_in(found)
        misjudged = ignores.negation_below_root(repo.root, Path(repo._r.path), seen)
        if misjudged or ignores.root_negation_over_excludes(repo):
            # libgit2 calls ignored some files git does not (ignores.py): git's list too
            pending = list(set(pending).union(ignores.untracked_files(repo.root, True)))
        return sorted(pending)

    def is_sparse(self) -> bool:
        """A sparse checkout: only part of the tree is on disk, the rest skip-worktree."""
        return self._repo.config_bool("core.sparseCheckout", False)

    def _checkout_by_git(self) -> bool:
        """libgit2 knows neither sparse patterns nor external smudge filters: where they
        matter, HEAD moves with the git binary, which writes what `git checkout` writes."""
        return self.is_sparse() or Filters.configured(self._repo) is not None

    def checkout_detached(self, commit: str) -> None:
        """`git checkout --detach COMMIT` for a clean working tree."""
        if self._checkout_by_git():
            self._git_checkout(["--detach", commit])
            return
        target = self._repo._r[commit].peel(pygit2.Commit)
        try:
            self._repo._r.checkout_tree(
                target.tree,
                strategy=CheckoutStrategy.SAFE | CheckoutStrategy.DONT_OVERWRITE_IGNORED,
            )
        except pygit2.GitError as exc:
            raise GitrackError(
                f"cannot check out {commit[:10]} in {self._repo.root}: {exc}"
            ) from exc
        self._repo._r.set_head(target.id)

    def write_tree_to_worktree(self, tree: str) -> None:
        """Make the working tree equal ``tree`` while HEAD and the index stay put,
        so the differences show as uncommitted changes and untracked files."""
        filters = Filters.configured(self._repo)
        sparse = self.is_sparse()
        if not sparse and filters is None:
            self._checkout_paths(tree, None)
            return
        # Only the paths the run changed: libgit2 would also rewrite files it cannot compare
        # (smudged ones, in its eyes modified) and write those outside the sparse cone.
        head_tree = str(self._repo._r.head.peel(pygit2.Commit).tree_id)
        changes = self._repo.tree_changes(head_tree, tree)
        if sparse:
            self.check_inside_sparse_cone(c.path for c in changes)
        if changes:
            self._checkout_paths(tree, [c.path for c in changes])
        if filters is not None:  # libgit2 wrote the stored (cleaned) bytes: smudge them
            filters.smudge_into_worktree(tree, [c.path for c in changes if c.status != "deleted"])

    def _checkout_paths(self, tree: str, paths: list[str] | None) -> None:
        strategy = CheckoutStrategy.FORCE | CheckoutStrategy.DONT_UPDATE_INDEX
        if paths is not None:  # exact names: a `*` in one must not match others
            strategy |= CheckoutStrategy.DISABLE_PATHSPEC_MATCH
        try:
            self._repo._r.checkout_tree(self._repo._tree(tree), strategy=strategy, paths=paths)
        except pygit2.GitError as exc:
            raise GitrackError(f"cannot write the snapshot into {self._repo.root}: {exc}") from exc

    def check_inside_sparse_cone(self, paths: Iterable[str]) -> None:
        """Refuse to write ``paths`` if the index keeps any of them outside the sparse cone.
        A change written there would sit where git never looks."""
        index = self._repo._r.index
        index.read(False)  # git may have rewritten it since
        outside = [p for p in paths if p in index and skip_worktree(index, p)]
        if outside:
            shown = ", ".join(outside[:5]) + (" …" if len(outside) > 5 else "")
            raise GitrackError(
                f"the run changed files outside this sparse checkout ({shown}); widen it "
                "(git sparse-checkout add FOLDER) or use --worktree PATH"
            )

    def restore_head(self, state: HeadState) -> None:
        """Put HEAD, index and files back to a previous (clean) HEAD."""
        if self._checkout_by_git():
            if state.branch is not None and state.branch.startswith("refs/heads/"):
                self._git_checkout(["--force", state.branch.removeprefix("refs/heads/"), "--"])
            else:
                self._git_checkout(["--force", "--detach", state.commit])
            return
        target = self._repo._r[state.commit].peel(pygit2.Commit)
        self._repo._r.checkout_tree(target.tree, strategy=CheckoutStrategy.FORCE)
        self._repo._r.set_head(state.branch if state.branch is not None else target.id)

    def _git_checkout(self, args: list[str]) -> None:
        # The user's hooks (gitrack's own post-checkout too) stay out, as with libgit2.
        run_git(
            ["-c", "core.hooksPath=/dev/null", "checkout", "--quiet", *args], cwd=self._repo.root
        )
