"""Child process for ``test_team_cli.py``: a team member's open app, as a window keeps itself current.

Run as ``python -m tests.e2e.team_watch_child`` with DATABASE_URL naming the member's login. It
listens for the database's change notifications (core/store/notify.py) and, after each, reads its
gallery and board list again through its own row-level security, printing one JSON line:
``{"t": <time.time()>, "kinds": [...], "gallery": [ids], "boards": [names]}``. The first line (kinds
empty) says it is ready. It stops when standard input closes.
"""

from __future__ import annotations

import json
import sys
import threading
import time


def main() -> int:
    from core.changes import Changes
    from core.service import Service

    svc = Service().open()
    lock = threading.Lock()

    def show(kinds: list[str]) -> None:
        with lock:
            gallery = sorted(r.id for r in svc.gallery_page(limit=500, with_thumbnails=False))
            boards = sorted(b.name for b in svc.library.boards())
            print(json.dumps({"t": time.time(), "kinds": kinds, "gallery": gallery, "boards": boards}), flush=True)

    def heard(changes: Changes) -> None:
        show(sorted(str(k) for k in changes.kinds))

    listener = svc.listen_for_changes(heard)
    if not listener.wait_ready(20):
        print(json.dumps({"error": "the listener did not start"}), flush=True)
        return 1
    show([])
    sys.stdin.read()  # until the test closes it
    svc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
