"""Start the desktop app: ``imagefx-studio``, or ``python main.py`` in a checkout (``--demo`` for the offline demo).

The window appears before anything slow happens; the service (and with it the embedded
PostgreSQL server) starts on a thread of its own from the first moment (:class:`EarlyService`),
while the window is being built, and :mod:`gui.context` takes it over once the window shows.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

from core.appinfo import APP_ID
from core.config import APP_NAME, APP_SLUG, Settings, load_settings
from gui import icons, theme

if TYPE_CHECKING:
    from core.service import Service
    from gui.context import ServiceFactory

log = logging.getLogger(__name__)

BENCH_FIRST_PAINT_ENV = "IMAGEFX_BENCH_EXIT_AFTER_FIRST_PAINT"


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
    app.setDesktopFileName(APP_ID)  # the .desktop file's name: menus and Wayland match the window by it
    app.setWindowIcon(icons.app_icon())
    return app


def run(demo: bool = False, *, service_factory: ServiceFactory | None = None,
        settings: Settings | None = None) -> int:
    """Open the main window and run the event loop; the exit code for ``main.py``."""
    from core.logs import setup_logging

    settings = settings or load_settings()
    try:
        setup_logging(verbose=False, log_dir=settings.log_dir, log_queries=settings.log_queries)
    except Exception:  # logging must never keep the app from starting
        pass
    demo = demo or settings.demo
    early = EarlyService(service_factory, demo, settings)
    from gui.widgets.main_window import MainWindow

    app = create_application()
    theme.apply(app, settings.theme)
    window = MainWindow(early.factory, demo=demo, settings=settings)
    window.show()
    if settings.notices:  # a damaged settings file, a bad value, a password removed from it
        window.message_bar.show_message(" ".join(settings.notices), "warning")
    _quit_on_signals(window)
    _trim_heap_after_first_page(window)
    if os.environ.get(BENCH_FIRST_PAINT_ENV):
        _exit_after_first_paint(window)
    code = app.exec()
    # closeEvent shut the service down; make sure of it if the loop ended another way.
    window.close()
    early.discard()
    return int(code)


class EarlyService:
    """Builds and opens the service on a thread of its own while the window is still being built.

    Opening waits for the embedded server to start (or a remote server to answer) and loads the
    database layer; done here it overlaps the GUI's own imports and construction instead of
    following them (cold start, ``benchmarks/README.md``). :meth:`factory` is the
    :class:`gui.context.AppContext`'s factory: its first call hands over this service (or raises
    what opening it raised, as a failed open would), later calls (a restart) build new ones.
    """

    def __init__(self, factory: ServiceFactory | None, demo: bool, settings: Settings | None = None) -> None:
        self._factory = factory
        self._demo = demo
        self._settings = settings
        self._service: Service | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._thread = threading.Thread(target=self._open, name="open service", daemon=True)
        self._thread.start()

    def _build(self, demo: bool) -> Service:
        if self._factory is None:
            from gui.service_factory import default_factory

            self._factory = default_factory
        return self._factory(demo)

    def _open(self) -> None:
        try:
            self._start_embedded_server()
            self._service = self._build(self._demo)
            self._service.open()
        except BaseException as exc:  # noqa: B036 — handed to the context, which reports it
            self._error = exc

    def _start_embedded_server(self) -> None:
        """The embedded server first of all: its start overlaps the imports that follow. The
        service's own handle on the same data folder takes over the handle this start took
        (core.store.embedded.start_early) and lets it go when it closes."""
        settings = self._settings
        if self._factory is not None or settings is None:
            return
        settings = settings.with_overrides(demo=self._demo)  # the demo's library is a folder of its own
        if settings.database.mode != "embedded" and not settings.demo:
            return
        from core.store.embedded import start_early

        start_early(settings.embedded_db_dir).join()  # the imports below go on meanwhile (GIL released)

    def factory(self, demo: bool) -> Service:
        if self._taken or demo != self._demo:
            return self._build(demo)
        self._taken = True
        self._thread.join()
        if self._error is not None:
            if self._service is not None:
                self._error.service = self._service  # type: ignore[attr-defined]  # Retry reuses it
            raise self._error
        assert self._service is not None
        return self._service  # open already; AppContext's open() finds it connected

    def discard(self) -> None:
        """The window closed before the context took the service: close it (and its server)."""
        if not self._taken:
            self._taken = True
            self._thread.join()
            if self._service is not None:
                self._service.close()


def _quit_on_signals(window: QWidget) -> None:
    """Ctrl+C in the terminal or SIGTERM closes the window properly, so the embedded database
    server is stopped instead of leaking (docs/platform-notes.md). Python runs signal handlers only
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


