"""Team mode on a PostgreSQL server (issue 15): roles, grants, row-level security, shared boards.

A team database is an ordinary ImageFX database on a server, plus ``team.sql`` (beside this file):
an owner role that owns everything (NOLOGIN), a member group with row privileges only, an admin
group, and policies that show each member the rows of their own accounts and the boards shared
with them. Everything a member sees or may not see is decided by the database, whatever client
they use (this app, an older copy, psql). ``docs/team.md`` explains the model.

- :func:`init` turns a single-user server database into a team database in place, run by its
  owner (or a superuser); no row is lost, rows that named no account get one.
- :func:`add_member` / :func:`remove_member` / :func:`members` manage the team, from the owner's
  login or an admin member's own.
- :func:`apply_schema` is how :mod:`core.store.database` runs ``schema.sql``: unchanged on a
  single-user database; in a team database as its owner role, with ``team.sql`` after it, or, for
  a member who cannot, a sentence asking for ``imagefx team upgrade``.
- Sharing (``share_board`` …) works in the caller's Session, under the member's own policies.

The functions taking ``conn`` want a psycopg connection with no transaction open (they open their
own); those taking ``s`` a Session (the caller's transaction).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import weakref
from dataclasses import dataclass
from importlib import resources
from typing import Any

import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.orm import Session

from core.store.database import DatabaseError

TEAM_VERSION = 1  # what team.sql sets imagefx_team.version to
_BOOTSTRAP_LOCK_KEY = 0x1AF0_5C4E  # core.store.database's: init and upgrades queue behind a bootstrap
# A login's name: what people type as DB_USER (an e-mail works as it is).
_ROLE_RE = re.compile(r"^[a-z0-9][a-z0-9._%+@-]{0,62}$")
_EMAIL_RE = re.compile(r"^[^@\s]{1,200}@[^@\s]{1,200}$")


class TeamError(DatabaseError):
    """A team operation that cannot be done; ``user_message`` and ``action`` say why and what to do."""


class TeamUpgradeNeeded(TeamError):
    """A member's database is older than this app, and only the team's admin can upgrade it."""


def team_sql() -> str:
    return resources.files("core.store").joinpath("team.sql").read_text(encoding="utf-8")


@dataclass(frozen=True)
class TeamRoles:
    owner: str
    member: str
    admin: str


@dataclass(frozen=True)
class Identity:
    """Who a connection is in a team database."""

    login: str
    roles: TeamRoles | None  # None: not a team database
    superuser: bool
    owner: bool  # in the owner role: sees every row, may upgrade the schema
    admin: bool  # may add and remove members
    member: bool  # in the member group
    accounts: tuple[str, ...]  # e-mails of the users rows mapped to this login

    @property
    def sees_everything(self) -> bool:
        return self.roles is None or self.superuser or self.owner


@dataclass(frozen=True)
class Member:
    email: str
    name: str
    login: str | None  # None: an account no member has (yet, or any more)
    admin: bool = False
    images: int | None = None  # known to admins only


@dataclass(frozen=True)
class InitReport:
    roles: TeamRoles
    tables: int
    assigned: dict[str, int]  # rows that named no account, per table, now the owner account's
    owner_account: str | None
    already: bool = False


@dataclass(frozen=True)
class BoardShare:
    board_id: int
    board: str
    member_email: str | None  # None: the whole team
    member_login: str | None
    read_only: bool


# --- reading the team's state -----------------------------------------------------------------------

def roles(execute: Any) -> TeamRoles | None:
    """The team's role names, or None on a single-user database (through a driver-level execute)."""
    if not execute("SELECT to_regclass('public.imagefx_team') IS NOT NULL").fetchone()[0]:
        return None
    row = execute("SELECT owner_role, member_role, admin_role FROM imagefx_team WHERE id = 1").fetchone()
    return TeamRoles(*row) if row else None


