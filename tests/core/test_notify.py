"""Every change, everywhere, at once: what one process writes, another process's listener hears
within a second (LISTEN/NOTIFY from the database's own triggers), through a server restart,
and by polling where a connection cannot listen.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from core.changes import ChangeKind, Changes
from core.config import Settings
from core.service import Service
from core.standin import DEMO_COOKIE
from core.store import Database
from tests.core.test_library import store
from tests.support.dbcheck import execute, scalar
from tests.support.pg import TcpPostgres, create_database

K = ChangeKind
Run = Callable[..., subprocess.CompletedProcess[str]]


class Heard:
    """What a listener delivered, for a test to wait on."""

    def __init__(self) -> None:
        self.changes: list[tuple[float, Changes]] = []
        self._cond = threading.Condition()

    def __call__(self, changes: Changes) -> None:
        with self._cond:
            self.changes.append((time.monotonic(), changes))
            self._cond.notify_all()

    def wait(self, predicate: Callable[[Changes], bool], timeout: float) -> Changes | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _when, c in self.changes:
                    if predicate(c):
                        return c
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


def test_another_process_changes_and_this_one_hears_it_within_a_second(make_service: Callable[..., Service],
                                                                       cli: Run, db_url: str) -> None:
    svc = make_service()
    heard = Heard()
    listener = svc.listen_for_changes(heard)
    try:
        assert listener.wait_ready(10) and listener.mode == "listen"
        generated = cli("generate", "-p", "a heron in the reeds", "-n", "2", "-c", DEMO_COOKIE)
        assert generated.returncode == 0, generated.stderr
        added = heard.wait(lambda c: bool(c.ids(K.IMAGES_ADDED)), 1.0)
        assert added is not None and len(added.ids(K.IMAGES_ADDED) or ()) == 2 and added.origin != svc.origin
        image_id = min(added.ids(K.IMAGES_ADDED) or ())
        # (tests/e2e/test_library_cli.py hears each library command of the CLI the same way.)
        # This process's own changes come back from its operations, not from the listener.
        svc.library.set_rating([image_id], 2)
        execute(db_url, "UPDATE generated_images SET is_favorite = true WHERE id = %s", (image_id,))  # psql
        got = heard.wait(lambda c: image_id in (c.ids(K.FAVORITE) or ()), 1.0)
        assert got is not None and not any(c.ids(K.RATING) == {image_id} and c.origin == svc.origin
                                           for _t, c in heard.changes)
    finally:
        listener.stop()
    assert not listener.running


def test_the_listener_survives_a_restart_and_says_what_it_may_have_missed(settings: Settings) -> None:
    server = TcpPostgres().start()
    try:
        _name, url = create_database(server.url())
        svc = Service(settings, database=Database(settings, url=url)).open()
        other = Service(settings, database=Database(settings, url=url)).open()
        heard = Heard()
        listener = svc.listen_for_changes(heard)
        try:
            assert listener.wait_ready(10)
            server.stop(remove=False)
            assert _wait(lambda: listener.mode is None, 10), "the listener did not notice the server going"
            server.restart()
            missed = heard.wait(lambda c: c.ids(K.IMAGES_ADDED) is None and K.IMAGES_ADDED in c, 15)
            assert missed is not None  # "everything may have changed": views reload
            assert listener.wait_ready(5)
            [image_id] = store(other, "after the restart", ["CAMaR1"])
            assert heard.wait(lambda c: image_id in (c.ids(K.IMAGES_ADDED) or ()), 1.0) is not None
        finally:
            listener.stop()
            svc.close()
            other.close()
    finally:
        server.stop()


def test_polling_is_the_fallback_and_a_big_change_says_many(make_service: Callable[..., Service],
                                                            db_url: str) -> None:
    svc, other = make_service(), make_service()
    heard_poll, heard_listen = Heard(), Heard()
    polling = Service.listen_for_changes(svc, heard_poll, mode="poll")
    polling._poll_seconds = 0.2
    listening = svc.listen_for_changes(heard_listen)
    try:
        assert polling.wait_ready(10) and polling.mode == "poll" and listening.wait_ready(10)
        ids = [i for n in range(3) for i in store(other, f"batch {n}", [f"CAMaP{n}{k}" for k in range(200)])]
        other.library.add_tags(ids, ["bulk"])  # 600 images in one statement
        assert heard_poll.wait(lambda c: c.ids(K.TAGS) is None and K.TAGS in c, 2.0) is not None
        many = heard_listen.wait(lambda c: K.TAGS in c, 1.0)
        assert many is not None and many.ids(K.TAGS) is None  # > 500 ids: "many", under NOTIFY's 8000 bytes
        assert scalar(db_url, "SELECT last_value FROM imagefx_change_seq") >= 4
    finally:
        polling.stop()
        listening.stop()


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = {t.name for t in threading.enumerate()}
    yield
    assert _wait(lambda: not ({t.name for t in threading.enumerate()} - before) & {"imagefx-changes"}, 3)
