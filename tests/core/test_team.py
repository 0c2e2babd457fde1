"""Team mode on a real server (issue 15): an existing single-user database becomes a team database
without losing a row, and then each member, logged in as themselves with psql or the app, reads and
writes only their own rows and what is shared with them. The catalog is walked, so a table that a
later schema adds without a policy fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from core.config import load_settings
from core.service import Service, ValidationError
from core.store import Database, DatabaseError
from core.store.database import SCHEMA_VERSION
from core.store.team import member_under_rls, team_sql
from tests.support.teamdb import TeamDb, make_team, server_url

# The only tables without row-level security, and why: neither holds anything of a person's.
BOOKKEEPING = {
    "imagefx_schema_version": "one row: the schema's version number, read by every connection before anything else",
    "imagefx_team": "one row: the team's three role names, which every member's app reads to know it is in a team",
}
# Tables with row-level security and no member policy: members have no privilege on them at all (the
# share index, read by the policies' SECURITY DEFINER helpers only).
CLOSED = {"imagefx_share_access", "imagefx_board_guests"}
COMMANDS = {"SELECT", "INSERT", "UPDATE", "DELETE"}
KEYS = ["ada", "bob", "cy"]


@pytest.fixture(scope="module")
def team() -> Iterator[TeamDb]:
    admin, server = server_url()
    made = make_team(admin, KEYS)
    # shares of their own, with cy, that the other does not see (of empty boards)
    for key in ("ada", "bob"):
        with _service(made, key) as svc:
            svc.library.create_board(f"{key}'s board for Cy")
            svc.team.share_board(f"{key}'s board for Cy", made.people["cy"].email, read_only=True)
    yield made
    made.close()
    if server is not None:
        server.stop()  # type: ignore[attr-defined]


def _tables(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1")]


def _service(team: TeamDb, key: str) -> Service:
    settings = load_settings()
    return Service(settings, database=Database(settings, url=team.url_as(key))).open()


def _catalog_problems(conn: psycopg.Connection) -> list[str]:
    """Every table of the app's schema, from the catalog: what is wrong with its protection."""
    owner, member = conn.execute("SELECT owner_role, member_role FROM imagefx_team").fetchone()  # type: ignore[misc]
    problems = []
    for table in _tables(conn):
        rls, forced, table_owner = conn.execute(
            "SELECT relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner) FROM pg_class "
            "WHERE oid = %s::regclass", (table,)).fetchone()  # type: ignore[misc]
        if table_owner != owner:
            problems.append(f"{table}: belongs to {table_owner}, not the team's owner role")
        writable = conn.execute("SELECT has_table_privilege(%s, %s, 'INSERT, UPDATE, DELETE, TRUNCATE')",
                                (member, table)).fetchone()[0]  # type: ignore[index]
        if table in BOOKKEEPING:
            if writable:
                problems.append(f"{table}: members may change it")
            continue
        if not (rls and forced):
            problems.append(f"{table}: row-level security {'not forced' if rls else 'off'}")
        if conn.execute("SELECT has_table_privilege(%s, %s, 'TRUNCATE')", (member, table)).fetchone()[0]:  # type: ignore[index]
            problems.append(f"{table}: members may TRUNCATE it (past every policy)")
        if table in CLOSED:
            if conn.execute("SELECT has_table_privilege(%s, %s, 'SELECT, INSERT, UPDATE, DELETE')",
                            (member, table)).fetchone()[0]:  # type: ignore[index]
                problems.append(f"{table}: members have privileges on it")
            continue
        # the policies that apply to a member (PUBLIC or the member group), not the owner's own
        commands = {r[0] for r in conn.execute(
            "SELECT cmd FROM pg_policies WHERE schemaname = 'public' AND tablename = %s "
            "AND (roles && ARRAY['public', %s]::name[])", (table, member))}
        if "ALL" not in commands and not COMMANDS <= commands:
            problems.append(f"{table}: no member policy for {sorted(COMMANDS - commands)}")
    return problems


def test_every_table_has_row_level_security_forced_and_a_policy_for_every_command(team: TeamDb) -> None:
    with psycopg.connect(team.url) as conn:
        tables = _tables(conn)
        assert {"users", "sessions", "generated_images", "image_captions", "generation_queue", "tags",
                "boards", "board_shares"} <= set(tables)
        assert not _catalog_problems(conn)


