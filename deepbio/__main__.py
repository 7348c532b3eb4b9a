"""``python -m deepbio demo|train|predict|evaluate|bench``: see :mod:`deepbio.cli`."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
