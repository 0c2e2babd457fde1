-- ImageFX Studio team mode (issue 15): one PostgreSQL database shared by a team, each person with
-- a login role of their own; row-level security decides what each one sees.
--
-- Applied by core/store/team.py (`imagefx team init`, `imagefx team upgrade`, and after every schema
-- upgrade of a team database), after schema.sql, in the same transaction, as the team's owner role
-- (SET ROLE), so everything here belongs to that NOLOGIN role. Idempotent. The embedded database
-- and single-user servers never run it: they work exactly as before.
--
-- Who is who (docs/team.md):
--   owner role (NOLOGIN)  owns every table, view, sequence and function. Only the admin login that ran
--                         `team init` is in it (for upgrades and team management). Row-level security
--                         is forced on the owner too; its own policy (imagefx_owner, TO the owner
--                         role, USING TRUE) is what lets its logins see every row. Backups as that
--                         login: pg_dump --enable-row-security (docs/team.md).
--   member role (NOLOGIN) the group of every member's login: table privileges, owns nothing.
--   admin role (NOLOGIN)  members who may add and remove members (`team add-member --admin`).
--   a member's login      LOGIN, in the member group; users.db_role maps it to its account rows.
--
-- What a member sees: the rows of their own accounts (users.db_role = current_user), plus the
-- images on boards shared with them (board_shares: with them, or with the whole team) and what
-- belongs to those images (prompt, thumbnail, stars, note). Other members' cookies and session
-- hashes stay unreadable (users and sessions: own rows only). Policies are written for PUBLIC:
-- only the member group has table privileges, so the privileges decide who may touch a table at
-- all and the policies which rows.
--
-- Speed: a policy asks the helper functions below once per statement (an InitPlan, or a hashed
-- subplan built once), never once per row; which images are shared with whom is kept ready in
-- imagefx_share_access by triggers. benchmarks/README.md has the figures.

