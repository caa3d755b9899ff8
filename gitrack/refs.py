"""The refs gitrack owns. Everything a run needs is reachable from these two."""

NOTES_REF = "refs/notes/gitrack"  # note on a commit = its runs, one JSON line each
PINS_REF = "refs/gitrack/pins"  # history of pin commits keeping snapshots alive
FETCH_REFSPECS = ("+refs/notes/*:refs/notes/*", "+refs/gitrack/*:refs/gitrack/*")
