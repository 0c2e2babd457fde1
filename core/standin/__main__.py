"""``python -m core.standin [--port N] [--scale F]``: run the stand-in server in the foreground."""

import sys

from core.standin.server import main

sys.exit(main())
