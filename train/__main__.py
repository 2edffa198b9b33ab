"""``python -m train`` (from a checkout) is ``imdb-edge-train``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
