"""ImageFX Studio. ``python main.py`` opens the desktop app; ``python main.py --help`` lists commands."""

import sys

from core.cli import main

if __name__ == "__main__":
    sys.exit(main())
