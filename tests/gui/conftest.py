"""GUI fixtures: a MainWindow on a fresh test database, talking to the stand-in server.

The window gets a service factory (``make_service``), so it runs on a real PostgreSQL
database created for the test instead of the embedded one. Teardown closes every
window, which cancels and waits for the worker pool: no thread outlives a test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from PySide6.QtWidgets import QApplication

from core.config import Settings
from gui import theme
from gui.widgets.main_window import MainWindow


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No automatic retries: an injected failure shows at once instead of after a backoff."""
    return settings.with_overrides(generation=replace(settings.generation, retries=0))


@pytest.fixture(autouse=True)
def _light_theme(qapp: QApplication) -> None:
    theme.apply(qapp, "light")


@pytest.fixture
def make_window(qtbot, make_service, settings: Settings, demo_cookie: str) -> Iterator[Callable[..., MainWindow]]:
    windows: list[MainWindow] = []

    def make(*, signed_in: bool = True, factory: Callable[[bool], object] | None = None, demo: bool = False,
             wait: bool = True, retry_interval_ms: int | None = None,
             size: tuple[int, int] | None = (1280, 800)) -> MainWindow:
        if factory is None:
            svc = make_service()
            if signed_in:
                svc.sign_in(demo_cookie)

            def factory(_demo: bool, svc: object = svc) -> object:
                return svc

        w = MainWindow(factory, settings=settings, demo=demo, retry_interval_ms=retry_interval_ms)  # type: ignore[arg-type]
        if size is not None:
            w.resize(*size)
        qtbot.addWidget(w)
        w.show()
        windows.append(w)
        if wait:
            qtbot.waitUntil(lambda: w.ctx.connected, timeout=15_000)
            qtbot.waitUntil(lambda: not w.model.loading and w.worker.active == 0, timeout=15_000)
        return w

    yield make
    for w in windows:
        w.close()
        w.worker.wait()


@pytest.fixture
def window(make_window: Callable[..., MainWindow]) -> MainWindow:
    """A signed-in main window with an empty gallery."""
    return make_window()
