"""The window's service life (gui/context.py) on real databases, without the window: the embedded
server killed under it comes back by itself, Retry really reconnects on a server, and the offline
demo can be switched on and off twenty times in a row, each time back to a working library of its
own (issue 11, point 2). The window's side of the demo switch is tested with the window itself.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.imagefx import GenerationRequest
from core.service import Service
from core.standin import DEMO_COOKIE, StandInServer
from core.store import EmbeddedRestarting
from gui.context import AppContext
from gui.settings import GuiSettings
from gui.worker import Worker
from tests.core.test_embedded import postmasters, wait_until_gone
from tests.support.pg import TcpPostgres, create_database, drop_database


@pytest.fixture
def embedded(server_reachable_dir: Path, monkeypatch: pytest.MonkeyPatch, standin: StandInServer) -> Iterator[Settings]:
    data = server_reachable_dir / "data"
    monkeypatch.setenv("IMAGEFX_DATA_DIR", str(data))
    yield load_settings().with_overrides(labs_url=standin.url, api_url=standin.url, request_timeout=10.0)
    for pgdata in (data / "pgdata", data / "demo" / "pgdata"):
        for pid in postmasters(pgdata):
            os.kill(pid, signal.SIGINT)


@pytest.fixture
def make_context(qtbot) -> Iterator:
    made: list[tuple[AppContext, Worker]] = []

    def make(settings: Settings, factory, **kw) -> AppContext:
        worker = Worker()
        ctx = AppContext(factory, worker, GuiSettings(Path(tempfile.mkdtemp()) / "gui.ini"), settings, **kw)
        made.append((ctx, worker))
        return ctx

    yield make
    for ctx, worker in made:
        ctx.shutdown()
        worker.wait()


def _ready(qtbot, ctx: AppContext, timeout: int = 30_000) -> Service:
    qtbot.waitUntil(lambda: ctx.connected, timeout=timeout)
    assert ctx.service is not None
    return ctx.service


def _call(qtbot, ctx: AppContext, fn) -> object:
    """``fn(service)`` through the context, as a widget calls it; its result (or exception)."""
    box: list = []
    ctx.call(fn, on_success=lambda r: box.append(("ok", r)), on_failure=lambda e: box.append(("err", e)))
    qtbot.waitUntil(lambda: bool(box), timeout=30_000)
    return box[0]


@pytest.mark.fault_case("database: embedded server SIGKILLed under the app's context comes back by itself")
def test_the_embedded_server_killed_under_the_context_comes_back(qtbot, make_context, embedded: Settings) -> None:
    ctx = make_context(embedded, lambda demo: Service(embedded))
    ctx.start()
    svc = _ready(qtbot, ctx)
    svc.sign_in(DEMO_COOKIE)
    svc.generate(GenerationRequest("kept through a SIGKILL", count=1))
    lost: list = []
    ctx.service_lost.connect(lost.append)
    [first] = postmasters(embedded.embedded_db_dir)
    os.kill(first, signal.SIGKILL)
    wait_until_gone(embedded.embedded_db_dir)

    # A call made meanwhile: the database starts the server again and the call goes through.
    assert _call(qtbot, ctx, lambda s: [r.prompt for r in s.history()]) == ("ok", ["kept through a SIGKILL"])
    [second] = postmasters(embedded.embedded_db_dir)
    assert second != first

    # Killed again in the middle of a transaction: the banner says the app is restarting it, and the
    # context reconnects by itself, without Retry.
    ready: list = []
    ctx.service_ready.connect(ready.append)

    def slow_then_killed(s: Service) -> None:
        import sqlalchemy as sa

        with s.db.session() as ses:
            ses.execute(sa.text("SELECT 1"))
            os.kill(second, signal.SIGKILL)
            ses.execute(sa.text("SELECT pg_sleep(0.1)"))

    kind, exc = _call(qtbot, ctx, slow_then_killed)  # type: ignore[misc]
    assert kind == "err" and isinstance(exc, EmbeddedRestarting)
    assert "starting it again" in exc.user_message and "check that it is running" not in str(exc).lower()
    assert lost and isinstance(lost[-1], EmbeddedRestarting)
    qtbot.waitUntil(lambda: bool(ready) and ctx.connected, timeout=15_000)
    assert _call(qtbot, ctx, lambda s: s.count_images()) == ("ok", 1)


@pytest.mark.fault_case("database: Retry reconnects to a server that was down")
def test_retry_reconnects_to_a_server_that_was_down(qtbot, make_context, embedded: Settings) -> None:
    server = TcpPostgres().start()
    name, url = create_database(server.url())
    try:
        from core.store import Database

        settings = embedded
        ctx = make_context(settings, lambda demo: Service(settings, database=Database(settings, url=url)),
                           retry_interval_ms=60_000)  # only Retry reconnects here
        ctx.start()
        _ready(qtbot, ctx)
        server.stop(remove=False)
        assert _call(qtbot, ctx, lambda s: s.count_images())[0] == "err"
        qtbot.waitUntil(lambda: not ctx.connected, timeout=10_000)
        ctx.reconnect()  # the banner's Retry, while the server is still down
        qtbot.waitUntil(lambda: not ctx.connecting, timeout=20_000)
        assert not ctx.connected
        server.restart()
        ctx.reconnect()
        _ready(qtbot, ctx)
        assert _call(qtbot, ctx, lambda s: s.count_images()) == ("ok", 0)
    finally:
        drop_database(server.url(), name)
        server.stop()


@pytest.mark.fault_case("database: the offline demo switched on and off 20 times, each time a working library")
def test_the_demo_switched_on_and_off_twenty_times(qtbot, make_context, embedded: Settings) -> None:
    """As the window's switch does it (AppContext.restart): the old service closes on a worker thread
    while the new one opens on another. Each time the library is the right one and works."""
    def factory(demo: bool) -> Service:
        return Service(embedded.with_overrides(demo=demo))

    user = Service(embedded).open()
    user.sign_in(DEMO_COOKIE)
    user.generate(GenerationRequest("the user's own picture", count=1))
    user.close()

    ctx = make_context(embedded, factory)
    ctx.start()
    _ready(qtbot, ctx)
    for i in range(20):
        demo = i % 2 == 0
        ctx.restart(demo=demo)
        svc = _ready(qtbot, ctx)
        assert svc.demo is demo
        kind, prompts = _call(qtbot, ctx, lambda s: [r.prompt for r in s.history()])  # type: ignore[misc]
        assert kind == "ok", prompts
        if demo:
            assert "the user's own picture" not in prompts
            if i == 0:
                assert _call(qtbot, ctx, lambda s: s.generate(GenerationRequest("a demo picture", count=1)))[0] == "ok"
        else:
            assert prompts == ["the user's own picture"]
    ctx.shutdown()
    assert wait_until_gone(embedded.embedded_db_dir, 30) == []
    assert wait_until_gone(embedded.with_overrides(demo=True).embedded_db_dir, 30) == []