def identity(conn: Any) -> Identity:
    with conn.transaction():
        team = roles(conn.execute)
        login, superuser, = conn.execute("SELECT current_user, rolsuper FROM pg_roles "
                                         "WHERE rolname = current_user").fetchone()
        if team is None:
            return Identity(login, None, bool(superuser), True, True, False, ())
        owner, admin, member = conn.execute(
            "SELECT pg_has_role(current_user, %s, 'USAGE'), pg_has_role(current_user, %s, 'MEMBER'), "
            "pg_has_role(current_user, %s, 'MEMBER')", (team.owner, team.admin, team.member)).fetchone()
        accounts = tuple(r[0] for r in conn.execute(
            "SELECT email FROM imagefx_user_directory WHERE db_role = current_user ORDER BY email"))
    return Identity(login, team, bool(superuser), bool(owner or superuser), bool(admin or owner or superuser),
                    bool(member), accounts)


_TEAM_ENGINES: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def is_team(s: Session) -> bool:
    """Whether the Session's database is a team database (asked once per engine)."""
    bind = s.get_bind()
    engine = getattr(bind, "engine", bind)
    known = _TEAM_ENGINES.get(engine)
    if known is None:
        known = bool(s.execute(sa.text("SELECT to_regclass('public.imagefx_team') IS NOT NULL")).scalar())
        _TEAM_ENGINES[engine] = known
    return known


_DEFINER_SEARCH: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def member_under_rls(s: Session) -> bool:
    """Whether this login is a team member under row-level security, whose word searches go through
    ``imagefx_search_prompts`` (team.sql: the policies would keep the suffix index from serving a
    search) and whose counts are :func:`member_count_arms`. The owner's logins and superusers read
    past the policies and search and count as a single user does."""
    bind = s.get_bind()
    engine = getattr(bind, "engine", bind)
    known = _DEFINER_SEARCH.get(engine)
    if known is None:
        known = is_team(s) and bool(s.execute(sa.text(
            "SELECT to_regprocedure('imagefx_search_prompts(tsquery, name)') IS NOT NULL "
            "AND NOT (r.rolsuper OR r.rolbypassrls OR pg_has_role(current_user, t.owner_role, 'USAGE')) "
            "FROM pg_roles r, imagefx_team t WHERE r.rolname = current_user")).scalar())
        _DEFINER_SEARCH[engine] = known
    return known


def member_count_arms() -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    """A member's images as two disjoint sets, each of which an index finds: their own (the user_id
    index) and those shared with them that are not theirs (by id). The policy's OR of the two can use
    neither, so a count under it alone tests every image in the table; counted apart, each arm reads
    only its own rows (and the policy, which still applies, tests only those)."""
    from core.store.models import GeneratedImage

    own = GeneratedImage.user_id == sa.any_(sa.literal_column("(SELECT imagefx_member_uids(current_user))::INTEGER[]"))
    shared = GeneratedImage.id == sa.any_(sa.literal_column("(SELECT imagefx_shared_images(current_user))::INTEGER[]"))
    return own, sa.and_(shared, sa.not_(own))


def _forget(engine: Any) -> None:
    _TEAM_ENGINES.pop(engine, None)
    _DEFINER_SEARCH.pop(engine, None)


# --- the schema: core.store.database runs schema.sql through this ---------------------------------------

def apply_schema(dbapi: Any, schema: str, version: int, have: int) -> None:
    """Run ``schema`` (schema.sql) in the caller's transaction. In a team database it runs as the
    owner role (so what it creates is the owner's) and ``team.sql`` follows, so that a new table gets
    row-level security before any member can use it; a login that cannot act as the owner (a member)
    gets :class:`TeamUpgradeNeeded` instead, and nothing is changed."""
    team = roles(dbapi.execute)
    if team is None:
        dbapi.execute(schema)
        return
    may = dbapi.execute("SELECT pg_has_role(current_user, %s, 'USAGE')", (team.owner,)).fetchone()[0]
    if not may:
        raise TeamUpgradeNeeded(
            f"This team database has the schema of an older ImageFX Studio (version {have}; this one needs "
            f"{version}), and only the team's admin can upgrade it.",
            "Ask your team's admin to run 'imagefx team upgrade', then start again.")
    dbapi.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(team.owner)))
    dbapi.execute(schema)
    dbapi.execute(team_sql())


# --- team init ---------------------------------------------------------------------------------------

def role_prefix(database: str) -> str:
    """Role names of a team start with its database's name (roles are shared by every database of a
    server): lower case, letters, digits and _, at most 40 characters (a hash keeps it unique)."""
    clean = re.sub(r"[^a-z0-9_]+", "_", database.lower()).strip("_") or "imagefx"
    if clean != database or len(clean) > 40:
        clean = f"{clean[:32]}_{hashlib.sha256(database.encode()).hexdigest()[:6]}"
    return clean


