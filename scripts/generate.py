"""Launcher: write synthetic training data (see ``python scripts/generate.py --help``)."""
import sys

from clstmtools.generate import main

if __name__ == "__main__":
    sys.exit(main())
