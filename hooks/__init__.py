"""The git hook script `gitrack install` writes (shipped in the wheel as gitrack.hook_scripts)."""