def _fail(message: str, action: str) -> TeamError:
    return TeamError(message, action)


def init(conn: Any, *, owner_email: str | None = None, prefix: str | None = None) -> InitReport:
    """Make this database a team database, in place and in one transaction (all or nothing).

    The connection must be the database's owner (or a superuser) with the right to create roles, and
    own its tables; the schema must be current (connect first). Existing rows keep their accounts;
    tags, boards, saved searches and queue items that named none go to ``owner_email`` (default: the
    account with the most images). No member exists yet: :func:`add_member` adds them, and an
    account whose e-mail is added becomes that member's, with everything in it."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_BOOTSTRAP_LOCK_KEY,))
        existing = roles(conn.execute)
        if existing is not None:
            _check_owner(conn, existing)
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(existing.owner)))
            conn.execute(team_sql())
            return InitReport(existing, _count_tables(conn), {}, None, already=True)
        database, login, superuser, createrole, db_owner = conn.execute(
            "SELECT current_database(), current_user, r.rolsuper, r.rolcreaterole, "
            "pg_has_role(current_user, d.datdba, 'USAGE') FROM pg_roles r, pg_database d "
            "WHERE r.rolname = current_user AND d.datname = current_database()").fetchone()
        how = ("Connect as the database's owner or a superuser (for example DATABASE_URL=postgresql://postgres@HOST/"
               f"{database}) and run 'imagefx team init' again.")
        if not superuser and not (createrole and db_owner):
            raise _fail(f"The login {login} may not set up a team on {database}: that takes the database's owner "
                        "with the right to create roles (CREATEROLE), or a superuser.", how)
        foreign = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'S') "
            "AND NOT pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY 1")]
        if foreign:
            raise _fail(f"The login {login} does not own the tables {', '.join(foreign[:5])}.", how)
        if not conn.execute("SELECT to_regclass('public.imagefx_schema_version') IS NOT NULL").fetchone()[0]:
            raise _fail(f"{database} has no ImageFX tables yet.", "Start the app on it once, then run "
                                                                 "'imagefx team init'.")
        p = prefix or role_prefix(database)
        team = TeamRoles(f"{p}_owner", f"{p}_member", f"{p}_admin")
        for role in (team.owner, team.member, team.admin):
            _ensure_group_role(conn, role)
        ident = sql.Identifier
        if not superuser:
            conn.execute(sql.SQL("GRANT {} TO {}").format(ident(team.owner), ident(login)))
        owned = _take_ownership(conn, team.owner)
        db = ident(database)
        conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(ident(team.owner)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident(team.member)))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(db, ident(team.owner),
                                                                           ident(team.member)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(ident(team.member), ident(team.admin)))
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(ident(team.owner)))
        conn.execute("SELECT set_config('imagefx.team_roles', %s, true)", (f"{team.owner},{team.member},{team.admin}",))
        conn.execute(team_sql())
        conn.execute("RESET ROLE")
        account, assigned = _give_owners(conn, owner_email)
        conn.execute("SELECT imagefx_rebuild_share_index()")  # boards that just got an owner
    return InitReport(team, owned, assigned, account)


def _count_tables(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')").fetchone()[0])


def _ensure_group_role(conn: Any, role: str) -> None:
    row = conn.execute("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if row is None:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    elif row[0] or row[1]:
        raise _fail(f"A role called {role} exists already on this server and can log in.",
                    "Choose other role names with 'imagefx team init --role-prefix NAME'.")


def _take_ownership(conn: Any, owner: str) -> int:
    """Every table, view, sequence and function of the app's schema now belongs to ``owner``."""
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "S": "SEQUENCE"}
    tables = 0
    for name, kind in conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'S') "
            # a serial's sequence goes with its table; an extension's objects stay the extension's
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
            "AND d.deptype IN ('a', 'i', 'e')) ORDER BY c.relkind, c.relname").fetchall():
        conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kinds[kind]), sql.Identifier(name),
                                                             sql.Identifier(owner)))
        tables += kind in ("r", "p")
    for (signature,) in conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = "
            "'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')").fetchall():
        conn.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(signature), sql.Identifier(owner)))
    return tables