-- The team's own settings: its role names.
CREATE TABLE IF NOT EXISTS imagefx_team (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner_role NAME NOT NULL,
    member_role NAME NOT NULL,
    admin_role NAME NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    upgraded_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
-- team.py sets imagefx.team_roles ('owner,member,admin') before the first run.
INSERT INTO imagefx_team (id, owner_role, member_role, admin_role)
SELECT 1, r[1], r[2], r[3] FROM (SELECT string_to_array(current_setting('imagefx.team_roles', true), ',') AS r) s
WHERE cardinality(r) = 3
ON CONFLICT (id) DO NOTHING;

-- A member's accounts: users.db_role is the login role whose rows they are. A member signing in
-- with a Google account that has no row yet makes one of their own (the default).
ALTER TABLE users ADD COLUMN IF NOT EXISTS db_role NAME;
ALTER TABLE users ALTER COLUMN db_role SET DEFAULT current_user;
CREATE INDEX IF NOT EXISTS idx_users_db_role ON users (db_role);

-- Queue items name an account by e-mail, or none ("whoever is signed in when it runs"): in a team
-- an item belongs to the member who queued it.
ALTER TABLE generation_queue ADD COLUMN IF NOT EXISTS user_id INTEGER REFERENCES users(id) ON DELETE CASCADE;
CREATE INDEX IF NOT EXISTS idx_generation_queue_user_id ON generation_queue (user_id);

-- A member's count of the gallery: an index-only scan that tests ownership on the index entry.
CREATE INDEX IF NOT EXISTS idx_generated_images_live_user_id_id
    ON generated_images (user_id) INCLUDE (id) WHERE trashed_at IS NULL;

-- Boards shared with one member (member_role) or with the whole team (member_role NULL).
-- read_only: the member sees the board; otherwise they may also add and remove its images and
-- set their stars and notes.
CREATE TABLE IF NOT EXISTS board_shares (
    id SERIAL PRIMARY KEY,
    board_id INTEGER NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    member_role NAME,
    read_only BOOLEAN NOT NULL DEFAULT TRUE,
    shared_by NAME NOT NULL DEFAULT current_user,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_board_shares_board_member ON board_shares (board_id, COALESCE(member_role, ''));
CREATE INDEX IF NOT EXISTS idx_board_shares_member ON board_shares (member_role);

-- Which images each share opens, to whom ('' = the whole team), with their prompt and whether they
-- are in the Trash; and the images on a board that are not its owner's (a member added them through a
-- read-write share: the board's owner sees them). Kept by the triggers below, read by the helper
-- functions only (members have no privilege on them): a policy reads a few hundred rows of them per
-- statement instead of joining shares, boards and images.
CREATE TABLE IF NOT EXISTS imagefx_share_access (
    share_id INTEGER NOT NULL REFERENCES board_shares(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES generated_images(id) ON DELETE CASCADE,
    grantee NAME NOT NULL,
    read_only BOOLEAN NOT NULL,
    prompt_id INTEGER,
    trashed BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (share_id, image_id)
);
CREATE INDEX IF NOT EXISTS idx_imagefx_share_access_grantee
    ON imagefx_share_access (grantee) INCLUDE (image_id, prompt_id, read_only, trashed);
CREATE INDEX IF NOT EXISTS idx_imagefx_share_access_image ON imagefx_share_access (image_id);
CREATE TABLE IF NOT EXISTS imagefx_board_guests (
    board_id INTEGER NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES generated_images(id) ON DELETE CASCADE,
    board_owner INTEGER NOT NULL,
    prompt_id INTEGER,
    trashed BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (board_id, image_id)
);
CREATE INDEX IF NOT EXISTS idx_imagefx_board_guests_owner
    ON imagefx_board_guests (board_owner) INCLUDE (image_id, prompt_id, trashed);
CREATE INDEX IF NOT EXISTS idx_imagefx_board_guests_image ON imagefx_board_guests (image_id);

-- --- keeping them -------------------------------------------------------------------------------------
-- SECURITY DEFINER: a member's write to a board or an image updates them, though they cannot touch them.

CREATE OR REPLACE FUNCTION imagefx_share_access_of_share() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM imagefx_share_access WHERE share_id = NEW.id;
    INSERT INTO imagefx_share_access (share_id, image_id, grantee, read_only, prompt_id, trashed)
    SELECT NEW.id, bi.image_id, coalesce(NEW.member_role, ''), NEW.read_only, gi.prompt_id, gi.trashed_at IS NOT NULL
    FROM board_images bi JOIN generated_images gi ON gi.id = bi.image_id WHERE bi.board_id = NEW.board_id;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS imagefx_share_access ON board_shares;
CREATE TRIGGER imagefx_share_access AFTER INSERT OR UPDATE ON board_shares
    FOR EACH ROW EXECUTE FUNCTION imagefx_share_access_of_share();

CREATE OR REPLACE FUNCTION imagefx_share_access_of_board() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        DELETE FROM imagefx_share_access a USING imagefx_old o, board_shares s
        WHERE s.board_id = o.board_id AND a.share_id = s.id AND a.image_id = o.image_id;
        DELETE FROM imagefx_board_guests g USING imagefx_old o WHERE g.board_id = o.board_id AND g.image_id = o.image_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO imagefx_share_access (share_id, image_id, grantee, read_only, prompt_id, trashed)
        SELECT s.id, n.image_id, coalesce(s.member_role, ''), s.read_only, gi.prompt_id, gi.trashed_at IS NOT NULL
        FROM imagefx_new n JOIN board_shares s ON s.board_id = n.board_id JOIN generated_images gi ON gi.id = n.image_id
        ON CONFLICT DO NOTHING;
        INSERT INTO imagefx_board_guests (board_id, image_id, board_owner, prompt_id, trashed)
        SELECT n.board_id, n.image_id, b.user_id, gi.prompt_id, gi.trashed_at IS NOT NULL
        FROM imagefx_new n JOIN boards b ON b.id = n.board_id JOIN generated_images gi ON gi.id = n.image_id
        WHERE b.user_id IS NOT NULL AND gi.user_id <> b.user_id
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS imagefx_share_access_insert ON board_images;
CREATE TRIGGER imagefx_share_access_insert AFTER INSERT ON board_images REFERENCING NEW TABLE AS imagefx_new
    FOR EACH STATEMENT EXECUTE FUNCTION imagefx_share_access_of_board();
DROP TRIGGER IF EXISTS imagefx_share_access_update ON board_images;
CREATE TRIGGER imagefx_share_access_update AFTER UPDATE ON board_images
    REFERENCING OLD TABLE AS imagefx_old NEW TABLE AS imagefx_new
    FOR EACH STATEMENT EXECUTE FUNCTION imagefx_share_access_of_board();
DROP TRIGGER IF EXISTS imagefx_share_access_delete ON board_images;
CREATE TRIGGER imagefx_share_access_delete AFTER DELETE ON board_images REFERENCING OLD TABLE AS imagefx_old
    FOR EACH STATEMENT EXECUTE FUNCTION imagefx_share_access_of_board();

-- An image moved to the Trash (or back), or whose prompt row went: its shares follow.
CREATE OR REPLACE FUNCTION imagefx_share_access_of_image() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE imagefx_share_access a SET prompt_id = n.prompt_id, trashed = n.trashed_at IS NOT NULL
    FROM imagefx_new n JOIN imagefx_old o ON o.id = n.id
    WHERE a.image_id = n.id AND (n.prompt_id IS DISTINCT FROM o.prompt_id
                                 OR (n.trashed_at IS NULL) <> (o.trashed_at IS NULL));
    UPDATE imagefx_board_guests g SET prompt_id = n.prompt_id, trashed = n.trashed_at IS NOT NULL
    FROM imagefx_new n JOIN imagefx_old o ON o.id = n.id
    WHERE g.image_id = n.id AND (n.prompt_id IS DISTINCT FROM o.prompt_id
                                 OR (n.trashed_at IS NULL) <> (o.trashed_at IS NULL));
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS imagefx_share_access ON generated_images;
CREATE TRIGGER imagefx_share_access AFTER UPDATE ON generated_images
    REFERENCING OLD TABLE AS imagefx_old NEW TABLE AS imagefx_new
    FOR EACH STATEMENT EXECUTE FUNCTION imagefx_share_access_of_image();

-- Both, made again from the boards (team init, after rows got their owners, and every upgrade).
CREATE OR REPLACE FUNCTION imagefx_rebuild_share_index() RETURNS VOID
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DELETE FROM imagefx_share_access;
    INSERT INTO imagefx_share_access (share_id, image_id, grantee, read_only, prompt_id, trashed)
    SELECT s.id, bi.image_id, coalesce(s.member_role, ''), s.read_only, gi.prompt_id, gi.trashed_at IS NOT NULL
    FROM board_shares s JOIN board_images bi ON bi.board_id = s.board_id JOIN generated_images gi ON gi.id = bi.image_id;
    DELETE FROM imagefx_board_guests;
    INSERT INTO imagefx_board_guests (board_id, image_id, board_owner, prompt_id, trashed)
    SELECT bi.board_id, bi.image_id, b.user_id, gi.prompt_id, gi.trashed_at IS NOT NULL
    FROM board_images bi JOIN boards b ON b.id = bi.board_id JOIN generated_images gi ON gi.id = bi.image_id
    WHERE b.user_id IS NOT NULL AND gi.user_id <> b.user_id;
$$;

-- A share made, changed or ended is news for every open window (issue 14's NOTIFY, schema.sql): the
-- board list and the images it opens or closes. The payload names no row (a board list changed);
-- each listener reads again under its own policies.
DROP TRIGGER IF EXISTS imagefx_notify_list ON board_shares;
CREATE TRIGGER imagefx_notify_list AFTER INSERT OR UPDATE OR DELETE ON board_shares
    FOR EACH STATEMENT EXECUTE FUNCTION imagefx_list_changed('boards');

-- --- helper functions for the policies --------------------------------------------------------------
-- SECURITY DEFINER: they read as the owner, so one policy never expands another's (no recursion, no
-- nested checks). Each takes the role asking (current_user, as the policy sees it) and answers only
-- for a role the session may act as: a member cannot ask about someone else. PL/pgSQL, not SQL: a
-- session plans their queries once and keeps the plans, where a SQL function that is not inlined is
-- planned again in every statement (at 100k images, 1.3 ms a call against 0.5 ms; a gallery page
-- calls them four times: benchmarks/README.md).

-- The member's accounts (users rows).
CREATE OR REPLACE FUNCTION imagefx_member_uids(member NAME) RETURNS INTEGER[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM users
        WHERE db_role = member AND pg_has_role(session_user, member, 'MEMBER'));
END;
$$;

-- The account a member's new rows belong to when the app names none (a queue item, a tag made
-- before signing in): their oldest one.
CREATE OR REPLACE FUNCTION imagefx_member_uid(member NAME) RETURNS INTEGER
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN (SELECT min(id) FROM users WHERE db_role = member AND pg_has_role(session_user, member, 'MEMBER'));
END;
$$;

-- Boards shared with the member (with them, or with the whole team); writable: read-write shares.
CREATE OR REPLACE FUNCTION imagefx_shared_boards(member NAME, writable BOOLEAN DEFAULT FALSE) RETURNS INTEGER[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT board_id ORDER BY board_id), '{}') FROM board_shares
        WHERE (member_role = member OR member_role IS NULL) AND (NOT writable OR NOT read_only)
          AND pg_has_role(session_user, member, 'MEMBER'));
