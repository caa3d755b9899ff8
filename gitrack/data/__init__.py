"""Data: content hashes (xxh128), the stat cache, folder manifests, the content-addressed
object store, the remote cache, and restores planned before they are applied.

Nothing here knows about runs or notes: callers hand in paths and hashes.
"""
