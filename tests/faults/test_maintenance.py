"""The original schema document's maintenance tasks, safe to run at any time: delete expired
sessions, archive old images (copy and delete in one transaction), back up and restore.

The service-level session clean-up is tested in tests/core/test_service.py (marked there);
the GUI's Tools menu in tests/gui/test_faults_gui.py.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.imagefx import GenerationRequest
from core.secrets import hash_token
from core.service import Service
from core.store import DatabaseError, repo
from tests.support.dbcheck import counts, execute, rows, scalar
from tests.support.fault_suite import DataLoss
from tests.support.pg import TcpPostgres, create_database, drop_database

Run = Callable[..., subprocess.CompletedProcess[str]]
ALL_TABLES = ("users", "sessions", "prompts", "generated_images", "image_thumbnails", "image_captions",
              "generated_images_archive", "generation_queue", "imagefx_schema_version")


def age(url: str, prompt: str, days: int) -> None:
    """Make one generation ``days`` old (its prompt row and its images)."""
    execute(url, "UPDATE generated_images SET created_at = now() - make_interval(days => %s) "
                 "WHERE prompt_id = (SELECT id FROM prompts WHERE prompt_text = %s)", (days, prompt))
    execute(url, "UPDATE prompts SET created_at = now() - make_interval(days => %s) WHERE prompt_text = %s",
            (days, prompt))


@pytest.fixture
def library(signed_in: Service, db_url: str) -> Service:
    """Three generations: 200, 100 and 0 days old."""
    for prompt, days in (("two hundred days ago", 200), ("a hundred days ago", 100), ("today", 0)):
        signed_in.generate(GenerationRequest(prompt, count=2))
        age(db_url, prompt, days)
    return signed_in


# --- archive --------------------------------------------------------------------------------------

@pytest.mark.fault_case("maintenance: archive older than N days, copy and delete together")
def test_archive_moves_old_images_whole_and_is_harmless_to_repeat(library: Service, db_url: str,
                                                                  data_loss: DataLoss) -> None:
    before = {m: e for m, e in rows(db_url, "SELECT media_generation_id, encoded_image FROM generated_images")}
    assert library.archive_older_than(90).count == 4
    archived = dict(rows(db_url, "SELECT media_generation_id, encoded_image FROM generated_images_archive"))
    kept = dict(rows(db_url, "SELECT media_generation_id, encoded_image FROM generated_images"))
    assert len(archived) == 4 and len(kept) == 2
    assert {**archived, **kept} == before  # every image, byte for byte, in exactly one of the two tables
    assert not set(archived) & set(kept)
    assert [r.prompt for r in library.history() if r.image_count] == ["today"]
    assert library.count_images() == 2
    assert counts(db_url)["image_thumbnails"] == 2

    assert not library.archive_older_than(90)  # again: nothing moves, nothing is lost
    assert not library.archive_older_than(150)
    assert counts(db_url, ("generated_images", "generated_images_archive")) == {
        "generated_images": 2, "generated_images_archive": 4}
    assert data_loss.check(db_urls=[db_url]) == []


@pytest.mark.fault_case("maintenance: archive that fails half-way changes nothing")
def test_an_archive_that_fails_half_way_changes_nothing(library: Service, db_url: str) -> None:
    execute(db_url, """
        CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
            RAISE EXCEPTION 'refused by a test trigger'; END $$;
        CREATE TRIGGER refuse_delete BEFORE DELETE ON generated_images
            FOR EACH ROW EXECUTE FUNCTION refuse_delete();""")
    before = counts(db_url, ALL_TABLES[:7])
    with pytest.raises(DatabaseError, match="refused by a test trigger"):
        library.archive_older_than(90)
    assert counts(db_url, ALL_TABLES[:7]) == before  # the copy was rolled back with the delete


@pytest.mark.fault_case("maintenance: archive while old images are being stored")
def test_archive_never_deletes_an_image_it_did_not_copy(library: Service, db_url: str, signed_in: Service,
                                                        data_loss: DataLoss) -> None:
    """An old generation (a spool entry from long ago) commits while the archive runs: it must end
    up in one of the two tables, never deleted without its copy."""
    execute(db_url, """
        CREATE FUNCTION slow_archive() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
            PERFORM pg_sleep(0.8); RETURN NULL; END $$;
        CREATE TRIGGER slow_archive AFTER INSERT ON generated_images_archive
            FOR EACH STATEMENT EXECUTE FUNCTION slow_archive();""")
    old = signed_in.generate(GenerationRequest("generated long ago, stored late", count=2))
    signed_in.delete_images([i.id for i in old.record.images])
    late = old.generation
    late.created_at = datetime.now(UTC) - timedelta(days=120)

    archived: list[object] = []
    archiver = threading.Thread(target=lambda: archived.append(signed_in.archive_older_than(90)))
    archiver.start()
    deadline = time.monotonic() + 10  # wait until the archive's copy is done and it sleeps in the trigger
    while not scalar(db_url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                             "AND datname = current_database()"):
        assert time.monotonic() < deadline, "the archive never reached its trigger"
        time.sleep(0.01)
    # now the late store commits, between the archive's copy and its delete
    with signed_in.db.session() as s:
        assert len(repo.store_generation(s, late).images) == 2
    archiver.join(30)
    assert archived
    lost = data_loss.check(db_urls=[db_url])
    assert lost == [], "an image was deleted without being archived"
    everywhere = rows(db_url, "SELECT media_generation_id FROM generated_images UNION ALL "
                              "SELECT media_generation_id FROM generated_images_archive")
    assert all((image.media_id,) in everywhere for image in late.images)


# --- sessions ----------------------------------------------------------------------------------------

@pytest.mark.fault_case("maintenance: CLI cleanup-sessions and archive")
def test_cli_cleanup_sessions_and_archive(cli: Run, library: Service, db_url: str) -> None:
    user_id = scalar(db_url, "SELECT id FROM users")
    with library.db.session() as s:
        repo.store_session(s, user_id, hash_token("expired-token-1"), datetime.now(UTC) - timedelta(days=2))
        repo.store_session(s, user_id, hash_token("expired-token-2"), datetime.now(UTC) - timedelta(seconds=1))
    done = cli("maintenance", "cleanup-sessions")
    assert (done.returncode, done.stdout.strip()) == (0, "Deleted 2 expired session(s)."), done.stderr
    assert scalar(db_url, "SELECT count(*) FROM sessions WHERE expires_at < now()") == 0
    assert scalar(db_url, "SELECT count(*) FROM sessions") == 1  # the live one stays
    done = cli("maintenance", "archive", "--days", "150")
    assert (done.returncode, done.stdout.strip()) == (0, "Archived 2 image(s) older than 150 days."), done.stderr
    bad = cli("maintenance", "archive", "--days", "-1")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


# --- backup and restore ------------------------------------------------------------------------------

@pytest.mark.fault_case("maintenance: backup of the server restored into an empty database")
def test_backup_of_a_server_restores_into_an_empty_database(cli: Run, library: Service, db_url: str,
                                                            pg_tcp: TcpPostgres, tmp_path: Path,
                                                            data_loss: DataLoss) -> None:
    library.archive_older_than(150)
    library.caption_bytes(library.image_bytes(library.gallery_page(limit=1)[0].id), "first.png", count=2)
    before = counts(db_url, ALL_TABLES)
    assert before["generated_images_archive"] == 2 and before["image_captions"] == 2
    out = tmp_path / "backups" / "imagefx.sql.gz"
    done = cli("maintenance", "backup", "-o", str(out))
    assert done.returncode == 0 and done.stdout.strip() == str(out), done.stderr

    name, empty = create_database(pg_tcp.url(), prefix="imagefx_restore")
    try:
        done = cli("maintenance", "restore", str(out), env={"DATABASE_URL": empty})
        assert done.returncode == 0, done.stderr
        assert counts(empty, ALL_TABLES) == before
        for table in ("generated_images", "generated_images_archive", "prompts"):
            q = f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"
            assert scalar(empty, q) == scalar(db_url, q), table
        assert data_loss.check(db_urls=[empty]) == []

        again = cli("maintenance", "restore", str(out), env={"DATABASE_URL": empty})
        assert again.returncode == 6 and "not empty" in again.stderr  # never over existing data
        assert counts(empty, ALL_TABLES) == before
        # The restored database is a working one: the next generation gets fresh ids.
        later = cli("generate", "-p", "after the restore", "-n", "1", "-d", str(tmp_path / "o"),
                    "-c", "__Secure-next-auth.session-token=demo-session-token", env={"DATABASE_URL": empty})
        assert later.returncode == 0, later.stderr
        assert scalar(empty, "SELECT count(*) FROM generated_images") == before["generated_images"] + 1
    finally:
        drop_database(pg_tcp.url(), name)


@pytest.mark.fault_case("maintenance: backup of the embedded server restored into an empty database")
def test_backup_of_the_embedded_server_restores_into_an_empty_database(
        server_reachable_dir: Path, monkeypatch: pytest.MonkeyPatch, settings: object, pg_tcp: TcpPostgres,
        demo_cookie: str, tmp_path: Path) -> None:
    from core.store import Database

    data = server_reachable_dir / "data"
    monkeypatch.setenv("IMAGEFX_DATA_DIR", str(data))
    embedded = settings.with_overrides(data_dir=data)  # type: ignore[attr-defined]
    svc = Service(embedded).open()
    try:
        assert svc.db.is_embedded
        svc.sign_in(demo_cookie)
        svc.generate(GenerationRequest("kept in the embedded server", count=3))
        with svc.db.session() as s:
            before = {t: int(s.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in ALL_TABLES}
        out = svc.backup(tmp_path / "embedded.sql").path
    finally:
        svc.close()
    assert before["generated_images"] == 3

    name, empty = create_database(pg_tcp.url(), prefix="imagefx_restore")
    try:
        target = Service(embedded, database=Database(embedded, url=empty))
        try:
            target.restore(out)
        finally:
            target.close()
        assert counts(empty, ALL_TABLES) == before
        assert rows(empty, "SELECT prompt_text FROM prompts") == [("kept in the embedded server",)]
    finally:
        drop_database(pg_tcp.url(), name)