END;
$$;

-- Every board the member sees (own and shared), or may change the contents of (own, read-write).
CREATE OR REPLACE FUNCTION imagefx_member_boards(member NAME, writable BOOLEAN DEFAULT FALSE) RETURNS INTEGER[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(id), '{}') FROM (
            SELECT id FROM boards WHERE user_id = ANY (imagefx_member_uids(member))
            UNION SELECT unnest(imagefx_shared_boards(member, writable))) AS b);
END;
$$;

-- The images on boards shared with the member and other members' images on the member's own boards
-- (writable: those of read-write shares only), not in the Trash (a trashed image is its owner's only).
CREATE OR REPLACE FUNCTION imagefx_shared_images(member NAME, writable BOOLEAN DEFAULT FALSE) RETURNS INTEGER[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT image_id), '{}') FROM (
            SELECT image_id FROM imagefx_share_access
            WHERE grantee IN (member, '') AND NOT trashed AND (NOT writable OR NOT read_only)
            UNION ALL
            SELECT image_id FROM imagefx_board_guests
            WHERE NOT writable AND board_owner = ANY (imagefx_member_uids(member)) AND NOT trashed) AS seen
        WHERE pg_has_role(session_user, member, 'MEMBER'));
END;
$$;

-- The prompt rows of those images (a shared image shows its prompt).
CREATE OR REPLACE FUNCTION imagefx_shared_prompts(member NAME) RETURNS INTEGER[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT prompt_id), '{}') FROM (
            SELECT prompt_id FROM imagefx_share_access WHERE grantee IN (member, '') AND NOT trashed
            UNION ALL
            SELECT prompt_id FROM imagefx_board_guests
            WHERE board_owner = ANY (imagefx_member_uids(member)) AND NOT trashed) AS seen
        WHERE prompt_id IS NOT NULL AND pg_has_role(session_user, member, 'MEMBER'));
