"""The entry point installed hooks call: ``python -m gitrack.hookrun NAME ARGS…``.

Kept at this path because hooks written by earlier installs name it; the work is in
gitrack.commands.hooks.
"""

import sys

from gitrack.commands.hooks import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