def _trim_heap_after_first_page(window: QWidget) -> None:
    """A second after the gallery's first page is in, give the heap's free pages back (glibc's
    ``malloc_trim``). Start-up frees much of what it allocated (the thumbnail batches decoded on
    the workers, the service's imports on their thread), and glibc keeps those pages: ~20 MB of
    the idle window's resident memory (issue 16). Once; nothing happens on other C libraries."""
    model = getattr(window, "model", None)
    if model is None or not sys.platform.startswith("linux"):
        return

    def trim() -> None:
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
            pass

    def first_page() -> None:
        model.reset_done.disconnect(first_page)
        QTimer.singleShot(1000, trim)

    model.reset_done.connect(first_page)


def _exit_after_first_paint(window: QWidget) -> None:
    """Benchmark hook (``benchmarks/README.md``, cold start): once the gallery has painted its first
    page with every visible thumbnail, print one ``IMAGEFX_BENCH first_paint ...`` line and quit.
    Installed only when ``IMAGEFX_BENCH_EXIT_AFTER_FIRST_PAINT`` is set; costs nothing otherwise.

    ``since_start_ms`` counts from ``IMAGEFX_BENCH_T0_MONOTONIC`` (the parent's ``time.monotonic()``
    just before it started this process: one system-wide clock) when given. With
    ``IMAGEFX_BENCH_IDLE_MS`` the window then idles that long and prints its resident memory
    (``IMAGEFX_BENCH idle rss_mb=...``) before quitting."""
    import time

    from PySide6.QtCore import QEvent, QObject

    view = window.gallery.view  # type: ignore[attr-defined]
    model = window.model  # type: ignore[attr-defined]
    t0 = os.environ.get("IMAGEFX_BENCH_T0_MONOTONIC", "")
    idle_ms = int(os.environ.get("IMAGEFX_BENCH_IDLE_MS", "0") or 0)

    def idle() -> None:
        print(f"IMAGEFX_BENCH idle rss_mb={_rss_mb():.1f} rows={model.rowCount()}", flush=True)
        window.close()

    def report() -> None:
        since = f"{(time.monotonic() - float(t0)) * 1000:.1f}" if t0 else "?"
        print(f"IMAGEFX_BENCH first_paint since_start_ms={since} rows={model.rowCount()} rss_mb={_rss_mb():.1f}",
              flush=True)
        if idle_ms > 0:
            QTimer.singleShot(idle_ms, idle)
        else:
            window.close()

    class Probe(QObject):
        fired = False

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if not self.fired and event.type() == QEvent.Type.Paint and model.rowCount() > 0 \
                    and view.visible_thumbnails_ready():
                self.fired = True  # this paint draws them; report once it is done
                QTimer.singleShot(0, report)
            return False

    window._bench_probe = Probe(window)  # type: ignore[attr-defined]
    view.viewport().installEventFilter(window._bench_probe)  # type: ignore[attr-defined]


def _rss_mb() -> float:
    """This process's resident memory (Linux ``/proc``; 0 elsewhere), for the benchmark hook."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024 / 1e6  # kB (KiB) to MB
    except OSError:
        pass
    return 0.0