END;
$$;

-- Search (core/store/filtering.py): the prompts a member sees that match a word-suffix query. Under
-- row-level security a policy's test runs before any condition of the query that is not leakproof,
-- and text search is not, so no member's search could use idx_prompts_word_suffixes: it would
-- compute the suffixes of every prompt the member sees. This reads through the index as the owner
-- and keeps the member's own prompts and those of images shared with them (what the prompts policy
-- shows), so it tells a member nothing a SELECT on prompts would not.
CREATE OR REPLACE FUNCTION imagefx_search_prompts(query tsquery, member NAME DEFAULT current_user)
RETURNS TABLE (id INTEGER, prompt_folded TEXT)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    uids INTEGER[];
    shared INTEGER[];
BEGIN
    IF NOT pg_has_role(session_user, member, 'MEMBER') THEN
        RETURN;
    END IF;
    uids := imagefx_member_uids(member);
    shared := imagefx_shared_prompts(member);
    RETURN QUERY SELECT p.id, p.prompt_folded FROM prompts p
        WHERE imagefx_word_suffixes(p.prompt_text) @@ query AND (p.user_id = ANY (uids) OR p.id = ANY (shared));
END;
$$;

-- Rows a member makes without naming an owner (a tag, board or saved search made before signing in,
-- a queue item) are theirs.
CREATE OR REPLACE FUNCTION imagefx_default_owner() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id IS NULL THEN
        NEW.user_id := imagefx_member_uid(current_user);
    END IF;
    RETURN NEW;