def test_a_new_table_without_a_policy_fails_the_catalog_walk(team: TeamDb) -> None:
    """As a later schema.sql would add one: made by the owner and passed through team.sql (as every
    upgrade is), it gets row-level security but no member policy, and the walk names it."""
    with psycopg.connect(team.url) as conn:
        owner = conn.execute("SELECT owner_role FROM imagefx_team").fetchone()[0]  # type: ignore[index]
        conn.execute(f'SET LOCAL ROLE "{owner}"')
        conn.execute("CREATE TABLE imagefx_new_feature (id SERIAL PRIMARY KEY, user_id INTEGER, secret TEXT)")
        conn.execute(team_sql())
        conn.execute("RESET ROLE")
        assert _catalog_problems(conn) == ["imagefx_new_feature: no member policy for "
                                           "['DELETE', 'INSERT', 'SELECT', 'UPDATE']"]
        conn.execute("ALTER TABLE imagefx_new_feature NO FORCE ROW LEVEL SECURITY")
        assert "imagefx_new_feature: row-level security not forced" in _catalog_problems(conn)
        conn.rollback()


def test_the_apps_login_is_no_superuser_and_owns_nothing(team: TeamDb) -> None:
    """What the app runs as, asked over its own connection: a plain login, in the member group only,
    owning no table (pg_tables.tableowner) and unable to become the owner role."""
    with _service(team, "ada") as svc, svc.db.session() as s:
        login, superuser, bypass, createrole, createdb = s.execute(sa.text(
            "SELECT current_user, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = current_user")).one()
        assert login == team.people["ada"].login
        assert (superuser, bypass, createrole, createdb) == (False, False, False, False)
        owners = dict(s.execute(sa.text(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'")).all())
        owner = s.execute(sa.text("SELECT owner_role FROM imagefx_team")).scalar()
        assert owners and set(owners.values()) == {owner}
        assert not s.execute(sa.text("SELECT pg_has_role(current_user, :o, 'MEMBER')"), {"o": owner}).scalar()
        assert not s.execute(sa.text("SELECT count(*) FROM pg_class WHERE relowner = "
                                     "(SELECT oid FROM pg_roles WHERE rolname = current_user)")).scalar()
        groups = s.execute(sa.text(
            "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
            "WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)")).scalars()
        assert list(groups) == [s.execute(sa.text("SELECT member_role FROM imagefx_team")).scalar()]
    with team.connect_as("ada") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'SET ROLE "{owner}"')


def _rows_seen(team: TeamDb, key: str, table: str) -> set[str]:
    with team.connect_as(key) as conn:
        return {r[0] for r in conn.execute(f'SELECT ctid::text FROM "{table}"')}


def test_a_member_cannot_read_change_or_delete_another_members_rows_with_psql(team: TeamDb) -> None:
    with psycopg.connect(team.url) as conn:
        tables = [t for t in _tables(conn) if t not in BOOKKEEPING.keys() | CLOSED]
        first_column = {t: conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                                        "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum LIMIT 1",
                                        (t,)).fetchone()[0] for t in tables}  # type: ignore[index]
        before = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # type: ignore[index]
    script, expected = [], []
    for table in tables:
        ada, bob = _rows_seen(team, "ada", table), _rows_seen(team, "bob", table)
        assert ada, f"ada sees none of her own rows in {table}"
        bobs = sorted(bob - ada)
        assert bobs, f"the test has no row of bob's alone in {table}: seed one (tests/support/teamdb.py)"
        ctids = "'{" + ",".join(f'"{c}"' for c in bobs) + "}'::tid[]"
        col = first_column[table]
        script += [f'SELECT count(*) FROM "{table}" WHERE ctid = ANY ({ctids});',
                   f'WITH x AS (UPDATE "{table}" SET "{col}" = "{col}" WHERE ctid = ANY ({ctids}) RETURNING 1) '
                   "SELECT count(*) FROM x;",
                   f'WITH x AS (DELETE FROM "{table}" WHERE ctid = ANY ({ctids}) RETURNING 1) SELECT count(*) FROM x;']
        expected += [f"{table} select 0", f"{table} update 0", f"{table} delete 0"]
    done = team.psql("ada", "\n".join(script))
    assert done.returncode == 0, done.stderr
    got = [f"{e.rsplit(' ', 1)[0]} {n}" for e, n in zip(expected, done.stdout.split(), strict=True)]
    assert got == expected
    with psycopg.connect(team.url) as conn:  # nothing of bob's (or anyone's) went
        after = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # type: ignore[index]
    assert after == before


def test_another_members_cookie_and_session_hashes_are_unreadable(team: TeamDb) -> None:
    done = team.psql("ada", "SELECT * FROM users; SELECT * FROM sessions; SELECT * FROM imagefx_user_directory;")
    assert done.returncode == 0, done.stderr
    assert "gAAAAA-cookie-of-ada" in done.stdout and "session-hash-of-ada" in done.stdout
    for other in ("bob", "cy"):
        assert f"cookie-of-{other}" not in done.stdout and f"session-hash-of-{other}" not in done.stdout
        assert team.people[other].email in done.stdout  # the directory: who is in the team
    # the helpers answer for the login asking only; the share index is closed
    done = team.psql("ada", f"SELECT imagefx_member_uids('{team.people['bob'].login}');")
    assert done.stdout.strip() == "{}"
    assert team.psql("ada", "SELECT count(*) FROM imagefx_share_access;").returncode != 0


def test_a_member_cannot_give_rows_away_or_take_them(team: TeamDb) -> None:
    bob_uid = team.people["bob"].uid
    with psycopg.connect(team.url) as conn:
        with_user = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'user_id' "
            "ORDER BY 1")]
    assert {"generated_images", "prompts", "tags", "boards", "sessions"} <= set(with_user)
    # the user_id of stars and notes says who set them; whose they are is their image's
    for table in set(with_user) - {"image_ratings", "image_notes"}:
        with team.connect_as("ada") as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                conn.execute(f'UPDATE "{table}" SET user_id = %s', (bob_uid,))
    with team.connect_as("ada") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("UPDATE users SET db_role = %s", (team.people["bob"].login,))
    with team.connect_as("ada") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO users (email, name, db_role) VALUES ('x@team.test', 'x', %s)",
                         (team.people["bob"].login,))
    with team.connect_as("ada") as conn:
        row = conn.execute("SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = current_user"
                           ).fetchone()
        assert row == (False, False, False)
        assert not conn.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
                                "WHERE rolname = current_user)").fetchone()[0]  # type: ignore[index]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE mine (x int)")


