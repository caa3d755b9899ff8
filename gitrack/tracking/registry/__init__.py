"""The model registry: annotated git tags in GTO's format (iterative's Git Tag Ops).

``names`` reads and writes tag names exactly as GTO does; ``state`` folds the tags into
models, versions and stages with GTO's rules; ``ops`` registers, assigns, unassigns and
deprecates (each one new tag, never a moved one); ``fetch`` writes a version's bytes,
verified; ``share`` carries the tags through push and pull.
"""
