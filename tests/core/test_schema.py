"""schema.sql: runs with psql, runs again harmlessly, matches the ORM models, and upgrades a
database made by the original schema in place. On our own TCP server and, when
IMAGEFX_TEST_PG_URL names one, on that server too.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from PIL import Image

from core.config import Settings
from core.imagefx import GenerationRequest
from core.store import Database, repo
from core.store.database import SCHEMA_FILE, SCHEMA_VERSION
from core.store.models import Base
from tests.support.dbcheck import counts, execute, rows, run_psql, scalar

pytestmark = pytest.mark.parametrize("admin_url", ["own", "env"], indirect=True)

ORIGINAL_SCHEMA = Path(__file__).parent / "data" / "original_schema.sql"
ORIGINAL_TABLES = ("users", "sessions", "prompts", "generated_images", "image_captions")
# Created by the app only where the pg_trgm extension exists (not on the embedded server);
# deliberately not a model, since it cannot exist everywhere.
OPTIONAL_INDEXES = {"idx_prompts_text_trgm", "idx_prompts_folded_trgm"}


def _columns(url: str, tables: tuple[str, ...]) -> set[tuple[str, str, str, str, str | None]]:
    return set(rows(url, """
        SELECT table_name, column_name, data_type, is_nullable, column_default
        FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ANY(%s)""",
                    (list(tables),)))


def _model_differences(url: str) -> list[object]:
    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        return not (type_ == "index" and name in OPTIONAL_INDEXES)

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": True, "compare_server_default": True, "include_object": include})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _png(width: int = 96, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(out, "PNG")
    return out.getvalue()


def test_schema_sql_runs_with_psql_on_an_empty_database_and_again(db_url: str, settings: Settings) -> None:
    first = run_psql(db_url, SCHEMA_FILE)
    assert first.returncode == 0, first.stderr
    tables = {r[0] for r in rows(db_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert set(ORIGINAL_TABLES) | {"image_thumbnails", "imagefx_schema_version"} <= tables
    shape = _columns(db_url, tuple(tables))

    second = run_psql(db_url, SCHEMA_FILE)
    assert second.returncode == 0, second.stderr
    assert _columns(db_url, tuple(tables)) == shape
    assert scalar(db_url, "SELECT version FROM imagefx_schema_version") == SCHEMA_VERSION

    db = Database(settings, url=db_url).connect()  # the app accepts what psql made
    db.close()
    assert _columns(db_url, tuple(tables)) == shape


def test_running_the_schema_again_keeps_every_row(db_url: str, make_service: Callable[..., object],
                                                  demo_cookie: str) -> None:
    svc = make_service()
    svc.sign_in(demo_cookie)  # type: ignore[attr-defined]
    svc.generate(GenerationRequest("a lighthouse at dusk", count=2))  # type: ignore[attr-defined]
    before = counts(db_url)
    assert before["generated_images"] == 2 and before["image_thumbnails"] == 2

    assert run_psql(db_url, SCHEMA_FILE).returncode == 0
    assert counts(db_url) == before

    # An app that finds an older version runs the schema itself on connect; nothing is lost.
    execute(db_url, "UPDATE imagefx_schema_version SET version = 0")
    svc2 = make_service()
    assert scalar(db_url, "SELECT version FROM imagefx_schema_version") == SCHEMA_VERSION
    assert counts(db_url) == before
    assert [r.image_count for r in svc2.history()] == [2]  # type: ignore[attr-defined]


def test_orm_models_match_schema_sql(db_url: str) -> None:
    assert run_psql(db_url, SCHEMA_FILE).returncode == 0
    assert _model_differences(db_url) == []


def test_a_database_made_by_the_original_schema_is_upgraded_in_place(
        db_url: str, make_service: Callable[..., object]) -> None:
    made = run_psql(db_url, ORIGINAL_SCHEMA)
    assert made.returncode == 0, made.stderr
    original_columns = _columns(db_url, ORIGINAL_TABLES)
    png = _png()
    execute(db_url, """
        WITH u AS (INSERT INTO users (email, name) VALUES ('old@example.com', 'Old User') RETURNING id),
             p AS (INSERT INTO prompts (user_id, prompt_text, seed, number_of_images, aspect_ratio,
                                        generation_model, created_at)
                   SELECT id, 'an old purple teapot', 7, 1, 'IMAGE_ASPECT_RATIO_SQUARE', 'IMAGEN_3',
                          now() - interval '200 days' FROM u RETURNING id, user_id)
        INSERT INTO generated_images (user_id, prompt_id, media_generation_id, encoded_image, seed,
                                      model_name_type, aspect_ratio, created_at)
        SELECT user_id, id, 'CAMaOLD1', %s, 7, 'IMAGEN_3', 'IMAGE_ASPECT_RATIO_SQUARE',
               now() - interval '200 days' FROM p""", (base64.b64encode(png).decode("ascii"),))
    execute(db_url, "INSERT INTO image_captions (user_id, image_path, image_type, caption_text) "
                    "SELECT id, '/photos/cat.jpg', 'jpeg', 'A cat.' FROM users")
    execute(db_url, "INSERT INTO sessions (user_id, access_token, expires_at) "
                    "SELECT id, 'old-token-hash', now() - interval '1 day' FROM users")

    svc = make_service()  # connecting upgrades the database

    assert scalar(db_url, "SELECT version FROM imagefx_schema_version") == SCHEMA_VERSION
    assert original_columns <= _columns(db_url, ORIGINAL_TABLES)  # nothing renamed, retyped or dropped
    assert _model_differences(db_url) == []
    assert counts(db_url, ORIGINAL_TABLES) == {"users": 1, "sessions": 1, "prompts": 1, "generated_images": 1,
                                              "image_captions": 1}

    # The old rows work in the app: history, search, the gallery, thumbnails made on demand.
    [row] = svc.history(search="teapot")  # type: ignore[attr-defined]
    assert (row.prompt, row.user_email, row.image_count, row.media_ids) == (
        "an old purple teapot", "old@example.com", 1, ("CAMaOLD1",))
    [image] = svc.gallery_page()  # type: ignore[attr-defined]
    assert image.media_id == "CAMaOLD1" and image.thumbnail is None and not image.is_favorite
    assert svc.backfill_thumbnails() == 1  # type: ignore[attr-defined]
    [image] = svc.gallery_page()  # type: ignore[attr-defined]
    assert image.thumbnail and (image.width, image.height, image.mime_type) == (96, 64, "image/png")
    assert svc.image_bytes(image.id) == png  # type: ignore[attr-defined]
    assert svc.delete_expired_sessions() == 1  # type: ignore[attr-defined]

    # The original document's maintenance query still works, and so does its trigger.
    execute(db_url, "INSERT INTO generated_images_archive SELECT * FROM generated_images "
                    "WHERE created_at < NOW() - INTERVAL '90 days'")
    assert scalar(db_url, "SELECT media_generation_id FROM generated_images_archive") == "CAMaOLD1"
    stamp = scalar(db_url, "SELECT updated_at FROM users")
    execute(db_url, "UPDATE users SET name = 'Renamed'")
    assert scalar(db_url, "SELECT updated_at FROM users") > stamp


def test_several_apps_bootstrapping_one_database_at_once(db_url: str, settings: Settings) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)
    dbs = [Database(settings, url=db_url) for _ in range(3)]

    def connect(db: Database) -> None:
        barrier.wait()
        try:
            db.connect()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=connect, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for db in dbs:
        db.close()
    assert errors == []
    assert scalar(db_url, "SELECT count(*) FROM imagefx_schema_version") == 1
    db = Database(settings, url=db_url).connect()
    try:
        with db.session() as s:
            assert repo.table_counts(s)["prompts"] == 0
    finally:
        db.close()