def test_the_upgrade_kept_every_row_and_gave_owners(team: TeamDb) -> None:
    """make_team seeded a single-user database and ran team init on it: every row is still there,
    each account is its member's, and what named no account now has one."""
    with psycopg.connect(team.url) as conn:
        counts = dict(conn.execute(
            "SELECT 'images', count(*) FROM generated_images UNION ALL SELECT 'archive', count(*) FROM "
            "generated_images_archive UNION ALL SELECT 'queue', count(*) FROM generation_queue UNION ALL "
            "SELECT 'unowned', (SELECT count(*) FROM tags WHERE user_id IS NULL) + (SELECT count(*) FROM "
            "generation_queue WHERE user_id IS NULL)").fetchall())
        mapped = dict(conn.execute("SELECT email, db_role FROM users").fetchall())
    assert counts == {"images": 9, "archive": 3, "queue": 4, "unowned": 0}
    assert mapped == {p.email: p.login for p in team.people.values()}
    for key in KEYS:
        with _service(team, key) as svc:
            assert svc.count_images() == 3
            assert {r.id for r in svc.gallery_page(limit=50)} == set(team.people[key].images)
            assert [u.email for u in svc.users()] == [team.people[key].email]


def test_a_members_search_finds_their_own_and_shared_prompts_only(team: TeamDb) -> None:
    """Searches go through imagefx_search_prompts (team.sql) for a member: every member's prompts
    hold "lighthouse", each finds only their own, by word, substring and count, until a board of
    bob's is shared with them."""
    ada, bob = team.people["ada"], team.people["bob"]
    with _service(team, "ada") as ada_svc, _service(team, "bob") as bob_svc:
        with ada_svc.db.session() as s:
            assert member_under_rls(s)
        for text in ("lighthouse", "ighthou", "golden hour"):
            assert {r.id for r in ada_svc.gallery_page(search=text, limit=50)} == set(ada.images), text
            assert ada_svc.count_images(search=text) == 3, text
        assert ada_svc.count_images(search="bob's") == 0
        assert not ada_svc.gallery_page(search="bob's")
        bob_svc.team.share_board("Bob's board", ada.email, read_only=True)
        try:
            assert {r.id for r in ada_svc.gallery_page(search="lighthouse", limit=50)} == set(ada.images +
                                                                                              bob.images[:2])
            assert ada_svc.count_images(search="ighthou") == 5
        finally:
            bob_svc.team.unshare_board("Bob's board", ada.email)
        assert ada_svc.count_images(search="lighthouse") == 3
    settings = load_settings()
    with Service(settings, database=Database(settings, url=team.url)) as owner, owner.db.session() as s:
        assert not member_under_rls(s)  # the owner's login searches past the policies
        assert owner.count_images(search="lighthouse") == 9
    # the function answers for the login asking only
    done = team.psql("ada", f"SELECT count(*) FROM imagefx_search_prompts('lighthous:*', '{bob.login}');"
                            "SELECT count(*) FROM imagefx_search_prompts('lighthous:*');")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "1"]


