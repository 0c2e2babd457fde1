"""The plain ``history`` listing on the embedded database, without SQLAlchemy (issue 16).

``imagefx history`` with no search, filter, account or other order is the command people run
most, and loading SQLAlchemy and the ORM models is most of its time (~40 % of its imports; the
query itself takes ~3 ms). This runs the statement :func:`core.store.repo.history` builds for that
case, written out once below, on a psycopg connection to the embedded server. Whenever it cannot
answer for sure (a database without the current schema, any error) it says so by returning None
and the command takes the full path, which bootstraps, upgrades and explains failures.
``tests/core/test_quick_history.py`` holds the two to the same rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.store.records import HistoryRow
from core.store.version import SCHEMA_VERSION

if TYPE_CHECKING:
    from core.store.embedded import EmbeddedServer

# repo.history(s, limit=n), as SQLAlchemy renders it: newest first, each generation with its
# images that are not in the Trash (count, media ids and seeds in id order); a generation whose
# images are all in the Trash is left out, one with no images at all is shown.
HISTORY_SQL = """
SELECT prompts.id, prompts.prompt_text, prompts.created_at, imagefx_user_directory.email,
       prompts.generation_model, prompts.aspect_ratio, prompts.seed, prompts.number_of_images,
       m.n, m.ids, m.seeds
FROM prompts
LEFT OUTER JOIN imagefx_user_directory ON imagefx_user_directory.id = prompts.user_id
JOIN LATERAL (
    SELECT count(generated_images.id) AS n,
           coalesce(array_agg(generated_images.media_generation_id ORDER BY generated_images.id)
                    FILTER (WHERE generated_images.id IS NOT NULL), '{}'::varchar[]) AS ids,
           array_agg(generated_images.seed ORDER BY generated_images.id) AS seeds
    FROM generated_images
    WHERE generated_images.prompt_id = prompts.id AND generated_images.trashed_at IS NULL
) AS m ON true
WHERE m.n > 0 OR NOT EXISTS (SELECT 1 FROM generated_images WHERE generated_images.prompt_id = prompts.id)
ORDER BY prompts.created_at DESC, prompts.id DESC
LIMIT %(limit)s
"""


def history_row(r: Any) -> HistoryRow:
    """One result row of :data:`HISTORY_SQL` (or repo.history's statement) as a HistoryRow."""
    return HistoryRow(prompt_id=r[0], prompt=r[1], created_at=r[2], user_email=r[3], model=r[4],
                      aspect_ratio=r[5], seed=r[6], requested=r[7], image_count=int(r[8] or 0),
                      media_ids=tuple(r[9] or ()), seeds=tuple(r[10] or ()) if r[9] else ())


def embedded_history(server: EmbeddedServer, *, limit: int, connect_timeout: int = 10) -> list[HistoryRow] | None:
    """The newest ``limit`` generations from the embedded ``server`` (started or joined; the
    caller lets it go, after the full path if this returned None: take that path)."""
    import psycopg

    from core.redact import register_secret
    from core.store.embedded import IS_WINDOWS, SUPERUSER, EmbeddedServerError

    if IS_WINDOWS:
        return None  # there the server listens on a TCP port this does not look up
    try:
        server.start()
        params = server.connect_params()
        register_secret(params["password"])
        with psycopg.connect(dbname="postgres", user=SUPERUSER, host=params.get("host"), password=params["password"],
                             connect_timeout=connect_timeout, application_name="ImageFX Studio") as conn:
            if conn.execute("SELECT to_regclass('public.imagefx_schema_version') IS NOT NULL"
                            ).fetchone() != (True,):
                return None
            version = conn.execute("SELECT version FROM imagefx_schema_version WHERE id = 1").fetchone()
            if version is None or version[0] is None or int(version[0]) < SCHEMA_VERSION:
                return None  # a fresh or older database: the full path bootstraps or upgrades it
            return [history_row(r) for r in conn.execute(HISTORY_SQL, {"limit": limit})]
    except (psycopg.Error, EmbeddedServerError, OSError, ValueError):
        return None  # the full path tries again and says why in a sentence
