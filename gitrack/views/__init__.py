"""Views of recorded runs: the search grammar, runs as a table, and terminal rendering."""
