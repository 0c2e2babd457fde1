"""Child process for ``test_many_items.py``: a real gallery over thousands of stored images.

Run as ``python -m tests.gui.many_items_child DATABASE_URL EXPECTED``. It opens the main
window on that database, pages through every image, scrolls to the end, paints, and
exits. PySide6 6.12 aborted such a process (exit code 134) from ~1,000 items added
through QStandardItemModel; a custom model must exit with 0 (docs/platform-notes.md). End must
reach the oldest image (issue 11: the scrollbar spans the whole library).
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(url: str, expected: int) -> int:
    import sqlalchemy as sa
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent

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
    window.resize(1280, 800)
    window.show()
    model, view = window.model, window.gallery.view

    def wait(cond: object, seconds: float = 60) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents()
            if cond():  # type: ignore[operator]
                return True
            time.sleep(0.005)
        return False

    wait(lambda w=window: w.ctx.connected and model.counted and model.has_anchors and not model.loading)
    rows = model.rowCount()
    view.setFocus()
    view.setCurrentIndex(model.index(0))
    with service.db.session() as s:
        oldest = s.execute(sa.text("SELECT id FROM generated_images ORDER BY created_at, id LIMIT 1")).scalar()
    app.sendEvent(view, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_End, Qt.KeyboardModifier.NoModifier))
    reached = wait(lambda w=window: [r.id for r in w.selected()] == [oldest], 30)
    window.grab()  # paint the last screenful of thumbnails
    view.scrollToTop()
    wait(lambda: model.is_loaded(0), 10)
    window.grab()
    print(f"rows={rows} reached_oldest={reached} pages={model.pages_read}", flush=True)
    window.close()
    del window
    return 0 if rows == expected and reached else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