END;
$$;

-- --- row-level security ---------------------------------------------------------------------------------
-- Four policies a table, one per command: which rows a member reads (SELECT), which they may change
-- (UPDATE, DELETE) and what a row they write may be (INSERT, UPDATE). A shared set is tested as
-- "id IN (SELECT unnest(set))": a hash built once per statement, one probe per row.

DO $$
DECLARE
    team imagefx_team;
    own CONSTANT TEXT := 'user_id = ANY ((SELECT imagefx_member_uids(current_user))::INTEGER[])';
    image_seen CONSTANT TEXT := 'EXISTS (SELECT 1 FROM generated_images g WHERE g.id = image_id)';
    image_own CONSTANT TEXT := 'EXISTS (SELECT 1 FROM generated_images g WHERE g.id = image_id '
        'AND g.user_id = ANY ((SELECT imagefx_member_uids(current_user))::INTEGER[]))';
    image_rw CONSTANT TEXT := image_own || ' OR image_id IN (SELECT unnest(imagefx_shared_images(current_user, TRUE)))';
    board_own CONSTANT TEXT := 'board_id IN (SELECT id FROM boards WHERE ' || own || ')';
    own_email CONSTANT TEXT := 'lower(user_email) IN (SELECT email FROM users)';
    spec TEXT[];
    t TEXT;
