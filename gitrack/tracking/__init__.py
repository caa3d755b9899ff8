"""Runs: the record (one note line), reading runs back, recording a run around a command,
the events the Python API sends to that run, checkout of a run, and sharing runs."""
