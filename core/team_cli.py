"""The command line of team mode (issue 15): ``imagefx team …`` and ``imagefx board share|unshare|shares``.

``team`` commands run against the configured server (DATABASE_URL, or DB_HOST/DB_NAME/DB_USER/
DB_PASSWORD): ``init`` and ``upgrade`` as the database's owner, ``add-member``/``remove-member``/
``list`` as the owner or an admin member. Errors are one sentence on stderr (core/cli.py's codes).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parsers(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    t = sub.add_parser("team", help="a team library on one PostgreSQL server: set up, add and remove members")
    tsub = t.add_subparsers(dest="team_command", metavar="ACTION", parser_class=parser_class, required=True)
    ti = tsub.add_parser("init", help="make this server database a team database (run as its owner); "
                                      "no row is lost")
    ti.add_argument("--owner", metavar="EMAIL", default=None,
                    help="the account that gets tags, boards and queue items that name none "
                         "(default: the one with the most images)")
    ti.add_argument("--role-prefix", metavar="NAME", default=None,
                    help="start of the team's role names (default: the database's name)")
    ta = tsub.add_parser("add-member", help="create a member's login (password printed once) and give them the "
                                            "account EMAIL with everything in it")
    ta.add_argument("email", metavar="EMAIL")
    ta.add_argument("--admin", action="store_true", help="the member may add and remove members too")
    ta.add_argument("--name", default=None, help="the member's name (default: the e-mail)")
    ta.add_argument("--login", default=None, metavar="NAME",
                    help="their PostgreSQL login (default: the e-mail); an existing login gets this account too")
    ta.add_argument("--password-stdin", action="store_true",
                    help="read the password from standard input instead of making one up")
    tr = tsub.add_parser("remove-member", help="a member leaves: their login goes, their rows stay (for the owner)")
    tr.add_argument("member", metavar="EMAIL|LOGIN")
    tr.add_argument("--delete-data", action="store_true", help="delete their accounts and everything in them too")
    tl = tsub.add_parser("list", help="the team's members and their accounts")
    tl.add_argument("--json", action="store_true", help="JSON instead of text")
    tsub.add_parser("upgrade", help="upgrade the team database's schema to this version (run as its owner)")
    tsub.add_parser("status", help="who you are connected as, and what you see")


def add_board_parsers(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    """``board share``, ``board unshare`` and ``board shares``, beside the library's board actions."""
    board = sub.choices["board"]
    bsub = next(a for a in board._actions if isinstance(a, argparse._SubParsersAction))
    bs = bsub.add_parser("share", help="share one of your boards with a member or the whole team (team server)")
    bs.add_argument("name")
    whom = bs.add_mutually_exclusive_group(required=True)
    whom.add_argument("--with", dest="member", metavar="EMAIL", help="the member to share it with")
    whom.add_argument("--team", action="store_true", help="share it with every member")
    bs.add_argument("--read-only", action="store_true",
                    help="they see it, but may not add or remove images or set stars and notes")
    bu = bsub.add_parser("unshare", help="stop sharing a board (with a member, the team, or --all)")
    bu.add_argument("name")
    whom = bu.add_mutually_exclusive_group(required=True)
    whom.add_argument("--with", dest="member", metavar="EMAIL")
    whom.add_argument("--team", action="store_true")
    whom.add_argument("--all", action="store_true", help="with everyone it is shared with")
    bh = bsub.add_parser("shares", help="the shares of your boards and the boards shared with you")
    bh.add_argument("name", nargs="?", default=None)
    bh.add_argument("--json", action="store_true", help="JSON instead of text")


