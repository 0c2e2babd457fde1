"""The prompt queue against real PostgreSQL and the stand-in server over HTTP."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.imagefx.protocol import SESSION_COOKIE_NAMES
from core.service import ValidationError
from core.service.control import RunControl
from core.service.queue import (
    FINISHED,
    ITEM_CANCELLED,
    ITEM_DONE,
    ITEM_FAILED,
    ITEM_RECOVERED,
    ITEM_STARTED,
    PAUSED,
    RESUMED,
    RUN_FINISHED,
    SIGN_IN,
    STOPPED,
    WAITING,
    QueueEvent,
    QueueOptions,
    QueueService,
    parse_prompt_lines,
)
from core.standin import SAFETY_MESSAGE
from core.store import queue_repo
from core.store.queue_repo import CRASHED_TWICE, ItemLocks

FAST = {"backoff": 0.05, "probe_interval": 0.05, "max_probe_interval": 0.2}


def fresh_account(standin, service) -> str:
    """A new stand-in account, signed in: its own library and a cookie a test may revoke."""
    token = f"tok-{uuid.uuid4().hex[:12]}"
    email = f"{token}@example.com"
    standin.add_account(token, email, "Queue Tester")
    service.sign_in(f"{SESSION_COOKIE_NAMES[0]}={token}")
    return token


def prompt_counts(service) -> dict[str, int]:
    with service.db.session() as s:
        rows = s.execute(sa.text("SELECT prompt_text, count(*) FROM prompts GROUP BY prompt_text")).all()
    return {p: n for p, n in rows}


class Recorder:
    def __init__(self) -> None:
        self.events: list[QueueEvent] = []
        self.hooks: list = []

    def __call__(self, event: QueueEvent) -> None:
        self.events.append(event)
        for hook in self.hooks:
            hook(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


# --- adding ------------------------------------------------------------------------------------

def test_prompt_lines_skip_blanks_and_comments() -> None:
    text = "\ufeff# a header\r\n\r\na red fox\r\n   # indented comment\n  a blue car  \n\n#last\nan owl"
    assert parse_prompt_lines(text) == ["a red fox", "a blue car", "an owl"]


def test_add_file_keeps_each_items_options_and_order(signed_in, tmp_path: Path) -> None:
    q = QueueService(signed_in)
    f = tmp_path / "prompts.txt"
    f.write_text("# my prompts\n\na red fox\n\n# later\na blue car\n", encoding="utf-8")
    items = q.add_file(f, QueueOptions(count=2, aspect_ratio="SQUARE", seed=42))
    more = q.add_prompts(["an owl"], QueueOptions(count=1, model="IMAGEN_4"))
    listed = q.items()
    assert [i.prompt for i in listed] == ["a red fox", "a blue car", "an owl"]
    assert [i.id for i in listed] == [i.id for i in items + more]
    fox = listed[0]
    assert (fox.count, fox.aspect_ratio, fox.seed, fox.state, fox.source) == \
        (2, "IMAGE_ASPECT_RATIO_SQUARE", 42, "pending", "prompts.txt")
    owl = listed[2]
    assert (owl.count, owl.model, owl.seed, owl.aspect_ratio) == (1, "IMAGEN_3_5", None,
                                                                   signed_in.settings.generation.aspect_ratio)


def test_a_bad_line_adds_nothing_and_names_the_line(service, tmp_path: Path) -> None:
    q = QueueService(service)
    f = tmp_path / "p.txt"
    f.write_text("# c\nfine\n\n" + "x" * 20_001 + "\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="^Line 4: The prompt is 20,001 characters"):
        q.add_file(f)
    assert q.items() == []
    with pytest.raises(ValidationError, match="no such file"):
        q.add_file(tmp_path / "missing.txt")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 au lait\n")
    with pytest.raises(ValidationError, match="not UTF-8"):
        q.add_file(tmp_path / "latin1.txt")
    (tmp_path / "bin.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00bad")
    with pytest.raises(ValidationError, match="binary file"):
        q.add_file(tmp_path / "bin.txt")
    (tmp_path / "notepad.txt").write_bytes("a fox\nan owl\n".encode("utf-16"))  # Windows' "Unicode"
    assert [i.prompt for i in q.add_file(tmp_path / "notepad.txt")] == ["a fox", "an owl"]


def test_the_queue_version_changes_with_every_change_made_by_anyone(service, make_service) -> None:
    q, other = QueueService(service), QueueService(make_service())  # two processes, one database
    empty = q.version()
    assert other.version() == empty == q.version()  # reading changes nothing
    a, b = other.add_prompts(["a red fox", "an owl"])
    added = q.version()
    items, version = q.read()
    assert added != empty and version == added and [i.id for i in items] == [a.id, b.id]
    for change in (lambda: other.move(b.id, 0), lambda: other.cancel([a.id]),
                   lambda: other.retry_failed([a.id]), lambda: other.remove([b.id])):
        before = q.version()
        change()
        assert q.version() != before


def test_reorder_remove_cancel_retry_clear(service) -> None:
    q = QueueService(service)
    a, b, c, d = q.add_prompts(["a", "b", "c", "d"], QueueOptions(count=1))
    assert q.move(d.id, 0)
    assert [i.prompt for i in q.items()] == ["d", "a", "b", "c"]
    assert q.move(d.id, 99)
    q.move(a.id, 2)
    assert [i.prompt for i in q.items()] == ["b", "c", "a", "d"]
    assert q.remove([b.id]) == 1
    assert q.cancel([c.id]) == 1
    assert q.item(c.id).state == "cancelled"
    with service.db.session() as s:
        queue_repo.mark_failed(s, a.id, "boom")
    assert q.retry_failed() == 1  # failed ones only, unless named
    assert q.item(a.id).state == "pending" and q.item(a.id).error is None
    assert q.retry_failed([c.id]) == 1
    counts = q.counts()
    assert (counts.pending, counts.total) == (3, 3)
    assert q.clear(finished_only=True) == 0
    assert q.clear() == 3
    assert q.items() == []


# --- running -----------------------------------------------------------------------------------

def test_file_with_refused_and_rate_limited_prompts_runs_to_the_end(signed_in, standin, tmp_path: Path) -> None:
    q = QueueService(signed_in, **FAST)
    f = tmp_path / "night.txt"
    f.write_text("# tonight's batch\n\na lighthouse at dusk\n\nsomething forbidden here\n"
                 "# the next one meets a 429\na bowl of ramen\na purple nebula\n", encoding="utf-8")
    items = q.add_file(f, QueueOptions(count=2))
    assert len(items) == 4
    rec = Recorder()

    def rate_limit_ramen(e: QueueEvent) -> None:
        if e.kind == ITEM_STARTED and e.item.prompt == "a bowl of ramen":
            standin.fail("generate", "rate_limit", retry_after=0.3)

    rec.hooks.append(rate_limit_ramen)
    summary = q.run(delay=0, on_event=rec)

    assert summary.outcome == FINISHED
    assert (summary.done, summary.failed, summary.images) == (3, 1, 6)
    states = {i.prompt: i for i in q.items()}
    assert [states[p].state for p in ("a lighthouse at dusk", "something forbidden here", "a bowl of ramen",
                                      "a purple nebula")] == ["done", "failed", "done", "done"]
    refused = states["something forbidden here"]
    assert SAFETY_MESSAGE in refused.error and refused.image_count == 0
    ramen = states["a bowl of ramen"]
    assert ramen.image_count == 2 and len(ramen.media_ids) == 2 and ramen.attempts == 1
    waits = [e for e in rec.events if e.kind == WAITING]
    assert len(waits) == 1 and waits[0].reason == "rate_limit" and waits[0].wait_seconds == pytest.approx(0.3)
    assert waits[0].item.prompt == "a bowl of ramen"
    # each done item's images came with its event (the gallery shows them at once), stored once
    done_events = [e for e in rec.events if e.kind == ITEM_DONE]
    assert [len(e.images) for e in done_events] == [2, 2, 2]
    assert all(img.thumbnail for e in done_events for img in e.images)
    assert prompt_counts(signed_in) == {"a lighthouse at dusk": 1, "a bowl of ramen": 1, "a purple nebula": 1}
    last = rec.events[-1]
    assert last.kind == RUN_FINISHED and last.progress.finished == 4 and last.progress.total == 4
    assert [e.progress.finished for e in done_events] == [1, 3, 4]  # n of N as items end
    assert done_events[-1].progress.eta_seconds == 0


def test_delay_between_items_and_time_left(signed_in) -> None:
    q = QueueService(signed_in, **FAST)
    q.add_prompts(["one", "two", "three"], QueueOptions(count=1))
    rec = Recorder()
    started = time.monotonic()
    summary = q.run(delay=0.4, on_event=rec)
    elapsed = time.monotonic() - started
    assert summary.done == 3
    assert elapsed >= 0.8  # two pauses between three items, none after the last
    first_done = next(e for e in rec.events if e.kind == ITEM_DONE)
    assert first_done.progress.eta_seconds is not None and first_done.progress.eta_seconds >= 2 * 0.4


def test_sign_in_failure_pauses_the_whole_queue(service, standin) -> None:
    token = fresh_account(standin, service)
    q = QueueService(service, **FAST)
    q.add_prompts(["first", "second", "third"], QueueOptions(count=1))
    rec = Recorder()
    rec.hooks.append(lambda e: standin.revoke(token) if e.kind == ITEM_DONE else None)
    summary = q.run(delay=0, on_event=rec)
    assert summary.outcome == SIGN_IN
    assert "sign in again" in summary.message.lower()
    states = [(i.prompt, i.state, i.attempts) for i in q.items()]
    assert states == [("first", "done", 1), ("second", "pending", 0), ("third", "pending", 0)]
    # signed in again, the next run picks up where this one stopped
    standin.add_account(token, f"{token}@example.com", "Queue Tester")
    assert q.run(delay=0).outcome == FINISHED
    assert [i.state for i in q.items()] == ["done", "done", "done"]
    assert prompt_counts(service) == {"first": 1, "second": 1, "third": 1}


def test_not_signed_in_at_all_is_a_sign_in_pause(service) -> None:
    q = QueueService(service)
    q.add_prompts(["x"], QueueOptions(count=1))
    summary = q.run(delay=0)
    assert summary.outcome == SIGN_IN
    assert q.items()[0].state == "pending"


def test_network_loss_pauses_and_resumes(signed_in, standin) -> None:
    q = QueueService(signed_in, **FAST)
    q.add_prompts(["net one", "net two"], QueueOptions(count=1))
    standin.fail("generate", "reset", times=2)
    rec = Recorder()
    summary = q.run(delay=0, on_event=rec)
    assert summary.outcome == FINISHED and summary.done == 2
    kinds = rec.kinds()
    assert kinds.count(PAUSED) == 2 and kinds.count(RESUMED) == 2
    assert all(e.reason == "network" for e in rec.events if e.kind == PAUSED)
    assert [i.attempts for i in q.items()] == [1, 1]


def test_server_errors_retry_then_fail_the_item(signed_in, standin) -> None:
    q = QueueService(signed_in, **FAST)
    q.add_prompts(["flaky", "broken"], QueueOptions(count=1))
    standin.fail("generate", "server_error", status=503)  # flaky: once, then fine
    rec = Recorder()
    rec.hooks.append(lambda e: standin.fail("generate", "server_error", status=500, times=3)
                     if e.kind == ITEM_STARTED and e.item.prompt == "broken" else None)
    summary = q.run(delay=0, on_event=rec)
    assert (summary.outcome, summary.done, summary.failed) == (FINISHED, 1, 1)
    broken = q.items()[1]
    assert broken.state == "failed" and "server error" in broken.error


def test_stop_during_a_rate_limit_wait_puts_the_item_back(signed_in, standin) -> None:
    q = QueueService(signed_in, **FAST)
    (item,) = q.add_prompts(["patient"], QueueOptions(count=1))
    standin.fail("generate", "rate_limit", retry_after=60)
    control = RunControl()
    rec = Recorder()
    rec.hooks.append(lambda e: control.stop() if e.kind == WAITING else None)
    started = time.monotonic()
    summary = q.run(delay=0, on_event=rec, control=control)
    assert time.monotonic() - started < 10
    assert summary.outcome == STOPPED
    after = q.item(item.id)
    assert (after.state, after.attempts) == ("pending", 0)


def test_pause_resume_and_cancel_from_another_thread(signed_in, standin) -> None:
    q = QueueService(signed_in, **FAST)
    a, b, c = q.add_prompts(["alpha", "beta", "gamma"], QueueOptions(count=1))
    control = RunControl()
    rec = Recorder()
    result: list = []
    standin.fail("generate", "rate_limit", retry_after=60)  # alpha waits a long time

    worker = threading.Thread(target=lambda: result.append(q.run(delay=0, on_event=rec, control=control)))
    worker.start()
    deadline = time.monotonic() + 10
    while WAITING not in rec.kinds() and time.monotonic() < deadline:
        time.sleep(0.01)
    control.pause()  # alpha goes back to pending while paused
    while not any(e.kind == PAUSED and e.reason == "user" for e in rec.events) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert q.item(a.id).state == "pending"
    assert q.cancel([b.id], control) == 1  # beta is pending: cancelled in the database
    control.resume()
    worker.join(timeout=20)
    assert result and result[0].outcome == FINISHED
    assert [i.state for i in q.items()] == ["done", "cancelled", "done"]


def test_cancel_the_running_item(signed_in, standin) -> None:
    q = QueueService(signed_in, **FAST)
    a, b = q.add_prompts(["to cancel", "to keep"], QueueOptions(count=1))
    control = RunControl()
    rec = Recorder()
    rec.hooks.append(lambda e: q.cancel([a.id], control) if e.kind == ITEM_STARTED and e.item.id == a.id
                     else None)
    summary = q.run(delay=0, on_event=rec, control=control)
    assert (summary.done, summary.cancelled) == (1, 1)
    assert ITEM_CANCELLED in rec.kinds()
    assert [i.state for i in q.items()] == ["cancelled", "done"]
    assert "to cancel" not in prompt_counts(signed_in)


# --- crashes and concurrency ----------------------------------------------------------------------

def _crash_while_running(service, item_id: int) -> None:
    """What a killed runner leaves behind: the item running, its lock connection gone."""
    locks = ItemLocks(service.db.engine)
    with service.db.session() as s:
        claimed = queue_repo.claim_next(s, locks, "dead-host:1")
    assert claimed is not None and claimed.id == item_id
    locks.close()


def test_an_item_running_when_its_process_died_runs_again_once(signed_in) -> None:
    q = QueueService(signed_in, **FAST)
    (item,) = q.add_prompts(["crashy"], QueueOptions(count=1))
    _crash_while_running(signed_in, item.id)
    assert q.item(item.id).state == "running"
    rec = Recorder()
    summary = q.run(delay=0, on_event=rec)
    assert summary.done == 1
    assert rec.kinds()[0] == ITEM_RECOVERED
    after = q.item(item.id)
    assert (after.state, after.attempts) == ("done", 2)
    assert prompt_counts(signed_in) == {"crashy": 1}


def test_an_item_that_crashed_twice_fails(signed_in) -> None:
    q = QueueService(signed_in, **FAST)
    (item,) = q.add_prompts(["doomed"], QueueOptions(count=1))
    _crash_while_running(signed_in, item.id)
    with signed_in.db.session() as s:  # the first recovery
        queue_repo.recover_stale(s, ItemLocks(signed_in.db.engine))
    _crash_while_running(signed_in, item.id)
    summary = q.run(delay=0)
    assert (summary.done, summary.failed) == (0, 0)
    after = q.item(item.id)
    assert (after.state, after.error) == ("failed", CRASHED_TWICE)


def test_a_running_item_with_a_live_runner_is_left_alone(signed_in) -> None:
    q = QueueService(signed_in, **FAST)
    busy, free = q.add_prompts(["busy", "free"], QueueOptions(count=1))
    other = ItemLocks(signed_in.db.engine)  # another runner, alive
    try:
        with signed_in.db.session() as s:
            assert queue_repo.claim_next(s, other, "other:2").id == busy.id
        summary = q.run(delay=0)
        assert summary.done == 1
        assert q.item(busy.id).state == "running" and q.item(free.id).state == "done"
    finally:
        other.close()


def test_two_runners_never_run_the_same_item(make_service, standin) -> None:
    first = make_service()
    first.sign_in(standin_cookie())
    second = make_service()
    q1, q2 = QueueService(first, **FAST), QueueService(second, **FAST)
    prompts = [f"shared {n}" for n in range(8)]
    q1.add_prompts(prompts, QueueOptions(count=1))
    standin.delay("generate", 0.02, times=8)
    started = [threading.Event(), threading.Event()]
    overlap: list[bool] = []

    def hold_first_item(me: int) -> Callable[[QueueEvent], None]:
        # each runner keeps its first item running until the other has claimed one too
        def on_event(e: QueueEvent) -> None:
            if e.kind == ITEM_STARTED and not started[me].is_set():
                started[me].set()
                overlap.append(started[1 - me].wait(20))
        return on_event

    results: list = []
    threads = [threading.Thread(target=lambda q=q, n=n: results.append(q.run(delay=0, on_event=hold_first_item(n))))
               for n, q in enumerate((q1, q2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert overlap == [True, True]  # they really ran side by side
    assert sum(r.done for r in results) == 8
    assert all(r.done > 0 for r in results)  # both worked
    assert prompt_counts(first) == dict.fromkeys(prompts, 1)
    assert {i.state for i in q1.items()} == {"done"}


def standin_cookie() -> str:
    from core.standin import DEMO_COOKIE

    return DEMO_COOKIE


def test_a_refused_item_keeps_googles_words_in_the_event(signed_in) -> None:
    q = QueueService(signed_in, **FAST)
    q.add_prompts(["gore everywhere"], QueueOptions(count=1))
    rec = Recorder()
    q.run(delay=0, on_event=rec)
    failed = [e for e in rec.events if e.kind == ITEM_FAILED]
    assert len(failed) == 1 and SAFETY_MESSAGE in failed[0].message and failed[0].item.state == "failed"


# --- the database going away mid-run ----------------------------------------------------------------

@pytest.fixture(scope="module")
def own_pg() -> object:
    """A server of our own to stop and start (the shared one serves every other test)."""
    from tests.support.pg import TcpPostgres

    pg = TcpPostgres().start()
    yield pg
    pg.stop()


@pytest.fixture
def own_db_url(own_pg) -> str:
    from tests.support.pg import create_database

    return create_database(own_pg.url())[1]


def _bounce(pg, seconds: float = 1.0) -> None:
    """Stop the server now and start it again ``seconds`` later, from another thread."""
    pg.stop(remove=False)
    threading.Timer(seconds, pg.restart).start()


def test_database_down_between_items_pauses_and_resumes(make_service, own_pg, own_db_url) -> None:
    svc = make_service(url=own_db_url)
    svc.sign_in(standin_cookie())
    q = QueueService(svc, **FAST)
    q.add_prompts(["db one", "db two", "db three"], QueueOptions(count=1))
    rec = Recorder()
    bounced: list[bool] = []

    def down_after_first(e: QueueEvent) -> None:
        if e.kind == ITEM_DONE and not bounced:
            bounced.append(True)
            _bounce(own_pg)

    rec.hooks.append(down_after_first)
    summary = q.run(delay=0, on_event=rec)
    assert (summary.outcome, summary.done) == (FINISHED, 3)
    assert any(e.kind == PAUSED and e.reason == "database" for e in rec.events)
    assert RESUMED in rec.kinds()
    assert prompt_counts(svc) == {"db one": 1, "db two": 1, "db three": 1}
    assert [(i.state, i.attempts) for i in q.items()] == [("done", 1)] * 3


def test_database_down_while_generating_keeps_the_images_in_the_spool_then_stores_once(
        make_service, own_pg, own_db_url) -> None:
    svc = make_service(url=own_db_url)
    svc.sign_in(standin_cookie())
    q = QueueService(svc, **FAST)
    q.add_prompts(["spool one", "spool two"], QueueOptions(count=2))
    rec = Recorder()
    spooled: list[int] = []

    entries: list = []

    def down_during_second(e: QueueEvent) -> None:
        if e.kind == ITEM_STARTED and e.item.prompt == "spool two":
            _bounce(own_pg)
        if e.kind == PAUSED and e.reason == "database":
            spooled.append(len(svc.spool))  # the images are on disk while the database is away
            entries.extend((svc.spool.load(p), e.item.id) for p in svc.spool.pending())

    rec.hooks.append(down_during_second)
    summary = q.run(delay=0, on_event=rec)
    assert (summary.outcome, summary.done, summary.images) == (FINISHED, 2, 4)
    assert spooled == [1]
    assert [gen.queue_item_id for gen, _ in entries] == [item_id for _, item_id in entries]  # the entry names its item
    assert len(svc.spool) == 0  # stored with the item's transaction, then forgotten
    assert prompt_counts(svc) == {"spool one": 1, "spool two": 1}
    second = q.items()[1]
    assert (second.state, second.image_count, len(second.media_ids)) == ("done", 2, 2)


def _stop_when_spooled(svc, own_pg, prompt: str, control: RunControl, entries: list) -> Recorder:
    """The database goes down as ``prompt`` starts; once its images are in the spool, the user quits."""
    rec = Recorder()

    def hook(e: QueueEvent) -> None:
        if e.kind == ITEM_STARTED and e.item.prompt == prompt:
            own_pg.stop(remove=False)  # down before the images arrive
        if e.kind == PAUSED and e.reason == "database":
            entries.extend(svc.spool.load(p) for p in svc.spool.pending())
            control.stop()

    rec.hooks.append(hook)
    return rec


def test_images_spooled_mid_item_then_a_stop_store_the_prompt_once_on_the_next_run(
        make_service, own_pg, own_db_url) -> None:
    """The item was left ``running`` with its images in the spool. The next run (in the same
    process, so no start-up drain) must store the spool and mark the item done before it
    recovers stale items; recovering first would generate the prompt a second time."""
    svc = make_service(url=own_db_url)
    svc.sign_in(standin_cookie())
    q = QueueService(svc, **FAST)
    _first, second = q.add_prompts(["outage one", "outage two"], QueueOptions(count=2))
    control, entries = RunControl(), []
    try:
        summary = q.run(delay=0, on_event=_stop_when_spooled(svc, own_pg, "outage two", control, entries),
                        control=control)
    finally:
        own_pg.restart()
    assert (summary.outcome, summary.done) == (STOPPED, 1)
    assert [e.queue_item_id for e in entries] == [second.id]
    assert q.item(second.id).state == "running"  # what the outage left behind

    rec = Recorder()
    summary = q.run(delay=0, on_event=rec)
    assert (summary.outcome, summary.done, summary.images) == (FINISHED, 1, 2)
    assert ITEM_RECOVERED not in rec.kinds() and ITEM_STARTED not in rec.kinds()  # nothing ran again
    done = [e for e in rec.events if e.kind == ITEM_DONE]
    assert [e.item.id for e in done] == [second.id] and len(done[0].images) == 2
    assert len(svc.spool) == 0 and svc.flush_spool() == 0
    assert prompt_counts(svc) == {"outage one": 1, "outage two": 1}
    after = q.item(second.id)
    assert (after.state, after.attempts, after.image_count, len(after.media_ids)) == ("done", 1, 2, 2)
    assert after.prompt_id is not None


def test_images_spooled_mid_item_are_stored_at_the_next_start_and_the_item_is_done(
        make_service, own_pg, own_db_url) -> None:
    """The app quits during the outage; the next start (``Service.open`` drains the spool)
    finishes the item in the drain's transaction, and the next run has nothing to redo."""
    svc = make_service(url=own_db_url)
    svc.sign_in(standin_cookie())
    q = QueueService(svc, **FAST)
    (item,) = q.add_prompts(["quit during outage"], QueueOptions(count=1))
    control, entries = RunControl(), []
    try:
        q.run(delay=0, on_event=_stop_when_spooled(svc, own_pg, "quit during outage", control, entries),
              control=control)
    finally:
        own_pg.restart()
    assert [e.queue_item_id for e in entries] == [item.id]

    restarted = make_service(url=own_db_url)  # open() stores the spool first
    q2 = QueueService(restarted, **FAST)
    after = q2.item(item.id)
    assert (after.state, after.image_count, after.error) == ("done", 1, None)
    assert len(restarted.spool) == 0
    rec = Recorder()
    summary = q2.run(delay=0, on_event=rec)
    assert (summary.outcome, summary.done) == (FINISHED, 0)
    assert ITEM_STARTED not in rec.kinds()
    assert prompt_counts(restarted) == {"quit during outage": 1}
