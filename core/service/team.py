"""The team on a shared server (issue 15): who is in it, and boards shared between its members.

``service.team`` is one :class:`Team`. Managing the team (:meth:`init`, :meth:`add_member`,
:meth:`remove_member`, :meth:`upgrade`) works on a server database only, from the login that ran
``team init`` (the database's owner) or, for members, an admin member's own login. Sharing works
for every member, on their own boards. Everything else a member does is the app as always: the
database's row-level security decides which rows they see (core/store/team.sql).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from core.changes import ChangeKind, Changes
from core.store import team as store
from core.store.team import BoardShare, Identity, InitReport, Member, TeamError

if TYPE_CHECKING:
    from core.service.service import Service


class Team:
    def __init__(self, service: Service) -> None:
        self.svc = service

    # --- the admin's side ------------------------------------------------------------------------

    @contextmanager
    def _conn(self, *, bootstrap: bool = True) -> Iterator[Any]:
        """A connection of its own to the service's database (``bootstrap``: its schema brought up to
        date first, as connecting does; a member behind gets the sentence asking for an upgrade)."""
        if self.svc.db.is_embedded:
            raise TeamError("The embedded database is one person's; a team shares a PostgreSQL server.",
                            "Point the app at the team's server (DATABASE_URL, or DB_HOST and DB_NAME), then "
                            "run this again.")
        import psycopg

        from core.store.database import describe_error
        from core.store.notify import conninfo

        if bootstrap:
            self.svc.db.connect()
        try:
            conn = psycopg.connect(conninfo(self.svc.db.url()), connect_timeout=self.svc.settings.database.
                                   connect_timeout, application_name="ImageFX Studio (team)")
        except psycopg.Error as exc:
            raise describe_error(exc, self.svc.db.where) from None
        try:
            yield conn
        except psycopg.Error as exc:
            raise describe_error(exc, self.svc.db.where) from None
        finally:
            conn.close()

    def identity(self) -> Identity:
        with self._conn() as conn:
            return store.identity(conn)

    def init(self, *, owner_email: str | None = None, prefix: str | None = None) -> InitReport:
        with self._conn() as conn:
            report = store.init(conn, owner_email=owner_email, prefix=prefix)
        store._forget(self.svc.db.engine)
        return report

    def upgrade(self) -> tuple[int, int]:
        from core.store.database import schema_sql

        with self._conn(bootstrap=False) as conn:  # connecting would upgrade before we could say from what
            return store.upgrade(conn, schema_sql())

    def add_member(self, email: str, *, name: str | None = None, login: str | None = None, admin: bool = False,
                   password: str | None = None) -> tuple[Member, str | None]:
        if password is not None:
            from core.redact import register_secret

            register_secret(password)
        with self._conn() as conn:
            member, made = store.add_member(conn, email, name=name, login=login, admin=admin, password=password)
        if made:
            from core.redact import register_secret

            register_secret(made)
        return member, made

    def remove_member(self, who: str, *, delete_data: bool = False) -> tuple[str, int, bool]:
        with self._conn() as conn:
            return store.remove_member(conn, who, delete_data=delete_data)

    def members(self) -> list[Member]:
        with self._conn() as conn:
            return store.members(conn)

    # --- sharing boards (every member, their own boards) -------------------------------------------

    def _board(self, s: Any, name: str) -> tuple[int, str]:
        from core.service.library import MAX_NAME, _clean_name
        from core.store import library as lib

        board = _clean_name(name, "board", MAX_NAME, commas=True)
        board_id = lib.find_board(s, board, self.svc.library._acting(s))
        if board_id is None:
            raise _invalid(f"There is no board called {board!r}.")
        return board_id, board

    def _team_session(self, s: Any) -> None:
        if not store.is_team(s):
            raise TeamError("Boards are shared in a team database; this one is yours alone.",
                            "Set up a team on a PostgreSQL server first ('imagefx team init', README: Team server).")

    def _login(self, s: Any, email: str | None) -> str | None:
        if email is None:
            return None
        login = store.member_login(s, store.check_email(email))
        if login is None:
            raise _invalid(f"{email} is not a member of this team ('imagefx team list' shows the members).")
        return login

    def share_board(self, name: str, email: str | None = None, *, read_only: bool = False) -> Changes:
        """Share one of your boards with a member (by e-mail) or, with ``email=None``, the whole team.
        Read-only: they see it; otherwise they may also add and remove images and set stars and notes.
        Sharing again changes read-only/read-write."""
        with self.svc.db.session() as s:
            self._team_session(s)
            board_id, board = self._board(s, name)
            if not store.own_board(s, board_id):
                raise _invalid(f"The board {board!r} is shared with you; only its owner can share it.")
            login = self._login(s, email)
            if login is not None and login == store.current_login(s):
                raise _invalid(f"The board {board!r} is yours already.")
            changed = store.share_board(s, board_id, login, read_only=read_only)
            return self.svc._announce(s, Changes.of(ChangeKind.BOARDS, None, count=int(changed)))

    def unshare_board(self, name: str, email: str | None = None, *, everyone: bool = False) -> Changes:
        """Stop sharing a board with a member, with the team (``email=None``), or with ``everyone``."""
        with self.svc.db.session() as s:
            self._team_session(s)
            board_id, board = self._board(s, name)
            if not store.own_board(s, board_id):
                raise _invalid(f"The board {board!r} is shared with you; only its owner can stop sharing it.")
            n = store.unshare_board(s, board_id, None if everyone else self._login(s, email), everyone=everyone)
            if not n:
                whom = "anyone" if everyone else email or "the team"
                raise _invalid(f"The board {board!r} is not shared with {whom}.")
            return self.svc._announce(s, Changes.of(ChangeKind.BOARDS, None, count=n))

    def shares(self, name: str | None = None) -> list[BoardShare]:
        """Shares of your boards, and the boards shared with you (one board's, with ``name``)."""
        with self.svc.db.session() as s:
            if not store.is_team(s):
                return []
            board_id = self._board(s, name)[0] if name else None
            return store.shares(s, board_id)


def _invalid(message: str) -> Exception:
    from core.service.service import ValidationError

    return ValidationError(message)