def test_sharing_a_board_shows_it_and_its_images_and_unsharing_hides_them(team: TeamDb) -> None:
    ada, bob = team.people["ada"], team.people["bob"]
    with _service(team, "bob") as bob_svc, _service(team, "ada") as ada_svc:
        board = "Bob's board"
        bob_svc.team.share_board(board, ada.email, read_only=True)
        shared = set(bob.images[:2])
        assert {r.id for r in ada_svc.gallery_page(limit=50)} == set(ada.images) | shared
        seen = {r.id: r for r in ada_svc.gallery_page(filter=f'board:"{board}"')}
        assert set(seen) == shared and {r.owner_email for r in seen.values()} == {bob.email}
        assert all(r.prompt.startswith("bob's lighthouse") for r in seen.values())
        assert board in [b.name for b in ada_svc.library.boards()]
        assert ada_svc.thumbnails(sorted(shared)).keys() == shared
        # read-only: no stars, no images added, no rename; the rows stay as they were
        with pytest.raises(DatabaseError):
            ada_svc.library.set_rating(sorted(shared), 1)
        with pytest.raises(ValidationError, match="read-only"):
            ada_svc.library.add_to_board(board, ada.images[:1])
        with pytest.raises(ValidationError, match="only its owner"):
            ada_svc.library.rename_board(board, "Mine now")
        with pytest.raises(Exception, match="only its owner"):
            ada_svc.team.share_board(board, None)
        # read-write: ada may rate bob's image on it and add her own
        bob_svc.team.share_board(board, ada.email, read_only=False)
        assert ada_svc.library.set_rating(sorted(shared), 2).count == 2
        ada_svc.library.add_to_board(board, ada.images[:1])
        assert ada.images[0] in {r.id for r in bob_svc.gallery_page(filter=f'board:"{board}"')}
        # cy, not shared with, sees none of it; the whole team, then, does
        with _service(team, "cy") as cy_svc:
            assert not shared & {r.id for r in cy_svc.gallery_page(limit=50)}
            bob_svc.team.share_board(board, None, read_only=True)
            assert shared <= {r.id for r in cy_svc.gallery_page(limit=50)}
            bob_svc.team.unshare_board(board, None)
            assert not shared & {r.id for r in cy_svc.gallery_page(limit=50)}
        # trashed by its owner, a shared image is his alone
        bob_svc.trash_images([bob.images[0]])
        assert bob.images[0] not in {r.id for r in ada_svc.gallery_page(limit=50)}
        assert bob.images[0] not in {r.id for r in ada_svc.trash()}
        bob_svc.restore_images([bob.images[0]])
        bob_svc.team.unshare_board(board, ada.email)
        assert {r.id for r in ada_svc.gallery_page(limit=50)} == set(ada.images)
        assert board not in [b.name for b in ada_svc.library.boards()]


def test_a_member_whose_database_is_behind_is_told_to_ask_the_admin(team: TeamDb) -> None:
    with psycopg.connect(team.url, autocommit=True) as conn:
        conn.execute("UPDATE imagefx_schema_version SET version = version - 1")
    try:
        settings = load_settings()
        with pytest.raises(DatabaseError, match="team upgrade") as caught:
            Database(settings, url=team.url_as("ada")).connect()
        assert "admin" in caught.value.action
        with Service(settings, database=Database(settings, url=team.url)) as admin:
            before, after = admin.team.upgrade()
        assert after == before + 1
        Database(settings, url=team.url_as("ada")).connect().close()
    finally:
        with psycopg.connect(team.url, autocommit=True) as conn:
            conn.execute("UPDATE imagefx_schema_version SET version = %s", (SCHEMA_VERSION,))


def test_the_owners_backup_holds_every_members_rows(team: TeamDb, tmp_path: Path) -> None:
    """Row-level security is forced on the owner too: its login (not a superuser) still backs up
    every member's rows (pg_dump --enable-row-security, through the owner's own policy)."""
    from core.store.backup import backup

    login, password = f"keeper_{team.name}"[:63], f"pw-{uuid.uuid4().hex[:12]}"
    with psycopg.connect(team.url, autocommit=True) as conn:
        owner = conn.execute("SELECT owner_role FROM imagefx_team").fetchone()[0]  # type: ignore[index]
        conn.execute(f'CREATE ROLE "{login}" LOGIN PASSWORD \'{password}\' IN ROLE "{owner}"')
    try:
        base = team.url.split("://", 1)[1].split("@", 1)[1]
        db = Database(load_settings(), url=f"postgresql://{login}:{password}@{base}")
        try:
            backup(db, tmp_path / "team.sql")
        finally:
            db.close()
        dump = (tmp_path / "team.sql").read_text()
        for key in KEYS:
            assert f"gAAAAA-cookie-of-{key}" in dump and f"{key}'s lighthouse" in dump
    finally:
        with psycopg.connect(team.url, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{login}"')
            conn.execute(f'DROP ROLE "{login}"')