def _give_owners(conn: Any, owner_email: str | None) -> tuple[str | None, dict[str, int]]:
    """Rows that named no account (made before anyone signed in) get one; queue items follow their e-mail."""
    assigned: dict[str, int] = {}
    n = conn.execute("UPDATE generation_queue q SET user_id = u.id FROM users u "
                     "WHERE q.user_id IS NULL AND u.email = lower(q.user_email)").rowcount
    if n:
        assigned["generation_queue"] = n
    if owner_email:
        row = conn.execute("SELECT id, email FROM users WHERE email = lower(%s)", (owner_email,)).fetchone()
        if row is None:
            raise _fail(f"There is no account {owner_email} in this database.",
                        "Name one of its accounts with --owner (imagefx accounts lists them), or leave it out.")
    else:
        row = conn.execute("SELECT u.id, u.email FROM users u ORDER BY (SELECT count(*) FROM generated_images g "
                           "WHERE g.user_id = u.id) DESC, u.id LIMIT 1").fetchone()
    if row is None:
        return None, assigned
    uid, email = row
    for table in ("tags", "boards", "saved_searches", "generation_queue"):
        n = conn.execute(sql.SQL("UPDATE {} SET user_id = %s WHERE user_id IS NULL").format(sql.Identifier(table)),
                         (uid,)).rowcount
        if n:
            assigned[table] = assigned.get(table, 0) + n
    return str(email), assigned


def _check_owner(conn: Any, team: TeamRoles) -> None:
    if not conn.execute("SELECT pg_has_role(current_user, %s, 'USAGE')", (team.owner,)).fetchone()[0]:
        login = conn.execute("SELECT current_user").fetchone()[0]
        raise _fail(f"The login {login} is not the team database's owner ({team.owner}).",
                    "Run this as the login that ran 'imagefx team init' (or a superuser).")


def upgrade(conn: Any, schema: str) -> tuple[int, int]:
    """``imagefx team upgrade``: schema.sql and team.sql again, as the owner role; (before, after)."""
    from core.store.database import SCHEMA_VERSION, _schema_version

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_BOOTSTRAP_LOCK_KEY,))
        team = roles(conn.execute)
        if team is None:
            raise _fail("This is not a team database.", "Set one up with 'imagefx team init'.")
        _check_owner(conn, team)
        before = _schema_version(conn.execute)
        apply_schema(conn, schema, SCHEMA_VERSION, before)
        after = _schema_version(conn.execute)
    return before, after


# --- members -----------------------------------------------------------------------------------------

def login_for(email: str) -> str:
    """The login a member gets by default: their e-mail, lower case (what they type as DB_USER)."""
    return email.strip().lower()


def check_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL_RE.match(email):
        raise _fail(f"{email[:80]!r} is not an e-mail address.", "Give the member's Google e-mail address.")
    return email


def check_login(login: str) -> str:
    if not _ROLE_RE.match(login):
        raise _fail(f"{login[:80]!r} cannot be a login name: use at most 63 lower-case letters, digits "
                    "and . _ % + @ -.",
                    "Choose one with --login NAME.")
    return login


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def _require_team(conn: Any) -> TeamRoles:
    team = roles(conn.execute)
    if team is None:
        raise _fail("This database is not a team database.", "Set one up first with 'imagefx team init'.")
    return team


def _require_manager(conn: Any, team: TeamRoles) -> None:
    if not conn.execute("SELECT imagefx_team_may_manage()").fetchone()[0]:
        login = conn.execute("SELECT current_user").fetchone()[0]
        raise _fail(f"The login {login} may not manage the team.",
                    "Ask a team admin, or connect as the login that ran 'imagefx team init'.")


