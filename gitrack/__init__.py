"""gitrack: experiment tracking that lives inside git."""

__version__ = "0.1.0"