def _password(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        return None
    from core.cli import UsageError, read_stdin

    text = read_stdin(4096, "password").strip("\r\n")
    if not text:
        raise UsageError("Standard input held no password.")
    return text


def cmd_team(args: argparse.Namespace) -> int:
    from core.cli import EXIT_OK, _service

    with _service(args) as svc:
        team = svc.team
        action = args.team_command
        if action == "init":
            report = team.init(owner_email=args.owner, prefix=args.role_prefix)
            if report.already:
                print(f"This is a team database already (roles {report.roles.owner}, {report.roles.member}, "
                      f"{report.roles.admin}); its policies and grants are checked and up to date.")
                return EXIT_OK
            print(f"Team mode is on: {report.tables} tables belong to {report.roles.owner} (no login) and each "
                  f"member sees only their own rows and the boards shared with them.")
            print(f"Members log in as themselves; their logins are in {report.roles.member}, admins also in "
                  f"{report.roles.admin}.")
            for table, n in sorted(report.assigned.items()):
                print(f"  {n} {table} row{'s' if n != 1 else ''} that named no account now belong to "
                      f"{report.owner_account}.")
            print("Next: 'imagefx team add-member EMAIL' for each person (their existing account comes with them).")
        elif action == "add-member":
            member, password = team.add_member(args.email, name=args.name, login=args.login, admin=args.admin,
                                               password=_password(args))
            role = "an admin" if member.admin else "a member"
            print(f"{member.email} is {role} of the team, logging in as {member.login}.")
            if password and not args.password_stdin:
                print(f"Their password (shown only now): {password}")
            elif not password:
                print("The login existed already and keeps its password.")
            print(f"They connect with the team's server settings and DB_USER={member.login} "
                  "DB_PASSWORD=<their password> (or the same in DATABASE_URL).")
        elif action == "remove-member":
            login, accounts, dropped = team.remove_member(args.member, delete_data=args.delete_data)
            what = "deleted" if args.delete_data else "kept (only the owner's login sees them now)"
            print(f"{login} has left the team: {accounts} account{'s' if accounts != 1 else ''}, rows {what}.")
            if not dropped:
                print(f"The login {login} is used elsewhere on this server, so it stays there; it has no access "
                      "to this database any more.")
        elif action == "list":
            found = team.members()
            if args.json:
                print(json.dumps([{"email": m.email, "name": m.name, "login": m.login, "admin": m.admin,
                                   "images": m.images} for m in found], ensure_ascii=False, indent=2))
                return EXIT_OK
            if not found:
                print("No members yet: add them with 'imagefx team add-member EMAIL'.", file=sys.stderr)
            for m in found:
                images = f"{m.images:>7} images  " if m.images is not None else ""
                login = m.login or "(nobody's)"
                print(f"{images}{m.email}  login {login}{'  admin' if m.admin else ''}")
        elif action == "upgrade":
            before, after = team.upgrade()
            print(f"The team database's schema is at version {after} (was {before}); policies and grants checked.")
        else:  # status
            who = team.identity()
            if who.roles is None:
                print(f"Connected as {who.login}: a single-user database (no team).")
                return EXIT_OK
            kind = ("the team database's owner: you see every member's rows (use a member login for daily work)"
                    if who.sees_everything else "an admin member" if who.admin else
                    "a member" if who.member else "not in this team")
            print(f"Connected as {who.login}, {kind}.")
            if who.accounts:
                print(f"Your accounts: {', '.join(who.accounts)}.")
    return EXIT_OK


def cmd_board(args: argparse.Namespace) -> int:
    """``board share|unshare|shares`` here; every other board action is the library's."""
    from core import library_cli

    if args.board_command not in ("share", "unshare", "shares"):
        return library_cli.cmd_board(args)
    from core.cli import EXIT_OK, _service

    with _service(args) as svc:
        svc.open()
        team = svc.team
        if args.board_command == "share":
            team.share_board(args.name, None if args.team else args.member, read_only=args.read_only)
            whom = "the whole team" if args.team else args.member
            print(f"Shared {args.name!r} with {whom}, {'read-only' if args.read_only else 'read-write'}.")
        elif args.board_command == "unshare":
            changes = team.unshare_board(args.name, None if (args.team or args.all) else args.member,
                                         everyone=args.all)
            whom = "anyone" if args.all else "the team" if args.team else args.member
            print(f"{args.name!r} is no longer shared with {whom} ({changes.count} share"
                  f"{'s' if changes.count != 1 else ''} ended).")
        else:
            found = team.shares(args.name)
            if args.json:
                print(json.dumps([_share_json(x) for x in found], ensure_ascii=False, indent=2))
                return EXIT_OK
            if not found:
                print("No shared boards.", file=sys.stderr)
            for x in found:
                whom = "the whole team" if x.member_login is None else x.member_email or x.member_login
                print(f"{x.board}  with {whom}  {'read-only' if x.read_only else 'read-write'}")
    return EXIT_OK


def _share_json(x: Any) -> dict[str, Any]:
    return {"board": x.board, "board_id": x.board_id, "member": x.member_email, "login": x.member_login,
            "team": x.member_login is None, "read_only": x.read_only}


COMMANDS = {"team": cmd_team, "board": cmd_board}