def add_member(conn: Any, email: str, *, name: str | None = None, login: str | None = None, admin: bool = False,
               password: str | None = None) -> tuple[Member, str | None]:
    """Create the member's login (or use the existing one) and make the account ``email`` theirs.

    Returns the member and the password of a new login (``password``, or one made up here); None when
    the login existed and kept its password. The password reaches the server only as a SCRAM
    verifier, never in the SQL text (server logs)."""
    email = check_email(email)
    login = check_login(login or login_for(email))
    with conn.transaction():
        team = _require_team(conn)
        _require_manager(conn, team)
        if admin and int(conn.execute("SHOW server_version_num").fetchone()[0]) < 160000:
            # Before PostgreSQL 16, CREATEROLE may grant any role that is not a superuser, the owner
            # role included: an admin member could give themselves every member's rows.
            raise _fail("This server runs a PostgreSQL older than 16, where an admin member (CREATEROLE) could "
                        "make themselves the team's owner and read every member's rows.",
                        "Add members from the owner's login instead (without --admin), or move the team to "
                        "PostgreSQL 16 or newer.")
        row = conn.execute("SELECT rolcanlogin, rolsuper, rolbypassrls, pg_has_role(oid, %s, 'USAGE') "
                           "FROM pg_roles WHERE rolname = %s", (team.owner, login)).fetchone()
        ident = sql.Identifier
        new_password: str | None = None
        if row is None:
            new_password = password or generate_password()
            verifier = conn.pgconn.encrypt_password(new_password.encode(), login.encode(), b"scram-sha-256")
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                ident(login), sql.Literal(verifier.decode()), ident(team.member)))
        else:
            can_login, superuser, bypass, owner = row
            if superuser or bypass or owner or not can_login:
                raise _fail(f"The role {login} exists already and is not a plain login (it is a superuser, the "
                            "team's owner or cannot log in): a member must see only their own rows.",
                            "Choose another login name with --login NAME.")
            conn.execute(sql.SQL("GRANT {} TO {}").format(ident(team.member), ident(login)))
            if password:
                verifier = conn.pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256")
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident(login), sql.Literal(verifier.decode())))
                new_password = password
        if admin:
            conn.execute(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(ident(team.admin), ident(login)))
            conn.execute(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(ident(team.member), ident(login)))
            conn.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(ident(login)))
        try:
            conn.execute("SELECT imagefx_team_map(%s, %s, %s)", (email, name, login))
        except Exception as exc:  # another member's account
            if getattr(exc, "sqlstate", "") == "23505":
                raise _fail(f"The account {email} belongs to another member already.",
                            "Remove that member first (imagefx team remove-member), or add another e-mail.") from None
            raise
    return Member(email=email, name=name or email, login=login, admin=admin), new_password


def remove_member(conn: Any, who: str, *, delete_data: bool = False) -> tuple[str, int, bool]:
    """The member (by e-mail or login) leaves: their login is dropped (or, if it is used elsewhere on the
    server, taken out of the team), their accounts belong to nobody, what was shared with them goes.
    Their rows stay for the owner's logins, unless ``delete_data``. Returns (login, accounts, dropped)."""
    with conn.transaction():
        team = _require_team(conn)
        _require_manager(conn, team)
        who = who.strip().lower()
        login = conn.execute("SELECT db_role FROM imagefx_user_directory WHERE email = %s AND db_role IS NOT NULL",
                             (who,)).fetchone()
        login = login[0] if login else who
        found = conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER') FROM pg_roles WHERE rolname = %s",
                             (login, team.member, login)).fetchone()
        if not found or not found[0]:
            raise _fail(f"{who} is not a member of this team.", "'imagefx team list' shows the members.")
        if login == conn.execute("SELECT current_user").fetchone()[0]:
            raise _fail("You cannot remove yourself from the team.", "Ask another admin.")
        if delete_data:
            if not conn.execute("SELECT pg_has_role(current_user, %s, 'USAGE')", (team.owner,)).fetchone()[0]:
                raise _fail("Only the team database's owner can delete a member's library.",
                            "Run it as the login that ran 'imagefx team init'.")
            conn.execute("DELETE FROM users WHERE db_role = %s", (login,))
        accounts = int(conn.execute("SELECT imagefx_team_unmap(%s)", (login,)).fetchone()[0])
        ident = sql.Identifier
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(ident(team.member), ident(login)))
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(ident(team.admin), ident(login)))
        dropped = True
        try:
            with conn.transaction():
                conn.execute(sql.SQL("DROP ROLE {}").format(ident(login)))
        except Exception:  # the login owns things or holds rights in another database: it stays there
            dropped = False
    return login, accounts, dropped


