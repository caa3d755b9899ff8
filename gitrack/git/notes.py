"""Notes refs: read every note, rewrite one (compare-and-swap), merge two histories.

A notes ref is a commit whose tree maps annotated commit ids to note blobs, possibly
fanned out (``ab/cdef…``) as git does for large notes trees; every write here keeps
whatever fan-out the tree already uses, so `git notes` and gitrack agree.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from gitrack.errors import GitrackError
from gitrack.git._pygit2 import OBJECT_ID, FileMode, pygit2
from gitrack.git.binary import cat_blobs, fetch_objects

if TYPE_CHECKING:
    from gitrack.git.repo import Repo

_FAN_OUT = re.compile(r"[0-9a-f]{2}\Z").match  # a fan-out folder, as git names one
# From this many blobs on, one `git cat-file --batch` (a few ms to start) reads them faster
# than libgit2: see read_texts.
BATCH_READ_MIN = 1000


class Notes:
    def __init__(self, repo: Repo) -> None:
        self._repo = repo
        self._r = repo._r
        self._partial: list[str] | None = None  # promisor remotes (read on first need)

    def text(self, refname: str, commit: str) -> str:
        """The note on ``commit``, or "" when it has none."""
        try:
            note = self._r.lookup_note(commit, refname)
        except (KeyError, pygit2.GitError):
            tip = self._repo.refs.target(refname) if self._partial_clone() else None
            return "\n".join(self.read_texts(self.blobs_at(tip, commit))) if tip else ""
        return str(note.message)

    def read_text(self, blob: str) -> str:
        """A note blob as text (notes are UTF-8), "" for another kind of object: from the
        object database, or in a partial clone, for a blob it has not fetched yet, through
        git, which fetches it from the promisor remote (as for `git log --notes`). Every
        note gitrack reads, to list, check, merge or rewrite, is read here."""
        try:
            kind, data = self._r.odb.read(pygit2.Oid(hex=blob))
        except KeyError:
            fetched = list(cat_blobs(self._repo.git_dir, [blob])) if self._partial_clone() else []
            if not fetched or fetched[0] is None:
                raise NoteMissingError(blob) from None
            return fetched[0].decode("utf-8", "replace")
        if kind != pygit2.GIT_OBJECT_BLOB:
            return ""
        return bytes(data).decode("utf-8", "replace")

    def read_texts(self, blobs: Sequence[str]) -> Iterator[str]:
        """:meth:`read_text` of each blob, in order, yielded as read. Many go through one
        `git cat-file --batch` (binary.cat_blobs): a notes tree is read in the order of its
        names, which is not the order of the pack the notes are in (a fast-import, a clone),
        and libgit2 then resolves each blob's delta chain from its base again: 100,000 notes
        of a fast-import pack took 12 s with libgit2, 1.5 s with git (the `git log` walk's
        time). What git did not give as a blob is read (or refused) as read_text does."""
        done = 0
        # A partial clone leaves blobs on its remote: git fetches each on demand (as for
        # `git log --notes`), libgit2 cannot; all that are missing are fetched at once first.
        if blobs and self._partial_clone():
            self._fetch_missing(blobs)
        if len(blobs) >= BATCH_READ_MIN or (blobs and self._partial_clone()):
            for data in cat_blobs(self._repo.git_dir, blobs):
                blob = blobs[done]
                yield self.read_text(blob) if data is None else data.decode("utf-8", "replace")
                done += 1
        for blob in blobs[done:]:
            yield self.read_text(blob)

    def _partial_clone(self) -> bool:
        """As git decides: extensions.partialClone, or a remote marked promisor."""
        return bool(self._promisors())

    def _promisors(self) -> list[str]:
        """The remotes a partial clone fetches missing objects from, in git's order."""
        if self._partial is None:
            config = self._r.config
            named = (
                [str(config["extensions.partialclone"])]
                if "extensions.partialclone" in config
                else []
            )
            self._partial = named + [
                name
                for entry in config
                if entry.name.startswith("remote.")
                and entry.name.endswith(".promisor")
                and config.get_bool(entry.name)
                and (name := entry.name[len("remote.") : -len(".promisor")]) not in named
            ]
            self._partial = list(dict.fromkeys(self._partial))  # set in two config files
        return self._partial

    def _fetch_missing(self, blobs: Sequence[str]) -> None:
        """Every blob of ``blobs`` this partial clone lacks, in one fetch: git would fetch
        each in a fetch of its own (200 notes: 3 s from a local remote). What it cannot
        fetch is left to the reads that follow (each asks git again, then says what is
        missing)."""
        has = self._r.odb.exists
        missing = [blob for blob in dict.fromkeys(blobs) if not has(pygit2.Oid(hex=blob))]
        if len(missing) < 2:
            return  # git fetches one as fast on its own
        for remote in self._promisors():
            if fetch_objects(self._repo.git_dir, self._repo.root, remote, missing):
                return

    def blobs(self, refname: str, tip: str | None = None) -> list[tuple[str, str]]:
        """(annotated commit, note blob id) for every note, whatever the fan-out, of the
        notes commit ``tip`` (default: the ref's tip).

        A tree walk, no blob read: callers read (or find in a cache) only what they need.
        """
        if tip is None:
            tip = self._repo.refs.target(refname)  # a lost or non-commit tip: said clearly
        if tip is None:
            return []
        return self._blobs_of_tree(self._tree_of(tip))

    def changes(
        self, old_tip: str, new_tip: str
    ) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]] | None:
        """(annotated commit, its old note blobs, its new note blobs) for every note that
        differs between two notes commits, or None when one is not a commit here: a tree
        diff, which skips the unchanged fan-out subtrees, so its cost follows what changed,
        not how many notes there are. Each side is read as :meth:`blobs_at` reads it."""
        try:
            old_tree, new_tree = self._tree_of(old_tip), self._tree_of(new_tip)
            diff = old_tree.diff_to_tree(new_tree)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        touched = {  # a note moved between fan-outs: a delete and an add, one commit
            name
            for delta in diff.deltas
            for file in (delta.old_file, delta.new_file)
            if OBJECT_ID(name := file.path.replace("/", ""))
        }
        out = []
        for commit in sorted(touched):
            old, new = _blobs_in(old_tree, commit), _blobs_in(new_tree, commit)
            if old != new:
                out.append((commit, old, new))
        return out

    def blobs_at(self, tip: str, commit: str) -> tuple[str, ...]:
        """The note blobs on ``commit`` in the notes commit ``tip``, as `git notes` finds
        them: at any depth of 2-character fan-out folders, the shallowest first (git
        concatenates several); none when it has no note."""
        return _blobs_in(self._tree_of(tip), commit)

    def _tree_of(self, tip: str) -> pygit2.Tree:
        return self._r[tip].peel(pygit2.Commit).tree

    def _blobs_of_tree(self, tree: pygit2.Tree) -> list[tuple[str, str]]:
        """Every note as `git notes` reads a tree: a blob named by the rest of an object
        id, in folders of 2 hex digits (fan-out), nothing else. Breadth first, so that
        one commit's notes at several depths (git concatenates them) come shallowest
        first, as :meth:`blobs_at` gives them."""
        out: list[tuple[str, str]] = []
        pending = deque([(tree, "")])
        while pending:
            tree, prefix = pending.popleft()
            for entry in tree:
                name = prefix + entry.name
                kind = entry.type_str  # a str: cheaper than building a FileMode enum
                if kind == "tree" and _FAN_OUT(entry.name):
                    pending.append((self._r[entry.id], name))
                elif kind == "blob" and OBJECT_ID(name):
                    out.append((name, str(entry.id)))
        return out

    def update(
        self, refname: str, commit: str, transform: Callable[[str], str], message: str
    ) -> str:
        """Replace the note on ``commit`` with ``transform(old_text)``, atomically.

        Unlike `git notes add`, the ref moves only if nobody moved it meanwhile; a lost
        race re-reads the note and applies ``transform`` again, so no writer is lost.
        """

        def build(old: pygit2.Commit | None) -> pygit2.Oid:
            old_tree = old.tree if old is not None else None
            new_tree = self._edit_tree(old_tree, commit, transform)
            parents = [old.id] if old is not None else []
            return self._repo.commit_object(new_tree, parents, message)

        return self._repo.refs.compare_and_swap(refname, build, message)

    def replace_all(self, refname: str, notes: dict[str, str], message: str) -> str:
        """Point ``refname`` at one parentless commit whose notes are exactly ``notes``
        (commit -> text), flat: for derived notes, which keep no history of their own.
        Such a ref is rebuilt whole but mostly unchanged: the old tip's tree is edited,
        and only the notes whose text changed are written."""

        def build(old: pygit2.Commit | None) -> pygit2.Oid:
            if old is None:
                builder, kept = self._r.TreeBuilder(), {}
            else:
                # What the old tree holds that is no note wanted (fan-out folders, strays)
                # goes; a note is kept only as the same blob, a plain file.
                builder = self._r.TreeBuilder(old.tree)
                kept = {entry.name: (entry.id, entry.filemode) for entry in old.tree}
            for commit, text in notes.items():
                data = text.encode()
                if kept.pop(commit, None) != (pygit2.hash(data), FileMode.BLOB):
                    builder.insert(commit, self._r.create_blob(data), FileMode.BLOB)
            for gone in kept:
                builder.remove(gone)
            return self._repo.commit_object(builder.write(), [], message)

        return self._repo.refs.compare_and_swap(refname, build, message)

    def update_if_built_from(
        self,
        refname: str,
        edits: dict[str, Callable[[str], str | None]],
        message: str,
        expected_summary: str,
    ) -> bool:
        """``update`` of each note in ``edits`` (commit -> transform; None removes the
        note), in one commit, but only while the ref's tip says ``expected_summary``: for a
        ref derived from another (the display of the runs), where an edit applies only to
        the state it was derived from. False, changing nothing, once the tip says otherwise.
        """

        def build(old: pygit2.Commit | None) -> pygit2.Oid:
            if old is None or old.message.split("\n", 1)[0] != expected_summary:
                raise _NotBuiltFrom
            return self._repo.commit_object(self._edit_notes(old.tree, edits), [old.id], message)

        try:
            self._repo.refs.compare_and_swap(refname, build, message)
        except _NotBuiltFrom:
            return False
        return True

    def merge(
        self, refname: str, other: str, combine: Callable[[str, str], str], message: str
    ) -> str:
        """Merge the notes commit ``other`` into ``refname`` (compare-and-swap).

        Fast-forwards when one side contains the other; otherwise a merge commit whose
        tree holds, for every annotated commit, ``combine(ours, theirs)`` (ours alone
        where only ours has a note).
        """
        theirs = self._r[other].peel(pygit2.Commit)

        def build(old: pygit2.Commit | None) -> pygit2.Oid:
            ahead = self._repo.refs.fast_forward(old, theirs)
            if ahead is not None:
                return ahead
            assert old is not None
            their_notes = self._texts_of_tree(theirs.tree)  # read only for a real merge
            ours = self._texts_of_tree(old.tree)
            tree = old.tree
            for commit, text in their_notes.items():
                merged = combine(ours.get(commit, ""), text)
                if merged != ours.get(commit):
                    tree = self._r[self._edit_tree(tree, commit, _constant(merged))]
            return self._repo.commit_object(tree.id, [old.id, theirs.id], message)

        return self._repo.refs.compare_and_swap(refname, build, message)

    def _texts_of_tree(self, tree: pygit2.Tree) -> dict[str, str]:
        """annotated commit id -> note text, whatever the fan-out."""
        return {commit: self.read_text(blob) for commit, blob in self._blobs_of_tree(tree)}

    def _edit_notes(
        self, tree: pygit2.Tree, edits: dict[str, Callable[[str], str | None]]
    ) -> pygit2.Oid:
        """Several notes rewritten. A flat tree (gitrack's derived refs: one entry per
        note) is edited in one pass, written once however many notes change."""
        if any(entry.filemode == FileMode.TREE for entry in tree):
            for commit, transform in edits.items():
                tree = self._r[self._edit_tree(tree, commit, transform)]
            return tree.id
        builder = self._r.TreeBuilder(tree)
        for commit, transform in edits.items():
            text = self.read_text(str(tree[commit].id)) if commit in tree else ""
            self._put(builder, commit, transform(text))
        return builder.write()

    def _edit_tree(
        self, tree: pygit2.Tree | None, hexpath: str, transform: Callable[[str], str | None]
    ) -> pygit2.Oid:
        """Rewrite one note in a notes tree, keeping whatever fan-out the tree uses; a
        ``transform`` that gives None removes the note (and a fan-out folder left empty)."""
        builder = self._r.TreeBuilder(tree) if tree is not None else self._r.TreeBuilder()
        if tree is not None and hexpath in tree:
            self._put(builder, hexpath, transform(self.read_text(str(tree[hexpath].id))))
            return builder.write()
        prefix = hexpath[:2]
        fanned = tree is not None and any(
            len(e.name) == 2 and e.filemode == FileMode.TREE for e in tree
        )
        if tree is not None and prefix in tree and tree[prefix].filemode == FileMode.TREE:
            sub = self._edit_tree(self._r[tree[prefix].id], hexpath[2:], transform)
            if len(self._r[sub]):
                builder.insert(prefix, sub, FileMode.TREE)
            else:
                builder.remove(prefix)
        elif (text := transform("")) is None:
            pass  # no note, and none wanted
        elif fanned and len(hexpath) > 2:
            builder.insert(
                prefix, self._edit_tree(None, hexpath[2:], _constant(text)), FileMode.TREE
            )
        else:
            self._put(builder, hexpath, text)
        return builder.write()

    def _put(self, builder: pygit2.TreeBuilder, name: str, text: str | None) -> None:
        if text is not None:
            builder.insert(name, self._r.create_blob(text), FileMode.BLOB)
        elif builder.get(name) is not None:
            builder.remove(name)


def _blobs_in(tree: pygit2.Tree, commit: str) -> tuple[str, ...]:
    """The note blobs on ``commit`` in a notes tree, shallowest first (see Notes.blobs_at)."""
    found = []
    for depth in range(0, len(commit) // 2):
        folders = [commit[i : i + 2] for i in range(0, 2 * depth, 2)]
        try:
            entry = tree["/".join([*folders, commit[2 * depth :]])]
        except KeyError:
            entry = None
        if entry is not None and entry.type_str == "blob":
            found.append(str(entry.id))
        try:
            folder = tree["/".join([*folders, commit[2 * depth : 2 * depth + 2]])]
        except KeyError:
            break
        if folder.type_str != "tree":
            break
    return tuple(found)


def _constant(text: str) -> Callable[[str], str]:
    return lambda _old: text


class NoteMissingError(GitrackError):
    """A note blob the notes tree names is not in the repository."""

    def __init__(self, blob: str) -> None:
        super().__init__(
            f"note blob {blob[:12]} is not in this repository (a partial clone whose remote "
            "could not send it?); fetch again (git fetch) and retry"
        )


class _NotBuiltFrom(Exception):
    """The derived ref moved on (or was rebuilt) since the state an edit applies to."""
