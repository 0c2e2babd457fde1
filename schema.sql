-- ImageFX Studio database schema.
--
-- Part 1 is the original schema (docs/original-schema.md), kept as documented.
-- Part 2 is what ImageFX Studio adds; it is strictly additive (new tables, nullable or
-- defaulted columns, indexes), so a database created by the original schema keeps working
-- and is upgraded in place the first time the app connects.
--
-- The whole file is idempotent: `psql -f schema.sql` may run any number of times.

-- =========================================================================================
-- Part 1: the original schema
-- =========================================================================================

CREATE TABLE IF NOT EXISTS users (
    id SERIAL PRIMARY KEY,
    email VARCHAR(255) UNIQUE NOT NULL,
    name VARCHAR(255) NOT NULL,
    image_url TEXT,
    google_cookie TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_users_email ON users(email);

CREATE TABLE IF NOT EXISTS sessions (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    access_token TEXT NOT NULL,
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT unique_active_session UNIQUE (user_id, access_token)
);

CREATE INDEX IF NOT EXISTS idx_sessions_user_id ON sessions(user_id);
CREATE INDEX IF NOT EXISTS idx_sessions_expires_at ON sessions(expires_at);

CREATE TABLE IF NOT EXISTS prompts (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    prompt_text TEXT NOT NULL,
    seed INTEGER DEFAULT 0,
    number_of_images INTEGER DEFAULT 1,
    aspect_ratio VARCHAR(50) DEFAULT 'IMAGE_ASPECT_RATIO_SQUARE',
    generation_model VARCHAR(50) DEFAULT 'IMAGEN_3',
    workflow_id VARCHAR(255),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_prompts_user_id ON prompts(user_id);
CREATE INDEX IF NOT EXISTS idx_prompts_created_at ON prompts(created_at);

CREATE TABLE IF NOT EXISTS generated_images (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    prompt_id INTEGER REFERENCES prompts(id) ON DELETE SET NULL,
    media_generation_id VARCHAR(255) UNIQUE NOT NULL,
    encoded_image TEXT NOT NULL,
    seed INTEGER,
    model_name_type VARCHAR(50),
    aspect_ratio VARCHAR(50),
    fingerprint_log_record_id VARCHAR(255),
    workflow_id VARCHAR(255),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_generated_images_user_id ON generated_images(user_id);
CREATE INDEX IF NOT EXISTS idx_generated_images_prompt_id ON generated_images(prompt_id);
CREATE INDEX IF NOT EXISTS idx_generated_images_media_generation_id ON generated_images(media_generation_id);

CREATE TABLE IF NOT EXISTS image_captions (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    image_path TEXT NOT NULL,
    image_type VARCHAR(20) NOT NULL,
    caption_text TEXT NOT NULL,
    media_generation_id VARCHAR(255),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_image_captions_user_id ON image_captions(user_id);

CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS update_users_updated_at ON users;
CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- =========================================================================================
-- Part 2: ImageFX Studio additions (additive only)
-- =========================================================================================

-- Per-image facts the gallery shows without decoding the image, the prompt as the
-- service returned it (it may rewrite or translate), and the user's own marks.
ALTER TABLE generated_images ADD COLUMN IF NOT EXISTS returned_prompt TEXT;
ALTER TABLE generated_images ADD COLUMN IF NOT EXISTS mime_type VARCHAR(50);
ALTER TABLE generated_images ADD COLUMN IF NOT EXISTS width INTEGER;
ALTER TABLE generated_images ADD COLUMN IF NOT EXISTS height INTEGER;
ALTER TABLE generated_images ADD COLUMN IF NOT EXISTS byte_size INTEGER;
ALTER TABLE generated_images ADD COLUMN IF NOT EXISTS is_favorite BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE generated_images ADD COLUMN IF NOT EXISTS source VARCHAR(20) NOT NULL DEFAULT 'generate';

-- The Trash (issue 11): Delete moves an image here (trashed_at = when); it can be restored,
-- or deleted for good by the user or after the days set in Settings (default 30).
-- NULL = in the library. Every listing, count and search of the library says
-- `trashed_at IS NULL`; the Trash view says `IS NOT NULL`.
ALTER TABLE generated_images ADD COLUMN IF NOT EXISTS trashed_at TIMESTAMP WITH TIME ZONE;

-- The gallery pages newest first with keyset pagination on (created_at, id), over the images
-- not in the Trash: partial indexes, so trashed rows cost the gallery nothing.
-- (Schema 4 had the same indexes without the predicate; schema 5 replaces them.)
DROP INDEX IF EXISTS idx_generated_images_created_id;
DROP INDEX IF EXISTS idx_generated_images_user_created_id;
DROP INDEX IF EXISTS idx_generated_images_favorite_created_id;
CREATE INDEX IF NOT EXISTS idx_generated_images_live_created_id
    ON generated_images (created_at DESC, id DESC) WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_generated_images_live_user_created_id
    ON generated_images (user_id, created_at DESC, id DESC) WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_generated_images_live_favorite_created_id
    ON generated_images (created_at DESC, id DESC) WHERE is_favorite AND trashed_at IS NULL;
-- The gallery's count: an index-only scan of a small index (user ids deduplicate), as the
-- count of the whole table was before the Trash.
CREATE INDEX IF NOT EXISTS idx_generated_images_live_user_id
    ON generated_images (user_id) WHERE trashed_at IS NULL;
-- The Trash view (same order) and emptying it after N days.
CREATE INDEX IF NOT EXISTS idx_generated_images_trashed
    ON generated_images (trashed_at, id) WHERE trashed_at IS NOT NULL;

-- Thumbnails are made once, when an image is stored, and kept in the database so a
-- second machine on the same server sees them too. A separate table keeps the hot
-- gallery rows narrow and never touches encoded_image.
CREATE TABLE IF NOT EXISTS image_thumbnails (
    image_id INTEGER PRIMARY KEY REFERENCES generated_images(id) ON DELETE CASCADE,
    thumbnail BYTEA NOT NULL,
    mime_type VARCHAR(50) NOT NULL DEFAULT 'image/jpeg',
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

-- Full-text search over prompts (built-in; works on the embedded server, which has no
-- pg_trgm). 'simple' keeps every word, in any language, without stemming surprises.
ALTER TABLE prompts ADD COLUMN IF NOT EXISTS search_vector tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', coalesce(prompt_text, ''))) STORED;
CREATE INDEX IF NOT EXISTS idx_prompts_search_vector ON prompts USING GIN (search_vector);
-- Substring search ("ighthou" finds "lighthouse") compares against this lower-case copy with LIKE:
-- ILIKE lower-cases every prompt again on every search, ~2.5x the time of a sequential scan
-- where there is no trigram index (the embedded server has no pg_trgm; benchmarks/README.md).
-- Where pg_trgm exists, the app adds a trigram index on it (idx_prompts_folded_trgm).
ALTER TABLE prompts ADD COLUMN IF NOT EXISTS prompt_folded TEXT
    GENERATED ALWAYS AS (lower(prompt_text)) STORED;
-- A new column has no statistics until the next auto-analyze; without them the planner
-- misjudges a search (walks the whole gallery instead of matching prompts first).
ANALYZE prompts;
CREATE INDEX IF NOT EXISTS idx_prompts_user_created ON prompts (user_id, created_at DESC);

CREATE INDEX IF NOT EXISTS idx_image_captions_created_at ON image_captions (created_at DESC);

-- The maintenance section of the original document moves old images here.
-- Same columns as the original generated_images, in the same order, so
-- `INSERT INTO generated_images_archive SELECT * FROM generated_images` works on an
-- original database; our added columns follow, in the order they were added.
CREATE TABLE IF NOT EXISTS generated_images_archive (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    prompt_id INTEGER,
    media_generation_id VARCHAR(255) NOT NULL,
    encoded_image TEXT NOT NULL,
    seed INTEGER,
    model_name_type VARCHAR(50),
    aspect_ratio VARCHAR(50),
    fingerprint_log_record_id VARCHAR(255),
    workflow_id VARCHAR(255),
    created_at TIMESTAMP WITH TIME ZONE,
    returned_prompt TEXT,
    mime_type VARCHAR(50),
    width INTEGER,
    height INTEGER,
    byte_size INTEGER,
    is_favorite BOOLEAN NOT NULL DEFAULT FALSE,
    source VARCHAR(20) NOT NULL DEFAULT 'generate',
    archived_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_generated_images_archive_media_generation_id
    ON generated_images_archive (media_generation_id);

-- The prompt queue (issue 7): prompts waiting to be generated, one at a time, surviving
-- quits, crashes and reboots. `position` orders the queue (drag to reorder renumbers it).
-- A running item's runner holds a session-level advisory lock on the item id for as long
-- as it works on it, so "running but nobody holds the lock" means its process died
-- (core/store/queue_repo.py). `attempts` counts runs started; a run that ends without
-- finishing (sign-in pause, network pause, stop) gives its attempt back, so only crashes
-- count: an item interrupted by a crash runs again once, then fails.
-- The result (prompt row) and the item's move to 'done' commit in one transaction.
CREATE TABLE IF NOT EXISTS generation_queue (
    id SERIAL PRIMARY KEY,
    user_email VARCHAR(255),
    position INTEGER NOT NULL DEFAULT 0,
    prompt_text TEXT NOT NULL,
    number_of_images INTEGER NOT NULL DEFAULT 4,
    generation_model VARCHAR(50) NOT NULL DEFAULT 'IMAGEN_3_5',
    aspect_ratio VARCHAR(50) NOT NULL DEFAULT 'IMAGE_ASPECT_RATIO_LANDSCAPE',
    seed INTEGER,
    state VARCHAR(20) NOT NULL DEFAULT 'pending',
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    prompt_id INTEGER REFERENCES prompts(id) ON DELETE SET NULL,
    image_count INTEGER NOT NULL DEFAULT 0,
    source VARCHAR(255),
    claimed_by VARCHAR(255),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    started_at TIMESTAMP WITH TIME ZONE,
    finished_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT generation_queue_state_check
        CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
    CONSTRAINT generation_queue_count_check CHECK (number_of_images BETWEEN 1 AND 8)
);
CREATE INDEX IF NOT EXISTS idx_generation_queue_state_position
    ON generation_queue (state, position, id);
CREATE INDEX IF NOT EXISTS idx_generation_queue_prompt_id ON generation_queue (prompt_id);

-- Import of the ImageFX web library: where the last import stopped, per account, so an
-- interrupted import resumes at the page it was on (media ids make re-storing harmless).
CREATE TABLE IF NOT EXISTS web_import_state (
    user_email VARCHAR(255) PRIMARY KEY,
    next_cursor TEXT,
    pages_done INTEGER NOT NULL DEFAULT 0,
    images_seen INTEGER NOT NULL DEFAULT 0,
    images_imported INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    started_at TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

-- Images are PNG/JPEG, compressed already: PostgreSQL's default TOAST compression (pglz)
-- only burns CPU trying, ~4x the time to write a generation's megabytes for no space saved
-- (benchmarks/README.md). EXTERNAL keeps them out of line, uncompressed. It changes how
-- values written from now on are stored, nothing else; older rows stay as they are.
ALTER TABLE generated_images ALTER COLUMN encoded_image SET STORAGE EXTERNAL;
ALTER TABLE generated_images_archive ALTER COLUMN encoded_image SET STORAGE EXTERNAL;
ALTER TABLE image_thumbnails ALTER COLUMN thumbnail SET STORAGE EXTERNAL;

-- The library (issue 14): ratings, tags, boards, notes and saved searches. The favourite flag
-- stays as it is, beside the 0-5 stars (a pick flag and a rating are two different marks).
-- Every table that holds what one person made has an owner (user_id, NULL until someone signs
-- in), so row-level security can follow it (issue 15); tags, boards and saved searches are
-- unique per owner by name, ignoring case.
-- Ratings live in a table of their own, not in a column of generated_images: the original
-- document's archive query (INSERT INTO generated_images_archive SELECT * FROM generated_images)
-- needs the two tables' columns to line up. No row means no stars. image_created_at is the
-- image's own time, so that "sort by rating" pages through one index (rating, time, id).
CREATE TABLE IF NOT EXISTS image_ratings (
    image_id INTEGER PRIMARY KEY REFERENCES generated_images(id) ON DELETE CASCADE,
    rating SMALLINT NOT NULL CONSTRAINT image_ratings_rating_check CHECK (rating BETWEEN 1 AND 5),
    image_created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    rated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_image_ratings_rating_created_id
    ON image_ratings (rating DESC, image_created_at DESC, image_id DESC);

CREATE TABLE IF NOT EXISTS tags (
    id SERIAL PRIMARY KEY,
    user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
    name VARCHAR(100) NOT NULL,
    name_folded VARCHAR(100) GENERATED ALWAYS AS (lower(name)) STORED,
    -- Images carrying the tag, kept by the triggers below: the tag list and autocomplete read it
    -- instead of counting (benchmarks/README.md).
    image_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT tags_name_check CHECK (name <> '' AND name = btrim(name))
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_tags_owner_name ON tags (COALESCE(user_id, 0), name_folded);
-- Autocomplete: name_folded LIKE 'prefix%' (text_pattern_ops: whatever the database's collation).
CREATE INDEX IF NOT EXISTS idx_tags_name_prefix ON tags (name_folded text_pattern_ops);

CREATE TABLE IF NOT EXISTS image_tags (
    tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES generated_images(id) ON DELETE CASCADE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (tag_id, image_id)
);
CREATE INDEX IF NOT EXISTS idx_image_tags_image_id ON image_tags (image_id);

-- One statement tagging a thousand images updates each tag's count once; tag rows are locked
-- in id order so that two such statements cannot deadlock.
CREATE OR REPLACE FUNCTION imagefx_tags_added() RETURNS TRIGGER AS $$
BEGIN
    PERFORM 1 FROM tags WHERE id IN (SELECT tag_id FROM imagefx_added) ORDER BY id FOR UPDATE;
    UPDATE tags SET image_count = tags.image_count + d.n
        FROM (SELECT tag_id, count(*) AS n FROM imagefx_added GROUP BY tag_id) d WHERE tags.id = d.tag_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION imagefx_tags_removed() RETURNS TRIGGER AS $$
BEGIN
    PERFORM 1 FROM tags WHERE id IN (SELECT tag_id FROM imagefx_removed) ORDER BY id FOR UPDATE;
    UPDATE tags SET image_count = greatest(tags.image_count - d.n, 0)
        FROM (SELECT tag_id, count(*) AS n FROM imagefx_removed GROUP BY tag_id) d WHERE tags.id = d.tag_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS image_tags_added ON image_tags;
CREATE TRIGGER image_tags_added AFTER INSERT ON image_tags REFERENCING NEW TABLE AS imagefx_added
    FOR EACH STATEMENT EXECUTE FUNCTION imagefx_tags_added();
DROP TRIGGER IF EXISTS image_tags_removed ON image_tags;
CREATE TRIGGER image_tags_removed AFTER DELETE ON image_tags REFERENCING OLD TABLE AS imagefx_removed
    FOR EACH STATEMENT EXECUTE FUNCTION imagefx_tags_removed();

-- Boards (collections): an image in any number of them; deleting a board keeps its images.
CREATE TABLE IF NOT EXISTS boards (
    id SERIAL PRIMARY KEY,
    user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
    name VARCHAR(200) NOT NULL,
    name_folded VARCHAR(200) GENERATED ALWAYS AS (lower(name)) STORED,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT boards_name_check CHECK (name <> '' AND name = btrim(name))
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_boards_owner_name ON boards (COALESCE(user_id, 0), name_folded);
CREATE TABLE IF NOT EXISTS board_images (
    board_id INTEGER NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES generated_images(id) ON DELETE CASCADE,
    added_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (board_id, image_id)
);
CREATE INDEX IF NOT EXISTS idx_board_images_image_id ON board_images (image_id);
DROP TRIGGER IF EXISTS update_boards_updated_at ON boards;
CREATE TRIGGER update_boards_updated_at BEFORE UPDATE ON boards
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- A free-text note per image (user_id: who wrote it last).
CREATE TABLE IF NOT EXISTS image_notes (
    image_id INTEGER PRIMARY KEY REFERENCES generated_images(id) ON DELETE CASCADE,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    note TEXT NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

-- Saved searches (smart boards): a name and a filter in the language of core/filters.py.
CREATE TABLE IF NOT EXISTS saved_searches (
    id SERIAL PRIMARY KEY,
    user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
    name VARCHAR(200) NOT NULL,
    name_folded VARCHAR(200) GENERATED ALWAYS AS (lower(name)) STORED,
    filter_text TEXT NOT NULL,
    sort VARCHAR(20) NOT NULL DEFAULT 'newest',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT saved_searches_name_check CHECK (name <> '' AND name = btrim(name)),
    CONSTRAINT saved_searches_sort_check CHECK (sort IN ('newest', 'oldest', 'rating'))
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_saved_searches_owner_name
    ON saved_searches (COALESCE(user_id, 0), name_folded);
DROP TRIGGER IF EXISTS update_saved_searches_updated_at ON saved_searches;
CREATE TRIGGER update_saved_searches_updated_at BEFORE UPDATE ON saved_searches
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Free text finds a word anywhere inside a prompt's words ("ighthou" finds "lighthouse") through
-- an index, on both servers (the embedded one has no pg_trgm): every suffix of every word (its
-- first 32 characters) is a lexeme, so a substring of a word is a prefix of one of them, a GIN
-- prefix match ('ighthou':*; core/store/filtering.py). An expression index, not a stored column:
-- no table rewrite on upgrade, a narrow table, and a prefix match needs no recheck, so the
-- function runs when a prompt is stored, not when one is searched. At most 4000 suffixes a prompt
-- keep the vector far below tsvector's 1 MB limit. Before, a search's OR of LIKE and full-text let
-- no index help its count (benchmarks/README.md).
CREATE OR REPLACE FUNCTION imagefx_word_suffixes(doc TEXT) RETURNS tsvector AS $$
DECLARE
    word TEXT;
    suffixes TEXT[] := '{}';
BEGIN
    FOREACH word IN ARRAY regexp_split_to_array(lower(doc), '[[:space:][:punct:]]+') LOOP
        FOR i IN 1 .. least(length(word), 4000 - cardinality(suffixes)) LOOP
            suffixes := suffixes || substr(word, i, 32);
        END LOOP;
    END LOOP;
    RETURN array_to_tsvector(suffixes);
END;
$$ LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE;
CREATE INDEX IF NOT EXISTS idx_prompts_word_suffixes ON prompts USING GIN (imagefx_word_suffixes(prompt_text));
-- Counts from an index alone: a word's images (its prompts' images), a model's, an aspect ratio's.
CREATE INDEX IF NOT EXISTS idx_generated_images_live_prompt_id
    ON generated_images (prompt_id) WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_generated_images_live_model
    ON generated_images (model_name_type) WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_generated_images_live_aspect
    ON generated_images (aspect_ratio) WHERE trashed_at IS NULL;

-- Every change, everywhere, at once (issue 14): each write to the tables below sends NOTIFY on
-- the channel imagefx_changes inside its own transaction (delivered when it commits, never when
-- it rolls back), whoever makes it: this app in any process, an older copy, psql. The payload is
-- core/changes.py's descriptor: {"v":1,"c":{"<kind>":[ids] or null},"n":<count>,"o":"<origin>"};
-- more than 500 ids are sent as null ("many: refresh that kind"), which keeps it far below
-- NOTIFY's 8000 bytes. "o" is the imagefx.origin setting of the writing connection (the app sets
-- it on connect, core/store/database.py), so a process can tell its own changes from others'.
-- imagefx_change_seq moves with every change: a connection that cannot LISTEN (a pooler in
-- transaction mode, a standby) polls it instead (core/store/notify.py).
CREATE SEQUENCE IF NOT EXISTS imagefx_change_seq;
CREATE OR REPLACE FUNCTION imagefx_notify(kind TEXT, ids INTEGER[]) RETURNS VOID AS $$
DECLARE
    n INTEGER := coalesce(cardinality(ids), 0);
    origin TEXT := left(coalesce(current_setting('imagefx.origin', true), ''), 200);
    payload JSONB;
BEGIN
    IF ids IS NOT NULL AND n = 0 THEN
        RETURN;
    END IF;
    PERFORM nextval('imagefx_change_seq');
    payload := jsonb_build_object('v', 1, 'n', n, 'c', jsonb_build_object(
        kind, CASE WHEN ids IS NULL OR n > 500 THEN NULL ELSE to_jsonb(ids) END));
    IF origin <> '' THEN
        payload := payload || jsonb_build_object('o', origin);
    END IF;
    PERFORM pg_notify('imagefx_changes', payload::text);
END;
$$ LANGUAGE plpgsql;

-- One trigger function per table, for INSERT, UPDATE and DELETE (statement-level, with transition
-- tables: a statement touching a thousand rows sends one notification).
CREATE OR REPLACE FUNCTION imagefx_images_changed() RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM imagefx_notify('added', (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM imagefx_new));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM imagefx_notify('removed', (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM imagefx_old));
    ELSE
        PERFORM imagefx_notify('favorite', (SELECT coalesce(array_agg(n.id ORDER BY n.id), '{}')
            FROM imagefx_new n JOIN imagefx_old o ON o.id = n.id WHERE n.is_favorite IS DISTINCT FROM o.is_favorite));
        PERFORM imagefx_notify('trashed', (SELECT coalesce(array_agg(n.id ORDER BY n.id), '{}')
            FROM imagefx_new n JOIN imagefx_old o ON o.id = n.id WHERE n.trashed_at IS NOT NULL AND o.trashed_at IS NULL));
        PERFORM imagefx_notify('restored', (SELECT coalesce(array_agg(n.id ORDER BY n.id), '{}')
            FROM imagefx_new n JOIN imagefx_old o ON o.id = n.id WHERE n.trashed_at IS NULL AND o.trashed_at IS NOT NULL));
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Tables whose rows name an image (image_id): the kind of change is the trigger's argument.
CREATE OR REPLACE FUNCTION imagefx_image_marks_changed() RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM imagefx_notify(TG_ARGV[0], (SELECT coalesce(array_agg(DISTINCT image_id), '{}') FROM imagefx_new));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM imagefx_notify(TG_ARGV[0], (SELECT coalesce(array_agg(DISTINCT image_id), '{}') FROM imagefx_old));
    ELSE
        PERFORM imagefx_notify(TG_ARGV[0], (SELECT coalesce(array_agg(DISTINCT image_id), '{}')
            FROM (SELECT image_id FROM imagefx_new UNION SELECT image_id FROM imagefx_old) AS touched));
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Tables whose rows are the thing itself (id): queue items, captions, accounts.
CREATE OR REPLACE FUNCTION imagefx_rows_changed() RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM imagefx_notify(TG_ARGV[0], (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM imagefx_new));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM imagefx_notify(TG_ARGV[0], (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM imagefx_old));
    ELSE
        PERFORM imagefx_notify(TG_ARGV[0], (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM imagefx_new));
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Tag, board and saved-search rows themselves (a rename, a new board): "refresh that list".
CREATE OR REPLACE FUNCTION imagefx_list_changed() RETURNS TRIGGER AS $$
BEGIN
    PERFORM imagefx_notify(TG_ARGV[0], NULL);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DO $$
DECLARE
    spec TEXT[];
BEGIN
    -- table, trigger function, argument
    FOREACH spec SLICE 1 IN ARRAY ARRAY[
        ['generated_images', 'imagefx_images_changed', ''],
        ['image_tags', 'imagefx_image_marks_changed', 'tags'],
        ['board_images', 'imagefx_image_marks_changed', 'boards'],
        ['image_ratings', 'imagefx_image_marks_changed', 'rating'],
        ['image_notes', 'imagefx_image_marks_changed', 'note'],
        ['image_captions', 'imagefx_rows_changed', 'captions'],
        ['generation_queue', 'imagefx_rows_changed', 'queue'],
        ['users', 'imagefx_rows_changed', 'accounts']]
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS imagefx_notify_insert ON %I', spec[1]);
        EXECUTE format('CREATE TRIGGER imagefx_notify_insert AFTER INSERT ON %I REFERENCING NEW TABLE AS imagefx_new '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I(%L)', spec[1], spec[2], spec[3]);
        EXECUTE format('DROP TRIGGER IF EXISTS imagefx_notify_update ON %I', spec[1]);
        EXECUTE format('CREATE TRIGGER imagefx_notify_update AFTER UPDATE ON %I REFERENCING OLD TABLE AS imagefx_old '
                       'NEW TABLE AS imagefx_new FOR EACH STATEMENT EXECUTE FUNCTION %I(%L)', spec[1], spec[2], spec[3]);
        EXECUTE format('DROP TRIGGER IF EXISTS imagefx_notify_delete ON %I', spec[1]);
        EXECUTE format('CREATE TRIGGER imagefx_notify_delete AFTER DELETE ON %I REFERENCING OLD TABLE AS imagefx_old '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I(%L)', spec[1], spec[2], spec[3]);
    END LOOP;
    -- A tag or board is news when it comes, goes or changes its name (not when the triggers above
    -- update a tag's count or a board's time); a saved search whenever it changes.
    FOREACH spec SLICE 1 IN ARRAY ARRAY[['tags', 'tags', 'UPDATE OF name'], ['boards', 'boards', 'UPDATE OF name'],
                                        ['saved_searches', 'searches', 'UPDATE']]
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS imagefx_notify_list ON %I', spec[1]);
        EXECUTE format('CREATE TRIGGER imagefx_notify_list AFTER INSERT OR DELETE OR %s ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION imagefx_list_changed(%L)', spec[3], spec[1], spec[2]);
    END LOOP;
END;
$$;

-- Who made an image, as the gallery and the history show it (ImageRecord.user_email): each account's
-- name and e-mail. A view, so that a team database (issue 15, core/store/team.sql) can put its own in
-- its place: there a member reads the team's names and e-mails, not the rows (cookies) of other
-- members. Made only when missing, so running this file never undoes the team's.
DO $$
BEGIN
    IF to_regclass('public.imagefx_user_directory') IS NULL THEN
        CREATE VIEW imagefx_user_directory AS SELECT id, email, name, image_url FROM users;
    END IF;
END;
$$;

-- Which schema additions this database has seen; the app checks it on connect.
CREATE TABLE IF NOT EXISTS imagefx_schema_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO imagefx_schema_version (id, version) VALUES (1, 8)
    ON CONFLICT (id) DO UPDATE SET version = GREATEST(imagefx_schema_version.version, EXCLUDED.version),
                                   applied_at = CURRENT_TIMESTAMP;