def members(conn: Any) -> list[Member]:
    """The team: every member account (and, for admins, accounts nobody has, with image counts)."""
    with conn.transaction():
        team = _require_team(conn)
        if conn.execute("SELECT imagefx_team_may_manage()").fetchone()[0]:
            rows = conn.execute("SELECT email, name, db_role, images FROM imagefx_team_members()").fetchall()
            out = [Member(e, n, r, False, int(i)) for e, n, r, i in rows]
        else:
            rows = conn.execute("SELECT email, name, db_role FROM imagefx_user_directory "
                                "WHERE db_role IS NOT NULL ORDER BY db_role, email").fetchall()
            out = [Member(e, n, r) for e, n, r in rows]
        admins = {r[0] for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE pg_has_role(oid, %s, 'MEMBER') AND rolname <> %s AND NOT rolsuper",
            (team.admin, team.admin))}
    return [Member(m.email, m.name, m.login, m.login in admins, m.images) for m in out]


# --- sharing boards (the caller's Session, under the member's own policies) -------------------------------

def current_login(s: Session) -> str:
    return str(s.execute(sa.text("SELECT current_user")).scalar())


def member_login(s: Session, email: str) -> str | None:
    """The login of the member whose account ``email`` is (the team's directory)."""
    found = s.execute(sa.text("SELECT db_role FROM imagefx_user_directory WHERE email = :e AND db_role IS NOT NULL"),
                      {"e": email.strip().lower()}).scalar()
    return str(found) if found is not None else None


def own_board(s: Session, board_id: int) -> bool:
    """Whether the board is one of the acting login's own (only the owner shares, renames, deletes)."""
    return bool(s.execute(sa.text("SELECT EXISTS (SELECT 1 FROM boards WHERE id = :b AND "
                                  "user_id = ANY (imagefx_member_uids(current_user)))"), {"b": board_id}).scalar())


def board_access(s: Session, board_id: int) -> str:
    """``own``, ``write`` (shared read-write), ``read`` (read-only) or ``none``, for the acting login;
    always ``own`` on a single-user database."""
    if not is_team(s):
        return "own"
    if own_board(s, board_id):
        return "own"
    rows = s.execute(sa.text("SELECT read_only FROM board_shares WHERE board_id = :b AND "
                             "(member_role = current_user OR member_role IS NULL)"), {"b": board_id}).scalars().all()
    if not rows:
        return "none"
    return "read" if all(rows) else "write"


def share_board(s: Session, board_id: int, login: str | None, *, read_only: bool) -> bool:
    """Share a board with a member's login (None: the whole team); True if the share is new or changed."""
    row = s.execute(sa.text(
        "INSERT INTO board_shares (board_id, member_role, read_only) VALUES (:b, :m, :ro) "
        "ON CONFLICT (board_id, COALESCE(member_role, '')) DO UPDATE SET read_only = EXCLUDED.read_only "
        "WHERE board_shares.read_only IS DISTINCT FROM EXCLUDED.read_only RETURNING id"),
        {"b": board_id, "m": login, "ro": read_only}).first()
    return row is not None


def unshare_board(s: Session, board_id: int, login: str | None, *, everyone: bool = False) -> int:
    """Stop sharing a board with a login, with the team (None), or with ``everyone``; how many shares went."""
    if everyone:
        q = sa.text("DELETE FROM board_shares WHERE board_id = :b")
    elif login is None:
        q = sa.text("DELETE FROM board_shares WHERE board_id = :b AND member_role IS NULL")
    else:
        q = sa.text("DELETE FROM board_shares WHERE board_id = :b AND member_role = :m")
    return int(s.execute(q, {"b": board_id, "m": login}).rowcount or 0)  # type: ignore[attr-defined]


def shares(s: Session, board_id: int | None = None) -> list[BoardShare]:
    """The shares the acting login sees: of their own boards, and those made with them."""
    q = ("SELECT s.board_id, b.name, d.email, s.member_role, s.read_only FROM board_shares s "
         "JOIN boards b ON b.id = s.board_id LEFT JOIN LATERAL (SELECT min(email) AS email FROM imagefx_user_directory "
         "WHERE db_role = s.member_role) d ON TRUE")
    params: dict[str, Any] = {}
    if board_id is not None:
        q += " WHERE s.board_id = :b"
        params["b"] = board_id
    rows = s.execute(sa.text(q + " ORDER BY b.name_folded, s.member_role NULLS FIRST"), params).all()
    return [BoardShare(int(b), str(n), e, m, bool(ro)) for b, n, e, m, ro in rows]
