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

-- Which schema additions this database has seen; the app checks it on connect.
CREATE TABLE IF NOT EXISTS imagefx_schema_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO imagefx_schema_version (id, version) VALUES (1, 5)
    ON CONFLICT (id) DO UPDATE SET version = GREATEST(imagefx_schema_version.version, EXCLUDED.version),
                                   applied_at = CURRENT_TIMESTAMP;
