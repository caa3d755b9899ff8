import sys

from gitrack.cli import main

sys.exit(main())