BEGIN
    -- table, read, change (rows UPDATE and DELETE may touch), check (what INSERT and UPDATE may write)
    FOREACH spec SLICE 1 IN ARRAY ARRAY[
        -- a member's own account rows only: their encrypted cookies and session hashes, nobody else's
        ['users', 'db_role = current_user', 'db_role = current_user', 'db_role = current_user'],
        ['sessions', own, own, own],
        ['image_captions', own, own, own],
        ['generated_images_archive', own, own, own],
        ['generation_queue', own, own, own],
        ['web_import_state', own_email, own_email, own_email],
        ['saved_searches', own, own, own],
        -- tags are a member's own words: their tags, and their tags' links on images they see
        ['tags', own, own, own],
        ['image_tags', 'tag_id IN (SELECT id FROM tags)', 'tag_id IN (SELECT id FROM tags)',
         'tag_id IN (SELECT id FROM tags) AND ' || image_seen],
        -- images: own, and those on boards shared with the member; only the owner changes an image
        -- itself (favourite, Trash, delete)
        ['generated_images', own || ' OR id IN (SELECT unnest(imagefx_shared_images(current_user)))', own, own],
        ['prompts', own || ' OR id IN (SELECT unnest(imagefx_shared_prompts(current_user)))', own, own],
        -- thumbnails follow their image; one is made for any image the member sees (derived data)
        ['image_thumbnails', image_seen, image_own, image_seen],
        -- stars and notes are the image's: seen with it, set by its owner or on a read-write board
        ['image_ratings', image_seen, image_rw, image_rw],
        ['image_notes', image_seen, image_rw, image_rw],
        -- boards: own and shared ones are seen; only the owner renames, deletes or shares one
        ['boards', own || ' OR id = ANY ((SELECT imagefx_shared_boards(current_user))::INTEGER[])', own, own],
        -- a board's contents: seen on a board the member sees; changed on their own or a read-write
        -- one, with images they see
        ['board_images', 'board_id = ANY ((SELECT imagefx_member_boards(current_user))::INTEGER[])',
         'board_id = ANY ((SELECT imagefx_member_boards(current_user, TRUE))::INTEGER[])',
         'board_id = ANY ((SELECT imagefx_member_boards(current_user, TRUE))::INTEGER[]) AND ' || image_seen],
        -- shares: the board's owner sees and makes them; a member sees the ones made with them
        ['board_shares', 'member_role = current_user OR member_role IS NULL OR ' || board_own, board_own, board_own]]
    LOOP
        FOREACH t IN ARRAY ARRAY['imagefx_select', 'imagefx_insert', 'imagefx_update', 'imagefx_delete']
        LOOP
            EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t, spec[1]);
        END LOOP;
        EXECUTE format('CREATE POLICY imagefx_select ON %I FOR SELECT USING (%s)', spec[1], spec[2]);
        EXECUTE format('CREATE POLICY imagefx_insert ON %I FOR INSERT WITH CHECK (%s)', spec[1], spec[4]);
        EXECUTE format('CREATE POLICY imagefx_update ON %I FOR UPDATE USING (%s) WITH CHECK (%s)',
                       spec[1], spec[3], spec[4]);
        EXECUTE format('CREATE POLICY imagefx_delete ON %I FOR DELETE USING (%s)', spec[1], spec[3]);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['tags', 'boards', 'saved_searches', 'generation_queue']
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS imagefx_default_owner ON %I', t);
        EXECUTE format('CREATE TRIGGER imagefx_default_owner BEFORE INSERT ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION imagefx_default_owner()', t);
    END LOOP;
    -- Every table of the schema, those a later version adds included: RLS on and forced, so a table
    -- without a policy shows a member nothing (tests/core/test_team.py walks the catalog for such
    -- tables), and the owner role, too, reads rows through a policy: its own, which lets the owner's
    -- logins (upgrades, team management, the helpers above) see every row. Forced, a mistake in a
    -- grant cannot open the tables past the policies through ownership alone.
    SELECT * INTO STRICT team FROM imagefx_team WHERE id = 1;
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
               AND c.relname NOT IN ('imagefx_schema_version', 'imagefx_team')
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS imagefx_owner ON %I', t);
        EXECUTE format('CREATE POLICY imagefx_owner ON %I TO %I USING (TRUE) WITH CHECK (TRUE)', t, team.owner_role);
    END LOOP;
END;
$$;

-- --- the team's directory and its management ---------------------------------------------------------

