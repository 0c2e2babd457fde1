"""Child process for ``test_many_items.py``: a real gallery over thousands of stored images.

Run as ``python -m tests.gui.many_items_child DATABASE_URL EXPECTED``. It opens the main
window on that database, pages through every image, scrolls to the end, paints, and
exits. PySide6 6.12 aborted such a process (exit code 134) from ~1,000 items added
through QStandardItemModel; a custom model must exit with 0 (docs/platform-notes.md).
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(url: str, expected: int) -> int:
    from core.config import load_settings
    from core.service import Service
    from core.store import Database
    from gui import theme
    from gui.app import create_application
    from gui.widgets.main_window import MainWindow

    settings = load_settings()
    service = Service(settings, database=Database(settings, url=url))
    app = create_application()
    theme.apply(app, "light")
    window = MainWindow(lambda _demo: service, settings=settings)
    window.model.page_size = 500
    window.resize(1280, 800)
    window.show()
    deadline = time.monotonic() + 60
    model, view = window.model, window.gallery.view
    while time.monotonic() < deadline:
        app.processEvents()
        if window.ctx.connected and not model.loading:
            if model.canFetchMore():
                model.fetchMore()
            elif model.exhausted and model.rowCount() > 0:
                break
        time.sleep(0.005)
    rows = model.rowCount()
    view.scrollToBottom()
    for _ in range(20):
        app.processEvents()
    window.grab()  # paint the last screenful of thumbnails
    view.scrollToTop()
    window.grab()
    print(f"rows={rows}", flush=True)
    window.close()
    del window
    return 0 if rows == expected else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
