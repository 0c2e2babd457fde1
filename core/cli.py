"""The command line: ``imagefx <command>`` (``python main.py <command>`` in a checkout). With no
command, the GUI starts. Messages name the command the user ran (:func:`core.appinfo.command`).

Flags follow the original ``imagefx`` npm CLI (``generate -p -n -m --size/--sz -s -r -d -c``)
so its users feel at home; the options people pass by habit (``--cookie/-c``, ``--cookie-file``,
``--demo``, ``-v``) are accepted before or after any command. Exit codes (:data:`EXIT_CODES`)
and environment variables (:data:`ENVIRONMENT`) are listed in ``--help``. Errors go to stderr
as one sentence, never a traceback, never a secret.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from core import (
    library_cli,  # the library's commands (issue 14); light: argparse and json only
    team_cli,  # team mode's commands (issue 15); as light
)
from core.appinfo import command

if TYPE_CHECKING:
    from core.export import ImageFacts
    from core.filters import Node
    from core.store import Database

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_AUTH, EXIT_SAFETY, EXIT_NETWORK, EXIT_DATABASE = 0, 1, 2, 3, 4, 5, 6
EXIT_INTERRUPTED = 130

EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (EXIT_ERROR, "unexpected error (a bug: run again with -v and report what it prints)"),
    (EXIT_USAGE, "usage: a bad option, value, file or account name; a media id or model ImageFX does not have"),
    (EXIT_AUTH, "not signed in, cookie invalid or expired, or the stored cookie is damaged"),
    (EXIT_SAFETY, "refused by ImageFX's safety filter"),
    (EXIT_NETWORK, "network or ImageFX server failure"),
    (EXIT_DATABASE, "database failure"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C, or the queue/import was stopped); 143 SIGTERM, 129 SIGHUP: 128 + the "
                       "signal, after images that arrived are kept"),
)
DB_GRACE_SECONDS = 2.0  # the embedded server outlives a command this long (core.store.embedded.linger_after_exit)
ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("GOOGLE_COOKIE", "the labs.google cookie (instead of the keyring; safer than --cookie)"),
    ("IMAGEFX_DEMO", "true: the offline demo, as --demo"),
    ("IMAGEFX_TIMEOUT", "seconds an ImageFX call may take, start to end (default 120, 1 to 3600)"),
    ("IMAGEFX_STORE_TIMEOUT", "seconds a database statement of a store may take (default 30; a lock a third of "
                              "that); the images wait in the spool meanwhile"),
    ("IMAGEFX_DB", "embedded or server: which database to use"),
    ("DATABASE_URL", "a PostgreSQL server (postgresql://user@host/db); or DB_HOST, DB_PORT, DB_NAME, "
                     "DB_USER, DB_PASSWORD, DB_SSLMODE, DB_SSLROOTCERT"),
    ("IMAGEFX_DATA_DIR", "the data folder (embedded database, spool, logs, secrets without a keyring)"),
    ("IMAGEFX_DB_GRACE", f"seconds the embedded database stays up after a command, for the next one "
                         f"(default {DB_GRACE_SECONDS:g}; 0 stops it at once)"),
    ("IMAGEFX_CONFIG_DIR", "the folder of settings.json (default: the user's config folder, or "
                           "IMAGEFX_DATA_DIR when that is set)"),
    ("LOG_QUERIES", "true: log each SQL statement with its duration (never its values)"),
)
COOKIE_FILE_LIMIT = 1024 * 1024  # a cookies.txt of a whole browser profile is a few hundred KB

log = logging.getLogger("imagefx.cli")


class UsageError(Exception):
    """Bad command-line input (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def _whole_number(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None


def _count(value: str) -> int:
    n = _whole_number(value)
    if not 1 <= n <= 8:
        raise argparse.ArgumentTypeError(f"{n} is out of range; use 1 to 8")
    return n


def _seed(value: str) -> int:
    n = _whole_number(value)
    if not 0 <= n <= 2**31 - 1:
        raise argparse.ArgumentTypeError(f"{n} is out of range; use 0 to 2147483647 (0 = random)")
    return n


def _non_negative(value: str) -> int:
    n = _whole_number(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} must be 0 or more")
    return n


def _positive(value: str) -> int:
    n = _non_negative(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _size(value: str) -> str:
    from core.imagefx.protocol import normalize_aspect_ratio

    try:
        return normalize_aspect_ratio(value)
    except ValueError:
        from core.imagefx.protocol import ASPECT_ALIASES

        raise argparse.ArgumentTypeError(
            f"unknown size {value!r}; use one of {', '.join(ASPECT_ALIASES)}") from None


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (reading the package metadata costs start-up time)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> NoReturn:
        from core.appinfo import version
        from core.config import APP_NAME

        print(f"{APP_NAME} {version()}")  # on stdout, as argparse's own version action does
        parser.exit(EXIT_OK)


def _epilog() -> str:
    codes = "\n".join(f"  {code:<5}{what}" for code, what in EXIT_CODES)
    import textwrap

    width = max(len(name) for name, _ in ENVIRONMENT) + 2
    env = "\n".join(textwrap.fill(what, 96, initial_indent=f"  {name:<{width}}", subsequent_indent=" " * (width + 2))
                    for name, what in ENVIRONMENT)
    return (f"exit codes:\n{codes}\n\nenvironment:\n{env}\n\n"
            "The cookie comes from --cookie-file FILE, --cookie - (standard input), GOOGLE_COOKIE or the\n"
            f"keyring ({command()} login). --cookie VALUE works too, but other users of this computer can read\n"
            "a command line while it runs.")


def _common_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    """Options accepted before and after any command. After it they default to SUPPRESS, so a
    subcommand that was not given them leaves what came before the command alone."""
    default: object = None if top else argparse.SUPPRESS
    have = p._option_string_actions
    if "--demo" not in have:
        p.add_argument("--demo", action="store_true", default=False if top else argparse.SUPPRESS,
                       help="offline demo: talk to the built-in stand-in server instead of Google")
    if "--verbose" not in have and "-v" not in have:
        p.add_argument("-v", "--verbose", action="store_true", default=False if top else argparse.SUPPRESS,
                       help="log what happens to stderr")
    if "--cookie" not in have and "-c" not in have:
        p.add_argument("-c", "--cookie", default=default, metavar="COOKIE",
                       help="Google cookie ('-' reads it from standard input; ignored by commands that need "
                            "none; other users can see a command line: prefer --cookie-file). Default: "
                            "GOOGLE_COOKIE, then the keyring")
    if "--cookie-file" not in have:
        p.add_argument("--cookie-file", default=default, metavar="FILE",
                       help="read the Google cookie from FILE (header text, JSON export or cookies.txt)")


def _everywhere(p: argparse.ArgumentParser, *, top: bool = True) -> None:
    """The common options on this parser and every (sub)command under it, present and future."""
    _common_options(p, top=top)
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                _everywhere(child, top=False)


class _Models:
    """The models ImageFX accepts, in --help; read from the protocol only when help is printed
    (importing it costs start-up time every command would pay)."""

    def __str__(self) -> str:
        from core.imagefx.protocol import models_text

        return models_text()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=command(), description="ImageFX Studio: generate, fetch, caption and browse your "
                "ImageFX images. Without a command, the desktop app starts.", epilog=_epilog(),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action=_VersionAction)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    g = sub.add_parser("generate", help="generate images from a prompt")
    g.add_argument("-p", "--prompt", required=True, help="what to draw")
    g.add_argument("-n", "--count", type=_count, default=None, help="number of images, 1-8 (default 4)")
    g.add_argument("-m", "--model", default=None, help="model: %(models)s").models = _Models()  # type: ignore[attr-defined]
    g.add_argument("--size", "--sz", type=_size, default=None,
                   help="SQUARE, PORTRAIT, LANDSCAPE, LANDSCAPE_FOUR_THREE (or MOBILE_LANDSCAPE), UNSPECIFIED")
    g.add_argument("-s", "--seed", type=_seed, default=None, help="seed, 0 = random (default)")
    g.add_argument("-r", "--retry", type=_non_negative, default=None,
                   help="retries on rate limits and server errors (default 1)")
    g.add_argument("-d", "--dir", default=".", help="folder to save the images in (created if missing)")

    f = sub.add_parser("fetch", help="download an image by its media id")
    f.add_argument("media_id", help="the image's mediaGenerationId")
    f.add_argument("-d", "--dir", default=".", help="folder to save the image in")

    c = sub.add_parser("caption", help="describe an image in words")
    c.add_argument("-i", "--image", required=True,
                   help="image file, or a folder: each image in it is captioned (a reject's reason on stderr)")
    c.add_argument("-t", "--type", default=None, help="image type (default: detected from the file)")
    c.add_argument("-n", "--count", type=_count, default=3, help="number of captions, 1-8 (default 3)")

    h = sub.add_parser("history", help="list past generations (reads the local database only)")
    h.add_argument("-l", "--limit", type=_positive, default=20, help="how many (default 20)")
    h.add_argument("-q", "--search", default="", help="only prompts containing these words or this text")
    h.add_argument("-u", "--user", default=None, help="only this account (e-mail)")
    h.add_argument("--json", action="store_true", help="one JSON array instead of text")
    library_cli.add_history_options(h)

    li = sub.add_parser("login", help="store a cookie in the keyring after checking it with labs.google",
                        description="Sign in with your labs.google cookie. On a terminal, paste it when asked "
                                    "(it is not shown); or give --cookie-file FILE, GOOGLE_COOKIE, or pipe it in.")
    src = li.add_mutually_exclusive_group()
    src.add_argument("-c", "--cookie", default=None, metavar="COOKIE",
                     help="the cookie text ('-': read it from standard input); other users can see a command "
                          "line, so prefer a paste, --cookie-file or GOOGLE_COOKIE")
    src.add_argument("-f", "--file", "--cookie-file", dest="cookie_file", default=None, metavar="FILE",
                     help="a cookie file (header text, JSON export, cookies.txt)")

    lo = sub.add_parser("logout", help="forget the stored cookie")
    lo.add_argument("-u", "--user", default=None, help="account to sign out (default: the current one)")

    sub.add_parser("accounts", help="list signed-in accounts")
    sw = sub.add_parser("switch", help="make another signed-in account the current one")
    sw.add_argument("email")

    m = sub.add_parser("maintenance", help="database maintenance tasks")
    msub = m.add_subparsers(dest="task", metavar="TASK", parser_class=_Parser, required=True)
    msub.add_parser("cleanup-sessions", help="delete expired sessions")
    ar = msub.add_parser("archive", help="move images older than N days to generated_images_archive")
    ar.add_argument("--days", type=_non_negative, default=90, help="age in days (default 90)")
    bk = msub.add_parser("backup", help="pg_dump the database to a file (.sql, or .sql.gz compressed)")
    bk.add_argument("-o", "--out", default=None,
                    help="file to write (default imagefx-backup-YYYYMMDD-HHMMSS.sql.gz here)")
    rs = msub.add_parser("restore", help="load a backup into the configured database, which must be empty")
    rs.add_argument("file", help="a file written by 'maintenance backup'")
    sp = msub.add_parser("spool", help="list generations kept in the spool: for this database, for another "
                                       "one, or set aside")
    sp.add_argument("--store-here", action="store_true",
                    help="store the generations waiting for another database in this one instead")
    _add_issue7_parsers(sub)
    di = sub.add_parser("desktop-install", help="add the app to your desktop's applications menu (Linux)")
    di.add_argument("--uninstall", action="store_true", help="remove the menu entry and icon again")
    _add_files_parsers(sub)
    _add_trash_parsers(sub)
    library_cli.add_parsers(sub, _Parser, _positive)
    team_cli.add_parsers(sub, _Parser)
    team_cli.add_board_parsers(sub, _Parser)
    _everywhere(p)
    return p


# --- helpers --------------------------------------------------------------------------------

def _err(message: str) -> None:
    from core.redact import redact

    print(redact(message), file=sys.stderr)


def exit_code_for(exc: BaseException) -> int:
    from core.export import ExportError
    from core.imagefx.errors import AuthError, ImageFXError, ModelRejected, NotFound, SafetyRefusal
    from core.images import ImageError
    from core.secrets import SecretError
    from core.service import StorageFailed, ValidationError
    from core.store import DatabaseError
    from core.userfiles import UserFileError

    if isinstance(exc, (UsageError, ValidationError, ImageError, ExportError, UserFileError, NotFound,
                        ModelRejected)):
        return EXIT_USAGE  # includes what the user typed that does not exist: a media id, a model
    if isinstance(exc, AuthError):
        return EXIT_AUTH
    if isinstance(exc, SafetyRefusal):
        return EXIT_SAFETY
    if isinstance(exc, ImageFXError):
        return EXIT_NETWORK
    if isinstance(exc, (DatabaseError, StorageFailed)):
        return EXIT_DATABASE
    if isinstance(exc, SecretError):
        return EXIT_AUTH
    return EXIT_ERROR


def _write_images(directory: Path, items: Sequence[tuple[object, bytes]]) -> list[Path]:
    """``-d``: each image as a file with its parameters inside, named by the one rule
    (core.export); fsynced, since the folder may hold the only copy."""
    from core.export import FolderWriter

    with FolderWriter(directory, durable=True) as writer:
        return [writer.write(facts, data).path for facts, data in items]  # type: ignore[arg-type]


def _prepare_dir(value: str) -> Path:
    """Check ``-d`` before any work: the folder, or the nearest folder above it that exists, must
    be writable. The writer (core.export) creates it when the first file is written, so a
    command that writes nothing leaves no empty folder."""
    directory = Path(value).expanduser()
    existing = directory
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{existing} is not a folder, so {directory} cannot be created there.")
    if not os.access(existing, os.W_OK):
        raise UsageError(f"The folder {existing} is not writable.")
    return directory


# --- the cookie: from a file, standard input, a paste on the terminal, or (warned) the command line ---

COOKIE_ON_COMMAND_LINE = (
    "Warning: a cookie given with --cookie is visible to other users of this computer while the command "
    "runs (ps, /proc) and may stay in your shell's history. Use --cookie-file FILE, --cookie - (standard "
    "input), GOOGLE_COOKIE or the login command instead.")


def hide_cookie_in_process_title(values: Sequence[str]) -> bool:
    """Overwrite ``values`` in this process's original argument area with ``*``, so ``ps`` and
    ``/proc/PID/cmdline`` no longer show them (curl and the mysql client do the same for passwords).

    Linux only, best effort: the cookie was visible from exec until now (Python's start-up), which
    is why --cookie still warns. ``sys.argv`` is a copy and keeps the value.
    """
    if not sys.platform.startswith("linux") or not values:
        return False
    try:
        import ctypes

        with open("/proc/self/stat", "rb") as fh:
            stat_line = fh.read()
        fields = stat_line[stat_line.rindex(b")") + 2:].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (proc(5) fields 48, 49)
        if not 0 < start < end or end - start > 1 << 20:
            return False
        area = ctypes.string_at(start, end - start)
        hidden = False
        for value in values:
            needle = os.fsencode(value)
            if len(needle) < 4:
                continue
            at = area.find(needle)
            while at >= 0:
                ctypes.memset(start + at, ord("*"), len(needle))
                hidden = True
                at = area.find(needle, at + len(needle))
        return hidden
    except (OSError, ValueError, IndexError, AttributeError):
        return False


def _cookie_values_in(argv: Sequence[str]) -> list[str]:
    """The values of -c/--cookie in a raw argument list ('-' excluded: that one reads stdin)."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        value = None
        if arg in ("-c", "--cookie") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--cookie="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-c") and len(arg) > 2 and not arg.startswith("--"):
            value = arg[2:]
        if value and value != "-":
            out.append(value)
    return out


def _read_stdin_cookie() -> str:
    """The cookie from standard input: a paste on a terminal, else whatever is piped in (bounded)."""

    stdin = sys.stdin
    if stdin is None:
        raise UsageError("There is no standard input to read the cookie from.")
    if stdin.isatty():
        return read_pasted_cookie()
    return read_stdin(COOKIE_FILE_LIMIT, "cookie")


def read_stdin(limit: int, what: str) -> str:
    """Piped standard input as text, at most ``limit`` bytes (``< /dev/zero`` ends, with a sentence)."""
    from core.userfiles import decode_text

    if sys.stdin is None:
        raise UsageError(f"There is no standard input to read the {what} from.")
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"Standard input holds more than {limit // (1024 * 1024)} MB, which is too much for "
                         f"{'an' if what[:1] in 'aeiou' else 'a'} {what}.")
    return decode_text(data, "Standard input", what=what, error=UsageError)


def _paste_complete(text: str) -> bool:
    """Enter ends a one-line Cookie header (or a whole JSON export); cookies.txt waits for Ctrl-D."""
    from core.imagefx.cookies import detect_format

    stripped = text.strip()
    if not stripped:
        return False
    fmt = detect_format(stripped)
    if fmt == "header":
        return "\n" not in stripped
    if fmt == "json":
        try:
            json.loads(stripped)
            return True
        except ValueError:
            return False
    return False


def read_pasted_cookie() -> str:
    """A cookie pasted on the terminal, not echoed (it must not stay on screen or in scroll-back).

    Not ``getpass``: a terminal in line mode cuts a line at 4095 bytes and Google cookies are
    often longer, so this reads in non-canonical mode (signals stay on: Ctrl-C interrupts).
    Enter ends a one-line header; Ctrl-D ends anything (a cookies.txt, a JSON export).
    """
    err = sys.stderr
    prompt = ("Paste the labs.google cookie (it is not shown), then press Enter; for a cookies.txt or JSON "
              "export press Ctrl-D when it is all in.\n")
    try:
        import termios
    except ImportError:  # Windows: its console has no such line limit
        import getpass

        err.write(prompt)
        return getpass.getpass("Cookie: ")
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    new = termios.tcgetattr(fd)
    new[3] &= ~(termios.ECHO | termios.ICANON)
    new[6][termios.VMIN], new[6][termios.VTIME] = 1, 0
    buf = bytearray()
    shown = -1
    termios.tcsetattr(fd, termios.TCSADRAIN, new)
    try:
        err.write(prompt)  # only now: what is typed from here on is not echoed
        err.flush()
        done = False
        while not done:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            for byte in chunk:
                if byte == 4:  # Ctrl-D
                    done = True
                    break
                if byte in (8, 127):  # Backspace
                    del buf[-1:]
                elif byte == 21:  # Ctrl-U
                    buf.clear()
                elif byte == 10 and _paste_complete(buf.decode("utf-8", "replace")):
                    done = True
                    break
                else:
                    buf.append(byte)
            if len(buf) > COOKIE_FILE_LIMIT:
                raise UsageError("That is more than 1 MB, which is not a cookie.")
            if len(buf) != shown and err.isatty():  # reassurance that the paste arrived, not its text
                err.write(f"\r\x1b[2K  {len(buf):,} characters received")
                err.flush()
                shown = len(buf)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
        if err.isatty():
            err.write("\n")
            err.flush()
    from core.userfiles import decode_text

    text = decode_text(bytes(buf), "The pasted text", what="cookie", error=UsageError)
    if not text.strip():
        raise UsageError("Nothing was pasted; sign-in cancelled.")
    return text


def _cookie(args: argparse.Namespace) -> str | None:
    """The cookie the user gave this command, if any (None: GOOGLE_COOKIE, then the keyring)."""
    from core.userfiles import read_text

    path = getattr(args, "cookie_file", None)
    if path:
        return read_text(path, limit=COOKIE_FILE_LIMIT, what="cookie file", error=UsageError,
                         pipe_hint="To pipe the cookie in, use --cookie - (standard input).")
    value = getattr(args, "cookie", None)
    if value == "-":
        return _read_stdin_cookie()
    return value or None


def _login_cookie(args: argparse.Namespace) -> str:
    text = _cookie(args)
    if text is not None:
        return text
    if os.environ.get("GOOGLE_COOKIE"):
        return os.environ["GOOGLE_COOKIE"]
    if sys.stdin is not None:
        return _read_stdin_cookie()
    raise UsageError("Give the cookie with --cookie-file FILE, GOOGLE_COOKIE, or paste it on standard input.")


# --- commands -------------------------------------------------------------------------------

def _service(args: argparse.Namespace, cookie: str | None = None):
    from core.config import load_settings
    from core.service import Service

    overrides = {"demo": True} if args.demo else {}
    return Service(load_settings(**overrides), cookie=cookie)


def _open(svc: object) -> None:
    """Connect (storing what the spool kept for this database) and say, once, what was set aside."""
    try:
        svc.open()  # type: ignore[attr-defined]
    finally:
        for notice in svc.spool_notices():  # type: ignore[attr-defined]
            _err(notice)


def cmd_generate(args: argparse.Namespace) -> int:
    directory = _prepare_dir(args.dir)
    _start_embedded_early(args)  # the server starts while the service layer loads
    from core.imagefx.types import GenerationRequest

    with _service(args, _cookie(args)) as svc:
        d = svc.settings.generation
        req = GenerationRequest(prompt=args.prompt, count=args.count or d.count, model=args.model or d.model,
                                aspect_ratio=args.size or d.aspect_ratio, seed=args.seed)
        from core import interrupts
        from core.service import StorageFailed, UnstorableAnswer

        opener = _Background(lambda: _open_if_up(svc))  # the database opens while ImageFX is asked
        files = _FilesWriter(directory)
        try:
            result = svc.generate(req, retries=args.retry, on_delivered=files.start)
        except StorageFailed as exc:
            files.save(exc.generation)
            _err(f"{exc.user_message} The images are saved in {directory} only; free disk space or fix the "
                 "database.")
            return EXIT_DATABASE
        except UnstorableAnswer as exc:
            files.save(exc.generation)
            _err(f"{exc.user_message} They are saved in {directory} too, but not in the library.")
            return EXIT_NETWORK
        finally:
            opener.join()  # its exceptions other than the database's own are raised here
        from core.export import ExportError

        try:
            files.save(result.generation)
        except ExportError as exc:  # a full disk under -d: the images are safe in the library or spool
            kept = "kept in the spool" if result.spooled else "stored in the library"
            _err(f"{exc} The images are {kept}; '{command()} export' writes them once there is room.")
            return EXIT_USAGE
        if result.spooled:
            _err(f"The database could not store the images ({result.storage_error}); they are saved in "
                 f"{directory} and kept in the spool, to be stored when {svc.db.where} is back "
                 "('maintenance spool' lists what waits).")
            return EXIT_DATABASE
        if result.record.duplicates:
            log.info("%d image(s) were already stored", result.record.duplicates)
        signum = interrupts.deferred()
        if signum is not None:
            _err(f"Interrupted ({interrupts.signal_name(signum)}) after the images arrived: they are stored in "
                 f"the library and saved in {directory}.")
            return 128 + signum
    return EXIT_OK


def _start_embedded_early(args: argparse.Namespace) -> None:
    """The embedded server's start on a thread of its own (core.store.embedded.start_early): it
    overlaps the imports and the call to ImageFX; the service's own handle takes it over."""
    from core.config import load_settings

    settings = load_settings(**({"demo": True} if args.demo else {}))
    if settings.database.mode == "embedded" and not settings.demo:
        from core.store.embedded import start_early

        start_early(settings.embedded_db_dir)


def _open_if_up(svc: object) -> None:
    from core.store import DatabaseError

    try:
        _open(svc)
    except DatabaseError:
        pass  # the database being down must not stop a generation: the spool keeps it


class _Background:
    """``fn`` on a thread; :meth:`join` waits and raises what it raised."""

    def __init__(self, fn: Callable[[], None]) -> None:
        import threading

        self._error: BaseException | None = None

        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: B036 — handed to join()
                self._error = exc

        self._thread = threading.Thread(target=run, name="open the database", daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


class _FilesWriter:
    """``-d``: the images written on a thread as soon as they are in the spool, while the
    thumbnails are made and the transaction runs (:meth:`start`); :meth:`save` waits for that
    and prints the paths, or writes them then if nothing was started (issue 16)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._thread: Any = None
        self._paths: list[Path] | None = None
        self._error: BaseException | None = None

    def start(self, gen: object) -> None:
        import threading

        items = _file_items(gen)
        if items is None:
            return  # not images: storing says why, and nothing is written
        self._thread = threading.Thread(target=self._write, args=(items,), name="write -d files", daemon=True)
        self._thread.start()

    def _write(self, items: list[tuple[ImageFacts, bytes]]) -> None:
        try:
            self._paths = _write_images(self.directory, items)
        except BaseException as exc:  # noqa: B036 — raised by save()
            self._error = exc

    def save(self, gen: object) -> None:
        if self._thread is None:
            items = _file_items(gen, complete=True)
            assert items is not None
            self._paths = _write_images(self.directory, items)
        else:
            self._thread.join()
            if self._error is not None:
                raise self._error
        for path in self._paths or ():
            print(path)
            sys.stdout.flush()


def _file_items(gen: object, *, complete: bool = False) -> list[tuple[ImageFacts, bytes]] | None:
    """(facts, bytes) of each image for its file; facts from the header when the thumbnails
    are not made yet (None if one is no image)."""
    import base64

    from core.export import facts_of_new
    from core.service.prepare import image_facts

    items = []
    for img in gen.images:  # type: ignore[attr-defined]
        data = base64.b64decode(img.encoded_image)
        faced = img if complete or img.mime_type else image_facts(img, data)
        if faced is None:
            return None
        items.append((facts_of_new(gen, faced), data))  # type: ignore[arg-type]
    return items


def cmd_fetch(args: argparse.Namespace) -> int:
    from datetime import UTC

    from core.export import ImageFacts

    directory = _prepare_dir(args.dir)
    with _service(args, _cookie(args)) as svc:
        _open(svc)
        record, data = svc.fetch(args.media_id)
        facts = record if record is not None else ImageFacts(media_id=args.media_id.strip(), prompt="",
                                                             created_at=datetime.now(UTC))
        print(_write_images(directory, [(facts, data)])[0])
    return EXIT_OK


def cmd_caption(args: argparse.Namespace) -> int:
    from pathlib import Path

    if Path(args.image).is_dir():
        return _caption_folder(args, Path(args.image))
    with _service(args, _cookie(args)) as svc:
        _open(svc)
        result = svc.caption_file(args.image, count=args.count, image_type=args.type)
        for text in result.captions:
            print(" ".join(text.split()))
    return EXIT_OK


def _caption_folder(args: argparse.Namespace, folder: object) -> int:
    """``caption -i DIR``: each image file of the folder by name, ``FILE<TAB>caption`` lines on stdout;
    a file that is not a usable image is named on stderr with its reason and the rest carry on
    (exit 1 if any was). Account and network problems stop the run as for one file."""
    from pathlib import Path

    from core import images
    from core.progress import Progress

    assert isinstance(folder, Path)
    try:
        files, others = images.images_in_folder(folder)
    except OSError as exc:
        raise UsageError(f"Could not read the folder {folder}: {exc.strerror or exc}.") from None
    if not files:
        raise UsageError(f"{folder} holds no image files to caption.")
    rejected = 0
    with _service(args, _cookie(args)) as svc, Progress("Captioning", unit="image") as bar:
        _open(svc)
        bar.set_total(len(files))
        for n, path in enumerate(files, 1):
            try:
                result = svc.caption_file(path, count=args.count, image_type=args.type)
            except images.ImageError as exc:
                rejected += 1
                bar.line(f"{path.name}: {exc}", err=True)
            else:
                for text in result.captions:
                    bar.line(f"{path.name}\t{' '.join(text.split())}")
            bar.update(n)
    left_out = f"; {others} other file{'s' if others != 1 else ''} left out" if others else ""
    _err(f"Captioned {len(files) - rejected} of {len(files)} image{'s' if len(files) != 1 else ''}"
         + (f"; {rejected} rejected" if rejected else "") + left_out + ".")
    return EXIT_ERROR if rejected else EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from core.config import load_settings

    settings = load_settings(**({"demo": True} if args.demo else {}))  # --demo: the demo's own library
    server = None
    embedded = settings.database.mode == "embedded" or settings.demo
    if embedded:  # pg_ctl's wait overlaps the imports below
        from core.store.embedded import start_early

        server = start_early(settings.embedded_db_dir)
    plain = not (args.images or args.filter or args.search or args.user) and args.sort == "newest"
    if embedded and plain:
        from core.store.embedded import EmbeddedServer
        from core.store.quick import embedded_history

        handle = EmbeddedServer(settings.embedded_db_dir)
        try:
            server.join()  # type: ignore[union-attr]
            quick = embedded_history(handle, limit=args.limit,
                                     connect_timeout=settings.database.connect_timeout)
            if quick is not None:  # no SQLAlchemy loaded (issue 16)
                return _print_history(quick, args, node=None)
            return _history_full(args, settings, None)
        finally:
            handle.stop()  # after the full path's own handle, if it ran: one start, one stop
    return _history_full(args, settings, server)


def _history_full(args: argparse.Namespace, settings: Any, server: Any) -> int:
    from core.store import Database, repo

    if server is not None:
        server.join()
    node = _filter_arg(args.filter)
    db = Database(settings)
    _store_spooled(args, db)
    try:
        with db.session() as s:
            if args.user and repo.get_user(s, args.user.strip()) is None:
                known = [u.email for u in repo.list_users(s)]
                raise UsageError(f"There is no account {args.user} in this library"
                                 + (f" (accounts: {', '.join(known)})." if known else " (it has no accounts yet)."))
            email = args.user.strip() if args.user else None
            if args.images:
                from core.store import library

                user = repo.get_user(s, email) if email else None
                records = repo.gallery_page(s, limit=args.limit, search=args.search, user_id=user.id if user else None,
                                            node=node, sort=args.sort, with_thumbnails=False)
                labels = library.labels(s, [r.id for r in records])
            else:
                rows = repo.history(s, limit=args.limit, search=args.search, user_email=email, node=node,
                                    sort=args.sort)
    finally:
        db.close()
    if args.images:
        if not records and not args.json:
            print("No images match." if node or args.search else "No images yet.", file=sys.stderr)
        else:
            library_cli.print_images(records, labels, as_json=args.json)
        return EXIT_OK
    return _print_history(rows, args, node=node)


def _print_history(rows: Sequence[Any], args: argparse.Namespace, *, node: object) -> int:
    if args.json:
        print(json.dumps([r.to_json() for r in rows], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not rows:
        print("No generations match." if args.search or node else "No generations yet.", file=sys.stderr)
        return EXIT_OK
    for r in rows:
        when = r.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        aspect = (r.aspect_ratio or "").replace("IMAGE_ASPECT_RATIO_", "")
        prompt = " ".join(r.prompt.split())
        print(f"{when}  {r.image_count} img  {r.model or '-'}  {aspect or '-'}  {r.seeds_text()}  "
              f"{r.user_email}  {prompt}")
    return EXIT_OK


def _store_spooled(args: argparse.Namespace, db: Database) -> None:
    """Images an interrupted command kept in the spool are stored before history lists them (it
    said "stored at the next start"); a listing of the spool folder when nothing waits."""
    from core.store import DatabaseError
    from core.store.spool import Spool, database_target

    if not Spool(db.settings.spool_dir, target=database_target(db)).pending():
        return
    with _service(args) as svc:
        try:
            _open(svc)
        except DatabaseError:
            pass  # history itself says the database is away


def _filter_arg(text: str) -> Node | None:
    """``--filter``, parsed: FilterInvalid (exit code 2, the position in the sentence) if it cannot be."""
    from core.filters import FilterError, parse

    try:
        return parse(text) if text.strip() else None
    except FilterError as exc:
        from core.service import FilterInvalid

        raise FilterInvalid(f"--filter: {exc}", exc.position) from None


def cmd_login(args: argparse.Namespace) -> int:
    text = _login_cookie(args)
    with _service(args) as svc:
        account = svc.sign_in(text)
        if svc.repair_notice:
            _err(svc.repair_notice)
        print(f"Signed in as {account.name} <{account.email}>.")
        warning = svc.secrets.warning
        if warning:
            _err(warning)
    return EXIT_OK


def _signed_in_here(svc: object, email: str) -> bool:
    from core.secrets import SecretError

    if any(a.email == email for a in svc.accounts()):  # type: ignore[attr-defined]
        return True
    try:
        return bool(svc.secrets.load_cookie(email))  # type: ignore[attr-defined]
    except SecretError:
        return False


def cmd_logout(args: argparse.Namespace) -> int:
    with _service(args) as svc:
        email = (args.user or svc.current_email() or "").strip().lower()
        if not email:
            print("No account is signed in.")
            return EXIT_OK
        if args.user and not _signed_in_here(svc, email):
            others = [a.email for a in svc.accounts()]
            raise UsageError(f"{args.user} is not signed in on this computer, so there is nothing to sign out"
                             + (f" (signed in: {', '.join(others)})." if others else " (no account is)."))
        svc.sign_out(email)
        print(f"Signed out {email}; its cookie was removed from the keyring and the database.")
    return EXIT_OK


def cmd_accounts(args: argparse.Namespace) -> int:
    with _service(args) as svc:
        accounts = svc.accounts()
        if not accounts:
            print(f"No account is signed in. Run: {command()} login")
        for a in accounts:
            print(f"{'*' if a.current else ' '} {a.name} <{a.email}>")
    return EXIT_OK


def cmd_switch(args: argparse.Namespace) -> int:
    with _service(args) as svc:
        a = svc.switch_account(args.email)
        print(f"Now using {a.name} <{a.email}>.")
    return EXIT_OK


def cmd_desktop_install(args: argparse.Namespace) -> int:
    from core import desktop

    try:
        if args.uninstall:
            removed = desktop.uninstall()
            print(f"Removed {len(removed)} file(s): " + ", ".join(map(str, removed)) if removed
                  else "ImageFX Studio was not in the applications menu; nothing to remove.")
            return EXIT_OK
        done = desktop.install()
    except desktop.DesktopError as exc:
        _err(str(exc))
        return EXIT_USAGE
    print(f"ImageFX Studio is in the applications menu now ({done.files[0]}; it runs {done.exec_line}). "
          f"Remove it with: {command()} desktop-install --uninstall")
    return EXIT_OK


def cmd_maintenance(args: argparse.Namespace) -> int:
    with _service(args) as svc:
        if args.task == "restore":
            seconds = svc.restore(args.file)
            print(f"Restored {args.file} in {seconds:.1f} s.")
            return EXIT_OK
        if args.task == "backup":
            out = args.out or f"imagefx-backup-{datetime.now():%Y%m%d-%H%M%S}.sql.gz"
            result = svc.backup(out)
            print(result.path)
            return EXIT_OK
        if args.task == "spool":
            return _spool_report(svc, store_here=args.store_here)
        _open(svc)
        if args.task == "cleanup-sessions":
            print(f"Deleted {svc.delete_expired_sessions()} expired session(s).")
        elif args.task == "archive":
            print(f"Archived {svc.archive_older_than(args.days).count} image(s) older than {args.days} days.")
    return EXIT_OK


def _spool_report(svc: object, *, store_here: bool) -> int:
    """``maintenance spool``: store what waits for this database, then list what is left."""
    from core.store import DatabaseError

    stored = 0
    try:
        _open(svc)
        if store_here:
            stored = svc.flush_spool(everything=True)  # type: ignore[attr-defined]
            for notice in svc.spool_notices():  # type: ignore[attr-defined]
                _err(notice)
    except DatabaseError as exc:
        _err(f"{exc.user_message} What waits for it stays in the spool.")
    if stored:
        print(f"Stored {stored} image(s) that waited for another database in {svc.db.where}.")  # type: ignore[attr-defined]
    entries = svc.spool_entries()  # type: ignore[attr-defined]
    if not entries:
        print(f"The spool is empty ({svc.spool.directory}).")  # type: ignore[attr-defined]
        return EXIT_OK
    for e in entries:
        when = e.created_at.astimezone().strftime("%Y-%m-%d %H:%M") if e.created_at else "-"
        if e.problem:
            state = f"set aside ({_one_line(e.problem, 80)})"
        elif e.here:
            state = f"waiting for this database ({svc.db.where})"  # type: ignore[attr-defined]
        else:
            state = f"waiting for another database: {e.target or 'unknown'}"
        print(f"{when}  {e.images} img  {state}  {_one_line(e.prompt, 40)}  {e.path}")
    here = sum(1 for e in entries if e.here and not e.problem)
    elsewhere = sum(1 for e in entries if not e.here and not e.problem)
    aside = sum(1 for e in entries if e.problem)
    print(f"{len(entries)} spool entr{'y' if len(entries) == 1 else 'ies'}: {here} for this database, {elsewhere} "
          f"waiting for another one{' (--store-here stores them here)' if elsewhere else ''}, {aside} set aside.")
    return EXIT_OK


COMMANDS = {
    "generate": cmd_generate, "fetch": cmd_fetch, "caption": cmd_caption, "history": cmd_history,
    "login": cmd_login, "logout": cmd_logout, "accounts": cmd_accounts, "switch": cmd_switch,
    "maintenance": cmd_maintenance, "desktop-install": cmd_desktop_install,
}


# === Prompt queue, export with metadata, web-library import (issue 7) ========================
# Kept in one block so the rest of this file can change without touching it.

def _add_issue7_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    q = sub.add_parser("queue", help="queue prompts and run them one at a time (survives restarts)")
    qsub = q.add_subparsers(dest="queue_command", metavar="ACTION", parser_class=_Parser, required=True)
    qa = qsub.add_parser("add", help="add prompts: a file (one per line; blank and # lines skipped) or --prompt")
    qa.add_argument("-f", "--file", default=None, help="a text file of prompts ('-' reads standard input)")
    qa.add_argument("-p", "--prompt", action="append", default=[], help="a prompt (repeat for more)")
    qa.add_argument("-n", "--count", type=_count, default=None, help="images per prompt, 1-8 (default 4)")
    qa.add_argument("--size", "--sz", type=_size, default=None, help="aspect ratio (as for generate)")
    qa.add_argument("-m", "--model", default=None, help="model: %(models)s").models = _Models()  # type: ignore[attr-defined]
    qa.add_argument("-s", "--seed", type=_seed, default=None, help="seed, 0 = random (default)")
    qr = qsub.add_parser("run", help="run until nothing is pending (exit 3 if it pauses for sign-in)")
    qr.add_argument("--delay", type=_seconds, default=None, help="pause between items in seconds (default 2)")
    ql = qsub.add_parser("list", help="the queue, in order, with state, error and images")
    ql.add_argument("--json", action="store_true", help="one JSON array instead of text")
    qc = qsub.add_parser("clear", help="remove every item that is not running")
    qc.add_argument("--finished", action="store_true", help="only done, failed and cancelled items")
    qsub.add_parser("retry", help="put failed items back to pending")

    e = sub.add_parser("export", help="export images with their parameters inside (PNG text / JPEG EXIF)")
    e.add_argument("-d", "--dir", required=True, help="folder to write to (created if missing)")
    e.add_argument("-q", "--search", default=None, help="only images whose prompt matches")
    e.add_argument("-l", "--limit", type=_positive, default=None, help="at most this many (newest first)")
    e.add_argument("-t", "--template", default=None,
                   help="file name template (default {date}_{prompt:40}_{seed}; also {media_id} {model} "
                        "{aspect} {id} {user})")
    e.add_argument("--no-captions", dest="captions", action="store_false",
                   help="do not write an image's caption (made in the Captions tab) beside it as NAME.txt")

    iw = sub.add_parser("import-web", help="import your ImageFX web library into the gallery (resumable)")
    iw.add_argument("-l", "--limit", type=_positive, default=None, help="import at most this many new images")
    iw.add_argument("--full", action="store_true", help="rescan the whole library, not only what is new")


def _seconds(value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not 0 <= n <= 86_400:
        raise argparse.ArgumentTypeError(f"{value} is out of range; use 0 to 86400")
    return n


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def _one_line(text: str, limit: int = 60) -> str:
    from core.progress import one_line

    return one_line(text, limit)


class _QueueDisplay:
    """``queue run``'s progress (:mod:`core.progress`): a bar with this run's count and the time
    left on a terminal, one plain line per event when piped."""

    def __init__(self) -> None:
        from core.progress import Progress

        self.progress = Progress("Queue", unit="item").__enter__()

    def __call__(self, event: object) -> None:
        from core.service.queue import QueueEventKind as K

        kind = event.kind  # type: ignore[attr-defined]
        p = event.progress  # type: ignore[attr-defined]
        item = event.item  # type: ignore[attr-defined]
        bar = self.progress
        bar.set_total(p.total)
        bar.update(p.finished)
        n = f"[{p.finished}/{p.total}]"
        line = None
        if kind is K.ITEM_DONE:
            line = f"{n} done: {_one_line(item.prompt)} ({event.message})"  # type: ignore[attr-defined]
        elif kind is K.ITEM_FAILED:
            line = f"{n} failed: {_one_line(item.prompt)}: {event.message}"  # type: ignore[attr-defined]
        elif kind is K.ITEM_CANCELLED:
            line = f"{n} cancelled: {_one_line(item.prompt)}"
        elif kind is K.ITEM_RECOVERED:
            line = f"recovered: {_one_line(item.prompt)}: {event.message}"  # type: ignore[attr-defined]
        elif kind is K.WAITING:
            line = (f"waiting {_duration(event.wait_seconds)} ({event.reason}): "  # type: ignore[attr-defined]
                    f"{_one_line(event.message, 100)}")  # type: ignore[attr-defined]
        elif kind is K.PAUSED:
            line = f"paused ({event.reason}): {event.message}"  # type: ignore[attr-defined]
        elif kind is K.RESUMED:
            line = "resumed"
        elif kind is K.ITEM_STARTED:
            bar.status(item.prompt)
            if not bar.drawing:
                line = f"{n} running: {_one_line(item.prompt)}"
        elif kind is K.RUN_STARTED and not bar.drawing:
            line = f"queue: {p.pending} pending"
        if line is not None:
            bar.line(line)

    def close(self) -> None:
        self.progress.close()


def _queue_options(args: argparse.Namespace) -> object:
    from core.service.queue import QueueOptions

    return QueueOptions(count=args.count, model=args.model, aspect_ratio=args.size, seed=args.seed)


def cmd_queue(args: argparse.Namespace) -> int:
    from core import interrupts
    from core.service.control import RunControl, RunOutcome
    from core.service.queue import QueueService

    action = args.queue_command
    with _service(args, _cookie(args)) as svc:
        _open(svc)
        queue = QueueService(svc)
        if action == "add":
            if not args.file and not args.prompt:
                raise UsageError("Give prompts with --file PATH or --prompt TEXT.")
            added = []
            if args.file == "-":
                from core.service.queue import MAX_FILE_BYTES

                text = read_stdin(MAX_FILE_BYTES, "prompt file")
                added += queue.add_text(text, _queue_options(args), source="stdin")  # type: ignore[arg-type]
            elif args.file:
                added += queue.add_file(args.file, _queue_options(args))  # type: ignore[arg-type]
            if args.prompt:
                added += queue.add_prompts(args.prompt, _queue_options(args), source="cli")  # type: ignore[arg-type]
            pending = queue.counts().pending
            print(f"Added {len(added)} prompt{'s' if len(added) != 1 else ''} to the queue ({pending} pending).")
            return EXIT_OK
        if action == "list":
            items = queue.items()
            if args.json:
                print(json.dumps([i.to_json() for i in items], ensure_ascii=False, indent=2))
                return EXIT_OK
            if not items:
                print("The queue is empty.", file=sys.stderr)
            for i in items:
                images = f"{i.image_count} img" if i.state == "done" else ""
                error = f"  {_one_line(i.error, 100)}" if i.error else ""
                print(f"{i.id:>5}  {i.state:<9}  {i.count}x  {images:<6}  {_one_line(i.prompt)}{error}")
            return EXIT_OK
        if action == "clear":
            n = queue.clear(finished_only=args.finished)
            print(f"Removed {n} item{'s' if n != 1 else ''} from the queue.")
            return EXIT_OK
        if action == "retry":
            n = queue.retry_failed()
            print(f"{n} failed item{'s' if n != 1 else ''} pending again.")
            return EXIT_OK
        # run
        control = RunControl()
        display = _QueueDisplay()

        def stop(signum: int) -> None:
            control.stop()
            interrupts._tell("Stopping after the current request; its images are kept (interrupt again to quit "
                             "at once).")

        interrupts.install(on_first=stop)  # Ctrl-C, SIGTERM, SIGHUP alike
        try:
            summary = queue.run(delay=args.delay, on_event=display, control=control)
        finally:
            interrupts.install()
            display.close()
        if summary.outcome is RunOutcome.SIGN_IN:
            _err(f"{summary.message} Then run '{command()} queue run' again; "
                 f"{summary.progress.pending} item(s) are still pending.")
            return EXIT_AUTH
        print(summary.message + f" {summary.images} image(s) in {_duration(summary.elapsed)}.")
        return EXIT_OK if summary.outcome is RunOutcome.FINISHED else 130


def cmd_export(args: argparse.Namespace) -> int:
    from core.export import DEFAULT_TEMPLATE
    from core.progress import Progress
    from core.service.exporter import Exporter

    directory = _prepare_dir(args.dir)
    with _service(args) as svc, Progress("Exporting", unit="image") as bar:
        _open(svc)

        def exported(p: object) -> None:
            bar.set_total(p.total)  # type: ignore[attr-defined]
            bar.update(p.done)  # type: ignore[attr-defined]
            if p.file:  # type: ignore[attr-defined]
                bar.line(str(p.file.path))  # type: ignore[attr-defined]

        result = Exporter(svc).export(directory, search=args.search, limit=args.limit,
                                      template=args.template or DEFAULT_TEMPLATE, on_progress=exported,
                                      captions=args.captions)
    if not result.files:
        _err("No images match." if args.search else "The gallery is empty: nothing to export.")
        return EXIT_OK
    _err(result.message)
    return EXIT_OK


def cmd_import_web(args: argparse.Namespace) -> int:
    from core import interrupts
    from core.progress import Progress
    from core.service import webimport as wi
    from core.service.control import RunControl, RunOutcome

    K = wi.ImportEventKind
    with Progress("Importing", unit="image") as bar:

        def show(e: object) -> None:
            p = e.progress  # type: ignore[attr-defined]
            kind = e.kind  # type: ignore[attr-defined]
            bar.update(p.seen)
            bar.status(f"{p.imported} new, {p.already} already, page {p.pages + 1}")
            if kind in (K.WAITING, K.PAUSED, K.IMAGE_SKIPPED):
                bar.line(f"{kind.value.replace('_', ' ')}: {e.message}")  # type: ignore[attr-defined]
            elif kind is K.IMPORT_STARTED and e.message:  # type: ignore[attr-defined]
                bar.line(e.message)  # type: ignore[attr-defined]
            elif kind is K.PAGE_DONE and not bar.drawing:
                bar.line(f"page {p.pages}: {p.imported} new, {p.already} already, {p.pages} page(s)")

        with _service(args, _cookie(args)) as svc:
            _open(svc)
            control = RunControl()

            def stop(signum: int) -> None:
                control.stop()
                interrupts._tell("Stopping after the current image (interrupt again to quit at once).")

            interrupts.install(on_first=stop)
            try:
                summary = wi.WebImporter(svc).run(limit=args.limit, full=args.full, on_event=show, control=control)
            finally:
                interrupts.install()
    if summary.outcome is RunOutcome.SIGN_IN:
        _err(f"{summary.message} Run '{command()} import-web' again afterwards; it goes on from here.")
        return EXIT_AUTH
    if summary.outcome is RunOutcome.STALLED:
        _err(summary.message)
        return EXIT_NETWORK
    print(summary.message)
    return EXIT_OK if summary.outcome in (RunOutcome.FINISHED, RunOutcome.LIMIT) else 130


COMMANDS.update({"queue": cmd_queue, "export": cmd_export, "import-web": cmd_import_web})

# === end of issue 7 block ======================================================================


# === Files in and out: import-files, library export/import (issue 13 §2) =========================

def _add_files_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    fi = sub.add_parser("import-files", help="bring PNG/JPEG files (with A1111 parameters or a metadata.jsonl) "
                                             "into the library")
    fi.add_argument("paths", nargs="+", metavar="PATH", help="image files, or folders (searched recursively)")
    fi.add_argument("-u", "--user", default=None,
                    help="account for files that do not name one (default: the current account)")
    lib = sub.add_parser("library", help="the whole library as one JSON Lines file (export, import)")
    lsub = lib.add_subparsers(dest="library_command", metavar="ACTION", parser_class=_Parser, required=True)
    le = lsub.add_parser("export", help="write every prompt, image, caption and queue item to FILE "
                                        "(.jsonl, or .jsonl.gz compressed)")
    le.add_argument("file", metavar="FILE")
    li = lsub.add_parser("import", help="bring a library file's rows in (rows already here are skipped)")
    li.add_argument("file", metavar="FILE")


def cmd_import_files(args: argparse.Namespace) -> int:
    from core.progress import Progress
    from core.service.file_import import NO_ACCOUNT, FileImporter, Outcome

    with _service(args) as svc, Progress("Importing files", unit="file", milestones=True) as bar:
        _open(svc)
        summary = FileImporter(svc).run(args.paths, user_email=args.user,
                                        on_progress=lambda p: bar.update(p.done, p.total))
    for r in summary.rejected:
        _err(f"{r.path}: {r.reason}")
    if any(r.reason == NO_ACCOUNT for r in summary.rejected):
        _err(f"Sign in ({command()} login), or name the account with --user EMAIL.")
    print(summary.message)
    if summary.results and all(r.outcome is Outcome.REJECTED for r in summary.results):
        return EXIT_USAGE
    return 130 if summary.cancelled else EXIT_OK


def cmd_library(args: argparse.Namespace) -> int:
    from core.progress import Progress
    from core.service import library_io

    with _service(args) as svc:
        _open(svc)
        if args.library_command == "export":
            with Progress("Exporting rows", unit="row", milestones=True) as bar:
                result = library_io.export_library(svc, args.file, on_progress=lambda p: bar.update(p.done, p.total))
            _err(result.message)
            print(result.path)
            return EXIT_OK
        with Progress("Importing", unit="byte", milestones=True) as bar:
            imported = library_io.import_library(svc, args.file, on_progress=lambda p: bar.update(p.done, p.total))
    for _line_no, reason in imported.rejected[:20]:
        _err(reason)
    if imported.rejected_count > 20:
        _err(f"... and {imported.rejected_count - 20:,} more lines not imported.")
    print(imported.message)
    if imported.cancelled:
        return 130
    return EXIT_OK if imported.complete else EXIT_USAGE


COMMANDS.update({"import-files": cmd_import_files, "library": cmd_library})
COMMANDS.update(library_cli.COMMANDS)
COMMANDS.update(team_cli.COMMANDS)  # after the library's: board share|unshare|shares join its board

# === end of the files block =====================================================================

# === The Trash (issue 11) =====================================================================

def _add_trash_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    t = sub.add_parser("trash", help="images deleted in the app: list, restore, move there, or empty for good")
    tsub = t.add_subparsers(dest="trash_command", metavar="ACTION", parser_class=_Parser, required=True)
    tl = tsub.add_parser("list", help="what is in the Trash, newest image first")
    tl.add_argument("-l", "--limit", type=_positive, default=200, help="how many (default 200)")
    tl.add_argument("--json", action="store_true", help="one JSON array instead of text")
    tr = tsub.add_parser("restore", help="put images back in the library, by id or media id")
    tr.add_argument("images", nargs="*", metavar="IMAGE", help="image id or media id (as 'trash list' shows)")
    tr.add_argument("--all", action="store_true", help="restore everything in the Trash")
    ta = tsub.add_parser("add", help="move images to the Trash (what Delete does in the app), by id or media id")
    ta.add_argument("images", nargs="+", metavar="IMAGE", help="image id or media id")
    te = tsub.add_parser("empty", help="delete what is in the Trash for good")
    te.add_argument("--older-than", type=_non_negative, default=None, metavar="DAYS",
                    help="only images trashed more than DAYS days ago")
    te.add_argument("-y", "--yes", action="store_true", help="do not ask (it asks only on a terminal)")


def _images_text(n: int) -> str:
    return f"{n:,} image{'s' if n != 1 else ''}"


def _resolve(svc: Any, refs: list[str]) -> list[int]:
    ids, missing = svc.find_images(refs)
    if missing:
        raise UsageError(f"No image {', '.join(repr(m) for m in missing[:5])} in the library "
                         f"(use an id or a media id as 'imagefx trash list' shows them).")
    return ids


def cmd_trash(args: argparse.Namespace) -> int:
    with _service(args) as svc:
        _open(svc)
        days = max(0, svc.settings.trash_days)
        action = args.trash_command
        if action == "list":
            return _trash_list(svc, args.limit, args.json, days)
        if action == "add":
            changes = svc.trash_images(_resolve(svc, args.images))
            print(f"Moved {_images_text(changes.count)} to the Trash; 'imagefx trash restore' brings them back.")
            return EXIT_OK
        if action == "restore":
            if args.all == bool(args.images):
                raise UsageError("Name the images to restore (id or media id), or give --all.")
            if args.all:
                ids = [r.id for r in svc.trash(limit=1_000_000)]
            else:
                ids = _resolve(svc, args.images)
            changes = svc.restore_images(ids)
            print(f"Restored {_images_text(changes.count)}.")
            skipped = len(ids) - changes.count
            if skipped:
                _err(f"{_images_text(skipped)} named {'were' if skipped != 1 else 'was'} not in the Trash.")
            return EXIT_OK
        older = args.older_than
        waiting = svc.count_images(trash=True)
        if not waiting:
            print("The Trash is empty.")
            return EXIT_OK
        if not args.yes and sys.stdin.isatty():
            what = "everything in the Trash" if older is None else f"images trashed more than {older} days ago"
            answer = input(f"Delete {what} ({_images_text(waiting)} in the Trash) for good? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("Nothing deleted.")
                return EXIT_OK
        changes = svc.empty_trash(older_than_days=older)
        print(f"Deleted {_images_text(changes.count)} from the Trash for good.")
    return EXIT_OK


def _trash_list(svc: Any, limit: int, as_json: bool, days: int) -> int:
    records = svc.trash(limit=limit)
    now = datetime.now().astimezone()
    if as_json:
        print(json.dumps([{"id": r.id, "media_id": r.media_id, "prompt": r.prompt, "seed": r.seed,
                           "created_at": r.created_at.isoformat(),
                           "trashed_at": r.trashed_at.isoformat() if r.trashed_at else None}
                          for r in records], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not records:
        print("The Trash is empty.", file=sys.stderr)
        return EXIT_OK
    for r in records:
        when = r.trashed_at.astimezone() if r.trashed_at else now
        left = ""
        if days:
            remaining = days - (now - when).days
            left = f"  ({remaining} day{'s' if remaining != 1 else ''} left)" if remaining > 0 else "  (due)"
        print(f"{r.id:>7}  trashed {when:%Y-%m-%d %H:%M}{left}  {r.media_id}  {_one_line(r.prompt)}")
    total = svc.count_images(trash=True)
    rule = f"deleted for good {days} days after they were trashed" if days else "kept until you empty it"
    print(f"{_images_text(total)} in the Trash ({rule}); "
          "restore with 'imagefx trash restore ID'.", file=sys.stderr)
    return EXIT_OK


COMMANDS["trash"] = cmd_trash

# === end of the Trash block ====================================================================


def _db_grace() -> None:
    """The embedded server stays up a moment after a command (``IMAGEFX_DB_GRACE``): the next one
    finds it running, and this one exits without waiting for it to stop (issue 16)."""
    from core.store.embedded import linger_after_exit

    text = os.environ.get("IMAGEFX_DB_GRACE", "").strip()
    try:
        seconds = float(text) if text else DB_GRACE_SECONDS
    except ValueError:
        _err(f"Warning: IMAGEFX_DB_GRACE={text!r} is not a number of seconds; using {DB_GRACE_SECONDS:g}.")
        seconds = DB_GRACE_SECONDS
    linger_after_exit(min(seconds, 3600.0) if seconds == seconds else DB_GRACE_SECONDS)


def main(argv: Sequence[str] | None = None) -> int:
    from core.hardening import no_core_dumps

    no_core_dumps()  # first of all: the cookie is in memory from here on (issue 12)
    argv = list(sys.argv[1:] if argv is None else argv)
    on_command_line = _cookie_values_in(argv)
    if on_command_line:
        from core.redact import register_secret

        for value in on_command_line:
            register_secret(value)
        hide_cookie_in_process_title(on_command_line)
    parser = build_parser()
    args = parser.parse_args(argv)
    if on_command_line:
        _err(COOKIE_ON_COMMAND_LINE)
    if args.command is None:
        from gui.preflight import display_problem

        problem = display_problem(command())
        if problem:
            _err(problem)
            return EXIT_ERROR
        from gui.app import run

        return run(demo=args.demo)
    from core import interrupts
    from core.config import load_settings
    from core.logs import setup_logging

    settings = load_settings()
    for notice in settings.notices:
        _err(f"Warning: {notice}")
    setup_logging(verbose=args.verbose, log_dir=settings.log_dir if args.command != "history" else None,
                  log_queries=settings.log_queries)
    interrupts.install()  # Ctrl-C, SIGTERM, SIGHUP: stop, but keep images that arrived (core/interrupts.py)
    _db_grace()
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt as exc:
        kept = interrupts.waiting_in_spool()
        where = (f" The {kept} image(s) that arrived are kept in the spool and stored at the next start."
                 if kept else "")
        _err(f"Interrupted.{where}")
        return getattr(exc, "exit_code", EXIT_INTERRUPTED)
    except OSError as exc:  # the terminal went away (SIGHUP) or the reader of a pipe did: nothing to tell
        import errno

        if exc.errno not in (errno.EIO, errno.EPIPE):
            raise
        signum = interrupts.deferred()
        return 128 + signum if signum is not None else EXIT_ERROR
    except Exception as exc:
        from core.service import describe

        code = exit_code_for(exc)
        if code == EXIT_ERROR:
            log.debug("unexpected error", exc_info=True)
        from core.userfiles import UserFileError

        if isinstance(exc, (UsageError, UserFileError)):
            message = str(exc)
        elif code == EXIT_ERROR and isinstance(exc, OSError) and exc.strerror:
            # Not "Unexpected error (OSError)": which file, and what the system said.
            message = f"{exc.filename}: {exc.strerror}." if exc.filename else f"{exc.strerror}."
        else:
            message = describe(exc)
        _err(message)
        return code