-- Who made an image, for every member who sees it (ImageRecord.user_email): the members' names and
-- e-mails, nothing else of their rows (the owner's logins see every account). The view belongs to the
-- owner, so it reads users past row-level security; schema.sql makes the plain one for single-user
-- databases, where every account is the user's.
DO $$
DECLARE
    team imagefx_team;
BEGIN
    SELECT * INTO STRICT team FROM imagefx_team WHERE id = 1;
    EXECUTE format('CREATE OR REPLACE VIEW imagefx_user_directory WITH (security_barrier) AS '
                   'SELECT id, email, name, image_url, db_role FROM users '
                   'WHERE db_role IS NOT NULL OR pg_has_role(current_user, %L, ''USAGE'')', team.owner_role);
END;
$$;

-- Team management from an admin member's own login (no owner rights, row-level security on): map an
-- e-mail to a member's login, and unmap a login. The owner's logins may call them too.
CREATE OR REPLACE FUNCTION imagefx_team_may_manage() RETURNS BOOLEAN
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT pg_has_role(session_user, admin_role, 'MEMBER') OR pg_has_role(session_user, owner_role, 'MEMBER')
    FROM imagefx_team WHERE id = 1
$$;

-- The users row of ``member_email`` now belongs to ``member`` (made if missing): their account, with
-- everything it holds. An account that is another member's stays theirs.
CREATE OR REPLACE FUNCTION imagefx_team_map(member_email TEXT, member_name TEXT, member NAME) RETURNS INTEGER
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    found users;
BEGIN
    IF NOT imagefx_team_may_manage() THEN
        RAISE EXCEPTION 'only a team admin may add members' USING ERRCODE = '42501';
    END IF;
    SELECT * INTO found FROM users WHERE email = lower(member_email) FOR UPDATE;
    IF found.id IS NULL THEN
        INSERT INTO users (email, name, db_role) VALUES (lower(member_email), coalesce(member_name, member_email), member)
        RETURNING * INTO found;
    ELSIF found.db_role IS NOT NULL AND found.db_role <> member THEN
        RAISE EXCEPTION 'the account % belongs to the member login %', found.email, found.db_role
            USING ERRCODE = '23505';
    ELSE
        UPDATE users SET db_role = member, name = coalesce(member_name, users.name) WHERE id = found.id;
    END IF;
    RETURN found.id;
END;
$$;

-- A member leaves: their accounts are nobody's (their rows stay, for the owner's logins, until
-- someone is added with that e-mail again or they are deleted), and what was shared with them goes.
CREATE OR REPLACE FUNCTION imagefx_team_unmap(member NAME) RETURNS INTEGER
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n INTEGER;
BEGIN
    IF NOT imagefx_team_may_manage() THEN
        RAISE EXCEPTION 'only a team admin may remove members' USING ERRCODE = '42501';
    END IF;
    DELETE FROM board_shares WHERE member_role = member;
    UPDATE users SET db_role = NULL WHERE db_role = member;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;

-- The team as an admin sees it: each member account with how many images it holds.
CREATE OR REPLACE FUNCTION imagefx_team_members()
RETURNS TABLE (user_id INTEGER, email TEXT, name TEXT, db_role NAME, images BIGINT)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT imagefx_team_may_manage() THEN
        RAISE EXCEPTION 'only a team admin may list the members' USING ERRCODE = '42501';
    END IF;
    RETURN QUERY SELECT u.id, u.email::TEXT, u.name::TEXT, u.db_role,
                        (SELECT count(*) FROM generated_images g WHERE g.user_id = u.id)
                 FROM users u ORDER BY u.db_role NULLS LAST, u.email;
END;
$$;

-- --- privileges -----------------------------------------------------------------------------------------
-- Members read and write rows (the policies say which), never the schema; the bookkeeping tables
-- read-only, the share index not at all. Nobody else: tables and helpers are closed to PUBLIC (and the
-- database: team.py, as its owner, grants CONNECT to the member group only).
DO $$
DECLARE
    team imagefx_team;
    f TEXT;
BEGIN
    SELECT * INTO STRICT team FROM imagefx_team WHERE id = 1;
    EXECUTE 'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC';
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', team.member_role);
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON imagefx_schema_version, imagefx_team, imagefx_user_directory '
                   'FROM %I', team.member_role);
    EXECUTE format('REVOKE ALL ON imagefx_share_access, imagefx_board_guests FROM %I', team.member_role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', team.member_role);
    FOR f IN SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND p.proname LIKE 'imagefx\_%'
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, team.member_role);
    END LOOP;
    UPDATE imagefx_team SET version = 1, upgraded_at = CURRENT_TIMESTAMP WHERE id = 1;
END;
$$;

SELECT imagefx_rebuild_share_index();
