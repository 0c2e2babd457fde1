"""Start the desktop app: ``python main.py`` (``--demo`` for the offline demo).

The window appears before anything slow happens; the service (and with it the embedded
PostgreSQL server) starts on a worker thread afterwards (``gui.context``).
"""

from __future__ import annotations

import logging
import signal
import sys

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

from core.config import APP_NAME, APP_SLUG, Settings, load_settings
from gui import icons, theme
from gui.context import ServiceFactory

log = logging.getLogger(__name__)


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists, as under pytest-qt)."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName(APP_SLUG)
    app.setDesktopFileName(APP_SLUG)
    app.setWindowIcon(icons.app_icon())
    return app


def run(demo: bool = False, *, service_factory: ServiceFactory | None = None,
        settings: Settings | None = None) -> int:
    """Open the main window and run the event loop; the exit code for ``main.py``."""
    from core.logs import setup_logging
    from gui.widgets.main_window import MainWindow

    settings = settings or load_settings()
    try:
        setup_logging(verbose=False, log_dir=settings.log_dir, log_queries=settings.log_queries)
    except Exception:  # logging must never keep the app from starting
        pass
    app = create_application()
    theme.apply(app, settings.theme)
    window = MainWindow(service_factory, demo=demo or settings.demo, settings=settings)
    window.show()
    _quit_on_signals(window)
    code = app.exec()
    # closeEvent shut the service down; make sure of it if the loop ended another way.
    window.close()
    return int(code)


def _quit_on_signals(window: QWidget) -> None:
    """Ctrl+C in the terminal or SIGTERM closes the window properly, so the embedded database
    server is stopped instead of leaking (PLATFORM_NOTES.md). Python runs signal handlers only
    between bytecodes, so a timer gives it a moment every 200 ms while Qt's loop waits."""
    def close(_signum: int, _frame: object) -> None:
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, close)
        except (ValueError, OSError):  # not the main thread, or not supported here
            return
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(200)
