"""The store on a real server: one generation is one transaction, the spool keeps what the
database could not take, the pool stays within 20 connections, and LOG_QUERIES logs
statements with durations but no parameter values.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from core.config import Settings
from core.imagefx import GenerationRequest
from core.secrets import hash_token
from core.service import Service
from core.standin import DEMO_COOKIE, DEMO_EMAIL, DEMO_SESSION_TOKEN
from core.store import Database, DatabaseError, NewGeneration, NewImage, repo
from tests.support.dbcheck import counts, execute, scalar
from tests.support.net import TcpProxy, closed_port
from tests.support.pg import create_database, drop_database

pytestmark = pytest.mark.parametrize("admin_url", ["own", "env"], indirect=True)

# A real database condition, raised inside the server, the second time a generation's
# prompt gets an image (or a thumbnail): the first row of the generation is already written.
REFUSE_SECOND = {
    "generated_images": """
        CREATE FUNCTION refuse_second() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
            IF EXISTS (SELECT 1 FROM generated_images WHERE prompt_id = NEW.prompt_id) THEN
                RAISE EXCEPTION 'refused by a test trigger';
            END IF;
            RETURN NEW; END $$;
        CREATE TRIGGER refuse_second BEFORE INSERT ON generated_images
            FOR EACH ROW EXECUTE FUNCTION refuse_second();""",
    "image_thumbnails": """
        CREATE FUNCTION refuse_second() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
            IF (SELECT count(*) FROM image_thumbnails t JOIN generated_images g ON g.id = t.image_id
                WHERE g.prompt_id = (SELECT prompt_id FROM generated_images WHERE id = NEW.image_id)) >= 1 THEN
                RAISE EXCEPTION 'refused by a test trigger';
            END IF;
            RETURN NEW; END $$;
        CREATE TRIGGER refuse_second BEFORE INSERT ON image_thumbnails
            FOR EACH ROW EXECUTE FUNCTION refuse_second();""",
}
DROP_REFUSAL = "DROP FUNCTION refuse_second() CASCADE"


@pytest.fixture
def database(settings: Settings, db_url: str) -> Iterator[Database]:
    db = Database(settings, url=db_url).connect()
    yield db
    db.close()


def _new_image(media_id: str) -> NewImage:
    return NewImage(media_id=media_id, encoded_image="iVBORw0KGgo=", seed=1, returned_prompt="p", model="IMAGEN_3_5",
                    aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE", workflow_id="w", fingerprint_log_record_id="f",
                    mime_type="image/png", width=8, height=8, byte_size=8, thumbnail=b"\xff\xd8\xff thumb",
                    thumb_width=8, thumb_height=8)


def _generation(*media_ids: str, prompt: str = "a test prompt") -> NewGeneration:
    return NewGeneration(user_email="someone@example.com", user_name="Someone", prompt=prompt, seed=0,
                         count=len(media_ids), aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE", model="IMAGEN_3_5",
                         workflow_id="w", images=[_new_image(m) for m in media_ids],
                         created_at=datetime.now(UTC))


# --- one generation, one transaction --------------------------------------------------------------

@pytest.mark.parametrize("table", ["generated_images", "image_thumbnails"])
@pytest.mark.fault_case("database: failure mid-generation leaves no rows")
def test_a_failure_mid_generation_leaves_no_rows(database: Database, db_url: str, table: str) -> None:
    execute(db_url, REFUSE_SECOND[table])
    before = counts(db_url)
    with pytest.raises(DatabaseError) as info, database.session() as s:
        repo.store_generation(s, _generation("CAMaONE", "CAMaTWO", "CAMaTHREE"))
    assert "refused by a test trigger" in str(info.value)
    assert counts(db_url) == before  # not the user, not the prompt, not the first image

    execute(db_url, DROP_REFUSAL)
    with database.session() as s:
        record = repo.store_generation(s, _generation("CAMaONE", "CAMaTWO", "CAMaTHREE"))
    assert len(record.images) == 3
    after = counts(db_url)
    assert (after["prompts"], after["generated_images"], after["image_thumbnails"]) == (1, 3, 3)


@pytest.mark.fault_case("database: refused generation spooled, stored later")
def test_a_generation_the_database_refuses_is_kept_in_the_spool_and_stored_later(
        signed_in: Service, db_url: str) -> None:
    execute(db_url, REFUSE_SECOND["generated_images"])
    before = counts(db_url)
    result = signed_in.generate(GenerationRequest("three green apples", count=3))
    assert result.spooled and "refused by a test trigger" in (result.storage_error or "")
    assert len(result.image_bytes()) == 3  # the caller still has every image
    assert counts(db_url) == before
    assert len(signed_in.spool) == 1

    execute(db_url, DROP_REFUSAL)
    assert signed_in.flush_spool() == 3
    assert len(signed_in.spool) == 0
    after = counts(db_url)
    assert (after["prompts"] - before["prompts"], after["generated_images"] - before["generated_images"],
            after["image_thumbnails"] - before["image_thumbnails"]) == (1, 3, 3)


@pytest.mark.fault_case("database: refused spool entry does not block the start")
def test_a_spooled_generation_the_database_refuses_does_not_keep_the_app_from_opening(
        signed_in: Service, make_service: Callable[..., Service], db_url: str) -> None:
    execute(db_url, REFUSE_SECOND["generated_images"])
    assert signed_in.generate(GenerationRequest("two red apples", count=2)).spooled
    assert signed_in.generate(GenerationRequest("one red apple", count=1)).record.images  # fits the trigger

    later = make_service()  # opening flushes the spool: the refused entry must not make it fail
    assert len(later.spool) == 1
    assert later.history()[0].prompt == "one red apple"

    execute(db_url, DROP_REFUSAL)
    assert later.flush_spool() == 2 and len(later.spool) == 0


@pytest.mark.fault_case("database: unreachable at start, spooled, stored once back (service)")
def test_a_generation_made_while_the_database_is_down_is_stored_once_it_is_back(
        settings: Settings, make_service: Callable[..., Service], db_url: str) -> None:
    """The entry remembers its database (issue 13): another database that opens meanwhile leaves
    it alone; the same database, back, stores it."""
    real = urlsplit(db_url)
    port = closed_port()
    down_url = urlunsplit(real._replace(netloc=f"{real.username}@127.0.0.1:{port}"))
    down = Service(settings, cookie=DEMO_COOKIE, database=Database(settings, url=down_url))
    try:
        result = down.generate(GenerationRequest("a kite over the sea", count=2))
    finally:
        down.close()
    assert result.spooled and "cannot be reached" in (result.storage_error or "")
    assert len(down.spool) == 1

    other_name, other_url = create_database(admin_url_of(db_url))
    try:
        other = make_service(url=other_url)  # another database: not its
        assert len(other.spool) == 0 and len(other.spool.waiting_elsewhere()) == 1
        assert other.history() == []
        other.close()
    finally:
        drop_database(admin_url_of(db_url), other_name)

    with TcpProxy((real.hostname or "127.0.0.1", real.port or 5432), port=port):  # the server is back
        up = make_service(url=down_url)  # same data folder, so the same spool: opening stores it
        assert len(up.spool) == 0 and up.spool.waiting_elsewhere() == []
        [row] = up.history()
        assert (row.prompt, row.image_count, row.user_email) == ("a kite over the sea", 2, DEMO_EMAIL)

        # An entry that did reach the database before a crash is not stored twice.
        up.spool.put(result.generation)
        assert up.flush_spool() == 0 and len(up.spool) == 0
        assert counts(db_url)["generated_images"] == 2
        up.close()


def admin_url_of(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres"))


# --- pool ------------------------------------------------------------------------------------------

def test_the_pool_never_opens_more_than_20_connections(database: Database, db_url: str) -> None:
    name = db_url.rsplit("/", 1)[1].split("?")[0]
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            n = scalar(db_url, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                               "AND application_name = 'ImageFX Studio'", (name,))
            peak = max(peak, int(n))
            time.sleep(0.02)

    def work() -> None:
        with database.session() as s:
            s.execute(sa.text("SELECT pg_sleep(0.4)"))

    watcher = threading.Thread(target=watch)
    watcher.start()
    workers = [threading.Thread(target=work) for _ in range(30)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(30)
    stop.set()
    watcher.join()
    assert 1 < peak <= 20
    pool = database.engine.pool
    assert pool.size() + pool._max_overflow <= 20  # type: ignore[attr-defined]


# --- LOG_QUERIES -----------------------------------------------------------------------------------

@pytest.mark.fault_case("security: LOG_QUERIES never logs values")
def test_log_queries_logs_statements_with_durations_but_never_their_values(
        make_service: Callable[..., Service], settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imagefx.sql")
    svc = make_service(settings=settings.with_overrides(log_queries=True))
    svc.sign_in(DEMO_COOKIE)
    result = svc.generate(GenerationRequest("a secretive purple walrus", count=2))
    svc.history(search="walrus")
    lines = [r.getMessage() for r in caplog.records if r.name == "imagefx.sql"]
    assert any(re.match(r"^\d+\.\d ms  INSERT INTO generated_images ", line) for line in lines), lines[:5]
    assert any("INSERT INTO users" in line for line in lines)
    assert all(re.match(r"^\d+\.\d ms  \S", line) for line in lines)
    token = svc.client().session().access_token
    values = ["walrus", DEMO_SESSION_TOKEN, token, hash_token(token), DEMO_EMAIL, "iVBORw0KGgo",
              *[i.media_id for i in result.record.images]]
    for line in lines:
        for value in values:
            assert value not in line


def test_without_log_queries_no_statement_is_logged(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    service.sign_in(DEMO_COOKIE)
    assert not [r for r in caplog.records if r.name == "imagefx.sql"]


def test_the_gallery_anchors_are_every_nth_key_of_the_gallery_order(service: Service) -> None:
    """The sparse index the gallery seeks with (issue 11 §8): position and key of every N-th image,
    for the whole library and for a filter."""
    from tests.gui.helpers import fill_library

    fill_library(service, 40, per_generation=4)
    keys = [(r.created_at, r.id) for r in service.gallery_page(limit=100, with_thumbnails=False)]
    assert [(p, (c, i)) for p, c, i in service.gallery_anchors(7)] == [(p, keys[p]) for p in range(0, 40, 7)]
    service.set_favorite([i for _c, i in keys[::3]], True)
    favs = [(r.created_at, r.id) for r in service.gallery_page(limit=100, favorites_only=True,
                                                                with_thumbnails=False)]
    got = service.gallery_anchors(4, favorites_only=True)
    assert [(p, (c, i)) for p, c, i in got] == [(p, favs[p]) for p in range(0, len(favs), 4)]
    assert service.gallery_anchors(5, search="no such words at all") == []
