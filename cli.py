"""``python cli.py ...`` in a checkout runs the same code as the installed ``capture3d`` command."""
import sys

from capture3d.cli import main

if __name__ == "__main__":
    sys.exit(main())
