"""One module per command or command group: what the CLI calls, one function each.

Each takes a ``Context`` (repository, config, data store: opened once per invocation)
and returns a result for the CLI to print. Nothing here imports click.
"""
